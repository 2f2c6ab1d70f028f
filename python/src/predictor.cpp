// evsam._evsam: Predictor, upstream's EfficientViTSamPredictor / SamPredictor over evsam::Predictor.
// Arrays in, arrays out: masks bool (or logits), IoUs and low-res logits in the model's dtype.
#include <array>
#include <cmath>
#include <optional>
#include <variant>

#include "common.hpp"

namespace evsam::python {

namespace predictor_local {  // named, not anonymous: the module is a unity build

// Prompts must be numbers: NaN or inf would run and give meaningless masks.
template <class T>
void check_finite(const Tensor<T>& t, const char* what) {
    for (int64_t i = 0; i < t.numel(); ++i)
        EVSAM_CHECK(std::isfinite(static_cast<double>(t[i])),
                    std::string(what) + ": not a finite number (" + std::to_string(static_cast<double>(t[i])) + ")");
}

// (N, 2) points, (N,) labels, 4 numbers of a box: read as float64, as upstream's numpy does.
std::vector<std::array<double, 2>> points_arg(const py::handle& obj) {
    const Tensor<double> t = from_numpy<double>(obj, "point_coords");
    EVSAM_CHECK((t.dim() == 2 && t.size(1) == 2) || (t.dim() == 1 && t.numel() == 2),
                "point_coords: expected (N, 2), got " + shape_str(t.shape()));
    check_finite(t, "point_coords");
    std::vector<std::array<double, 2>> p(static_cast<size_t>(t.numel() / 2));
    for (size_t i = 0; i < p.size(); ++i) p[i] = {t[2 * i], t[2 * i + 1]};
    return p;
}
std::vector<int> labels_arg(const py::handle& obj, size_t n) {
    const Tensor<double> t = from_numpy<double>(obj, "point_labels");
    EVSAM_CHECK(t.dim() <= 1 && static_cast<size_t>(t.numel()) == n, "point_labels: expected (" + std::to_string(n) +
                                                                         ",) for " + std::to_string(n) +
                                                                         " points, got " + shape_str(t.shape()));
    std::vector<int> l(n);
    for (size_t i = 0; i < n; ++i) {
        EVSAM_CHECK(t[i] == std::floor(t[i]), "point_labels: expected integers, got " + std::to_string(t[i]));
        l[i] = static_cast<int>(t[i]);
    }
    return l;
}
std::array<double, 4> box_of(const Tensor<double>& t, int64_t i) {
    return {t[4 * i], t[4 * i + 1], t[4 * i + 2], t[4 * i + 3]};
}

template <class T>
py::object masks_out(Tensor<T>&& logits, bool return_logits) {
    if (return_logits) return to_numpy(std::move(logits));
    // masks = masks > mask_threshold, as bool (what upstream's predict returns)
    std::vector<py::ssize_t> shape(logits.shape().begin(), logits.shape().end());
    py::array_t<bool> out(shape);
    bool* o = out.mutable_data();
    const T* x = logits.data();
    const int64_t n = logits.numel();
    const T thr = static_cast<T>(Predictor<T>::mask_threshold);
    {
        py::gil_scoped_release nogil;
        for (int64_t i = 0; i < n; ++i) o[i] = x[i] > thr;
    }
    return std::move(out);
}

template <class T>
py::tuple prediction_out(BatchPrediction<T>&& r, bool return_logits) {
    return py::make_tuple(masks_out(std::move(r.masks), return_logits), to_numpy(std::move(r.iou_predictions)),
                          to_numpy(std::move(r.low_res_logits)));
}

}  // namespace predictor_local
using namespace predictor_local;

class PyPredictor {
    ModelPtr model_;
    std::variant<std::unique_ptr<Predictor<float>>, std::unique_ptr<Predictor<double>>> p_;
    std::mutex mu_;  // one call at a time on one predictor (each thread should have its own)

    template <class F>
    decltype(auto) visit(F&& f) {
        return std::visit([&](auto& p) -> decltype(auto) { return f(*p); }, p_);
    }

public:
    explicit PyPredictor(ModelPtr m) : model_(std::move(m)) {
        if (model_->float64)
            p_ = std::make_unique<Predictor<double>>(*model_->f64);
        else
            p_ = std::make_unique<Predictor<float>>(*model_->f32);
    }
    ModelPtr model() const { return model_; }

