// The automatic mask generator end to end against upstream's EfficientViTSamAutomaticMaskGenerator
// on the tiny model (tests/data/tiny/tiny_l/amg, made by validation/make_fixtures.py amg):
//   a: 4x4 points in uneven batches of 5, stability filter, uncompressed RLE
//   b: 2x2 points, one crop layer, small-region cleanup, COCO RLE
//   c: 2x2 points, one crop layer, predicted-IoU filter, NMS off (1.0), cleanup, binary masks
// Records must come in upstream's order with the same fields; a mask pixel may differ only
// where upstream's logit is within 1e-4 of the threshold (listed by the fixture).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <evsam/amg.hpp>
#include <evsam/backend/tolerance.hpp>
#include <evsam/efficientvit/config_json.hpp>
#include <evsam/evsam.hpp>
#include <fstream>

#include "fixture_util.hpp"
#include <set>

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_amg_tiny {

namespace {

using evsam_test::read_json;
using nlohmann::json;

void run_setting(const std::string& name) {
    const std::string root = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/", dir = root + "amg/";
    const json fx = read_json(dir + name + ".json");
    evsam::EfficientViTSam<float> model(evsam::sam_config_from_json(read_json(root + "config.json")));
    evsam::load_state_dict(model, evsam::Checkpoint::open(root + "model.pt"), "tiny_l");
    const json& s = fx["settings"];
    const evsam::AmgConfig cfg = evsam_test::amg_config_from_json(s);
    evsam::AutomaticMaskGenerator<float> gen(model, cfg);
    const evsam::Image img = evsam::load_image(dir + fx["image"]["file"].get<std::string>());
    auto recs = gen.generate(img);

    const json& want = fx["records"];
    ASSERT_EQ(recs.size(), want.size()) << name << ": number of records";
    evsam::Tensor<uint8_t> stacked;
    if (s["output_mode"] == "binary_mask")
        stacked = evsam::npy_load_exact<uint8_t>(dir + want[0]["segmentation"]["file"].get<std::string>());
    for (size_t i = 0; i < recs.size(); ++i) {
        SCOPED_TRACE(name + " record " + std::to_string(i));
        const auto& r = recs[i];
        const json& w = want[i];
        // the mask, decoded from whichever form upstream wrote
        std::vector<uint8_t> ref;
        const int64_t H = img.height, W = img.width;
        if (s["output_mode"] == "uncompressed_rle") {
            ref = evsam::amg::rle_to_mask({H, W, w["segmentation"]["counts"].get<std::vector<uint32_t>>()});
        } else if (s["output_mode"] == "coco_rle") {
            EXPECT_EQ(evsam::amg::coco_rle_string(r.rle), w["segmentation"]["counts"].get<std::string>());
            ref = evsam::amg::rle_to_mask(evsam::amg::coco_rle_from_string(w["segmentation"]["counts"], H, W));
        } else {
            const int64_t k = w["segmentation"]["index"];
            ref.assign(stacked.data() + k * H * W, stacked.data() + (k + 1) * H * W);
        }
        auto ours = evsam::amg::rle_to_mask(r.rle);
        std::set<int64_t> near;  // column-major indices where upstream's logit is within 1e-4 of 0
        for (auto& p : fx["record_sources"][i]["near_threshold_pixels"]) near.insert(p.get<int64_t>());
        int64_t bad = 0;
        for (int64_t y = 0; y < H; ++y)
            for (int64_t x = 0; x < W; ++x)
                if (ours[static_cast<size_t>(y * W + x)] != ref[static_cast<size_t>(y * W + x)] &&
                    !near.count(x * H + y))
                    ++bad;
        EXPECT_EQ(bad, 0) << "mask pixels differ away from the threshold";
        if (near.empty()) {
            EXPECT_EQ(r.area, w["area"].get<int64_t>());
            EXPECT_EQ(std::vector<int64_t>(r.bbox.begin(), r.bbox.end()), w["bbox"].get<std::vector<int64_t>>());
        }
        EXPECT_NEAR(r.predicted_iou, w["predicted_iou"].get<double>(), evsam::kTolIoU.atol);
        const double ws = w["stability_score"].is_null() ? NAN : w["stability_score"].get<double>();
        if (std::isnan(ws))
            EXPECT_TRUE(std::isnan(r.stability_score));
        else
            EXPECT_NEAR(r.stability_score, ws, evsam::kTolStabilityScore.atol);
        EXPECT_EQ(r.point_coords[0], w["point_coords"][0][0].get<double>());
        EXPECT_EQ(r.point_coords[1], w["point_coords"][0][1].get<double>());
        for (int k = 0; k < 4; ++k) EXPECT_EQ(static_cast<double>(r.crop_box[k]), w["crop_box"][k].get<double>());
    }
}

TEST(AmgTiny, UnevenBatchesStabilityUncompressedRle) { run_setting("settings_a"); }
TEST(AmgTiny, CropLayerSmallRegionsCocoRle) { run_setting("settings_b"); }
TEST(AmgTiny, CropLayerIouFilterNoNmsBinaryMasks) { run_setting("settings_c"); }

}  // namespace

}  // namespace test_amg_tiny
