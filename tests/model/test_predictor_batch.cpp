// Predictor::set_image_batch (upstream EfficientViTSamPredictor.set_image_batch): a batch of
// preprocessed images, one encoder pass, prompts routed by image_index.
#include <gtest/gtest.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/efficientvit/config_json.hpp>
#include <evsam/evsam.hpp>
#include <array>
#include <cstring>
#include <fstream>
#include <random>

#include "formula_init.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_predictor_batch {

namespace {

TEST(PredictorBatch, SetImageBatchMatchesPerImageRuns) {
    const std::string dir = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";
    std::ifstream f(dir + "config.json");
    evsam::EfficientViTSam<float> model(evsam::sam_config_from_json(nlohmann::json::parse(f)));
    evsam::load_state_dict(model, evsam::Checkpoint::open(dir + "model.pt"), "tiny_l");
    auto x = evsam::npy_load_as<float>(dir + "input.npy");  // (1, 3, 80, 80), upstream-preprocessed
    const int64_t n = x.numel();
    evsam::Tensor<float> x2({1, 3, 80, 80}), both({2, 3, 80, 80});
    for (int64_t i = 0; i < n; ++i) x2[i] = -0.5f * x[n - 1 - i];  // a second, different image
    std::copy(x.begin(), x.end(), both.data());
    std::copy(x2.begin(), x2.end(), both.data() + n);

    evsam::Predictor<float> batch(model), single(model);
    batch.set_image_batch(both);
    // upstream: original_size is the tensor's own (R, R), input_size its 1024-frame resize
    EXPECT_EQ(batch.original_size(), (std::pair<int64_t, int64_t>{80, 80}));
    EXPECT_EQ(batch.input_size(), (std::pair<int64_t, int64_t>{1024, 1024}));
    ASSERT_EQ(batch.features().shape(), (evsam::Shape{2, 32, 64, 64}));
    evsam::Tensor<float> f0({1, 32, 64, 64});
    std::copy(batch.features().data(), batch.features().data() + f0.numel(), f0.data());
    auto r =
        evsam::compare(f0, evsam::npy_load_as<double>(dir + "embedding.npy"), evsam::kTolEncoderFloat, "features[0]");
    EXPECT_TRUE(r.ok) << r.message;

    single.set_image_batch(x2);
    evsam::Tensor<float> coords({1, 1, 2}), labels({1, 1}, 1.0f);
    coords[0] = 300.5f, coords[1] = 611.25f;
    auto a = batch.predict_torch(&coords, &labels, nullptr, nullptr, true, true, /*image_index=*/1);
    auto b = single.predict_torch(&coords, &labels, nullptr, nullptr, true, true);
    ASSERT_EQ(a.masks.shape(), (evsam::Shape{1, 3, 80, 80}));
    auto rm = evsam::compare(a.masks, b.masks, evsam::kTolMaskLogits, "image_index 1 vs the image alone");
    EXPECT_TRUE(rm.ok) << rm.message;
    EXPECT_THROW(batch.predict_torch(&coords, &labels, nullptr, nullptr, true, true, 2), evsam::Error);
    EXPECT_THROW(batch.predict_torch(&coords, &labels, nullptr, nullptr), evsam::Error);  // index needed for 2 images
    evsam::Predictor<float> unset(model);
    EXPECT_THROW(unset.predict(evsam::Prompt<float>{}), evsam::Error);
}

// predict_batch: B prompt sets in one decoder pass give, prompt for prompt, what predict gives for
// each alone (bit for bit: the batch is B independent decoder rows), and a batch whose sets differ
// in kind is refused.
TEST(PredictorBatch, PredictBatchEqualsOnePromptAtATime) {
    const std::string dir = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";
    std::ifstream f(dir + "config.json");
    evsam::EfficientViTSam<float> model(evsam::sam_config_from_json(nlohmann::json::parse(f)));
    evsam::load_state_dict(model, evsam::Checkpoint::open(dir + "model.pt"), "tiny_l");
    evsam::Image img;
    img.width = 61, img.height = 45;
    img.data.resize(61 * 45 * 3);
    for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = static_cast<uint8_t>((i * 37 + i / 61) % 251);
    evsam::Predictor<float> pred(model);
    pred.set_image(img);
    std::vector<evsam::Prompt<float>> ps(3);
    const std::array<std::array<double, 4>, 3> boxes = {{{2, 3, 50, 40}, {10, 5, 30, 30}, {0, 0, 60.5, 44.5}}};
    for (size_t b = 0; b < ps.size(); ++b) {
        ps[b].points = {{30.0 - 7.0 * static_cast<double>(b), 20.0}, {5.0, 5.0}};
        ps[b].labels = {1, static_cast<int>(b % 2)};
        ps[b].box = boxes[b];
    }
    for (bool logits : {false, true}) {
        const auto all = pred.predict_batch(ps, true, logits);
        ASSERT_EQ(all.masks.shape(), (evsam::Shape{3, 3, 45, 61}));
        ASSERT_EQ(all.iou_predictions.shape(), (evsam::Shape{3, 3}));
        ASSERT_EQ(all.low_res_logits.shape(), (evsam::Shape{3, 3, 256, 256}));
        for (size_t b = 0; b < ps.size(); ++b) {
            const auto one = pred.predict(ps[b], true, logits);
            const int64_t nb = static_cast<int64_t>(b);
            EXPECT_EQ(0, std::memcmp(one.masks.data(), all.masks.data() + nb * one.masks.numel(),
                                     sizeof(float) * static_cast<size_t>(one.masks.numel())))
                << b;
            EXPECT_EQ(0,
                      std::memcmp(one.iou_predictions.data(), all.iou_predictions.data() + nb * 3, sizeof(float) * 3))
                << b;
            EXPECT_EQ(
                0, std::memcmp(one.low_res_logits.data(), all.low_res_logits.data() + nb * one.low_res_logits.numel(),
                               sizeof(float) * static_cast<size_t>(one.low_res_logits.numel())))
                << b;
        }
    }
    auto mixed = ps;
    mixed[1].box.reset();  // a box in some sets only
    EXPECT_THROW(pred.predict_batch(mixed), evsam::Error);
    mixed = ps;
    mixed[2].points.pop_back(), mixed[2].labels.pop_back();  // a different number of points
    EXPECT_THROW(pred.predict_batch(mixed), evsam::Error);
    EXPECT_THROW(pred.predict_batch({}), evsam::Error);
}

// The decoder's fast path (MaskDecoder::prepare once per image, then the factored forward with
// layer 0's image-side projections; or, with a mask input, each prompt's own keys) against
// upstream's predict_masks statement by statement (MaskDecoder::forward, the reference). At the
// tiny fixture's dims the factored cross attention does not pay (factored_attention_pays), so the
// fast path does the reference's arithmetic: the outputs agree bit for bit.
template <class Model>
void expect_fast_path_equals_reference(const Model& model, const evsam::Tensor<float>& emb,
                                       const evsam::Tensor<float>& coords, const evsam::Tensor<float>& labels,
                                       bool bitwise) {
    const auto& pe = model.prompt_encoder;
    const auto dense_pe = pe.get_dense_pe();
    const int64_t Bn = coords.size(0), s = 4 * pe.image_embedding_size;
    evsam::Tensor<float> masks({Bn, 1, s, s});
    std::mt19937 rng(9);
    std::uniform_real_distribution<float> u(-8, 8);
    for (auto& v : masks) v = u(rng);
    const auto prepared = model.mask_decoder.prepare(emb, dense_pe, pe.no_mask_dense());
    for (bool with_mask : {false, true}) {
        SCOPED_TRACE(with_mask ? "mask input" : "no mask input");
        auto [sparse, dense] = pe.forward(&coords, &labels, nullptr, with_mask ? &masks : nullptr);
        const auto ref = model.mask_decoder.forward(emb, dense_pe, sparse, dense, true);
        const auto fast = model.mask_decoder.forward(prepared, sparse, with_mask ? &dense : nullptr, true);
        ASSERT_EQ(ref.masks.shape(), fast.masks.shape());
        ASSERT_EQ(ref.iou_pred.shape(), fast.iou_pred.shape());
        if (bitwise) {
            EXPECT_EQ(0, std::memcmp(ref.masks.data(), fast.masks.data(),
                                     sizeof(float) * static_cast<size_t>(ref.masks.numel())));
            EXPECT_EQ(0, std::memcmp(ref.iou_pred.data(), fast.iou_pred.data(),
                                     sizeof(float) * static_cast<size_t>(ref.iou_pred.numel())));
        }
        const auto rm = evsam::compare(fast.masks, ref.masks, evsam::kTolMaskLogits, "masks");
        EXPECT_TRUE(rm.ok) << rm.message;
        const auto ri = evsam::compare(fast.iou_pred, ref.iou_pred, evsam::kTolIoU, "iou");
        EXPECT_TRUE(ri.ok) << ri.message;
        std::cout << rm.message << "\n" << ri.message << "\n";
    }
}

TEST(PredictorBatch, DecoderFastPathEqualsTheReferenceAtSmallDims) {
    const std::string dir = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";
    std::ifstream f(dir + "config.json");
    evsam::EfficientViTSam<float> model(evsam::sam_config_from_json(nlohmann::json::parse(f)));
    evsam::load_state_dict(model, evsam::Checkpoint::open(dir + "model.pt"), "tiny_l");
    ASSERT_FALSE(evsam::factored_attention_pays(7, 32, 16, 4));  // the tiny decoder's dims
    evsam::Predictor<float> p(model);
    p.set_image_batch(evsam::npy_load_as<float>(dir + "input.npy"));
    evsam::Tensor<float> coords({4, 2, 2}), labels({4, 2});
    for (int64_t i = 0; i < coords.numel(); ++i) coords[i] = static_cast<float>((i * 397) % 1024) + 0.25f;
    for (int64_t i = 0; i < labels.numel(); ++i) labels[i] = static_cast<float>(i % 2);
    expect_fast_path_equals_reference(model, p.features(), coords, labels, /*bitwise=*/true);
}

// At SAM's own dims (E 256, internal 128, 8 heads, 7 tokens) the fast path folds the cross
// attentions' projections into the prompt tokens (and reads layer 0's from the prepared image), so
// the two agree to rounding: held to the table's mask-logit and IoU entries (formula weights,
// full-size decoder).
TEST(PredictorBatch, DecoderFastPathAgreesWithTheReferenceAtFullSize) {
    ASSERT_TRUE(evsam::factored_attention_pays(7, 256, 128, 8));  // the path this test is about
    evsam::EfficientViTSam<float> model(evsam::sam_config("l0"));
    evsam_test::FormulaInit<float> init;
    model.visit(init, "");
    std::mt19937 rng(4);
    std::uniform_real_distribution<float> u(-1, 1);
    evsam::Tensor<float> emb({1, 256, 64, 64}), coords({3, 2, 2}), labels({3, 2});
    for (auto& v : emb) v = u(rng);
    for (auto& v : coords) v = 512 + 500 * u(rng);
    for (int64_t i = 0; i < labels.numel(); ++i) labels[i] = static_cast<float>(i % 2);
    expect_fast_path_equals_reference(model, emb, coords, labels, /*bitwise=*/false);
}

}  // namespace

}  // namespace test_predictor_batch
