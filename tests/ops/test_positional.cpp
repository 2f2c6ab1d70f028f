// ops/positional.hpp: SAM's random-Fourier positional encoding. The dense grid computed in place
// equals upstream's algorithm (cumsum grid, normalise, encode, permute) bit for bit; the point
// encoding agrees with the formula evaluated in double; the prompt embedding's label step and
// coordinate normalisation follow upstream's statements.
#include <gtest/gtest.h>

#include <evsam/ops/positional.hpp>

#include <array>
#include <cmath>
#include <vector>

#include "op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_positional {

namespace {

using evsam_test::random_tensor;

template <class T>
void check_dense_pe() {
    for (auto [h, w, F] : std::vector<std::array<int64_t, 3>>{{64, 64, 128}, {5, 9, 3}, {1, 1, 1}}) {
        const auto G = random_tensor<T>({2, F}, 61, -3, 3);
        evsam::Tensor<T> ref({2 * F, h, w}), fast({2 * F, h, w});
        evsam::dense_pe_forward_naive(ref.data(), G.data(), h, w, F);
        evsam::dense_pe_forward(fast.data(), G.data(), h, w, F, evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::bitwise_equal(fast, ref)) << h << "x" << w << " F=" << F;
    }
}
TEST(PositionalEncoding, DenseGridEqualsUpstreamsAlgorithmFloat) { check_dense_pe<float>(); }
TEST(PositionalEncoding, DenseGridEqualsUpstreamsAlgorithmDouble) { check_dense_pe<double>(); }

// [sin, cos](2 pi ((2 xy - 1) @ G)) in double, against the float op.
TEST(PositionalEncoding, PointsMatchTheFormula) {
    const int64_t M = 37, F = 128;
    const auto G = random_tensor<float>({2, F}, 62, -3, 3), xy = random_tensor<float>({M, 2}, 63, 0, 1);
    evsam::Tensor<float> out({M, 2 * F});
    evsam::pe_encoding_forward(out.data(), xy.data(), G.data(), M, F, evsam::backend::cpu{});
    evsam::Tensor<double> ref({M, 2 * F});
    for (int64_t m = 0; m < M; ++m)
        for (int64_t f = 0; f < F; ++f) {
            const double c =
                2 * 3.141592653589793 * ((2.0 * xy[2 * m] - 1) * G[f] + (2.0 * xy[2 * m + 1] - 1) * G[F + f]);
            ref[m * 2 * F + f] = std::sin(c);
            ref[m * 2 * F + F + f] = std::cos(c);
        }
    const auto r = evsam::compare(out, ref, evsam::kTolOpFloat, "pe_encoding");
    EXPECT_TRUE(r.ok) << r.message;
}

TEST(PositionalEncoding, CoordinatesAreDividedByTheImageSize) {
    const auto xy = random_tensor<float>({5, 2}, 64, 0, 1024);
    evsam::Tensor<float> out({5, 2}), ref({5, 2});
    for (int64_t m = 0; m < 5; ++m) ref[2 * m] = xy[2 * m] / 1024.0f, ref[2 * m + 1] = xy[2 * m + 1] / 768.0f;
    evsam::normalize_coords_forward(out.data(), xy.data(), 5, 768, 1024, evsam::backend::cpu{});
    EXPECT_TRUE(evsam_test::bitwise_equal(out, ref));
}

// point_embedding[labels == -1] = 0 (+ not_a_point_embed); labels 0 / 1 add the neg / pos embedding.
TEST(PromptEmbedding, LabelStepFollowsUpstream) {
    const int64_t E = 6;
    const auto emb0 = random_tensor<float>({4, E}, 65), nap = random_tensor<float>({E}, 66),
               neg = random_tensor<float>({E}, 67), pos = random_tensor<float>({E}, 68);
    const evsam::Tensor<float> labels({4}, 0.0f);
    evsam::Tensor<float> lab = labels;
    lab[0] = -1, lab[1] = 0, lab[2] = 1, lab[3] = 1;
    evsam::Tensor<float> emb = emb0;
    evsam::point_label_embed_forward(emb.data(), lab.data(), nap.data(), neg.data(), pos.data(), 4, E,
                                     evsam::backend::cpu{});
    for (int64_t c = 0; c < E; ++c) {
        EXPECT_EQ(emb[c], nap[c]);
        EXPECT_EQ(emb[E + c], emb0[E + c] + neg[c]);
        EXPECT_EQ(emb[2 * E + c], emb0[2 * E + c] + pos[c]);
        EXPECT_EQ(emb[3 * E + c], emb0[3 * E + c] + pos[c]);
    }
    lab[2] = 2;  // not a label
    EXPECT_THROW(evsam::point_label_embed_forward(emb.data(), lab.data(), nap.data(), neg.data(), pos.data(), 4, E,
                                                  evsam::backend::cpu{}),
                 evsam::Error);
}

}  // namespace

}  // namespace test_positional
