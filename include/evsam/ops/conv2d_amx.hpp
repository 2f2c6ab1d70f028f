// evsam: dense 3x3 convolutions (stride 1 or 2, padding 1) straight on AMX tiles, for the `fast`
// precision where the GEMMs run on AMX (gemm_kernel::Kind::bf16_amx, or its C++ emulation
// bf16_amx_portable).
//
// Why not Winograd (stride 1) or im2col (stride 2) there: on AMX the multiplies are cheap, and
// Winograd's transforms (fp32 work on fp32 activations) cost more than its 2.25x fewer multiplies
// save, as im2col's copies do. L0 fast, per module: FusedMBConv 64 -> 256 at 128x128 took 6.4 ms
// through Winograd, OpenVINO's direct bf16 conv 2.6 ms. So, as oneDNN's brgconv does, no im2col and
// no transform, and the input channels-last:
//   - the input is copied once into a zero-padded bf16 image, channels last in groups of 32,
//     Xp[y+1][c/32][x+1][c%32]: a pixel's 32 channels are one 64-byte line, so a TDPBF16PS left
//     operand (16 pixels x 32 channels) is 16 whole lines, S 64 bytes apart at stride S, and a tap's
//     shift of a pixel keeps them aligned;
//   - each output tile of 32 pixels of a row x 32 channels is the sum over the 9 taps and the groups
//     of 32 input channels (the steps) of one input tile pair read in place from Xp at the tap's offset
//     times one weight tile pair (the tap's weights as channel pairs, packed once): 4 TDPBF16PS per
//     step, fp32 in the tiles, from zero to the last step without leaving them (FusedMBConv's 1x1
//     over E in chunks: stored and loaded back between them, exactly; conv2d_pair_direct_amx);
//   - per row and block of 32 pixels, every output channel block in turn: the pixels' input lines
//     (3 rows x 34 pixels x C) stay in L1 for all of them, only the weights (in L2) stream;
//   - each tile (pixels x channels) is transposed to channels x pixels and goes to the output with
//     the epilogue (bias, activation), while the next tile's steps run (direct_amx_tiles).
// The earlier layout (channel pairs x pixels, the weights as the left operand) read its 64-byte tile
// rows 4 bytes off a line for two of the three column taps and from L2 at every step: about 1.0
// TFLOP/s per core on 256 -> 256 at 64x64 against 1.9 now (one core, the loops alone).
// Every output gets the same steps in the same order whatever the thread count or the cut (tap by
// tap, group by group, from zero), so its bits depend on neither. The error is the direct conv's on
// bf16 operands (bench/README: 2.3e-3 relative L2 on one 256 -> 256 conv, Winograd F(2x2) 3.9e-3).
// direct_amx_micro_portable is the kernel's arithmetic in C++ (AMX's pseudo-code, as
// micro_bf16_amx_portable): the naive reference the tests tie it to, and the path of the emulated kind.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "evsam/ops/activation.hpp"
#include "evsam/ops/gemm_kernels.hpp"