    void set_image(const py::handle& image, const std::string& image_format) {
        if (image_format != "RGB" && image_format != "BGR")
            throw Error("image_format must be in ['RGB', 'BGR'], is " + image_format + ".");
        auto a = image_array(image, "set_image");
        const int64_t H = a.shape(0), W = a.shape(1);
        const ImageFormat f = image_format == "BGR" ? ImageFormat::BGR : ImageFormat::RGB;
        visit([&](auto& p) {
            Compute c(model_->precision);
            std::lock_guard<std::mutex> lk(mu_);
            p.set_image(a.data(), H, W, f);
        });
    }
    void set_image_batch(const py::handle& x) {
        visit([&](auto& p) {
            using T = scalar_of<decltype(p)>;
            Tensor<T> t = from_numpy<T>(x, "set_image_batch");
            const int64_t R = model_->transform().resolution;
            EVSAM_CHECK(t.dim() == 4 && t.size(1) == 3 && t.size(2) == R && t.size(3) == R,
                        "set_image_batch: expected preprocessed images (B, 3, " + std::to_string(R) + ", " +
                            std::to_string(R) + "), got " + shape_str(t.shape()));
            Compute c(model_->precision);
            std::lock_guard<std::mutex> lk(mu_);
            p.set_image_batch(t);
        });
    }
    void set_image_embedding(const py::handle& emb, const py::handle& original_size) {
        auto hw = original_size.cast<std::vector<int64_t>>();
        EVSAM_CHECK(hw.size() == 2 && hw[0] > 0 && hw[1] > 0, "set_image_embedding: original_size must be (H, W) > 0");
        visit([&](auto& p) {
            using T = scalar_of<decltype(p)>;
            Tensor<T> t = from_numpy<T>(emb, "set_image_embedding");
            if (t.dim() == 3) t.reshape_({1, t.size(0), t.size(1), t.size(2)});
            Compute c(model_->precision);
            std::lock_guard<std::mutex> lk(mu_);
            p.set_image_embedding(t, hw[0], hw[1]);
        });
    }
    void reset_image() {
        visit([&](auto& p) {
            std::lock_guard<std::mutex> lk(mu_);
            p.reset_image();
        });
    }
    bool is_image_set() const {
        return std::visit([](const auto& p) { return p->is_image_set(); }, p_);
    }
    py::object original_size() const { return size_or_none(true); }
    py::object input_size() const { return size_or_none(false); }

    py::object get_image_embedding() {
        return visit([&](auto& p) -> py::object {
            std::lock_guard<std::mutex> lk(mu_);
            if (!p.is_image_set()) throw Error("An image must be set with .set_image(...) to generate an embedding.");
            auto copy = p.features();  // the predictor keeps its own for the next prompts
            return to_numpy(std::move(copy));
        });
    }

    py::tuple predict(const py::object& point_coords, const py::object& point_labels, const py::object& box,
                      const py::object& mask_input, bool multimask_output, bool return_logits,
                      const py::object& boxes) {
        if (!point_coords.is_none() && point_labels.is_none())
            throw Error("point_labels must be supplied if point_coords is supplied.");
        if (point_coords.is_none() && !point_labels.is_none())
            throw Error("point_coords must be supplied if point_labels is supplied.");
        if (!box.is_none() && !boxes.is_none()) throw Error("give box (one prompt) or boxes (a batch), not both");
        return visit([&](auto& p) {
            using T = scalar_of<decltype(p)>;
            Prompt<T> base;
            if (!point_coords.is_none()) {
                base.points = points_arg(point_coords);
                base.labels = labels_arg(point_labels, base.points.size());
            }
            std::vector<Prompt<T>> sets;
            if (!boxes.is_none()) {  // a batch: one prompt set per box, each with every point
                const Tensor<double> b = from_numpy<double>(boxes, "boxes");
                check_finite(b, "boxes");
                EVSAM_CHECK(b.dim() == 2 && b.size(1) == 4 && b.size(0) >= 1,
                            "boxes: expected (B, 4) XYXY, got " + shape_str(b.shape()));
                Tensor<T> masks;
                if (!mask_input.is_none()) {
                    masks = from_numpy<T>(mask_input, "mask_input");
                    check_finite(masks, "mask_input");
                    EVSAM_CHECK(
                        masks.size(0) == b.size(0) && (masks.dim() == 3 || (masks.dim() == 4 && masks.size(1) == 1)),
                        "mask_input: with boxes, expected (B, 1, 256, 256), one per box, got " +
                            shape_str(masks.shape()));
                }
                for (int64_t i = 0; i < b.size(0); ++i) {
                    Prompt<T> s = base;
                    s.box = box_of(b, i);
                    if (!masks.empty()) {
                        const int64_t hw = masks.numel() / masks.size(0);
                        s.mask_input = Tensor<T>({1, masks.size(masks.dim() - 2), masks.size(masks.dim() - 1)});
                        std::copy(masks.data() + i * hw, masks.data() + (i + 1) * hw, s.mask_input.data());
                    }
                    sets.push_back(std::move(s));
                }
            } else {
                if (!box.is_none()) {
                    const Tensor<double> b = from_numpy<double>(box, "box");
                    check_finite(b, "box");
                    EVSAM_CHECK(
                        b.numel() == 4 && (b.dim() == 1 || (b.dim() == 2 && b.size(0) == 1)),
                        "box: expected 4 numbers XYXY (several boxes: boxes=(B, 4)), got " + shape_str(b.shape()));
                    base.box = box_of(b, 0);
                }
                if (!mask_input.is_none()) {
                    base.mask_input = from_numpy<T>(mask_input, "mask_input");
                    check_finite(base.mask_input, "mask_input");
                }
                sets.push_back(std::move(base));
            }
            BatchPrediction<T> r;
            {
                Compute c(model_->precision);
                std::lock_guard<std::mutex> lk(mu_);
                r = p.predict_batch(sets, multimask_output, /*return_logits=*/true);
            }
            if (boxes.is_none())  // masks[0], iou_predictions[0], low_res_masks[0]
                for (Tensor<T>* t : {&r.masks, &r.iou_predictions, &r.low_res_logits})
                    t->reshape_(Shape(t->shape().begin() + 1, t->shape().end()));
            return prediction_out(std::move(r), return_logits);
        });
    }

