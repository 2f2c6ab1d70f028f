// evsam: segment_anything/automatic_mask_generator.py: SamAutomaticMaskGenerator (which
// upstream's EfficientViTSamAutomaticMaskGenerator subclasses, with EfficientViTSamPredictor).
//
// generate(image):
//   for each crop box (the image, then crop layers):      _process_crop
//     set the cropped image; scale the layer's point grid to the crop
//     for each batch of points_per_batch points:          _process_batch
//       one decoder pass, 3 masks per point (multimask, logits)
//       keep predicted IoU > pred_iou_thresh; stability score on the logits
//       keep stability >= stability_score_thresh; threshold; boxes
//       drop boxes near a crop edge that is not an image edge; uncrop; RLE
//     box NMS inside the crop (score = predicted IoU)
//   NMS across crops (score = 1 / crop area) when there are several crops
//   min_mask_region_area > 0: fill small holes, drop small islands, NMS preferring unchanged masks
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "evsam/predictor.hpp"
#include "evsam/sam/amg_utils.hpp"

namespace evsam {

enum class AmgOutputMode { binary_mask, uncompressed_rle, coco_rle };

struct AmgConfig {
    int64_t points_per_side = 32;  // or 0 with explicit point_grids
    std::vector<std::vector<std::array<double, 2>>> point_grids;
    int64_t points_per_batch = 64;
    double pred_iou_thresh = 0.88;
    double stability_score_thresh = 0.95;
    double stability_score_offset = 1.0;
    double box_nms_thresh = 0.7;
    int64_t crop_n_layers = 0;
    double crop_nms_thresh = 0.7;
    double crop_overlap_ratio = 512.0 / 1500.0;
    int64_t crop_n_points_downscale_factor = 1;
    int64_t min_mask_region_area = 0;
    AmgOutputMode output_mode = AmgOutputMode::binary_mask;
};

// One record, with upstream's fields.
struct MaskRecord {
    amg::Rle rle;  // "segmentation" (uncompressed RLE; see segmentation_*())
    int64_t area = 0;
    std::array<int64_t, 4> bbox{};  // XYWH
    double predicted_iou = 0;
    std::array<double, 2> point_coords{};  // [[x, y]]
    double stability_score = 0;
    std::array<int64_t, 4> crop_box{};  // XYWH
};

template <class T = float, class B = backend::cpu>
class AutomaticMaskGenerator {
public:
    // Progress callback: (crop index, number of crops, batch index, number of batches).
    using Progress = std::function<void(int64_t, int64_t, int64_t, int64_t)>;

    AutomaticMaskGenerator(const SamBase<T, B>& model, AmgConfig cfg) : predictor_(model), cfg_(std::move(cfg)) {
        EVSAM_CHECK((cfg_.points_per_side > 0) != !cfg_.point_grids.empty(),
                    "Exactly one of points_per_side or point_grid must be provided.");
        EVSAM_CHECK(cfg_.points_per_batch > 0, "points_per_batch must be > 0");
        EVSAM_CHECK(cfg_.crop_n_layers >= 0 && cfg_.crop_n_points_downscale_factor >= 1, "bad crop settings");
        if (cfg_.points_per_side > 0)
            point_grids_ = amg::build_all_layer_point_grids(cfg_.points_per_side, cfg_.crop_n_layers,
                                                            cfg_.crop_n_points_downscale_factor);
        else
            point_grids_ = cfg_.point_grids;
        EVSAM_CHECK(static_cast<int64_t>(point_grids_.size()) >= cfg_.crop_n_layers + 1,
                    "point_grids must have one grid per crop layer");
    }

