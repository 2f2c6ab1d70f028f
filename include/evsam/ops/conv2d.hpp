// evsam: 2-D convolution, NCHW (torch.nn.functional.conv2d semantics, zero padding).
//
// Size letters: N batch, C input channels, H x W input size, OC output channels,
// OH x OW output size, K kernel side, G groups (C/G input and OC/G output
// channels per group). weight is (OC, C/G, K, K); bias is (OC,) or null.
//
//   conv2d_forward_naive : the reference, one loop nest per output element.
//   conv2d_forward       : the fast path, with the bias and an activation fused into its epilogue.
//                          groups == 1 -> im2col + GEMM (Eigen; 1x1 convs read the input in
//                          place); depthwise (G == C == OC) -> SIMD direct loops over a padded
//                          copy of each channel; other grouped convs -> one GEMM per group;
//                          dense 3x3 stride-1 convs -> Winograd F(2x2,3x3); under `fast` on AMX,
//                          dense 3x3 stride-1 and -2 convs -> straight on the tiles (conv2d_amx.hpp).
//   conv2d_pair_forward  : a conv and a 1x1 conv after it (FusedMBConv) in one pass over blocks of
//                          pixels, the mid values kept in L2; the bits of the two conv2d_forward.
// Work is split into column blocks of output pixels and row tiles of output channels; no output's
// reduction is ever split, so the result is bit-identical whatever the number of threads (float:
// the cut follows the thread count, for balance; double: it depends on the shapes only).
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <type_traits>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "evsam/backend/backend.hpp"
#include "evsam/ops/conv2d_amx.hpp"
#include "evsam/ops/gemm.hpp"
#include "evsam/ops/simd.hpp"  // Eigen and xsimd, with the intrinsics
#include "evsam/core/tensor.hpp"
#include "evsam/ops/activation.hpp"

namespace evsam {

inline int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dilation) {
    return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

template <class T>
void conv2d_forward_naive(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H,
                          int64_t W, int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G) {
    const int64_t OH = conv_out_size(H, K, stride, pad, dilation), OW = conv_out_size(W, K, stride, pad, dilation);
    const int64_t Cg = C / G, OCg = OC / G;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t oc = 0; oc < OC; ++oc) {
            const int64_t g = oc / OCg;
            for (int64_t oy = 0; oy < OH; ++oy)
                for (int64_t ox = 0; ox < OW; ++ox) {
                    T acc = bias ? bias[oc] : T(0);
                    for (int64_t ci = 0; ci < Cg; ++ci)
                        for (int64_t ky = 0; ky < K; ++ky) {
                            const int64_t iy = oy * stride - pad + ky * dilation;
                            if (iy < 0 || iy >= H) continue;
                            for (int64_t kx = 0; kx < K; ++kx) {
                                const int64_t ix = ox * stride - pad + kx * dilation;
                                if (ix < 0 || ix >= W) continue;
                                acc += weight[((oc * Cg + ci) * K + ky) * K + kx] *
                                       in[((n * C + g * Cg + ci) * H + iy) * W + ix];
                            }
                        }
                    out[((n * OC + oc) * OH + oy) * OW + ox] = acc;
                }
        }
}

namespace detail {

constexpr int64_t kColBlock = 256;  // output pixels per GEMM block

inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }  // b > 0

// dst[0 .. n) = act(dst + b): the conv epilogue (bias, folded BatchNorm shift, fused activation).
// (dst = act(src + b): the same from another row, e.g. the GEMM's L1 tile.)
template <class T>
inline void bias_act_row(T* dst, const T* src, int64_t n, T b, Act act) {
    if (b == T(0) && act == Act::none) {  // a copy (adding 0 would turn -0 into +0)
        if (src != dst) simd::copy(dst, src, n);
        return;
    }
    simd::map(dst, src, n, [b, act](simd::vec<T> v) { return act_apply(act, v + simd::vec<T>(b)); });
}
template <class T>
inline void bias_act_row(T* dst, int64_t n, T b, Act act) {
    bias_act_row(dst, dst, n, b, act);
}
// dst = bias_act_row's value + plus, in one pass (the same two operations per element).
template <class T>
inline void bias_act_plus_row(T* dst, const T* src, const T* plus, int64_t n, T b, Act act) {
    using V = simd::vec<T>;
    if (b == T(0) && act == Act::none)  // bias_act_row's copy, then the sum
        simd::map2(dst, src, plus, n, [](V v, V p) { return v + p; });
    else
        simd::map2(dst, src, plus, n, [b, act](V v, V p) { return act_apply(act, v + V(b)) + p; });
}

// bias_act_row as a float GEMM's epilogue (gemm_kernel::Epilogue): row r of the product gets bias[r].
struct BiasAct {
    const float* bias;
    Act act;
    static void apply(const void* ctx, const float* src, int64_t lds, float* y, int64_t ldy, int64_t row, int64_t m,
                      int64_t n) {
        const auto& e = *static_cast<const BiasAct*>(ctx);
        for (int64_t i = 0; i < m; ++i)
            bias_act_row(y + i * ldy, src + i * lds, n, e.bias ? e.bias[row + i] : 0.0f, e.act);
    }
    gemm_kernel::Epilogue epilogue() const {
        if (!bias && act == Act::none) return {};
        return {&BiasAct::apply, this};
    }
};
// BiasAct, then + plus, a tensor laid out as the product's output `out` (a residual sum, folded
// into the write): y = act(y + b), then y = y + plus at y's place in out.
struct BiasActPlus {
    BiasAct ba;
    const float* out;
    const float* plus;
    static void apply(const void* ctx, const float* src, int64_t lds, float* y, int64_t ldy, int64_t row, int64_t m,
                      int64_t n) {
        const auto& e = *static_cast<const BiasActPlus*>(ctx);
        for (int64_t i = 0; i < m; ++i) {  // row by row, in one pass: y's rows may lie 2^k apart
            float* yi = y + i * ldy;
            bias_act_plus_row(yi, src + i * lds, e.plus + (yi - e.out), n, e.ba.bias ? e.ba.bias[row + i] : 0.0f,
                              e.ba.act);
        }
    }
    static void prefetch(const void* ctx, const float* y, int64_t ldy, int64_t m, int64_t n) {
        const auto& e = *static_cast<const BiasActPlus*>(ctx);
        const float* p = e.plus + (y - e.out);
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; j += 16) simd::prefetch(p + i * ldy + j);
    }
    gemm_kernel::Epilogue epilogue() const { return {&BiasActPlus::apply, this, &BiasActPlus::prefetch}; }
};

// BiasAct, or BiasActPlus where plus is given, on a product whose columns are the channels (a
// channels-last map's pixels x channels: the direct conv's tiles as they stand): row `row` of the
// epilogue's call is the first column's channel, so column j gets bias[row + j]. Per element the
// operations of bias_act_row and bias_act_plus_row (a zero bias without activation leaves the value
// as it is), so the bits of the NCHW write.
struct BiasActColumns {
    const float* bias;
    Act act;
    const float* out = nullptr;   // with plus: where the product's output starts
    const float* plus = nullptr;  // laid out as out
    static void apply(const void* ctx, const float* src, int64_t lds, float* y, int64_t ldy, int64_t row, int64_t m,
                      int64_t n) {
        using V = simd::vec<float>;
        constexpr int64_t L = simd::width<float>;
        const auto& e = *static_cast<const BiasActColumns*>(ctx);
        auto value = [&e](V v, V b) {
            return e.act == Act::none ? xsimd::select(b == V(0.0f), v, v + b) : act_apply(e.act, v + b);
        };
        for (int64_t i = 0; i < m; ++i) {
            float* yi = y + i * ldy;
            const float* si = src + i * lds;
            const float* pi = e.plus ? e.plus + (yi - e.out) : nullptr;
            int64_t j = 0;
            for (; j + L <= n; j += L) {
                V r = value(V::load_unaligned(si + j), e.bias ? V::load_unaligned(e.bias + row + j) : V(0.0f));
                if (pi) r = r + V::load_unaligned(pi + j);
                r.store_unaligned(yi + j);
            }
            if (j < n) {  // the last channels, through zero-padded lanes
                alignas(64) float v[L] = {}, b[L] = {}, p[L] = {};
                std::copy(si + j, si + n, v);
                if (e.bias) std::copy(e.bias + row + j, e.bias + row + n, b);
                if (pi) std::copy(pi + j, pi + n, p);
                V r = value(V::load_aligned(v), V::load_aligned(b));
                if (pi) r = r + V::load_aligned(p);
                r.store_aligned(v);
                std::copy(v, v + (n - j), yi + j);
            }
        }
    }
    gemm_kernel::Epilogue epilogue() const { return {&BiasActColumns::apply, this}; }
};

// Generic depthwise (any stride/dilation): each channel through the naive conv, then the epilogue.
template <class T>
void conv2d_depthwise_generic(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H,
                              int64_t W, int64_t K, int64_t stride, int64_t pad, int64_t dilation, Act act) {
    const int64_t OH = conv_out_size(H, K, stride, pad, dilation), OW = conv_out_size(W, K, stride, pad, dilation);
#pragma omp parallel for schedule(static)
    for (int64_t nc = 0; nc < N * C; ++nc) {
        const int64_t c = nc % C;
        T* dst = out + nc * OH * OW;
        conv2d_forward_naive(dst, in + nc * H * W, weight + c * K * K, static_cast<const T*>(nullptr), 1, 1, H, W, 1, K,
                             stride, pad, dilation, 1);
        bias_act_row(dst, OH * OW, bias ? bias[c] : T(0), act);
    }
}

// A row split into its even and odd columns: ev[j] = src[2j], od[j] = src[2j + 1], 32 columns at a
// time with AVX-512 where the build has it; returns the first column it left to the caller's loop.
template <class T>
int64_t split_even_odd(T* ev, T* od, const T* src, int64_t W) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
        const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        int64_t x = 0;
        for (; x + 32 <= W; x += 32) {
            const __m512 a = _mm512_loadu_ps(src + x), b = _mm512_loadu_ps(src + x + 16);
            _mm512_storeu_ps(ev + x / 2, _mm512_permutex2var_ps(a, ie, b));
            _mm512_storeu_ps(od + x / 2, _mm512_permutex2var_ps(a, io, b));
        }
        if (x < W) {  // the last 1 .. 31 columns, masked
            const int64_t n = W - x;
            auto mask = [](int64_t k) { return static_cast<__mmask16>((1u << std::clamp<int64_t>(k, 0, 16)) - 1); };
            const __m512 a = _mm512_maskz_loadu_ps(mask(n), src + x),
                         b = _mm512_maskz_loadu_ps(mask(n - 16), src + x + 16);
            _mm512_mask_storeu_ps(ev + x / 2, mask((n + 1) / 2), _mm512_permutex2var_ps(a, ie, b));
            _mm512_mask_storeu_ps(od + x / 2, mask(n / 2), _mm512_permutex2var_ps(a, io, b));
        }
        return W;
    }
#endif
    (void)ev, (void)od, (void)src, (void)W;
    return 0;
}

// dst[j] = src[2 j] for j < n, 16 at a time with AVX-512 where the build has it (whole vectors
// that read no further than src[2 n - 2], the last value used); returns how many it copied, the
// rest left to the caller.
template <class T>
int64_t copy_even(T* dst, const T* src, int64_t n) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
        const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        int64_t j = 0;
        for (; j + 17 <= n; j += 16)  // reads src[2 j .. 2 j + 31]
            _mm512_storeu_ps(
                dst + j, _mm512_permutex2var_ps(_mm512_loadu_ps(src + 2 * j), ie, _mm512_loadu_ps(src + 2 * j + 16)));
        return j;
    }
#endif
    (void)dst, (void)src, (void)n;
    return 0;
}

