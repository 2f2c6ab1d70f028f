// `evsam eval-sam` against upstream's evaluation (eval_efficientvit_sam_model.py, sam_eval_utils.py)
// on the tiny COCO and LVIS datasets of tests/data/eval_sam (validation/make_eval_sam_fixtures.py,
// the committed tiny_l model): in double against upstream in float64, every annotation's IoU within
// kTolEvalIoUDouble and every click the same, the mIoU likewise; in float against upstream in float64
// within kTolEvalIoUFloat beside PyTorch fp32's own spread; box_from_detector's masks as the same RLE
// strings; shards merged give the unsharded run's file byte for byte; bad input is one line.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.hpp"
#include "evsam/backend/tolerance.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_eval_sam_cli {

namespace {

using evsam_test::is_clean_error;
using evsam_test::last_line;
using evsam_test::run_evsam;
using evsam_test::slurp;
using nlohmann::json;

const std::string kData = std::string(EVSAM_TEST_DATA) + "/eval_sam/";
const std::string kModel = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";
std::string tmp(const std::string& n) { return ::testing::TempDir() + "evsam_eval_sam_" + n; }

const json& expected() {
    static const json e = [] {
        std::ifstream f(kData + "expected.json");
        return json::parse(f);
    }();
    return e;
}
const json& find_case(const std::string& dataset, const std::string& prompt, int num_click = 1) {
    for (const auto& c : expected()["cases"])
        if (c["dataset"] == dataset && c["prompt"] == prompt &&
            (prompt == "box_from_detector" || c["num_click"] == num_click))
            return c;
    throw std::runtime_error("no case " + dataset + " " + prompt);
}
std::string args(const std::string& dataset, const std::string& prompt) {
    return "eval-sam --weights " + kModel + "model.pt --config " + kModel + "config.json --dataset " + dataset +
           " --image-root " + kData + (dataset == "coco" ? "images" : "") + " --annotations " + kData + dataset +
           ".json --prompt " + prompt + " --threads 2";
}
json read_json(const std::string& p) { return json::parse(slurp(p)); }

// evsam's records against upstream's: the same annotations in the same order, the same clicks, each
// IoU within tol; returns the largest |IoU difference|.
double compare_records(const json& got, const json& want, double tol, bool clicks_must_match) {
    EXPECT_EQ(got.size(), want.size());
    double worst = 0;
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
        const json &g = got[i], &w = want[i];
        EXPECT_EQ(g["id"], w["id"]) << i;
        EXPECT_EQ(g["image_id"], w["image_id"]) << i;
        EXPECT_EQ(g["image_index"], w["image_index"]) << i;
        EXPECT_EQ(g["area"].get<double>(), w["area"].get<double>()) << i;
        if (w.contains("clicks") && clicks_must_match) {
            EXPECT_EQ(g["clicks"], w["clicks"]) << "annotation " << w["id"];
            EXPECT_EQ(g["click"], json({w["clicks"][0][0], w["clicks"][0][1]}));
        }
        const double d = std::abs(g["iou"].get<double>() - w["iou"].get<double>());
        EXPECT_LE(d, tol) << "annotation " << w["id"] << ": " << g["iou"] << " vs " << w["iou"];
        worst = std::max(worst, d);
    }
    return worst;
}

void expect_metric(const std::string& json_line, const json& want, double tol) {
    const json got = json::parse(json_line);
    ASSERT_EQ(got.size(), 4u) << json_line;
    for (const char* k : {"all", "large", "medium", "small"})
        EXPECT_NEAR(got[k].get<double>(), want[k].get<double>(), tol) << k;
}

struct EvalRun {
    std::string dataset, prompt;
    int num_click;
};
const EvalRun kRuns[] = {
    {"coco", "box", 1}, {"coco", "point", 1}, {"coco", "point", 3}, {"lvis", "box", 1}, {"lvis", "point", 2}};

// One run of eval-sam on a fixture case: its records (--out) and its --json line.
std::pair<json, std::string> run_case(const EvalRun& run, const std::string& dtype) {
    const std::string out = tmp(dtype + ".json");
    auto r = run_evsam(args(run.dataset, run.prompt) +
                       (run.prompt == "point" ? " --num-click " + std::to_string(run.num_click) : "") + " --dtype " +
                       dtype + " --json --out " + out);
    EXPECT_EQ(r.code, 0) << r.err;
    json records = r.code == 0 ? read_json(out) : json::array();
    std::remove(out.c_str());
    return {records, last_line(r.out)};
}

