// evsam: element-wise activations, in place (torch.nn: ReLU, ReLU6, Hardswish, SiLU, GELU).
// GELU: EfficientViT uses approximate="tanh"; SAM uses the exact erf form.
//
//   act_apply(a, x)              : the scalar reference formula (one element).
//   act_apply(a, simd::vec<T> x) : the same function on a SIMD vector (xsimd's erf/exp; tanh-GELU
//                                  through the identity 0.5 (1 + tanh u) = sigmoid(2u)).
//   activation_forward_naive     : the reference loop; activation_forward: the fast one.
//   act_in_force<T>(a)           : the kind an op computes for a under the CPU precision in force
//                                  (fast, float: tanh-GELU as gelu_tanh_approx).
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "evsam/backend/backend.hpp"
#include "evsam/backend/cpu_precision.hpp"
#include "evsam/ops/act.hpp"
#include "evsam/ops/simd.hpp"

namespace evsam {

template <class T>
inline T act_apply(Act a, T x) {
    switch (a) {
        case Act::none: return x;
        case Act::relu: return x > T(0) ? x : T(0);
        case Act::relu6: return std::min(std::max(x, T(0)), T(6));
        case Act::hswish: return x * std::min(std::max(x + T(3), T(0)), T(6)) / T(6);
        case Act::silu: return x / (T(1) + std::exp(-x));
        case Act::gelu_tanh:
        case Act::gelu_tanh_approx: {  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            const T k = T(0.7978845608028654);
            return T(0.5) * x * (T(1) + std::tanh(k * (x + T(0.044715) * x * x * x)));
        }
        case Act::gelu_erf: return T(0.5) * x * (T(1) + std::erf(x * T(0.7071067811865476)));
    }
    return x;
}

// tanh-GELU for precision fast: the same x sigmoid(2u) = x / (1 + 2^t), t = -2 log2(e) u, with 2^t
// as 2^n (VSCALEFPS on AVX-512, exponent bits elsewhere) times a degree-4 polynomial fit of 2^f on
// f in [-1/2, 1/2] (2.7e-6), and the division as the CPU's approximate reciprocal and one Newton
// step, every multiply-add one FMA (simd::fma). Against a long-double reference on [-9.5, 12]:
// relative L2 2.0e-8 (gelu_tanh: 1.2e-8), max relative error 1.4e-5 near x = -9.5, where t is large
// and its own float rounding dominates. In L1 on one core (bias added): 0.21 ns per element
// against gelu_tanh's 0.45 (mostly its division); 0.36 before the FMAs were real (xsimd 8.1 has no
// AVX-512 fma). Without the Newton step (RCP14 alone, 5.8e-5) it took 9 cycles to 11 (before the
// FMAs), but the tiny_xl fixture's fast masks then agreed with strict's measurably worse (mean IoU
// 0.988 against 0.992 over 12 perturbed images: a coherent error, unlike bf16's rounding). t is
// clamped to [-125, 125]: 2^t (p is in [0.7, 1.42]) and its reciprocal stay normal floats, so a
// large negative x gives x 2^-125 (about 0) and a large positive one x. (With [-126, 126], 2^t fell
// to a subnormal for x above about 10, and every such element took a microcode assist: 20x slower.)
inline simd::vec<float> gelu_tanh_approx(simd::vec<float> x) {
    using V = simd::vec<float>;
    using I = xsimd::batch<int32_t>;
    constexpr float k = float(2 * 0.7978845608028654 * 1.4426950408889634);  // 2 sqrt(2/pi) log2(e)
    const V t = xsimd::min(xsimd::max(x * simd::fma(V(-k * 0.044715f), x * x, V(-k)), V(-125.0f)), V(125.0f));
    const V n = xsimd::nearbyint(t), f = t - n;
    V p = simd::fma(V(9.5700817e-3f), f, V(5.5917859e-2f));  // a relative-error fit: 2.7e-6
    p = simd::fma(p, f, V(2.4024746e-1f));
    p = simd::fma(p, f, V(6.9312179e-1f));
    p = simd::fma(p, f, V(9.9999928e-1f));
    V e;  // 2^f 2^n
#if defined(__AVX512F__)
    if constexpr (V::size == 16)
        e = V(_mm512_scalef_ps(p, n));  // one instruction for the exponent bits' three
    else
#endif
        e = p * xsimd::bitwise_cast<V>((xsimd::to_int(n) + I(127)) << 23);
    const V d = V(1.0f) + e, r = xsimd::reciprocal(d);
    return x * simd::fma(simd::fnma(d, r, V(1.0f)), r, r);  // one Newton step: r (2 - d r)
}

// e^a where only 1 + e^a is used (strict's tanh-GELU, float): xsimd's exp (Cody-Waite reduction by
// ln 2 in two parts, its degree-6 polynomial, the same constants) with every multiply-add one FMA
// (simd::fma: xsimd 8.1's AVX-512 exp unfuses them) and 2^k as VSCALEFPS on AVX-512. a is clamped
// to [-86, 89]: below, 1 + e^a is 1 either way, and no subnormal is made (each costs a microcode
// assist); above, e^a is +inf as before. The clamp keeps NaN out: x = -inf still gives NaN, x = NaN
// NaN. Against a long-double reference on [-12, 12], the GELU's relative L2 is unchanged (1.21e-8)
// and its max relative error 1.25e-5 (both dominated by u's own rounding); 0.30 ns per element in
// L1 on one core against 0.51 through xsimd::exp.
inline simd::vec<float> exp_plus_one_operand(simd::vec<float> a) {
    using V = simd::vec<float>;
    using I = xsimd::batch<int32_t>;
    a = xsimd::min(xsimd::max(a, V(-86.0f)), V(89.0f));
    const V k = xsimd::nearbyint(a * V(1.44269504088896341f));  // a / ln 2
    V r = simd::fnma(k, V(0.693359375f), a);                    // a - k ln 2, ln 2 in two parts
    r = simd::fnma(k, V(-2.12194440e-4f), r);
    V y = simd::fma(V(1.3997796e-03f), r, V(8.3955629e-03f));
    y = simd::fma(y, r, V(4.1665401e-02f));
    y = simd::fma(y, r, V(1.6666277e-01f));
    y = simd::fma(y, r, V(5.0000000e-01f));
    y = simd::fma(y, r * r, r) + V(1.0f);  // e^r
#if defined(__AVX512F__)
    if constexpr (V::size == 16) return V(_mm512_scalef_ps(y, k));
#endif
    // 2^k as 2^(k-1) 2: k runs from -124 to 128 (+inf); the exponent field stays in range
    return y * xsimd::bitwise_cast<V>((xsimd::to_int(k) + I(126)) << 23) * V(2.0f);
}

template <class T>
inline simd::vec<T> act_apply(Act a, simd::vec<T> x) {
    using V = simd::vec<T>;
    switch (a) {
        case Act::none: return x;
        case Act::relu: return xsimd::max(x, V(T(0)));
        case Act::relu6: return xsimd::min(xsimd::max(x, V(T(0))), V(T(6)));
        case Act::hswish: return x * xsimd::min(xsimd::max(x + V(T(3)), V(T(0))), V(T(6))) / V(T(6));
        case Act::silu: return x / (V(T(1)) + xsimd::exp(-x));
        case Act::gelu_tanh_approx:
            if constexpr (std::is_same_v<T, float>) return gelu_tanh_approx(x);
            [[fallthrough]];
        case Act::gelu_tanh: {  // the same function as x sigmoid(2u): 0.5 (1 + tanh u) = 1 / (1 + e^-2u)
            // One exp and a division instead of tanh's exp, division and polynomial: 1.46x faster
            // (float, AVX-512, in cache), and no cancellation in 1 + tanh u where tanh u is near -1.
            // Against a long-double reference on [-12, 12]: relative L2 1.2e-8 (tanh form: 1.0e-8).
            const V m2k(T(-2 * 0.7978845608028654));
            const V u2 = m2k * (x + V(T(0.044715)) * x * x * x);
            if constexpr (std::is_same_v<T, float>)
                return x / (V(T(1)) + exp_plus_one_operand(u2));
            else
                return x / (V(T(1)) + xsimd::exp(u2));
        }
        case Act::gelu_erf: return V(T(0.5)) * x * (V(T(1)) + xsimd::erf(x * V(T(0.7071067811865476))));
    }
    return x;
}

// The CPU's precision fast computes tanh-GELU as gelu_tanh_approx (float only; strict and double
// keep gelu_tanh). Every other kind is computed as asked.
template <class T>
inline Act act_in_force(Act a) {
    if constexpr (std::is_same_v<T, float>)
        if (a == Act::gelu_tanh && cpu_precision() == Precision::fast) return Act::gelu_tanh_approx;
    return a;
}

template <class T>
void activation_forward_naive(T* x, int64_t n, Act a) {
    for (int64_t i = 0; i < n; ++i) x[i] = act_apply(a, x[i]);
}

namespace detail {
constexpr int64_t kEltChunk = 16384;  // elements per parallel chunk (fixed: determinism)
}

// x[0 .. n) = act(x), n elements.
template <class T>
void activation_forward(T* x, int64_t n, Act a, backend::cpu) {
    a = act_in_force<T>(a);
    if (a == Act::none) return;
    const int64_t chunks = (n + detail::kEltChunk - 1) / detail::kEltChunk;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
        T* p = x + c * detail::kEltChunk;
        simd::map(p, p, std::min(detail::kEltChunk, n - c * detail::kEltChunk),
                  [a](simd::vec<T> v) { return act_apply(a, v); });
    }
}

// x = (x > threshold) ? 1 : 0, in place (masks = masks > mask_threshold).
template <class T>
void threshold_forward(T* x, int64_t n, T threshold, backend::cpu) {
    using V = simd::vec<T>;
    const int64_t nchunk = (n + detail::kEltChunk - 1) / detail::kEltChunk;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nchunk; ++c) {
        const int64_t i0 = c * detail::kEltChunk, m = std::min(detail::kEltChunk, n - i0);
        simd::map(x + i0, x + i0, m, [threshold](V v) { return xsimd::select(v > V(threshold), V(T(1)), V(T(0))); });
    }
}

// out = a + b, n elements (residual connections, neck merge).
template <class T>
void add_forward(T* out, const T* a, const T* b, int64_t n, backend::cpu) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace evsam
