// evsam: dense 3x3 convolutions (stride 1 or 2, padding 1) straight on AMX tiles, for the `fast`
// precision where the GEMMs run on AMX (gemm_kernel::Kind::bf16_amx, or its C++ emulation
// bf16_amx_portable).
//
// Why not Winograd (stride 1) or im2col (stride 2) there: on AMX the multiplies are cheap, and
// Winograd's transforms (fp32 work on fp32 activations) cost more than its 2.25x fewer multiplies
// save, as im2col's copies do. L0 fast, per module: FusedMBConv 64 -> 256 at 128x128 took 6.4 ms
// through Winograd, OpenVINO's direct bf16 conv 2.6 ms. So, as oneDNN's brgconv does, no im2col and
// no transform:
//   - the input is copied once into a zero-padded bf16 image of channel pairs, Xp[y+1][c/2][x+1][c%2]
//     (the layout of a TDPBF16PS right operand: a tile row is 16 pixels of one channel pair, the 16
//     pairs of a tile a few hundred bytes apart); at stride 2 each padded row is split into its even
//     and odd columns, so that a tile row's 16 pixels are contiguous again;
//   - each output tile of 32 channels x 32 pixels of a row is the sum over the 9 taps and the groups
//     of 32 input channels (the steps) of one A tile pair (the tap's weights, packed once) times one
//     B tile pair read in place from Xp at the tap's offset: 4 TDPBF16PS per step, fp32 in the tiles;
//     the steps go in chunks along a whole row (the chunk's weights stay in L1), the row's partial
//     sums in fp32 in memory between chunks, which changes no bit;
//   - each tile goes to the output with the epilogue (bias, activation).
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

#include "evsam/ops/gemm_kernels.hpp"

