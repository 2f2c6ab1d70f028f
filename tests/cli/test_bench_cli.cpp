// `evsam bench` (issue 6): its flags and its --json line, on the tiny upstream fixture. Only the
// report's shape is checked: timings are measured by bench/, never asserted in tests.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_bench_cli {

namespace {

using evsam_test::is_clean_error;
using evsam_test::run_evsam;

const std::string kTinyL = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";
const std::string kModel = "--weights " + kTinyL + "model.pt --config " + kTinyL + "config.json";

TEST(CliBench, JsonLineCarriesEveryMeasurement) {
    auto r = run_evsam("bench " + kModel + " --threads 1 --repeat 2 --amg --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string last = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
    auto j = nlohmann::json::parse(last);
    EXPECT_EQ(j["model"], "tiny_l");
    EXPECT_EQ(j["threads"], 1);
    EXPECT_EQ(j["repeat"], 2);
    EXPECT_EQ(j["image"], nlohmann::json::array({640, 480}));  // the built-in test card
    for (const char* k : {"encoder_s", "decoder_s", "amg_s", "peak_rss_mb"}) {
        ASSERT_TRUE(j.contains(k)) << k;
        EXPECT_GT(j[k].get<double>(), 0.0) << k;
    }
    EXPECT_GE(j["amg_masks"].get<int64_t>(), 0);
    for (const char* k : {"encoder_s ", "decoder_s ", "amg_s ", "peak_rss_mb "})
        EXPECT_NE(r.out.find(k), std::string::npos) << k;  // the human-readable lines too
}

TEST(CliBench, WithoutAmgThereIsNoAmgTime) {
    auto r = run_evsam("bench " + kModel + " --image " + std::string(EVSAM_TEST_DATA) +
                       "/../../examples/data/chelsea.png --repeat 1 --json");
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1));
    EXPECT_FALSE(j.contains("amg_s"));
    EXPECT_EQ(j["image"], nlohmann::json::array({451, 300}));
}

// --profile: every encoder module's own time, in the JSON line and as text; only modules of the
// encoder, the encoder itself last, no negative time; not on the GPU.
TEST(CliBench, ProfileListsTheEncodersModules) {
    auto r = run_evsam("bench " + kModel + " --threads 1 --repeat 2 --profile --json");
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1));
    ASSERT_TRUE(j.contains("profile"));
    const auto& p = j["profile"];
    ASSERT_GE(p.size(), 20u);
    for (const auto& m : p) {
        EXPECT_EQ(m["module"].get<std::string>().rfind("image_encoder", 0), 0u) << m["module"];
        EXPECT_GE(m["s"].get<double>(), 0.0) << m["module"];
        EXPECT_NE(r.out.find("  " + m["module"].get<std::string>() + "\n"), std::string::npos) << m["module"];
    }
    EXPECT_EQ(p.back()["module"], "image_encoder");
    EXPECT_NE(r.out.find("profile "), std::string::npos);
    auto plain = run_evsam("bench " + kModel + " --repeat 1 --json");  // no profile unless asked
    ASSERT_EQ(plain.code, 0) << plain.err;
    EXPECT_FALSE(
        nlohmann::json::parse(plain.out.substr(plain.out.rfind('\n', plain.out.size() - 2) + 1)).contains("profile"));
    EXPECT_TRUE(is_clean_error(run_evsam("bench " + kModel + " --backend cuda --profile")));
}

TEST(CliBench, BadFlagsAreOneLineErrors) {
    EXPECT_TRUE(is_clean_error(run_evsam("bench " + kModel + " --repeat 0")));
    EXPECT_TRUE(is_clean_error(run_evsam("bench " + kModel + " --threads x")));
    EXPECT_TRUE(is_clean_error(run_evsam("bench " + kModel + " --image /nonexistent.png")));
    EXPECT_TRUE(is_clean_error(run_evsam("bench --weights /nonexistent.pt")));
    EXPECT_TRUE(is_clean_error(run_evsam("bench " + kModel + " --backend gpu")));
}

}  // namespace

}  // namespace test_bench_cli
