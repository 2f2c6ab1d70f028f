// `evsam classify`, `segment`, `preprocess --model` and `info` on EfficientViT's classifiers and
// segmenters, against upstream-made fixtures (validation/make_cls_seg_fixtures.py): the tiny models'
// logits in float and double, the segmenters' labels (upstream's bicubic resize + argmax), upstream's
// evaluation preprocessing bit for bit, and one-line errors with no output file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <evsam/backend/tolerance.hpp>
#include <evsam/class_tables.hpp>
#include <evsam/core/image_io.hpp>
#include <evsam/core/npy.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_cls_seg_cli {

namespace {

using evsam_test::is_clean_error;
using evsam_test::last_line;
using evsam_test::run_evsam;
using nlohmann::json;

const std::string kRoot = std::string(EVSAM_TEST_DATA) + "/tiny/cls_seg/";
std::string tmp(const std::string& n) { return ::testing::TempDir() + "evsam_clsseg_" + n; }
bool exists(const std::string& p) { return std::ifstream(p).good(); }
std::string model_args(const std::string& c) {
    return "--weights " + kRoot + c + "/model.pt --config " + kRoot + c + "/config.json";
}
json read_json(const std::string& p) {
    std::ifstream f(p);
    return json::parse(f);
}

// classify on the tiny L classifier's input: logits as upstream's (fp32 in float, fp64 in double),
// and the top-k in the order of upstream's fp64 logits.
TEST(ClassifyCli, TinyLogitsAndTopK) {
    const std::string c = "cls_l", L = tmp("cls_logits.npy"), L64 = tmp("cls_logits64.npy");
    auto r =
        run_evsam("classify " + model_args(c) + " --input " + kRoot + c + "/input.npy --top-k 3 --json --logits " + L);
    ASSERT_EQ(r.code, 0) << r.err;
    auto ref32 = evsam::npy_load_as<double>(kRoot + c + "/logits32.npy");
    auto ref64 = evsam::npy_load_as<double>(kRoot + c + "/logits64.npy");
    auto got = evsam::npy_load_as<double>(L);
    auto cmp = evsam::compare(got, ref32, evsam::kTolEncoderFloat, "classify logits");
    EXPECT_TRUE(cmp.ok) << cmp.message;
    const json j = json::parse(last_line(r.out));
    ASSERT_EQ(j["top_k"].size(), 3u);
    std::vector<int64_t> order(10);
    for (int i = 0; i < 10; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ref64.data()[a] > ref64.data()[b]; });
    double den = 0;
    for (int i = 0; i < 10; ++i) den += std::exp(ref64.data()[i]);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(j["top_k"][i]["index"].get<int64_t>(), order[i]);
        EXPECT_NEAR(j["top_k"][i]["prob"].get<double>(), std::exp(ref64.data()[order[i]]) / den, 1e-6);
        EXPECT_EQ(j["top_k"][i]["name"].get<std::string>(), "class " + std::to_string(order[i]));
    }
    r = run_evsam("classify " + model_args(c) + " --input " + kRoot + c + "/input.npy --dtype double --logits " + L64);
    ASSERT_EQ(r.code, 0) << r.err;
    cmp = evsam::compare(evsam::npy_load_as<double>(L64), ref64, evsam::kTolClsSegDouble, "classify double");
    EXPECT_TRUE(cmp.ok) << cmp.message;
    EXPECT_NE(r.out.find("top 5 of 10"), std::string::npos) << r.out;
}

// segment on each tiny segmenter's input: the raw logits, and the label PNG equal to upstream's
// argmax of its bicubically resized fp64 logits (double: every pixel; float: all but near-ties).
TEST(SegmentCli, TinyLogitsAndLabels) {
    for (const std::string c : {"seg_b_city", "seg_b_ade", "seg_l_city", "seg_l_ade"}) {
        for (const std::string dtype : {"float", "double"}) {
            const std::string out = tmp(c + dtype + ".png"), L = tmp(c + dtype + ".npy");
            auto r = run_evsam("segment " + model_args(c) + " --input " + kRoot + c + "/input.npy --out " + out +
                               " --logits " + L + " --json --dtype " + dtype);
            ASSERT_EQ(r.code, 0) << c << ": " << r.err;
            const bool dbl = dtype == "double";
            auto ref = evsam::npy_load_as<double>(kRoot + c + (dbl ? "/logits64.npy" : "/logits32.npy"));
            auto cmp = evsam::compare(evsam::npy_load_as<double>(L), ref,
                                      dbl ? evsam::kTolClsSegDouble : evsam::kTolEncoderFloat, c + " logits");
            EXPECT_TRUE(cmp.ok) << cmp.message;
            auto want = evsam::npy_load_exact<uint8_t>(kRoot + c + "/labels64.npy");
            const evsam::Image png = evsam::load_image(out);  // gray PNG, loaded as RGB
            ASSERT_EQ(png.height, want.size(0));
            ASSERT_EQ(png.width, want.size(1));
            int64_t differ = 0;
            std::vector<int64_t> count(256, 0);
            for (int64_t i = 0; i < want.numel(); ++i) {
                differ += png.data[static_cast<size_t>(i) * 3] != want.data()[i];
                ++count[want.data()[i]];
            }
            if (dbl) {
                EXPECT_EQ(differ, 0) << c;
            } else {
                EXPECT_LE(differ, want.numel() / 1000) << c;
            }
            const json j = json::parse(last_line(r.out));
            double total = 0;
            for (auto& k : j["classes"]) {
                total += k["fraction"].get<double>();
                if (dbl) {
                    EXPECT_EQ(k["pixels"].get<int64_t>(), count[k["index"].get<size_t>()]) << c;
                }
            }
            EXPECT_NEAR(total, 1.0, 1e-12);
        }
    }
}

