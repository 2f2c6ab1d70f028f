// ops/norm.hpp: BatchNorm2d (PyTorch's formula vs the folded alpha/beta form), LayerNorm2d (the
// SIMD path is the reference's arithmetic in the reference's order: bit for bit) and LayerNorm over
// the last dim (SIMD partial sums vs the scalar loop).
#include <gtest/gtest.h>

#include <evsam/ops/norm.hpp>

#include <array>
#include <vector>

#include "op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_norm {

namespace {

using evsam_test::random_tensor;

template <class T>
void check_batchnorm() {
    for (auto [N, C, P] : std::vector<std::array<int64_t, 3>>{{2, 5, 21}, {1, 64, 256}, {1, 1, 1}}) {
        const auto x = random_tensor<T>({N, C, P}, 1, -3, 3), w = random_tensor<T>({C}, 2),
                   b = random_tensor<T>({C}, 3), mean = random_tensor<T>({C}, 4),
                   var = random_tensor<T>({C}, 5, 0.1, 2);
        evsam::Tensor<T> ref = x, fast = x;
        evsam::batchnorm2d_forward_naive(ref.data(), w.data(), b.data(), mean.data(), var.data(), 1e-5, N, C, P);
        evsam::batchnorm2d_forward(fast.data(), w.data(), b.data(), mean.data(), var.data(), 1e-5, N, C, P,
                                   evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::close(fast, ref, "batchnorm2d"));
    }
}
TEST(BatchNorm2d, FoldedFormMatchesNaiveFloat) { check_batchnorm<float>(); }
TEST(BatchNorm2d, FoldedFormMatchesNaiveDouble) { check_batchnorm<double>(); }

TEST(LayerNorm2d, FastEqualsNaive) {
    for (auto [N, C, P] : std::vector<std::array<int64_t, 3>>{{1, 256, 4096}, {2, 7, 37}, {1, 3, 5}, {1, 32, 16}}) {
        const auto x = random_tensor<float>({N, C, P}, 3, -3, 3), w = random_tensor<float>({C}, 4, -3, 3),
                   b = random_tensor<float>({C}, 5, -3, 3);
        evsam::Tensor<float> ref = x, fast = x;
        evsam::layernorm2d_forward_naive(ref.data(), w.data(), b.data(), 1e-6, N, C, P);
        evsam::layernorm2d_forward(fast.data(), w.data(), b.data(), 1e-6, N, C, P, evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::bitwise_equal(fast, ref)) << N << "x" << C << "x" << P;
    }
}

template <class T>
void check_layernorm() {
    for (auto [M, D] : std::vector<std::array<int64_t, 2>>{{4096, 256}, {7, 256}, {5, 37}, {3, 3}}) {
        const auto x = random_tensor<T>({M, D}, 13, -3, 3), w = random_tensor<T>({D}, 14, -3, 3),
                   b = random_tensor<T>({D}, 15, -3, 3);
        evsam::Tensor<T> ref = x, fast = x;
        evsam::layernorm_forward_naive(ref.data(), w.data(), b.data(), 1e-6, M, D);
        evsam::layernorm_forward(fast.data(), w.data(), b.data(), 1e-6, M, D, evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::close(fast, ref, "layernorm"));
    }
}
TEST(LayerNorm, FastMatchesNaiveFloat) { check_layernorm<float>(); }
TEST(LayerNorm, FastMatchesNaiveDouble) { check_layernorm<double>(); }

}  // namespace

}  // namespace test_norm
