// EfficientViT's classifiers and segmenters (efficientvit/cls.hpp, seg.hpp) against upstream.
//   tiny:   tests/data/tiny/cls_seg/<case>, made by validation/make_cls_seg_fixtures.py tiny from
//           upstream's EfficientViTCls / EfficientViTSeg with seeded non-trivial weights: ClsHead on
//           a B and an L backbone, SegHead in each of the zoo's four head shapes. Double against
//           upstream fp64 module by module (kTolClsSegDouble); float against upstream fp32's logits
//           (kTolEncoderFloat), its error against fp64 printed beside PyTorch fp32's.
//   schema: every zoo architecture declares exactly upstream's state_dict (tests/data/schema/cls_seg.json);
//           skeleton checkpoints of four of them are detected, and names resolve as the zoo's keys.
#include <gtest/gtest.h>

#include <cmath>
#include <evsam/backend/tolerance.hpp>
#include <evsam/efficientvit/config_json.hpp>
#include <evsam/evsam.hpp>
#include <sstream>

#include "fixture_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_cls_seg_tiny {

namespace {

using evsam_test::read_json;
using nlohmann::json;

const std::string kRoot = std::string(EVSAM_TEST_DATA) + "/tiny/cls_seg/";

double rel_l2(const evsam::Tensor<double>& a, const evsam::Tensor<double>& ref) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < ref.numel(); ++i) {
        num += (a.data()[i] - ref.data()[i]) * (a.data()[i] - ref.data()[i]);
        den += ref.data()[i] * ref.data()[i];
    }
    return std::sqrt(num / den);
}

template <class T>
std::unique_ptr<evsam::Module<T, evsam::backend::cpu>> build(const json& cfg) {
    if (cfg.at("kind") == "cls") return evsam::create_cls<T>(evsam::cls_config_from_json(cfg));
    return evsam::create_seg<T>(evsam::seg_config_from_json(cfg));
}

template <class T>
evsam::Tensor<T> run(evsam::Module<T, evsam::backend::cpu>& m, const json& cfg, const evsam::Tensor<T>& x,
                     evsam::Trace<T>* tr) {
    if (cfg.at("kind") == "cls") return dynamic_cast<evsam::ClsModel<T>&>(m).forward(x, tr);
    return dynamic_cast<evsam::SegModel<T>&>(m).forward(x, tr);
}

template <class T>
evsam::Tensor<double> run_case(const std::string& name, double eps_override = 0, evsam::Trace<T>* tr = nullptr) {
    const std::string dir = kRoot + name + "/";
    json cfg = read_json(dir + "config.json");
    if (eps_override) cfg["norm_eps"] = eps_override;
    auto m = build<T>(cfg);
    auto ckpt = evsam::Checkpoint::open(dir + "model.pt");
    evsam::load_state_dict(*m, ckpt, name);
    evsam::assign_names(*m);
    auto x = evsam::npy_load_as<T>(dir + "input.npy");
    auto y = run<T>(*m, cfg, x, tr);
    EXPECT_EQ(y.shape(), cfg.at("logits_shape").get<evsam::Shape>()) << name;
    evsam::Tensor<double> out(y.shape());
    for (int64_t i = 0; i < y.numel(); ++i) out.data()[i] = static_cast<double>(y.data()[i]);
    return out;
}

class ClsSegTiny : public ::testing::TestWithParam<std::string> {};

TEST_P(ClsSegTiny, Double) {
    const std::string name = GetParam(), dir = kRoot + name + "/";
    evsam::Trace<double> tr;
    auto y = run_case<double>(name, 0, &tr);
    if (HasFailure()) return;
    evsam_test::expect_trace_matches(tr, dir, evsam::kTolClsSegDouble);
    auto ref = evsam::npy_load_as<double>(dir + "logits64.npy");
    auto r = evsam::compare(y, ref, evsam::kTolClsSegDouble, name + " logits");
    EXPECT_TRUE(r.ok) << r.message;
    std::cout << "[ " << name << " double ] " << r.message << "\n";
}

TEST_P(ClsSegTiny, Float) {
    const std::string name = GetParam(), dir = kRoot + name + "/";
    evsam::Trace<float> tr;
    auto y = run_case<float>(name, 0, &tr);
    if (HasFailure()) return;
    evsam_test::expect_trace_matches(tr, dir, evsam::kTolEncoderFloat);  // every module, against fp64
    auto ref32 = evsam::npy_load_as<double>(dir + "logits32.npy");
    auto ref64 = evsam::npy_load_as<double>(dir + "logits64.npy");
    auto r = evsam::compare(y, ref32, evsam::kTolEncoderFloat, name + " logits vs upstream fp32");
    EXPECT_TRUE(r.ok) << r.message;
    std::cout << "[ " << name << " float ] " << r.message << "; rel-L2 vs fp64: evsam " << rel_l2(y, ref64)
              << ", PyTorch fp32 " << rel_l2(ref32, ref64) << "\n";
}