    // image_set, if given, is a Predictor on which this image is already set (e.g. a server's cached
    // embedding): the whole-image crop then uses it instead of encoding the image again. Same records.
    std::vector<MaskRecord> generate(const Image& image, const Progress& progress = nullptr,
                                     const Predictor<T, B>* image_set = nullptr) {
        const int64_t H = image.height, W = image.width;
        std::vector<amg::Box> crop_boxes;
        std::vector<int64_t> layer_idxs;
        amg::generate_crop_boxes(H, W, cfg_.crop_n_layers, cfg_.crop_overlap_ratio, crop_boxes, layer_idxs);
        std::vector<Item> data;
        for (size_t c = 0; c < crop_boxes.size(); ++c) {
            const bool whole = crop_boxes[c] == amg::Box{0, 0, W, H};
            if (image_set && whole)
                EVSAM_CHECK(image_set->original_size() == std::make_pair(H, W),
                            "generate: the predictor given holds an image of another size");
            auto crop = process_crop(image, crop_boxes[c], layer_idxs[c], H, W, static_cast<int64_t>(c),
                                     static_cast<int64_t>(crop_boxes.size()), progress, whole ? image_set : nullptr);
            data.insert(data.end(), std::make_move_iterator(crop.begin()), std::make_move_iterator(crop.end()));
        }
        if (crop_boxes.size() > 1) {  // prefer masks from smaller crops: score = 1 / crop area
            std::vector<float> scores;
            for (auto& it : data) {
                const auto& cb = it.crop_box;
                scores.push_back(1.0f / static_cast<float>((cb[2] - cb[0]) * (cb[3] - cb[1])));
            }
            const auto keep = amg::nms(boxes_of(data), scores, cfg_.crop_nms_thresh);  // before data is moved
            data = filter(std::move(data), keep);
        }
        if (cfg_.min_mask_region_area > 0)
            data = postprocess_small_regions(std::move(data), H, W, static_cast<double>(cfg_.min_mask_region_area),
                                             std::max(cfg_.box_nms_thresh, cfg_.crop_nms_thresh));
        std::vector<MaskRecord> out;
        for (auto& it : data) {
            MaskRecord r;
            r.area = amg::area_from_rle(it.rle);
            r.bbox = {it.box[0], it.box[1], it.box[2] - it.box[0], it.box[3] - it.box[1]};
            r.predicted_iou = it.iou;
            r.point_coords = it.point;
            r.stability_score = it.stability;
            r.crop_box = {it.crop_box[0], it.crop_box[1], it.crop_box[2] - it.crop_box[0],
                          it.crop_box[3] - it.crop_box[1]};
            r.rle = std::move(it.rle);
            out.push_back(std::move(r));
        }
        return out;
    }

    const AmgConfig& config() const { return cfg_; }

private:
    struct Item {
        amg::Rle rle;  // in the original image
        amg::Box box;  // XYXY in the original image
        float iou = 0;
        std::array<double, 2> point{};
        float stability = 0;
        amg::Box crop_box{};  // XYXY
    };

    Predictor<T, B> predictor_;
    AmgConfig cfg_;
    std::vector<std::vector<std::array<double, 2>>> point_grids_;

    static std::vector<std::array<float, 4>> boxes_of(const std::vector<Item>& d) {
        std::vector<std::array<float, 4>> b;
        for (auto& it : d)
            b.push_back({static_cast<float>(it.box[0]), static_cast<float>(it.box[1]), static_cast<float>(it.box[2]),
                         static_cast<float>(it.box[3])});
        return b;
    }
    static std::vector<Item> filter(std::vector<Item> d, const std::vector<int64_t>& keep) {
        std::vector<Item> r;
        for (int64_t i : keep) r.push_back(std::move(d[static_cast<size_t>(i)]));
        return r;
    }