namespace evsam {
namespace detail {

// The steps of one output tile: step k is tap k / G and group k % G, in that order. C (32 pixels x
// 32 channels, row stride 32) = the sum over the steps of the left tile pair at b0 + off[k / G] +
// (k % G) gstride (16 pixels of 32 channels each, pixel j at j S 32) times the right tile pair A +
// k 1024 (the step's weights).
struct DirectAmxSteps {
    int64_t off[9];  // off[t]: tap t's offset (one tap, at 0, for FusedMBConv's 1x1)
    int64_t G, gstride, S, nk;
};

// The padded channels-last image of one input and the blocks of the output. Xp[yp][g][xp][32]:
// padded row yp (input row yp - 1), group g of 32 channels (the last zero-padded), padded column xp
// (input column xp - 1), Wq columns per row and group; borders and padding zero.
struct DirectAmxGeom {
    int64_t C = 0, H = 0, W = 0, OC = 0, S = 1;
    int64_t OH = 0, OW = 0;
    int64_t G = 0;   // groups of 32 input channels (the last zero-padded)
    int64_t OB = 0;  // blocks of 32 output channels
    int64_t XB = 0;  // blocks of 32 output pixels in a row
    int64_t Hp = 0;  // padded rows
    int64_t Wq = 0;  // padded columns: every column a block's taps read
    DirectAmxGeom(int64_t C_, int64_t H_, int64_t W_, int64_t OC_, int64_t S_ = 1)
        : C(C_),
          H(H_),
          W(W_),
          OC(OC_),
          S(S_),
          OH((H_ - 1) / S_ + 1),
          OW((W_ - 1) / S_ + 1),
          G((C_ + 31) / 32),
          OB((OC_ + 31) / 32),
          XB((OW + 31) / 32),
          Hp(H_ + 2),
          Wq(S_ * (XB * 32 - 1) + 3) {}
    int64_t row() const { return G * Wq * 32; }            // bf16 values per padded row (every group's)
    int64_t image() const { return Hp * row(); }           // per image
    int64_t weights() const { return OB * 9 * G * 1024; }  // packed weights: 32 x 32 per (block, tap, group)
    int64_t gstride() const { return Wq * 32; }            // from one group to the next
    // where output row y's block xb of 32 pixels reads its tap 0 (in an image's Xp)
    int64_t block(int64_t y, int64_t xb) const { return S * y * row() + xb * 32 * S * 32; }
    // the 3x3's steps: tap t reads t / 3 rows down, t % 3 columns right
    DirectAmxSteps steps() const {
        DirectAmxSteps s{{}, G, gstride(), S, 9 * G};
        for (int64_t t = 0; t < 9; ++t) s.off[t] = t / 3 * row() + t % 3 * 32;
        return s;
    }
};

inline bool direct_amx_kind(gemm_kernel::Kind k) {
    return k == gemm_kernel::Kind::bf16_amx || k == gemm_kernel::Kind::bf16_amx_portable;
}

// weight (OC, C, taps) -> the right tile pair of (block ob, tap t, group g) at ((ob taps + t) G + g)
// 1024: tile h (output channels 32 ob + 16 h ..) row p = input channel pair 32 g + 2 p, 2 p + 1, as
// dst[.. + h 512 + p 32 + o 2 + e] = weight[32 ob + 16 h + o][32 g + 2 p + e][t] in bf16, zero beyond
// OC and C. taps: 9 for the 3x3 conv, 1 for FusedMBConv's 1x1 projection (conv2d_pair_direct_amx).
inline void direct_amx_pack_weights(uint16_t* dst, const float* weight, int64_t C, int64_t OC, int64_t taps) {
    const int64_t G = (C + 31) / 32, OB = (OC + 31) / 32;
    for (int64_t ob = 0; ob < OB; ++ob)
        for (int64_t t = 0; t < taps; ++t)
            for (int64_t g = 0; g < G; ++g) {
                uint16_t* blk = dst + ((ob * taps + t) * G + g) * 1024;
                for (int64_t h = 0; h < 2; ++h)
                    for (int64_t p = 0; p < 16; ++p)
                        for (int64_t o = 0; o < 16; ++o)
                            for (int64_t e = 0; e < 2; ++e) {
                                const int64_t oc = ob * 32 + h * 16 + o, c = g * 32 + 2 * p + e;
                                blk[h * 512 + p * 32 + o * 2 + e] =
                                    oc < OC && c < C ? gemm_kernel::to_bf16(weight[(oc * C + c) * taps + t])
                                                     : uint16_t(0);
                            }
            }
}
inline void direct_amx_pack_weights(uint16_t* dst, const float* weight, const DirectAmxGeom& d) {
    direct_amx_pack_weights(dst, weight, d.C, d.OC, 9);
}

// Padded rows [r0, r1) of one image (C x H x W fp32) into Xp (layout above).
inline void direct_amx_pack_input_portable(uint16_t* Xp, const float* in, const DirectAmxGeom& d, int64_t r0,
                                           int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
        uint16_t* dst = Xp + r * d.row();
        std::fill(dst, dst + d.row(), uint16_t(0));
        if (r == 0 || r > d.H) continue;
        for (int64_t c = 0; c < d.C; ++c) {
            const float* src = in + (c * d.H + r - 1) * d.W;
            uint16_t* o = dst + c / 32 * d.gstride() + c % 32;
            for (int64_t x = 0; x < d.W; ++x) o[(x + 1) * 32] = gemm_kernel::to_bf16(src[x]);
        }
    }
}

// The same from a channels-last image (H x W x C fp32: in[(y W + x) C + c]), FusedMBConv's pair in
// a run of them (conv2d_pair_channels_last_forward): a pixel's channels are already in a row, so
// each group's line is a rounding of 32 values in a row, no transpose. The same Xp, bit for bit.
inline void direct_amx_pack_input_channels_last_portable(uint16_t* Xp, const float* in, const DirectAmxGeom& d,
                                                         int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
        uint16_t* dst = Xp + r * d.row();
        std::fill(dst, dst + d.row(), uint16_t(0));
        if (r == 0 || r > d.H) continue;
        for (int64_t x = 0; x < d.W; ++x) {
            const float* src = in + ((r - 1) * d.W + x) * d.C;
            for (int64_t c = 0; c < d.C; ++c)
                dst[c / 32 * d.gstride() + (x + 1) * 32 + c % 32] = gemm_kernel::to_bf16(src[c]);
        }
    }
}