#if defined(__AVX512F__)
// The shifts of one input row's 16 columns at a strip (c: the row's vector there, l and r its
// neighbours, zero past the row's ends): sh[kx] holds columns x + kx - K / 2 (VALIGND).
template <int K, int kx = 0>
inline void depthwise_row_shifts(__m512* sh, __m512i l, __m512i c, __m512i r) {
    if constexpr (kx < K) {
        constexpr int d = kx - K / 2;
        if constexpr (d < 0)
            sh[kx] = _mm512_castsi512_ps(_mm512_alignr_epi32(c, l, 16 + d));
        else if constexpr (d == 0)
            sh[kx] = _mm512_castsi512_ps(c);
        else
            sh[kx] = _mm512_castsi512_ps(_mm512_alignr_epi32(r, c, d));
        depthwise_row_shifts<K, kx + 1>(sh, l, c, r);
    }
}
// Depthwise, stride 1, padding K / 2 (the same size out), on registers: per strip of 16 columns and
// block of R output rows, each input row the block reads is loaded once (its vector and the two
// beside it), shifted K ways, and each shift goes into every output row of the block that takes it.
// No padded planes to fill and copy, and no tap load that crosses a cache line: one thread, 5x5 on
// LiteMLA's 16x16 maps 750 -> 380 cycles (at 2.6 GHz) a channel, 3x3 on MBConv's 32x32 1310 -> 750:
// about 45 % and 33 % of the FMA units' peak (the shifts share a port with them). Each output gets
// acc = bias, then acc = fma(x, w[ky][kx], acc) in (ky, kx) order with x zero outside the image
// (rows and columns), as the planes give it: the same bits (tests/ops ties the two).
template <int K, int R>
void depthwise_rows_avx512(float* dst, const float* src, const float* wk, float b, Act act, int64_t H, int64_t W) {
    constexpr int P = K / 2;
    const int64_t nv = (W + 15) / 16;  // vectors per row, in and out
    const auto tail = static_cast<__mmask16>((1u << (W - 16 * (nv - 1))) - 1);
    __m512 w[K * K];  // each tap's weight in every lane (not broadcast from a register on the port the
                      // shifts need)
    for (int t = 0; t < K * K; ++t) w[t] = _mm512_set1_ps(wk[t]);
    // vector m of input row iy, zero outside the image: a masked load without a branch (masked-off
    // lanes never fault; the address is clamped into the channel all the same)
    auto load = [&](int64_t iy, int64_t m, __mmask16 mask) {
        const bool in = iy >= 0 && iy < H;
        return _mm512_maskz_loadu_epi32(in ? mask : __mmask16(0), src + (in ? iy : 0) * W + m * 16);
    };
    for (int64_t j = 0; j < nv; ++j) {
        const __mmask16 om = j == nv - 1 ? tail : __mmask16(0xFFFF);  // the strip's lanes in a row
        const __mmask16 lm = j > 0 ? __mmask16(0xFFFF) : __mmask16(0);
        const __mmask16 rm = j + 1 < nv ? (j + 2 == nv ? tail : __mmask16(0xFFFF)) : __mmask16(0);
        const int64_t jl = j > 0 ? j - 1 : j, jr = j + 1 < nv ? j + 1 : j;
        for (int64_t oy0 = 0; oy0 < H; oy0 += R) {
            __m512 acc[R];
            EVSAM_UNROLL
            for (int r = 0; r < R; ++r) acc[r] = _mm512_set1_ps(b);
            EVSAM_UNROLL
            for (int i = 0; i < R + K - 1; ++i) {  // input row oy0 - P + i: ky = i - r for output row oy0 + r
                const int64_t iy = oy0 - P + i;
                __m512 sh[K];
                depthwise_row_shifts<K>(sh, load(iy, jl, lm), load(iy, j, om), load(iy, jr, rm));
                EVSAM_UNROLL
                for (int r = 0; r < R; ++r) {
                    if (i - r < 0 || i - r >= K) continue;  // row i is not in output row r's taps
                    EVSAM_UNROLL
                    for (int kx = 0; kx < K; ++kx) acc[r] = _mm512_fmadd_ps(sh[kx], w[(i - r) * K + kx], acc[r]);
                }
            }
            for (int r = 0; r < R && oy0 + r < H; ++r)
                _mm512_mask_storeu_ps(dst + (oy0 + r) * W + j * 16, om, act_apply(act, simd::vec<float>(acc[r])));
        }
    }
}
#endif

// Depthwise, stride 1 or 2, no dilation (every depthwise conv in the EfficientViT models), SIMD
// over the output pixels. Each channel is copied once into zero-padded planes: stride 1, the padded
// image (Hp x Wp); stride 2, its four (row parity, column parity) sub-images, so that output pixel
// (oy, ox) reads plane (ky & 1, kx & 1) at (oy + ky / 2, ox + kx / 2) for every stride. Within a
// plane of width Wq the output is computed at q = oy Wq + ox for every q < OH Wq at once (the q with
// ox >= OW are computed and dropped), so a 7x7 map costs 4 vectors of 16, not 7 half-empty rows.
// acc = bias; acc = fma(x, w[ky][kx], acc) in (ky, kx) order, as the naive conv adds.
// DepthwisePlan holds a shape's layout and one channel's work: conv2d_depthwise runs it over every
// channel, conv2d_expand_depthwise_forward over each block of channels as the 1x1 expand makes them.
constexpr int64_t kDwVectors = 4;
constexpr int kDwRows = 8;  // output rows per block of depthwise_rows_avx512
template <class T>
struct DepthwisePlan {
    int64_t H, W, K, stride, pad, OH, OW, Wq, nq, plane, planes;
    std::vector<int64_t> tap;  // where tap (ky, kx) reads, from q
    // the register kernel where it applies (float on AVX-512, stride 1, padding K / 2, K 3, 5 or 7;
    // depthwise_rows_avx512), else null: the planes
    void (*rows)(float*, const float*, const float*, float, Act, int64_t, int64_t) = nullptr;
    DepthwisePlan(int64_t H_, int64_t W_, int64_t K_, int64_t stride_, int64_t pad_)
        : H(H_), W(W_), K(K_), stride(stride_), pad(pad_) {
        constexpr int64_t VW = simd::width<T>;
        OH = conv_out_size(H, K, stride, pad, 1), OW = conv_out_size(W, K, stride, pad, 1);
        const int64_t Hp = H + 2 * pad, Wp = W + 2 * pad;
        const int64_t Hq = (Hp + stride - 1) / stride;  // each plane is Hq x Wq
        Wq = (Wp + stride - 1) / stride;
        nq = (OH * Wq + VW - 1) / VW * VW;    // outputs computed
        const int64_t kq = (K - 1) / stride;  // plane offset reach
        // a plane holds Hq Wq values and what the last vectors read past them
        plane = (std::max(Hq * Wq, nq + kq * Wq + kq) + 15) / 16 * 16;
        planes = stride * stride;
        tap.resize(static_cast<size_t>(K * K));
        for (int64_t ky = 0; ky < K; ++ky)
            for (int64_t kx = 0; kx < K; ++kx)
                tap[static_cast<size_t>(ky * K + kx)] =
                    ((ky % stride) * stride + kx % stride) * plane + (ky / stride) * Wq + kx / stride;
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float> && simd::width<T> == 16)
            if (stride == 1 && pad == K / 2)
                rows = K == 3   ? depthwise_rows_avx512<3, kDwRows>
                       : K == 5 ? depthwise_rows_avx512<5, kDwRows>
                       : K == 7 ? depthwise_rows_avx512<7, kDwRows>
                                : nullptr;
#endif
    }
    // the values of a thread's buffer (the planes, then the nq outputs)
    size_t buffer_size() const { return static_cast<size_t>(planes * plane + nq); }
    // one channel: dst (OH x OW) = act(conv(src (H x W), wk (K x K)) + b), buf of buffer_size()
    void channel(T* dst, const T* src, const T* wk, T b, Act act, T* buf) const {
        if constexpr (std::is_same_v<T, float>)
            if (rows) return rows(dst, src, wk, b, act, H, W);
        channel_planes(dst, src, wk, b, act, buf);
    }
    // the same through the padded planes (the reference for rows, and every other shape)
    void channel_planes(T* dst, const T* src, const T* wk, T b, Act act, T* buf) const {
        using V = simd::vec<T>;
        constexpr int64_t VW = simd::width<T>;
        T* row = buf + planes * plane;  // the outputs, nq of them
        std::fill(buf, buf + planes * plane, T(0));
        for (int64_t iy = 0; iy < H; ++iy) {
            const T* s = src + iy * W;
            const int64_t y = iy + pad;
            if (stride == 1) {
                simd::copy(buf + y * Wq + pad, s, W);
                continue;
            }
            // padded column x = ix + pad: plane x & 1, column x >> 1
            T* p0 = buf + (y & 1) * 2 * plane + (y >> 1) * Wq;  // column parity 0
            T* p1 = p0 + plane;                                 // column parity 1
            T* ev = pad % 2 ? p1 + pad / 2 : p0 + pad / 2;      // ix even
            T* od = pad % 2 ? p0 + pad / 2 + 1 : p1 + pad / 2;  // ix odd
            for (int64_t ix = split_even_odd(ev, od, s, W); ix < W; ++ix) (ix % 2 ? od : ev)[ix / 2] = s[ix];
        }
        const V bv(b);
        // kDwVectors output vectors at a time: independent FMA chains, each tap's weight loaded once
        auto outputs = [&](int64_t q, auto nv) {
            constexpr int64_t NV = decltype(nv)::value;
            V acc[NV];
            for (int64_t j = 0; j < NV; ++j) acc[j] = bv;
            for (int64_t t = 0; t < K * K; ++t) {
                const V w(wk[t]);
                const T* p = buf + tap[static_cast<size_t>(t)] + q;
                for (int64_t j = 0; j < NV; ++j) acc[j] = simd::fma(V::load_unaligned(p + j * VW), w, acc[j]);
            }
            for (int64_t j = 0; j < NV; ++j) act_apply(act, acc[j]).store_aligned(row + q + j * VW);
        };
        int64_t q = 0;
        for (; q + kDwVectors * VW <= nq; q += kDwVectors * VW)
            outputs(q, std::integral_constant<int64_t, kDwVectors>{});
        for (; q < nq; q += VW) outputs(q, std::integral_constant<int64_t, 1>{});
        for (int64_t oy = 0; oy < OH; ++oy) simd::copy(dst + oy * OW, row + oy * Wq, OW);
    }
};
template <class T>
void conv2d_depthwise(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                      int64_t K, int64_t stride, int64_t pad, int64_t dilation, Act act) {
    if (dilation != 1 || stride > 2)
        return conv2d_depthwise_generic(out, in, weight, bias, N, C, H, W, K, stride, pad, dilation, act);
    const DepthwisePlan<T> plan(H, W, K, stride, pad);
#pragma omp parallel
    {
        std::vector<T, AlignedAllocator<T>> buf(plan.buffer_size());
#pragma omp for schedule(static)
        for (int64_t nc = 0; nc < N * C; ++nc) {
            const int64_t c = nc % C;
            plan.channel(out + nc * plan.OH * plan.OW, in + nc * H * W, weight + c * K * K, bias ? bias[c] : T(0), act,
                         buf.data());
        }
    }
}

// im2col for one group and a block of np output pixels starting at p0: row r = (ci, ky, kx) of the
// im2col matrix holds in[ci, oy*s - pad + ky*d, ox*s - pad + kx*d] for each pixel (oy, ox), zero
// outside the image; rows [r0, r1) of it (all of them by default) go to col, np values apart.
// Pixels are walked one output row segment at a time, with the valid x range computed, not tested.
template <class T>
void im2col_block(T* col, const T* gin, int64_t Cg, int64_t H, int64_t W, int64_t OW, int64_t K, int64_t stride,
                  int64_t pad, int64_t dilation, int64_t p0, int64_t np, int64_t r0 = 0, int64_t r1 = -1) {
    if (r1 < 0) r1 = Cg * K * K;
    for (int64_t rr = r0; rr < r1; ++rr) {
        const int64_t ci = rr / (K * K), ky = rr / K % K, kx = rr % K;
        T* row = col + (rr - r0) * np;
        const T* src = gin + ci * H * W;
        for (int64_t j = 0, p = p0; j < np;) {
            const int64_t oy = p / OW, ox0 = p % OW, seg = std::min(OW - ox0, np - j);
            const int64_t iy = oy * stride - pad + ky * dilation;
            T* r = row + j;
            if (iy < 0 || iy >= H) {
                std::fill(r, r + seg, T(0));
            } else {
                const int64_t off = kx * dilation - pad;  // ix = (ox0 + t) * stride + off
                const int64_t lo = std::clamp(ceil_div(-off, stride) - ox0, int64_t(0), seg);
                const int64_t hi = std::clamp(ceil_div(W - off, stride) - ox0, lo, seg);
                const T* s = src + iy * W + ox0 * stride + off;
                std::fill(r, r + lo, T(0));
                if (stride == 1) {
                    std::copy(s + lo, s + hi, r + lo);
                } else {
                    int64_t t = lo;
                    if (stride == 2) t += copy_even(r + lo, s + 2 * lo, hi - lo);
                    for (; t < hi; ++t) r[t] = s[t * stride];
                }
                std::fill(r + hi, r + seg, T(0));
            }
            j += seg;
            p += seg;
        }
    }
}

