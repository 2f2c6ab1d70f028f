// distance_transform_l2_forward (cv2.distanceTransform DIST_L2, mask size 0) against its naive
// reference, the minimum over every 0 pixel: bit for bit, on random masks of many densities and
// shapes, single rows and columns, no 0 pixel at all, and one 0 pixel.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "evsam/ops/distance_transform.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_distance_transform {

namespace {

void expect_same_as_naive(const std::vector<uint8_t>& m, int64_t H, int64_t W, const std::string& what) {
    std::vector<float> fast(m.size()), naive(m.size());
    evsam::distance_transform_l2_forward(fast.data(), m.data(), H, W, evsam::backend::cpu{});
    evsam::distance_transform_l2_naive(naive.data(), m.data(), H, W);
    for (size_t i = 0; i < m.size(); ++i)
        ASSERT_EQ(fast[i], naive[i]) << what << " " << H << "x" << W << " at (" << i / W << ", " << i % W << ")";
}

TEST(DistanceTransform, MatchesTheNaiveMinimumBitForBit) {
    std::mt19937 rng(7);
    for (int t = 0; t < 60; ++t) {
        const int64_t H = 1 + rng() % 40, W = 1 + rng() % 40;
        const double density = std::vector<double>{0.01, 0.05, 0.3, 0.7, 0.97}[t % 5];  // of nonzero pixels
        std::vector<uint8_t> m(static_cast<size_t>(H * W));
        for (auto& v : m) v = std::uniform_real_distribution<double>(0, 1)(rng) < density ? 255 : 0;
        expect_same_as_naive(m, H, W, "random " + std::to_string(density));
    }
}

TEST(DistanceTransform, EdgeCases) {
    std::vector<uint8_t> m(64 * 48, 1);
    m[10 * 48 + 7] = 0;  // one 0 pixel: the Euclidean distance to it everywhere
    expect_same_as_naive(m, 64, 48, "one zero");
    std::vector<float> d(m.size());
    evsam::distance_transform_l2_forward(d.data(), m.data(), 64, 48, evsam::backend::cpu{});
    EXPECT_EQ(d[63 * 48 + 47], std::sqrt(static_cast<float>(53 * 53 + 40 * 40)));
    std::vector<uint8_t> ones(30, 1);  // no 0 pixel: +inf, as the naive minimum over nothing
    for (auto [H, W] : {std::pair<int64_t, int64_t>{1, 30}, {30, 1}, {5, 6}}) {
        expect_same_as_naive(ones, H, W, "no zero");
        std::vector<float> o(30);
        evsam::distance_transform_l2_forward(o.data(), ones.data(), H, W, evsam::backend::cpu{});
        EXPECT_TRUE(std::isinf(o[0]));
    }
    std::vector<uint8_t> row = {1, 1, 0, 1, 1, 1, 0, 1};  // single row and column
    expect_same_as_naive(row, 1, 8, "row");
    expect_same_as_naive(row, 8, 1, "column");
    std::vector<uint8_t> zeros(12, 0);
    expect_same_as_naive(zeros, 3, 4, "all zero");
}

TEST(DistanceTransform, LargeMapIsThreadedAndStillExact) {  // above the size where the loops go parallel
    const int64_t H = 300, W = 260;
    std::vector<uint8_t> m(static_cast<size_t>(H * W), 1);
    std::mt19937 rng(3);
    for (int k = 0; k < 25; ++k) m[rng() % m.size()] = 0;
    std::vector<float> fast(m.size());
    evsam::distance_transform_l2_forward(fast.data(), m.data(), H, W, evsam::backend::cpu{});
    // the naive minimum on a sample of pixels (all 78000 would take seconds)
    for (int s = 0; s < 2000; ++s) {
        const int64_t i = rng() % (H * W), y = i / W, x = i % W;
        int64_t best = -1;
        for (int64_t j = 0; j < H * W; ++j)
            if (m[j] == 0) {
                const int64_t d2 = (y - j / W) * (y - j / W) + (x - j % W) * (x - j % W);
                if (best < 0 || d2 < best) best = d2;
            }
        ASSERT_EQ(fast[i], std::sqrt(static_cast<float>(best))) << "(" << y << ", " << x << ")";
    }
}

}  // namespace

}  // namespace test_distance_transform