namespace evsam {
namespace detail {

// The padded pair image of one input and the blocks of the output. Stride 2 splits each padded row
// into its even and odd columns (two phases of Wh pixels), so that the 16 pixels of a tile row, 2 apart
// in the image, are contiguous: tap dx of output pixel ox reads phase dx % 2 at ox + dx / 2.
struct DirectAmxGeom {
    int64_t C = 0, H = 0, W = 0, OC = 0, S = 1;
    int64_t OH = 0, OW = 0;
    int64_t G = 0;   // groups of 32 input channels (the last zero-padded)
    int64_t OB = 0;  // blocks of 32 output channels
    int64_t XB = 0;  // blocks of 32 output pixels in a row
    int64_t Hp = 0;  // padded rows
    int64_t Wh = 0;  // pixels per phase (stride 2)
    int64_t Wp = 0;  // pixels per channel pair in a padded row (both phases)
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
          Hp(H_ + 2) {
        // every tile row a block's taps read lies inside its padded row (phase)
        Wh = XB * 32 + 1;
        Wp = S == 1 ? XB * 32 + 2 : 2 * Wh;
    }
    int64_t row() const { return G * 16 * Wp * 2; }        // bf16 values per padded row (every pair's)
    int64_t image() const { return Hp * row(); }           // per image
    int64_t weights() const { return OB * 9 * G * 1024; }  // packed weights: 32 x 32 per (block, tap, group)
    // where padded column xp of a pair's row is (in pixels)
    int64_t col(int64_t xp) const { return S == 1 ? xp : (xp & 1) * Wh + (xp >> 1); }
};

inline bool direct_amx_kind(gemm_kernel::Kind k) {
    return k == gemm_kernel::Kind::bf16_amx || k == gemm_kernel::Kind::bf16_amx_portable;
}

// weight (OC, C, 3, 3) -> dst[((ob 9 + t) G + g) 1024 + r 32 + q] = weight[32 ob + r][32 g + q][t]
// in bf16, zero beyond OC and C: A tile pairs, 16 rows of 32 depths each.
inline void direct_amx_pack_weights(uint16_t* dst, const float* weight, const DirectAmxGeom& d) {
    for (int64_t ob = 0; ob < d.OB; ++ob)
        for (int64_t t = 0; t < 9; ++t)
            for (int64_t g = 0; g < d.G; ++g) {
                uint16_t* blk = dst + ((ob * 9 + t) * d.G + g) * 1024;
                for (int64_t r = 0; r < 32; ++r)
                    for (int64_t q = 0; q < 32; ++q) {
                        const int64_t oc = ob * 32 + r, c = g * 32 + q;
                        blk[r * 32 + q] =
                            oc < d.OC && c < d.C ? gemm_kernel::to_bf16(weight[(oc * d.C + c) * 9 + t]) : uint16_t(0);
                    }
            }
}

// Padded rows [r0, r1) of one image (C x H x W fp32) into Xp: row r (input row r - 1) holds, per
// channel pair p, Wp pixels of 2 values at Xp[(r G 16 + p) Wp 2 + x 2 + c % 2], input column x - 1;
// borders and padding zero. A B tile (16 pairs of 16 pixels) is then 16 rows Wp 2 values apart.
inline void direct_amx_pack_input_portable(uint16_t* Xp, const float* in, const DirectAmxGeom& d, int64_t r0,
                                           int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
        uint16_t* dst = Xp + r * d.row();
        std::fill(dst, dst + d.row(), uint16_t(0));
        if (r == 0 || r > d.H) continue;
        for (int64_t c = 0; c < d.C; ++c) {
            const float* src = in + (c * d.H + r - 1) * d.W;
            uint16_t* o = dst + (c / 2) * d.Wp * 2 + c % 2;
            for (int64_t x = 0; x < d.W; ++x) o[2 * d.col(x + 1)] = gemm_kernel::to_bf16(src[x]);
        }
    }
}

// The steps of one output block: a step k is tap k / G and group k % G. C (32 x 32, row stride 32)
// = (first ? 0 : C) + the sum over steps [k0, k1), in order, of A's tile pair for the step (32 x 32
// depths) times the B tile pair at b0 + off[tap] + group gstride (16 pair rows, bstride values apart,
// of 32 pixels x 2). C is fp32 in memory between calls, as in the tiles: cutting the steps into
// calls changes no bit.
struct DirectAmxSteps {
    const int64_t* off;
    int64_t G, gstride, bstride, k0, k1;
    bool first;
};
inline void direct_amx_micro_portable(const uint16_t* A, const uint16_t* b0, const DirectAmxSteps& s, float* C) {
    using gemm_kernel::flush_denormal;
    using gemm_kernel::from_bf16;
    for (int64_t i = 0; i < 32; ++i)
        for (int64_t j = 0; j < 32; ++j) {
            float acc = s.first ? 0.0f : C[i * 32 + j];
            for (int64_t k = s.k0; k < s.k1; ++k) {
                const uint16_t* a = A + k * 1024 + i * 32;
                const uint16_t* b = b0 + s.off[k / s.G] + k % s.G * s.gstride + 2 * j;
                for (int64_t p = 0; p < 16; ++p) {
                    acc = flush_denormal(acc + from_bf16(a[2 * p]) * from_bf16(b[p * s.bstride]));
                    acc = flush_denormal(acc + from_bf16(a[2 * p + 1]) * from_bf16(b[p * s.bstride + 1]));
                }
            }
            C[i * 32 + j] = acc;
        }
}

#if defined(EVSAM_GEMM_X86) && !defined(__clang__)
// The same, 16 pixels of a channel pair per VCVTNE2PS2BF16 + VPERMW.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline void direct_amx_pack_input_avx512(
    uint16_t* Xp, const float* in, const DirectAmxGeom& d, int64_t r0, int64_t r1) {
    const int64_t HW = d.H * d.W;
    for (int64_t r = r0; r < r1; ++r) {
        uint16_t* dst = Xp + r * d.row();
        if (r == 0 || r > d.H || d.C % 2) {  // a border row, or a half-empty last pair
            direct_amx_pack_input_portable(Xp, in, d, r, r + 1);
            continue;
        }
        for (int64_t p = 0; p < d.G * 16; ++p) {
            uint16_t* o = dst + p * d.Wp * 2;
            if (2 * p >= d.C) {
                std::fill(o, o + d.Wp * 2, uint16_t(0));
                continue;
            }
            const float* e = in + 2 * p * HW + (r - 1) * d.W;
            const float* f = e + HW;
            if (d.S == 1) {
                o[0] = o[1] = 0;
                std::fill(o + (d.W + 1) * 2, o + d.Wp * 2, uint16_t(0));
                for (int64_t x = 0; x < d.W; x += 16) {
                    const __mmask16 m = static_cast<__mmask16>((1u << std::min<int64_t>(16, d.W - x)) - 1);
                    const __m512i v =
                        gemm_kernel::bf16_pairs(_mm512_maskz_loadu_ps(m, e + x), _mm512_maskz_loadu_ps(m, f + x));
                    _mm512_mask_storeu_epi32(o + (x + 1) * 2, m, v);  // one 32-bit pair per pixel
                }
                continue;
            }
            // stride 2: input column x is padded column x + 1, so even x go to phase 1 at x / 2 and odd
            // x to phase 0 at (x + 1) / 2; 32 columns of both channels per step
            std::fill(o, o + d.Wp * 2, uint16_t(0));
            const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            for (int64_t x = 0; x < d.W; x += 32) {
                const int64_t n = std::min<int64_t>(32, d.W - x), ne = (n + 1) / 2, no = n / 2;
                const __mmask16 m0 = static_cast<__mmask16>((1u << std::min<int64_t>(16, n)) - 1);
                const __mmask16 m1 = static_cast<__mmask16>((1u << std::clamp<int64_t>(n - 16, 0, 16)) - 1);
                const __m512 e0 = _mm512_maskz_loadu_ps(m0, e + x), e1 = _mm512_maskz_loadu_ps(m1, e + x + 16);
                const __m512 f0 = _mm512_maskz_loadu_ps(m0, f + x), f1 = _mm512_maskz_loadu_ps(m1, f + x + 16);
                const __m512i even =
                    gemm_kernel::bf16_pairs(_mm512_permutex2var_ps(e0, ev, e1), _mm512_permutex2var_ps(f0, ev, f1));
                const __m512i odd =
                    gemm_kernel::bf16_pairs(_mm512_permutex2var_ps(e0, od, e1), _mm512_permutex2var_ps(f0, od, f1));
                _mm512_mask_storeu_epi32(o + (d.Wh + x / 2) * 2, static_cast<__mmask16>((1u << ne) - 1), even);
                _mm512_mask_storeu_epi32(o + (x / 2 + 1) * 2, static_cast<__mmask16>((1u << no) - 1), odd);
            }
        }
    }
}