// init: the tile's sums so far (C's layout), the steps continuing from them; null: from zero.
inline void direct_amx_micro_portable(const uint16_t* A, const uint16_t* b0, const DirectAmxSteps& s, float* C,
                                      const float* init = nullptr) {
    using gemm_kernel::flush_denormal;
    using gemm_kernel::from_bf16;
    for (int64_t j = 0; j < 32; ++j)
        for (int64_t i = 0; i < 32; ++i) {
            float acc = init ? init[j * 32 + i] : 0.0f;
            for (int64_t k = 0; k < s.nk; ++k) {
                const uint16_t* x = b0 + s.off[k / s.G] + k % s.G * s.gstride + j * s.S * 32;
                const uint16_t* w = A + k * 1024 + i / 16 * 512 + i % 16 * 2;
                for (int64_t p = 0; p < 16; ++p) {
                    acc = flush_denormal(acc + from_bf16(x[2 * p]) * from_bf16(w[p * 32]));
                    acc = flush_denormal(acc + from_bf16(x[2 * p + 1]) * from_bf16(w[p * 32 + 1]));
                }
            }
            C[j * 32 + i] = acc;
        }
}

// The same in start / finish halves (as the tiles run it, direct_amx_start): the tile held in a
// thread's buffer in between.
inline float* direct_amx_portable_tiles() {
    thread_local std::vector<float> acc(1024);
    return acc.data();
}
inline void direct_amx_start_portable(const uint16_t* A, const uint16_t* b0, const DirectAmxSteps& s,
                                      const float* init) {
    direct_amx_micro_portable(A, b0, s, direct_amx_portable_tiles(), init);
}
inline void direct_amx_finish_portable(float* C) {
    const float* acc = direct_amx_portable_tiles();
    std::copy(acc, acc + 1024, C);
}

// C (32 x 32, pixels x channels) -> T (channels x pixels), both row stride 32.
inline void direct_amx_transpose_portable(const float* C, float* T) {
    for (int64_t j = 0; j < 32; ++j)
        for (int64_t i = 0; i < 32; ++i) T[i * 32 + j] = C[j * 32 + i];
}

// FusedMBConv's mid values on the tiles: C (32 pixels x 32 channels e0 .., row stride 32) -> F, the
// same, act(C + bias[e]) per element as bias_act_row computes it on the channel's row (the vector
// act_apply; with no activation a zero bias leaves the value as it is), channels from ne on zero.
inline void direct_amx_mid_act(const float* C, const float* bias, Act act, int64_t e0, int64_t ne, float* F) {
    using V = simd::vec<float>;
    constexpr int64_t VW = simd::width<float>;
    alignas(64) float b[32] = {};
    for (int64_t e = 0; e < ne; ++e) b[e] = bias ? bias[e0 + e] : 0.0f;
    for (int64_t j = 0; j < 32; ++j)
        for (int64_t e = 0; e < 32; e += VW) {
            const V v = V::load_aligned(C + j * 32 + e), bv = V::load_aligned(b + e);
            const V r = act == Act::none ? xsimd::select(bv == V(0.0f), v, v + bv) : act_apply(act, v + bv);
            r.store_aligned(F + j * 32 + e);
        }
    for (int64_t j = 0; j < 32; ++j) std::fill(F + j * 32 + ne, F + j * 32 + 32, 0.0f);
}
// ... then into bf16 lines: M[j 32 + e] = bf16(F[j 32 + e]), the left operand of the 1x1's step.
inline void direct_amx_mid_portable(const float* C, const float* bias, Act act, int64_t e0, int64_t ne, uint16_t* M) {
    alignas(64) float F[1024];
    direct_amx_mid_act(C, bias, act, e0, ne, F);
    for (int64_t i = 0; i < 1024; ++i) M[i] = gemm_kernel::to_bf16(F[i]);
}