// How a GEMM conv is cut into tasks: blocks of kColBlock output pixels, and row tiles of output
// channels when the blocks alone would leave threads idle. No output element's reduction is ever
// split, and evsam's float kernels give every element the same bits whatever tile it lands in, so
// for float the cut may follow the thread count: row tiles whenever the blocks are fewer than
// kMinTasks (or than the threads) or do not split evenly over the threads, enough of them that
// every thread gets the same number of tasks, each a run of whole packed panels (row_align rows)
// spread as evenly as they go. Double (Eigen's GEMM, whose bits could follow a tile's shape) keeps
// a cut that depends on the shapes only: fewer than kMinTasks blocks are cut into tiles of a
// multiple of 2 row_align rows.
// The threads a parallel region will have (1 without OpenMP): how the convs cut their tasks.
inline int64_t conv_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
constexpr int64_t kMinTasks = 8;
constexpr int64_t kKeepPackBytes = int64_t{32} << 20;
struct ConvRowTiles {
    int64_t n = 1;     // tiles
    int64_t rows = 0;  // double: rows per tile (the last one shorter); float: 0, tiles of whole panels
    int64_t OCg = 0;
    int64_t a = 12;  // the kernel's row_align
    // rows [begin(t), begin(t + 1)) of the group's output channels
    int64_t begin(int64_t t) const {
        if (rows) return std::min(OCg, t * rows);
        const int64_t panels = (OCg + a - 1) / a;
        return std::min(OCg, t * panels / n * a);
    }
};
inline int64_t gcd64(int64_t a, int64_t b) { return b ? gcd64(b, a % b) : a; }
template <class T>
ConvRowTiles conv_row_tiles(int64_t col_tasks, int64_t OCg, int64_t threads, int64_t a) {
    if constexpr (!std::is_same_v<T, float>) {
        if (col_tasks >= kMinTasks) return {1, OCg, OCg, a};
        const int64_t splits = (kMinTasks + col_tasks - 1) / col_tasks;
        const int64_t rows = std::max<int64_t>(2 * a, ((OCg + splits - 1) / splits + 2 * a - 1) / (2 * a) * (2 * a));
        return {(OCg + rows - 1) / rows, rows, OCg, a};
    } else {
        threads = std::max<int64_t>(1, threads);
        if (col_tasks >= std::max(kMinTasks, threads) && col_tasks % threads == 0) return {1, OCg, OCg, a};
        // the fewest tiles with col_tasks * n a multiple of the threads and at least kMinTasks tasks
        const int64_t n0 = threads / gcd64(col_tasks, threads);
        const int64_t want = std::max(kMinTasks, threads);
        const int64_t n = std::min(n0 * ((want + col_tasks * n0 - 1) / (col_tasks * n0)), (OCg + a - 1) / a);
        return {std::max<int64_t>(1, n), 0, OCg, a};
    }
}

// The right operands' packs that the threads of one call share (conv2d_gemm's blocks, the images
// of conv2d_expand_depthwise_forward, conv2d_mbconv_forward's blocks): kept by the calling thread from call to call (no
// allocation, no page faults on the next forward), as the GEMM keeps its own scratch, up to kKeepPackBytes of them (a
// bigger set is freed after its call).
class SharedRhs {
public:
    // pool: which of the thread's pools (an op holding one while it calls another that holds one:
    // conv2d_mbconv_forward's 1, around expand_depthwise_blocks' 0)
    SharedRhs(size_t n, int64_t bytes, size_t pool_id = 0) : pool_(pool(pool_id)), bytes_(bytes) {
        if (pool_.size() < n) pool_.resize(n);
    }
    ~SharedRhs() {
        if (bytes_ > kKeepPackBytes) std::vector<gemm_kernel::PackedRhs>().swap(pool_);
    }
    SharedRhs(const SharedRhs&) = delete;
    SharedRhs& operator=(const SharedRhs&) = delete;
    gemm_kernel::PackedRhs* data() { return pool_.data(); }

private:
    static std::vector<gemm_kernel::PackedRhs>& pool(size_t id) {
        thread_local std::array<std::vector<gemm_kernel::PackedRhs>, 2> p;
        return p.at(id);
    }
    std::vector<gemm_kernel::PackedRhs>& pool_;
    int64_t bytes_;
};

// The column blocks of a group's P output pixels: double, blocks of kColBlock (the last shorter);
// float, about as many blocks, of whole 32-pixel column panels spread as evenly as they go, and,
// when the N G groups' blocks are enough tasks but do not split evenly over the threads, the fewest
// more blocks that do.
struct ConvColBlocks {
    int64_t n = 1;      // blocks
    int64_t width = 0;  // double: kColBlock; float: 0, runs of whole panels
    int64_t P = 0;
    static constexpr int64_t kPanel = 32;
    int64_t begin(int64_t b) const {
        if (width) return std::min(P, b * width);
        const int64_t panels = (P + kPanel - 1) / kPanel;
        return std::min(P, b * panels / n * kPanel);
    }
    int64_t max_width() const { return width ? width : ((P + kPanel - 1) / kPanel + n - 1) / n * kPanel; }
};
template <class T>
ConvColBlocks conv_col_blocks(int64_t NG, int64_t P, int64_t threads) {
    int64_t n = (P + kColBlock - 1) / kColBlock;
    if constexpr (!std::is_same_v<T, float>) {
        return {n, kColBlock, P};
    } else {
        const int64_t panels = (P + ConvColBlocks::kPanel - 1) / ConvColBlocks::kPanel;
        if (threads > 1 && NG * n >= kMinTasks)
            for (int64_t m = n; m < n + threads && m <= panels; ++m)
                if ((NG * m) % threads == 0) {
                    n = m;
                    break;
                }
        return {n, 0, P};
    }
}

// A convolution's weights as the fast paths use them: per group, packed for the GEMM; or, for
// Winograd, the 16 transformed matrices U[xi] and their packs.
template <class T>
struct ConvPrepared {
    const T* weight = nullptr;                              // what it was made from
    std::vector<T, AlignedAllocator<T>> U;                  // Winograd: 16 matrices of OC x C
    std::vector<GemmLhs<T>> lhs;                            // Winograd: U[xi]; GEMM: one per group
    std::vector<uint16_t, AlignedAllocator<uint16_t>> amx;  // direct AMX conv: the packed taps
};

// Made on first use for each precision and kept: Conv2d owns one, and its visit(), which every
// load goes through, empties it. Safe to share between threads calling forward; a forward holds
// its pack (shared_ptr) for its whole run, so a reset meanwhile frees nothing in use.
template <class T>
class ConvWeights {
public:
    ConvWeights() = default;
    ConvWeights(const ConvWeights&) {}
    ConvWeights& operator=(const ConvWeights&) {
        reset();
        return *this;
    }
    void reset() {
        std::lock_guard<std::mutex> lock(m_);
        for (auto& s : slots_) s.reset();
    }
    // has(p): whether a kept pack holds what the caller needs; if not, make() replaces it (FusedMBConv's
    // 1x1 needs its tile pack beside the GEMM's, which its unfused forward may have made alone).
    template <class Make>
    std::shared_ptr<const ConvPrepared<T>> get(const T* weight, Make&& make,
                                               bool (*has)(const ConvPrepared<T>&) = nullptr) const {
        std::lock_guard<std::mutex> lock(m_);
        auto& s = slots_[static_cast<size_t>(gemm_kernel::current_kind())];
        if (!s || s->weight != weight || (has && !has(*s))) {
            auto p = std::make_shared<ConvPrepared<T>>(make());
            p->weight = weight;
            s = std::move(p);
        }
        return s;
    }

private:
    mutable std::mutex m_;
    mutable std::array<std::shared_ptr<const ConvPrepared<T>>, gemm_kernel::kKinds> slots_;
};

template <class T>
ConvPrepared<T> gemm_conv_weights(const T* weight, int64_t OC, int64_t R, int64_t G) {
    ConvPrepared<T> p;
    const int64_t OCg = OC / G;
    p.lhs.reserve(static_cast<size_t>(G));
    for (int64_t g = 0; g < G; ++g) p.lhs.emplace_back(weight + g * OCg * R, OCg, R, R, 1);
    return p;
}

// A conv's prepared weights, make(): the layer's kept ones (cache; has as ConvWeights::get's), or made for
// this call in local.
template <class T, class Make>
std::shared_ptr<const ConvPrepared<T>> kept_or_local(const ConvWeights<T>* cache, const T* w,
                                                     std::optional<ConvPrepared<T>>& local, Make&& make,
                                                     bool (*has)(const ConvPrepared<T>&) = nullptr) {
    if (cache) return cache->get(w, make, has);
    local.emplace(make());
    return {&*local, [](const ConvPrepared<T>*) {}};
}
// An ungrouped GEMM conv's weights (M x Kd).
template <class T>
std::shared_ptr<const ConvPrepared<T>> gemm_conv_prepared(const ConvWeights<T>* cache, const T* w, int64_t M,
                                                          int64_t Kd, std::optional<ConvPrepared<T>>& local) {
    return kept_or_local(cache, w, local, [&] { return gemm_conv_weights(w, M, Kd, 1); });
}

// Grouped / dense: per (image, group, block of output pixels, tile of output channels), build the
// im2col block (Cg*K*K rows x cols; skipped for 1x1 stride-1 convs, which read the input in place)
// and multiply the group's (rows x Cg*K*K) weight tile straight into the output, then the epilogue.
// When the output channels are cut into row tiles (small maps), the tiles of a column block share
// one pack of its im2col matrix (float: PackedRhs), made first in parallel task by task (each task
// packs from the input in place, or from its own kKc x 32 im2col piece), instead of each tile
// building and packing its own: the products and their bits are the same.
template <class T>
void conv2d_gemm(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                 int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G, Act act,
                 const ConvPrepared<T>* prepared = nullptr) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    const int64_t OH = conv_out_size(H, K, stride, pad, dilation), OW = conv_out_size(W, K, stride, pad, dilation);
    const int64_t P = OH * OW, Cg = C / G, OCg = OC / G, R = Cg * K * K;
    const int64_t threads = conv_threads();
    const ConvColBlocks blocks = conv_col_blocks<T>(N * G, P, threads);
    const int64_t nblk = blocks.n, ncol = N * G * nblk;
    std::optional<ConvPrepared<T>> local;  // packed here when the layer keeps no packs
    if (!prepared) prepared = &local.emplace(gemm_conv_weights(weight, OC, R, G));
    const ConvRowTiles tiles = conv_row_tiles<T>(ncol, OCg, threads, prepared->lhs[0].row_align());
    const int64_t ntile = tiles.n;
    const bool pointwise = K == 1 && stride == 1 && pad == 0;
    // column block c = (n G + g) nblk + b: its input, output and pixel range
    auto block = [&](int64_t c) {
        const int64_t n = c / (G * nblk), g = c / nblk % G, p0 = blocks.begin(c % nblk);
        return std::make_tuple(n, g, p0, blocks.begin(c % nblk + 1) - p0, in + (n * C + g * Cg) * H * W);
    };
    constexpr bool share = std::is_same_v<T, float>;
    const bool shared = share && ntile > 1;
    SharedRhs rhs_pool(shared ? static_cast<size_t>(ncol) : 0, shared ? int64_t(sizeof(T)) * R * P * N * G : 0);
    auto* rhs = rhs_pool.data();
    int64_t ptasks = 0;  // pack tasks of the widest block
    for (int64_t c = 0; shared && c < ncol; ++c) {
        const auto [n, g, p0, np, gin] = block(c);
        rhs[c].reset(prepared->lhs[static_cast<size_t>(g)].kind(), R, np);
        ptasks = std::max(ptasks, rhs[c].tasks());
    }
