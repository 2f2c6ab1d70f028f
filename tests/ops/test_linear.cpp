// ops/linear.hpp: nn.Linear (Eigen GEMM on fixed row blocks) and the batched matmul of the mask
// decoder (hyper_in @ upscaled_embedding), against their scalar loops.
#include <gtest/gtest.h>
#include <omp.h>

#include <evsam/ops/linear.hpp>

#include <array>
#include <vector>

#include "op_test_util.hpp"

namespace {

using evsam_test::random_tensor;

template <class T>
void check_linear() {
    // rows below, at and above the 256-row block; SAM's dims and odd ones; with and without bias
    for (auto [M, IN, OUT] :
         std::vector<std::array<int64_t, 3>>{{7, 256, 128}, {4096, 256, 128}, {257, 33, 5}, {1, 1, 1}})
        for (bool bias : {true, false}) {
            const auto x = random_tensor<T>({M, IN}, 41), w = random_tensor<T>({OUT, IN}, 42),
                       b = random_tensor<T>({OUT}, 43);
            evsam::Tensor<T> ref({M, OUT}), fast({M, OUT});
            evsam::linear_forward_naive(ref.data(), x.data(), w.data(), bias ? b.data() : nullptr, M, IN, OUT);
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
