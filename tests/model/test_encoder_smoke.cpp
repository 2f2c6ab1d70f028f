// Full-size smoke test of every variant's image encoder: output shape, finite values,
// and bit-identical results with 1 and 2 threads. Weights come from a seeded formula
// (no checkpoint needed): scaled so activations stay O(1) through the whole network.
// Accuracy against upstream is checked elsewhere (tiny fixtures here, full size in
// validation/check_encoder.py).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <evsam/evsam.hpp>

#include "formula_init.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_encoder_smoke {

namespace {

using evsam_test::FormulaInit;

class EncoderSmoke : public ::testing::TestWithParam<std::string> {};

TEST_P(EncoderSmoke, ShapeFiniteAndThreadCountInvariant) {
    const std::string v = GetParam();
    evsam::EfficientViTSam<float> model(evsam::sam_config(v));
    FormulaInit<float> init;
    model.visit(init, "");
    evsam::Image img = evsam::load_image(std::string(EVSAM_TEST_DATA) + "/../../examples/data/chelsea.png");
    auto x = evsam::preprocess_image<float>(img.data.data(), img.height, img.width, model.transform);

    omp_set_num_threads(1);
    auto e1 = model.image_encoder.forward(x);
    omp_set_num_threads(2);
    auto e2 = model.image_encoder.forward(x);

    ASSERT_EQ(e1.shape(), (evsam::Shape{1, 256, 64, 64}));
    int64_t nonfinite = 0, differ = 0;
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < e1.numel(); ++i) {
        nonfinite += !std::isfinite(e1[i]);
        differ += std::memcmp(&e1[i], &e2[i], sizeof(float)) != 0;
        sum += e1[i];
        sq += double(e1[i]) * e1[i];
    }
    EXPECT_EQ(nonfinite, 0);
    EXPECT_EQ(differ, 0) << "1-thread and 2-thread embeddings differ";
    const double n = double(e1.numel()), stdev = std::sqrt(sq / n - (sum / n) * (sum / n));
    EXPECT_GT(stdev, 0.1);  // after the final LayerNorm the embedding is O(1), not collapsed
    EXPECT_LT(stdev, 10.0);
}

INSTANTIATE_TEST_SUITE_P(AllVariants, EncoderSmoke, ::testing::Values("l0", "l1", "l2", "xl0", "xl1"));

}  // namespace

}  // namespace test_encoder_smoke
