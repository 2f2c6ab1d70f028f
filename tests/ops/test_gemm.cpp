// ops/gemm.hpp: the product every CPU op computes with, Eigen's GEMM with the depth cut into fixed
// chunks. It is the product (against a double naive loop, within the op entry), it is at least
// as accurate as Eigen's own single-block accumulation on a deep product (the reason it exists),
// and it accumulates, handles an empty depth and does not depend on the thread count.
#include <gtest/gtest.h>
#include <omp.h>

#include <evsam/ops/gemm.hpp>

#include <array>
#include <vector>

#include "op_test_util.hpp"

namespace {

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

evsam::Tensor<double> naive_product(const evsam::Tensor<float>& a, const evsam::Tensor<float>& b, int64_t M, int64_t K,
                                    int64_t N) {
    evsam::Tensor<double> r({M, N});
    for (int64_t m = 0; m < M; ++m)
        for (int64_t k = 0; k < K; ++k)
            for (int64_t n = 0; n < N; ++n) r[m * N + n] += static_cast<double>(a[m * K + k]) * b[k * N + n];
    return r;
}

TEST(Gemm, IsTheProduct) {
    // depths below, at and across the chunk, one output, wide and tall results
    for (auto [M, K, N] :
         std::vector<std::array<int64_t, 3>>{{7, 5, 9}, {64, 64, 33}, {17, 200, 31}, {1, 1, 1}, {3, 1000, 2}}) {
        const auto a = evsam_test::random_tensor<float>({M, K}, 81), b = evsam_test::random_tensor<float>({K, N}, 82);
        evsam::Tensor<float> y({M, N});
        evsam::gemm(Eigen::Map<Mat>(y.data(), M, N), Eigen::Map<const Mat>(a.data(), M, K),
                    Eigen::Map<const Mat>(b.data(), K, N));
        const auto r = evsam::compare(y, naive_product(a, b, M, K, N), evsam::kTolOpFloat, "gemm");
        EXPECT_TRUE(r.ok) << M << "x" << K << "x" << N << ": " << r.message;
    }
}

TEST(Gemm, AccumulatesAndHandlesAnEmptyDepth) {
    const auto a = evsam_test::random_tensor<float>({4, 100}, 83), b = evsam_test::random_tensor<float>({100, 6}, 84);
    evsam::Tensor<float> y({4, 6}, 1.0f), z({4, 6}, 5.0f);
    evsam::gemm(Eigen::Map<Mat>(y.data(), 4, 6), Eigen::Map<const Mat>(a.data(), 4, 100),
                Eigen::Map<const Mat>(b.data(), 100, 6),
                /*accumulate=*/true);
    const auto ref = naive_product(a, b, 4, 100, 6);
    evsam::Tensor<double> ref1 = ref;
    for (auto& v : ref1) v += 1.0;
    EXPECT_TRUE(evsam::compare(y, ref1, evsam::kTolOpFloat, "accumulate").ok);
    evsam::gemm(Eigen::Map<Mat>(z.data(), 4, 6), Eigen::Map<const Mat>(a.data(), 4, 0),
                Eigen::Map<const Mat>(b.data(), 0, 6));
    for (float v : z) EXPECT_EQ(v, 0.0f);  // an empty sum
}

// A 1x1 conv over 512 channels (stage 1 of L0): against fp64, the chunked accumulation is at
// least 1.5x more accurate than one running sum over the whole depth, which is what Eigen's product
// does when its depth block is the whole K (measured here: 1.4e-7 vs 4.0e-7 relative L2; Eigen's
// own product, whose depth block depends on the machine's cache sizes, 2.9e-7).
TEST(Gemm, DeepProductsAreMoreAccurateThanARunningSum) {
    const int64_t M = 64, K = 512, N = 4096;
    auto a = evsam_test::random_tensor<float>({M, K}, 85, -0.1, 0.1),
         b = evsam_test::random_tensor<float>({K, N}, 86, 0, 1);
    const auto ref = naive_product(a, b, M, K, N);
    evsam::Tensor<float> chunked({M, N}), one({M, N});
    evsam::gemm(Eigen::Map<Mat>(chunked.data(), M, N), Eigen::Map<const Mat>(a.data(), M, K),
                Eigen::Map<const Mat>(b.data(), K, N));
    for (int64_t m = 0; m < M; ++m)  // one float running sum per output, k = 0 .. K-1
        for (int64_t n = 0; n < N; ++n) {
            float acc = 0;
            for (int64_t k = 0; k < K; ++k) acc += a[m * K + k] * b[k * N + n];
            one[m * N + n] = acc;
        }
    const auto rc = evsam::compare(chunked, ref, evsam::kTolOpFloat, "chunked");
    const auto r1 = evsam::compare(one, ref, evsam::kTolOpFloat, "one running sum");
    EXPECT_TRUE(rc.ok) << rc.message;
    EXPECT_LT(rc.rel_l2 * 1.5, r1.rel_l2) << rc.message << " | " << r1.message;
    std::cout << rc.message << "\n" << r1.message << "\n";
}

}  // namespace
