// The tool on SAM's ViT models: `info` on official-layout checkpoints of vit_b / vit_l / vit_h
// (tests/data/ckpt_vit, whose key sets and shapes are upstream's: tests/data/schema/vit_*.json),
// and `embed` + `compare` on the tiny upstream ViT (tests/data/tiny/tiny_vit) in float and double;
// Expedit-SAM's hourglass flags against upstream's HourglassImageEncoderViT (tiny_vit/hourglass).
#include <gtest/gtest.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/evsam.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_vit_cli {

namespace {

using evsam_test::is_clean_error;
using evsam_test::run_evsam;
using nlohmann::json;

const std::string kData = std::string(EVSAM_TEST_DATA) + "/";

json read_json_file(const std::string& path) {
    std::ifstream f(path);
    return json::parse(f);
}

json last_json_line(const std::string& out) { return json::parse(evsam_test::last_line(out)); }

// The variant is detected from the key shapes; params as upstream's module tree counts them.
TEST(CliViT, InfoDetectsEachVariantOfAnOfficialLayoutCheckpoint) {
    for (std::string v : {"vit_b", "vit_l", "vit_h"}) {
        SCOPED_TRACE(v);
        auto r = run_evsam("info --weights " + kData + "ckpt_vit/skeleton_" + v + ".pt --json");
        ASSERT_EQ(r.code, 0) << r.err;
        const json j = last_json_line(r.out), up = read_json_file(kData + "schema/" + v + ".json");
        EXPECT_EQ(j["model"], v);
        EXPECT_EQ(j["params"].get<int64_t>(), up["params"].get<int64_t>());
        EXPECT_EQ(j["resolution"].get<int64_t>(), 1024);
        EXPECT_EQ(j["prompt_frame"].get<int64_t>(), 1024);
        EXPECT_EQ(j["dtype"], "float32");
    }
    auto r = run_evsam("info --weights " + kData + "ckpt_vit/skeleton_vit_b.pt --model vit_l");
    EXPECT_TRUE(is_clean_error(r)) << r.err;
    EXPECT_NE(r.err.find("checkpoint is sam-vit-b, not --model vit_l"), std::string::npos) << r.err;
}

// The module tree: one row per block, the global blocks' attention over all 4096 tokens, the
// windowed ones' over 25 windows of 196; rows' parameters add up to the model's encoder.
TEST(CliViT, InfoModelTreeHasEveryBlockAndTheNeck) {
    auto r = run_evsam("info --model vit_b --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const json j = last_json_line(r.out);
    int blocks = 0;
    int64_t attn_macs_global = 0, attn_macs_window = 0;
    for (const auto& m : j["modules"]) {
        const std::string n = m["name"];
        if (m["depth"] == 1 && n.rfind("image_encoder.blocks.", 0) == 0) ++blocks;
        if (n == "image_encoder.blocks.2.attn") attn_macs_global = m["macs"];  // global (index 2)
        if (n == "image_encoder.blocks.0.attn") attn_macs_window = m["macs"];
    }
    EXPECT_EQ(blocks, 12);
    // qkv + proj (4 * 768^2 per token) + q k^T and attn v (2 * keys * 768 per token)
    EXPECT_EQ(attn_macs_global, 4096LL * 4 * 768 * 768 + 2LL * 4096 * 4096 * 768);
    EXPECT_EQ(attn_macs_window, 25LL * 196 * 4 * 768 * 768 + 25LL * 2 * 196 * 196 * 768);
    EXPECT_EQ(j["modules"][0]["name"], "image_encoder");
    EXPECT_GT(j["encoder_macs"].get<int64_t>(), 0);
}

// embed on the tiny ViT, its trace checked module by module against upstream in float64.
TEST(CliViT, TinyEmbedMatchesUpstreamFp64ModuleByModule) {
    const std::string d = kData + "tiny/tiny_vit/";
    for (std::string dtype : {"float", "double"}) {
        SCOPED_TRACE(dtype);
        const std::string tmp = ::testing::TempDir() + "evsam_vit_" + dtype;
        auto r = run_evsam("embed --weights " + d + "model.pt --config " + d + "config.json --input " + d +
                           "input.npy --out " + tmp + ".npy --dtype " + dtype + " --trace-dir " + tmp + "_trace");
        ASSERT_EQ(r.code, 0) << r.err;
        r = run_evsam("compare --reference " + d + "act --candidate " + tmp + "_trace --tolerance " +
                      (dtype == "float" ? "encoder-float" : "vit-double"));
        EXPECT_EQ(r.code, 0) << r.out << r.err;
        EXPECT_NE(r.out.find(" 0 out of tolerance"), std::string::npos) << r.out;
        auto e = evsam::npy_load_as<double>(tmp + ".npy");
        auto ref = evsam::npy_load_as<double>(d + "embedding64.npy");
        auto c = evsam::compare(e, ref, dtype == "float" ? evsam::kTolEncoderFloat : evsam::kTolViTDouble, "embedding");
        EXPECT_TRUE(c.ok) << c.message;
    }
}

// Expedit-SAM's hourglass through the flags: embed at both fixture cases (upstream's
// HourglassImageEncoderViT in float64, tests/data/tiny/tiny_vit/hourglass), float and double.
TEST(CliViT, HourglassFlagsMatchUpstreamExpedit) {
    const std::string d = kData + "tiny/tiny_vit/";
    const std::string base =
        "embed --weights " + d + "model.pt --config " + d + "config.json --input " + d + "input.npy";
    const std::pair<std::string, std::string> cases[] = {
        {"loc1_k100", "--hourglass-location 1"},  // the other knobs: upstream's defaults
        {"loc2_k81",
         "--hourglass-location 2 --hourglass-clusters 81 --hourglass-iters 3 --hourglass-temperature 0.5 "
         "--hourglass-window 3 --hourglass-k 10"}};
    for (const auto& [name, flags] : cases)
        for (std::string dtype : {"float", "double"}) {
            SCOPED_TRACE(name + " " + dtype);
            const std::string out = ::testing::TempDir() + "evsam_hourglass_" + name + "_" + dtype + ".npy";
            auto r = run_evsam(base + " --out " + out + " --dtype " + dtype + " " + flags);
            ASSERT_EQ(r.code, 0) << r.err;
            const auto e = evsam::npy_load_as<double>(out);
            const auto ref = evsam::npy_load_as<double>(d + "hourglass/" + name + "/embedding64.npy");
            const auto torch32 = evsam::npy_load_as<double>(d + "hourglass/" + name + "/embedding32.npy");
            const auto c = evsam::compare(e, ref, evsam::kTolViTDouble, "embedding");
            if (dtype == "double")
                EXPECT_TRUE(c.ok) << c.message;
            else
                EXPECT_LE(c.rel_l2, evsam::kMaxHourglassFloatErrorRatio *
                                        evsam::compare(torch32, ref, evsam::kTolViTDouble).rel_l2);
        }
}

TEST(CliViT, BadHourglassFlagsAreOneLineErrors) {
    const std::string d = kData + "tiny/tiny_vit/";
    const std::string out = ::testing::TempDir() + "evsam_hourglass_bad.npy";
    const std::string base =
        "embed --weights " + d + "model.pt --config " + d + "config.json --input " + d + "input.npy --out " + out + " ";
    const std::pair<std::string, std::string> cases[] = {
        {"--hourglass-clusters 81", "--hourglass-clusters needs --hourglass-location"},
        {"--hourglass-location 4", "--hourglass-location 4: the encoder has 4 blocks (0..3)"},
        {"--hourglass-location 1 --hourglass-clusters 50", "--hourglass-clusters 50: not a positive perfect square"},
        {"--hourglass-location 1 --hourglass-window 4", "--hourglass-window 4: must be a positive odd number"},
        {"--hourglass-location 1 --hourglass-k 101", "--hourglass-k 101: must be 1..100"},
        {"--hourglass-location 1 --hourglass-temperature 0", "--hourglass-temperature"},
    };
    for (const auto& [flags, msg] : cases) {
        auto r = run_evsam(base + flags);
        EXPECT_TRUE(is_clean_error(r)) << flags << ": " << r.err;
        EXPECT_NE(r.err.find(msg), std::string::npos) << r.err;
        EXPECT_FALSE(std::ifstream(out).good()) << "no output file on an error";
    }
    const std::string l = kData + "tiny/tiny_l/";
    auto r = run_evsam("embed --weights " + l + "model.pt --config " + l + "config.json --input " + l +
                       "input.npy --out " + out + " --hourglass-location 1");
    EXPECT_TRUE(is_clean_error(r)) << r.err;
    EXPECT_NE(r.err.find("apply to SAM's ViT models"), std::string::npos) << r.err;
}

// bench reports the hourglass it ran, and predict / everything take the flags (the Predictor and
// the generator need nothing of the encoder but encode()).
TEST(CliViT, HourglassOnBenchPredictAndEverything) {
    const std::string d = kData + "tiny/tiny_vit/";
    const std::string w = "--weights " + d + "model.pt --config " + d + "config.json ";
    auto r = run_evsam("bench " + w + "--repeat 1 --json --hourglass-location 2 --hourglass-clusters 81");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("hourglass   location 2 clusters 81 iters 5 temperature 0.01 window 5 k 20"),
              std::string::npos)
        << r.out;
    const json j = last_json_line(r.out);
    EXPECT_EQ(j["hourglass"]["location"], 2);
    EXPECT_EQ(j["hourglass"]["clusters"], 81);
    const std::string img = d + "predictor/image_landscape.png";
    const std::string masks = ::testing::TempDir() + "evsam_hourglass_masks.npy";
    r = run_evsam("predict " + w + "--image " + img + " --point 40,30 --out-masks " + masks +
                  " --hourglass-location 1");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto m = evsam::npy_load_as<double>(masks);
    EXPECT_EQ(m.dim(), 3);
    EXPECT_EQ(m.size(0), 3);
    const std::string outdir = ::testing::TempDir() + "evsam_hourglass_everything.json";
    r = run_evsam("everything " + w + "--image " + img + " --points-per-side 4 --output-mode uncompressed_rle --out " +
                  outdir + " --hourglass-location 1");
    EXPECT_EQ(r.code, 0) << r.err;
}

}  // namespace

}  // namespace test_vit_cli
