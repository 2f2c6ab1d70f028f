// evsam: the CPU's own GEMM, Y (M x N) = A (M x K) B (K x N), single-threaded (the ops split the work
// into fixed blocks and call it from their own parallel loops), in the order that makes it the
// reference: every output is accumulated from zero over each chunk of kGemmDepthChunk depths, one
// fused multiply-add per depth in increasing k, and each chunk sum is added to the output in turn
// (ops/gemm.hpp explains why the chunks). That order is the same for every instruction set, so the
// AVX-512, AVX2 and portable kernels give the same bits, whatever the tile shape or the thread count.
//
// GotoBLAS / BLIS layout: for each depth block of kKc, A is packed into row panels of MR rows
// (MR values per depth, contiguous), B into column panels of NR columns (NR values per depth), and
// an MR x NR micro-kernel runs over every (row panel, column panel) pair with its accumulators in
// registers. Ragged tiles are zero-padded in the packs and written back through a small buffer.
//
// bf16 (the `fast` precision): the packs round A and B to bfloat16 (round to nearest even, as
// VCVTNEPS2BF16), depth pairs interleaved, and the AVX512_BF16 kernel accumulates in fp32 with
// VDPBF16PS: acc = (acc + a[2p+1] b[2p+1]) + a[2p] b[2p], each product exact in fp32, denormals
// flushed. micro_bf16_portable does the same arithmetic in C++ (the kernel's naive reference).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "evsam/backend/cpu_precision.hpp"  // cpu_has_avx512_bf16, CpuIsa
#include "evsam/core/tensor.hpp"            // AlignedAllocator
#include "evsam/ops/simd.hpp"               // <immintrin.h>