    // Prompts already in the model's input frame (apply_coords), batched: coords (B, N, 2), labels
    // (B, N), boxes (B, 4), mask_input (B, 1, 256, 256).
    py::tuple predict_torch(const py::object& point_coords, const py::object& point_labels, const py::object& boxes,
                            const py::object& mask_input, bool multimask_output, bool return_logits,
                            const py::object& image_index) {
        if (!point_coords.is_none() && point_labels.is_none())
            throw Error("point_labels must be supplied if point_coords is supplied.");
        return visit([&](auto& p) {
            using T = scalar_of<decltype(p)>;
            std::optional<Tensor<T>> c, l, b, m;
            if (!point_coords.is_none()) {
                c = from_numpy<T>(point_coords, "point_coords");
                l = from_numpy<T>(point_labels, "point_labels");
                check_finite(*c, "point_coords");
                check_finite(*l, "point_labels");
                EVSAM_CHECK(c->dim() == 3 && c->size(2) == 2,
                            "point_coords: expected (B, N, 2), got " + shape_str(c->shape()));
                EVSAM_CHECK(l->dim() == 2 && l->size(0) == c->size(0) && l->size(1) == c->size(1),
                            "point_labels: expected (B, N) matching point_coords " + shape_str(c->shape()) + ", got " +
                                shape_str(l->shape()));
            }
            if (!boxes.is_none()) {
                b = from_numpy<T>(boxes, "boxes");
                check_finite(*b, "boxes");
                EVSAM_CHECK(b->dim() == 2 && b->size(1) == 4 && b->size(0) >= 1,
                            "boxes: expected (B, 4), B >= 1, got " + shape_str(b->shape()));
            }
            if (!mask_input.is_none()) {
                m = from_numpy<T>(mask_input, "mask_input");
                check_finite(*m, "mask_input");
                EVSAM_CHECK(m->dim() == 4 && m->size(1) == 1,
                            "mask_input: expected (B, 1, 256, 256), got " + shape_str(m->shape()));
            }
            const int64_t index = image_index.is_none() ? -1 : image_index.cast<int64_t>();
            EVSAM_CHECK(image_index.is_none() || index >= 0,
                        "predict: image_index must be >= 0, got " + std::to_string(index));
            BatchPrediction<T> r;
            {
                Compute cs(model_->precision);
                std::lock_guard<std::mutex> lk(mu_);
                r = p.predict_torch(c ? &*c : nullptr, l ? &*l : nullptr, b ? &*b : nullptr, m ? &*m : nullptr,
                                    multimask_output, /*return_logits=*/true, index);
            }
            return prediction_out(std::move(r), return_logits);
        });
    }

private:
    py::object size_or_none(bool original) const {
        return std::visit(
            [&](const auto& p) -> py::object {
                if (!p->is_image_set()) return py::none();
                const auto s = original ? p->original_size() : p->input_size();
                return py::make_tuple(s.first, s.second);
            },
            p_);
    }
};

void register_predictor(py::module_& m) {
    py::class_<PyPredictor>(m, "Predictor")
        .def(py::init<ModelPtr>(), py::arg("model"))
        .def_property_readonly("model", &PyPredictor::model)
        .def("set_image", &PyPredictor::set_image, py::arg("image"), py::arg("image_format") = "RGB")
        .def("set_image_batch", &PyPredictor::set_image_batch, py::arg("image"))
        .def("set_image_embedding", &PyPredictor::set_image_embedding, py::arg("embedding"), py::arg("original_size"))
        .def("reset_image", &PyPredictor::reset_image)
        .def("get_image_embedding", &PyPredictor::get_image_embedding)
        .def_property_readonly("is_image_set", &PyPredictor::is_image_set)
        .def_property_readonly("original_size", &PyPredictor::original_size)
        .def_property_readonly("input_size", &PyPredictor::input_size)
        .def("predict", &PyPredictor::predict, py::arg("point_coords") = py::none(),
             py::arg("point_labels") = py::none(), py::arg("box") = py::none(), py::arg("mask_input") = py::none(),
             py::arg("multimask_output") = true, py::arg("return_logits") = false, py::arg("boxes") = py::none())
        .def("predict_torch", &PyPredictor::predict_torch, py::arg("point_coords") = py::none(),
             py::arg("point_labels") = py::none(), py::arg("boxes") = py::none(), py::arg("mask_input") = py::none(),
             py::arg("multimask_output") = true, py::arg("return_logits") = false, py::arg("image_index") = py::none());
}

}  // namespace evsam::python