// The zoo's norm eps reaches every norm (BatchNorm and the head's LayerNorm): 1e-3 instead leaves
// the double tolerance.
TEST_P(ClsSegTiny, NormEpsIsUsed) {
    const std::string name = GetParam(), dir = kRoot + name + "/";
    auto y = run_case<double>(name, 1e-3);
    auto ref = evsam::npy_load_as<double>(dir + "logits64.npy");
    auto r = evsam::compare(y, ref, evsam::kTolClsSegDouble, name);
    EXPECT_FALSE(r.ok) << "eps 1e-3 still within tolerance: " << r.message;
}

INSTANTIATE_TEST_SUITE_P(Cases, ClsSegTiny,
                         ::testing::Values("cls_b", "cls_l", "seg_b_city", "seg_b_ade", "seg_l_city", "seg_l_ade"));

uint64_t fnv1a64(const std::string& s) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001B3ull;
    }
    return h;
}

std::vector<std::string> schema_lines(const std::vector<evsam::SchemaEntry>& schema) {
    std::vector<std::string> out;
    for (const auto& e : schema) {
        std::string shape;
        for (size_t i = 0; i < e.shape.size(); ++i) shape += (i ? "," : "") + std::to_string(e.shape[i]);
        out.push_back(e.name + "|" + shape + "|" + (e.is_int64 ? "int64" : "float32") + "|" +
                      (e.kind == evsam::ParamKind::parameter ? "param" : "buffer"));
    }
    return out;
}

// Every architecture of both zoos declares upstream's state_dict: same keys in order, shapes,
// dtypes and kinds (hash of all, line by line for one model per head config), parameter counts;
// and the zoo's norm eps.
TEST(ClsSegSchema, EveryZooModelMatchesUpstream) {
    const json j = read_json(std::string(EVSAM_TEST_DATA) + "/schema/cls_seg.json");
    ASSERT_EQ(j.at("models").size(), evsam::cls_registry().size() + evsam::seg_registry().size());
    for (auto& [name, e] : j.at("models").items()) {
        const evsam::ModelRef ref = evsam::resolve_model(name);
        ASSERT_NE(ref.kind, evsam::ModelKind::sam) << name;
        EXPECT_EQ(ref.name, name);
        EXPECT_EQ(
            "efficientvit-" + (ref.kind == evsam::ModelKind::cls && name.rfind("cls-", 0) == 0 ? name.substr(4) : name),
            e.at("zoo").get<std::string>());
        EXPECT_EQ(evsam::model_title(ref), e.at("zoo").get<std::string>());
        const auto schema = evsam::model_schema(ref);
        const auto lines = schema_lines(schema);
        EXPECT_EQ(evsam::count_parameters(schema), e.at("params").get<int64_t>()) << name;
        ASSERT_EQ(lines.size(), e.at("entries").get<size_t>()) << name;
        std::string all;
        for (auto& l : lines) all += l + "\n";
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a64(all)));
        EXPECT_EQ(hex, e.at("fnv1a64").get<std::string>()) << name;
        if (e.contains("lines")) {
            for (size_t i = 0; i < lines.size(); ++i) ASSERT_EQ(lines[i], e["lines"][i].get<std::string>()) << name;
        }
        const double eps = ref.kind == evsam::ModelKind::cls ? evsam::find_cls(ref.name).config().norm_eps
                                                             : evsam::find_seg(ref.name).config().norm_eps;
        EXPECT_EQ(eps, e.at("norm_eps").get<double>()) << name;
    }
}

// The module tree's parameters agree with the schema, and its MACs with upstream's published
// figures (applications/efficientvit_cls/README.md, efficientvit_seg/README.md: rounded there).
TEST(ClsSegSchema, MacsMatchPublished) {
    struct Case {
        const char* name;
        evsam::Shape in;
        double gmacs;  // as published, rounded
        double tol;
    };
    const Case cases[] = {{"b1-r224", {1, 3, 224, 224}, 0.52, 0.01},
                          {"l1-r224", {1, 3, 224, 224}, 5.3, 0.05},
                          {"l3-r224", {1, 3, 224, 224}, 28, 0.5},
                          {"seg-b0-cityscapes", {1, 3, 1024, 2048}, 4.4, 0.05},
                          {"seg-b3-cityscapes", {1, 3, 1024, 2048}, 179, 0.5},
                          {"seg-l2-cityscapes", {1, 3, 1024, 2048}, 396, 0.5}};
    for (const auto& c : cases) {
        const evsam::ModelRef ref = evsam::resolve_model(c.name);
        evsam::ModuleTable t;
        if (ref.kind == evsam::ModelKind::cls) {
            auto m = evsam::create_cls<float>(evsam::find_cls(ref.name).config());
            evsam::assign_names(*m);
            m->describe(c.in, t);
        } else {
            auto m = evsam::create_seg<float>(evsam::find_seg(ref.name).config());
            evsam::assign_names(*m);
            m->describe(c.in, t);
        }
        EXPECT_EQ(t.rows[0].params, evsam::count_parameters(evsam::model_schema(ref))) << c.name;
        EXPECT_NEAR(t.rows[0].macs / 1e9, c.gmacs, c.tol) << c.name;
    }
}