#pragma omp parallel
    {
        thread_local std::vector<T, AlignedAllocator<T>> col;  // this thread's im2col block or piece
        if (!pointwise)
            col.resize(std::max(col.size(), static_cast<size_t>(shared ? gemm_kernel::kKc * gemm_kernel::kMaxNR
                                                                       : R * blocks.max_width())));
        if constexpr (share) {
            if (shared) {
#pragma omp for collapse(2) schedule(static)
                for (int64_t c = 0; c < ncol; ++c)
                    for (int64_t t = 0; t < ptasks; ++t) {
                        auto& B = rhs[c];
                        if (t >= B.tasks()) continue;
                        const auto [n, g, p0, np, gin] = block(c);
                        if (pointwise) {
                            B.pack(t, {gin + p0, H * W, 1});
                        } else {  // this task's piece of the block's im2col matrix, then its pack
                            const auto k = B.task(t);
                            im2col_block(col.data(), gin, Cg, H, W, OW, K, stride, pad, dilation, p0 + k.j0, k.nc, k.k0,
                                         k.k0 + k.kc);
                            B.pack_piece(t, {col.data(), k.nc, 1});
                        }
                    }
            }
        }
#pragma omp for collapse(2) schedule(static)
        for (int64_t c = 0; c < ncol; ++c)
            for (int64_t t = 0; t < ntile; ++t) {
                const auto [n, g, p0, np, gin] = block(c);
                const int64_t o0 = tiles.begin(t), no = tiles.begin(t + 1) - o0;
                if (no <= 0) continue;
                T* gout = out + (n * OC + g * OCg + o0) * P + p0;
                const GemmLhs<T>& Wm = prepared->lhs[static_cast<size_t>(g)];
                Eigen::Map<Mat, 0, Stride> Y(gout, no, np, Stride(P));
                // float: the bias and activation in the GEMM's write-back; double: after the product
                gemm_kernel::Epilogue ep;
                [[maybe_unused]] BiasAct ba{nullptr, act};
                if constexpr (share) {
                    ba.bias = bias ? bias + g * OCg : nullptr;
                    ep = ba.epilogue();
                    if (shared) {
                        Wm.product_rows(o0, Y, rhs[c], false, ep);
                        continue;
                    }
                }
                if (pointwise) {
                    Wm.product_rows(o0, Y, Eigen::Map<const Mat, 0, Stride>(gin + p0, R, np, Stride(H * W)), false, ep);
                } else {
                    im2col_block(col.data(), gin, Cg, H, W, OW, K, stride, pad, dilation, p0, np);
                    Wm.product_rows(o0, Y, Eigen::Map<const Mat>(col.data(), R, np), false, ep);
                }
                if constexpr (!share)
                    for (int64_t o = 0; o < no; ++o)
                        bias_act_row(gout + o * P, np, bias ? bias[g * OCg + o0 + o] : T(0), act);
            }
    }
}

// Winograd F(2x2, 3x3) (Lavin & Gray 2015) for dense 3x3 stride-1 "same" convs, 59 % of the
// L-models' MACs: each 2x2 output tile is A^T [ (G g G^T) .* (B^T d B) ] A over the 4x4 input
// tile d, so 16 GEMMs of (OC x C) x (C x tiles) replace one of (OC x 9C) x (C x 4 tiles):
// 2.25x fewer multiplies. The transforms only add, subtract and halve (exact in binary floating
// point up to the rounding of each add), so the error stays at the level of the direct conv; the
// tests bound it against the naive conv and the model against upstream.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
// Tiles are processed in blocks of at most kTileBlock; small images get smaller blocks (down to 32),
// so that both threads have work. Every tile's arithmetic, the GEMM's order over the channels
// included, is the same whatever the block, so the bits do not depend on the block size either.
constexpr int64_t kTileBlock = 128;
constexpr int64_t kWinogradMBytes = int64_t{1} << 20;

inline int64_t winograd_tile_block(int64_t N, int64_t NT) {
    const int64_t tasks = 4 * std::max<int64_t>(1, conv_threads());
    const int64_t tb = ((N * NT + tasks - 1) / tasks + 15) / 16 * 16;
    return std::clamp<int64_t>(tb, 32, kTileBlock);
}

inline bool winograd_applies(int64_t C, int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation,
                             int64_t G) {
    return K == 3 && stride == 1 && pad == 1 && dilation == 1 && G == 1 && C >= 8 && OC >= 8;
}

// The output's merge for Winograd (row[2i] = even[i], row[2i + 1] = odd[i]), 32 columns at a time
// with AVX-512 where the build has it; interleave_store returns false when it did nothing.
template <int64_t VW, class T>
bool interleave_store(T* row, const T* even, const T* odd) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && VW == 16) {
        const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        const __m512 e = _mm512_load_ps(even), o = _mm512_load_ps(odd);
        _mm512_storeu_ps(row, _mm512_permutex2var_ps(e, lo, o));
        _mm512_storeu_ps(row + 16, _mm512_permutex2var_ps(e, hi, o));
        return true;
    }
#endif
    (void)row, (void)even, (void)odd;
    return false;
}

// U[xi] = (G g G^T)[xi] for every (oc, c): 16 matrices of OC x C, and their packs.
template <class T>
ConvPrepared<T> winograd_weights(const T* weight, int64_t C, int64_t OC) {
    ConvPrepared<T> p;
    p.U.resize(static_cast<size_t>(16 * OC * C));
    T* U = p.U.data();
#pragma omp parallel for schedule(static)
    for (int64_t oc = 0; oc < OC; ++oc)
        for (int64_t c = 0; c < C; ++c) {
            const T* g = weight + (oc * C + c) * 9;
            T t[4][3];  // G g
            for (int j = 0; j < 3; ++j) {
                t[0][j] = g[j];
                t[1][j] = T(0.5) * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = T(0.5) * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; ++i) {  // (G g) G^T
                const T u[4] = {t[i][0], T(0.5) * (t[i][0] + t[i][1] + t[i][2]), T(0.5) * (t[i][0] - t[i][1] + t[i][2]),
                                t[i][2]};
                for (int j = 0; j < 4; ++j) U[((i * 4 + j) * OC + oc) * C + c] = u[j];
            }
        }
    p.lhs.reserve(16);
    for (int64_t xi = 0; xi < 16; ++xi) p.lhs.emplace_back(U + xi * OC * C, OC, C, C, 1);
    if (p.lhs[0].holds_pack()) {  // float: the packs are the copy kept (16/9 of the weights, not twice that)
        for (auto& l : p.lhs) l.drop_source();
        p.U = {};
    }
    return p;
}

// A 1x1 projection taken into Winograd's tile blocks (conv2d_pair_forward): out2 (N x OC2 x H x W) =
// ep(W2 y), y the conv's output; y then never leaves the block (out is not written).
template <class T>
struct WinogradProjection {
    const GemmLhs<T>* W2 = nullptr;
    gemm_kernel::Epilogue ep;
    int64_t OC2 = 0;
    T* out2 = nullptr;
    const T* plus = nullptr;  // or a tensor of out2's shape added to it (a residual sum)
};

template <class T>
void conv2d_winograd_f2x3(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H,
                          int64_t W, int64_t OC, Act act, const ConvPrepared<T>* prepared = nullptr,
                          const WinogradProjection<T>* proj = nullptr) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using V = simd::vec<T>;
    constexpr int64_t VW = simd::width<T>;
    const int64_t TH = (H + 1) / 2, TW = (W + 1) / 2, NT = TH * TW, TB = winograd_tile_block(N, NT);
    const int64_t nblk = (NT + TB - 1) / TB;
    std::optional<ConvPrepared<T>> local;  // transformed and packed here when the layer keeps no packs
    if (!prepared) prepared = &local.emplace(winograd_weights(weight, C, OC));
    const std::vector<GemmLhs<T>>& Ul = prepared->lhs;
    // Where M (16 x OC x TB) would not stay in L2 (over 2 kWinogradMBytes: XL's 1024-channel neck
    // convs have 8 MiB), output channels go in groups of about kWinogradMBytes of it, each group's 16
    // products and output transform in turn, instead of M going out to memory and back. The rows of
    // a product are independent: the same bits.
    const int64_t align = Ul[0].row_align(), mbytes = int64_t(16 * sizeof(T)) * OC * TB;
    const int64_t groups = mbytes > 2 * kWinogradMBytes ? (mbytes + kWinogradMBytes - 1) / kWinogradMBytes : 1;
    const int64_t OG = std::min(OC, ((OC + groups - 1) / groups + align - 1) / align * align);
    // The tiles of a block, one tile-row segment at a time: f(ty, tx0, count, j0) with j0 the
    // index of tile (ty, tx0) within the block.
    auto for_segments = [TW](int64_t t0, int64_t nt, auto&& f) {
        for (int64_t j = 0; j < nt;) {
            const int64_t ty = (t0 + j) / TW, tx = (t0 + j) % TW, cnt = std::min(TW - tx, nt - j);
            f(ty, tx, cnt, j);
            j += cnt;
        }
    };
    const int64_t EW = TW + 1 + VW;  // even/odd column planes of a zero-padded input row
