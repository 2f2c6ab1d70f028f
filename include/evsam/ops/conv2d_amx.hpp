// evsam: dense 3x3 stride-1 "same" convolutions straight on AMX tiles, for the `fast` precision
// where the GEMMs run on AMX (gemm_kernel::Kind::bf16_amx, or its C++ emulation bf16_amx_portable).
//
// Why not Winograd there: on AMX the multiplies are cheap and Winograd's transforms (fp32 work on
// fp32 activations, 16 products of a quarter the depth) cost more than the 2.25x fewer multiplies
// save. L0 fast, per module: FusedMBConv 64 -> 256 at 128x128 took 6.4 ms through Winograd,
// OpenVINO's direct bf16 conv 2.6 ms. So, as oneDNN's brgconv does, no im2col and no transform:
//   - the input is copied once into a zero-padded bf16 image of channel pairs, Xp[c/2][y+1][x+1][c%2]
//     (the layout of a TDPBF16PS right operand: a tile row is 16 pixels of one channel pair);
//   - each output tile of 32 channels x 32 pixels of a row is the sum over the 9 taps and the groups
//     of 32 input channels of one A tile pair (the tap's weights, packed once) times one B tile pair
//     read in place from Xp at the tap's offset: 4 TDPBF16PS per (tap, group), fp32 in the tiles;
//   - the tile goes through an L1 buffer to the output with the epilogue (bias, activation).
// Every output gets the same steps whatever the thread count or the block (tap by tap, group by
// group, from zero), so its bits do not depend on either. The error is the direct conv's on bf16
// operands (bench/README: 2.3e-3 relative L2 on one 256 -> 256 conv, Winograd F(2x2) 3.9e-3).
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

// The padded pair image of one input and the blocks of the output.
struct DirectAmxGeom {
    int64_t C = 0, H = 0, W = 0, OC = 0;
    int64_t G = 0;   // groups of 32 input channels (the last zero-padded)
    int64_t OB = 0;  // blocks of 32 output channels
    int64_t XB = 0;  // blocks of 32 output pixels in a row
    int64_t Hp = 0, Wp = 0;
    DirectAmxGeom(int64_t C_, int64_t H_, int64_t W_, int64_t OC_)
        : C(C_), H(H_), W(W_), OC(OC_), G((C_ + 31) / 32), OB((OC_ + 31) / 32), XB((W_ + 31) / 32), Hp(H_ + 2) {
        Wp = XB * 32 + 2;  // every tile row a block's taps read lies inside its padded row
    }
    int64_t plane() const { return Hp * Wp * 2; }          // bf16 values per channel pair
    int64_t image() const { return G * 16 * plane(); }     // per image
    int64_t weights() const { return OB * 9 * G * 1024; }  // packed weights: 32 x 32 per (block, tap, group)
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

// Channel pairs [p0, p1) of one image (C x H x W fp32) into Xp, borders and padding zero.
inline void direct_amx_pack_input_portable(uint16_t* Xp, const float* in, const DirectAmxGeom& d, int64_t p0,
                                           int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
        uint16_t* plane = Xp + p * d.plane();
        std::fill(plane, plane + d.plane(), uint16_t(0));
        for (int64_t h = 0; h < 2; ++h) {
            const int64_t c = 2 * p + h;
            if (c >= d.C) continue;
            for (int64_t y = 0; y < d.H; ++y) {
                const float* src = in + (c * d.H + y) * d.W;
                uint16_t* row = plane + ((y + 1) * d.Wp + 1) * 2 + h;
                for (int64_t x = 0; x < d.W; ++x) row[2 * x] = gemm_kernel::to_bf16(src[x]);
            }
        }
    }
}

// The tile pair sums of one output block: C (32 x 32, row stride 32) = sum over taps t and groups g
// of A[t][g] (32 x 32 depths) times the B tile pair at b0 + off[t] + g gstride (16 pair rows, bstride
// values apart, of 32 pixels x 2), in that order, from zero.
inline void direct_amx_micro_portable(const uint16_t* A, const uint16_t* b0, const int64_t* off, int64_t G,
                                      int64_t gstride, int64_t bstride, float* C) {
    using gemm_kernel::flush_denormal;
    using gemm_kernel::from_bf16;
    for (int64_t i = 0; i < 32; ++i)
        for (int64_t j = 0; j < 32; ++j) {
            float acc = 0.0f;
            for (int64_t t = 0; t < 9; ++t)
                for (int64_t g = 0; g < G; ++g) {
                    const uint16_t* a = A + (t * G + g) * 1024 + i * 32;
                    const uint16_t* b = b0 + off[t] + g * gstride + 2 * j;
                    for (int64_t p = 0; p < 16; ++p) {
                        acc = flush_denormal(acc + from_bf16(a[2 * p]) * from_bf16(b[p * bstride]));
                        acc = flush_denormal(acc + from_bf16(a[2 * p + 1]) * from_bf16(b[p * bstride + 1]));
                    }
                }
            C[i * 32 + j] = acc;
        }
}