// preprocess --model for classifiers and segmenters: upstream's eval transforms, bit for bit (each
// tensor checked by its exact sums and 64 sampled values).
TEST(PreprocessCli, ClassifierAndSegmenterTransforms) {
    const json cases = read_json(kRoot + "preprocess/cases.json")["cases"];
    ASSERT_EQ(cases.size(), 10u);
    for (const auto& c : cases) {
        const std::string out = tmp("pre.npy"), model = c["model"], image = c["image"];
        auto r = run_evsam("preprocess --model " + model + " " + c["flags"].get<std::string>() + " --image " + kRoot +
                           "preprocess/" + image + " --out " + out);
        ASSERT_EQ(r.code, 0) << model << ": " << r.err;
        auto x = evsam::npy_load_exact<float>(out);
        ASSERT_EQ(x.shape(), c["shape"].get<evsam::Shape>()) << model << " " << image;
        long double s = 0, s2 = 0;  // the fixture's sums are exact (math.fsum); these are within 1e-9
        for (int64_t i = 0; i < x.numel(); ++i) {
            s += x.data()[i];
            s2 += static_cast<long double>(x.data()[i]) * x.data()[i];
        }
        EXPECT_NEAR(static_cast<double>(s), c["fsum"].get<double>(), 1e-6) << model << " " << image;
        EXPECT_NEAR(static_cast<double>(s2), c["fsum_sq"].get<double>(), 1e-6) << model << " " << image;
        for (size_t k = 0; k < c["sample_index"].size(); ++k)
            ASSERT_EQ(static_cast<double>(x.data()[c["sample_index"][k].get<int64_t>()]), c["sample"][k].get<double>())
                << model << " " << image << " sample " << k;
        std::remove(out.c_str());
    }
}

// classify --image: upstream's eval transform then the model; the same logits, bit for bit, as
// preprocess --model (any classifier: the transform depends on R and the crop ratio only) + --input.
TEST(ClassifyCli, ImageEqualsPreprocessThenInput) {
    const std::string img = kRoot + "preprocess/portrait_37x53.png", x = tmp("cls_x.npy"), a = tmp("cls_a.npy"),
                      b = tmp("cls_b.npy");
    auto r = run_evsam("classify " + model_args("cls_l") + " --image " + img +
                       " --resolution 64 --crop-ratio 0.9 --logits " + a);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("(crop ratio 0.9)"), std::string::npos) << r.out;
    r = run_evsam("preprocess --model b2 --resolution 64 --crop-ratio 0.9 --image " + img + " --out " + x);
    ASSERT_EQ(r.code, 0) << r.err;
    r = run_evsam("classify " + model_args("cls_l") + " --input " + x + " --logits " + b);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(evsam_test::slurp(a), evsam_test::slurp(b));
}