#pragma omp parallel
    {
        std::vector<T, AlignedAllocator<T>> Vb(static_cast<size_t>(16 * C * TB));
        std::vector<T, AlignedAllocator<T>> Mb(static_cast<size_t>(16 * OG * TB));
        std::vector<gemm_kernel::PackedRhs> vp(16);                           // float, several groups: V[xi] packed
        std::vector<T, AlignedAllocator<T>> eo(static_cast<size_t>(8 * EW));  // rows 0..3: even, then odd
        // with a projection: the block's conv output (OC x 4 TB: per tile-row segment of cnt tiles from
        // tile j0, its two output rows of 2 cnt pixels from column 4 j0) and the projection's
        std::vector<T, AlignedAllocator<T>> yb(proj ? static_cast<size_t>(OC * 4 * TB) : 0),
            pb(proj ? static_cast<size_t>(proj->OC2 * 4 * TB) : 0);
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t b = 0; b < nblk; ++b) {
                const int64_t t0 = b * TB, nt = std::min(TB, NT - t0);
                // V[xi][c][tile] = (B^T d B)[xi], d the 4x4 input patch at (2 ty - 1, 2 tx - 1), zero
                // outside. Padded column x + 1 of a row is split into even/odd planes, so tile tx
                // reads columns q = 0..3 at E[tx], O[tx], E[tx+1], O[tx+1]: contiguous over tiles.
                for (int64_t c = 0; c < C; ++c) {
                    const T* src = in + (n * C + c) * H * W;
                    for_segments(t0, nt, [&](int64_t ty, int64_t tx0, int64_t cnt, int64_t j0) {
                        std::fill(eo.begin(), eo.end(), T(0));
                        for (int r = 0; r < 4; ++r) {
                            const int64_t y = 2 * ty - 1 + r;
                            if (y < 0 || y >= H) continue;
                            T* E = eo.data() + r * EW;
                            T* O = eo.data() + (4 + r) * EW;
                            const int64_t x0 = split_even_odd(O, E + 1, src + y * W, W);  // padded x + 1
                            for (int64_t x = x0; x < W; ++x) (((x + 1) & 1) ? O : E)[(x + 1) >> 1] = src[y * W + x];
                        }
                        for (int64_t k = 0; k < cnt; k += VW) {
                            const int64_t tx = tx0 + k;
                            V d[4][4];
                            for (int r = 0; r < 4; ++r) {
                                const T* E = eo.data() + r * EW + tx;
                                const T* O = eo.data() + (4 + r) * EW + tx;
                                d[r][0] = V::load_unaligned(E);
                                d[r][1] = V::load_unaligned(O);
                                d[r][2] = V::load_unaligned(E + 1);
                                d[r][3] = V::load_unaligned(O + 1);
                            }
                            V t[4][4];  // B^T d
                            for (int q = 0; q < 4; ++q) {
                                t[0][q] = d[0][q] - d[2][q];
                                t[1][q] = d[1][q] + d[2][q];
                                t[2][q] = d[2][q] - d[1][q];
                                t[3][q] = d[1][q] - d[3][q];
                            }
                            V v[16];  // (B^T d) B
                            for (int r = 0; r < 4; ++r) {
                                v[r * 4 + 0] = t[r][0] - t[r][2];
                                v[r * 4 + 1] = t[r][1] + t[r][2];
                                v[r * 4 + 2] = t[r][2] - t[r][1];
                                v[r * 4 + 3] = t[r][1] - t[r][3];
                            }
                            const int64_t m = std::min(VW, cnt - k);
                            for (int xi = 0; xi < 16; ++xi) {
                                T* dst = Vb.data() + (xi * C + c) * nt + j0 + k;
                                if (m == VW) {
                                    v[xi].store_unaligned(dst);
                                } else {
                                    alignas(64) T buf[VW];
                                    v[xi].store_aligned(buf);
                                    std::copy(buf, buf + m, dst);
                                }
                            }
                        }
                    });
                }
                // float: V[xi] packed once for the groups of output channels below
                if constexpr (std::is_same_v<T, float>)
                    if (OG < OC)
                        for (int64_t xi = 0; xi < 16; ++xi) {
                            gemm_kernel::PackedRhs& r = vp[static_cast<size_t>(xi)];
                            r.reset(Ul[0].kind(), C, nt);
                            for (int64_t t = 0; t < r.tasks(); ++t) r.pack(t, {Vb.data() + xi * C * nt, nt, 1});
                        }
                for (int64_t oc0 = 0; oc0 < OC; oc0 += OG) {
                    const int64_t og = std::min(OG, OC - oc0);
                    // M[xi] = U[xi] V[xi] for output channels [oc0, oc0 + og): (og x C) (C x nt)
                    for (int64_t xi = 0; xi < 16; ++xi) {
                        Eigen::Map<const Mat> Vm(Vb.data() + xi * C * nt, C, nt);
                        Eigen::Map<Mat> Mm(Mb.data() + xi * og * nt, og, nt);
                        const GemmLhs<T>& U = Ul[static_cast<size_t>(xi)];
                        if constexpr (std::is_same_v<T, float>) {
                            if (OG < OC) {
                                U.product_rows(oc0, Mm, vp[static_cast<size_t>(xi)]);
                                continue;
                            }
                        }
                        U.product_rows(oc0, Mm, Vm);
                    }
                    // Y = A^T M A per tile, vectorised over the tiles of a segment; + bias, activation.
                    for (int64_t oc = oc0; oc < oc0 + og; ++oc) {
                        const V bv(bias ? bias[oc] : T(0));
                        T* dst = proj ? nullptr : out + (n * OC + oc) * H * W;
                        for_segments(t0, nt, [&](int64_t ty, int64_t tx0, int64_t cnt, int64_t j0) {
                            // output row r of the segment and its first tile's column; its width
                            T* rows[2];
                            int64_t x0 = 2 * tx0, w = W, h = H - 2 * ty;
                            if (proj) {
                                rows[0] = yb.data() + oc * 4 * nt + 4 * j0;
                                rows[1] = rows[0] + 2 * cnt;
                                x0 = 0, w = 2 * cnt, h = 2;
                            } else {
                                rows[0] = dst + 2 * ty * W;
                                rows[1] = rows[0] + W;
                            }
                            for (int64_t k = 0; k < cnt; k += VW) {
                                const int64_t m = std::min(VW, cnt - k);
                                V mm[16];
                                for (int xi = 0; xi < 16; ++xi) {
                                    const T* p = Mb.data() + (xi * og + oc - oc0) * nt + j0 + k;
                                    if (m == VW) {
                                        mm[xi] = V::load_unaligned(p);
                                    } else {
                                        alignas(64) T buf[VW] = {};
                                        std::copy(p, p + m, buf);
                                        mm[xi] = V::load_aligned(buf);
                                    }
                                }
                                alignas(64) T y[4][VW];
                                V sr[2][4];  // A^T M, then (A^T M) A
                                for (int q = 0; q < 4; ++q) {
                                    sr[0][q] = mm[q] + mm[4 + q] + mm[8 + q];
                                    sr[1][q] = mm[4 + q] - mm[8 + q] - mm[12 + q];
                                }
                                for (int r = 0; r < 2; ++r) {
                                    act_apply(act, sr[r][0] + sr[r][1] + sr[r][2] + bv).store_aligned(y[r * 2 + 0]);
                                    act_apply(act, sr[r][1] - sr[r][2] - sr[r][3] + bv).store_aligned(y[r * 2 + 1]);
                                }
                                for (int r = 0; r < std::min<int64_t>(2, h); ++r) {
                                    T* row = rows[r];
                                    if (m == VW && x0 + 2 * (k + VW) <= w &&
                                        interleave_store<VW>(row + x0 + 2 * k, y[r * 2], y[r * 2 + 1]))
                                        continue;
                                    for (int64_t i = 0; i < m; ++i) {
                                        const int64_t ox = x0 + 2 * (k + i);
                                        row[ox] = y[r * 2][i];
                                        if (ox + 1 < w) row[ox + 1] = y[r * 2 + 1][i];
                                    }
                                }
                            }
                        });
                    }
                }
                if (!proj) continue;
                // the projection of the block's 4 nt pixels, then its rows into out2 (pixels in the image)
                const int64_t np = 4 * nt, OC2 = proj->OC2;
                Eigen::Map<Mat> P2(pb.data(), OC2, np);
                proj->W2->product_rows(0, P2, Eigen::Map<const Mat>(yb.data(), OC, np), false, proj->ep);
                for (int64_t o = 0; o < OC2; ++o)
                    for_segments(t0, nt, [&](int64_t ty, int64_t tx0, int64_t cnt, int64_t j0) {
                        const T* src = pb.data() + o * np + 4 * j0;
                        T* dst = proj->out2 + ((n * OC2 + o) * H + 2 * ty) * W + 2 * tx0;
                        const int64_t w = std::min(2 * cnt, W - 2 * tx0);
                        for (int64_t r = 0; r < std::min<int64_t>(2, H - 2 * ty); ++r) {
                            T* d = dst + r * W;
                            if (proj->plus) {
                                const T* q = proj->plus + (d - proj->out2);
                                for (int64_t i = 0; i < w; ++i) d[i] = src[r * 2 * cnt + i] + q[i];
                            } else {
                                std::copy(src + r * 2 * cnt, src + r * 2 * cnt + w, d);
                            }
                        }
                    });
            }
    }
}

// ---- dense 3x3 convs, stride 1 or 2, on AMX tiles (fast; ops/conv2d_amx.hpp) -------------------
// Taken instead of Winograd (stride 1) and im2col (stride 2) where the precision in force runs its
// GEMMs on AMX (or AMX's emulation).
constexpr int64_t kDirectAmxWeightBytes = int64_t{1} << 20;
inline bool direct_amx_weights_fit_l2(int64_t C, int64_t OC) {
    return DirectAmxGeom(C, 1, 1, OC).weights() * 2 <= 2 * kDirectAmxWeightBytes;
}
template <class T>
bool direct_amx_applies(int64_t C, int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G) {
    if constexpr (!std::is_same_v<T, float>) {
        return false;
    } else {
        // also at stride 1 with over 2 MiB of packed weights (XL's 256 -> 1024 convs at 64x64, in groups
        // of output channels whose weights fit L2): with the tiles pipelined, the direct conv beats
        // Winograd's 2.25x fewer multiplies there too (2 threads, with GELU: 5.6 against 8.0 ms; before
        // the pipelining, 9.7 against 7.6), and so does FusedMBConv's pair in chunks (below)
        return K == 3 && (stride == 1 || stride == 2) && pad == 1 && dilation == 1 && G == 1 && C >= 8 && OC >= 8 &&
               direct_amx_kind(gemm_kernel::current_kind());
    }
}
inline ConvPrepared<float> direct_amx_weights(const float* weight, int64_t C, int64_t OC) {
    ConvPrepared<float> p;
    const DirectAmxGeom d(C, 1, 1, OC);
    p.amx.resize(static_cast<size_t>(d.weights()));
    direct_amx_pack_weights(p.amx.data(), weight, d);
    return p;
}
inline std::shared_ptr<const ConvPrepared<float>> direct_amx_prepared(const ConvWeights<float>* cache, const float* w,
                                                                      int64_t C, int64_t OC,
                                                                      std::optional<ConvPrepared<float>>& local) {
    return kept_or_local(cache, w, local, [&] { return direct_amx_weights(w, C, OC); });
}
// The padded channels-last image Xp of every image, kept by the calling thread from call to call
// (slot 1: a second one, conv2d_chain_direct_amx's mid).
inline uint16_t* direct_amx_images(int64_t n, int slot = 0) {
    thread_local std::vector<uint16_t, AlignedAllocator<uint16_t>> xp[2];
    auto& v = xp[slot];
    if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
    return v.data();
}
// Inside a parallel region: the N images' Xp, the padded rows shared out among the threads; and this
// thread's buffer for two tiles in flight and a transpose (3072 floats).
inline void direct_amx_pack_images(const DirectAmxKernel& kn, uint16_t* X, const float* in, const DirectAmxGeom& d,
                                   int64_t N, bool channels_last = false) {
    const auto pack = channels_last ? kn.pack_channels_last : kn.pack;
#pragma omp for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; ++n)
        for (int64_t r = 0; r < d.Hp; ++r) pack(X + n * d.image(), in + n * d.C * d.H * d.W, d, r, r + 1);
}
inline float* direct_amx_tile_buffer() {
    thread_local std::vector<float, AlignedAllocator<float>> tmp(3072);
    return tmp.data();
}

// The conv's tasks: (group of output channel blocks, band of output rows); a group's weights (up to
// kDirectAmxWeightBytes) stay in L2 for its band's rows, a row's input for the group's blocks
// (groups of as even a size as they go, tasks a multiple of the threads where the rows allow).
struct DirectAmxTasks {
    int64_t gob = 1, ngroups = 1, nbands = 1, rows = 1;
    explicit DirectAmxTasks(const DirectAmxGeom& d) {
        const int64_t threads = std::max<int64_t>(1, conv_threads());
        const int64_t gob0 = (d.weights() * 2 + kDirectAmxWeightBytes - 1) / kDirectAmxWeightBytes;
        gob = (d.OB + gob0 - 1) / gob0, ngroups = (d.OB + gob - 1) / gob;
        nbands = std::clamp<int64_t>((4 * threads + ngroups - 1) / ngroups, 1, d.OH);
        while (nbands < d.OH && (ngroups * nbands) % threads) ++nbands;
        rows = (d.OH + nbands - 1) / nbands;
    }
    // Inside a parallel region: every task of N images' conv from their Xp (X) into out (N x OC x OH
    // x OW) through ep.
    void run(const DirectAmxKernel& kn, const uint16_t* Wpk, const uint16_t* X, const DirectAmxGeom& d, int64_t N,
             float* out, const gemm_kernel::Epilogue& ep, float* tmp) const {
        const int64_t OP = d.OH * d.OW;
#pragma omp for collapse(3) schedule(static)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t gi = 0; gi < ngroups; ++gi)
                for (int64_t bi = 0; bi < nbands; ++bi) {
                    const int64_t ob0 = gi * gob, y0 = std::min(d.OH, bi * rows);
                    direct_amx_rows(kn, Wpk, X + n * d.image(), d, ob0, std::min(d.OB, ob0 + gob), y0,
                                    std::min(d.OH, y0 + rows), out + (n * d.OC + ob0 * 32) * OP + y0 * d.OW, OP, ep,
                                    tmp);
                }
    }
};

// out = act(conv3x3(in) + bias): Xp in parallel over the padded rows, then DirectAmxTasks.
inline void conv2d_direct_amx(float* out, const float* in, const float* weight, const float* bias, int64_t N, int64_t C,
                              int64_t H, int64_t W, int64_t OC, int64_t stride, Act act,
                              const ConvWeights<float>* cache, gemm_kernel::Kind kind = gemm_kernel::current_kind()) {
    std::optional<ConvPrepared<float>> local;
    const auto p = direct_amx_prepared(cache, weight, C, OC, local);
    const DirectAmxGeom d(C, H, W, OC, stride);
    const DirectAmxTasks tasks(d);
    const DirectAmxKernel kn = direct_amx_kernel(kind);
    uint16_t* X = direct_amx_images(N * d.image());
    const BiasAct ba{bias, act};
    const gemm_kernel::Epilogue ep = ba.epilogue();
#pragma omp parallel
    {
        const DirectAmxTiles tiles(kn);
        float* tmp = direct_amx_tile_buffer();
        direct_amx_pack_images(kn, X, in, d, N);
        tasks.run(kn, p->amx.data(), X, d, N, out, ep, tmp);
    }
}

