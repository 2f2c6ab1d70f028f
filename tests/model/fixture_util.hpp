// Shared by the model tests: reading JSON fixtures, and a trace against upstream's recorded modules.
#pragma once
#include <gtest/gtest.h>

#include <evsam/amg.hpp>
#include <evsam/backend/tolerance.hpp>
#include <evsam/core/error.hpp>
#include <evsam/core/npy.hpp>
#include <evsam/nn/module.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace evsam_test {

inline nlohmann::json read_json(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw evsam::Error("missing fixture " + path);
    return nlohmann::json::parse(f);
}

// Every module of `trace` that dir/act/index.json records, in execution order, against upstream's
// float64 output within `tol`; stops at (and names) the first out of tolerance. Returns the last
// comparison's message; fails the test unless every recorded module was compared.
template <class T>
std::string expect_trace_matches(const evsam::Trace<T>& trace, const std::string& dir, evsam::Tolerance tol) {
    const nlohmann::json index = read_json(dir + "act/index.json");
    int compared = 0;
    std::string last;
    for (auto& [name, rec] : trace.records) {
        if (!index.contains(name)) continue;
        auto ref = evsam::npy_load_as<double>(dir + index[name]["file"].template get<std::string>());
        auto r = evsam::compare(rec, ref, tol, name);
        EXPECT_TRUE(r.ok) << dir << ": first module out of tolerance: " << r.message;
        if (!r.ok) break;
        ++compared;
        last = r.message;
    }
    EXPECT_EQ(compared, static_cast<int>(index.size())) << dir << ": every recorded upstream module is compared";
    return last;
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
