// SAM's ImageEncoderViT against upstream run in float64, module by module, on the tiny fixture
// (tests/data/tiny/tiny_vit, validation/make_fixtures.py tiny_vit): a 64x64 token grid like the
// real models', windowed blocks (14, padded to 70) and global ones, relative positions.
//   double: every module within kTolViTDouble (1e-9 of its largest |value|);
//   float:  every module within kTolEncoderFloat, and the embedding's relative L2 against fp64 at
//           most kMaxViTFloatErrorRatio times upstream fp32's own.
// And the model loads through the registry's machinery: the tiny checkpoint's schema is exactly the
// configuration's, and Sam<ImageEncoderViT> encodes through SamBase::encode.
#include <gtest/gtest.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/evsam.hpp>
#include <evsam/sam/config_json.hpp>

#include "fixture_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_vit_tiny {

namespace {

using evsam_test::read_json;

const std::string kDir = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_vit/";

template <class T>
evsam::Tensor<T> check_modules(evsam::Tolerance tol) {
    const auto cfg = evsam::sam_vit_config_from_json(read_json(kDir + "config.json"));
    auto model = std::make_unique<evsam::SamViT<T>>(cfg);
    auto ckpt = evsam::Checkpoint::open(kDir + "model.pt");
    evsam::load_state_dict(*model, ckpt, "tiny_vit");
    auto x = evsam::npy_load_as<T>(kDir + "input.npy");
    evsam::Trace<T> trace;
    const evsam::SamBase<T>& base = *model;
    auto emb = base.encode(x, &trace);
    const std::string last = evsam_test::expect_trace_matches(trace, kDir, tol);
    std::cout << "[ tiny_vit " << (std::is_same_v<T, float> ? "float" : "double") << " ] " << last << "\n";
    return emb;
}

TEST(ViTTiny, DoubleMatchesUpstreamFp64ModuleByModule) { check_modules<double>(evsam::kTolViTDouble); }

TEST(ViTTiny, FloatWithinUpstreamFp32sOwnError) {
    const auto emb = check_modules<float>(evsam::kTolEncoderFloat);
    const auto ref = evsam::npy_load_as<double>(kDir + "embedding64.npy");
    const auto torch32 = evsam::npy_load_as<double>(kDir + "embedding32.npy");
    const double e_ours = evsam::compare(emb, ref, evsam::kTolEncoderFloat).rel_l2;
    const double e_torch = evsam::compare(torch32, ref, evsam::kTolEncoderFloat).rel_l2;
    std::cout << "[ tiny_vit ] embedding rel-L2 vs fp64: evsam float " << e_ours << ", PyTorch fp32 " << e_torch
              << " (ratio " << e_ours / e_torch << ")\n";
    EXPECT_LE(e_ours, evsam::kMaxViTFloatErrorRatio * e_torch);
}

// The tiny checkpoint matches its configuration's schema exactly (every key, shape, kind), as the
// loader checks official checkpoints against vit_b / vit_l / vit_h.
TEST(ViTTiny, CheckpointMatchesTheConfigurationsSchema) {
    const evsam::AnySamConfig cfg = evsam::sam_vit_config_from_json(read_json(kDir + "config.json"));
    auto ckpt = evsam::Checkpoint::open(kDir + "model.pt");
    EXPECT_EQ(evsam::compare_state_dict(evsam::sam_schema(cfg), ckpt).count(), 0u);
    EXPECT_EQ(evsam::count_parameters(evsam::sam_schema(cfg)),
              read_json(kDir + "config.json")["params"].get<int64_t>());
    EXPECT_EQ(evsam::config_transform(cfg).normalize, evsam::ImageTransform::Normalize::pixel_range);
    EXPECT_EQ(evsam::config_transform(cfg).prompt_frame, 256);
}

}  // namespace

}  // namespace test_vit_tiny
