// `evsam info` on upstream-written checkpoints (tests/data/ckpt, see MANIFEST.json).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "cli_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_info {

namespace {

using evsam_test::is_clean_error;
using evsam_test::run_evsam;
using nlohmann::json;

const std::string kCkpt = std::string(EVSAM_TEST_DATA) + "/ckpt/";

// Exact parameter counts of upstream's models (sum of p.numel() over model.parameters()).
const std::map<std::string, int64_t> kParams = {
    {"l0", 34792784}, {"l1", 47650128}, {"l2", 61328592}, {"xl0", 116957904}, {"xl1", 203346128}};

json info_json(const std::string& file, const std::string& extra = "") {
    auto r = run_evsam("info --weights " + kCkpt + file + " --json" + extra);
    EXPECT_TRUE(r.exited && r.code == 0) << r.err;
    return json::parse(evsam_test::last_line(r.out));
}

TEST(CliInfo, AllVariantsReportModelParamsResolutionDtype) {
    for (auto& [v, params] : kParams) {
        for (std::string suffix : {"", "_fp16"}) {
            SCOPED_TRACE(v + suffix);
            json j = info_json("skeleton_" + v + suffix + ".pt");
            EXPECT_EQ(j["model"], v);
            EXPECT_EQ(j["params"].get<int64_t>(), params);
            EXPECT_EQ(j["resolution"].get<int64_t>(), v[0] == 'x' ? 1024 : 512);
            EXPECT_EQ(j["dtype"], suffix.empty() ? "float32" : "float16");
            EXPECT_EQ(j["wrapped"], false);
        }
    }
    for (std::string v : {"l0", "xl0"}) {
        json j = info_json("skeleton_" + v + "_wrapped.pt");
        EXPECT_EQ(j["model"], v);
        EXPECT_EQ(j["params"].get<int64_t>(), kParams.at(v));
        EXPECT_EQ(j["wrapped"], true);
    }
    json j = info_json("skeleton_l0_bf16.pt");
    EXPECT_EQ(j["dtype"], "bfloat16");
    EXPECT_EQ(j["params"].get<int64_t>(), kParams.at("l0"));
}

TEST(CliInfo, ModelFlagOverridesAndIsChecked) {
    json j = info_json("skeleton_l1.pt", " --model l1");
    EXPECT_EQ(j["model"], "l1");
    auto r = run_evsam("info --weights " + kCkpt + "skeleton_l1.pt --model xl0");
    EXPECT_TRUE(is_clean_error(r));
    EXPECT_NE(r.err.find("l1"), std::string::npos) << r.err;
    r = run_evsam("info --weights " + kCkpt + "skeleton_l1.pt --model l7");
    EXPECT_TRUE(is_clean_error(r));
    EXPECT_NE(r.err.find("l7"), std::string::npos) << r.err;
}

TEST(CliInfo, HumanReadableOutput) {
    auto r = run_evsam("info --weights " + kCkpt + "skeleton_xl1.pt");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("efficientvit-sam-xl1"), std::string::npos);
    EXPECT_NE(r.out.find("203346128"), std::string::npos);
    EXPECT_NE(r.out.find("1024x1024"), std::string::npos);
}

// Every bad checkpoint in the manifest: one line on stderr naming the problem, exit 1, no signal.
TEST(CliInfo, BadCheckpointsGiveOneLineErrors) {
    std::ifstream f(kCkpt + "MANIFEST.json");
    json m = json::parse(f);
    int n = 0;
    for (auto& [file, info] : m["files"].items()) {
        if (info["expect"] != "error") continue;
        SCOPED_TRACE(file);
        ++n;
        auto r = run_evsam("info --weights " + kCkpt + file);
        EXPECT_TRUE(is_clean_error(r));
        EXPECT_EQ(r.code, 1);
        if (info.contains("error_mentions")) {
            for (auto& s : info["error_mentions"])
                EXPECT_NE(r.err.find(s.get<std::string>()), std::string::npos) << r.err;
        }
    }
    EXPECT_GE(n, 13);
    EXPECT_TRUE(is_clean_error(run_evsam("info --weights " + kCkpt + "does_not_exist.pt")));
    EXPECT_TRUE(is_clean_error(run_evsam("info --weights " + kCkpt)));  // a directory
}

TEST(CliArgs, FlagErrorsAreOneLine) {
    for (std::string a : {"", "frobnicate", "info", "info --weights", "info --json", "info --weights x --weights y",
                          "info --weights x --bogus 1", "info positional"}) {
        SCOPED_TRACE(a);
        auto r = run_evsam(a);
        EXPECT_TRUE(r.exited);
        EXPECT_NE(r.code, 0);
    }
    auto r = run_evsam("info --weights");
    EXPECT_TRUE(is_clean_error(r));
    EXPECT_NE(r.err.find("--weights"), std::string::npos);
    r = run_evsam("--help");
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("preprocess"), std::string::npos);
}

}  // namespace

namespace {

// `evsam info --model NAME` without weights: the module tree. Upstream states the encoder
// MACs as l0 35G, l1 49G, l2 69G, xl0 185G, xl1 322G (rounded); ours must round to the same.
TEST(CliInfo, ModuleTreeAndMacsWithoutWeights) {
    const std::map<std::string, double> stated = {{"l0", 35}, {"l1", 49}, {"l2", 69}, {"xl0", 185}, {"xl1", 322}};
    for (auto& [v, g] : stated) {
        SCOPED_TRACE(v);
        auto r = run_evsam("info --model " + v + " --json");
        ASSERT_EQ(r.code, 0) << r.err;
        json j = json::parse(r.out);
        EXPECT_EQ(j["params"].get<int64_t>(), kParams.at(v));
        EXPECT_EQ(std::lround(j["encoder_macs"].get<double>() / 1e9), std::lround(g));
        const auto& mods = j["modules"];
        ASSERT_GT(mods.size(), 50u);
        EXPECT_EQ(mods[0]["name"], "image_encoder");
        EXPECT_EQ(mods[0]["output"], json::array({1, 256, 64, 64}));
        int64_t top_params = 0;  // top-level rows partition the parameters
        for (auto& m : mods)
            if (m["depth"] == 0) top_params += m["params"].get<int64_t>();
        EXPECT_EQ(top_params, kParams.at(v));
    }
    auto r = run_evsam("info --model xl1");
    ASSERT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("context_module"), std::string::npos);
    EXPECT_NE(r.out.find("LiteMLA"), std::string::npos);
    EXPECT_TRUE(evsam_test::is_clean_error(run_evsam("info")));
}

}  // namespace

}  // namespace test_info