// The packs' zeros: padded row r whole where it is a border row (then true), and a group's column 0
// and those past the image.
inline bool direct_amx_border_row(uint16_t* row, const DirectAmxGeom& d, int64_t r) {
    if (r > 0 && r <= d.H) return false;
    std::fill(row, row + d.row(), uint16_t(0));
    return true;
}
inline void direct_amx_border_columns(uint16_t* group, const DirectAmxGeom& d) {
    std::fill(group, group + 32, uint16_t(0));
    std::fill(group + (d.W + 1) * 32, group + d.gstride(), uint16_t(0));
}

#if defined(EVSAM_GEMM_X86) && !defined(__clang__)
// direct_amx_pack_input_portable, per group and 16 pixels: 32 channel rows to 16 pair registers (VCVTNE2PS2BF16 +
// VPERMW), then a 16 x 16 transpose of their 32-bit pairs into 16 pixel lines.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline void direct_amx_pack_input_avx512(
    uint16_t* Xp, const float* in, const DirectAmxGeom& d, int64_t r0, int64_t r1) {
    const int64_t HW = d.H * d.W;
    for (int64_t r = r0; r < r1; ++r) {
        uint16_t* dst = Xp + r * d.row();
        if (direct_amx_border_row(dst, d, r)) continue;
        for (int64_t g = 0; g < d.G; ++g) {
            uint16_t* o = dst + g * d.gstride();
            direct_amx_border_columns(o, d);
            const int64_t nc = std::min<int64_t>(32, d.C - g * 32);
            const float* src = in + (g * 32) * HW + (r - 1) * d.W;
            for (int64_t x = 0; x < d.W; x += 16) {
                const int64_t nx = std::min<int64_t>(16, d.W - x);
                const __mmask16 m = static_cast<__mmask16>((1u << nx) - 1);
                __m512 v[16], t[16];
                for (int64_t q = 0; q < 16; ++q) {
                    const __m512 e = 2 * q < nc ? _mm512_maskz_loadu_ps(m, src + 2 * q * HW + x) : _mm512_setzero_ps();
                    const __m512 f =
                        2 * q + 1 < nc ? _mm512_maskz_loadu_ps(m, src + (2 * q + 1) * HW + x) : _mm512_setzero_ps();
                    v[q] = _mm512_castsi512_ps(gemm_kernel::bf16_pairs(e, f));  // pixel lanes of pair q
                }
                gemm_kernel::transpose16(v, t);  // t[j]: pixel x + j's 16 pairs
                for (int64_t j = 0; j < nx; ++j) _mm512_store_ps(reinterpret_cast<float*>(o + (x + 1 + j) * 32), t[j]);
            }
        }
    }
}

// direct_amx_pack_input_channels_last_portable: per pixel and group, 32 channels (masked where the
// group is ragged) rounded to one line by VCVTNE2PS2BF16.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline void direct_amx_pack_input_channels_last_avx512(
    uint16_t* Xp, const float* in, const DirectAmxGeom& d, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
        uint16_t* dst = Xp + r * d.row();
        if (direct_amx_border_row(dst, d, r)) continue;
        for (int64_t g = 0; g < d.G; ++g) {
            uint16_t* o = dst + g * d.gstride();
            direct_amx_border_columns(o, d);
            const int64_t nc = std::min<int64_t>(32, d.C - g * 32);
            const auto m0 = static_cast<__mmask16>((1u << std::min<int64_t>(16, nc)) - 1),
                       m1 = static_cast<__mmask16>((1u << std::max<int64_t>(0, nc - 16)) - 1);
            const float* src = in + (r - 1) * d.W * d.C + g * 32;
            for (int64_t x = 0; x < d.W; ++x) {
                const __m512 lo = _mm512_maskz_loadu_ps(m0, src + x * d.C),
                             hi = _mm512_maskz_loadu_ps(m1, src + x * d.C + 16);
                _mm512_store_si512(o + (x + 1) * 32, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
            }
        }
    }
}