#if defined(EVSAM_GEMM_X86) && !defined(__clang__)
// Channel pairs [p0, p1) into Xp, 16 pixels of both channels per VCVTNE2PS2BF16 + VPERMW.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline void direct_amx_pack_input_avx512(
    uint16_t* Xp, const float* in, const DirectAmxGeom& d, int64_t p0, int64_t p1) {
    const int64_t HW = d.H * d.W;
    for (int64_t p = p0; p < p1; ++p) {
        uint16_t* plane = Xp + p * d.plane();
        const int64_t c0 = 2 * p;
        if (c0 + 1 >= d.C) {  // the last, half-empty (or empty) pair
            direct_amx_pack_input_portable(Xp, in, d, p, p + 1);
            continue;
        }
        std::fill(plane, plane + d.Wp * 2, uint16_t(0));                          // row 0
        std::fill(plane + (d.H + 1) * d.Wp * 2, plane + d.plane(), uint16_t(0));  // row H + 1
        for (int64_t y = 0; y < d.H; ++y) {
            const float* e = in + c0 * HW + y * d.W;
            const float* o = e + HW;
            uint16_t* row = plane + (y + 1) * d.Wp * 2;
            row[0] = row[1] = 0;
            std::fill(row + (d.W + 1) * 2, row + d.Wp * 2, uint16_t(0));
            for (int64_t x = 0; x < d.W; x += 16) {
                const __mmask16 m = static_cast<__mmask16>((1u << std::min<int64_t>(16, d.W - x)) - 1);
                const __m512i v =
                    gemm_kernel::bf16_pairs(_mm512_maskz_loadu_ps(m, e + x), _mm512_maskz_loadu_ps(m, o + x));
                _mm512_mask_storeu_epi32(row + (x + 1) * 2, m, v);  // one 32-bit pair per pixel
            }
        }
    }
}

// direct_amx_micro_portable on the tiles (an AmxScope held by the caller).
__attribute__((target("amx-tile,amx-bf16"))) inline void direct_amx_micro(const uint16_t* A, const uint16_t* b0,
                                                                          const int64_t* off, int64_t G,
                                                                          int64_t gstride, int64_t bstride, float* C) {
    const int64_t ldb = bstride * int64_t(sizeof(uint16_t));
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t t = 0; t < 9; ++t)
        for (int64_t g = 0; g < G; ++g) {
            const uint16_t* a = A + (t * G + g) * 1024;
            const uint16_t* b = b0 + off[t] + g * gstride;
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
    void (*micro)(const uint16_t*, const uint16_t*, const int64_t*, int64_t, int64_t, int64_t,
                  float*) = direct_amx_micro_portable;
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

// Output rows [y0, y1) of output channel block ob of one image: ep.write(tile) into
// out + oc ldo + (y - y0) W + x for each block (out: channel ob 32's row y0; ldo: a channel's stride).
inline void direct_amx_rows(const DirectAmxKernel& kn, const uint16_t* Wpk, const uint16_t* Xp, const DirectAmxGeom& d,
                            int64_t ob, int64_t y0, int64_t y1, float* out, int64_t ldo,
                            const gemm_kernel::Epilogue& ep, float* tile) {
    const int64_t off[9] = {
        0, 2, 4, d.Wp * 2, d.Wp * 2 + 2, d.Wp * 2 + 4, 2 * d.Wp * 2, 2 * d.Wp * 2 + 2, 2 * d.Wp * 2 + 4};
    const uint16_t* A = Wpk + ob * 9 * d.G * 1024;
    const int64_t m = std::min<int64_t>(32, d.OC - ob * 32);
    for (int64_t y = y0; y < y1; ++y)
        for (int64_t xb = 0; xb < d.XB; ++xb) {
            kn.micro(A, Xp + (y * d.Wp + xb * 32) * 2, off, d.G, 16 * d.plane(), d.plane(), tile);
            ep.write(tile, 32, out + (y - y0) * d.W + xb * 32, ldo, ob * 32, m, std::min<int64_t>(32, d.W - xb * 32));
        }
}

}  // namespace detail
}  // namespace evsam