// Two dense 3x3 convs in a row (ResBlock's conv1 and conv2), both on the tiles: out = ep2(conv2(
// act1(conv1(in) + b1))). conv1's tiles go through act1(+ b1) and bf16 as they stand, pixels x
// channels (direct_amx_mid, as in FusedMBConv's pair), straight into conv2's padded channels-last
// image X2: its 32 pixel lines of one channel group are 2 KiB in a row there. No fp32 mid written
// and read back, no pack of it; the same operations per value as the two convs in turn (the same
// bf16 mid, the same steps), so the same bits. X2 whole (4 MiB in L0's stage 0), then conv2's tasks.
inline void conv2d_chain_direct_amx(float* out, const float* in, const float* w1, const BiasAct& ba1, const float* w2,
                                    const gemm_kernel::Epilogue& ep2, int64_t N, int64_t C, int64_t H, int64_t W,
                                    int64_t E, int64_t stride, int64_t OC, const ConvWeights<float>* cache1,
                                    const ConvWeights<float>* cache2,
                                    gemm_kernel::Kind kind = gemm_kernel::current_kind()) {
    std::optional<ConvPrepared<float>> l1, l2;
    const auto p1 = direct_amx_prepared(cache1, w1, C, E, l1);
    const auto p2 = direct_amx_prepared(cache2, w2, E, OC, l2);
    const DirectAmxGeom d1(C, H, W, E, stride), d2(E, d1.OH, d1.OW, OC, 1);
    const DirectAmxTasks tasks(d2);
    const DirectAmxKernel kn = direct_amx_kernel(kind);
    uint16_t* X1 = direct_amx_images(N * d1.image());
    uint16_t* X2 = direct_amx_images(N * d2.image(), 1);
    const DirectAmxSteps s1 = d1.steps();
    const int64_t OW = d1.OW, gs = d2.gstride();
#pragma omp parallel
    {
        const DirectAmxTiles tiles(kn);
        float* tmp = direct_amx_tile_buffer();
        alignas(64) uint16_t part[1024];  // a ragged block's lines, before the copy of those in the image
        direct_amx_pack_images(kn, X1, in, d1, N);
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t r = 0; r < d2.Hp; ++r) {  // X2's padded row r: conv1's output row r - 1
                uint16_t* row = X2 + n * d2.image() + r * d2.row();
                if (direct_amx_border_row(row, d2, r)) continue;
                for (int64_t g = 0; g < d2.G; ++g) direct_amx_border_columns(row + g * gs, d2);
                direct_amx_tiles(  // tile i: pixel block i / OB, channel block i % OB
                    kn, s1, d1.XB * d1.OB, tmp,
                    [&](int64_t i) {
                        return DirectAmxOperands{p1->amx.data() + i % d1.OB * s1.nk * 1024,
                                                 X1 + n * d1.image() + d1.block(r - 1, i / d1.OB)};
                    },
                    [&](int64_t i, const float* C) {
                        const int64_t xb = i / d1.OB, ob = i % d1.OB, nx = std::min<int64_t>(32, OW - xb * 32);
                        uint16_t* lines = row + ob * gs + (xb * 32 + 1) * 32;
                        kn.mid(C, ba1.bias, ba1.act, ob * 32, std::min<int64_t>(32, E - ob * 32),
                               nx == 32 ? lines : part);
                        if (nx < 32) std::copy(part, part + nx * 32, lines);
                    });
            }
        tasks.run(kn, p2->amx.data(), X2, d2, N, out, ep2, tmp);
    }
}

// FusedMBConv's pair on it, both convs on the tiles. Per output row: per block of 32 pixels, the 3x3
// conv's tile for each block of 32 of its E channels, then act1(+ b1) and bf16 on it as it stands,
// pixels x channels (direct_amx_mid: the left operand of the 1x1's steps, 2 KiB per 32 channels);
// then per block of 32 output channels, each of the row's 1x1 output tiles from them (the
// projection's weights packed as the 3x3's right operands: W2p, one tap), transposed, through ep2's
// write into out. No fp32 mid, no pack of it and no transpose between the two; the same operations
// per value as the two convs in turn (the same bf16 mid, the same steps), so the same bits. Tasks:
// bands of about kColBlock output pixels.
// Where the 3x3's packed weights pass twice chunk_bytes (kDirectAmxWeightBytes; XL's 256 -> 1024:
// 4.5 MiB), its E channels go in chunks whose weights stay in L2 for the band's rows, chunk by chunk:
// each 1x1 tile takes the chunk's steps from the sums the chunks before left (stored to part, 4 KiB
// per tile, and loaded back into the tiles: exact), so each output still gets the steps in the same
// order. XL's FusedMBConv 256 -> 1024 -> 256 at 64x64 with its residual, 2 threads, alone: 6.9-7.0 ms
// against 9.6-10.6 through Winograd's pair (chunks of 0.5 MiB: the same; of 2 MiB: slower); in XL0's
// encoder 7.0-7.8 against 8.6-9.7 (OpenVINO bf16: 7.3-7.9).
// channels_last: in (N, H, W, C) and out (N, OH, OW, OC), as ep2 (a BiasActColumns) reads them: the
// pack rounds each pixel's channels in a row, and the 1x1's tiles go to out untransposed.
inline void conv2d_pair_direct_amx(float* out, const float* in, const float* w1, const BiasAct& ba1,
                                   const uint16_t* W2p, const gemm_kernel::Epilogue& ep2, int64_t N, int64_t C,
                                   int64_t H, int64_t W, int64_t E, int64_t stride, int64_t OC,
                                   const ConvWeights<float>* cache1,
                                   gemm_kernel::Kind kind = gemm_kernel::current_kind(),
                                   int64_t chunk_bytes = kDirectAmxWeightBytes, bool channels_last = false) {
    std::optional<ConvPrepared<float>> local;
    const auto p = direct_amx_prepared(cache1, w1, C, E, local);
    const DirectAmxGeom d(C, H, W, E, stride);
    const DirectAmxKernel kn = direct_amx_kernel(kind);
    uint16_t* X = direct_amx_images(N * d.image());
    const int64_t OW = d.OW, OH = d.OH, P = OH * OW, OB2 = (OC + 31) / 32, XB = d.XB;
    const DirectAmxSteps s1 = d.steps();
    // nc chunks of cb blocks of 32 of the E channels (the last may be shorter), each's weights (up to
    // chunk_bytes) in L2; one where all of them fit in L2 (as L0-L2's, up to 2 chunk_bytes)
    const int64_t wbytes = d.weights() * 2;
    const int64_t nc0 = wbytes <= 2 * chunk_bytes ? 1 : (wbytes + chunk_bytes - 1) / chunk_bytes;
    const int64_t cb = (d.OB + nc0 - 1) / nc0, nc = (d.OB + cb - 1) / cb;
    // tasks: bands of rows, of about kColBlock pixels; in chunks, one band per thread, so that each
    // chunk's weights come from L3 once per thread, not once per band of a few rows (the 1x1's sums
    // between chunks, 64 KiB per row of XL's 64x64, then stay in L2 or L3): 7.4-7.8 -> 6.9-7.0 ms
    const int64_t threads = std::max<int64_t>(1, conv_threads());
    const int64_t rb = std::clamp<int64_t>(
                      nc > 1 ? std::max(kColBlock / OW, (OH + threads - 1) / threads) : kColBlock / OW, 1, OH),
                  nb = (OH + rb - 1) / rb;
#pragma omp parallel
    {
        const DirectAmxTiles tiles(kn);
        float* tmp = direct_amx_tile_buffer();
        thread_local std::vector<uint16_t, AlignedAllocator<uint16_t>> mid;  // a row's: XB blocks of a chunk's
        thread_local std::vector<float, AlignedAllocator<float>> part;       // the band's 1x1 sums between chunks
        mid.resize(std::max(mid.size(), static_cast<size_t>(XB * std::min(cb, d.OB) * 1024)));
        if (nc > 1) part.resize(std::max(part.size(), static_cast<size_t>(rb * OB2 * XB * 1024)));
        direct_amx_pack_images(kn, X, in, d, N, channels_last);
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t b = 0; b < nb; ++b)
                for (int64_t c = 0; c < nc; ++c) {
                    const int64_t e0 = c * cb, ne = std::min(cb, d.OB - e0);  // the chunk's blocks
                    const DirectAmxSteps s2{{0}, ne, 1024, 1, ne};            // the 1x1 over them: one tap
                    for (int64_t y = b * rb; y < std::min(OH, (b + 1) * rb); ++y) {
                        float* sums = nc > 1 ? part.data() + (y - b * rb) * OB2 * XB * 1024 : nullptr;
                        direct_amx_tiles(  // the 3x3, tile i: pixel block i / ne (its input lines stay in L1),
                                           // channel block e0 + i % ne
                            kn, s1, XB * ne, tmp,
                            [&](int64_t i) {
                                return DirectAmxOperands{p->amx.data() + (e0 + i % ne) * s1.nk * 1024,
                                                         X + n * d.image() + d.block(y, i / ne)};
                            },
                            [&](int64_t i, const float* T) {
                                const int64_t ob = e0 + i % ne;
                                kn.mid(T, ba1.bias, ba1.act, ob * 32, std::min<int64_t>(32, E - ob * 32),
                                       mid.data() + i * 1024);
                            });
                        direct_amx_tiles(  // the 1x1, tile i: channel block i / XB (its weights stay in L1),
                                           // pixel block i % XB; from the sums so far after the first chunk
                            kn, s2, OB2 * XB, tmp,
                            [&](int64_t i) {
                                return DirectAmxOperands{W2p + (i / XB * d.OB + e0) * 1024,
                                                         mid.data() + i % XB * ne * 1024,
                                                         c > 0 ? sums + i * 1024 : nullptr};
                            },
                            [&](int64_t i, const float* T) {
                                const int64_t ob = i / XB, xb = i % XB;
                                if (c + 1 < nc)
                                    std::copy(T, T + 1024, sums + i * 1024);
                                else if (channels_last)  // the tile as it stands: pixels x channels
                                    ep2.write(T, 32, out + ((n * OH + y) * OW + xb * 32) * OC + ob * 32, OC, ob * 32,
                                              std::min<int64_t>(32, OW - xb * 32), std::min<int64_t>(32, OC - ob * 32));
                                else
                                    direct_amx_write(kn, T, tmp + 2048, ep2,
                                                     out + (n * OC + ob * 32) * P + y * OW + xb * 32, P, ob * 32,
                                                     std::min<int64_t>(32, OC - ob * 32),
                                                     std::min<int64_t>(32, OW - xb * 32));
                            });
                    }
                }
    }
}
// The 1x1 projection's tile pack (and its GEMM pack, for the unfused forward), kept together.
inline std::shared_ptr<const ConvPrepared<float>> direct_amx_point_prepared(const ConvWeights<float>* cache,
                                                                            const float* w, int64_t E, int64_t OC,
                                                                            std::optional<ConvPrepared<float>>& local) {
    auto make = [&] {
        ConvPrepared<float> p = gemm_conv_weights(w, OC, E, 1);
        p.amx.resize(static_cast<size_t>((OC + 31) / 32 * ((E + 31) / 32) * 1024));
        direct_amx_pack_weights(p.amx.data(), w, E, OC, 1);
        return p;
    };
    return kept_or_local(
        cache, w, local, make, +[](const ConvPrepared<float>& p) { return !p.amx.empty(); });
}

}  // namespace detail

// out = act(conv2d(in, weight) + bias): the convolution with its epilogue fused (ConvLayer passes
// its folded BatchNorm shift as the bias, and its activation).
template <class T>
void conv2d_forward(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                    int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G, Act act,
                    backend::cpu) {
    conv2d_forward(out, in, weight, bias, N, C, H, W, OC, K, stride, pad, dilation, G, act,
                   static_cast<const detail::ConvWeights<T>*>(nullptr), backend::cpu{});
}

// The same, with the layer's prepared weights (Conv2d's cache: packed once, not per call).
template <class T>
void conv2d_forward(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                    int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G, Act act,
                    const detail::ConvWeights<T>* cache, backend::cpu) {
    act = act_in_force<T>(act);
    if (G == C && G == OC && G > 1) {
        detail::conv2d_depthwise(out, in, weight, bias, N, C, H, W, K, stride, pad, dilation, act);
    } else if (detail::direct_amx_applies<T>(C, OC, K, stride, pad, dilation, G)) {
        if constexpr (std::is_same_v<T, float>)
            detail::conv2d_direct_amx(out, in, weight, bias, N, C, H, W, OC, stride, act, cache);
    } else if (detail::winograd_applies(C, OC, K, stride, pad, dilation, G)) {
        const auto p = cache ? cache->get(weight, [&] { return detail::winograd_weights(weight, C, OC); }) : nullptr;
        detail::conv2d_winograd_f2x3(out, in, weight, bias, N, C, H, W, OC, act, p.get());
    } else {
        const auto p = cache
                           ? cache->get(weight, [&] { return detail::gemm_conv_weights(weight, OC, C / G * K * K, G); })
                           : nullptr;
        detail::conv2d_gemm(out, in, weight, bias, N, C, H, W, OC, K, stride, pad, dilation, G, act, p.get());
    }
}