// direct_amx_micro_portable on the tiles (an AmxScope held by the caller), in two halves: start
// issues the steps into tiles 0-3 (the TDPBF16PS go on in the tile unit after it returns), finish
// stores the tiles to C (waiting for them). In between, the core is free for the previous tile's
// epilogue (direct_amx_tiles).
__attribute__((target("amx-tile,amx-bf16"))) inline void direct_amx_start(const uint16_t* A, const uint16_t* b0,
                                                                          const DirectAmxSteps& s, const float* init) {
    const int64_t lda = s.S * 64, half = 16 * s.S * 32;  // bytes between pixel lines; values to pixel 16
    if (init) {                                          // finish's layout
        _tile_loadd(0, init, 128);
        _tile_loadd(1, init + 16, 128);
        _tile_loadd(2, init + 512, 128);
        _tile_loadd(3, init + 528, 128);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int64_t k = 0; k < s.nk; ++k) {
        const uint16_t* x = b0 + s.off[k / s.G] + k % s.G * s.gstride;
        const uint16_t* w = A + k * 1024;
        _tile_loadd(4, x, lda);
        _tile_loadd(6, w, 64);
        _tile_loadd(7, w + 512, 64);
        _tile_loadd(5, x + half, lda);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
}
__attribute__((target("amx-tile,amx-bf16"))) inline void direct_amx_finish(float* C) {
    _tile_stored(0, C, 128);
    _tile_stored(1, C + 16, 128);
    _tile_stored(2, C + 512, 128);
    _tile_stored(3, C + 528, 128);
}

// direct_amx_transpose_portable in four 16 x 16 transposes.
__attribute__((target("avx512f"))) inline void direct_amx_transpose_avx512(const float* C, float* T) {
    for (int64_t bj = 0; bj < 2; ++bj)
        for (int64_t bi = 0; bi < 2; ++bi) {
            __m512 o[16];
            gemm_kernel::transpose16(C + bj * 512 + bi * 16, 32, 16, o);
            for (int64_t i = 0; i < 16; ++i) _mm512_store_ps(T + (bi * 16 + i) * 32 + bj * 16, o[i]);
        }
}

// direct_amx_mid_portable, rounded to bf16 by VCVTNE2PS2BF16 as the GEMMs' packs round.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline void direct_amx_mid_avx512(const float* C,
                                                                                         const float* bias, Act act,
                                                                                         int64_t e0, int64_t ne,
                                                                                         uint16_t* M) {
    alignas(64) float F[1024];
    direct_amx_mid_act(C, bias, act, e0, ne, F);
    for (int64_t i = 0; i < 1024; i += 32)
        _mm512_store_si512(M + i, (__m512i)_mm512_cvtne2ps_pbh(_mm512_load_ps(F + i + 16), _mm512_load_ps(F + i)));
}
#endif

// One kind's input packers (NCHW and channels-last), micro-kernel and transpose.
struct DirectAmxKernel {
    void (*pack)(uint16_t*, const float*, const DirectAmxGeom&, int64_t, int64_t) = direct_amx_pack_input_portable;
    void (*pack_channels_last)(uint16_t*, const float*, const DirectAmxGeom&, int64_t,
                               int64_t) = direct_amx_pack_input_channels_last_portable;
    void (*start)(const uint16_t*, const uint16_t*, const DirectAmxSteps&, const float*) = direct_amx_start_portable;
    void (*finish)(float*) = direct_amx_finish_portable;
    void (*transpose)(const float*, float*) = direct_amx_transpose_portable;
    void (*mid)(const float*, const float*, Act, int64_t, int64_t, uint16_t*) = direct_amx_mid_portable;
    bool native = false;
};
inline DirectAmxKernel direct_amx_kernel(gemm_kernel::Kind k) {
#if defined(EVSAM_GEMM_X86) && !defined(__clang__)
    if (k == gemm_kernel::Kind::bf16_amx)
        return {direct_amx_pack_input_avx512,
                direct_amx_pack_input_channels_last_avx512,
                direct_amx_start,
                direct_amx_finish,
                direct_amx_transpose_avx512,
                direct_amx_mid_avx512,
                true};
#endif
    (void)k;
    return {};
}

