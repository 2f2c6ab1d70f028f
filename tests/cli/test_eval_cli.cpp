// `evsam eval-cls` / `eval-seg` against upstream's evaluation scripts on tiny datasets in upstream's
// layouts (tests/data/tiny/cls_seg/eval, made by validation/make_cls_seg_fixtures.py eval with
// upstream's ImageFolder / CityscapesDataset / ADE20KDataset, accuracy() and SegIOU): the same top-1
// and top-5, the same per-class intersections and unions and mIoU; sharded runs merged give the
// numbers of one run; bad input is one line and no output file.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_eval_cli {

namespace {

using evsam_test::is_clean_error;
using evsam_test::last_line;
using evsam_test::run_evsam;
using nlohmann::json;

const std::string kEval = std::string(EVSAM_TEST_DATA) + "/tiny/cls_seg/eval/";
const std::string kCls = std::string(EVSAM_TEST_DATA) + "/tiny/cls_seg/cls_l/";
std::string tmp(const std::string& n) { return ::testing::TempDir() + "evsam_eval_" + n; }
json expected() {
    std::ifstream f(kEval + "expected.json");
    return json::parse(f);
}
std::string cls_args() {
    return "eval-cls --weights " + kCls + "model.pt --config " + kCls + "config.json --data " + kEval +
           "imagenet --resolution 64 --crop-ratio 0.9 --json";
}
std::string seg_args(const std::string& ds) {
    const std::string m = kEval + (ds == "cityscapes" ? "eval_city/" : "eval_ade/");
    return "eval-seg --weights " + m + "model.pt --config " + m + "config.json --dataset " + ds + " --data " + kEval +
           ds + " --crop-size 32 --json";
}

TEST(EvalCli, ClassifierMatchesUpstream) {
    const json e = expected()["imagenet"];
    auto r = run_evsam(cls_args());
    ASSERT_EQ(r.code, 0) << r.err;
    const json j = json::parse(last_line(r.out));
    EXPECT_EQ(j["images"], e["images"]);
    EXPECT_NEAR(j["top1"].get<double>(), e["top1"].get<double>(), 1e-9);
    EXPECT_NEAR(j["top5"].get<double>(), e["top5"].get<double>(), 1e-9);
    EXPECT_NE(r.err.find("24/24"), std::string::npos) << "progress bar: " << r.err;
    // three shards merged: the same counts
    std::string merge;
    for (int i = 0; i < 3; ++i) {
        const std::string out = tmp("cls" + std::to_string(i) + ".json");
        auto s = run_evsam(cls_args() + " --shard " + std::to_string(i) + "/3 --out " + out);
        ASSERT_EQ(s.code, 0) << s.err;
        merge += " --merge " + out;
    }
    auto m = run_evsam("eval-cls --json" + merge);
    ASSERT_EQ(m.code, 0) << m.err;
    const json k = json::parse(last_line(m.out));
    EXPECT_EQ(k["images"], j["images"]);
    EXPECT_EQ(k["correct1"], j["correct1"]);
    EXPECT_EQ(k["correct5"], j["correct5"]);
    EXPECT_EQ(k["top1"], j["top1"]);
}

TEST(EvalCli, SegmentersMatchUpstream) {
    for (const std::string ds : {"cityscapes", "ade20k"}) {
        const json e = expected()[ds];
        auto r = run_evsam(seg_args(ds));
        ASSERT_EQ(r.code, 0) << ds << ": " << r.err;
        const json j = json::parse(last_line(r.out));
        EXPECT_EQ(j["images"], e["images"]) << ds;
        EXPECT_EQ(j["intersection"], e["intersection"]) << ds;
        EXPECT_EQ(j["union"], e["union"]) << ds;
        if (e["miou"].is_null()) {
            EXPECT_TRUE(j["miou"].is_null()) << ds;
        } else {
            EXPECT_NEAR(j["miou"].get<double>(), e["miou"].get<double>(), 1e-9) << ds;
        }
        std::string merge;
        for (int i = 0; i < 2; ++i) {
            const std::string out = tmp(ds + std::to_string(i) + ".json");
            auto s = run_evsam(seg_args(ds) + " --shard " + std::to_string(i) + "/2 --out " + out);
            ASSERT_EQ(s.code, 0) << s.err;
            merge += " --merge " + out;
        }
        auto m = run_evsam("eval-seg --json" + merge);
        ASSERT_EQ(m.code, 0) << m.err;
        const json k = json::parse(last_line(m.out));
        EXPECT_EQ(k["intersection"], j["intersection"]) << ds;
        EXPECT_EQ(k["union"], j["union"]) << ds;
        EXPECT_EQ(k["miou"], j["miou"]) << ds;
        EXPECT_EQ(k["images"], j["images"]) << ds;
    }
    // the text report prints upstream's line
    auto r = run_evsam(seg_args("cityscapes").substr(0, seg_args("cityscapes").size() - 7));
    ASSERT_EQ(r.code, 0) << r.err;
    char want[64];
    std::snprintf(want, sizeof want, "mIoU = %.3f", expected()["cityscapes"]["miou"].get<double>());
    EXPECT_NE(r.out.find(want), std::string::npos) << r.out;
}

TEST(EvalCli, BadInputIsOneLineAndNoOutput) {
    const std::string out = tmp("bad.json");
    const std::string s0 = tmp("cls0.json");  // written by ClassifierMatchesUpstream when run first; made here too
    ASSERT_EQ(run_evsam(cls_args() + " --shard 0/3 --out " + s0).code, 0);
    struct Case {
        std::string args, expect;
    } cases[] = {
        {cls_args() + " --shard 3/3 --out " + out, "--shard"},
        {cls_args() + " --shard x --out " + out, "--shard"},
        {"eval-cls --merge " + s0 + " --out " + out, "missing"},
        {"eval-cls --merge " + s0 + " --merge " + s0 + " --out " + out, "twice"},
        {"eval-seg --merge " + s0 + " --out " + out, "not eval-seg"},
        {"eval-cls --weights " + kCls + "model.pt --config " + kCls + "config.json --data " + kEval + "nowhere --out " +
             out,
         "not a directory"},
        {seg_args("ade20k").replace(seg_args("ade20k").find("--dataset ade20k"), 16, "--dataset cityscapes") +
             " --out " + out,
         "150 classes"},
        {"eval-cls --data " + kEval + "imagenet --out " + out, "--weights"},
    };
    for (const auto& c : cases) {
        auto r = run_evsam(c.args);
        EXPECT_TRUE(is_clean_error(r)) << c.args;
        EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.args << " -> " << r.err;
        EXPECT_FALSE(std::ifstream(out).good()) << c.args;
    }
}

}  // namespace

}  // namespace test_eval_cli