// FusedMBConv's two convs, act2(W2 act1(conv(in, W1) + b1) + b2) with W2 1x1, in one pass over
// blocks of output pixels. Run one after the other, the two convs write the whole mid tensor out to
// memory and read it back (32 MiB in L0's first stride-2 stage, 64 MiB in XL0's first stride-1
// one), and their GEMMs' output tiles miss the cache. Here the mid values of a block stay in L2:
//   GEMM path (strided or non-3x3 convs): per block of pixels, the expanding conv's im2col GEMM into
//     a buffer of the block's E x np values, then the projection from it straight into out;
//   Winograd (3x3 stride 1): per tile block, the output transform into such a buffer instead of
//     the image, then the projection, then its rows into out (conv2d_winograd_f2x3's projection);
//   AMX tiles (3x3 under fast where the direct conv applies): per row, both convs on the tiles, the
//     mid in bf16 (detail::conv2d_pair_direct_amx; in chunks of E where the 3x3's weights pass 2 MiB).
// Every output gets the same operations in the same order as there (the same packs and
// micro-kernel steps, whatever the block), so the same bits; tests/ops ties the two. Float only;
// on the GEMM path, where the image has blocks enough for every thread (conv2d_pair_applies).
template <class T>
bool conv2d_pair_applies(int64_t N, int64_t C, int64_t H, int64_t W, int64_t E, int64_t K, int64_t stride, int64_t pad,
                         int64_t dilation, int64_t G) {
    if constexpr (!std::is_same_v<T, float>) {
        return false;
    } else {
        const int64_t threads = detail::conv_threads();
        if (G != 1 || (K == 1 && stride == 1 && pad == 0)) return false;
        if (detail::direct_amx_applies<T>(C, E, K, stride, pad, dilation, G)) return true;  // in chunks of E
        if (detail::winograd_applies(C, E, K, stride, pad, dilation, G)) return true;       // per tile block
        const int64_t P = conv_out_size(H, K, stride, pad, dilation) * conv_out_size(W, K, stride, pad, dilation);
        return N * detail::conv_col_blocks<T>(N, P, threads).n >= std::max(detail::kMinTasks, 2 * threads);
    }
}

// conv2d_pair_forward on channels-last maps (a run of FusedMBConvs, OpSequential's): in (N, H, W, C),
// out and plus (N, OH, OW, OC); the tiles' path only (fast on AMX or its emulation). The same
// operations per value, so out is conv2d_pair_forward's transposed, bit for bit; per FusedMBConv of
// L2's neck, in a run of 12: 2.9-3.1 -> 2.3 ms (the NCHW pair's pack reads each channel's row and
// its write and residual read 32 rows 16 KiB apart per tile; here a pixel's channels are 128 bytes
// in a row).
template <class T>
bool conv2d_pair_channels_last_applies(int64_t C, int64_t E, int64_t K, int64_t stride, int64_t pad, int64_t dilation,
                                       int64_t G) {
    return detail::direct_amx_applies<T>(C, E, K, stride, pad, dilation, G);
}
template <class T>
void conv2d_pair_channels_last_forward(T* out, const T* in, const T* w1, const T* b1, Act act1, const T* w2,
                                       const T* b2, Act act2, int64_t N, int64_t C, int64_t H, int64_t W, int64_t E,
                                       int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t OC,
                                       const detail::ConvWeights<T>* cache1, const detail::ConvWeights<T>* cache2,
                                       backend::cpu, const T* plus = nullptr) {
    static_assert(std::is_same_v<T, float>, "conv2d_pair_channels_last_forward: float (the tiles' path)");
    if (!conv2d_pair_channels_last_applies<T>(C, E, K, stride, pad, dilation, 1))
        throw std::logic_error("conv2d_pair_channels_last_forward: a shape conv2d_pair_channels_last_applies refuses");
    std::optional<detail::ConvPrepared<T>> l2;
    const detail::BiasAct ba1{b1, act_in_force<T>(act1)};
    const detail::BiasActColumns ep2{b2, act_in_force<T>(act2), out, plus};
    const auto pp = detail::direct_amx_point_prepared(cache2, w2, E, OC, l2);
    detail::conv2d_pair_direct_amx(out, in, w1, ba1, pp->amx.data(), ep2.epilogue(), N, C, H, W, E, stride, OC, cache1,
                                   gemm_kernel::current_kind(), detail::kDirectAmxWeightBytes, true);
}

template <class T>
void conv2d_pair_forward(T* out, const T* in, const T* w1, const T* b1, Act act1, const T* w2, const T* b2, Act act2,
                         int64_t N, int64_t C, int64_t H, int64_t W, int64_t E, int64_t K, int64_t stride, int64_t pad,
                         int64_t dilation, int64_t OC, const detail::ConvWeights<T>* cache1,
                         const detail::ConvWeights<T>* cache2, backend::cpu, const T* plus = nullptr) {
    static_assert(std::is_same_v<T, float>, "conv2d_pair_forward: float (conv2d_pair_applies)");
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    if (!conv2d_pair_applies<T>(N, C, H, W, E, K, stride, pad, dilation, 1))
        throw std::logic_error("conv2d_pair_forward: a shape conv2d_pair_applies refuses");
    act1 = act_in_force<T>(act1), act2 = act_in_force<T>(act2);
    const int64_t OW = conv_out_size(W, K, stride, pad, dilation), P = conv_out_size(H, K, stride, pad, dilation) * OW;
    const int64_t R = C * K * K;
    const int64_t threads = detail::conv_threads();
    const detail::ConvColBlocks blocks = detail::conv_col_blocks<T>(N, P, threads);
    std::optional<detail::ConvPrepared<T>> l1, l2;
    const detail::BiasAct ba1{b1, act1}, ba2{b2, act2};
    const detail::BiasActPlus bp{ba2, out, plus};
    const gemm_kernel::Epilogue ep1 = ba1.epilogue(), ep2 = plus ? bp.epilogue() : ba2.epilogue();
    if (detail::direct_amx_applies<T>(C, E, K, stride, pad, dilation, 1)) {  // both on the tiles
        const auto pp = detail::direct_amx_point_prepared(cache2, w2, E, OC, l2);
        detail::conv2d_pair_direct_amx(out, in, w1, ba1, pp->amx.data(), ep2, N, C, H, W, E, stride, OC, cache1);
        return;
    }
    const auto p2 = detail::gemm_conv_prepared(cache2, w2, OC, E, l2);
    const GemmLhs<T>& W2 = p2->lhs[0];
    if (detail::winograd_applies(C, E, K, stride, pad, dilation, 1)) {  // the projection in every tile block
        const auto pw = cache1 ? cache1->get(w1, [&] { return detail::winograd_weights(w1, C, E); }) : nullptr;
        const detail::WinogradProjection<T> proj{&W2, ba2.epilogue(), OC, out, plus};
        detail::conv2d_winograd_f2x3<T>(nullptr, in, w1, b1, N, C, H, W, E, act1, pw.get(), &proj);
        return;
    }
    const auto p1 = detail::gemm_conv_prepared(cache1, w1, E, R, l1);
    const GemmLhs<T>& W1 = p1->lhs[0];
#pragma omp parallel
    {
        thread_local std::vector<T, AlignedAllocator<T>> col, mid;  // this thread's im2col block, mid block
        col.resize(std::max(col.size(), static_cast<size_t>(R * blocks.max_width())));
        mid.resize(std::max(mid.size(), static_cast<size_t>(E * blocks.max_width())));
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t b = 0; b < blocks.n; ++b) {
                const int64_t p0 = blocks.begin(b), np = blocks.begin(b + 1) - p0;
                detail::im2col_block(col.data(), in + n * C * H * W, C, H, W, OW, K, stride, pad, dilation, p0, np);
                Eigen::Map<Mat> Ymid(mid.data(), E, np);
                W1.product_rows(0, Ymid, Eigen::Map<const Mat>(col.data(), R, np), false, ep1);
                Eigen::Map<Mat, 0, Stride> Y(out + n * OC * P + p0, OC, np, Stride(P));
                W2.product_rows(0, Y, Eigen::Map<const Mat>(mid.data(), E, np), false, ep2);
            }
    }
}

// Two dense 3x3 convs in a row (ResBlock's), out = act2(conv2(act1(conv1(in) + b1)) + b2) (+ plus,
// a residual sum in the same write): conv1 C -> E at the stride, conv2 E -> OC at stride 1, both
// padding 1, in one op (detail::conv2d_chain_direct_amx: conv1's output goes to conv2 as its bf16
// input pack, never as an fp32 tensor). The same bits as the two convs (and the add) in turn;
// tests/ops ties them. Where the direct conv on AMX takes both (precision fast, float) and conv1's
// weights stay in L2 (conv2d_chain_applies); otherwise the caller runs the two convs.
template <class T>
bool conv2d_chain_applies(int64_t C, int64_t E, int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation,
                          int64_t G) {
    return detail::direct_amx_applies<T>(C, E, K, stride, pad, dilation, G) &&
           detail::direct_amx_applies<T>(E, OC, K, 1, pad, dilation, G) && detail::direct_amx_weights_fit_l2(C, E);
}
template <class T>
void conv2d_chain_forward(T* out, const T* in, const T* w1, const T* b1, Act act1, const T* w2, const T* b2, Act act2,
                          int64_t N, int64_t C, int64_t H, int64_t W, int64_t E, int64_t K, int64_t stride, int64_t pad,
                          int64_t dilation, int64_t OC, const detail::ConvWeights<T>* cache1,
                          const detail::ConvWeights<T>* cache2, backend::cpu, const T* plus = nullptr) {
    if (!conv2d_chain_applies<T>(C, E, OC, K, stride, pad, dilation, 1))
        throw std::logic_error("conv2d_chain_forward: a shape conv2d_chain_applies refuses");
    if constexpr (std::is_same_v<T, float>) {
        const detail::BiasAct ba1{b1, act_in_force<T>(act1)}, ba2{b2, act_in_force<T>(act2)};
        const detail::BiasActPlus bp{ba2, out, plus};
        detail::conv2d_chain_direct_amx(out, in, w1, ba1, w2, plus ? bp.epilogue() : ba2.epilogue(), N, C, H, W, E,
                                        stride, OC, cache1, cache2);
    }
}

// MBConv's 1x1 expand and depthwise conv, actd(dw(act1(W1 in + b1), wd) + bd), in one pass over
// blocks of the E mid channels. Run one after the other, the expand writes the whole mid tensor out
// to memory (32 MiB in L0's first stride-2 MBConv, 16 MiB in its second) and the depthwise conv
// reads it back. A depthwise conv needs nothing but its own channel, so here each block of about
// kMidBlockBytes of mid channels is expanded into a thread's buffer (in L2; its rows padded off 2^k
// strides, which share cache sets) and convolved from there; only the depthwise output is written.
// The input is packed once per image, for every block. Each output gets the same operations as the
// two convs in turn (the GEMM's bits do not depend on the tile; each channel's depthwise is the
// same), so the same bits; tests/ops ties the two. Float only; stride 1 or 2, no dilation.
constexpr int64_t kMidBlockBytes = int64_t{512} << 10;
template <class T>
bool conv2d_expand_depthwise_applies(int64_t stride, int64_t dilation) {
    return std::is_same_v<T, float> && (stride == 1 || stride == 2) && dilation == 1;
}

