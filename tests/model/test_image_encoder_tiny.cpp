// The image encoder against upstream, module by module, on the tiny fixture models
// (tests/data/tiny/<config>: made by validation/make_fixtures.py tiny from upstream's classes).
//   tiny_l : L family, stages res/fmb/fmb/mb/att (scale 5), linear attention path
//   tiny_xl: XL family, depth-0 stage, att@3, linear and quadratic attention paths
#include <gtest/gtest.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/efficientvit/config_json.hpp>
#include <evsam/evsam.hpp>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "fixture_util.hpp"
#include "formula_init.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_image_encoder_tiny {

namespace {

using evsam_test::read_json;
using nlohmann::json;

template <class T>
void check_tiny(const std::string& cfg_name, evsam::Tolerance tol) {
    const std::string dir = std::string(EVSAM_TEST_DATA) + "/tiny/" + cfg_name + "/";
    evsam::EfficientViTSam<T> model(evsam::sam_config_from_json(read_json(dir + "config.json")));
    auto ckpt = evsam::Checkpoint::open(dir + "model.pt");
    evsam::load_state_dict(model, ckpt, cfg_name);
    auto x = evsam::npy_load_as<T>(dir + "input.npy");
    evsam::HostBlockCache::instance().fill_cached(0xFF);  // reused memory holds NaN (see below)
    evsam::Trace<T> trace;
    auto emb = model.image_encoder.forward(x, &trace);

    // Every recorded module that upstream also recorded, in execution order: the first
    // one out of tolerance is named.
    json index = read_json(dir + "act/index.json");
    int compared = 0;
    for (auto& [name, rec] : trace.records) {
        if (!index.contains(name) || !index[name].contains("file") || !index[name]["file"].is_string()) continue;
        auto ref = evsam::npy_load_as<double>(dir + index[name]["file"].template get<std::string>());
        auto r = evsam::compare(rec, ref, tol, name);
        ASSERT_TRUE(r.ok) << "first module out of tolerance: " << r.message;
        ++compared;
    }
    EXPECT_GE(compared, 20) << "too few modules matched the fixture index";
    auto ref = evsam::npy_load_as<double>(dir + "embedding.npy");
    auto r = evsam::compare(emb, ref, tol, "embedding");
    EXPECT_TRUE(r.ok) << r.message;
    std::cout << "[ " << cfg_name << " ] " << compared << " modules compared; " << r.message << "\n";
}

TEST(ImageEncoderTiny, LFamilyFloat) { check_tiny<float>("tiny_l", evsam::kTolEncoderFloat); }
TEST(ImageEncoderTiny, XLFamilyFloat) { check_tiny<float>("tiny_xl", evsam::kTolEncoderFloat); }
TEST(ImageEncoderTiny, LFamilyDouble) { check_tiny<double>("tiny_l", evsam::kTolFloatFixture); }
TEST(ImageEncoderTiny, XLFamilyDouble) { check_tiny<double>("tiny_xl", evsam::kTolFloatFixture); }

// fn(cfg_name, model, x, name) for the float tiny_l and tiny_xl models and their inputs, in strict and
// (where the CPU has it) fast, under that precision; name: "tiny_l strict" and so on.
template <class F>
void for_each_tiny_float(F&& fn) {
    std::vector<evsam::Precision> precisions = {evsam::Precision::strict};
    if (evsam::cpu_has_avx512_bf16()) precisions.push_back(evsam::Precision::fast);
    for (const std::string cfg_name : {"tiny_l", "tiny_xl"}) {
        const std::string dir = std::string(EVSAM_TEST_DATA) + "/tiny/" + cfg_name + "/";
        evsam::EfficientViTSam<float> model(evsam::sam_config_from_json(read_json(dir + "config.json")));
        auto ckpt = evsam::Checkpoint::open(dir + "model.pt");
        evsam::load_state_dict(model, ckpt, cfg_name);
        const auto x = evsam::npy_load_as<float>(dir + "input.npy");
        for (auto prec : precisions) {
            evsam::CpuPrecisionScope scope(prec);
            fn(model, x, cfg_name + (prec == evsam::Precision::fast ? " fast" : " strict"));
        }
    }
}
// How many values of a and b differ in their bits (a and b of one shape).
int64_t bits_differ(const evsam::Tensor<float>& a, const evsam::Tensor<float>& b) {
    int64_t differ = 0;
    for (int64_t i = 0; i < a.numel(); ++i) differ += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return differ;
}

// The fused paths (FusedMBConv's pair, MBConv's expand-depthwise and its three convs, residual sums
// folded into a write) run only in an untraced forward; a traced one runs every module on its own.
// Both give the same embedding, bit for bit, in strict and (where the CPU has it) in fast.
TEST(ImageEncoderTiny, FusedPathsGiveTheBitsOfTheModulesInTurn) {
    for_each_tiny_float([](auto& model, const auto& x, const std::string& name) {
        evsam::Trace<float> trace;
        const auto traced = model.image_encoder.forward(x, &trace);
        const auto fused = model.image_encoder.forward(x);
        ASSERT_EQ(fused.shape(), traced.shape());
        EXPECT_EQ(bits_differ(fused, traced), 0) << name << ": values that differ, of " << fused.numel();
    });
}

// SamNeck's middle as one channels-last run (fast on AMX, with 3 blocks or more: the tiny fixtures have
// fewer, so tiny_l's neck is widened and deepened here, weights by formula): the merge of its inputs
// made channels-last in one pass gives the bits of the traced forward, module by module in NCHW.
TEST(ImageEncoderTiny, NeckMergedChannelsLastGivesTheBitsOfTheModulesInTurn) {
    if (!evsam::cpu_uses_amx()) GTEST_SKIP() << "skipped: channels-last runs are fast's, on AMX";
    const std::string dir = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";
    auto cfg = read_json(dir + "config.json");
    cfg["neck"]["head_width"] = 40;
    cfg["neck"]["head_depth"] = 4;
    cfg["neck"]["expand_ratio"] = 1.5;
    evsam::EfficientViTSam<float> model(evsam::sam_config_from_json(cfg));
    evsam_test::FormulaInit<float> init;
    model.visit(init, "");
    const auto x = evsam::npy_load_as<float>(dir + "input.npy");
    evsam::CpuPrecisionScope fast(evsam::Precision::fast);
    ASSERT_TRUE(model.image_encoder.neck.middle.runs_channels_last({1, 40, 64, 64}));
    evsam::Trace<float> trace;
    const auto traced = model.image_encoder.forward(x, &trace);
    const auto merged = model.image_encoder.forward(x);
    ASSERT_EQ(merged.shape(), traced.shape());
    EXPECT_EQ(bits_differ(merged, traced), 0) << "values that differ, of " << merged.numel();
}

// Tensors and scratch reuse the blocks earlier forwards freed (HostBlockCache), with whatever they
// hold. Filled with NaN before a second forward, they change no bit of the embedding: no kernel reads
// memory it has not written. Untraced (the fused paths) and traced, strict and (where the CPU has it)
// fast.
TEST(ImageEncoderTiny, ReusedMemoryChangesNoBit) {
    for_each_tiny_float([](auto& model, const auto& x, const std::string& name) {
        for (bool traced : {false, true}) {
            evsam::Trace<float> t1, t2;
            const auto first = model.image_encoder.forward(x, traced ? &t1 : nullptr);
            ASSERT_GT(evsam::HostBlockCache::instance().cached_bytes(), 0u);
            evsam::HostBlockCache::instance().fill_cached(0xFF);
            const auto second = model.image_encoder.forward(x, traced ? &t2 : nullptr);
            ASSERT_EQ(first.shape(), second.shape());
            EXPECT_EQ(bits_differ(first, second), 0)
                << name << (traced ? " traced" : "") << ": values that differ, of " << first.numel();
        }
    });
}

// ModuleTimer (evsam bench --profile) stamps every module that ends a forward, in order: in double,
// where no fused path runs, exactly the traced modules; in float, untraced (MBConv's and
// FusedMBConv's fused paths may run), an ordered subset of them ending with the encoder itself.
// The spans are non-negative and add up to no more than the forward's wall time.
TEST(ImageEncoderTiny, ModuleTimerStampsEveryModuleThatEnds) {
    const std::string dir = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";
    auto ckpt = evsam::Checkpoint::open(dir + "model.pt");
    auto names_of = [](const auto& v) {
        std::vector<std::string> n;
        for (const auto& e : v) n.push_back(e.first);
        return n;
    };
    auto check_spans = [](const evsam::ModuleTimer& t, double wall) {
        double sum = 0;
        for (const auto& [name, s] : t.spans()) {
            EXPECT_GE(s, 0.0) << name;
            sum += s;
        }
        EXPECT_LE(sum, wall);
    };
    std::vector<std::string> traced;
    {
        evsam::EfficientViTSam<double> model(evsam::sam_config_from_json(read_json(dir + "config.json")));
        evsam::load_state_dict(model, ckpt, "tiny_l");
        auto x = evsam::npy_load_as<double>(dir + "input.npy");
        evsam::Trace<double> trace;
        const auto t0 = std::chrono::steady_clock::now();
        evsam::ModuleTimer timer;
        model.image_encoder.forward(x, &trace);
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        traced = names_of(trace.records);
        EXPECT_EQ(names_of(timer.spans()), traced);
        EXPECT_GE(traced.size(), 20u);
        check_spans(timer, wall);
    }
    EXPECT_EQ(evsam::ModuleTimer::current(), nullptr);  // gone with its scope
    evsam::EfficientViTSam<float> model(evsam::sam_config_from_json(read_json(dir + "config.json")));
    evsam::load_state_dict(model, ckpt, "tiny_l");
    auto x = evsam::npy_load_as<float>(dir + "input.npy");
    model.image_encoder.forward(x);  // warm-up: packs made
    const auto t0 = std::chrono::steady_clock::now();
    evsam::ModuleTimer timer;
    model.image_encoder.forward(x);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto timed = names_of(timer.spans());
    ASSERT_FALSE(timed.empty());
    EXPECT_EQ(timed.back(), "image_encoder");
    size_t k = 0;  // an ordered subset of the traced modules
    for (const auto& n : timed) {
        while (k < traced.size() && traced[k] != n) ++k;
        ASSERT_LT(k, traced.size()) << n << " is not a traced module, or out of order";
        ++k;
    }
    check_spans(timer, wall);
}

}  // namespace

}  // namespace test_image_encoder_tiny
