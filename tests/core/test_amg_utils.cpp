// segment_anything/utils/amg.py helpers against upstream-made fixtures (tests/data/amg, written by
// validation/make_fixtures.py amg with upstream's own functions, torchvision's NMS, cv2, pycocotools).
#include <gtest/gtest.h>

#include <cmath>
#include <evsam/core/npy.hpp>
#include <evsam/sam/amg_utils.hpp>
#include <algorithm>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_amg_utils {

namespace {

using nlohmann::json;
const std::string kAmg = std::string(EVSAM_TEST_DATA) + "/amg/";

json load(const std::string& name) {
    std::ifstream f(kAmg + name);
    return json::parse(f);
}

TEST(AmgUtils, PointGrids) {
    int n = 0;
    const json d = load("grids.json");
    for (auto& c : d["cases"]) {
        if (c.contains("error")) {  // upstream raises (ZeroDivisionError): so do we, with a clear message
            EXPECT_THROW(evsam::amg::build_all_layer_point_grids(c["n_per_side"], c["n_layers"], c["scale_per_layer"]),
                         evsam::Error);
            continue;
        }
        auto grids = evsam::amg::build_all_layer_point_grids(c["n_per_side"], c["n_layers"], c["scale_per_layer"]);
        ASSERT_EQ(grids.size(), c["layers"].size());
        for (size_t l = 0; l < grids.size(); ++l) {
            const auto& pts = c["layers"][l]["points"];
            ASSERT_EQ(grids[l].size(), pts.size());
            for (size_t i = 0; i < pts.size(); ++i) {
                ASSERT_EQ(grids[l][i][0], pts[i][0].get<double>()) << "layer " << l << " point " << i;
                ASSERT_EQ(grids[l][i][1], pts[i][1].get<double>()) << "layer " << l << " point " << i;
            }
        }
        ++n;
    }
    EXPECT_GE(n, 5);
}

TEST(AmgUtils, CropBoxes) {
    int n = 0;
    const json d = load("crop_boxes.json");
    for (auto& c : d["cases"]) {
        std::vector<evsam::amg::Box> boxes;
        std::vector<int64_t> layers;
        evsam::amg::generate_crop_boxes(c["im_size"][0], c["im_size"][1], c["n_layers"], c["overlap_ratio"], boxes,
                                        layers);
        ASSERT_EQ(boxes.size(), c["crop_boxes"].size()) << c.dump();
        for (size_t i = 0; i < boxes.size(); ++i)
            for (int k = 0; k < 4; ++k)
                ASSERT_EQ(boxes[i][k], c["crop_boxes"][i][k].get<int64_t>()) << c["im_size"] << " box " << i;
        EXPECT_EQ(layers, c["layer_idxs"].get<std::vector<int64_t>>());
        ++n;
    }
    EXPECT_GE(n, 10);
}

TEST(AmgUtils, StabilityScore) {
    json d = load("stability.json");
    auto logits = evsam::npy_load_exact<float>(kAmg + d["logits"]["file"].get<std::string>());
    const int64_t n = logits.size(0), P = logits.numel() / n;
    int cases = 0;
    for (auto& c : d["cases"]) {
        auto s = evsam::amg::calculate_stability_score(logits.data(), n, P, c["mask_threshold"], c["threshold_offset"]);
        for (int64_t i = 0; i < n; ++i) {
            const json& want = c["scores"][static_cast<size_t>(i)];
            if (want.is_null())
                EXPECT_TRUE(std::isnan(s[static_cast<size_t>(i)])) << "mask " << i;
            else
                EXPECT_EQ(s[static_cast<size_t>(i)], want.get<float>()) << "mask " << i << " " << c["threshold_offset"];
        }
        ++cases;
    }
    EXPECT_GE(cases, 2);
}

TEST(AmgUtils, MaskToBox) {
    int n = 0;
    const json d = load("mask_to_box.json");
    for (auto& c : d["cases"]) {
        auto m = evsam::npy_load_exact<uint8_t>(kAmg + c["file"].get<std::string>());
        const int64_t H = m.size(-2), W = m.size(-1), count = H * W > 0 ? m.numel() / (H * W) : 0;
        std::vector<json> flat;  // the expected boxes, flattened over leading dims
        std::function<void(const json&)> walk = [&](const json& x) {
            if (x.is_array() && !x.empty() && x[0].is_array())
                for (auto& e : x) walk(e);
            else if (x.is_array() && x.size() == 4 && !x[0].is_array())
                flat.push_back(x);
        };
        walk(c["boxes"]);
        if (count == 0) {
            EXPECT_TRUE(flat.empty());
            continue;
        }
        ASSERT_EQ(static_cast<int64_t>(flat.size()), count) << c["name"];
        for (int64_t i = 0; i < count; ++i) {
            auto b = evsam::amg::mask_to_box(m.data() + i * H * W, H, W);
            for (int k = 0; k < 4; ++k)
                EXPECT_EQ(b[k], flat[static_cast<size_t>(i)][k].get<int64_t>()) << c["name"] << " " << i;
        }
        ++n;
    }
    EXPECT_GE(n, 4);
}

TEST(AmgUtils, BoxNearCropEdge) {
    int n = 0;
    const json d = load("crop_edge.json");
    for (auto& c : d["cases"]) {
        evsam::amg::Box cb, ob;
        for (int k = 0; k < 4; ++k) cb[k] = c["crop_box"][k], ob[k] = c["orig_box"][k];
        for (size_t i = 0; i < c["boxes"].size(); ++i) {
            evsam::amg::Box b;
            for (int k = 0; k < 4; ++k) b[k] = c["boxes"][i][k];
            EXPECT_EQ(evsam::amg::is_box_near_crop_edge(b, cb, ob), c["near_crop_edge"][i].get<bool>())
                << c["crop_box"] << " box " << i;
        }
        ++n;
    }
    EXPECT_GE(n, 5);
}

TEST(AmgUtils, NmsLikeTorchvision) {
    int n = 0;
    const json d = load("nms.json");
    for (auto& c : d["cases"]) {
        std::vector<std::array<float, 4>> boxes;
        for (auto& b : c["boxes"])
            boxes.push_back({b[0].get<float>(), b[1].get<float>(), b[2].get<float>(), b[3].get<float>()});
        auto keep = evsam::amg::nms(boxes, c["scores"].get<std::vector<float>>(), c["iou_threshold"]);
        if (c.contains("keep_stable")) {
            // > 1000 boxes with tied scores: torch's unstable CPU sort orders ties arbitrarily; the
            // kernel's own (stable) order is keep_stable, and the kept set must be the same
            EXPECT_EQ(keep, c["keep_stable"].get<std::vector<int64_t>>()) << c["name"];
            auto a = keep, b = c["keep"].get<std::vector<int64_t>>();
            std::sort(a.begin(), a.end());
            std::sort(b.begin(), b.end());
            EXPECT_EQ(a, b) << c["name"];
        } else {
            EXPECT_EQ(keep, c["keep"].get<std::vector<int64_t>>()) << c["name"];
        }
        ++n;
    }
    EXPECT_GE(n, 15);
}

TEST(AmgUtils, RleBothFormatsRoundTrip) {
    int n = 0;
    const json d = load("rle.json");
    for (auto& c : d["cases"]) {
        auto m = evsam::npy_load_exact<uint8_t>(kAmg + c["file"].get<std::string>());
        const int64_t H = m.size(0), W = m.size(1);
        auto rle = evsam::amg::mask_to_rle(m.data(), H, W);
        EXPECT_EQ(rle.counts, c["counts"].get<std::vector<uint32_t>>()) << c["name"];
        EXPECT_EQ(evsam::amg::area_from_rle(rle), c["area"].get<int64_t>()) << c["name"];
        auto back = evsam::amg::rle_to_mask(rle);
        EXPECT_TRUE(std::equal(back.begin(), back.end(), m.data())) << c["name"];
        const std::string coco = evsam::amg::coco_rle_string(rle);
        EXPECT_EQ(coco, c["coco_counts"].get<std::string>()) << c["name"];
        auto dec = evsam::amg::coco_rle_from_string(coco, H, W);
        EXPECT_EQ(dec.counts, rle.counts) << c["name"];
        auto b = evsam::amg::mask_to_box(m.data(), H, W);
        std::vector<int64_t> xywh{b[0], b[1], b[2] - b[0], b[3] - b[1]};
        EXPECT_EQ(xywh, c["amg_bbox"].get<std::vector<int64_t>>()) << c["name"];
        ++n;
    }
    EXPECT_GE(n, 10);
    EXPECT_THROW(evsam::amg::coco_rle_from_string("~~~~~~~~~~~~~~~", 2, 2), evsam::Error);
    // The widest counts: 2^32 - 1 takes 7 groups, and so does the difference 0 - (2^32 - 1);
    // an 8th group is refused (it once shifted a signed 64-bit value past its width: fuzz_coco).
    const evsam::amg::Rle wide{1, 1, {UINT32_MAX, 0, UINT32_MAX, 0, 7}};
    const std::string ws = evsam::amg::coco_rle_string(wide);
    EXPECT_EQ(evsam::amg::coco_rle_from_string(ws, 1, 1).counts, wide.counts) << ws;
    EXPECT_THROW(evsam::amg::coco_rle_from_string("04Sddddddd4L", 10, 8), evsam::Error);
    EXPECT_THROW(evsam::amg::coco_rle_from_string("ooooooo0", 1, 1), evsam::Error);
    EXPECT_EQ(evsam::amg::coco_rle_from_string("oooooo3", 1, 1).counts, std::vector<uint32_t>{UINT32_MAX});
    EXPECT_THROW(evsam::amg::rle_to_mask({2, 2, {1, 9}}), evsam::Error);
}

TEST(AmgUtils, SmallRegionRemovalBothConnectivities) {
    json d = load("small_regions.json");
    auto in = evsam::npy_load_exact<uint8_t>(kAmg + d["inputs"]["file"].get<std::string>());
    auto out = evsam::npy_load_exact<uint8_t>(kAmg + d["outputs"]["file"].get<std::string>());
    const int64_t H = in.size(1), W = in.size(2), P = H * W;
    const auto names = d["inputs"]["names"].get<std::vector<std::string>>();
    int n = 0, four = 0;
    for (auto& c : d["cases"]) {
        const size_t idx =
            static_cast<size_t>(std::find(names.begin(), names.end(), c["mask"].get<std::string>()) - names.begin());
        ASSERT_LT(idx, names.size());
        std::vector<uint8_t> m(in.data() + idx * P, in.data() + (idx + 1) * P);
        const bool changed = evsam::amg::remove_small_regions(m, H, W, c["area_thresh"].get<double>(),
                                                              c["mode"] == "holes", c["connectivity"].get<int>());
        EXPECT_EQ(changed, c["changed"].get<bool>()) << c.dump();
        const int64_t o = c["output"];
        EXPECT_TRUE(std::equal(m.begin(), m.end(), out.data() + o * P)) << c.dump();
        ++n;
        four += c["connectivity"] == 4;
    }
    EXPECT_GE(n, 20);
    EXPECT_GE(four, 4);
}

}  // namespace

}  // namespace test_amg_utils
