// `evsam preprocess` against upstream-made fixtures (tests/data/preprocess, written by
// validation/make_preprocess_fixtures.py from upstream's own EfficientViTSam.transform).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/evsam.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_preprocess_cli {

namespace {

using evsam_test::is_clean_error;
using evsam_test::run_evsam;

const std::string kPre = std::string(EVSAM_TEST_DATA) + "/preprocess/";

bool exists(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0;
}

// One whole upstream tensor, stored as .npy: the tool's output must equal it (<= 1e-6; in fact 0).
TEST(CliPreprocess, MatchesUpstreamTensorEndToEnd) {
    const std::string out = ::testing::TempDir() + "evsam_pre_small.npy";
    auto r = run_evsam("preprocess --image " + kPre + "in_small_45x61_r512.png --model l0 --out " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    auto ours = evsam::npy_load_exact<float>(out);
    auto ref = evsam::npy_load_exact<float>(kPre + "full_small_45x61_r512.npy");
    ASSERT_EQ(ours.shape(), (evsam::Shape{1, 3, 512, 512}));
    ASSERT_EQ(ref.shape(), ours.shape());
    double max_abs = 0;
    for (int64_t i = 0; i < ref.numel(); ++i) max_abs = std::max(max_abs, double(std::abs(ours[i] - ref[i])));
    EXPECT_LE(max_abs, evsam::kTolPreprocess.atol);
    std::remove(out.c_str());
}

// Every pipeline case (downscale, upscale, odd, portrait, landscape, thin, 1x1, no resize), through
// the tool with the model of that resolution: upstream's tensor is norm_table[resized uint8] in the
// top-left newH x newW block and 0 elsewhere (make_preprocess_fixtures.py asserts that identity).
TEST(CliPreprocess, AllPipelineCasesMatchUpstream) {
    std::ifstream f(kPre + "cases.json");
    auto cases = nlohmann::json::parse(f);
    auto table = evsam::npy_load_exact<float>(kPre + "norm_table.npy");
    ASSERT_EQ(table.shape(), (evsam::Shape{3, 256}));
    int n = 0;
    for (auto& c : cases["pipeline"]) {
        if (!c.contains("input_png")) continue;
        const std::string name = c["name"];
        SCOPED_TRACE(name);
        const int64_t R = c["R"], h = c["resized_h"], w = c["resized_w"];
        const std::string out = ::testing::TempDir() + "evsam_pre_" + name + ".npy";
        auto r = run_evsam("preprocess --image " + kPre + c["input_png"].get<std::string>() + " --model " +
                           (R == 512 ? "l1" : "xl1") + " --out " + out);
        ASSERT_EQ(r.code, 0) << r.err;
        auto x = evsam::npy_load_exact<float>(out);
        ASSERT_EQ(x.shape(), (evsam::Shape{1, 3, R, R}));
        evsam::Image rs = evsam::load_image(kPre + c["resized_png"].get<std::string>());
        ASSERT_EQ(rs.height, h);
        ASSERT_EQ(rs.width, w);
        int64_t bad = 0;
        for (int64_t ch = 0; ch < 3; ++ch)
            for (int64_t y = 0; y < R; ++y)
                for (int64_t xx = 0; xx < R; ++xx) {
                    float want = (y < h && xx < w) ? table[ch * 256 + rs.at(y, xx, ch)] : 0.0f;
                    bad += x.at(0, ch, y, xx) != want;
                }
        EXPECT_EQ(bad, 0);
        std::remove(out.c_str());
        ++n;
    }
    EXPECT_GE(n, 10);
}

TEST(CliPreprocess, BadInputsAreOneLineErrorsAndWriteNothing) {
    const std::string out = ::testing::TempDir() + "evsam_pre_bad.npy";
    std::remove(out.c_str());
    const std::string ckpt = std::string(EVSAM_TEST_DATA) + "/ckpt/";
    for (std::string args : {"--image " + kPre + "missing.png --model l0 --out " + out,
                             "--image " + ckpt + "notzip.pt --model l0 --out " + out,  // not an image
                             "--image " + ckpt + "empty.pt --model l0 --out " + out,   // empty file
                             "--image " + kPre + "in_small_45x61_r512.png --model l5 --out " + out,
                             "--image " + kPre + "in_small_45x61_r512.png --model l0",
                             "--image " + kPre + "in_small_45x61_r512.png --model l0 --out /nonexistent_dir/x.npy"}) {
        SCOPED_TRACE(args);
        auto r = run_evsam("preprocess " + args);
        EXPECT_TRUE(is_clean_error(r));
        EXPECT_FALSE(exists(out));
        EXPECT_FALSE(exists("/nonexistent_dir/x.npy"));
    }
}

}  // namespace

}  // namespace test_preprocess_cli
