// ops/simd.hpp: the vector-lane sum the softmaxes normalise with. It is the sum (against double,
// ragged tails included), and on a softmax row of 4096 keys it is more accurate than one running
// sum: its partial sums hold 4096 / V terms (measured here, float: see the printed errors).
#include <gtest/gtest.h>

#include <evsam/ops/simd.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_simd {

namespace {

TEST(SimdSum, IsTheSum) {
    for (int64_t n : {0, 1, 7, 16, 17, 100, 4096, 4099}) {
        const auto x = evsam_test::random_tensor<float>({std::max<int64_t>(n, 1)}, 91, -1, 1);
        double ref = 0;
        for (int64_t i = 0; i < n; ++i) ref += x[i];
        const float s = evsam::simd::sum(x.data(), n);
        EXPECT_NEAR(s, ref, evsam::kTolOpFloat.atol + evsam::kTolOpFloat.rtol * std::abs(ref)) << n;
        EXPECT_EQ(s, evsam::simd::sum(x.data(), n)) << "deterministic";
    }
}

// The exps of a softmax row over 4096 keys (all positive, up to 1): the lane sum's error against
// double is below a running sum's, over 64 such rows.
TEST(SimdSum, SoftmaxRowsAreMoreAccurateThanARunningSum) {
    double err_lanes = 0, err_running = 0;
    for (uint32_t seed = 0; seed < 64; ++seed) {
        auto x = evsam_test::random_tensor<float>({4096}, 100 + seed, -8, 0);
        for (auto& v : x) v = std::exp(v);
        double ref = 0;
        float running = 0;
        for (float v : x) ref += v, running += v;
        err_lanes += std::abs(evsam::simd::sum(x.data(), 4096) - ref) / ref;
        err_running += std::abs(running - ref) / ref;
    }
    std::cout << "mean relative error: lanes " << err_lanes / 64 << ", running sum " << err_running / 64 << "\n";
    EXPECT_LT(err_lanes * 2, err_running);
}

// simd::copy copies exactly n values (every length around the vector width, -0 and NaN kept) and
// writes nothing past them.
TEST(SimdCopy, CopiesExactlyN) {
    for (int64_t n = 0; n <= 50; ++n) {
        auto src = evsam_test::random_tensor<float>({n + 1}, 20 + static_cast<uint32_t>(n), -1, 1);
        src[0] = -0.0f;
        if (n > 2) src[2] = std::numeric_limits<float>::quiet_NaN();
        std::vector<float> dst(static_cast<size_t>(n + 8), 7.0f);
        evsam::simd::copy(dst.data() + 1, src.data(), n);
        EXPECT_EQ(dst[0], 7.0f) << n;
        for (int64_t i = 0; i < n; ++i)
            EXPECT_EQ(std::memcmp(&dst[static_cast<size_t>(i + 1)], &src[i], sizeof(float)), 0) << n << " " << i;
        for (int64_t i = n + 1; i < n + 8; ++i) EXPECT_EQ(dst[static_cast<size_t>(i)], 7.0f) << n << " " << i;
    }
}

// simd::map2 gives f of the two sources' values at every index, for every length around the vector
// width (the tail through its buffers), in place over its first source too, and writes nothing past n.
TEST(SimdMap2, MapsEveryPairOnce) {
    using V = evsam::simd::vec<float>;
    auto f = [](V a, V b) { return a * V(3.0f) - b; };
    for (int64_t n = 0; n <= 50; ++n) {
        const auto a = evsam_test::random_tensor<float>({n + 1}, 40 + static_cast<uint32_t>(n), -1, 1),
                   b = evsam_test::random_tensor<float>({n + 1}, 90 + static_cast<uint32_t>(n), -1, 1);
        std::vector<float> dst(static_cast<size_t>(n + 8), 7.0f), inplace(a.begin(), a.end());
        evsam::simd::map2(dst.data(), a.data(), b.data(), n, f);
        evsam::simd::map2(inplace.data(), inplace.data(), b.data(), n, f);
        for (int64_t i = 0; i < n; ++i) {
            const volatile float p = a[i] * 3.0f;  // the vector's two roundings
            EXPECT_EQ(dst[static_cast<size_t>(i)], p - b[i]) << n << " " << i;
            EXPECT_EQ(inplace[static_cast<size_t>(i)], dst[static_cast<size_t>(i)]) << n << " " << i;
        }
        for (int64_t i = n; i < n + 8; ++i) EXPECT_EQ(dst[static_cast<size_t>(i)], 7.0f) << n << " " << i;
        EXPECT_EQ(inplace[static_cast<size_t>(n)], a[n]) << n;
    }
}

// simd::fma and fnma round once, as std::fma does, on every lane: a multiply and an add (xsimd 8.1's
// AVX-512 fallback under -ffp-contract=off) round twice and differ on most random lanes.
template <class T>
void check_fma_rounds_once() {
    using V = evsam::simd::vec<T>;
    constexpr int64_t W = evsam::simd::width<T>;
    const int64_t n = 64 * W;
    const auto a = evsam_test::random_tensor<float>({n}, 11, -2, 2),
               b = evsam_test::random_tensor<float>({n}, 12, -2, 2),
               c = evsam_test::random_tensor<float>({n}, 13, -2, 2);
    int64_t differs_from_two_roundings = 0;
    for (int64_t i = 0; i < n; i += W) {
        alignas(64) T x[W], y[W], z[W], f[W], g[W];
        for (int64_t j = 0; j < W; ++j) {  // in double, products that need more than 53 bits
            x[j] = static_cast<T>(a[i + j]) * static_cast<T>(1 + 1e-7 * (j + 1));
            y[j] = static_cast<T>(b[i + j]) * static_cast<T>(1 - 1e-7 * (j + 1));
            z[j] = static_cast<T>(c[i + j]);
        }
        evsam::simd::fma(V::load_aligned(x), V::load_aligned(y), V::load_aligned(z)).store_aligned(f);
        evsam::simd::fnma(V::load_aligned(x), V::load_aligned(y), V::load_aligned(z)).store_aligned(g);
        for (int64_t j = 0; j < W; ++j) {
            EXPECT_EQ(f[j], std::fma(x[j], y[j], z[j])) << i + j;
            EXPECT_EQ(g[j], std::fma(-x[j], y[j], z[j])) << i + j;
            const volatile T p = x[j] * y[j];  // rounded on its own
            differs_from_two_roundings += f[j] != p + z[j];
        }
    }
    EXPECT_GT(differs_from_two_roundings, n / 10) << "the inputs do not tell one rounding from two";
}
TEST(SimdFma, RoundsOnceFloat) {
#if defined(__FMA__) || defined(__AVX512F__)
    check_fma_rounds_once<float>();
#else
    GTEST_SKIP() << "skipped: the build has no FMA instruction";
#endif
}
TEST(SimdFma, RoundsOnceDouble) {
#if defined(__FMA__) || defined(__AVX512F__)
    check_fma_rounds_once<double>();
#else
    GTEST_SKIP() << "skipped: the build has no FMA instruction";
#endif
}

}  // namespace

}  // namespace test_simd
