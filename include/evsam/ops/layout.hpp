// evsam: layout changes between image maps and token sequences.
// Size letters: B batch, C channels, P = H*W positions.
//   (B, C, H, W) -> (B, P, C) : x.flatten(2).permute(0, 2, 1)
//   (B, P, C) -> (B, C, H, W) : x.transpose(1, 2).view(B, C, H, W)
#pragma once
#include <cstdint>

#include "evsam/backend/backend.hpp"

namespace evsam {

template <class T>
void nchw_to_npc_forward(T* out, const T* in, int64_t B, int64_t C, int64_t P, backend::cpu) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t p = 0; p < P; ++p) out[(b * P + p) * C + c] = in[(b * C + c) * P + p];
}

template <class T>
void npc_to_nchw_forward(T* out, const T* in, int64_t B, int64_t C, int64_t P, backend::cpu) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t p = 0; p < P; ++p) out[(b * C + c) * P + p] = in[(b * P + p) * C + c];
}

}  // namespace evsam
