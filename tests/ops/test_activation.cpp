// ops/activation.hpp: the SIMD activations against the scalar formulas (every kind, lengths around
// the vector width and the parallel chunk, float and double); threshold and add against their
// element formulas.
#include <gtest/gtest.h>

#include <evsam/ops/activation.hpp>

#include <cmath>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif
#include <limits>
#include <string>
#include <vector>

#include "op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_activation {

namespace {

template <class T>
void check_activations() {
    using evsam::Act;
    for (Act a : {Act::relu, Act::relu6, Act::hswish, Act::silu, Act::gelu_tanh, Act::gelu_erf})
        for (int64_t n : {1, 7, 16, 17, 33, 16384 + 5, 40000}) {
            evsam::Tensor<T> ref = evsam_test::random_tensor<T>({n}, 5, -8, 8);
            ref[0] = n > 1 ? T(0) : T(1.5);  // compare() refuses an all-zero reference
            evsam::Tensor<T> fast = ref;
            evsam::activation_forward_naive(ref.data(), n, a);
            evsam::activation_forward(fast.data(), n, a, evsam::backend::cpu{});
            EXPECT_TRUE(evsam_test::close(fast, ref, "activation " + std::to_string(static_cast<int>(a))))
                << " n=" << n;
        }
}
TEST(Activation, FastMatchesNaiveFloat) { check_activations<float>(); }
TEST(Activation, FastMatchesNaiveDouble) { check_activations<double>(); }

// fast precision's tanh-GELU (gelu_tanh_approx) against the formula in long double: within its
// documented bounds (measured 1.4e-5 max relative, 2.0e-8 relative L2 on AVX-512) down to
// x = -9.5, where 2^t reaches the clamp; below it about 0, and IEEE ends as gelu_tanh's.
TEST(Activation, FastGeluWithinItsBound) {
    constexpr int64_t V = evsam::simd::width<float>;
    std::vector<float> xs;
    for (int64_t i = 0; i <= 200000; ++i) xs.push_back(static_cast<float>(-9.5 + 21.5 * i / 200000.0));
    while (xs.size() % V) xs.push_back(0.0f);
    double max_rel = 0, e2 = 0, r2 = 0;
    for (size_t i = 0; i < xs.size(); i += V) {
        alignas(64) float y[V];
        evsam::gelu_tanh_approx(evsam::simd::vec<float>::load_unaligned(&xs[i])).store_aligned(y);
        for (int64_t j = 0; j < V; ++j) {
            const long double x = xs[i + j];
            // x sigmoid(2u): 0.5 x (1 + tanh u) cancels to 0 below x = -7.7, even in long double
            const long double r = x / (1 + std::exp(-2 * 0.7978845608028654L * (x + 0.044715L * x * x * x)));
            const double d = static_cast<double>(y[j] - r);
            if (r != 0) max_rel = std::max(max_rel, std::fabs(d / static_cast<double>(r)));
            e2 += d * d, r2 += static_cast<double>(r * r);
        }
    }
    EXPECT_LE(max_rel, 2e-5);
    EXPECT_LE(std::sqrt(e2 / r2), 4e-8);
    alignas(64) float x[V], y[V];
    for (int64_t j = 0; j < V; ++j) x[j] = -9.5f - 1e3f * static_cast<float>(j);  // down to -15 500
    evsam::gelu_tanh_approx(evsam::simd::vec<float>::load_aligned(x)).store_aligned(y);
    for (int64_t j = 0; j < V; ++j) EXPECT_LE(std::fabs(y[j]), 1e-30f) << x[j];
    x[0] = std::numeric_limits<float>::infinity(), x[1] = std::numeric_limits<float>::quiet_NaN(), x[2] = 0.0f;
    x[3] = 1e20f;
    evsam::gelu_tanh_approx(evsam::simd::vec<float>::load_aligned(x)).store_aligned(y);
    EXPECT_EQ(y[0], x[0]);
    EXPECT_TRUE(std::isnan(y[1]));
    EXPECT_EQ(y[2], 0.0f);
    EXPECT_EQ(y[3], 1e20f);
}

// Neither tanh-GELU makes a subnormal on the way, for any input (each one costs the CPU a microcode
// assist: fast's took 20x longer per element above x = 10 when its 2^t reached 2^-126, found by
// timing). Checked with MXCSR's underflow and denormal flags over [-30, 30] and far beyond; strict's
// also against long double, over the inputs where its exp is clamped.
TEST(Activation, TanhGelusMakeNoSubnormals) {
    constexpr int64_t V = evsam::simd::width<float>;
    std::vector<float> xs;
    for (int64_t i = 0; i <= 60000; ++i) xs.push_back(static_cast<float>(-30.0 + 60.0 * i / 60000.0));
    for (float m = 32.0f; m < 1e30f; m *= 3.7f) xs.push_back(m), xs.push_back(-m);
    while (xs.size() % V) xs.push_back(0.0f);
    for (bool approx : {false, true}) {
        std::vector<float> ys(xs.size());
#if defined(__SSE__) || defined(__x86_64__)
        _mm_setcsr(_mm_getcsr() & ~(_MM_EXCEPT_UNDERFLOW | _MM_EXCEPT_DENORM));
#endif
        for (size_t i = 0; i < xs.size(); i += V) {
            const auto x = evsam::simd::vec<float>::load_unaligned(&xs[i]);
            (approx ? evsam::gelu_tanh_approx(x) : evsam::act_apply(evsam::Act::gelu_tanh, x)).store_unaligned(&ys[i]);
        }
#if defined(__SSE__) || defined(__x86_64__)
        EXPECT_EQ(_mm_getcsr() & (_MM_EXCEPT_UNDERFLOW | _MM_EXCEPT_DENORM), 0u) << (approx ? "fast" : "strict");
#endif
        for (size_t i = 0; i < xs.size(); ++i) {
            EXPECT_TRUE(ys[i] == 0.0f || std::fabs(ys[i]) >= std::numeric_limits<float>::min()) << xs[i];
            const long double x = xs[i];
            const long double u2 = -2 * 0.7978845608028654L * (x + 0.044715L * x * x * x);
            const long double r = u2 > 11000 ? 0.0L : x / (1 + std::exp(u2));
            if (std::fabs(r) >= 1e-36L)
                EXPECT_LE(std::fabs(static_cast<double>((ys[i] - r) / r)), approx ? 2e-5 : 1.5e-5) << xs[i];
            else  // strict: x / inf = -0 once e^u2 overflows; fast: x 2^-125 (p 2^t at its clamp)
                EXPECT_LE(
                    std::fabs(ys[i]),
                    approx ? std::max(2 * std::fabs(static_cast<float>(r)), std::fabs(xs[i]) * 0x1p-124f) : 1e-36f)
                    << xs[i];
        }
    }
}

// Under fast precision, float ops compute gelu_tanh as gelu_tanh_approx (and nothing else changes);
// strict, and double under fast, keep gelu_tanh.
TEST(Activation, FastPrecisionTakesTheApproximateGelu) {
    using evsam::Act;
    EXPECT_EQ(evsam::act_in_force<float>(Act::gelu_tanh), Act::gelu_tanh);
    if (!evsam::cpu_has_avx512_bf16()) GTEST_SKIP() << "skipped: precision fast needs AVX512_BF16";
    evsam::CpuPrecisionScope fast(evsam::Precision::fast);
    EXPECT_EQ(evsam::act_in_force<float>(Act::gelu_tanh), Act::gelu_tanh_approx);
    EXPECT_EQ(evsam::act_in_force<double>(Act::gelu_tanh), Act::gelu_tanh);
    for (Act a : {Act::relu, Act::silu, Act::gelu_erf}) EXPECT_EQ(evsam::act_in_force<float>(a), a);
    const int64_t n = 16384 + 21;
    evsam::Tensor<float> x = evsam_test::random_tensor<float>({n}, 7, -6, 6), ref = x;
    evsam::activation_forward(x.data(), n, Act::gelu_tanh, evsam::backend::cpu{});
    evsam::simd::map(ref.data(), ref.data(), n, [](evsam::simd::vec<float> v) { return evsam::gelu_tanh_approx(v); });
    EXPECT_TRUE(evsam_test::bitwise_equal(x, ref));
}

// masks = masks > mask_threshold, on lengths around the vector width and the chunk.
TEST(Activation, ThresholdIsTheComparison) {
    for (int64_t n : {1, 15, 16384 + 3}) {
        evsam::Tensor<float> x = evsam_test::random_tensor<float>({n}, 3, -2, 2), ref({n});
        x[0] = 0.0f;  // exactly at the threshold: not inside
        for (int64_t i = 0; i < n; ++i) ref[i] = x[i] > 0.0f ? 1.0f : 0.0f;
        evsam::threshold_forward(x.data(), n, 0.0f, evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::bitwise_equal(x, ref)) << n;
    }
}

TEST(Activation, AddIsElementwise) {
    const auto a = evsam_test::random_tensor<float>({1000}, 1), b = evsam_test::random_tensor<float>({1000}, 2);
    evsam::Tensor<float> out({1000}), ref({1000});
    for (int64_t i = 0; i < 1000; ++i) ref[i] = a[i] + b[i];
    evsam::add_forward(out.data(), a.data(), b.data(), 1000, evsam::backend::cpu{});
    EXPECT_TRUE(evsam_test::bitwise_equal(out, ref));
}

}  // namespace

}  // namespace test_activation