// The thread's tile configuration while a kernel runs (nothing for the emulated one).
class DirectAmxTiles {
public:
    explicit DirectAmxTiles(const DirectAmxKernel& k) {
#if defined(EVSAM_GEMM_X86) && !defined(__clang__)
        if (k.native) s_.emplace();
#endif
        (void)k;
    }

private:
#if defined(EVSAM_GEMM_X86) && !defined(__clang__)
    std::optional<gemm_kernel::AmxScope> s_;
#endif
};

// A tile's operands: the right ones (weights) from A, the left one's base b0, and where its sums
// so far are (init, the steps continuing from them) or null (from zero).
struct DirectAmxOperands {
    const uint16_t* A;
    const uint16_t* b0;
    const float* init = nullptr;
};
// n tiles in turn, software-pipelined: at(i) gives tile i's DirectAmxOperands, done(i, C) runs its
// epilogue from C (32 x 32, pixels x channels). Tile i + 1's steps start before tile i's epilogue
// runs, and tile i + 1 is stored after it, so the tile unit works while the vector units transpose,
// activate and write (conv 256 -> 256 at 64x64 with GELU, one core, the loops and epilogues: 3.0 ->
// 2.6 ms; 64 -> 256 at 128x128: 5.9 -> 4.2). The same arithmetic per tile, so the same bits. bufs:
// 2048 floats, the two tiles in flight.
template <class At, class Done>
void direct_amx_tiles(const DirectAmxKernel& kn, const DirectAmxSteps& s, int64_t n, float* bufs, At&& at,
                      Done&& done) {
    for (int64_t i = 0; i <= n; ++i) {
        if (i < n) {
            const DirectAmxOperands o = at(i);
            kn.start(o.A, o.b0, s, o.init);
        }
        if (i > 0) done(i - 1, bufs + (i - 1) % 2 * 1024);
        if (i < n) kn.finish(bufs + i % 2 * 1024);
    }
}

// The tile C (pixels x channels) transposed into T, then ep.write of its m channels (rows from `row`
// on in the product) x n pixels into y (ldy: a channel's stride).
inline void direct_amx_write(const DirectAmxKernel& kn, const float* C, float* T, const gemm_kernel::Epilogue& ep,
                             float* y, int64_t ldy, int64_t row, int64_t m, int64_t n) {
    kn.transpose(C, T);
    ep.write(T, 32, y, ldy, row, m, n);
}

// Output rows [y0, y1) of output channel blocks [ob0, ob1) of one image: ep.write(tile) into
// out + (oc - 32 ob0) ldo + (y - y0) OW + x for each tile (out: channel 32 ob0's row y0; ldo: a
// channel's stride). Per row and block of 32 pixels, the blocks in turn: the pixels' input lines stay
// in L1 for all of them, the weights come from L2. tmp: 3072 floats (two tiles in flight, a transpose).
inline void direct_amx_rows(const DirectAmxKernel& kn, const uint16_t* Wpk, const uint16_t* Xp, const DirectAmxGeom& d,
                            int64_t ob0, int64_t ob1, int64_t y0, int64_t y1, float* out, int64_t ldo,
                            const gemm_kernel::Epilogue& ep, float* tmp) {
    const DirectAmxSteps s = d.steps();
    const int64_t nob = ob1 - ob0;
    auto tile = [&](int64_t i) {  // tile i: (row y, pixel block xb, channel block ob), ob fastest
        struct {
            int64_t y, xb, ob;
            float* dst;
        } t{y0 + i / nob / d.XB, i / nob % d.XB, ob0 + i % nob, nullptr};
        t.dst = out + (t.ob - ob0) * 32 * ldo + (t.y - y0) * d.OW + t.xb * 32;
        return t;
    };
    direct_amx_tiles(
        kn, s, (y1 - y0) * d.XB * nob, tmp,
        [&](int64_t i) {
            const auto t = tile(i);
            ep.prefetch(t.dst, ldo, std::min<int64_t>(32, d.OC - t.ob * 32), std::min<int64_t>(32, d.OW - t.xb * 32));
            return DirectAmxOperands{Wpk + t.ob * s.nk * 1024, Xp + d.block(t.y, t.xb)};
        },
        [&](int64_t i, const float* C) {
            const auto t = tile(i);
            direct_amx_write(kn, C, tmp + 2048, ep, t.dst, ldo, t.ob * 32, std::min<int64_t>(32, d.OC - t.ob * 32),
                             std::min<int64_t>(32, d.OW - t.xb * 32));
        });
}

}  // namespace detail
}  // namespace evsam