namespace detail {
// conv2d_mbconv_forward's buffer for a block of depthwise outputs, this thread's, kept from call to
// call.
template <class T>
std::vector<T, AlignedAllocator<T>>& mbconv_block_buffer() {
    thread_local std::vector<T, AlignedAllocator<T>> buf;
    return buf;
}
// The pass both ops below make: per image n and block of mid channels [e0, e0 + ne) (whole panels
// of W1), on one thread, the expand into that thread's mid buffer, then each channel e's depthwise
// conv into dst(n, e0, ne, e) (OH x OW values); then done(n, e0, ne) on the same thread.
template <class T, class Dst, class Done>
void expand_depthwise_blocks(const T* in, const T* w1, const T* b1, Act act1, const T* wd, const T* bd, Act actd,
                             int64_t N, int64_t C, int64_t H, int64_t W, int64_t E, int64_t K, int64_t stride,
                             int64_t pad, const ConvWeights<T>* cache1, Dst&& dst, Done&& done) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    const int64_t threads = conv_threads();
    const int64_t P = H * W, ldm = (P + 15) / 16 * 16 + 16;
    std::optional<ConvPrepared<T>> l1;
    const auto p1 = gemm_conv_prepared(cache1, w1, E, C, l1);
    const GemmLhs<T>& W1 = p1->lhs[0];
    const DepthwisePlan<T> plan(H, W, K, stride, pad);
    // blocks of whole packed panels, about kMidBlockBytes each, as many per image as split evenly
    // over the threads where the panels allow
    const int64_t a = W1.row_align(), panels = (E + a - 1) / a;
    int64_t nb = std::clamp<int64_t>((int64_t(sizeof(T)) * E * ldm + kMidBlockBytes - 1) / kMidBlockBytes, 1, panels);
    while (nb < panels && (N * nb) % threads) ++nb;
    const ConvRowTiles blocks{nb, 0, E, a};
    int64_t widest = 0;
    for (int64_t b = 0; b < nb; ++b) widest = std::max(widest, blocks.begin(b + 1) - blocks.begin(b));
    SharedRhs rhs_pool(static_cast<size_t>(N), int64_t(sizeof(T)) * C * P * N);
    gemm_kernel::PackedRhs* rhs = rhs_pool.data();
    for (int64_t n = 0; n < N; ++n) rhs[n].reset(W1.kind(), C, P);
    const BiasAct ba1{b1, act1};
    const gemm_kernel::Epilogue ep1 = ba1.epilogue();
#pragma omp parallel
    {
        thread_local std::vector<T, AlignedAllocator<T>> mid, buf;  // this thread's mid block, depthwise planes
        mid.resize(std::max(mid.size(), static_cast<size_t>(widest * ldm)));
        buf.resize(std::max(buf.size(), plan.buffer_size()));
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t t = 0; t < rhs[0].tasks(); ++t) rhs[n].pack(t, {in + n * C * P, P, 1});
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t b = 0; b < nb; ++b) {
                const int64_t e0 = blocks.begin(b), ne = blocks.begin(b + 1) - e0;
                if (ne <= 0) continue;
                Eigen::Map<Mat, 0, Stride> Y(mid.data(), ne, P, Stride(ldm));
                W1.product_rows(e0, Y, rhs[n], false, ep1);  // act1(W1 in + b1), rows e0 .. e0 + ne
                for (int64_t e = e0; e < e0 + ne; ++e)
                    plan.channel(dst(n, e0, ne, e), mid.data() + (e - e0) * ldm, wd + e * K * K, bd ? bd[e] : T(0),
                                 actd, buf.data());
                done(n, e0, ne);
            }
    }
}
}  // namespace detail

template <class T>
void conv2d_expand_depthwise_forward(T* out, const T* in, const T* w1, const T* b1, Act act1, const T* wd, const T* bd,
                                     Act actd, int64_t N, int64_t C, int64_t H, int64_t W, int64_t E, int64_t K,
                                     int64_t stride, int64_t pad, const detail::ConvWeights<T>* cache1, backend::cpu) {
    static_assert(std::is_same_v<T, float>, "conv2d_expand_depthwise_forward: float");
    if (!conv2d_expand_depthwise_applies<T>(stride, 1))
        throw std::logic_error("conv2d_expand_depthwise_forward: a stride conv2d_expand_depthwise_applies refuses");
    const int64_t OP = conv_out_size(H, K, stride, pad, 1) * conv_out_size(W, K, stride, pad, 1);
    detail::expand_depthwise_blocks(
        in, w1, b1, act_in_force<T>(act1), wd, bd, act_in_force<T>(actd), N, C, H, W, E, K, stride, pad, cache1,
        [&](int64_t n, int64_t, int64_t, int64_t e) { return out + (n * E + e) * OP; },
        [](int64_t, int64_t, int64_t) {});
}

// MBConv's three convs, act2(W2 actd(dw(act1(W1 in + b1), wd) + bd) + b2) (+ plus, ResidualBlock's
// x, in the same write): the expand and depthwise conv as conv2d_expand_depthwise_forward makes
// them, but each block's depthwise outputs go from the thread's buffer straight into the projection's
// packed right operand (PackedRhs::pack_depths; bf16 under fast), one per block of output pixels,
// instead of out to memory in fp32 and back through a pack: L0's stage-3 MBConvs write 4 MiB of
// fp32 that the 1x1 then reads and packs into 2 MiB of bf16. Then the 1x1 from those packs, by
// (block of pixels, tile of output channels). The same values reach the same GEMM in the same
// order, so the same bits as the expand-depthwise op, the 1x1 conv and the sum in turn (tests/ops).
template <class T>
void conv2d_mbconv_forward(T* out, const T* in, const T* w1, const T* b1, Act act1, const T* wd, const T* bd, Act actd,
                           const T* w2, const T* b2, Act act2, int64_t N, int64_t C, int64_t H, int64_t W, int64_t E,
                           int64_t K, int64_t stride, int64_t pad, int64_t OC, const detail::ConvWeights<T>* cache1,
                           const detail::ConvWeights<T>* cache2, backend::cpu, const T* plus = nullptr) {
    static_assert(std::is_same_v<T, float>, "conv2d_mbconv_forward: float");
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    if (!conv2d_expand_depthwise_applies<T>(stride, 1))
        throw std::logic_error("conv2d_mbconv_forward: a stride conv2d_expand_depthwise_applies refuses");
    const int64_t OH = conv_out_size(H, K, stride, pad, 1), OW = conv_out_size(W, K, stride, pad, 1), OP = OH * OW;
    const int64_t threads = detail::conv_threads();
    std::optional<detail::ConvPrepared<T>> l2;
    const auto p2 = detail::gemm_conv_prepared(cache2, w2, OC, E, l2);
    const GemmLhs<T>& W2 = p2->lhs[0];
    // the 1x1's cut, as conv2d_gemm's: column blocks (n, b) of pixels, row tiles of output channels
    const detail::ConvColBlocks cols = detail::conv_col_blocks<T>(N, OP, threads);
    const int64_t nblk = cols.n, ncol = N * nblk;
    const detail::ConvRowTiles tiles = detail::conv_row_tiles<T>(ncol, OC, threads, W2.row_align());
    // the packs of the depthwise output, one per column block (the calling thread's second pool: the
    // expand's packs of its input take the first)
    detail::SharedRhs rhs2_pool(static_cast<size_t>(ncol), int64_t(sizeof(T)) * E * OP * N, 1);
    gemm_kernel::PackedRhs* rhs2 = rhs2_pool.data();
    for (int64_t c = 0; c < ncol; ++c) rhs2[c].reset(W2.kind(), E, cols.begin(c % nblk + 1) - cols.begin(c % nblk));
    detail::expand_depthwise_blocks(
        in, w1, b1, act_in_force<T>(act1), wd, bd, act_in_force<T>(actd), N, C, H, W, E, K, stride, pad, cache1,
        [&](int64_t, int64_t e0, int64_t ne, int64_t e) {
            auto& dw = detail::mbconv_block_buffer<T>();
            if (dw.size() < static_cast<size_t>(ne * OP)) dw.resize(static_cast<size_t>(ne * OP));
            return dw.data() + (e - e0) * OP;
        },
        [&](int64_t n, int64_t e0, int64_t ne) {
            const T* dw = detail::mbconv_block_buffer<T>().data();
            for (int64_t b = 0; b < nblk; ++b) rhs2[n * nblk + b].pack_depths(e0, ne, {dw + cols.begin(b), OP, 1});
        });
    const detail::BiasAct ba2{b2, act_in_force<T>(act2)};
    const detail::BiasActPlus bp2{ba2, out, plus};
    const gemm_kernel::Epilogue ep2 = plus ? bp2.epilogue() : ba2.epilogue();
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t c = 0; c < ncol; ++c)
        for (int64_t t = 0; t < tiles.n; ++t) {
            const int64_t n = c / nblk, p0 = cols.begin(c % nblk), np = cols.begin(c % nblk + 1) - p0;
            const int64_t o0 = tiles.begin(t), no = tiles.begin(t + 1) - o0;
            if (no <= 0) continue;
            Eigen::Map<Mat, 0, Stride> Y(out + (n * OC + o0) * OP + p0, no, np, Stride(OP));
            W2.product_rows(o0, Y, rhs2[c], false, ep2);
        }
}

template <class T>
void conv2d_forward(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                    int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G, backend::cpu b) {
    conv2d_forward(out, in, weight, bias, N, C, H, W, OC, K, stride, pad, dilation, G, Act::none, b);
}

// torch.nn.ConvTranspose2d with kernel == stride, no padding (SAM's 2x2 s2 upscaling):
// every input pixel writes its own KxK output patch, so out = W^T x per position.
// weight is (C, OC, K, K); output (N, OC, H*K, W*K).
template <class T>
void conv_transpose2d_forward_naive(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C,
                                    int64_t H, int64_t W, int64_t OC, int64_t K) {
    const int64_t OH = H * K, OW = W * K;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t oc = 0; oc < OC; ++oc)
            for (int64_t y = 0; y < H; ++y)
                for (int64_t x = 0; x < W; ++x)
                    for (int64_t ky = 0; ky < K; ++ky)
                        for (int64_t kx = 0; kx < K; ++kx) {
                            T acc = bias ? bias[oc] : T(0);
                            for (int64_t c = 0; c < C; ++c)
                                acc += in[((n * C + c) * H + y) * W + x] * weight[((c * OC + oc) * K + ky) * K + kx];
                            out[((n * OC + oc) * OH + y * K + ky) * OW + x * K + kx] = acc;
                        }
}

namespace detail {
// Per image and fixed block of input pixels, one GEMM (OC*K*K x C) * (C x pixels), then each row
// (oc, ky, kx) goes to its output positions, image row by image row. tokens: the input is laid out
// (N, H*W, C) (the transformer's keys) instead of (N, C, H, W).
template <class T, bool tokens>
void conv_transpose2d_impl(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H,
                           int64_t W, int64_t OC, int64_t K) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    const int64_t P = H * W, OH = H * K, OW = W * K, R = OC * K * K;
    const int64_t nblk = (P + kColBlock - 1) / kColBlock;
    const GemmLhs<T> Wt(weight, R, C, 1, R);  // W^T: (OC*K*K, C), W (C, OC*K*K), packed once
#pragma omp parallel
    {
        Mat acc(R, kColBlock);
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t b = 0; b < nblk; ++b) {
                const int64_t p0 = b * kColBlock, np = std::min(kColBlock, P - p0);
                auto A = acc.leftCols(np);
                if constexpr (tokens) {
                    Eigen::Map<const Mat> X(in + (n * P + p0) * C, np, C);
                    Wt.product(A, X.transpose());
                } else {
                    Eigen::Map<const Mat, 0, Stride> X(in + n * C * P + p0, C, np, Stride(P));
                    Wt.product(A, X);
                }
                for (int64_t oc = 0; oc < OC; ++oc) {
                    const T bb = bias ? bias[oc] : T(0);
                    T* plane = out + (n * OC + oc) * OH * OW;
                    for (int64_t ky = 0; ky < K; ++ky)
                        for (int64_t kx = 0; kx < K; ++kx) {
                            const T* a = acc.data() + ((oc * K + ky) * K + kx) * kColBlock;
                            for (int64_t j = 0; j < np;) {  // one image row segment at a time
                                const int64_t p = p0 + j, y = p / W, x0 = p % W, nx = std::min(W - x0, np - j);
                                T* d = plane + (y * K + ky) * OW + kx;
                                for (int64_t x = 0; x < nx; ++x) d[(x0 + x) * K] = a[j + x] + bb;
                                j += nx;
                            }
                        }
                }
            }
    }
}
}  // namespace detail

template <class T>
void conv_transpose2d_forward(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H,
                              int64_t W, int64_t OC, int64_t K, backend::cpu) {
    detail::conv_transpose2d_impl<T, false>(out, in, weight, bias, N, C, H, W, OC, K);
}

// The same convolution of an input in token layout (N, H*W, C): SAM's keys after the transformer,
// upscaled without first transposing them back to (N, C, H, W).
template <class T>
void conv_transpose2d_tokens_forward(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C,
                                     int64_t H, int64_t W, int64_t OC, int64_t K, backend::cpu) {
    detail::conv_transpose2d_impl<T, true>(out, in, weight, bias, N, C, H, W, OC, K);
}

}  // namespace evsam
