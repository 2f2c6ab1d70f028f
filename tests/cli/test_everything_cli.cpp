// `evsam everything`: output modes and files, checked against upstream's records for the tiny model.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/evsam.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_everything_cli {

namespace {

using evsam_test::is_clean_error;
using evsam_test::run_evsam;
using evsam_test::slurp;
using nlohmann::json;

const std::string kTiny = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";

bool exists(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0;
}
std::string tmp(const std::string& n) { return ::testing::TempDir() + "evsam_amg_" + n; }

// settings_a of tests/data/tiny/tiny_l/amg, as flags
std::string base_a() {
    return "everything --weights " + kTiny + "model.pt --config " + kTiny + "config.json --image " + kTiny +
           "amg/image_a.png --points-per-side 4 --points-per-batch 5 --pred-iou-thresh 0 --stability-score-thresh 0.5 "
           "--stability-score-offset 0.005 --box-nms-thresh 0.7";
}

TEST(CliEverything, JsonRecordsMatchUpstream) {
    std::ifstream f(kTiny + "amg/settings_a.json");
    const json want = json::parse(f)["records"];
    auto r =
        run_evsam(base_a() + " --output-mode uncompressed_rle --out " + tmp("a.json") + " --overlay " + tmp("a.png"));
    ASSERT_EQ(r.code, 0) << r.err;
    const json got = json::parse(slurp(tmp("a.json")));
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        for (const char* k :
             {"segmentation", "area", "bbox", "predicted_iou", "point_coords", "stability_score", "crop_box"})
            EXPECT_TRUE(got[i].contains(k)) << k;
        EXPECT_EQ(got[i]["segmentation"]["size"], want[i]["segmentation"]["size"]);
        EXPECT_EQ(got[i]["point_coords"], want[i]["point_coords"]);
        EXPECT_NEAR(got[i]["predicted_iou"].get<double>(), want[i]["predicted_iou"].get<double>(), evsam::kTolIoU.atol);
    }
    auto ov = evsam::load_image(tmp("a.png"));
    EXPECT_EQ(ov.width, 64);
    EXPECT_EQ(ov.height, 48);
    // the same run in COCO RLE: strings that decode to the same masks
    r = run_evsam(base_a() + " --output-mode coco_rle --out " + tmp("a_coco.json"));
    ASSERT_EQ(r.code, 0) << r.err;
    const json coco = json::parse(slurp(tmp("a_coco.json")));
    ASSERT_EQ(coco.size(), got.size());
    for (size_t i = 0; i < got.size(); ++i) {
        auto dec = evsam::amg::coco_rle_from_string(coco[i]["segmentation"]["counts"], 48, 64);
        EXPECT_EQ(dec.counts, got[i]["segmentation"]["counts"].get<std::vector<uint32_t>>());
    }
}

TEST(CliEverything, BinaryMaskFolderWithMetadata) {
    const std::string out = tmp("folder");
    std::filesystem::remove_all(out);
    auto r = run_evsam(base_a() + " --out " + out);  // binary_mask is the default
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string csv = slurp(out + "/metadata.csv");
    EXPECT_EQ(csv.rfind("id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,"
                        "stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h\n0,",
                        0),
              0u);
    const int64_t rows = std::count(csv.begin(), csv.end(), '\n');
    EXPECT_EQ(rows, 10);  // header + 10 records, no trailing newline (as upstream writes it)
    for (int i = 0; i < 10; ++i) {
        auto m = evsam::load_image(out + "/" + std::to_string(i) + ".png");
        EXPECT_EQ(m.width, 64);
        for (uint8_t v : m.data) ASSERT_TRUE(v == 0 || v == 255);
    }
    r = run_evsam(base_a() + " --out " + out);  // an existing folder is refused
    EXPECT_TRUE(is_clean_error(r));
}

TEST(CliEverything, BadFlagsAreOneLineErrors) {
    const std::string out = tmp("bad.json");
    std::remove(out.c_str());
    for (std::string extra : {"--points-per-side 0", "--points-per-batch -3", "--output-mode rle", "--box-nms-thresh 2",
                              "--crop-n-layers x", "--min-mask-region-area -1", "--crop-overlap-ratio nan",
                              "--overlay /nonexistent_dir/o.png"}) {
        SCOPED_TRACE(extra);
        const std::string mode =
            extra.find("--output-mode") == std::string::npos ? " --output-mode uncompressed_rle " : " ";
        auto r = run_evsam(base_a() + mode + extra + " --out " + out);
        EXPECT_TRUE(is_clean_error(r));
        EXPECT_FALSE(exists(out));
    }
}

}  // namespace

}  // namespace test_everything_cli
