// evsam: SAM ViT's window partition (segment_anything/modeling/image_encoder.py: window_partition,
// window_unpartition). Size letters: B batch, H x W tokens, C channels, S the window side,
// Hp = ceil(H / S) S and Wp likewise (the grid zero-padded bottom-right), nw = (Hp / S)(Wp / S).
//   window_partition  : x (B, H, W, C) -> windows (B * nw, S, S, C), window (b, wy, wx) at
//                       index (b * Hp/S + wy) * Wp/S + wx, zeros where the grid was padded
//   window_unpartition: windows -> x (B, H, W, C), the padding cropped off
// Pure copies of rows of C values: each is its own reference (one index formula per row).
#pragma once
#include <algorithm>
#include <cstdint>

#include "evsam/backend/backend.hpp"

namespace evsam {

inline int64_t window_padded(int64_t n, int64_t S) { return (n + S - 1) / S * S; }

// The row of token (b, y, x) of the padded grid in the windows: window (b, y / S, x / S), place
// (y % S, x % S); nwy x nwx windows per image.
inline int64_t window_row(int64_t b, int64_t y, int64_t x, int64_t S, int64_t nwy, int64_t nwx) {
    return (((b * nwy + y / S) * nwx + x / S) * S + y % S) * S + x % S;
}

template <class T>
void window_partition_forward(T* out, const T* in, int64_t B, int64_t H, int64_t W, int64_t C, int64_t S,
                              backend::cpu) {
    const int64_t nwy = window_padded(H, S) / S, nwx = window_padded(W, S) / S;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b)
        for (int64_t y = 0; y < nwy * S; ++y)  // x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h)), then the view/permute
            for (int64_t x = 0; x < nwx * S; ++x) {
                T* dst = out + window_row(b, y, x, S, nwy, nwx) * C;
                if (y < H && x < W)
                    std::copy(in + ((b * H + y) * W + x) * C, in + ((b * H + y) * W + x + 1) * C, dst);
                else
                    std::fill(dst, dst + C, T(0));
            }
}

template <class T>
void window_unpartition_forward(T* out, const T* in, int64_t B, int64_t H, int64_t W, int64_t C, int64_t S,
                                backend::cpu) {
    const int64_t nwy = window_padded(H, S) / S, nwx = window_padded(W, S) / S;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b)
        for (int64_t y = 0; y < H; ++y)  // the permute/view back, then x[:, :H, :W, :]
            for (int64_t x = 0; x < W; ++x) {
                const T* src = in + window_row(b, y, x, S, nwy, nwx) * C;
                std::copy(src, src + C, out + ((b * H + y) * W + x) * C);
            }
}

}  // namespace evsam