TEST(EvalSamCli, DoubleMatchesUpstreamFloat64) {
    for (const EvalRun& run : kRuns) {
        SCOPED_TRACE(run.dataset + " " + run.prompt + " " + std::to_string(run.num_click));
        const json& c = find_case(run.dataset, run.prompt, run.num_click);
        const auto [records, line] = run_case(run, "double");
        compare_records(records, c["records_fp64"], evsam::kTolEvalIoUDouble.atol, true);
        expect_metric(line, c["metric_fp64"], evsam::kTolEvalIoUDouble.atol);
    }
}

TEST(EvalSamCli, FloatWithinTheSpreadOfPyTorchFp32) {
    for (const EvalRun& run : kRuns) {
        SCOPED_TRACE(run.dataset + " " + run.prompt + " " + std::to_string(run.num_click));
        const json& c = find_case(run.dataset, run.prompt, run.num_click);
        const auto [records, line] = run_case(run, "float");
        const double ours = compare_records(records, c["records_fp64"], evsam::kTolEvalIoUFloat.atol, false);
        const double torch32 =
            compare_records(c["records_fp32"], c["records_fp64"], evsam::kTolEvalIoUFloat.atol, false);
        std::printf("  %s %s x%d: max |IoU - fp64| evsam float %.3g, PyTorch fp32 %.3g (percent)\n",
                    run.dataset.c_str(), run.prompt.c_str(), run.num_click, ours, torch32);
        expect_metric(line, c["metric_fp64"], evsam::kTolEvalIoUFloat.atol);
    }
}

TEST(EvalSamCli, TextSummaryAsUpstreamPrintsIt) {
    auto r = run_evsam(args("coco", "box") + " --dtype double");
    ASSERT_EQ(r.code, 0) << r.err;
    const json& m = find_case("coco", "box")["metric_fp64"];
    char want[160];
    std::snprintf(want, sizeof want, "all=%.3f, large=%.3f, medium=%.3f, small=%.3f", m["all"].get<double>(),
                  m["large"].get<double>(), m["medium"].get<double>(), m["small"].get<double>());
    EXPECT_EQ(last_line(r.out), want);
}

TEST(EvalSamCli, BoxFromDetectorGivesUpstreamsMasks) {
    for (const char* ds : {"coco", "lvis"}) {
        const json& c = find_case(ds, "box_from_detector");
        for (const char* dtype : {"double", "float"}) {
            SCOPED_TRACE(std::string(ds) + " " + dtype);
            const std::string out = tmp("dets.json");
            auto r = run_evsam(args(ds, "box_from_detector") + " --source-json " + kData + "detections.json --dtype " +
                               dtype + " --out " + out);
            ASSERT_EQ(r.code, 0) << r.err;
            const json got = read_json(out);
            const json& want = c["results_fp64"];
            ASSERT_EQ(got.size(), want.size());
            for (size_t i = 0; i < want.size(); ++i) {
                EXPECT_EQ(got[i]["image_id"], want[i]["image_id"]);
                EXPECT_EQ(got[i]["bbox"], want[i]["bbox"]);
                EXPECT_EQ(got[i]["score"], want[i]["score"]);
                EXPECT_EQ(got[i]["segmentation"], want[i]["segmentation"]) << "detection " << i;
            }
            std::remove(out.c_str());
        }
    }
}