// segment --image on a model that names its dataset (eval_ade: ADE20K, 150 classes): labels at the
// image's size, and the overlay is upstream's get_canvas: trunc(colour * 0.5 + pixel * 0.5).
TEST(SegmentCli, ImageLabelsAndOverlay) {
    const std::string m = kRoot + "eval/eval_ade/", img = kRoot + "preprocess/landscape_53x37.png";
    const std::string out = tmp("ade.png"), ov = tmp("ade_overlay.png"), L = tmp("ade_logits.npy");
    auto r = run_evsam("segment --weights " + m + "model.pt --config " + m + "config.json --image " + img + " --out " +
                       out + " --overlay " + ov + " --logits " + L + " --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const json j = json::parse(last_line(r.out));
    EXPECT_EQ(j["input_size"], json::array({512, 736}));  // ADE20K: short side 512, long side ceil to 32
    EXPECT_EQ(j["logits_size"], json::array({64, 92}));
    EXPECT_EQ(evsam::npy_load_as<float>(L).shape(), (evsam::Shape{1, 150, 64, 92}));
    const evsam::Image labels = evsam::load_image(out), overlay = evsam::load_image(ov), src = evsam::load_image(img);
    ASSERT_EQ(labels.height, 37);
    ASSERT_EQ(labels.width, 53);
    ASSERT_EQ(overlay.height, 37);
    const auto& colors = evsam::ade20k_colors();
    for (size_t i = 0; i < src.data.size(); ++i) {
        const int k = labels.data[i / 3 * 3];
        ASSERT_LT(k, 150);
        const double v = colors[static_cast<size_t>(k)][i % 3] * 0.5 + src.data[i] * 0.5;
        ASSERT_EQ(overlay.data[i], static_cast<uint8_t>(v)) << "pixel " << i / 3;
    }
}

// info detects the zoo's checkpoints and reports them as their architecture.
TEST(InfoCli, DetectsClassifiersAndSegmenters) {
    const std::string d = std::string(EVSAM_TEST_DATA) + "/ckpt_cls_seg/";
    struct Case {
        const char* file;
        const char* model;
        int64_t params;
    } cases[] = {{"skeleton_b1.pt", "b1", 9102024},
                 {"skeleton_cls-l3.pt", "cls-l3", 246037288},
                 {"skeleton_seg-b0-cityscapes.pt", "seg-b0-cityscapes", 706691},
                 {"skeleton_seg-l2-ade20k.pt", "seg-l2-ade20k", 51462454}};
    for (const auto& c : cases) {
        auto r = run_evsam("info --weights " + d + c.file + " --json");
        ASSERT_EQ(r.code, 0) << r.err;
        const json j = json::parse(last_line(r.out));
        EXPECT_EQ(j["model"], c.model);
        EXPECT_EQ(j["params"].get<int64_t>(), c.params);
    }
    auto r = run_evsam("info --weights " + d + "skeleton_b1.pt --json");
    EXPECT_TRUE(json::parse(last_line(r.out))["wrapped"].get<bool>());
    r = run_evsam("info --model l3-r320 --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const json j = json::parse(last_line(r.out));
    EXPECT_EQ(j["model"], "cls-l3");
    EXPECT_EQ(j["resolution"].get<int64_t>(), 320);
    EXPECT_GT(j["macs"].get<int64_t>(), 0);
}

// Bad input: one line naming the problem, non-zero exit, no output file.
TEST(ClsSegCli, BadInputIsOneLineAndNoOutput) {
    const std::string d = std::string(EVSAM_TEST_DATA) + "/ckpt_cls_seg/", out = tmp("bad.png");
    const std::string img = kRoot + "preprocess/landscape_53x37.png";
    struct Case {
        std::string args, expect;
    } cases[] = {
        {"segment --weights " + d + "skeleton_b1.pt --image " + img + " --out " + out, "use evsam classify"},
        {"classify --weights " + d + "skeleton_seg-b0-cityscapes.pt --image " + img, "use evsam segment"},
        {"classify --weights " + d + "skeleton_b1.pt --model b2 --image " + img, "checkpoint is efficientvit-b1"},
        {"classify --weights " + d + "skeleton_b1.pt --model b1-r320 --image " + img, "b1-r320"},
        {"classify --weights " + d + "skeleton_b1.pt --image " + img + " --input x.npy", "exactly one of"},
        {"segment " + model_args("seg_b_ade") + " --image " + img + " --out " + out, "no dataset"},
        {"segment " + model_args("seg_b_ade") + " --input " + kRoot + "cls_l/input.npy --out " + out,
         "multiples of 32"},
        {"segment " + model_args("seg_b_ade") + " --input " + kRoot + "seg_b_ade/input.npy --out " + out +
             " --overlay o.png",
         "--overlay needs --image"},
        {"embed --weights " + d + "skeleton_seg-l2-ade20k.pt --image " + img + " --out " + out, "use evsam segment"},
        {"classify " + model_args("cls_l") + " --input " + kRoot + "cls_l/input.npy --top-k 11", "--top-k"},
    };
    for (const auto& c : cases) {
        auto r = run_evsam(c.args);
        EXPECT_TRUE(is_clean_error(r)) << c.args;
        EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.args << " -> " << r.err;
        EXPECT_FALSE(exists(out)) << c.args;
    }
}

}  // namespace

}  // namespace test_cls_seg_cli
