// evsam/coco_mask.hpp against pycocotools (tests/data/eval_sam/masks.json, written by
// validation/make_eval_sam_fixtures.py): frPyObjects' RLE per polygon (compared as pycocotools'
// compressed strings), their merge, the area and the decoded mask, for polygons inside, across and
// outside the image, degenerate ones, an odd count, overlapping parts, random ones, and
// uncompressed RLE; merge with intersect. Then ann_to_mask's refusals, each a one-line Error.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "evsam/coco_mask.hpp"
#include "evsam/core/file_io.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_coco_mask {

namespace {

using nlohmann::json;

json load(const std::string& rel) {
    const auto b = evsam::read_file(std::string(EVSAM_TEST_DATA) + "/" + rel);
    return json::parse(b.begin(), b.end());
}

TEST(CocoMask, FrPyObjectsMergeDecodeAsPycocotools) {
    const json j = load("eval_sam/masks.json");
    ASSERT_GE(j["frPyObjects_merge_decode"].size(), 15u);
    for (const auto& c : j["frPyObjects_merge_decode"]) {
        const std::string name = c["name"];
        const int64_t h = c["h"], w = c["w"];
        const auto parts = evsam::coco::fr_py_objects(c["segmentation"], h, w);
        ASSERT_EQ(parts.size(), c["parts"].size()) << name;
        for (size_t i = 0; i < parts.size(); ++i)
            EXPECT_EQ(evsam::amg::coco_rle_string(parts[i]), c["parts"][i].get<std::string>()) << name << " part " << i;
        const auto merged = evsam::coco::rle_merge(parts);
        EXPECT_EQ(evsam::amg::coco_rle_string(merged), c["merged"].get<std::string>()) << name;
        EXPECT_EQ(evsam::amg::area_from_rle(merged), c["area"].get<int64_t>()) << name;
        const auto mask = evsam::coco::ann_to_mask(c["segmentation"], h, w);
        std::string rows;
        for (int64_t y = 0; y < h; ++y) {
            std::string r;
            for (int64_t x = 0; x < w; ++x) r += mask[static_cast<size_t>(y * w + x)] ? '1' : '0';
            EXPECT_EQ(r, c["mask_rows"][static_cast<size_t>(y)].get<std::string>()) << name << " row " << y;
        }
    }
}

TEST(CocoMask, MergeIntersectAsPycocotools) {
    const json c = load("eval_sam/masks.json")["merge_intersect"];
    const int64_t h = c["h"], w = c["w"];
    const auto a = evsam::amg::coco_rle_from_string(c["a"], h, w), b = evsam::amg::coco_rle_from_string(c["b"], h, w);
    EXPECT_EQ(evsam::amg::coco_rle_string(evsam::coco::rle_merge({a, b}, true)), c["intersection"].get<std::string>());
}

TEST(CocoMask, CompressedRleIsTakenAsIs) {  // as COCO.annToRLE does (the evaluation's ann_to_mask raises)
    const json c = load("eval_sam/masks.json")["frPyObjects_merge_decode"].back();  // "uncompressed"
    ASSERT_EQ(c["name"], "uncompressed");
    const json compressed = {{"counts", c["merged"]}, {"size", {c["h"], c["w"]}}};
    EXPECT_EQ(evsam::coco::ann_to_mask(compressed, c["h"], c["w"]),
              evsam::coco::ann_to_mask(c["segmentation"], c["h"], c["w"]));
}

TEST(CocoMask, BadSegmentationsAreOneLineErrors) {
    auto fails = [](const json& seg, int64_t h, int64_t w, const std::string& want) {
        try {
            evsam::coco::ann_to_mask(seg, h, w);
            ADD_FAILURE() << seg.dump() << " did not fail";
        } catch (const evsam::Error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find(want), std::string::npos) << what;
            EXPECT_EQ(what.find('\n'), std::string::npos) << what;
        }
    };
    fails(json::array(), 4, 4, "list of polygons");
    fails(json::array({json::array({1, 2, 3})}), 4, 4, "list of polygons");
    fails(json::array({json::array({1, 2, 3, 4, 5, 6}), json::array()}), 4, 4, "at least one point");
    fails(json::array({json::array({1, 2, "x", 4, 5, 6})}), 4, 4, "non-number");
    fails({{"counts", {3, 4}}, {"size", {4, 4}}}, 4, 4, "do not cover");
    fails({{"counts", {3, 40}}, {"size", {4, 4}}}, 4, 4, "exceed");
    fails({{"counts", {16}}, {"size", {4, 4}}}, 5, 4, "not the image's");
    fails({{"counts", {16}}}, 4, 4, "'counts' and 'size'");
    fails({{"counts", {16}}, {"size", {1e30, 4}}}, 4, 4, "[height, width]");
    fails({{"counts", "!!"}, {"size", {4, 4}}}, 4, 4, "malformed COCO RLE");
    // pycocotools overflows int or runs out of memory on these; evsam refuses them
    fails(json::array({json::array({0, 0, 1e30, 0, 5, 5})}), 4, 4, "out of range");
    fails(json::array({json::array({-4e6, -4e6, 4e6, -4e6, 4e6, 4e6})}), 4, 4, "too long");
}

}  // namespace

}  // namespace test_coco_mask
