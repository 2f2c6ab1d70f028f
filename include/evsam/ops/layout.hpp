// evsam: layout changes between image maps and token sequences.
// Size letters: B batch, C channels, P = H*W positions.
//   (B, C, H, W) -> (B, P, C) : x.flatten(2).permute(0, 2, 1)
//   (B, P, C) -> (B, C, H, W) : x.transpose(1, 2).view(B, C, H, W)
//   copy_channels              : out[:, c0:c0+C] = in, out having DC channels (torch.cat on dim 1)
#pragma once
#include <algorithm>
#include <cstdint>

#include "evsam/backend/backend.hpp"

namespace evsam {

template <class T>
void nchw_to_npc_forward(T* out, const T* in, int64_t B, int64_t C, int64_t P, backend::cpu) {
    constexpr int64_t kTile = 64;  // transposed in 64 x 64 tiles, split over (batch, pixel tile)
    const int64_t np = (P + kTile - 1) / kTile;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b)
        for (int64_t pt = 0; pt < np; ++pt)
            for (int64_t c0 = 0; c0 < C; c0 += kTile)
                for (int64_t p = pt * kTile; p < std::min(P, (pt + 1) * kTile); ++p)
                    for (int64_t c = c0; c < std::min(C, c0 + kTile); ++c)
                        out[(b * P + p) * C + c] = in[(b * C + c) * P + p];
}

template <class T>
void npc_to_nchw_forward(T* out, const T* in, int64_t B, int64_t C, int64_t P, backend::cpu) {
    constexpr int64_t kTile = 64;
    const int64_t np = (P + kTile - 1) / kTile;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b)
        for (int64_t pt = 0; pt < np; ++pt)
            for (int64_t c0 = 0; c0 < C; c0 += kTile)
                for (int64_t c = c0; c < std::min(C, c0 + kTile); ++c)
                    for (int64_t p = pt * kTile; p < std::min(P, (pt + 1) * kTile); ++p)
                        out[(b * C + c) * P + p] = in[(b * P + p) * C + c];
}

template <class T>
void copy_channels_forward(T* out, const T* in, int64_t B, int64_t C, int64_t P, int64_t DC, int64_t c0,
                           backend::cpu) {
    for (int64_t b = 0; b < B; ++b) std::copy(in + b * C * P, in + (b + 1) * C * P, out + (b * DC + c0) * P);
}

}  // namespace evsam
