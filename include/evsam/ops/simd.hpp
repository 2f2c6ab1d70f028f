// evsam: SIMD helpers for the CPU kernels (xsimd, the widest instruction set the build enables).
//
// Determinism rule: every element of a vectorised loop goes through the vector code path, the
// ragged tail too (it is staged through a small buffer), and work is split into fixed-size chunks,
// never by thread count. So a result never depends on where a thread boundary or an array end
// falls, and `--threads 1` and `--threads 16` agree bit for bit.
//
// This header is where the CPU's intrinsics enter every evsam translation unit (xsimd, and Eigen,
// which the op headers include through it): GCC 12's own AVX-512 headers trip -Wuninitialized and
// -Wmaybe-uninitialized on their `__Y = __Y` placeholders once inlined into xsimd's exp and tanh (a
// false positive: those lanes are never read). The warnings are reported at the intrinsics
// headers' own lines, so silencing them around their first inclusion silences exactly those and
// nothing in evsam's code.
#pragma once
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <Eigen/Core>
#include <xsimd/xsimd.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <cstdint>
#include <type_traits>

// Unrolls the short constant-count loop that follows in full (`#pragma GCC unroll`: GCC then keeps
// a small array of vectors in registers; clang takes the pragma too). Nothing under nvcc, whose
// front end does not know it and would warn in every CUDA file that includes the CPU ops.
#if defined(__GNUC__) && !defined(__CUDACC__)
#define EVSAM_UNROLL _Pragma("GCC unroll 16")
#else
#define EVSAM_UNROLL
#endif

namespace evsam::simd {

template <class T>
using vec = xsimd::batch<T>;

template <class T>
constexpr int64_t width = static_cast<int64_t>(vec<T>::size);

// a b + c, and c - a b, rounded once. xsimd 8.1 (Debian's) has no AVX-512 fma: a 512-bit batch
// takes its generic a * b + c, which the project's -ffp-contract=off keeps as a multiply and an add
// (two roundings, two instructions; the depthwise conv's taps ran 6-18 % slower so). These call the
// instruction itself on a 512-bit batch and xsimd's fma elsewhere (FMA3 on AVX2 builds; a multiply
// and an add where the build has no FMA).
template <class T>
inline vec<T> fma(const vec<T>& a, const vec<T>& b, const vec<T>& c) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && vec<T>::size == 16)
        return vec<T>(_mm512_fmadd_ps(a, b, c));
    else if constexpr (std::is_same_v<T, double> && vec<T>::size == 8)
        return vec<T>(_mm512_fmadd_pd(a, b, c));
    else
#endif
        return xsimd::fma(a, b, c);
}
// (its own instruction: fma(-a, b, c) gives the same bits, but GCC keeps the negation as a separate
// XOR, 9 % slower on fast's GELU)
template <class T>
inline vec<T> fnma(const vec<T>& a, const vec<T>& b, const vec<T>& c) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && vec<T>::size == 16)
        return vec<T>(_mm512_fnmadd_ps(a, b, c));
    else if constexpr (std::is_same_v<T, double> && vec<T>::size == 8)
        return vec<T>(_mm512_fnmadd_pd(a, b, c));
    else
#endif
        return xsimd::fnma(a, b, c);
}

// The cache line of p into L1 (a hint; nothing where the compiler has no prefetch builtin).
inline void prefetch(const void* p) {
#if defined(__GNUC__)
    __builtin_prefetch(p, 0, 3);
#else
    (void)p;
#endif
}

// dst[0 .. n) = src[0 .. n): with AVX-512 (float), whole vectors and one masked one. Not std::copy:
// glibc's memmove on the conv epilogues' rows into a cold output took over twice as long in the
// model (L0's neck 1x1 conv, 128 -> 256 at 64x64, zero bias and no activation: 1.75 ms against
// 0.82), and its call costs more than a 7-value row of a small map.
template <class T>
inline void copy(T* dst, const T* src, int64_t n) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
        if (i < n) {
            const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
            _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, src + i));
        }
        return;
    }
#endif
    std::copy(src, src + n, dst);
}

// dst[i] = f(load(src + i)) for i in [0, n), whole vectors, the tail through a zero-padded buffer.
// src and dst may be the same pointer (in-place map).
template <class T, class F>
inline void map(T* dst, const T* src, int64_t n, F&& f) {
    constexpr int64_t V = width<T>;
    int64_t i = 0;
    for (; i + V <= n; i += V) f(vec<T>::load_unaligned(src + i)).store_unaligned(dst + i);
    if (i < n) {
        alignas(64) T buf[V] = {};
        std::copy(src + i, src + n, buf);
        f(vec<T>::load_aligned(buf)).store_aligned(buf);
        std::copy(buf, buf + (n - i), dst + i);
    }
}

// dst[i] = f(load(a + i), load(b + i)) for i in [0, n): map with a second source (dst may be a).
template <class T, class F>
inline void map2(T* dst, const T* a, const T* b, int64_t n, F&& f) {
    constexpr int64_t V = width<T>;
    int64_t i = 0;
    for (; i + V <= n; i += V) f(vec<T>::load_unaligned(a + i), vec<T>::load_unaligned(b + i)).store_unaligned(dst + i);
    if (i < n) {
        alignas(64) T ba[V] = {}, bb[V] = {};
        std::copy(a + i, a + n, ba);
        std::copy(b + i, b + n, bb);
        f(vec<T>::load_aligned(ba), vec<T>::load_aligned(bb)).store_aligned(ba);
        std::copy(ba, ba + (n - i), dst + i);
    }
}

// x[0] + ... + x[n-1], summed in vector lanes (lane l adds x[l], x[l + V], ...; the tail is
// zero-padded) and the lanes then added: each partial sum holds n / V terms, so the rounding error
// grows with n / V + V instead of n (a softmax over 4096 keys: 256 + 16 terms instead of 4096).
// The order depends only on n, never on the thread count.
template <class T>
inline T sum(const T* x, int64_t n) {
    constexpr int64_t V = width<T>;
    vec<T> acc(T(0));
    int64_t i = 0;
    for (; i + V <= n; i += V) acc += vec<T>::load_unaligned(x + i);
    if (i < n) {
        alignas(64) T buf[V] = {};
        std::copy(x + i, x + n, buf);
        acc += vec<T>::load_aligned(buf);
    }
    return xsimd::hadd(acc);
}

}  // namespace evsam::simd
