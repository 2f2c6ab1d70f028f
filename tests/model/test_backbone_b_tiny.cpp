// The EfficientViT B-series backbone (EfficientViTBackbone) against upstream.
//   tiny_b: tests/data/tiny/tiny_b, made by validation/make_fixtures.py tiny_b from upstream's
//           class with seeded non-trivial weights: DSConv stem block, MBConv stages (one
//           residual), fewer_norm MBConv + EfficientViTBlocks with linear (4x4) and quadratic
//           (2x2) attention, hswish, BatchNorm eps 1e-5. Compared module by module.
//   schema: the C++ b1 backbone declares exactly upstream's state_dict (tests/data/schema/backbone_b1.json).
#include <gtest/gtest.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/evsam.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fixture_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_backbone_b_tiny {

namespace {

using evsam_test::read_json;
using nlohmann::json;

const std::string kDir = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_b/";

evsam::BackboneConfig config_from_json(const json& j) {
    const auto& b = j.at("backbone");
    EXPECT_EQ(b.at("type").get<std::string>(), "EfficientViTBackbone");
    evsam::BackboneConfig c;
    c.width_list = b.at("width_list").get<std::vector<int64_t>>();
    c.depth_list = b.at("depth_list").get<std::vector<int64_t>>();
    c.in_channels = b.at("in_channels").get<int64_t>();
    c.dim = b.at("dim").get<int64_t>();
    c.expand_ratio = b.at("expand_ratio").get<double>();
    const std::string norm = b.at("norm").get<std::string>();
    EXPECT_EQ(norm, "bn2d");
    c.norm = evsam::Norm::bn2d;
    c.act = evsam::act_from_name(b.at("act_func").get<std::string>());
    c.norm_eps = j.at("norm_eps").get<double>();
    return c;
}

// Runs the tiny backbone and compares every traced module the fixture recorded.
// Returns the largest max-abs error over all compared modules (and fails on the first
// module out of tolerance when expect_ok).
template <class T>
double run_tiny_b(evsam::BackboneConfig cfg, evsam::Tolerance tol, bool expect_ok, int* n_compared = nullptr,
                  bool* all_ok = nullptr, std::string* final_msg = nullptr) {
    evsam::EfficientViTBackbone<T> backbone(std::move(cfg));
    auto ckpt = evsam::Checkpoint::open(kDir + "model.pt");
    evsam::load_state_dict(backbone, ckpt, "tiny_b backbone");
    evsam::assign_names(backbone, "backbone.");  // the fixture's names: backbone.<state_dict path>
    auto x = evsam::npy_load_as<T>(kDir + "input.npy");
    evsam::Trace<T> trace;
    auto out = backbone.forward(x, &trace);

    std::vector<std::string> keys;
    for (auto& kv : out) keys.push_back(kv.first);
    EXPECT_EQ(keys,
              (std::vector<std::string>{"input", "stage0", "stage1", "stage2", "stage3", "stage4", "stage_final"}));

    json index = read_json(kDir + "act/index.json");
    int compared = 0;
    double worst = 0;
    bool ok = true;
    for (auto& [name, rec] : trace.records) {
        if (!index.contains(name) || !index[name].contains("file") || !index[name]["file"].is_string()) continue;
        auto ref = evsam::npy_load_as<double>(kDir + index[name]["file"].template get<std::string>());
        auto r = evsam::compare(rec, ref, tol, name);
        if (expect_ok) {
            EXPECT_TRUE(r.ok) << "first module out of tolerance: " << r.message;
            if (!r.ok) return r.max_abs;
        }
        ok = ok && r.ok;
        if (final_msg && name == "backbone.stage_final") *final_msg = r.message;
        worst = std::max(worst, r.max_abs);
        ++compared;
    }
    if (n_compared) *n_compared = compared;
    if (all_ok) *all_ok = ok;
    return worst;
}

template <class T>
void check_tiny_b(const char* what) {
    json cfg = read_json(kDir + "config.json");
    int compared = 0;
    std::string final_msg;
    double worst = run_tiny_b<T>(config_from_json(cfg), evsam::kTolEncoderFloat, true, &compared, nullptr, &final_msg);
    if (::testing::Test::HasFailure()) return;
    EXPECT_GE(compared, 40) << "too few modules matched the fixture index";
    EXPECT_FALSE(final_msg.empty()) << "backbone.stage_final was not compared";
    std::cout << "[ tiny_b " << what << " ] " << compared << " modules compared; max_abs over all " << worst << "; "
              << final_msg << "\n";
}

TEST(BackboneBTiny, Float) { check_tiny_b<float>("float"); }
TEST(BackboneBTiny, Double) { check_tiny_b<double>("double"); }

// The BatchNorm eps of the config reaches every BatchNorm: the same weights with eps 1e-3
// instead of upstream's 1e-5 leave the tolerance.
TEST(BackboneBTiny, NormEpsIsUsed) {
    json cfg = read_json(kDir + "config.json");
    auto c = config_from_json(cfg);
    ASSERT_EQ(c.norm_eps, 1e-5);
    c.norm_eps = 1e-3;
    bool ok = true;
    double worst = run_tiny_b<double>(c, evsam::kTolEncoderFloat, false, nullptr, &ok);
    EXPECT_FALSE(ok) << "eps 1e-3 still within tolerance (max_abs " << worst << ")";
    std::cout << "[ tiny_b eps 1e-3 ] max_abs over all " << worst << " (expected out of tolerance)\n";
}

TEST(BackboneBConfig, Defaults) {
    for (const auto& n : evsam::backbone_b_names()) {
        auto c = evsam::backbone_b_config(n);
        EXPECT_EQ(c.norm_eps, 1e-5) << n;
        EXPECT_EQ(c.act, evsam::Act::hswish) << n;
        EXPECT_EQ(c.expand_ratio, 4) << n;
        EXPECT_EQ(c.width_list.size(), 5u) << n;
    }
    EXPECT_THROW(evsam::backbone_b_config("b4"), evsam::Error);
}

// The C++ b1 backbone declares exactly upstream's state_dict: same keys in the same order,
// same shapes, int64 only for num_batches_tracked, parameters vs buffers. b0..b3 parameter
// counts match upstream's.
TEST(BackboneBSchema, B1MatchesUpstream) {
    json j = read_json(std::string(EVSAM_TEST_DATA) + "/schema/backbone_b1.json");
    evsam::EfficientViTBackbone<float> m(evsam::backbone_b_config("b1"));
    auto schema = evsam::state_dict_schema(m);
    const auto& entries = j.at("entries");
    ASSERT_EQ(schema.size(), entries.size());
    for (size_t i = 0; i < schema.size(); ++i) {
        const auto& e = entries[i];
        const auto name = e.at("name").get<std::string>();
        ASSERT_EQ(schema[i].name, name) << "entry " << i;
        EXPECT_EQ(schema[i].shape, e.at("shape").get<evsam::Shape>()) << name;
        EXPECT_EQ(schema[i].is_int64, e.at("dtype").get<std::string>() == "int64") << name;
        EXPECT_EQ(schema[i].kind == evsam::ParamKind::parameter, e.at("kind").get<std::string>() == "param") << name;
    }
    for (auto& [n, params] : j.at("params_by_config").items()) {
        evsam::EfficientViTBackbone<float> b(evsam::backbone_b_config(n));
        int64_t count = 0;
        for (auto& s : evsam::state_dict_schema(b))
            if (s.kind == evsam::ParamKind::parameter) count += evsam::shape_numel(s.shape);
        EXPECT_EQ(count, params.get<int64_t>()) << n;
    }
}

}  // namespace

}  // namespace test_backbone_b_tiny