TEST(ClsSegRegistry, NamesResolveAsTheZoosKeys) {
    using evsam::ModelKind;
    auto r = evsam::resolve_model("b1-r288");
    EXPECT_EQ(r.kind, ModelKind::cls);
    EXPECT_EQ(r.name, "b1");
    EXPECT_EQ(r.resolution, 288);
    r = evsam::resolve_model("efficientvit-l3-r384");
    EXPECT_EQ(r.name, "cls-l3");
    EXPECT_EQ(r.resolution, 384);
    EXPECT_EQ(evsam::resolve_model("l2-r256").name, "cls-l2");
    EXPECT_EQ(evsam::resolve_model("efficientvit-l1").name, "cls-l1");
    EXPECT_EQ(evsam::resolve_model("cls-l1").name, "cls-l1");
    EXPECT_EQ(evsam::resolve_model("l3").name, "cls-l3");
    EXPECT_EQ(evsam::resolve_model("b0").resolution, 0);
    // bare l1 / l2 and efficientvit-sam-* stay EfficientViT-SAM's
    EXPECT_EQ(evsam::resolve_model("l1").kind, ModelKind::sam);
    EXPECT_EQ(evsam::resolve_model("efficientvit-sam-l2").kind, ModelKind::sam);
    EXPECT_EQ(evsam::resolve_model("vit_h").kind, ModelKind::sam);
    r = evsam::resolve_model("efficientvit-seg-l2-ade20k");
    EXPECT_EQ(r.kind, ModelKind::seg);
    EXPECT_EQ(r.name, "seg-l2-ade20k");
    EXPECT_EQ(evsam::find_seg("seg-l2-ade20k").config().head.n_classes, 150);
    EXPECT_EQ(evsam::find_seg("seg-b0-cityscapes").config().head.n_classes, 19);
    // not in the zoo: one line naming what there is
    for (const char* bad : {"b1-r320", "seg-b0-ade20k", "b4", "l1-r999", "seg-b1", ""}) {
        try {
            evsam::resolve_model(bad);
            ADD_FAILURE() << "'" << bad << "' resolved";
        } catch (const evsam::Error& e) {
            EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
            EXPECT_NE(std::string(e.what()).find("unknown model"), std::string::npos) << e.what();
        }
    }
    // default resolutions and crop ratios as fixed for the zoo
    EXPECT_EQ(evsam::find_cls("b1").config().crop_ratio, 0.95);
    EXPECT_EQ(evsam::find_cls("b2").config().crop_ratio, 1.0);
    EXPECT_EQ(evsam::find_cls("cls-l2").config().resolutions.front(), 224);
    EXPECT_EQ(evsam::find_cls("cls-l3").config().resolutions.back(), 384);
}

// Skeleton checkpoints (keys, shapes and dtypes of upstream's zoo models; one {"state_dict": ...}
// wrapped) are recognised as their architecture.
TEST(ClsSegRegistry, DetectsSkeletons) {
    for (const char* name : {"b1", "cls-l3", "seg-b0-cityscapes", "seg-l2-ade20k"}) {
        auto ck = evsam::Checkpoint::open(std::string(EVSAM_TEST_DATA) + "/ckpt_cls_seg/skeleton_" + name + ".pt");
        const auto m = evsam::detect_any_model(ck);
        EXPECT_EQ(m.name, name);
        EXPECT_NE(m.kind, evsam::ModelKind::sam);
    }
    // a SAM checkpoint is still SAM's
    auto ck = evsam::Checkpoint::open(std::string(EVSAM_TEST_DATA) + "/ckpt/skeleton_l1.pt");
    EXPECT_EQ(evsam::detect_any_model(ck).kind, evsam::ModelKind::sam);
    EXPECT_EQ(evsam::detect_any_model(ck).name, "l1");
}

}  // namespace

}  // namespace test_cls_seg_tiny
