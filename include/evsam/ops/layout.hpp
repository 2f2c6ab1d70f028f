// evsam: layout changes, copies and broadcast adds between image maps and token sequences.
// Size letters: B batch, C channels, P = H*W positions, n elements per batch entry.
//   (B, C, H, W) -> (B, P, C) : x.flatten(2).permute(0, 2, 1)          nchw_to_npc_forward
//   (B, P, C) -> (B, C, H, W) : x.transpose(1, 2).view(B, C, H, W)     npc_to_nchw_forward
//   copy_channels             : out[:, c0:c0+C] = in, out having DC channels (torch.cat on dim 1)
//   batch_copy                : out[b] = in[b] with batch strides: torch.cat, narrow, select and
//                               expand along the dims after the batch (a stride of 0 repeats one block)
//   batch_add                 : out[b] = a[b] + b[b] with batch strides (0: broadcast one block)
//   broadcast_channels        : out[b, c, :] = v[c]  (v.reshape(1, -1, 1, 1).expand(B, -1, h, w))
// The transposes keep a naive reference (one index formula per element); the tiled fast paths move
// the same elements, so the two agree bit for bit.
#pragma once
#include <algorithm>
#include <cstdint>

#include "evsam/backend/backend.hpp"

namespace evsam {

template <class T>
void nchw_to_npc_forward_naive(T* out, const T* in, int64_t B, int64_t C, int64_t P) {
    for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t p = 0; p < P; ++p) out[(b * P + p) * C + c] = in[(b * C + c) * P + p];
}

template <class T>
void npc_to_nchw_forward_naive(T* out, const T* in, int64_t B, int64_t C, int64_t P) {
    for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t p = 0; p < P; ++p) out[(b * C + c) * P + p] = in[(b * P + p) * C + c];
}

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
void copy_channels_forward(T* out, const T* in, int64_t B, int64_t C, int64_t P, int64_t DC, int64_t c0, backend::cpu) {
    for (int64_t b = 0; b < B; ++b) std::copy(in + b * C * P, in + (b + 1) * C * P, out + (b * DC + c0) * P);
}

// out[b * out_bstride + i] = in[b * in_bstride + i] for b < B, i < n. With the pointers offset by
// the caller this is torch.cat, narrow and select along the dims after the batch; in_bstride = 0
// copies one block into every batch entry (expand).
template <class T>
void batch_copy_forward(T* out, const T* in, int64_t B, int64_t n, int64_t out_bstride, int64_t in_bstride,
                        backend::cpu) {
    for (int64_t b = 0; b < B; ++b) std::copy(in + b * in_bstride, in + b * in_bstride + n, out + b * out_bstride);
}

// out[k * out_bstride + i] = a[k * a_bstride + i] + b[k * b_bstride + i] for k < B, i < n: a batch
// stride of 0 broadcasts one block over the batch (image_pe added to every prompt's keys, one image
// embedding to every prompt's dense embedding). out may be a (in place, the same strides).
template <class T>
void batch_add_forward(T* out, const T* a, const T* b, int64_t B, int64_t n, int64_t out_bstride, int64_t a_bstride,
                       int64_t b_bstride, backend::cpu) {
    for (int64_t k = 0; k < B; ++k) {  // one vectorisable, parallel loop per batch entry
        T* o = out + k * out_bstride;
        const T* x = a + k * a_bstride;
        const T* y = b + k * b_bstride;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) o[i] = x[i] + y[i];
    }
}

// out[(b * C + c) * P + p] = v[c]: a per-channel vector broadcast over the batch and positions.
template <class T>
void broadcast_channels_forward(T* out, const T* v, int64_t B, int64_t C, int64_t P, backend::cpu) {
    for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c) std::fill_n(out + (b * C + c) * P, P, v[c]);
}

// Per batch entry, the row of the highest score (torch.argmax over C: the first of equal maxima):
// x (B, C, n), scores (B, C) -> out (B, n), out_score (B). The export's select_masks
// (x[arange(B), argmax(scores, 1)]).
template <class T>
void argmax_select_forward(T* out, T* out_score, const T* x, const T* scores, int64_t B, int64_t C, int64_t n,
                           backend::cpu) {
    for (int64_t b = 0; b < B; ++b) {
        int64_t k = 0;
        for (int64_t c = 1; c < C; ++c)
            if (scores[b * C + c] > scores[b * C + k]) k = c;
        out_score[b] = scores[b * C + k];
        std::copy(x + (b * C + k) * n, x + (b * C + k + 1) * n, out + b * n);
    }
}

}  // namespace evsam
