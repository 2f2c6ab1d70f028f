// The tool on SAM's ViT models: `info` on official-layout checkpoints of vit_b / vit_l / vit_h
// (tests/data/ckpt_vit, whose key sets and shapes are upstream's: tests/data/schema/vit_*.json),
// and `embed` + `compare` on the tiny upstream ViT (tests/data/tiny/tiny_vit) in float and double.
#include <gtest/gtest.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/evsam.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.hpp"

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

}  // namespace