namespace evsam {

inline constexpr int64_t kGemmDepthChunk = 64;

namespace gemm_kernel {

// An operand: element (i, k) at p[i * rs + k * cs].
struct Operand {
    const float* p;
    int64_t rs, cs;
    float at(int64_t i, int64_t k) const { return p[i * rs + k * cs]; }
};

// fp32 -> bf16, round to nearest even, NaN kept quiet, denormals flushed to signed zero (as
// VCVTNEPS2BF16 does).
inline uint16_t to_bf16(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
    if ((u & 0x7f800000u) == 0) return static_cast<uint16_t>((u >> 16) & 0x8000u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}
inline float from_bf16(uint16_t h) {
    uint32_t u = static_cast<uint32_t>(h) << 16;
    float x;
    std::memcpy(&x, &u, 4);
    return x;
}

inline constexpr int64_t kMaxNR = 32;  // the widest column panel of any kernel
inline constexpr int64_t kKc = 256;    // depth block: a multiple of the chunk, so chunks start at k = 64 j
static_assert(kKc % kGemmDepthChunk == 0);

// ---- packing ----------------------------------------------------------------------------------
// One packer serves both operands: a panel of R rows of X (element (r, k) at X.p[r rs + k cs]), rows
// [r0, r0 + nr) x depths [k0, k0 + kc) -> dst[k R + r] (fp32) or dst[((k/2) R + r) 2 + k%2] (bf16, kc
// rounded up to even), zero beyond the matrix. A's row panels are panels of A (R = MR); B's column
// panels are panels of B^T (R = NR): Kernel::pack_b transposes the operand's strides.

template <int64_t R>
void pack_f32(float* dst, const Operand& X, int64_t r0, int64_t nr, int64_t k0, int64_t kc) {
    if (X.rs == 1 && nr == R) {  // the panel's R rows contiguous at every depth
        for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * R, X.p + (k0 + k) * X.cs + r0, R * sizeof(float));
        return;
    }
    for (int64_t k = 0; k < kc; ++k)
        for (int64_t r = 0; r < R; ++r) dst[k * R + r] = r < nr ? X.at(r0 + r, k0 + k) : 0.0f;
}
template <int64_t R>
void pack_bf16(uint16_t* dst, const Operand& X, int64_t r0, int64_t nr, int64_t k0, int64_t kc) {
    const int64_t kp = (kc + 1) / 2;
    for (int64_t p = 0; p < kp; ++p)
        for (int64_t r = 0; r < R; ++r)
            for (int64_t h = 0; h < 2; ++h) {
                const int64_t k = 2 * p + h;
                dst[(p * R + r) * 2 + h] = (r < nr && k < kc) ? to_bf16(X.at(r0 + r, k0 + k)) : uint16_t(0);
            }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// Transposes of 16 x 16 blocks for the packs, on AVX-512: transpose16(src, ld, nrows, o): o[c] =
// column c of the block whose row r is src + r ld (rows >= nrows read as zero), 16 values each.
// transpose16(r, o): the same on 16 registers, o[c] lane i = r[i] lane c.
__attribute__((target("avx512f"))) inline void transpose16(const __m512 r[16], __m512 o[16]) {
    __m512 a[16];
    for (int i = 0; i < 8; ++i) {
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    __m512 c[4][4];  // c[g][q], lane l: rows 4g .. 4g+3 of column 4l + q
    for (int g = 0; g < 4; ++g) {
        const __m512d a0 = _mm512_castps_pd(a[4 * g]), a1 = _mm512_castps_pd(a[4 * g + 1]);
        const __m512d a2 = _mm512_castps_pd(a[4 * g + 2]), a3 = _mm512_castps_pd(a[4 * g + 3]);
        c[g][0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        c[g][1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        c[g][2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        c[g][3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    for (int q = 0; q < 4; ++q) {
        const __m512 d0 = _mm512_shuffle_f32x4(c[0][q], c[1][q], 0x44),
                     d1 = _mm512_shuffle_f32x4(c[0][q], c[1][q], 0xEE);
        const __m512 e0 = _mm512_shuffle_f32x4(c[2][q], c[3][q], 0x44),
                     e1 = _mm512_shuffle_f32x4(c[2][q], c[3][q], 0xEE);
        o[q] = _mm512_shuffle_f32x4(d0, e0, 0x88);
        o[4 + q] = _mm512_shuffle_f32x4(d0, e0, 0xDD);
        o[8 + q] = _mm512_shuffle_f32x4(d1, e1, 0x88);
        o[12 + q] = _mm512_shuffle_f32x4(d1, e1, 0xDD);
    }
}
__attribute__((target("avx512f"))) inline void transpose16(const float* src, int64_t ld, int64_t nrows, __m512 o[16]) {
    __m512 r[16];
    for (int i = 0; i < 16; ++i) r[i] = i < nrows ? _mm512_loadu_ps(src + i * ld) : _mm512_setzero_ps();
    transpose16(r, o);
}

// Rows of X contiguous over the depths (unit column stride: row-major A, a transposed B): 16 depths
// of 16 rows at a time through transpose16; otherwise pack_f32.
template <int64_t R>
__attribute__((target("avx512f"))) void pack_f32_avx512(float* dst, const Operand& X, int64_t r0, int64_t nr,
                                                        int64_t k0, int64_t kc) {
    if (X.cs != 1) return pack_f32<R>(dst, X, r0, nr, k0, kc);
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16)
        for (int64_t rg = 0; rg < R; rg += 16) {
            const __mmask16 m = static_cast<__mmask16>((1u << std::min<int64_t>(16, R - rg)) - 1);
            __m512 o[16];  // o[kk]: depth k + kk of rows rg .. rg + 15
            transpose16(X.p + (r0 + rg) * X.rs + k0 + k, X.rs, std::clamp<int64_t>(nr - rg, 0, 16), o);
            for (int kk = 0; kk < 16; ++kk) _mm512_mask_storeu_ps(dst + (k + kk) * R + rg, m, o[kk]);
        }
    for (; k < kc; ++k)
        for (int64_t r = 0; r < R; ++r) dst[k * R + r] = r < nr ? X.at(r0 + r, k0 + k) : 0.0f;
}

// bf16 versions: two depths per pair, rounded by VCVTNE2PS2BF16 and interleaved by VPERMW.
alignas(64) inline constexpr uint16_t kBf16Interleave[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                                             21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                                             11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline __m512i bf16_pairs(__m512 even, __m512 odd) {
    const __m512i h = (__m512i)_mm512_cvtne2ps_pbh(odd, even);
    return _mm512_permutexvar_epi16(_mm512_load_si512(kBf16Interleave), h);
}

#endif

// ---- micro-kernels: C[MR x NR] (row stride ldc) = or += A-panel B-panel over kc depths ----------
// first: the first chunk overwrites C (the product's first depth block when not accumulating).

template <int64_t MR, int64_t NR>
void micro_f32_portable(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, bool first) {
    for (int64_t c0 = 0; c0 < kc; c0 += kGemmDepthChunk) {
        const int64_t n = std::min(kGemmDepthChunk, kc - c0);
        float acc[MR][NR] = {};
        for (int64_t k = c0; k < c0 + n; ++k)
            for (int64_t i = 0; i < MR; ++i)
                for (int64_t j = 0; j < NR; ++j) acc[i][j] = std::fma(Ap[k * MR + i], Bp[k * NR + j], acc[i][j]);
        for (int64_t i = 0; i < MR; ++i)
            for (int64_t j = 0; j < NR; ++j)
                C[i * ldc + j] = (first && c0 == 0) ? acc[i][j] : C[i * ldc + j] + acc[i][j];
    }
}

template <int64_t MR, int64_t NR>
void micro_bf16_portable(int64_t kc, const uint16_t* Ap, const uint16_t* Bp, float* C, int64_t ldc, bool first) {
    const int64_t kp = (kc + 1) / 2, cp = kGemmDepthChunk / 2;
    for (int64_t c0 = 0; c0 < kp; c0 += cp) {
        const int64_t n = std::min(cp, kp - c0);
        float acc[MR][NR] = {};
        for (int64_t p = c0; p < c0 + n; ++p)
            for (int64_t i = 0; i < MR; ++i)
                for (int64_t j = 0; j < NR; ++j) {
                    const float a0 = from_bf16(Ap[(p * MR + i) * 2]), a1 = from_bf16(Ap[(p * MR + i) * 2 + 1]);
                    const float b0 = from_bf16(Bp[(p * NR + j) * 2]), b1 = from_bf16(Bp[(p * NR + j) * 2 + 1]);
                    const float t = acc[i][j] + a1 * b1;  // products of two bf16 are exact in fp32
                    acc[i][j] = t + a0 * b0;
                }
        for (int64_t i = 0; i < MR; ++i)
            for (int64_t j = 0; j < NR; ++j)
                C[i * ldc + j] = (first && c0 == 0) ? acc[i][j] : C[i * ldc + j] + acc[i][j];
    }
}

// ---- AMX (Intel Sapphire Rapids and later): the bf16 kernel of `fast` where the CPU has it ----
// Eight tile registers of 16 rows x 64 bytes: C in four (a 32 x 32 fp32 block), two A tiles (16
// rows x 32 bf16 depths each), two B tiles (16 depth pairs x 16 columns x 2). One TDPBF16PS per
// (A tile, B tile) and group of 32 depths: 16 x 16 x 32 multiply-adds. The packs for it:
//   A: per group of 32 depths, R rows of 32 bf16 each (dst[(g R + r) 32 + q], depth 32 g + q);
//   B: pack_bf16's pairs (dst[(p R + r) 2 + h]), the pairs padded with zeros to a multiple of 16.
// Accumulation: C (or zero, first) plus every depth, in fp32 inside the tile; there are no depth
// chunks (the tile is the accumulator), so `fast` on AMX does not give the AVX512_BF16 kernel's bits,
// but its own, the same for any thread count. micro_bf16_amx_portable is its naive reference
// (Intel's pseudo-code: pair by pair, the even depth's product then the odd one's, denormals
// flushed), to the tolerance and not bit for bit: TDPBF16PS does not sum in that order
// (tests/ops/test_gemm.cpp, GemmKernels.AmxIsTheProductOfTheRoundedOperands).
inline constexpr int64_t kAmxPair = 32;  // depths per tile row: a depth block is padded to it

template <int64_t R>
void pack_bf16_rows32(uint16_t* dst, const Operand& X, int64_t r0, int64_t nr, int64_t k0, int64_t kc) {
    const int64_t kcp = (kc + kAmxPair - 1) / kAmxPair * kAmxPair;
    for (int64_t g = 0; g < kcp; g += kAmxPair)
        for (int64_t r = 0; r < R; ++r)
            for (int64_t q = 0; q < kAmxPair; ++q) {
                const int64_t k = g + q;
                dst[(g * R) + r * kAmxPair + q] = (r < nr && k < kc) ? to_bf16(X.at(r0 + r, k0 + k)) : uint16_t(0);
            }
}
// pack_bf16 (or its AVX-512 version), then zero pairs up to the next multiple of 16 pairs
template <int64_t R, void (*Pairs)(uint16_t*, const Operand&, int64_t, int64_t, int64_t, int64_t)>
void pack_bf16_pairs32(uint16_t* dst, const Operand& X, int64_t r0, int64_t nr, int64_t k0, int64_t kc) {
    Pairs(dst, X, r0, nr, k0, kc);
    const int64_t kp = (kc + 1) / 2, kpp = (kc + kAmxPair - 1) / kAmxPair * (kAmxPair / 2);
    std::fill(dst + kp * R * 2, dst + kpp * R * 2, uint16_t(0));
}

inline float flush_denormal(float x) { return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(0.0f, x) : x; }

// The AMX kernel's arithmetic in C++ (MR = NR = 32 on the packs above).
template <int64_t MR, int64_t NR>
void micro_bf16_amx_portable(int64_t kc, const uint16_t* Ap, const uint16_t* Bp, float* C, int64_t ldc, bool first) {
    const int64_t kcp = (kc + kAmxPair - 1) / kAmxPair * kAmxPair;
    for (int64_t i = 0; i < MR; ++i)
        for (int64_t j = 0; j < NR; ++j) {
            float acc = first ? 0.0f : C[i * ldc + j];
            for (int64_t k = 0; k < kcp; k += 2) {
                const uint16_t* a = Ap + (k / kAmxPair * MR + i) * kAmxPair + k % kAmxPair;
                const uint16_t* b = Bp + (k / 2 * NR + j) * 2;
                acc = flush_denormal(acc + from_bf16(a[0]) * from_bf16(b[0]));
                acc = flush_denormal(acc + from_bf16(a[1]) * from_bf16(b[1]));
            }
            C[i * ldc + j] = acc;
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define EVSAM_GEMM_X86 1

inline constexpr int64_t kPrefetchA = 768;  // A's elements (floats, bf16 pairs) ahead: 3 KiB

__attribute__((target("avx512f,fma"))) inline void micro_f32_avx512(int64_t kc, const float* Ap, const float* Bp,
                                                                    float* C, int64_t ldc, bool first) {
    constexpr int MR = 12;
    for (int64_t c0 = 0; c0 < kc; c0 += kGemmDepthChunk) {
        const int64_t n = std::min(kGemmDepthChunk, kc - c0);
        __m512 acc[MR][2];
        for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
        const float* a = Ap + c0 * MR;
        const float* b = Bp + c0 * 32;
        for (int64_t k = 0; k < n; ++k, a += MR, b += 32) {
            _mm_prefetch(reinterpret_cast<const char*>(a + kPrefetchA), _MM_HINT_T0);
            const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
            for (int i = 0; i < MR; ++i) {
                const __m512 ai = _mm512_set1_ps(a[i]);
                acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
                acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
            }
        }
        for (int i = 0; i < MR; ++i) {
            float* c = C + i * ldc;
            if (first && c0 == 0) {
                _mm512_storeu_ps(c, acc[i][0]);
                _mm512_storeu_ps(c + 16, acc[i][1]);
            } else {
                _mm512_storeu_ps(c, _mm512_add_ps(_mm512_loadu_ps(c), acc[i][0]));
                _mm512_storeu_ps(c + 16, _mm512_add_ps(_mm512_loadu_ps(c + 16), acc[i][1]));
            }
        }
    }
}

__attribute__((target("avx2,fma"))) inline void micro_f32_avx2(int64_t kc, const float* Ap, const float* Bp, float* C,
                                                               int64_t ldc, bool first) {
    constexpr int MR = 6;
    for (int64_t c0 = 0; c0 < kc; c0 += kGemmDepthChunk) {
        const int64_t n = std::min(kGemmDepthChunk, kc - c0);
        __m256 acc[MR][2];
        for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
        const float* a = Ap + c0 * MR;
        const float* b = Bp + c0 * 16;
        for (int64_t k = 0; k < n; ++k, a += MR, b += 16) {
            _mm_prefetch(reinterpret_cast<const char*>(a + kPrefetchA), _MM_HINT_T0);
            const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
            for (int i = 0; i < MR; ++i) {
                const __m256 ai = _mm256_broadcast_ss(a + i);
                acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
                acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
            }
        }
        for (int i = 0; i < MR; ++i) {
            float* c = C + i * ldc;
            if (first && c0 == 0) {
                _mm256_storeu_ps(c, acc[i][0]);
                _mm256_storeu_ps(c + 8, acc[i][1]);
            } else {
                _mm256_storeu_ps(c, _mm256_add_ps(_mm256_loadu_ps(c), acc[i][0]));
                _mm256_storeu_ps(c + 8, _mm256_add_ps(_mm256_loadu_ps(c + 8), acc[i][1]));
            }
        }
    }
}

#if !defined(__clang__)
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline void micro_bf16_avx512(int64_t kc, const uint16_t* Ap,
                                                                                     const uint16_t* Bp, float* C,
                                                                                     int64_t ldc, bool first) {
    constexpr int MR = 12;
    const int64_t kp = (kc + 1) / 2, cp = kGemmDepthChunk / 2;
    for (int64_t c0 = 0; c0 < kp; c0 += cp) {
        const int64_t n = std::min(cp, kp - c0);
        __m512 acc[MR][2];
        for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
        const int32_t* a = reinterpret_cast<const int32_t*>(Ap) + c0 * MR;  // one (even, odd) pair per int32
        const uint16_t* b = Bp + c0 * 64;
        for (int64_t p = 0; p < n; ++p, a += MR, b += 64) {
            _mm_prefetch(reinterpret_cast<const char*>(a + kPrefetchA), _MM_HINT_T0);
            const __m512bh b0 = (__m512bh)_mm512_load_si512(b), b1 = (__m512bh)_mm512_load_si512(b + 32);
            for (int i = 0; i < MR; ++i) {
                const __m512bh ai = (__m512bh)_mm512_set1_epi32(a[i]);
                acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
                acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
            }
        }
        for (int i = 0; i < MR; ++i) {
            float* c = C + i * ldc;
            if (first && c0 == 0) {
                _mm512_storeu_ps(c, acc[i][0]);
                _mm512_storeu_ps(c + 16, acc[i][1]);
            } else {
                _mm512_storeu_ps(c, _mm512_add_ps(_mm512_loadu_ps(c), acc[i][0]));
                _mm512_storeu_ps(c + 16, _mm512_add_ps(_mm512_loadu_ps(c + 16), acc[i][1]));
            }
        }
    }
}

// bf16 panels. Depths contiguous over the rows (unit row stride: row-major B, full panels of a
// multiple of 16 rows): per depth pair, one VCVTNE2PS2BF16 and one VPERMW per 16 rows. Rows
// contiguous over the depths (unit column stride): transpose16, then the same per pair of depths.
// Otherwise pack_bf16.
template <int64_t R>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void pack_bf16_avx512(uint16_t* dst, const Operand& X,
                                                                             int64_t r0, int64_t nr, int64_t k0,
                                                                             int64_t kc) {
    if (R % 16 == 0 && X.rs == 1 && nr == R) {
        const int64_t kp = kc / 2;
        for (int64_t p = 0; p < kp; ++p) {
            const float* d0 = X.p + (k0 + 2 * p) * X.cs + r0;
            const float* d1 = d0 + X.cs;
            for (int64_t r = 0; r < R; r += 16)
                _mm512_storeu_si512(dst + (p * R + r) * 2,
                                    bf16_pairs(_mm512_loadu_ps(d0 + r), _mm512_loadu_ps(d1 + r)));
        }
        if (kc % 2) {  // the odd last depth, paired with zero
            const float* d0 = X.p + (k0 + kc - 1) * X.cs + r0;
            for (int64_t r = 0; r < R; ++r) {
                dst[(kp * R + r) * 2] = to_bf16(d0[r]);
                dst[(kp * R + r) * 2 + 1] = 0;
            }
        }
        return;
    }
    if (X.cs != 1) return pack_bf16<R>(dst, X, r0, nr, k0, kc);
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16)
        for (int64_t rg = 0; rg < R; rg += 16) {
            const __mmask32 m = static_cast<__mmask32>((uint64_t{1} << (2 * std::min<int64_t>(16, R - rg))) - 1);
            __m512 o[16];
            transpose16(X.p + (r0 + rg) * X.rs + k0 + k, X.rs, std::clamp<int64_t>(nr - rg, 0, 16), o);
            for (int q = 0; q < 8; ++q)
                _mm512_mask_storeu_epi16(dst + ((k / 2 + q) * R + rg) * 2, m, bf16_pairs(o[2 * q], o[2 * q + 1]));
        }
    if (k < kc) pack_bf16<R>(dst + (k / 2) * R * 2, X, r0, nr, k0 + k, kc - k);  // fewer than 16 depths left
}
#endif  // !__clang__

#if !defined(__clang__)
// Row-major A (unit column stride): 32 depths of a row per VCVTNE2PS2BF16; otherwise the portable pack.
template <int64_t R>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void pack_bf16_rows32_avx512(uint16_t* dst, const Operand& X,
                                                                                    int64_t r0, int64_t nr, int64_t k0,
                                                                                    int64_t kc) {
    if (X.cs != 1) return pack_bf16_rows32<R>(dst, X, r0, nr, k0, kc);
    for (int64_t g = 0; g < kc; g += kAmxPair) {
        const int64_t n = std::min(kAmxPair, kc - g);
        const __mmask16 m0 = static_cast<__mmask16>((1u << std::min<int64_t>(16, n)) - 1);
        const __mmask16 m1 = static_cast<__mmask16>((1u << std::clamp<int64_t>(n - 16, 0, 16)) - 1);
        for (int64_t r = 0; r < R; ++r) {
            __m512i v = _mm512_setzero_si512();
            if (r < nr) {
                const float* s = X.p + (r0 + r) * X.rs + k0 + g;
                v = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, s + 16), _mm512_maskz_loadu_ps(m0, s));
            }
            _mm512_storeu_si512(dst + g * R + r * kAmxPair, v);
        }
    }
}

struct alignas(64) AmxTileConfig {
    uint8_t palette = 1, start_row = 0, reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};
// The tile configuration is per thread, and other libraries in the process (oneDNN under PyTorch or
// OpenVINO) use the tiles too, with their own shapes. So each product reads the thread's
// configuration (STTILECFG) and, where it is not evsam's (eight tiles of 16 rows x 64 bytes), loads
// evsam's and puts the other one back when it ends. A thread with no configuration (never used, or
// released) keeps evsam's afterwards, so its next product loads nothing; any user of the tiles
// loads its own before use.
class AmxScope {
public:
    __attribute__((target("amx-tile"))) AmxScope() {
        if (!cpu_has_amx_bf16()) throw std::logic_error("the AMX kernel on a CPU or OS without AMX");  // asks Linux
        _tile_storeconfig(&saved_);
        static const AmxTileConfig ours = [] {
            AmxTileConfig c;
            for (int t = 0; t < 8; ++t) {
                c.colsb[t] = 64;
                c.rows[t] = 16;
            }
            return c;
        }();
        if (std::memcmp(&saved_, &ours, sizeof ours) != 0) {
            _tile_loadconfig(&ours);
            restore_ = saved_.palette != 0;
        }
    }
    __attribute__((target("amx-tile"))) ~AmxScope() {
        if (restore_) _tile_loadconfig(&saved_);
    }
    AmxScope(const AmxScope&) = delete;
    AmxScope& operator=(const AmxScope&) = delete;

private:
    AmxTileConfig saved_;
    bool restore_ = false;
};

// Tiles configured by an AmxScope on this thread (run() holds one around its products).
__attribute__((target("amx-tile,amx-bf16"))) inline void micro_bf16_amx(int64_t kc, const uint16_t* Ap,
                                                                        const uint16_t* Bp, float* C, int64_t ldc,
                                                                        bool first) {
    const int64_t ng = (kc + kAmxPair - 1) / kAmxPair, ldb = ldc * int64_t(sizeof(float));
    float* C1 = C + 16 * ldc;
    if (first) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    } else {
        _tile_loadd(0, C, ldb);
        _tile_loadd(1, C + 16, ldb);
        _tile_loadd(2, C1, ldb);
        _tile_loadd(3, C1 + 16, ldb);
    }
    for (int64_t g = 0; g < ng; ++g) {
        const uint16_t* a = Ap + g * 32 * kAmxPair;  // 32 rows of 32 depths
        const uint16_t* b = Bp + g * 32 * kAmxPair;  // 16 pairs of 32 columns
        _tile_loadd(4, a, 64);
        _tile_loadd(6, b, 128);
        _tile_loadd(7, b + 32, 128);
        _tile_loadd(5, a + 16 * kAmxPair, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, C, ldb);
    _tile_stored(1, C + 16, ldb);
    _tile_stored(2, C1, ldb);
    _tile_stored(3, C1 + 16, ldb);
}
#endif  // !__clang__
#endif  // x86

// ---- the driver -------------------------------------------------------------------------------

struct NoScope {};

// Kernel: MR, NR, the packed element type, its packers (for MR- and NR-row panels) and its micro-kernel.
template <class Elem, int64_t MR_, int64_t NR_, void (*Micro)(int64_t, const Elem*, const Elem*, float*, int64_t, bool),
          void (*PackA)(Elem*, const Operand&, int64_t, int64_t, int64_t, int64_t),
          void (*PackB)(Elem*, const Operand&, int64_t, int64_t, int64_t, int64_t),
          int64_t Pair = (std::is_same_v<Elem, uint16_t> ? 2 : 1), class Scope = NoScope>
struct Kernel {
    static_assert(NR_ <= kMaxNR);
    using elem = Elem;
    static constexpr int64_t MR = MR_, NR = NR_;
    static constexpr int64_t pair = Pair;  // a depth block's depths are padded to a multiple of it
    using scope = Scope;                   // held around a product's micro-kernel calls (AMX's tiles)
    static void micro(int64_t kc, const Elem* a, const Elem* b, float* c, int64_t ldc, bool first) {
        Micro(kc, a, b, c, ldc, first);
    }
    static void pack_a(Elem* d, const Operand& A, int64_t i0, int64_t mr, int64_t k0, int64_t kc) {
        PackA(d, A, i0, mr, k0, kc);
    }
    static void pack_b(Elem* d, const Operand& B, int64_t k0, int64_t kc, int64_t j0, int64_t nr) {
        PackB(d, Operand{B.p, B.cs, B.rs}, j0, nr, k0, kc);  // a panel of B^T
    }
};

template <class T>
T* scratch(std::vector<T, AlignedAllocator<T>>& v, size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
}

// An operand packed for every depth block, in panels of R rows (A: R = MR, row panels; B: R = NR,
// column panels): block kb (depths kb kKc ...) at kb * packed_block_size<R>(rows), panel p of it at
// p R kcp, kcp the block's depth rounded up to the element's pair.
template <int64_t R>
int64_t packed_block_size(int64_t rows) {
    return (rows + R - 1) / R * R * kKc;
}
// The size of all of it: every depth block but the last is full.
template <int64_t R, int64_t Pair>
int64_t packed_size(int64_t rows, int64_t K) {
    if (K <= 0) return 0;
    const int64_t nkb = (K + kKc - 1) / kKc, last = K - (nkb - 1) * kKc;
    return (nkb - 1) * packed_block_size<R>(rows) + (rows + R - 1) / R * R * ((last + Pair - 1) / Pair * Pair);
}
template <class Kn>
int64_t a_block_size(int64_t M) {
    return packed_block_size<Kn::MR>(M);
}
template <class Kn>
int64_t a_packed_size(int64_t M, int64_t K) {
    return packed_size<Kn::MR, Kn::pair>(M, K);
}
template <class Kn>
void pack_a_all(typename Kn::elem* dst, const Operand& A, int64_t M, int64_t K) {
    constexpr int64_t MR = Kn::MR;
    const int64_t mpanels = (M + MR - 1) / MR;
    const int64_t nkb = (K + kKc - 1) / kKc;
    // a layer's weights: packed in parallel when called outside a parallel region (else serially)
#pragma omp parallel for schedule(static) if (M * K >= (int64_t{1} << 16))
    for (int64_t t = 0; t < nkb * mpanels; ++t) {
        const int64_t k0 = (t / mpanels) * kKc, ip = t % mpanels;
        const int64_t kc = std::min(kKc, K - k0), kcp = (kc + Kn::pair - 1) / Kn::pair * Kn::pair;
        typename Kn::elem* blk = dst + (k0 / kKc) * a_block_size<Kn>(M);
        Kn::pack_a(blk + ip * MR * kcp, A, ip * MR, std::min(MR, M - ip * MR), k0, kc);
    }
}

// The macro-kernel's loop order: kMcPanels row panels of A (192 rows x kKc depths, 192 KiB: they
// stay in L2) at a time, every column panel of B over them; or, for at most kFewPanels column panels
// (a small map's few pixels: B's panels stay in L1/L2), each A panel once, straight through every
// B panel. A layer's weights are then read from memory once per product, in order, and the
// micro-kernel prefetches kPrefetchA floats ahead in the packed A (the next panels): on small maps
// (the L classifiers' 7x7 and 14x14 stages) the products wait on the weights, not on the FMAs.
// The order changes no result: each output's sum runs the same micro-kernel steps either way.
inline constexpr int64_t kMcPanels = 16;

// A product's epilogue (a conv's bias and activation), run on each micro tile of Y as it is written
// after its last depth block, instead of another pass over Y: f(ctx, src, lds, y, ldy, row, m, n)
// writes y = ep(src) for an m x n tile (src == y in place; src the micro-kernel's L1 tile in
// macro_block), row its first row in the product (A's row). Each element gets the same operations as
// in a pass after the product, so the same bits.
struct Epilogue {
    void (*f)(const void* ctx, const float* src, int64_t lds, float* y, int64_t ldy, int64_t row, int64_t m,
              int64_t n) = nullptr;
    const void* ctx = nullptr;
    void operator()(float* y, int64_t ldy, int64_t row, int64_t m, int64_t n) const {
        if (f) f(ctx, y, ldy, y, ldy, row, m, n);
    }
    // y = ep(src); a copy without an epilogue.
    void write(const float* src, int64_t lds, float* y, int64_t ldy, int64_t row, int64_t m, int64_t n) const {
        if (f) return f(ctx, src, lds, y, ldy, row, m, n);
        for (int64_t i = 0; i < m; ++i) simd::copy(y + i * ldy, src + i * lds, n);
    }
    // Where an epilogue reads memory of its own (a residual sum's input), pf fetches what the write of
    // the m x n tile at y will read into L1; a caller runs it as the tile's product starts (the
    // direct conv's rows do; macro_block does not: no gain measured on MBConv's 1x1). Its rows (an
    // NCHW map's channels, 2^k apart) are too many short streams for the hardware prefetchers:
    // without it, the residual read of L0's ResBlock (32 rows of 128 bytes per tile, 256 KiB apart)
    // waited on L3 for each tile.
    void (*pf)(const void* ctx, const float* y, int64_t ldy, int64_t m, int64_t n) = nullptr;
    void prefetch(const float* y, int64_t ldy, int64_t m, int64_t n) const {
        if (pf) pf(ctx, y, ldy, m, n);
    }
};
inline constexpr int64_t kFewPanels = 4;
// One depth block of kc depths: Y (M x nc, row stride ldy) = or += (first: =) the packed row panels
// Ab (panel ip at ip MR kcp) times the packed column panels Bb (panel jp at jp NR kcp).
// last: the product's last depth block (ep runs on each tile, its first row A's row row0).
template <class Kn>
void macro_block(int64_t M, int64_t nc, int64_t kc, const typename Kn::elem* Ab, const typename Kn::elem* Bb, float* Y,
                 int64_t ldy, bool first, bool last = false, const Epilogue& ep = {}, int64_t row0 = 0) {
    constexpr int64_t MR = Kn::MR, NR = Kn::NR;
    const int64_t kcp = (kc + Kn::pair - 1) / Kn::pair * Kn::pair;
    const int64_t mpanels = (M + MR - 1) / MR, npanels = (nc + NR - 1) / NR;
    alignas(64) float tile[MR * NR];
    // A ragged tile goes through tile, an L1 buffer, and so does the last depth block of AMX's 32-row
    // tiles when the product has only one and Y's rows are a multiple of 4 KiB apart (a 64x64 or
    // 128x128 map's channels): the epilogue's write then takes it to Y. Those rows all fall in one L1
    // set and a few L2 sets: written to Y by the tile stores and read back by the epilogue, they are
    // evicted in between. AMX 256x64x16384 with the GELU epilogue, 2 threads: 233 -> 403 GFLOP/s (the
    // same product into rows 16 floats longer: 393); 512x128x4096: 436 -> 854. L0 fast 5 % faster.
    // Not taken: the fp32 kernels' 12 rows (L0 strict 2-3 % slower through tile), several depth
    // blocks (the partial sums then go through tile once more; XL0 fast slower).
    const bool aliased = MR > 12 && ldy % 1024 == 0;  // AMX's 32 rows, a multiple of 4 KiB apart
    auto micro = [&](int64_t ip, int64_t jp) {
        const int64_t ii = ip * MR, mr = std::min(MR, M - ii), jj = jp * NR, nr = std::min(NR, nc - jj);
        float* y = Y + ii * ldy + jj;
        if (mr == MR && nr == NR && !(last && first && aliased)) {
            Kn::micro(kc, Ab + ip * MR * kcp, Bb + jp * NR * kcp, y, ldy, first);
            if (last) ep(y, ldy, row0 + ii, mr, nr);
        } else {
            if (!first)
                for (int64_t i = 0; i < mr; ++i) std::copy(y + i * ldy, y + i * ldy + nr, tile + i * NR);
            Kn::micro(kc, Ab + ip * MR * kcp, Bb + jp * NR * kcp, tile, NR, first);
            (last ? ep : Epilogue{}).write(tile, NR, y, ldy, row0 + ii, mr, nr);
        }
    };
    if (npanels <= kFewPanels) {  // few columns (small maps): each A panel once, for every B panel in turn
        for (int64_t ip = 0; ip < mpanels; ++ip)
            for (int64_t jp = 0; jp < npanels; ++jp) micro(ip, jp);
        return;
    }
    // kMcPanels row panels of A at a time: that block stays in L2 while every column panel goes by
    for (int64_t ic = 0; ic < mpanels; ic += kMcPanels)
        for (int64_t jp = 0; jp < npanels; ++jp)
            for (int64_t ip = ic; ip < std::min(mpanels, ic + kMcPanels); ++ip) micro(ip, jp);
}

// Y (row stride ldy, unit column stride) = or += A B, then ep on every tile. Ap: A already packed by
// pack_a_all (for a matrix whose depth blocks are ablock apart; A's rows start at its panel panel0),
// or null. Bp: B already packed (as PackedRhs does, depth blocks bblock apart), or null.
template <class Kn>
void run(int64_t M, int64_t N, int64_t K, const typename Kn::elem* Ap, int64_t ablock, int64_t panel0, const Operand& A,
         const Operand& B, float* Y, int64_t ldy, bool accumulate, const typename Kn::elem* Bpre = nullptr,
         int64_t bblock = 0, const Epilogue& ep = {}) {
    using E = typename Kn::elem;
    constexpr int64_t MR = Kn::MR, NR = Kn::NR, NC = 16 * NR;
    if (M <= 0 || N <= 0) return;
    if (K == 0) {
        if (!accumulate)
            for (int64_t i = 0; i < M; ++i) std::fill(Y + i * ldy, Y + i * ldy + N, 0.0f);
        ep(Y, ldy, panel0 * MR, M, N);
        return;
    }
    thread_local std::vector<E, AlignedAllocator<E>> abuf, bbuf;
    if (!Ap) {
        ablock = a_block_size<Kn>(M);
        panel0 = 0;
        E* buf = scratch(abuf, static_cast<size_t>(a_packed_size<Kn>(M, K)));
        pack_a_all<Kn>(buf, A, M, K);
        Ap = buf;
    }
    E* Bp = Bpre ? nullptr : scratch(bbuf, static_cast<size_t>(NC * kKc));
    [[maybe_unused]] const typename Kn::scope tiles{};
    for (int64_t k0 = 0; k0 < K; k0 += kKc) {
        const int64_t kc = std::min(kKc, K - k0), kcp = (kc + Kn::pair - 1) / Kn::pair * Kn::pair;
        const bool first = k0 == 0 && !accumulate;
        const E* Ab = Ap + (k0 / kKc) * ablock + panel0 * MR * kcp;
        for (int64_t j0 = 0; j0 < N; j0 += NC) {
            const int64_t nc = std::min(NC, N - j0);
            const E* Bb;
            if (Bpre) {
                Bb = Bpre + (k0 / kKc) * bblock + j0 * kcp;
            } else {
                for (int64_t jp = 0; jp < (nc + NR - 1) / NR; ++jp)
                    Kn::pack_b(Bp + jp * NR * kcp, B, k0, kc, j0 + jp * NR, std::min(NR, nc - jp * NR));
                Bb = Bp;
            }
            macro_block<Kn>(M, nc, kc, Ab, Bb, Y + j0, ldy, first, k0 + kc == K, ep, panel0 * MR);
        }
    }
}

using PortableF32 = Kernel<float, 4, 16, micro_f32_portable<4, 16>, pack_f32<4>, pack_f32<16>>;
using PortableBf16 = Kernel<uint16_t, 4, 16, micro_bf16_portable<4, 16>, pack_bf16<4>, pack_bf16<16>>;
using PortableAmx = Kernel<uint16_t, 32, 32, micro_bf16_amx_portable<32, 32>, pack_bf16_rows32<32>,
                           pack_bf16_pairs32<32, pack_bf16<32>>, kAmxPair>;
#if defined(EVSAM_GEMM_X86)
#if !defined(__clang__)
using Avx512F32 = Kernel<float, 12, 32, micro_f32_avx512, pack_f32_avx512<12>, pack_f32_avx512<32>>;
using Avx512Bf16 = Kernel<uint16_t, 12, 32, micro_bf16_avx512, pack_bf16_avx512<12>, pack_bf16_avx512<32>>;
using Amx = Kernel<uint16_t, 32, 32, micro_bf16_amx, pack_bf16_rows32_avx512<32>,
                   pack_bf16_pairs32<32, pack_bf16_avx512<32>>, kAmxPair, AmxScope>;
#else
using Avx512F32 = Kernel<float, 12, 32, micro_f32_avx512, pack_f32<12>, pack_f32<32>>;
#endif
using Avx2F32 = Kernel<float, 6, 16, micro_f32_avx2, pack_f32<6>, pack_f32<16>>;
#endif

// Which kernel a product runs on: the fp32 ones by instruction set, bf16 native or emulated (the
// AVX512_BF16 kernel's arithmetic, or AMX's).
enum class Kind { f32_portable, f32_avx2, f32_avx512, bf16_portable, bf16_avx512, bf16_amx_portable, bf16_amx };
inline constexpr size_t kKinds = 7;

inline Kind kind_for(CpuIsa isa) {
#if defined(EVSAM_GEMM_X86)
    if (isa == CpuIsa::avx512) return Kind::f32_avx512;
    if (isa == CpuIsa::avx2) return Kind::f32_avx2;
#endif
    (void)isa;
    return Kind::f32_portable;
}
// fast's kernel: AMX where the CPU (and the OS) runs it, else AVX512_BF16; native = false: the
// AVX512_BF16 kernel's emulation.
inline Kind kind_bf16(bool native) {
#if defined(EVSAM_GEMM_X86) && !defined(__clang__)
    if (native && cpu_uses_amx()) return Kind::bf16_amx;
    if (native && cpu_has_avx512_bf16()) return Kind::bf16_avx512;
#endif
    (void)native;
    return Kind::bf16_portable;
}

// The kernel the precision in force asks for: fp32 on the widest instruction set, or bf16.
inline Kind current_kind() { return cpu_precision() == Precision::fast ? kind_bf16(true) : kind_for(cpu_best_isa()); }

// f(kernel type) for the kernel of a kind.
template <class F>
void with_kernel(Kind k, F&& f) {
    switch (k) {
#if defined(EVSAM_GEMM_X86)
        case Kind::f32_avx512: return f(Avx512F32{});
        case Kind::f32_avx2: return f(Avx2F32{});
#if !defined(__clang__)
        case Kind::bf16_avx512: return f(Avx512Bf16{});
        case Kind::bf16_amx: return f(Amx{});
#endif
#endif
        case Kind::bf16_portable: return f(PortableBf16{});
        case Kind::bf16_amx_portable: return f(PortableAmx{});
        default: return f(PortableF32{});
    }
}

inline void gemm(Kind kind, int64_t M, int64_t N, int64_t K, const Operand& A, const Operand& B, float* Y, int64_t ldy,
                 bool accumulate) {
    with_kernel(kind, [&](auto kn) { run<decltype(kn)>(M, N, K, nullptr, 0, 0, A, B, Y, ldy, accumulate); });
}

// A packed operand's storage: fp32 or bf16 elements, whichever its kernel packs.
struct PackBuffers {
    std::vector<float, AlignedAllocator<float>> f32;
    std::vector<uint16_t, AlignedAllocator<uint16_t>> bf16;
    template <class E>
    std::vector<E, AlignedAllocator<E>>& get() {
        if constexpr (std::is_same_v<E, float>)
            return f32;
        else
            return bf16;
    }
};

// The left operand of many products (a layer's weights across the blocks of an image), packed once.
class PackedLhs {
public:
    PackedLhs() = default;
    PackedLhs(Kind kind, const Operand& A, int64_t M, int64_t K) : kind_(kind), M_(M), K_(K) {
        with_kernel(kind, [&](auto kn) {
            using Kn = decltype(kn);
            auto& buf = buffer<typename Kn::elem>();
            buf.resize(static_cast<size_t>(a_packed_size<Kn>(M, K)));
            pack_a_all<Kn>(buf.data(), A, M, K);
        });
    }
    int64_t rows() const { return M_; }
    int64_t depth() const { return K_; }
    Kind kind() const { return kind_; }
    // Y (M x N, row stride ldy) = or += A B.
    void product(const Operand& B, int64_t N, float* Y, int64_t ldy, bool accumulate) const {
        product_rows(0, M_, B, N, Y, ldy, accumulate);
    }
    // Rows [i0, i0 + m) of it; i0 a multiple of row_align().
    // ep: the epilogue, given A's rows (i0 + the row within Y).
    void product_rows(int64_t i0, int64_t m, const Operand& B, int64_t N, float* Y, int64_t ldy, bool accumulate,
                      const Epilogue& ep = {}) const {
        with_kernel(kind_, [&](auto kn) {
            using Kn = decltype(kn);
            const auto& buf = buffer<typename Kn::elem>();
            run<Kn>(m, N, K_, buf.data(), a_block_size<Kn>(M_), i0 / Kn::MR, Operand{nullptr, 0, 0}, B, Y, ldy,
                    accumulate, nullptr, 0, ep);
        });
    }
    // ... times a right operand packed once for this kernel (PackedRhs::reset with kind())
    void product_rows(int64_t i0, int64_t m, const class PackedRhs& B, float* Y, int64_t ldy, bool accumulate,
                      const Epilogue& ep = {}) const;
    // The kernel's MR divides this: product_rows may start at any multiple of it. 12 for every kernel
    // whose MR divides 12 (the fp32 ones and AVX512_BF16's: one cut of the rows for all of them),
    // else MR (AMX's 32).
    int64_t row_align() const {
        int64_t a = 12;
        with_kernel(kind_, [&](auto kn) {
            constexpr int64_t MR = decltype(kn)::MR;
            static_assert(12 % MR == 0 || MR > 12);
            a = 12 % MR == 0 ? 12 : MR;
        });
        return a;
    }

private:
    template <class E>
    std::vector<E, AlignedAllocator<E>>& buffer() {
        return bufs_.get<E>();
    }
    template <class E>
    const std::vector<E, AlignedAllocator<E>>& buffer() const {
        return const_cast<PackedLhs*>(this)->buffer<E>();
    }
    Kind kind_ = Kind::f32_portable;
    int64_t M_ = 0, K_ = 0;
    PackBuffers bufs_;
};

// The right operand (K x N) of several products (an activation block that several row tiles of a
// layer's weights multiply, each on its own thread), packed once into column panels for one kernel:
// reset() sizes it, then pack(t, B) for every t < tasks() (in parallel: tasks write disjoint panels).
class PackedRhs {
public:
    void reset(Kind kind, int64_t K, int64_t N) {
        kind_ = kind;
        K_ = K;
        N_ = N;
        with_kernel(kind, [&](auto kn) {
            using Kn = decltype(kn);
            scratch(buffer<typename Kn::elem>(), static_cast<size_t>(packed_size<Kn::NR, Kn::pair>(N, K)));
            nr_ = Kn::NR;
            npanels_ = (N + Kn::NR - 1) / Kn::NR;
        });
    }
    Kind kind() const { return kind_; }
    int64_t depth() const { return K_; }
    int64_t cols() const { return N_; }
    int64_t tasks() const { return (K_ + kKc - 1) / kKc * npanels_; }
    // task t: column panel t % panels of depth block t / panels, depths [k0, k0 + kc) x columns [j0, j0 + nc)
    struct Task {
        int64_t k0, kc, j0, nc;
    };
    Task task(int64_t t) const {
        const int64_t k0 = (t / npanels_) * kKc, j0 = (t % npanels_) * nr_;
        return {k0, std::min(kKc, K_ - k0), j0, std::min(nr_, N_ - j0)};
    }
    // task t, from B (K x N)
    void pack(int64_t t, const Operand& B) {
        const Task k = task(t);
        pack_piece(t, {B.p + k.k0 * B.rs + k.j0 * B.cs, B.rs, B.cs});
    }
    // task t, from its own piece of B: element (k, j) of `piece` is B(k0 + k, j0 + j)
    void pack_piece(int64_t t, const Operand& piece) {
        with_kernel(kind_, [&](auto kn) {
            using Kn = decltype(kn);
            const Task k = task(t);
            const int64_t kcp = (k.kc + Kn::pair - 1) / Kn::pair * Kn::pair;
            typename Kn::elem* blk = buffer<typename Kn::elem>().data() + (k.k0 / kKc) * packed_block_size<Kn::NR>(N_);
            Kn::pack_b(blk + k.j0 * kcp, piece, 0, k.kc, 0, k.nc);
        });
    }
    // depths [k0, k0 + kc) of every column, from `piece`: element (k, j) of it is B(k0 + k, j). k0 is a
    // multiple of the kernel's pair (1, 2, or AMX's 32, which the packer pads with zeros), and so is
    // kc unless the range ends B. The same values in the same places as pack() puts them, so threads
    // may each pack their own depths as they make them (MBConv's depthwise channels, block by block)
    // instead of the whole of B being written out first.
    void pack_depths(int64_t k0, int64_t kc, const Operand& piece) {
        with_kernel(kind_, [&](auto kn) {
            using Kn = decltype(kn);
            if (k0 % Kn::pair || (kc % Kn::pair && k0 + kc != K_))
                throw std::logic_error("PackedRhs::pack_depths: a range off the kernel's depth pairs");
            for (int64_t s0 = k0; s0 < k0 + kc;) {
                const int64_t base = s0 / kKc * kKc, s1 = std::min(k0 + kc, base + kKc);
                const int64_t kcp = (std::min(kKc, K_ - base) + Kn::pair - 1) / Kn::pair * Kn::pair;
                typename Kn::elem* blk =
                    buffer<typename Kn::elem>().data() + (base / kKc) * packed_block_size<Kn::NR>(N_);
                const Operand src{piece.p + (s0 - k0) * piece.rs, piece.rs, piece.cs};
                for (int64_t j0 = 0; j0 < N_; j0 += nr_)
                    Kn::pack_b(blk + j0 * kcp + (s0 - base) * Kn::NR, src, 0, s1 - s0, j0, std::min(nr_, N_ - j0));
                s0 = s1;
            }
        });
    }
    template <class E>
    const E* data() const {
        return const_cast<PackedRhs*>(this)->buffer<E>().data();
    }

private:
    template <class E>
    std::vector<E, AlignedAllocator<E>>& buffer() {
        return bufs_.get<E>();
    }
    Kind kind_ = Kind::f32_portable;
    int64_t K_ = 0, N_ = 0, nr_ = 1, npanels_ = 0;
    PackBuffers bufs_;
};

inline void PackedLhs::product_rows(int64_t i0, int64_t m, const PackedRhs& B, float* Y, int64_t ldy, bool accumulate,
                                    const Epilogue& ep) const {
    if (B.kind() != kind_ || B.depth() != K_)
        throw std::logic_error("PackedLhs: the right operand was packed for another kernel or depth");
    with_kernel(kind_, [&](auto kn) {
        using Kn = decltype(kn);
        using E = typename Kn::elem;
        run<Kn>(m, B.cols(), K_, buffer<E>().data(), a_block_size<Kn>(M_), i0 / Kn::MR, Operand{nullptr, 0, 0},
                Operand{nullptr, 0, 0}, Y, ldy, accumulate, B.data<E>(), packed_block_size<Kn::NR>(B.cols()), ep);
    });
}

}  // namespace gemm_kernel
}  // namespace evsam