TEST(EvalSamCli, ShardsMergedAreTheUnshardedRun) {
    for (const char* prompt : {"point", "box_from_detector"}) {
        SCOPED_TRACE(prompt);
        const std::string base =
            args("lvis", prompt) +
            (std::string(prompt) == "point" ? " --num-click 2" : " --source-json " + kData + "detections.json");
        const std::string whole = tmp("whole.json"), s0 = tmp("s0.json"), s1 = tmp("s1.json"),
                          merged = tmp("merged.json");
        auto r = run_evsam(base + " --json --out " + whole);
        ASSERT_EQ(r.code, 0) << r.err;
        for (int i = 0; i < 2; ++i) {
            auto s = run_evsam(base + " --shard " + std::to_string(i) + "/2 --out " + (i ? s1 : s0));
            ASSERT_EQ(s.code, 0) << s.err;
        }
        EXPECT_NE(slurp(s0), slurp(whole));
        auto m = run_evsam("eval-sam --merge " + s1 + " --merge " + s0 + " --json --out " + merged);  // any order
        ASSERT_EQ(m.code, 0) << m.err;
        EXPECT_EQ(slurp(merged), slurp(whole));
        if (std::string(prompt) == "point") {
            EXPECT_EQ(last_line(m.out), last_line(r.out));
        }
        auto twice = run_evsam("eval-sam --merge " + s0 + " --merge " + s0 + " --json");
        EXPECT_TRUE(is_clean_error(twice));
        EXPECT_NE(twice.err.find("is also in"), std::string::npos) << twice.err;
        for (const auto& f : {whole, s0, s1, merged}) std::remove(f.c_str());
    }
}

TEST(EvalSamCli, MissingAndBadImagesAreReportedAndCounted) {
    // lvis.json lists image 104, which has no file; a copy of the folder gains a broken image, and a
    // copy of the annotations loses the first annotation's bbox and breaks the second's polygon
    const std::string root = tmp("root");
    std::system(("rm -rf " + root + " && mkdir -p " + root + "/images && cp " + kData + "images/*.png " + root +
                 "/images/ && printf 'not a png' > " + root + "/images/000000000102.png")
                    .c_str());
    json ann = read_json(kData + "lvis.json");
    const json dropped = {ann["annotations"][0]["id"], ann["annotations"][1]["id"]};
    ann["annotations"][0].erase("bbox");
    ann["annotations"][1]["segmentation"] = json::array({json::array({1, 2, "x", 4, 5, 6})});
    std::ofstream(root + "/lvis.json") << ann.dump();
    auto r =
        run_evsam("eval-sam --weights " + kModel + "model.pt --config " + kModel + "config.json --dataset lvis " +
                  "--image-root " + root + " --annotations " + root + "/lvis.json --prompt box --dtype double --json");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("000000000104.png"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("000000000102.png"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("2 bad images, 2 bad annotations"), std::string::npos) << r.err;
    // what is left is image 101's other annotations, as upstream would score them alone
    json want101 = json::array();
    for (const auto& rec : find_case("lvis", "box")["records_fp64"])
        if (rec["image_id"] == 101 && rec["id"] != dropped[0] && rec["id"] != dropped[1]) want101.push_back(rec);
    ASSERT_GE(want101.size(), 5u);
    double sum = 0;
    for (const auto& rec : want101) sum += rec["iou"].get<double>();
    EXPECT_NEAR(json::parse(last_line(r.out))["all"].get<double>(), sum / want101.size(),
                evsam::kTolEvalIoUDouble.atol);
    std::system(("rm -rf " + root).c_str());
}

TEST(EvalSamCli, BadInputIsOneLine) {
    const std::string out = tmp("never.json");
    const std::string bad[] = {
        args("coco", "box") + " --num-click 2",
        args("coco", "point") + " --source-json " + kData + "detections.json",
        args("coco", "box_from_detector") + " --out " + out,                                // no --source-json
        args("coco", "box_from_detector") + " --source-json " + kData + "detections.json",  // no --out
        args("coco", "box") + " --shard 2/2",
        args("coco", "wrong"),
        "eval-sam --weights " + kModel + "model.pt --config " + kModel + "config.json --dataset coco --image-root " +
            kData + "nowhere --annotations " + kData + "coco.json --prompt box",
        "eval-sam --weights " + kModel + "model.pt --config " + kModel + "config.json --dataset coco --image-root " +
            kData + "images --annotations " + kData + "masks.json --prompt box --out " + out,  // no annotations list
        "eval-sam --merge " + kData + "coco.json",
        "eval-sam --dataset coco",
    };
    for (const auto& a : bad) {
        auto r = run_evsam(a);
        EXPECT_TRUE(is_clean_error(r)) << a;
        EXPECT_FALSE(std::ifstream(out).good()) << a;
    }
}

}  // namespace

}  // namespace test_eval_sam_cli