    std::vector<Item> process_crop(const Image& image, const amg::Box& cb, int64_t layer, int64_t H, int64_t W,
                                   int64_t crop_i, int64_t n_crops, const Progress& progress,
                                   const Predictor<T, B>* image_set) {
        const int64_t x0 = cb[0], y0 = cb[1], cw = cb[2] - cb[0], ch = cb[3] - cb[1];
        if (!image_set) {
            Image crop;  // cropped_im = image[y0:y1, x0:x1, :]
            crop.height = ch, crop.width = cw;
            crop.data.resize(static_cast<size_t>(ch * cw * 3));
            for (int64_t y = 0; y < ch; ++y)
                std::copy(image.data.begin() + ((y0 + y) * W + x0) * 3,
                          image.data.begin() + ((y0 + y) * W + x0 + cw) * 3, crop.data.begin() + y * cw * 3);
            predictor_.set_image(crop);
        }
        const Predictor<T, B>& pred = image_set ? *image_set : predictor_;
        const auto& grid = point_grids_[static_cast<size_t>(layer)];
        std::vector<std::array<double, 2>> points;  // points_for_image = grid * [w, h]
        for (auto& g : grid) points.push_back({g[0] * static_cast<double>(cw), g[1] * static_cast<double>(ch)});
        std::vector<Item> data;
        const int64_t nb = (static_cast<int64_t>(points.size()) + cfg_.points_per_batch - 1) / cfg_.points_per_batch;
        for (int64_t b = 0; b < nb; ++b) {
            if (progress) progress(crop_i, n_crops, b, nb);
            const size_t p0 = static_cast<size_t>(b * cfg_.points_per_batch);
            const size_t p1 = std::min(points.size(), p0 + static_cast<size_t>(cfg_.points_per_batch));
            std::vector<std::array<double, 2>> batch(points.begin() + static_cast<std::ptrdiff_t>(p0),
                                                     points.begin() + static_cast<std::ptrdiff_t>(p1));
            auto items = process_batch(pred, batch, ch, cw, cb, H, W);
            data.insert(data.end(), std::make_move_iterator(items.begin()), std::make_move_iterator(items.end()));
        }
        if (progress) progress(crop_i, n_crops, nb, nb);
        predictor_.reset_image();
        std::vector<float> scores;
        for (auto& it : data) scores.push_back(it.iou);
        // NMS on the crop-frame boxes, then uncrop boxes and points
        std::vector<std::array<float, 4>> crop_frame;
        for (auto& it : data)
            crop_frame.push_back({static_cast<float>(it.box[0] - x0), static_cast<float>(it.box[1] - y0),
                                  static_cast<float>(it.box[2] - x0), static_cast<float>(it.box[3] - y0)});
        return filter(std::move(data), amg::nms(crop_frame, scores, cfg_.box_nms_thresh));
    }

    std::vector<Item> process_batch(const Predictor<T, B>& pred, const std::vector<std::array<double, 2>>& points,
                                    int64_t ch, int64_t cw, const amg::Box& cb, int64_t H, int64_t W) {
        const int64_t n = static_cast<int64_t>(points.size());
        Tensor<T> coords({n, 1, 2}), labels({n, 1}, T(1));
        for (int64_t i = 0; i < n; ++i) {  // transform.apply_coords(points, im_size)
            auto c = pred.apply_coords(points[static_cast<size_t>(i)][0], points[static_cast<size_t>(i)][1]);
            coords[2 * i] = c[0], coords[2 * i + 1] = c[1];
        }
        // predict_torch(..., return_logits=True); only the masks that pass the IoU filter are then
        // upscaled to the crop size (upstream upscales all of them first: same values, more work)
        auto out = pred.predict_torch_low_res(&coords, &labels, nullptr, nullptr, /*multimask_output=*/true);
        const Tensor<T>& low = out.low_res_logits;
        const int64_t C = low.size(1), LP = low.size(2) * low.size(3), P = ch * cw;  // flatten(0, 1): point-major
        std::vector<Item> items;
        std::vector<uint8_t> bin(static_cast<size_t>(P));
        Tensor<T> one({1, 1, low.size(2), low.size(3)}, Tensor<T>::uninitialized);
        for (int64_t k = 0; k < n * C; ++k) {
            const float iou = static_cast<float>(out.iou_predictions[k]);
            if (cfg_.pred_iou_thresh > 0.0 && !(iou > static_cast<float>(cfg_.pred_iou_thresh))) continue;
            std::copy(low.data() + k * LP, low.data() + (k + 1) * LP, one.data());
            const Tensor<T> mask = pred.postprocess_masks(one);  // (1, 1, ch, cw) logits
            const T* logits = mask.data();
            const float stab = amg::calculate_stability_score(logits, 1, P, Predictor<T, B>::mask_threshold,
                                                              cfg_.stability_score_offset)[0];
            if (cfg_.stability_score_thresh > 0.0 && !(stab >= static_cast<float>(cfg_.stability_score_thresh)))
                continue;
            for (int64_t p = 0; p < P; ++p)
                bin[static_cast<size_t>(p)] = logits[p] > T(Predictor<T, B>::mask_threshold);
            amg::Box box = amg::mask_to_box(bin.data(), ch, cw);
            if (amg::is_box_near_crop_edge(box, cb, {0, 0, W, H})) continue;
            Item it;
            it.iou = iou;
            it.stability = stab;
            it.point = {points[static_cast<size_t>(k / C)][0] + static_cast<double>(cb[0]),
                        points[static_cast<size_t>(k / C)][1] + static_cast<double>(cb[1])};
            it.box = {box[0] + cb[0], box[1] + cb[1], box[2] + cb[0], box[3] + cb[1]};
            it.crop_box = cb;
            it.rle = uncropped_rle(bin, ch, cw, cb, H, W);
            items.push_back(std::move(it));
        }
        return items;
    }