// direct_amx_micro_portable on the tiles (an AmxScope held by the caller).
__attribute__((target("amx-tile,amx-bf16"))) inline void direct_amx_micro(const uint16_t* A, const uint16_t* b0,
                                                                          const DirectAmxSteps& s, float* C) {
    const int64_t ldb = s.bstride * int64_t(sizeof(uint16_t));
    if (s.first) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    } else {
        _tile_loadd(0, C, 128);
        _tile_loadd(1, C + 16, 128);
        _tile_loadd(2, C + 512, 128);
        _tile_loadd(3, C + 528, 128);
    }
    for (int64_t k = s.k0; k < s.k1; ++k) {
        const uint16_t* a = A + k * 1024;
        const uint16_t* b = b0 + s.off[k / s.G] + k % s.G * s.gstride;
        _tile_loadd(4, a, 64);
        _tile_loadd(6, b, ldb);
        _tile_loadd(7, b + 32, ldb);
        _tile_loadd(5, a + 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, C, 128);
    _tile_stored(1, C + 16, 128);
    _tile_stored(2, C + 512, 128);
    _tile_stored(3, C + 528, 128);
}
#endif

// One kind's input packer and micro-kernel.
struct DirectAmxKernel {
    void (*pack)(uint16_t*, const float*, const DirectAmxGeom&, int64_t, int64_t) = direct_amx_pack_input_portable;
    void (*micro)(const uint16_t*, const uint16_t*, const DirectAmxSteps&, float*) = direct_amx_micro_portable;
    bool native = false;
};
inline DirectAmxKernel direct_amx_kernel(gemm_kernel::Kind k) {
#if defined(EVSAM_GEMM_X86) && !defined(__clang__)
    if (k == gemm_kernel::Kind::bf16_amx) return {direct_amx_pack_input_avx512, direct_amx_micro, true};
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

// Steps per call: A's tile pairs for them (16 KiB) stay in L1 while the call goes along the row.
inline constexpr int64_t kDirectAmxSteps = 8;

// Output rows [y0, y1) of output channel block ob of one image: ep.write(tile) into
// out + oc ldo + (y - y0) OW + x for each block (out: channel ob 32's row y0; ldo: a channel's stride).
// Per row, the steps go in chunks of kDirectAmxSteps, each chunk along the whole row, the row's
// partial sums in acc (XB tiles of 32 x 32): each A chunk is read from L2 once per row, not once
// per block, and only B comes from L2 for every step.
inline void direct_amx_rows(const DirectAmxKernel& kn, const uint16_t* Wpk, const uint16_t* Xp, const DirectAmxGeom& d,
                            int64_t ob, int64_t y0, int64_t y1, float* out, int64_t ldo,
                            const gemm_kernel::Epilogue& ep, float* acc) {
    const int64_t R = d.row(), nk = 9 * d.G;
    int64_t off[9];
    for (int64_t t = 0; t < 9; ++t) off[t] = t / 3 * R + d.col(t % 3) * 2;
    const uint16_t* A = Wpk + ob * nk * 1024;
    const int64_t m = std::min<int64_t>(32, d.OC - ob * 32);
    for (int64_t y = y0; y < y1; ++y) {
        for (int64_t k0 = 0; k0 < nk; k0 += kDirectAmxSteps) {
            const DirectAmxSteps s{off, d.G, 16 * d.Wp * 2, d.Wp * 2, k0, std::min(nk, k0 + kDirectAmxSteps), k0 == 0};
            for (int64_t xb = 0; xb < d.XB; ++xb) kn.micro(A, Xp + d.S * y * R + xb * 64, s, acc + xb * 1024);
        }
        for (int64_t xb = 0; xb < d.XB; ++xb)
            ep.write(acc + xb * 1024, 32, out + (y - y0) * d.OW + xb * 32, ldo, ob * 32, m,
                     std::min<int64_t>(32, d.OW - xb * 32));
    }
}

}  // namespace detail
}  // namespace evsam
