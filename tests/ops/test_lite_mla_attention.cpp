// ops/lite_mla_attention.hpp: LiteMLA's linear and quadratic attention, the GEMM paths against
// the scalar loops, for the head sizes of the L/XL models (dim 32) and odd ones, maps smaller and
// larger than a GEMM block.
#include <gtest/gtest.h>

#include <evsam/ops/lite_mla_attention.hpp>

#include <array>
#include <vector>

#include "op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_lite_mla_attention {

namespace {

template <class T>
void check_linear() {
    for (auto [B, NH, D, N] :
         std::vector<std::array<int64_t, 4>>{{1, 2, 32, 256}, {2, 3, 8, 37}, {1, 1, 5, 6}, {1, 4, 16, 1024}}) {
        const auto qkv = evsam_test::random_tensor<T>({B, NH * 3 * D, N}, 21);
        evsam::Tensor<T> ref({B, NH * D, N}), fast({B, NH * D, N});
        evsam::relu_linear_att_forward_naive(ref.data(), qkv.data(), B, NH, D, N, 1e-15);
        evsam::relu_linear_att_forward(fast.data(), qkv.data(), B, NH, D, N, 1e-15, evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::close(fast, ref, "relu_linear_att"));
    }
}
TEST(LiteMLAAttention, LinearFastMatchesNaiveFloat) { check_linear<float>(); }
TEST(LiteMLAAttention, LinearFastMatchesNaiveDouble) { check_linear<double>(); }

// The quadratic form (H*W <= dim: a late stage at a small input), up to the largest N it is used at:
// the fused kernel against upstream's statements on materialised tensors, summed in the same order.
template <class T>
void check_quadratic() {
    for (auto [B, NH, D, N] :
         std::vector<std::array<int64_t, 4>>{{1, 2, 32, 16}, {2, 3, 16, 9}, {1, 1, 5, 1}, {1, 4, 32, 32}}) {
        const auto qkv = evsam_test::random_tensor<T>({B, NH * 3 * D, N}, 22);
        evsam::Tensor<T> ref({B, NH * D, N}), fast({B, NH * D, N});
        evsam::relu_quadratic_att_forward_naive(ref.data(), qkv.data(), B, NH, D, N, 1e-15);
        evsam::relu_quadratic_att_forward(fast.data(), qkv.data(), B, NH, D, N, 1e-15, evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::bitwise_equal(fast, ref)) << B << "x" << NH << "x" << D << "x" << N;
    }
}
TEST(LiteMLAAttention, QuadraticKernelEqualsNaiveFloat) { check_quadratic<float>(); }
TEST(LiteMLAAttention, QuadraticKernelEqualsNaiveDouble) { check_quadratic<double>(); }

}  // namespace

}  // namespace test_lite_mla_attention