    // uncrop_masks (zero padding to the original size) then mask_to_rle_pytorch.
    static amg::Rle uncropped_rle(const std::vector<uint8_t>& m, int64_t ch, int64_t cw, const amg::Box& cb, int64_t H,
                                  int64_t W) {
        if (cb[0] == 0 && cb[1] == 0 && cb[2] == W && cb[3] == H) return amg::mask_to_rle(m.data(), H, W);
        std::vector<uint8_t> full(static_cast<size_t>(H * W), 0);
        for (int64_t y = 0; y < ch; ++y)
            std::copy(m.begin() + y * cw, m.begin() + (y + 1) * cw, full.begin() + (cb[1] + y) * W + cb[0]);
        return amg::mask_to_rle(full.data(), H, W);
    }

    // SamAutomaticMaskGenerator.postprocess_small_regions
    static std::vector<Item> postprocess_small_regions(std::vector<Item> data, int64_t H, int64_t W, double min_area,
                                                       double nms_thresh) {
        if (data.empty()) return data;
        std::vector<std::vector<uint8_t>> masks;
        std::vector<float> scores;
        std::vector<std::array<float, 4>> boxes;
        std::vector<amg::Box> new_boxes;
        for (auto& it : data) {
            auto m = amg::rle_to_mask(it.rle);
            bool changed_h = amg::remove_small_regions(m, H, W, min_area, /*holes=*/true);
            bool changed_i = amg::remove_small_regions(m, H, W, min_area, /*holes=*/false);
            scores.push_back((changed_h || changed_i) ? 0.0f : 1.0f);  // prefer unchanged masks
            amg::Box b = amg::mask_to_box(m.data(), H, W);
            new_boxes.push_back(b);
            boxes.push_back({static_cast<float>(b[0]), static_cast<float>(b[1]), static_cast<float>(b[2]),
                             static_cast<float>(b[3])});
            masks.push_back(std::move(m));
        }
        auto keep = amg::nms(boxes, scores, nms_thresh);
        for (int64_t i : keep)
            if (scores[static_cast<size_t>(i)] == 0.0f) {  // changed: store the new mask and box
                data[static_cast<size_t>(i)].rle = amg::mask_to_rle(masks[static_cast<size_t>(i)].data(), H, W);
                data[static_cast<size_t>(i)].box = new_boxes[static_cast<size_t>(i)];
            }
        return filter(std::move(data), keep);
    }
};

}  // namespace evsam
