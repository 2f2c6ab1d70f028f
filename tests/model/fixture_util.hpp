// Shared by the model tests: reading JSON fixtures.
#pragma once
#include <evsam/amg.hpp>
#include <evsam/core/error.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace evsam_test {

inline nlohmann::json read_json(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw evsam::Error("missing fixture " + path);
    return nlohmann::json::parse(f);
}

// The generator's settings as validation/make_fixtures.py amg writes them (upstream's knob names).
inline evsam::AmgConfig amg_config_from_json(const nlohmann::json& s) {
    evsam::AmgConfig cfg;
    cfg.points_per_side = s["points_per_side"];
    cfg.points_per_batch = s["points_per_batch"];
    cfg.pred_iou_thresh = s["pred_iou_thresh"];
    cfg.stability_score_thresh = s["stability_score_thresh"];
    cfg.stability_score_offset = s["stability_score_offset"];
    cfg.box_nms_thresh = s["box_nms_thresh"];
    cfg.crop_n_layers = s["crop_n_layers"];
    cfg.crop_nms_thresh = s["crop_nms_thresh"];
    cfg.crop_overlap_ratio = s["crop_overlap_ratio"];
    cfg.crop_n_points_downscale_factor = s["crop_n_points_downscale_factor"];
    cfg.min_mask_region_area = s["min_mask_region_area"];
    return cfg;
}

}  // namespace evsam_test
