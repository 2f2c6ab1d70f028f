// Expedit-SAM's hourglass (HourglassImageEncoderViT: TokenClusteringBlock, the blocks after it on
// the clustered grid, TokenReconstructionBlock) against upstream, on the committed tiny_vit model
// (tests/data/tiny/tiny_vit/hourglass/<case>, validation/make_fixtures.py hourglass), clustered at
// two locations:
//   loc1_k100: before global block 1, upstream's default knobs (its 50x50 grid's rel-pos tables
//              interpolated, windowed block 2 at window 10);
//   loc2_k81:  before windowed block 2, window 9, every other knob changed, nearly hard assignments.
// double: every recorded module within kTolViTDouble of upstream fp64 (1e-9 of its largest |value|);
// float:  the embedding's relative L2 against fp64 at most kMaxHourglassFloatErrorRatio times
//         upstream fp32's own (this path is ill-conditioned in fp32: see validation/README.md).
// And the knobs reach the model through the configuration and through set_hourglass.
#include <gtest/gtest.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/evsam.hpp>
#include <evsam/sam/config_json.hpp>

#include "fixture_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_hourglass_tiny {

namespace {

using evsam_test::read_json;

const std::string kVit = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_vit/";
const char* const kCases[] = {"loc1_k100", "loc2_k81"};

std::string case_dir(const std::string& c) { return kVit + "hourglass/" + c + "/"; }

template <class T>
evsam::Tensor<T> run_case(const std::string& c, evsam::Tolerance tol, bool check_modules) {
    const std::string d = case_dir(c);
    const auto cfg = evsam::sam_vit_config_from_json(read_json(d + "config.json"));
    EXPECT_TRUE(cfg.image_encoder.hourglass.on());
    auto model = std::make_unique<evsam::SamViT<T>>(cfg);
    auto ckpt = evsam::Checkpoint::open(kVit + "model.pt");
    evsam::load_state_dict(*model, ckpt, "tiny_vit");
    auto x = evsam::npy_load_as<T>(kVit + "input.npy");
    evsam::Trace<T> trace;
    auto emb = model->encode(x, &trace);
    if (!check_modules) return emb;
    const std::string last = evsam_test::expect_trace_matches(trace, d, tol);
    std::cout << "[ hourglass " << c << " " << (std::is_same_v<T, float> ? "float" : "double") << " ] " << last << "\n";
    return emb;
}

TEST(HourglassTiny, DoubleMatchesUpstreamFp64ModuleByModule) {
    for (const char* c : kCases) run_case<double>(c, evsam::kTolViTDouble, true);
}

TEST(HourglassTiny, FloatWithinUpstreamFp32sOwnError) {
    for (const char* c : kCases) {
        const auto emb = run_case<float>(c, evsam::kTolEncoderFloat, false);
        const auto ref = evsam::npy_load_as<double>(case_dir(c) + "embedding64.npy");
        const auto torch32 = evsam::npy_load_as<double>(case_dir(c) + "embedding32.npy");
        const double e_ours = evsam::compare(emb, ref, evsam::kTolEncoderFloat).rel_l2;
        const double e_torch = evsam::compare(torch32, ref, evsam::kTolEncoderFloat).rel_l2;
        std::cout << "[ hourglass " << c << " ] embedding rel-L2 vs fp64: evsam float " << e_ours << ", PyTorch fp32 "
                  << e_torch << " (ratio " << e_ours / e_torch << ")\n";
        EXPECT_LE(e_ours, evsam::kMaxHourglassFloatErrorRatio * e_torch) << c;
    }
}

// set_hourglass (upstream's load_hourglass_args) on a model built without the hourglass gives the
// configured model's embedding, and switching it off again gives plain ImageEncoderViT's.
TEST(HourglassTiny, SetHourglassMatchesTheConfiguredModel) {
    const auto hg_cfg = evsam::sam_vit_config_from_json(read_json(case_dir("loc1_k100") + "config.json"));
    auto plain_cfg = hg_cfg;
    plain_cfg.image_encoder.hourglass = {};
    auto ckpt = evsam::Checkpoint::open(kVit + "model.pt");
    evsam::SamViT<double> model(plain_cfg), configured(hg_cfg);
    evsam::load_state_dict(model, ckpt, "tiny_vit");
    evsam::load_state_dict(configured, ckpt, "tiny_vit");
    const auto x = evsam::npy_load_as<double>(kVit + "input.npy");
    const auto plain = model.encode(x);
    model.image_encoder.set_hourglass(hg_cfg.image_encoder.hourglass);
    const auto a = model.encode(x), b = configured.encode(x);
    ASSERT_EQ(a.shape(), b.shape());
    for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a[i], b[i]) << i;
    model.image_encoder.set_hourglass({});
    const auto off = model.encode(x);
    for (int64_t i = 0; i < off.numel(); ++i) ASSERT_EQ(off[i], plain[i]) << i;
    EXPECT_GT(evsam::compare(a, plain, evsam::kTolEncoderFloat).max_abs, 1e-3) << "the hourglass changes the embedding";
}

TEST(HourglassTiny, BadKnobsAreRefusedWithTheirName) {
    evsam::SamViT<float> model(evsam::sam_vit_config_from_json(read_json(kVit + "config.json")));
    auto bad = [&](auto edit, const std::string& what) {
        evsam::HourglassConfig h;
        h.clustering_location = 1;
        edit(h);
        try {
            model.image_encoder.set_hourglass(h);
            ADD_FAILURE() << "accepted: " << what;
        } catch (const evsam::Error& e) {
            EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
        }
    };
    bad([](auto& h) { h.clustering_location = 4; }, "hourglass_clustering_location 4: the encoder has 4 blocks");
    bad([](auto& h) { h.num_cluster = 99; }, "hourglass_num_cluster 99: not a positive perfect square");
    bad([](auto& h) { h.cluster_iters = -1; }, "hourglass_cluster_iters -1");
    bad([](auto& h) { h.temperture = 0; }, "hourglass_temperture");
    bad([](auto& h) { h.cluster_window_size = 4; }, "hourglass_cluster_window_size 4: must be a positive odd number");
    bad([](auto& h) { h.reconstruction_k = 101; }, "hourglass_reconstruction_k 101: must be 1..100");
    EXPECT_EQ(evsam::hourglass_problem({}, 4, 14), "") << "off is always fine";
}

}  // namespace

}  // namespace test_hourglass_tiny
