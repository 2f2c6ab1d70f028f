// evsam._evsam: Model (loading, preprocess, encode, trace), the tolerance table and compare.
#include <cmath>

#include "common.hpp"

namespace evsam::python {

namespace model_local {  // named, not anonymous: the module is a unity build

// Expedit-SAM's hourglass_* keyword arguments (upstream's names: build_sam_vit_h(**hourglass_kwargs))
// into a SAM ViT configuration; refused on another model, or out of range, with the kwarg's name.
void apply_hourglass(const py::dict& kw, AnySamConfig& cfg, const std::string& model) {
    if (kw.empty()) return;
    auto* vit = std::get_if<SamViTConfig>(&cfg);
    HourglassConfig h;
    bool location = false;
    for (auto item : kw) {
        const std::string k = py::str(item.first);
        const py::handle v = item.second;
        auto integer = [&](int64_t& dst) {
            if (!py::isinstance<py::int_>(v) || py::isinstance<py::bool_>(v))
                throw Error(k + ": expected an integer, got " + std::string(py::str(py::type::of(v).attr("__name__"))));
            dst = v.cast<int64_t>();
        };
        if (k == "use_hourglass") continue;  // upstream's switch; the location turns it on here
        if (k == "hourglass_clustering_location") {
            integer(h.clustering_location);
            location = true;
        } else if (k == "hourglass_num_cluster") {
            integer(h.num_cluster);
        } else if (k == "hourglass_cluster_iters") {
            integer(h.cluster_iters);
        } else if (k == "hourglass_temperture") {
            if (!py::isinstance<py::float_>(v) && !py::isinstance<py::int_>(v)) throw Error(k + ": expected a number");
            h.temperture = v.cast<double>();
        } else if (k == "hourglass_cluster_window_size") {
            integer(h.cluster_window_size);
        } else if (k == "hourglass_reconstruction_k") {
            integer(h.reconstruction_k);
        } else {
            throw Error("unknown keyword argument '" + k +
                        "' (the hourglass takes hourglass_clustering_location, hourglass_num_cluster, "
                        "hourglass_cluster_iters, hourglass_temperture, hourglass_cluster_window_size, "
                        "hourglass_reconstruction_k)");
        }
    }
    if (!vit) throw Error("hourglass_* apply to SAM's ViT models (vit_b, vit_l, vit_h), not " + model);
    if (!location) throw Error("the hourglass needs hourglass_clustering_location (it is off without it)");
    const auto& e = vit->image_encoder;
    const std::string problem = hourglass_problem(h, e.depth, e.window_size, HourglassNames::kwargs);
    if (!problem.empty()) throw Error(problem + " (" + model + ")");
    vit->image_encoder.hourglass = h;
}

py::object load_model(const std::string& weights, const std::string& model, const std::string& config,
                      const std::string& dtype, const std::string& precision, const py::dict& hourglass) {
    if (dtype != "float32" && dtype != "float64")
        throw Error("unknown dtype '" + dtype + "' (expected float32 or float64)");
    const bool float64 = dtype == "float64";
    const Precision prec = precision_arg(precision, float64);
    // SAM, or a classifier / segmenter: by the name, the configuration's "kind", or the checkpoint
    ModelKind kind = ModelKind::sam;
    std::string name = model;  // detected once here when not given, then opened by that name
    {
        py::gil_scoped_release nogil;
        if (!config.empty()) {
            const auto bytes = read_file(config);
            const auto j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
            if (j.is_object() && j.contains("kind") && j["kind"] == "cls") kind = ModelKind::cls;
            if (j.is_object() && j.contains("kind") && j["kind"] == "seg") kind = ModelKind::seg;
        } else if (!model.empty()) {
            try {
                kind = resolve_model(model).kind;
            } catch (const Error&) {  // an unknown name: open_checkpoint says so, listing the models
            }
        } else {
            try {
                const ModelRef found = detect_any_model(Checkpoint::open(weights));
                kind = found.kind;
                name = found.name;
            } catch (const FileNotFound&) {
                throw;
            } catch (const CorruptFile&) {
                throw;
            } catch (const Error&) {  // no model matches: open_checkpoint names the closest SAM model
            }
        }
    }
    if (kind != ModelKind::sam) {
        if (!hourglass.empty()) throw Error("hourglass_* apply to SAM's ViT models (vit_b, vit_l, vit_h)");
        LoadedZooCheckpoint lc = [&] {
            py::gil_scoped_release nogil;
            return open_zoo_checkpoint(weights, name, config, kind, "evsam.load");
        }();
        return make_zoo_model(std::move(lc), weights, float64, prec);
    }
    auto m = std::make_shared<Model>();
    m->float64 = float64;
    m->precision = prec;
    m->weights = weights;
    LoadedCheckpoint lc = [&] {
        py::gil_scoped_release nogil;
        return open_checkpoint(weights, name, config);
    }();
    apply_hourglass(hourglass, lc.cfg, lc.model);
    m->name = lc.model;
    m->title = config.empty() ? find_model(lc.model).title : lc.model;
    m->cfg = lc.cfg;
    {
        Compute c(m->precision);  // weights are packed for the kernels of this precision
        if (m->float64) {
            m->f64 = create_sam<double>(lc.cfg);
            load_state_dict(*m->f64, lc.ckpt, lc.model);
        } else {
            m->f32 = create_sam<float>(lc.cfg);
            load_state_dict(*m->f32, lc.ckpt, lc.model);
        }
    }
    return py::cast(ModelPtr(m));
}

// (1, 3, R, R) preprocessed input of the model's dtype, checked.
template <class T>
Tensor<T> encoder_input(const Model& m, const py::handle& x) {
    Tensor<T> t = from_numpy<T>(x, "encoder input");
    const int64_t R = m.transform().resolution;
    EVSAM_CHECK(t.dim() == 4 && t.size(1) == 3 && t.size(2) == R && t.size(3) == R,
                "encoder input: expected a preprocessed (N, 3, " + std::to_string(R) + ", " + std::to_string(R) +
                    ") array for " + m.name + ", got " + shape_str(t.shape()));
    return t;
}

py::object encode(const Model& m, const py::handle& x) {
    return m.visit([&](const auto& sam) -> py::object {
        using T = scalar_of<decltype(sam)>;
        Tensor<T> in = encoder_input<T>(m, x);
        Tensor<T> out;
        {
            Compute c(m.precision);
            out = sam.encode(in);
        }
        return to_numpy(std::move(out));
    });
}

// Every traced module's output in execution order (a dict keeps insertion order), as `evsam embed
// --trace-dir` writes them; the last entry is the embedding.
py::dict trace(const Model& m, const py::handle& x) {
    return m.visit([&](const auto& sam) {
        using T = scalar_of<decltype(sam)>;
        Tensor<T> in = encoder_input<T>(m, x);
        Trace<T> tr;
        {
            Compute c(m.precision);
            sam.encode(in, &tr);
        }
        return trace_to_dict(std::move(tr));
    });
}

// Upstream's ONNX decoder export (DecoderOnnxModel, sam/decoder_onnx_model.hpp) on an image embedding
// and point prompts in the prompt frame: every traced module of the prompt encoder and mask decoder,
// then "masks" and "iou_predictions", the export's two outputs.
py::dict trace_decoder(const Model& m, const py::handle& emb, const py::handle& coords, const py::handle& labels,
                       bool return_single_mask) {
    return m.visit([&](const auto& sam) {
        using T = scalar_of<decltype(sam)>;
        const Tensor<T> e = from_numpy<T>(emb, "image_embeddings"), c = from_numpy<T>(coords, "point_coords"),
                        l = from_numpy<T>(labels, "point_labels");
        const int64_t E = sam.prompt_encoder.embed_dim, h = sam.prompt_encoder.image_embedding_size;
        EVSAM_CHECK(e.shape() == (Shape{1, E, h, h}), "image_embeddings: expected (1, " + std::to_string(E) + ", " +
                                                          std::to_string(h) + ", " + std::to_string(h) + "), got " +
                                                          shape_str(e.shape()));
        Trace<T> tr;
        {
            Compute cmp(m.precision);
            auto out = DecoderOnnxModel<T>(sam, return_single_mask).forward(e, c, l, &tr);
            tr.record("masks", out.masks);
            tr.record("iou_predictions", out.scores);
        }
        return trace_to_dict(std::move(tr));
    });
}

py::object preprocess(const Model& m, const py::handle& img) {
    auto a = image_array(img, "preprocess");
    const int64_t H = a.shape(0), W = a.shape(1);
    return m.visit([&](const auto& sam) -> py::object {
        using T = scalar_of<decltype(sam)>;
        Tensor<T> out;
        {
            py::gil_scoped_release nogil;
            out = preprocess_image<T>(a.data(), H, W, m.transform());
        }
        return to_numpy(std::move(out));
    });
}

Tolerance tolerance_arg(const py::handle& tol) {
    if (py::isinstance<py::str>(tol)) return tolerance_by_name(tol.cast<std::string>());
    auto t = tol.cast<py::tuple>();
    if (t.size() != 2 && t.size() != 3) throw Error("tolerance: a name, or (atol, rtol[, max_frac])");
    return {t[0].cast<double>(), t[1].cast<double>(), t.size() == 3 ? t[2].cast<double>() : 0.0};
}

py::dict compare_arrays(const py::handle& x, const py::handle& ref, const py::handle& tol, const std::string& what) {
    const Tolerance t = tolerance_arg(tol);
    auto is_f32 = [](const py::handle& h) {
        return py::isinstance<py::array>(h) && py::reinterpret_borrow<py::array>(h).dtype().is(py::dtype::of<float>());
    };
    const std::string wx = what.empty() ? "compare" : what,
                      wr = what.empty() ? "compare reference" : what + " reference";
    // float32 stays float32 (compare() reads every element as double either way): no widening copies
    const CompareResult r = [&] {
        if (is_f32(x) && is_f32(ref)) return compare(from_numpy<float>(x, wx), from_numpy<float>(ref, wr), t, what);
        if (is_f32(x)) return compare(from_numpy<float>(x, wx), from_numpy<double>(ref, wr), t, what);
        return compare(from_numpy<double>(x, wx), from_numpy<double>(ref, wr), t, what);
    }();
    py::dict d;
    d["ok"] = r.ok;
    d["max_abs"] = r.max_abs;
    d["rel_l2"] = r.rel_l2;
    d["n_bad"] = r.n_bad;
    d["worst"] = r.worst;
    d["message"] = r.message;
    return d;
}

}  // namespace model_local
using namespace model_local;

py::array_t<uint8_t, py::array::c_style> image_array(const py::handle& obj, const std::string& what) {
    py::array a = py::array::ensure(obj);
    if (!a) throw Error(what + ": expected an image as a numpy array (H, W, 3) of uint8");
    std::string shape;
    for (py::ssize_t i = 0; i < a.ndim(); ++i) shape += (i ? ", " : "") + std::to_string(a.shape(i));
    if (a.ndim() != 3 || a.shape(2) != 3)
        throw Error(what + ": expected an image of shape (H, W, 3), got (" + shape + ")");
    if (!a.dtype().is(py::dtype::of<uint8_t>()))
        throw Error(what + ": expected a uint8 image, got dtype " + std::string(py::str(a.dtype())));
    if (a.shape(0) == 0 || a.shape(1) == 0) throw Error(what + ": empty image (" + shape + ")");
    return py::array_t<uint8_t, py::array::c_style>::ensure(a);
}

Precision precision_arg(const std::string& name, bool float64) {
    const Precision p = precision_from_name(name);
    if (p == Precision::fast && float64) throw Error("precision fast needs dtype float32");
    if (p == Precision::fast) require_cpu_precision(p);
    return p;
}

std::atomic<int>& thread_setting() {
    static std::atomic<int> n{0};
    return n;
}

void register_model(py::module_& m) {
    py::class_<Model, std::shared_ptr<Model>>(m, "Model",
                                              "A SAM model: one of evsam.models(), loaded in float or double")
        .def_property_readonly("name", [](const Model& x) { return x.name; })
        .def_property_readonly("title", [](const Model& x) { return x.title; })
        .def_property_readonly("weights", [](const Model& x) { return x.weights; })
        .def_property_readonly("dtype", [](const Model& x) { return x.float64 ? "float64" : "float32"; })
        .def_property_readonly("precision", [](const Model& x) { return precision_name(x.precision); })
        .def_property_readonly("image_size", [](const Model& x) { return x.transform().resolution; })
        .def_property_readonly("prompt_frame", [](const Model& x) { return x.transform().prompt_frame; })
        .def_property_readonly(
            "image_embedding_size",
            [](const Model& x) { return x.visit([](const auto& s) { return s.prompt_encoder.image_embedding_size; }); })
        .def_property_readonly(
            "embed_dim",
            [](const Model& x) { return x.visit([](const auto& s) { return s.prompt_encoder.embed_dim; }); })
        .def_property_readonly("hourglass",
                               [](const Model& x) -> py::object {
                                   const auto* v = std::get_if<SamViTConfig>(&x.cfg);
                                   if (!v || !v->image_encoder.hourglass.on()) return py::none();
                                   const HourglassConfig& h = v->image_encoder.hourglass;
                                   py::dict d;
                                   d["hourglass_clustering_location"] = h.clustering_location;
                                   d["hourglass_num_cluster"] = h.num_cluster;
                                   d["hourglass_cluster_iters"] = h.cluster_iters;
                                   d["hourglass_temperture"] = h.temperture;
                                   d["hourglass_cluster_window_size"] = h.cluster_window_size;
                                   d["hourglass_reconstruction_k"] = h.reconstruction_k;
                                   return std::move(d);
                               })
        .def("preprocess", &preprocess, py::arg("image"),
             "(H, W, 3) uint8 RGB -> (1, 3, R, R): resized so the long side is R, normalised, padded")
        .def("encode", &encode, py::arg("x"), "(N, 3, R, R) preprocessed -> (N, C, e, e) image embedding")
        .def("trace", &trace, py::arg("x"), "every module's output of the image encoder, in execution order")
        .def("trace_decoder", &trace_decoder, py::arg("image_embeddings"), py::arg("point_coords"),
             py::arg("point_labels"), py::arg("return_single_mask") = false,
             "upstream's ONNX decoder export (export_decoder.py's DecoderOnnxModel) on (1, C, e, e) embeddings and "
             "(B, N, 2) points in the prompt frame with (B, N) labels (-1, 0, 1; 2, 3 a box's corners): every "
             "module's output, then masks (B, 4 or 1, 4e, 4e) and iou_predictions");

    m.def("_load", &load_model, py::arg("weights"), py::arg("model"), py::arg("config"), py::arg("dtype"),
          py::arg("precision"), py::arg("hourglass"));
    m.def("compare", &compare_arrays, py::arg("x"), py::arg("ref"), py::arg("tolerance") = "encoder-float",
          py::arg("what") = "",
          "x against ref under a tolerance of the table (its name) or (atol, rtol[, max_frac]): an element passes "
          "when |x - ref| <= atol + rtol |ref| (+ max_frac max|ref|); returns ok, max_abs, rel_l2, n_bad, worst, "
          "message");
    m.def("tolerances", [] {
        py::dict d;
        for (const char* n : {"encoder-float", "encoder-double", "cls-seg-double", "float-fixture", "op-float",
                              "mask-logits", "iou", "cuda-fast", "vit-double", "engine-bf16", "engine-fp16"}) {
            const Tolerance t = tolerance_by_name(n);
            d[n] = py::make_tuple(t.atol, t.rtol, t.max_frac);
        }
        return d;
    });
    m.def(
        "models", [] { return model_names(); }, "the registered SAM models");
    m.def(
        "preprocess",
        [](const py::handle& image, const std::string& model, const py::object& resolution,
           const py::object& crop_ratio, const std::string& dtype) -> py::object {
            const ModelRef r = resolve_model(model);
            if (r.kind != ModelKind::cls && (!resolution.is_none() || !crop_ratio.is_none()))
                throw Error("preprocess: resolution and crop_ratio apply to classifiers (" + model_title(r) +
                            (r.kind == ModelKind::sam ? "'s size is fixed)"
                                                      : "'s size follows its dataset's evaluation transform)"));
            if (dtype != "float32" && dtype != "float64")
                throw Error("unknown dtype '" + dtype + "' (expected float32 or float64)");
            const int64_t R = resolution.is_none() ? 0 : resolution.cast<int64_t>();
            const double crop = crop_ratio.is_none() ? 0 : crop_ratio.cast<double>();
            if (!resolution.is_none())
                EVSAM_CHECK(R >= 32 && R <= 4096,
                            "preprocess: resolution must be in [32, 4096], got " + std::to_string(R));
            if (!crop_ratio.is_none())
                EVSAM_CHECK(crop >= 0.05 && crop <= 1.0,
                            "preprocess: crop_ratio must be in [0.05, 1], got " + std::to_string(crop));
            auto a = image_array(image, "preprocess");
            auto run = [&](auto tag) -> py::object {
                using T = decltype(tag);
                Tensor<T> x;
                {
                    py::gil_scoped_release nogil;
                    x = preprocess_for_model<T>(r, a.data(), a.shape(0), a.shape(1), R, crop);
                }
                return to_numpy(std::move(x));
            };
            return dtype == "float64" ? run(double{}) : run(float{});
        },
        py::arg("image"), py::arg("model"), py::arg("resolution") = py::none(), py::arg("crop_ratio") = py::none(),
        py::arg("dtype") = "float32",
        "any registered model's exact input tensor from an (H, W, 3) uint8 RGB image, as `evsam preprocess` "
        "writes it");
    m.def(
        "load_image",
        [](const std::string& path) {
            auto* img = new Image;
            {
                py::gil_scoped_release nogil;
                try {
                    *img = load_image(path);
                } catch (...) {
                    delete img;
                    throw;
                }
            }
            py::capsule owner(img, [](void* p) { delete static_cast<Image*>(p); });
            return py::array_t<uint8_t>(
                {static_cast<py::ssize_t>(img->height), static_cast<py::ssize_t>(img->width), py::ssize_t(3)},
                img->data.data(), owner);
        },
        py::arg("path"),
        "a PNG, JPEG or BMP file as an (H, W, 3) uint8 RGB array, decoded as `evsam predict --image` does "
        "(Pillow's convert('RGB') for PNG and BMP)");
    m.def(
        "set_num_threads",
        [](int n) {
            if (n < 0) throw Error("set_num_threads: expected n >= 0 (0: OpenMP's default), got " + std::to_string(n));
            thread_setting() = n;
            if (n > 0) omp_set_num_threads(n);
        },
        py::arg("n"));
    m.def("get_num_threads", [] {
        const int n = thread_setting();
        return n > 0 ? n : omp_get_max_threads();
    });
    m.def("cpu_has_bf16", &cpu_has_avx512_bf16, "whether precision='fast' can run here (AVX512_BF16)");
}

}  // namespace evsam::python
