// evsam tool: the automatic mask generator's knobs and its records as JSON, shared by
// `evsam everything` (flags --points-per-side ...) and `evsam serve`'s /everything (JSON fields
// points_per_side ...), so both take the same names, defaults and ranges and write the same JSON.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "evsam/amg.hpp"

namespace evsam::tool {

// One knob of AmgConfig: its name in snake_case (the flag is the same with dashes), whether it is
// an integer, its range, and where it goes.
struct AmgKnob {
    const char* name;
    bool integer;
    double lo, hi;                              // for reals
    int64_t ilo, ihi;                           // for integers
    std::function<double&(AmgConfig&)> real;    // for reals
    std::function<int64_t&(AmgConfig&)> whole;  // for integers
    const char* doc;
};

inline const std::vector<AmgKnob>& amg_knobs() {
    using C = AmgConfig;
    auto I = [](const char* n, int64_t lo, int64_t hi, int64_t C::*m, const char* doc) {
        return AmgKnob{n, true, 0, 0, lo, hi, nullptr, [m](C& c) -> int64_t& { return c.*m; }, doc};
    };
    auto R = [](const char* n, double lo, double hi, double C::*m, const char* doc) {
        return AmgKnob{n, false, lo, hi, 0, 0, [m](C& c) -> double& { return c.*m; }, nullptr, doc};
    };
    static const std::vector<AmgKnob> knobs = {
        I("points_per_side", 1, 1024, &C::points_per_side, "the point grid is N x N (default 32)"),
        I("points_per_batch", 1, 65536, &C::points_per_batch, "points per decoder pass (default 64)"),
        R("pred_iou_thresh", -1e9, 1e9, &C::pred_iou_thresh,
          "keep masks whose predicted IoU is above F (default 0.88)"),
        R("stability_score_thresh", -1e9, 1e9, &C::stability_score_thresh,
          "keep masks whose stability score is at least F (default 0.95)"),
        R("stability_score_offset", -1e9, 1e9, &C::stability_score_offset,
          "the logit offset of the stability score (default 1.0)"),
        R("box_nms_thresh", 0, 1, &C::box_nms_thresh, "box NMS IoU threshold within a crop (default 0.7)"),
        I("crop_n_layers", 0, 6, &C::crop_n_layers, "crop layers (default 0: the whole image only)"),
        R("crop_nms_thresh", 0, 1, &C::crop_nms_thresh, "box NMS IoU threshold across crops (default 0.7)"),
        R("crop_overlap_ratio", 0, 1, &C::crop_overlap_ratio, "overlap of neighbouring crops (default 512/1500)"),
        I("crop_n_points_downscale_factor", 1, 1024, &C::crop_n_points_downscale_factor,
          "points per side divided by N^layer in crop layers (default 1)"),
        I("min_mask_region_area", 0, INT64_MAX, &C::min_mask_region_area,
          "fill holes and drop islands smaller than N pixels (default 0: off)"),
    };
    return knobs;
}

// The flag of a knob: points_per_side -> points-per-side.
inline std::string amg_flag_name(const AmgKnob& k) {
    std::string f = k.name;
    for (char& c : f)
        if (c == '_') c = '-';
    return f;
}

// The records as upstream's scripts/amg.py writes them (RLE modes): segmentation, area, bbox,
// predicted_iou, point_coords, stability_score, crop_box.
inline nlohmann::ordered_json amg_records_json(const std::vector<MaskRecord>& recs, bool coco_rle) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& r : recs) {
        nlohmann::ordered_json seg;
        seg["size"] = {r.rle.h, r.rle.w};
        if (coco_rle)
            seg["counts"] = amg::coco_rle_string(r.rle);
        else
            seg["counts"] = r.rle.counts;
        arr.push_back({{"segmentation", seg},
                       {"area", r.area},
                       {"bbox", r.bbox},
                       {"predicted_iou", r.predicted_iou},
                       {"point_coords", {{r.point_coords[0], r.point_coords[1]}}},
                       {"stability_score", r.stability_score},
                       {"crop_box", r.crop_box}});
    }
    return arr;
}

}  // namespace evsam::tool
