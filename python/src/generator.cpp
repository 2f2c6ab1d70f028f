// evsam._evsam: MaskGenerator, upstream's SamAutomaticMaskGenerator over evsam::AutomaticMaskGenerator.
// generate(image) returns upstream's records: a list of dicts with its keys and Python types.
#include <variant>

#include "common.hpp"

namespace evsam::python {

namespace generator_local {  // named, not anonymous: the module is a unity build

AmgOutputMode output_mode_arg(const std::string& s) {
    if (s == "binary_mask") return AmgOutputMode::binary_mask;
    if (s == "uncompressed_rle") return AmgOutputMode::uncompressed_rle;
    if (s == "coco_rle") return AmgOutputMode::coco_rle;
    throw Error("Unknown output_mode " + s + ".");
}

py::object segmentation_out(const amg::Rle& rle, AmgOutputMode mode) {
    if (mode == AmgOutputMode::binary_mask) {  // rle_to_mask: an (H, W) bool array
        py::array_t<bool> m({static_cast<py::ssize_t>(rle.h), static_cast<py::ssize_t>(rle.w)});
        const std::vector<uint8_t> px = amg::rle_to_mask(rle);
        std::copy(px.begin(), px.end(), m.mutable_data());
        return std::move(m);
    }
    py::dict d;  // {"size": [h, w], "counts": [...] or the pycocotools string}
    d["size"] = py::list(py::make_tuple(rle.h, rle.w));
    if (mode == AmgOutputMode::coco_rle)
        d["counts"] = amg::coco_rle_string(rle);
    else
        d["counts"] = py::list(py::cast(rle.counts));
    return std::move(d);
}

}  // namespace generator_local
using namespace generator_local;

class PyMaskGenerator {
public:
    PyMaskGenerator(ModelPtr m, const py::object& points_per_side, int64_t points_per_batch, double pred_iou_thresh,
                    double stability_score_thresh, double stability_score_offset, double box_nms_thresh,
                    int64_t crop_n_layers, double crop_nms_thresh, double crop_overlap_ratio,
                    int64_t crop_n_points_downscale_factor, const py::object& point_grids, int64_t min_mask_region_area,
                    const std::string& output_mode)
        : model_(std::move(m)) {
        if (points_per_side.is_none() == point_grids.is_none())
            throw Error("Exactly one of points_per_side or point_grid must be provided.");
        AmgConfig c;
        c.points_per_side = points_per_side.is_none() ? 0 : points_per_side.cast<int64_t>();
        if (!points_per_side.is_none() && c.points_per_side <= 0)
            throw Error("points_per_side must be > 0, got " + std::to_string(c.points_per_side));
        if (!point_grids.is_none())
            for (const py::handle g : point_grids) {
                const Tensor<double> t = from_numpy<double>(g, "point_grids");
                EVSAM_CHECK(t.dim() == 2 && t.size(1) == 2 && t.size(0) > 0,
                            "point_grids: each grid must be (n, 2) in [0, 1], got " + shape_str(t.shape()));
                std::vector<std::array<double, 2>> pts;
                for (int64_t i = 0; i < t.size(0); ++i) pts.push_back({t[2 * i], t[2 * i + 1]});
                c.point_grids.push_back(std::move(pts));
            }
        c.points_per_batch = points_per_batch;
        c.pred_iou_thresh = pred_iou_thresh;
        c.stability_score_thresh = stability_score_thresh;
        c.stability_score_offset = stability_score_offset;
        c.box_nms_thresh = box_nms_thresh;
        c.crop_n_layers = crop_n_layers;
        c.crop_nms_thresh = crop_nms_thresh;
        c.crop_overlap_ratio = crop_overlap_ratio;
        c.crop_n_points_downscale_factor = crop_n_points_downscale_factor;
        EVSAM_CHECK(min_mask_region_area >= 0,
                    "min_mask_region_area must be >= 0, got " + std::to_string(min_mask_region_area));
        c.min_mask_region_area = min_mask_region_area;
        c.output_mode = output_mode_arg(output_mode);
        mode_ = c.output_mode;
        if (model_->float64)
            g_ = std::make_unique<AutomaticMaskGenerator<double>>(*model_->f64, c);
        else
            g_ = std::make_unique<AutomaticMaskGenerator<float>>(*model_->f32, c);
    }

    py::list generate(const py::handle& image) {
        auto a = image_array(image, "generate");
        Image img;
        img.height = a.shape(0), img.width = a.shape(1);
        img.data.assign(a.data(), a.data() + a.size());
        std::vector<MaskRecord> recs;
        {
            Compute c(model_->precision);
            std::lock_guard<std::mutex> lk(mu_);
            recs = std::visit([&](auto& g) { return g->generate(img); }, g_);
        }
        py::list out;
        for (const MaskRecord& r : recs) {
            py::dict d;
            d["segmentation"] = segmentation_out(r.rle, mode_);
            d["area"] = r.area;
            d["bbox"] = py::list(py::cast(std::vector<int64_t>(r.bbox.begin(), r.bbox.end())));
            d["predicted_iou"] = r.predicted_iou;
            py::list pt;
            pt.append(py::list(py::cast(std::vector<double>{r.point_coords[0], r.point_coords[1]})));
            d["point_coords"] = pt;
            d["stability_score"] = r.stability_score;
            d["crop_box"] = py::list(py::cast(std::vector<int64_t>(r.crop_box.begin(), r.crop_box.end())));
            out.append(std::move(d));
        }
        return out;
    }
    ModelPtr model() const { return model_; }
    std::string output_mode() const {
        return mode_ == AmgOutputMode::binary_mask        ? "binary_mask"
               : mode_ == AmgOutputMode::uncompressed_rle ? "uncompressed_rle"
                                                          : "coco_rle";
    }

private:
    ModelPtr model_;
    AmgOutputMode mode_;
    std::variant<std::unique_ptr<AutomaticMaskGenerator<float>>, std::unique_ptr<AutomaticMaskGenerator<double>>> g_;
    std::mutex mu_;
};

void register_generator(py::module_& m) {
    py::class_<PyMaskGenerator>(m, "MaskGenerator")
        .def(py::init<ModelPtr, const py::object&, int64_t, double, double, double, double, int64_t, double, double,
                      int64_t, const py::object&, int64_t, const std::string&>(),
             py::arg("model"), py::arg("points_per_side") = 32, py::arg("points_per_batch") = 64,
             py::arg("pred_iou_thresh") = 0.88, py::arg("stability_score_thresh") = 0.95,
             py::arg("stability_score_offset") = 1.0, py::arg("box_nms_thresh") = 0.7, py::arg("crop_n_layers") = 0,
             py::arg("crop_nms_thresh") = 0.7, py::arg("crop_overlap_ratio") = 512.0 / 1500.0,
             py::arg("crop_n_points_downscale_factor") = 1, py::arg("point_grids") = py::none(),
             py::arg("min_mask_region_area") = 0, py::arg("output_mode") = "binary_mask")
        .def_property_readonly("model", &PyMaskGenerator::model)
        .def_property_readonly("output_mode", &PyMaskGenerator::output_mode)
        .def("generate", &PyMaskGenerator::generate, py::arg("image"));
}

}  // namespace evsam::python
