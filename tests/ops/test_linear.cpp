// ops/linear.hpp: nn.Linear (Eigen GEMM on fixed row blocks) and the batched matmul of the mask
// decoder (hyper_in @ upscaled_embedding), against their scalar loops.
#include <gtest/gtest.h>
#include <omp.h>

#include <evsam/ops/linear.hpp>

#include <array>
#include <vector>

#include "op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_linear {

namespace {

using evsam_test::random_tensor;

template <class T>
void check_linear() {
    // rows below, at and above the 256-row block; SAM's dims and odd ones; with and without bias
    for (auto [M, IN, OUT] :
         std::vector<std::array<int64_t, 3>>{{7, 256, 128},
                                             {4096, 256, 128},
                                             {257, 33, 5},
                                             {1, 1, 1},
                                             // the GEMV path (<= 8 rows, >= 2^20 weights): a ClsHead's
                                             // LinearLayers on 1 and 3 images, an odd output count
                                             {1, 1536, 1600},
                                             {3, 1600, 1000},
                                             {8, 1031, 1017},
                                             {9, 1031, 1017}})
        for (bool bias : {true, false}) {
            const auto x = random_tensor<T>({M, IN}, 41), w = random_tensor<T>({OUT, IN}, 42),
                       b = random_tensor<T>({OUT}, 43);
            // the reference in double from the same values: a float loop over 1500 terms would itself be
            // off by about as much as the tolerance
            auto up = [](const evsam::Tensor<T>& t) {
                evsam::Tensor<double> d(t.shape());
                for (int64_t i = 0; i < t.numel(); ++i) d.data()[i] = static_cast<double>(t.data()[i]);
                return d;
            };
            const auto xd = up(x), wd = up(w), bd = up(b);
            evsam::Tensor<double> ref({M, OUT});
            evsam::Tensor<T> fast({M, OUT});
            evsam::linear_forward_naive(ref.data(), xd.data(), wd.data(), bias ? bd.data() : nullptr, M, IN, OUT);
            evsam::linear_forward(fast.data(), x.data(), w.data(), bias ? b.data() : nullptr, M, IN, OUT,
                                  evsam::backend::cpu{});
            EXPECT_TRUE(evsam_test::close(fast, ref, "linear"))
                << M << "x" << IN << "->" << OUT << (bias ? " bias" : "");
        }
}
TEST(Linear, FastMatchesNaiveFloat) { check_linear<float>(); }
TEST(Linear, FastMatchesNaiveDouble) { check_linear<double>(); }

TEST(Linear, ThreadCountDoesNotChangeResults) {
    const auto x = random_tensor<float>({1000, 64}, 1), w = random_tensor<float>({48, 64}, 2),
               b = random_tensor<float>({48}, 3);
    evsam::Tensor<float> a({1000, 48}), c({1000, 48});
    omp_set_num_threads(1);
    evsam::linear_forward(a.data(), x.data(), w.data(), b.data(), 1000, 64, 48, evsam::backend::cpu{});
    omp_set_num_threads(2);
    evsam::linear_forward(c.data(), x.data(), w.data(), b.data(), 1000, 64, 48, evsam::backend::cpu{});
    EXPECT_TRUE(evsam_test::bitwise_equal(a, c));
}

// The GEMV path too: its output blocks are fixed, whatever the thread count.
TEST(Linear, GemvThreadCountDoesNotChangeResults) {
    const auto x = random_tensor<float>({2, 1536}, 4), w = random_tensor<float>({1600, 1536}, 5),
               b = random_tensor<float>({1600}, 6);
    evsam::Tensor<float> a({2, 1600}), c({2, 1600});
    omp_set_num_threads(1);
    evsam::linear_forward(a.data(), x.data(), w.data(), b.data(), 2, 1536, 1600, evsam::backend::cpu{});
    omp_set_num_threads(2);
    evsam::linear_forward(c.data(), x.data(), w.data(), b.data(), 2, 1536, 1600, evsam::backend::cpu{});
    EXPECT_TRUE(evsam_test::bitwise_equal(a, c));
}

template <class T>
void check_bmm() {
    // the decoder's shape (4 masks x 32 channels x 256^2 pixels: several column blocks), odd ones
    for (auto [B, M, K, P] : std::vector<std::array<int64_t, 4>>{{2, 4, 32, 65536}, {3, 5, 7, 1025}, {1, 1, 1, 1}}) {
        const auto a = random_tensor<T>({B, M, K}, 51), x = random_tensor<T>({B, K, P}, 52);
        evsam::Tensor<T> ref({B, M, P}), fast({B, M, P});
        evsam::bmm_forward_naive(ref.data(), a.data(), x.data(), B, M, K, P);
        evsam::bmm_forward(fast.data(), a.data(), x.data(), B, M, K, P, evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::close(fast, ref, "bmm")) << B << "x" << M << "x" << K << "x" << P;
    }
}
TEST(Bmm, FastMatchesNaiveFloat) { check_bmm<float>(); }
TEST(Bmm, FastMatchesNaiveDouble) { check_bmm<double>(); }

}  // namespace

}  // namespace test_linear
