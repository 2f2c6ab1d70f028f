// The CPU's `fast` precision (bf16 GEMMs, backend/cpu_precision.hpp) against `strict` on the tiny
// models' predictor and segment-everything fixtures: the binary masks' IoU with strict's, held to
// the tolerance table's entry for fast (kMinMaskIoUCpuFast, kMinAmgMaskIoUCpuFast), on each bf16
// kernel the CPU has: AMX's tiles and AVX512_BF16's VDPBF16PS. Skipped, with the refusal checked, on
// a CPU without AVX512_BF16.
#include <gtest/gtest.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/efficientvit/config_json.hpp>
#include <evsam/evsam.hpp>

#include "fixture_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_precision_fast {

namespace {

using evsam_test::read_json;
using nlohmann::json;

// IoU of the masks logits > 0; 1 when both are empty.
double mask_iou(const float* a, const float* b, int64_t n) {
    int64_t inter = 0, uni = 0;
    for (int64_t i = 0; i < n; ++i) {
        const bool x = a[i] > 0, y = b[i] > 0;
        inter += x && y;
        uni += x || y;
    }
    return uni ? static_cast<double>(inter) / static_cast<double>(uni) : 1.0;
}

bool skip_without_bf16() {
    if (evsam::cpu_has_avx512_bf16()) return false;
    EXPECT_THROW(evsam::set_cpu_precision(evsam::Precision::fast), evsam::Error);
    return true;
}

// f() once per bf16 kernel this CPU runs (AMX first where it has it, then AVX512_BF16)
template <class F>
void for_each_bf16_kernel(F&& f) {
    struct Restore {
        ~Restore() { evsam::set_cpu_amx_allowed(true); }
    } restore;
    for (bool amx : {true, false}) {
        if (amx && !evsam::cpu_has_amx_bf16()) continue;
        evsam::set_cpu_amx_allowed(amx);
        SCOPED_TRACE(amx ? "AMX" : "AVX512_BF16");
        std::cout << "-- fast on " << (amx ? "AMX" : "AVX512_BF16") << "\n";
        f();
    }
}

void predictor_config(const std::string& cfg) {
    const std::string root = std::string(EVSAM_TEST_DATA) + "/tiny/" + cfg + "/", dir = root + "predictor/";
    const json cases = read_json(dir + "cases.json");
    evsam::EfficientViTSam<float> model(evsam::sam_config_from_json(read_json(root + "config.json")));
    evsam::load_state_dict(model, evsam::Checkpoint::open(root + "model.pt"), cfg);
    double worst = 1, sum = 0, worst_iou_pred = 0;
    int n = 0;
    for (const auto& c : cases["cases"]) {
        if (c["batched"].get<bool>() || c["mask_input"].is_string() || c["image_format"] != "RGB") continue;
        evsam::Prompt<float> p;
        if (c["point_coords"].is_array())
            for (size_t i = 0; i < c["point_coords"].size(); ++i) {
                p.points.push_back({c["point_coords"][i][0].get<double>(), c["point_coords"][i][1].get<double>()});
                p.labels.push_back(c["point_labels"][i].get<int>());
            }
        if (c["box"].is_array()) p.box = std::array<double, 4>{c["box"][0], c["box"][1], c["box"][2], c["box"][3]};
        const evsam::Image img = evsam::load_image(dir + c["image"].get<std::string>());
        auto predict = [&](evsam::Precision prec) {
            evsam::CpuPrecisionScope scope(prec);
            evsam::Predictor<float> pr(model);
            pr.set_image(img);
            return pr.predict(p, c["multimask"].get<bool>(), /*return_logits=*/true);
        };
        const auto s = predict(evsam::Precision::strict), f = predict(evsam::Precision::fast);
        ASSERT_EQ(s.masks.shape(), f.masks.shape());
        const int64_t C = s.iou_predictions.numel(), HW = s.masks.numel() / C;
        for (int64_t m = 0; m < C; ++m) {
            const double iou = mask_iou(s.masks.data() + m * HW, f.masks.data() + m * HW, HW);
            worst = std::min(worst, iou);
            sum += iou;
            ++n;
            worst_iou_pred =
                std::max(worst_iou_pred, std::abs(static_cast<double>(s.iou_predictions[m] - f.iou_predictions[m])));
        }
    }
    std::cout << "[ " << cfg << " ] fast vs strict over " << n << " masks: IoU min " << worst << ", mean " << sum / n
              << "; largest |iou_prediction difference| " << worst_iou_pred << "\n";
    EXPECT_GE(n, 5);
    EXPECT_GE(worst, evsam::kMinMaskIoUCpuFast);
}

TEST(PrecisionFast, PredictorMasksAgreeWithStrict) {
    if (skip_without_bf16()) GTEST_SKIP() << "no AVX512_BF16: fast refuses (checked)";
    for_each_bf16_kernel([] {
        predictor_config("tiny_l");
        predictor_config("tiny_xl");
    });
}

// each strict record's best IoU among fast's records
void agrees_with_strict(const std::vector<evsam::MaskRecord>& s, const std::vector<evsam::MaskRecord>& f) {
    double sum = 0, worst = 1;
    for (const auto& r : s) {
        const auto a = evsam::amg::rle_to_mask(r.rle);
        double best = 0;
        for (const auto& q : f) {
            const auto b = evsam::amg::rle_to_mask(q.rle);
            int64_t inter = 0, uni = 0;
            for (size_t i = 0; i < a.size(); ++i) {
                inter += a[i] && b[i];
                uni += a[i] || b[i];
            }
            best = std::max(best, uni ? static_cast<double>(inter) / static_cast<double>(uni) : 1.0);
        }
        sum += best;
        worst = std::min(worst, best);
    }
    const double mean = sum / static_cast<double>(s.size());
    std::cout << "strict " << s.size() << " records, fast " << f.size() << "; best-match IoU mean " << mean << ", min "
              << worst << "\n";
    EXPECT_GE(mean, evsam::kMinAmgMaskIoUCpuFast);
}

// Segment everything: each strict record's best IoU among fast's records, over the fixture's
// settings (a record near a threshold may be kept by one precision and dropped by the other).
TEST(PrecisionFast, SegmentEverythingAgreesWithStrict) {
    if (skip_without_bf16()) GTEST_SKIP() << "no AVX512_BF16: fast refuses (checked)";
    const std::string root = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/", dir = root + "amg/";
    const json fx = read_json(dir + "settings_a.json");
    evsam::EfficientViTSam<float> model(evsam::sam_config_from_json(read_json(root + "config.json")));
    evsam::load_state_dict(model, evsam::Checkpoint::open(root + "model.pt"), "tiny_l");
    const evsam::AmgConfig cfg = evsam_test::amg_config_from_json(fx["settings"]);
    const evsam::Image img = evsam::load_image(dir + fx["image"]["file"].get<std::string>());
    auto generate = [&](evsam::Precision prec) {
        evsam::CpuPrecisionScope scope(prec);
        evsam::AutomaticMaskGenerator<float> gen(model, cfg);
        return gen.generate(img);
    };
    const auto s = generate(evsam::Precision::strict);
    ASSERT_FALSE(s.empty());
    for_each_bf16_kernel([&] { agrees_with_strict(s, generate(evsam::Precision::fast)); });
}

}  // namespace

}  // namespace test_precision_fast
