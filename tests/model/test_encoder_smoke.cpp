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

namespace {

// splitmix64 -> uniform in [-1, 1)
inline double hash_uniform(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

template <class T>
struct FormulaInit : evsam::ParamVisitor<T> {
    uint64_t k = 0;
    void tensor(const std::string& n, evsam::Tensor<T>& t, const evsam::Shape& s, evsam::ParamKind) override {
        t = evsam::Tensor<T>(s);
        ++k;
        const auto ends = [&](const std::string& suf) {
            return n.size() >= suf.size() && n.compare(n.size() - suf.size(), suf.size(), suf) == 0;
        };
        double scale = 1, offset = 0;
        if (ends("running_var")) {  // in [0.5, 1.5]
            offset = 1.0;
            scale = 0.5;
        } else if (ends("running_mean") || ends("bias")) {
            scale = 0.1;
        } else if (s.size() == 1) {  // norm weights around 1
            offset = 1.0;
            scale = 0.2;
        } else {  // conv / linear weights: uniform with variance 1/fan_in
            int64_t fan_in = 1;
            for (size_t i = 1; i < s.size(); ++i) fan_in *= s[i];
            scale = std::sqrt(3.0 / static_cast<double>(fan_in));
        }
        for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(offset + scale * hash_uniform(k, static_cast<uint64_t>(i)));
    }
    void index(const std::string&, int64_t& v) override { v = 0; }
    bool fold_batchnorm() const override { return true; }  // like load_state_dict: ConvLayers fold their BatchNorm
};

class EncoderSmoke : public ::testing::TestWithParam<std::string> {};

TEST_P(EncoderSmoke, ShapeFiniteAndThreadCountInvariant) {
    const std::string v = GetParam();
    evsam::EfficientViTSam<float> model(evsam::sam_config(v));
    FormulaInit<float> init;
    model.visit(init, "");
    evsam::Image img = evsam::load_image(std::string(EVSAM_TEST_DATA) + "/../../examples/data/chelsea.png");
    auto x = evsam::preprocess_image<float>(img.data.data(), img.height, img.width, model.cfg.resolution);

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
