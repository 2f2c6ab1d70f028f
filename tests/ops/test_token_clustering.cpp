// ops/token_clustering.hpp: Expedit-SAM's token clustering (soft k-means in each window) and token
// reconstruction (top-k weights, L2-normalised), the GEMM kernels against the scalar references,
// in float and double: the default shapes (14x14 windows into 10x10 clusters, 196 tokens from 100
// centres), no iterations (the adaptive-pool centres alone), more clusters than tokens, a
// neighbourhood of one cluster, k = 1 and k = all; and the results do not depend on the thread count.
// Upstream agreement is tests/model/test_hourglass_tiny.cpp's.
#include <gtest/gtest.h>
#include <omp.h>

#include <evsam/ops/token_clustering.hpp>

#include <array>

#include "op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_token_clustering {

namespace {

using evsam_test::random_tensor;

// N windows, S side, C channels, g clusters per side, iterations, temperature, r
struct ClusterCase {
    int64_t N, S, C, g, iters;
    double tau;
    int64_t r;
};
const ClusterCase kClusterCases[] = {
    {3, 14, 16, 10, 5, 0.01, 2},  // upstream's defaults on SAM's 14-windows
    {2, 7, 8, 3, 0, 1.0, 0},      // no iteration: the adaptive-average-pool centres
    {1, 5, 4, 7, 2, 0.5, 1},      // more clusters than tokens (nearest labels skip some)
    {2, 9, 12, 9, 3, 2.0, 0},     // one cluster per token's neighbourhood: hard assignments
};

template <class T>
void check_clustering(const ClusterCase& c) {
    auto x = random_tensor<T>({c.N, c.S * c.S, c.C}, 51, -2, 2);
    evsam::Tensor<T> ref({c.N, c.g * c.g, c.C}), fast({c.N, c.g * c.g, c.C});
    evsam::token_clustering_forward_naive(ref.data(), x.data(), c.N, c.S, c.C, c.g, c.iters, c.tau, c.r);
    evsam::token_clustering_forward(fast.data(), x.data(), c.N, c.S, c.C, c.g, c.iters, c.tau, c.r,
                                    evsam::backend::cpu{});
    EXPECT_TRUE(evsam_test::close(fast, ref, "token_clustering"))
        << c.N << " windows " << c.S << "x" << c.S << " C " << c.C << " into " << c.g << "x" << c.g;
}

TEST(TokenClustering, FastMatchesNaiveFloat) {
    for (const auto& c : kClusterCases) check_clustering<float>(c);
}
TEST(TokenClustering, FastMatchesNaiveDouble) {
    for (const auto& c : kClusterCases) check_clustering<double>(c);
}

// No iteration leaves the adaptive-average-pool centres: 4x4 -> 3x3 has overlapping bins
// [0, 2), [1, 3), [2, 4) (torch's floor / ceil), so the middle centre averages tokens 5, 6, 9, 10.
TEST(TokenClustering, NoIterationIsAdaptiveAveragePooling) {
    auto x = random_tensor<double>({1, 16, 1}, 52);
    evsam::Tensor<double> c({1, 9, 1});
    evsam::token_clustering_forward(c.data(), x.data(), 1, 4, 1, 3, 0, 0.01, 2, evsam::backend::cpu{});
    EXPECT_DOUBLE_EQ(c[4], (x[5] + x[6] + x[9] + x[10]) / 4);
    EXPECT_DOUBLE_EQ(c[0], (x[0] + x[1] + x[4] + x[5]) / 4);
}

// N windows, L tokens, K centres, C channels, k, temperature
struct ReconCase {
    int64_t N, L, K, C, k;
    double tau;
};
const ReconCase kReconCases[] = {
    {3, 196, 100, 16, 20, 0.01},  // upstream's defaults
    {2, 49, 9, 8, 9, 0.5},        // k = every centre
    {1, 25, 49, 4, 1, 1.0},       // k = 1
    {2, 81, 36, 12, 5, 0.05},
};

template <class T>
void check_reconstruction(const ReconCase& c) {
    auto feat = random_tensor<T>({c.N, c.L, c.C}, 61, -2, 2);
    auto sfeat = random_tensor<T>({c.N, c.K, c.C}, 62, -2, 2);
    auto x = random_tensor<T>({c.N, c.K, c.C}, 63, -2, 2);
    evsam::Tensor<T> ref({c.N, c.L, c.C}), fast({c.N, c.L, c.C});
    evsam::token_reconstruction_forward_naive(ref.data(), x.data(), feat.data(), sfeat.data(), c.N, c.L, c.K, c.C, c.k,
                                              c.tau);
    evsam::token_reconstruction_forward(fast.data(), x.data(), feat.data(), sfeat.data(), c.N, c.L, c.K, c.C, c.k,
                                        c.tau, evsam::backend::cpu{});
    EXPECT_TRUE(evsam_test::close(fast, ref, "token_reconstruction"))
        << c.N << " windows " << c.L << " tokens from " << c.K << " centres, k " << c.k;
}

TEST(TokenReconstruction, FastMatchesNaiveFloat) {
    for (const auto& c : kReconCases) check_reconstruction<float>(c);
}
TEST(TokenReconstruction, FastMatchesNaiveDouble) {
    for (const auto& c : kReconCases) check_reconstruction<double>(c);
}

// k = 1 copies the nearest centre's clustered token (its weight normalised to 1).
TEST(TokenReconstruction, KOneTakesTheNearestCentre) {
    auto feat = random_tensor<double>({1, 6, 3}, 64), sfeat = random_tensor<double>({1, 4, 3}, 65);
    auto x = random_tensor<double>({1, 4, 3}, 66);
    evsam::Tensor<double> out({1, 6, 3});
    evsam::token_reconstruction_forward_naive(out.data(), x.data(), feat.data(), sfeat.data(), 1, 6, 4, 3, 1, 0.01);
    for (int64_t p = 0; p < 6; ++p) {
        int64_t best = 0;
        double bd = 1e300;
        for (int64_t m = 0; m < 4; ++m) {
            double d = 0;
            for (int64_t c = 0; c < 3; ++c)
                d += (feat[p * 3 + c] - sfeat[m * 3 + c]) * (feat[p * 3 + c] - sfeat[m * 3 + c]);
            if (d < bd) bd = d, best = m;
        }
        for (int64_t c = 0; c < 3; ++c) EXPECT_NEAR(out[p * 3 + c], x[best * 3 + c], 1e-15) << p;
    }
}

TEST(TokenClustering, ThreadCountDoesNotChangeResults) {
    auto x = random_tensor<float>({6, 196, 16}, 71);
    evsam::Tensor<float> a({6, 100, 16}), b({6, 100, 16}), ra({6, 196, 16}), rb({6, 196, 16});
    omp_set_num_threads(1);
    evsam::token_clustering_forward(a.data(), x.data(), 6, 14, 16, 10, 5, 0.01, 2, evsam::backend::cpu{});
    evsam::token_reconstruction_forward(ra.data(), a.data(), x.data(), a.data(), 6, 196, 100, 16, 20, 0.01,
                                        evsam::backend::cpu{});
    omp_set_num_threads(2);
    evsam::token_clustering_forward(b.data(), x.data(), 6, 14, 16, 10, 5, 0.01, 2, evsam::backend::cpu{});
    evsam::token_reconstruction_forward(rb.data(), b.data(), x.data(), b.data(), 6, 196, 100, 16, 20, 0.01,
                                        evsam::backend::cpu{});
    EXPECT_TRUE(evsam_test::bitwise_equal(b, a));
    EXPECT_TRUE(evsam_test::bitwise_equal(rb, ra));
}

}  // namespace

}  // namespace test_token_clustering
