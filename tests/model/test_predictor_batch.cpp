// Predictor::set_image_batch (upstream EfficientViTSamPredictor.set_image_batch): a batch of
// preprocessed images, one encoder pass, prompts routed by image_index.
#include <gtest/gtest.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/efficientvit/config_json.hpp>
#include <evsam/evsam.hpp>
#include <cstring>
#include <fstream>
#include <random>

#include "formula_init.hpp"

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
    auto r = evsam::compare(f0, evsam::npy_load_as<double>(dir + "embedding.npy"), evsam::kTolEncoderFloat, "features[0]");
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

// The Predictor's per-image projections (layer 0's image side, computed once at set_image) are
// the same arithmetic as the per-prompt path: the decoder's outputs agree bit for bit, for a
// batch of prompts sharing one precomputed (batch-1) projection.
TEST(PredictorBatch, ImageProjectionsChangeNothing) {
    const std::string dir = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";
    std::ifstream f(dir + "config.json");
    evsam::EfficientViTSam<float> model(evsam::sam_config_from_json(nlohmann::json::parse(f)));
    evsam::load_state_dict(model, evsam::Checkpoint::open(dir + "model.pt"), "tiny_l");
    evsam::Predictor<float> p(model);
    p.set_image_batch(evsam::npy_load_as<float>(dir + "input.npy"));
    const auto& emb = p.features();
    evsam::Tensor<float> coords({4, 2, 2}), labels({4, 2});
    for (int64_t i = 0; i < coords.numel(); ++i) coords[i] = static_cast<float>((i * 397) % 1024) + 0.25f;
    for (int64_t i = 0; i < labels.numel(); ++i) labels[i] = static_cast<float>(i % 2);
    auto [sparse, dense] = model.prompt_encoder.forward(&coords, &labels, nullptr, nullptr);
    const auto pe = model.prompt_encoder.get_dense_pe();
    evsam::Tensor<float> src(emb.shape());  // features + no_mask_embed, as for every prompt here
    for (int64_t i = 0; i < src.numel(); ++i) src[i] = emb[i] + dense[i];
    const auto pre = model.mask_decoder.transformer.project_image(src, pe);
    auto a = model.mask_decoder.forward(emb, pe, sparse, dense, true);
    auto b = model.mask_decoder.forward(emb, pe, sparse, dense, true, nullptr, &pre);
    ASSERT_EQ(a.masks.shape(), b.masks.shape());
    EXPECT_EQ(0, std::memcmp(a.masks.data(), b.masks.data(), sizeof(float) * static_cast<size_t>(a.masks.numel())));
    EXPECT_EQ(0, std::memcmp(a.iou_pred.data(), b.iou_pred.data(), sizeof(float) * static_cast<size_t>(a.iou_pred.numel())));
}

// At SAM's own dims (E 256, internal 128, 8 heads, 7 tokens) the path without the per-image
// projections folds the cross attentions' projections into the prompt tokens, so the two paths
// agree to rounding: held to the table's mask-logit and IoU entries (formula weights, full-size decoder).
TEST(PredictorBatch, ImageProjectionsAgreeWithTheFactoredPathAtFullSize) {
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
    auto [sparse, dense] = model.prompt_encoder.forward(&coords, &labels, nullptr, nullptr);
    const auto pe = model.prompt_encoder.get_dense_pe();
    evsam::Tensor<float> src(emb.shape());
    for (int64_t i = 0; i < src.numel(); ++i) src[i] = emb[i] + dense[i];
    const auto pre = model.mask_decoder.transformer.project_image(src, pe);
    auto a = model.mask_decoder.forward(emb, pe, sparse, dense, true);
    auto b = model.mask_decoder.forward(emb, pe, sparse, dense, true, nullptr, &pre);
    auto rm = evsam::compare(b.masks, a.masks, evsam::kTolMaskLogits, "masks");
    EXPECT_TRUE(rm.ok) << rm.message;
    auto ri = evsam::compare(b.iou_pred, a.iou_pred, evsam::kTolIoU, "iou");
    EXPECT_TRUE(ri.ok) << ri.message;
    std::cout << rm.message << "\n" << ri.message << "\n";
}

}  // namespace
