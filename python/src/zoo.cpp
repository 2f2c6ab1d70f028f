// evsam._evsam: ZooModel, EfficientViT's ImageNet classifiers and Cityscapes / ADE20K segmenters
// (what `evsam classify` and `evsam segment` run): forward, trace, upstream's eval preprocessing,
// top-k classes and per-pixel labels.
#include "common.hpp"

namespace evsam::python {

namespace zoo_local {  // named, not anonymous: the module is a unity build

template <class T>
using ZooModule = std::variant<std::unique_ptr<ClsModel<T>>, std::unique_ptr<SegModel<T>>>;

}  // namespace zoo_local
using namespace zoo_local;

struct ZooModel {
    std::string name, title, weights;
    ModelKind kind = ModelKind::cls;
    bool float64 = false;
    Precision precision = Precision::strict;
    int64_t resolution = 0;  // classifiers: the name's -rNNN, else the zoo's smallest
    std::optional<EfficientViTClsConfig> cls;
    std::optional<EfficientViTSegConfig> seg;
    ZooModule<float> f32;
    ZooModule<double> f64;

    template <class F>
    decltype(auto) visit(F&& f) const {
        auto on = [&](const auto& v) -> decltype(auto) {
            return std::visit([&](const auto& m) -> decltype(auto) { return f(*m); }, v);
        };
        if (float64) return on(f64);
        return on(f32);
    }
    int64_t n_classes() const { return cls ? cls->head.n_classes : seg->head.n_classes; }
};

namespace zoo_local {

template <class M>
struct ZooScalar;
template <class T, class B, class C>
struct ZooScalar<BackboneHeadModel<C, T, B>> {
    using type = T;
};
template <class M>
using zoo_scalar = typename ZooScalar<std::decay_t<M>>::type;

template <class T>
Tensor<T> zoo_input(const ZooModel& z, const py::handle& x) {
    Tensor<T> t = from_numpy<T>(x, "input");
    EVSAM_CHECK(t.dim() == 4 && t.size(1) == 3 && t.size(2) >= 32 && t.size(3) >= 32 &&
                    (z.kind == ModelKind::cls || (t.size(2) % 32 == 0 && t.size(3) % 32 == 0)),
                "input: expected a preprocessed (N, 3, H, W) array, H and W >= 32" +
                    std::string(z.kind == ModelKind::seg ? " and multiples of 32" : "") + ", got " +
                    shape_str(t.shape()));
    return t;
}

py::object zoo_forward(const ZooModel& z, const py::handle& x) {
    return z.visit([&](const auto& m) -> py::object {
        using T = zoo_scalar<decltype(m)>;
        Tensor<T> in = zoo_input<T>(z, x), out;
        {
            Compute c(z.precision);
            out = m.forward(in);
        }
        return to_numpy(std::move(out));
    });
}

py::dict zoo_trace(const ZooModel& z, const py::handle& x) {
    return z.visit([&](const auto& m) {
        using T = zoo_scalar<decltype(m)>;
        Tensor<T> in = zoo_input<T>(z, x);
        Trace<T> tr;
        {
            Compute c(z.precision);
            m.forward(in, &tr);
        }
        return trace_to_dict(std::move(tr));
    });
}

// Upstream's eval transform: classifiers Resize(ceil(R / crop_ratio), bicubic) + CenterCrop(R);
// segmenters the dataset's resize (cv2 INTER_CUBIC). Then ToTensor and ImageNet's Normalize.
py::object zoo_preprocess(const ZooModel& z, const py::handle& image, const py::object& resolution,
                          const py::object& crop_ratio) {
    auto a = image_array(image, "preprocess");
    const int64_t H = a.shape(0), W = a.shape(1);
    if (z.kind == ModelKind::seg && (!resolution.is_none() || !crop_ratio.is_none()))
        throw Error("preprocess: resolution and crop_ratio apply to classifiers");
    if (z.kind == ModelKind::seg && z.seg->dataset != "cityscapes" && z.seg->dataset != "ade20k")
        throw Error("preprocess: the model names no dataset (cityscapes or ade20k), so there is no preprocessing");
    const int64_t R = resolution.is_none() ? z.resolution : resolution.cast<int64_t>();
    const double crop = crop_ratio.is_none() ? (z.cls ? z.cls->crop_ratio : 1.0) : crop_ratio.cast<double>();
    if (z.kind == ModelKind::cls) {
        EVSAM_CHECK(R >= 32 && R <= 4096, "preprocess: resolution must be in [32, 4096], got " + std::to_string(R));
        EVSAM_CHECK(crop >= 0.05 && crop <= 1.0,
                    "preprocess: crop_ratio must be in [0.05, 1], got " + std::to_string(crop));
    }
    auto run = [&](auto tag) -> py::object {
        using T = decltype(tag);
        Tensor<T> out;
        {
            py::gil_scoped_release nogil;
            out = z.kind == ModelKind::cls ? classify_preprocess<T>(a.data(), H, W, R, crop)
                                           : segment_preprocess<T>(a.data(), H, W, z.seg->dataset);
        }
        return to_numpy(std::move(out));
    };
    return z.float64 ? run(double{}) : run(float{});
}

// The k best classes of each row: (index, name, prob, logit), as `evsam classify --json` lists them.
py::list zoo_top_k(const ZooModel& z, const py::handle& logits, int64_t k) {
    EVSAM_CHECK(z.kind == ModelKind::cls, "top_k: " + z.title + " is a segmenter");
    const Tensor<double> l = from_numpy<double>(logits, "logits");
    EVSAM_CHECK(l.dim() == 2 && l.size(1) == z.n_classes(),
                "logits: expected (N, " + std::to_string(z.n_classes()) + "), got " + shape_str(l.shape()));
    EVSAM_CHECK(k >= 1, "k must be >= 1");
    py::list out;
    for (int64_t n = 0; n < l.size(0); ++n) {
        py::list row;
        for (const ClassScore& s : top_k(l, n, k)) {
            py::dict d;
            d["index"] = s.index;
            d["name"] = z.n_classes() == 1000 ? imagenet_classes()[static_cast<size_t>(s.index)]
                                              : "class " + std::to_string(s.index);
            d["prob"] = s.prob;
            d["logit"] = s.logit;
            row.append(std::move(d));
        }
        out.append(std::move(row));
    }
    return out;
}

// Per-pixel labels at (H, W): the eval script's bicubic resize of the logits, then argmax.
py::array_t<int32_t> zoo_labels(const ZooModel& z, const py::handle& logits, const py::object& size) {
    EVSAM_CHECK(z.kind == ModelKind::seg, "labels: " + z.title + " is a classifier");
    auto hw = size.cast<std::vector<int64_t>>();
    EVSAM_CHECK(hw.size() == 2 && hw[0] > 0 && hw[1] > 0, "labels: size must be (H, W) > 0");
    return z.visit([&](const auto& m) {
        using T = zoo_scalar<decltype(m)>;
        const Tensor<T> l = from_numpy<T>(logits, "logits");
        std::vector<int32_t> lab;
        {
            py::gil_scoped_release nogil;
            lab = segment_labels(l, hw[0], hw[1]);
        }
        py::array_t<int32_t> out({static_cast<py::ssize_t>(hw[0]), static_cast<py::ssize_t>(hw[1])});
        std::copy(lab.begin(), lab.end(), out.mutable_data());
        return out;
    });
}

}  // namespace zoo_local
using namespace zoo_local;

py::object make_zoo_model(LoadedZooCheckpoint&& lc, const std::string& weights, bool float64, Precision precision) {
    auto z = std::make_shared<ZooModel>();
    z->name = lc.model.name;
    z->title = lc.title;
    z->weights = weights;
    z->kind = lc.model.kind;
    z->float64 = float64;
    z->precision = precision;
    z->cls = lc.cls;
    z->seg = lc.seg;
    if (z->cls) z->resolution = lc.model.resolution ? lc.model.resolution : z->cls->resolutions.front();
    auto build = [&](auto tag, auto& slot) {
        using T = decltype(tag);
        if (z->cls) {
            auto m = create_cls<T>(*z->cls);
            load_state_dict(*m, lc.ckpt, lc.title);
            assign_names(*m);
            slot = std::move(m);
        } else {
            auto m = create_seg<T>(*z->seg);
            load_state_dict(*m, lc.ckpt, lc.title);
            assign_names(*m);
            slot = std::move(m);
        }
    };
    {
        Compute c(precision);
        if (float64)
            build(double{}, z->f64);
        else
            build(float{}, z->f32);
    }
    return py::cast(std::shared_ptr<const ZooModel>(z));
}

void register_zoo(py::module_& m) {
    py::class_<ZooModel, std::shared_ptr<ZooModel>>(
        m, "ZooModel", "One of EfficientViT's ImageNet classifiers or Cityscapes / ADE20K segmenters")
        .def_property_readonly("kind", [](const ZooModel& z) { return z.kind == ModelKind::cls ? "cls" : "seg"; })
        .def_property_readonly("name", [](const ZooModel& z) { return z.name; })
        .def_property_readonly("title", [](const ZooModel& z) { return z.title; })
        .def_property_readonly("weights", [](const ZooModel& z) { return z.weights; })
        .def_property_readonly("dtype", [](const ZooModel& z) { return z.float64 ? "float64" : "float32"; })
        .def_property_readonly("precision", [](const ZooModel& z) { return precision_name(z.precision); })
        .def_property_readonly("n_classes", &ZooModel::n_classes)
        .def_property_readonly("resolution",
                               [](const ZooModel& z) -> py::object {
                                   if (z.kind == ModelKind::cls) return py::int_(z.resolution);
                                   return py::none();
                               })
        .def_property_readonly("dataset",
                               [](const ZooModel& z) -> py::object {
                                   if (z.seg) return py::str(z.seg->dataset);
                                   return py::none();
                               })
        .def("forward", &zoo_forward, py::arg("x"), "(N, 3, H, W) preprocessed -> logits")
        .def("__call__", &zoo_forward, py::arg("x"))
        .def("trace", &zoo_trace, py::arg("x"), "every module's output, in execution order")
        .def("preprocess", &zoo_preprocess, py::arg("image"), py::arg("resolution") = py::none(),
             py::arg("crop_ratio") = py::none(), "(H, W, 3) uint8 RGB -> (1, 3, h, w): upstream's eval transform")
        .def("top_k", &zoo_top_k, py::arg("logits"), py::arg("k") = 5,
             "per row of (N, C) logits: the k best classes as dicts index, name, prob, logit")
        .def("labels", &zoo_labels, py::arg("logits"), py::arg("size"),
             "(1, C, h, w) logits -> (H, W) int32 labels: bicubic resize to size, then argmax");
}

}  // namespace evsam::python
