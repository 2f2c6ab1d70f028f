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
#include <type_traits>

#include "evsam/backend/backend.hpp"
#include "evsam/ops/gemm_kernels.hpp"  // transpose16

namespace evsam {

template <class T>
void nchw_to_npc_forward_naive(T* out, const T* in, int64_t B, int64_t C, int64_t P) {
    for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t p = 0; p < P; ++p) out[(b * P + p) * C + c] = in[(b * C + c) * P + p];
}

// out (B, P, C) = list_sum(in).flatten(2).permute(0, 2, 1) for n maps in[k] (B, C, P): utils/list.py's
// in[0] + (in[1] + (... + in[n-1])), summed from the back, then channels-last.
template <class T>
void nchw_sum_to_npc_forward_naive(T* out, const T* const* in, int64_t n, int64_t B, int64_t C, int64_t P) {
    for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t p = 0; p < P; ++p) {
                const int64_t i = (b * C + c) * P + p;
                T s = in[n - 1][i];
                for (int64_t k = n - 1; k-- > 0;) s = in[k][i] + s;
                out[(b * P + p) * C + c] = s;
            }
}

template <class T>
void npc_to_nchw_forward_naive(T* out, const T* in, int64_t B, int64_t C, int64_t P) {
    for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t p = 0; p < P; ++p) out[(b * C + c) * P + p] = in[(b * P + p) * C + c];
}

namespace detail {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// out[j][i] = in[i][j] for i in [i0, i0 + 16), j in [j0, j0 + 16): one 16 x 16 block in registers,
// read from src (element (i0, j0) of in, rows ld apart).
__attribute__((target("avx512f"))) inline void transpose_block16(float* out, const float* src, int64_t ld, int64_t R,
                                                                 int64_t i0, int64_t j0) {
    __m512 o[16];
    gemm_kernel::transpose16(src, ld, 16, o);
    for (int64_t j = 0; j < 16; ++j) _mm512_storeu_ps(out + (j0 + j) * R + i0, o[j]);
}
#endif
// Whether this CPU moves float blocks of 16 x 16 in registers (AVX-512, a GCC build).
inline bool transpose_blocks16() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    return cpu_best_isa() == CpuIsa::avx512;
#else
    return false;
#endif
}

// out (Cc x R) = in (R x Cc) transposed, in 64 x 64 tiles split over the threads (every (batch,
// tile) a task); in each tile, blocks of 16 x 16 in registers where the CPU has AVX-512 (float; a
// 256 x 4096 map, 2 threads: 1.2-1.8 -> about 0.3 ms), the rest element by element. A move, so the
// same values either way.
// With n inputs, out is their sum transposed: each tile is first summed into an L1 buffer as
// list_sum does, in[0] + (in[1] + (... + in[n-1])), then moved out (SamNeck's merge and its
// channels-last run in one pass over the maps instead of two sums and a transpose).
template <class T>
void transpose_sum_forward(T* out, const T* const* in, int64_t n, int64_t B, int64_t R, int64_t Cc) {
    constexpr int64_t kTile = 64;
    const int64_t nr = (R + kTile - 1) / kTile, nc = (Cc + kTile - 1) / kTile;
    const bool blocks = std::is_same_v<T, float> && transpose_blocks16();
#pragma omp parallel for collapse(3) schedule(static)
    for (int64_t b = 0; b < B; ++b)
        for (int64_t it = 0; it < nr; ++it)
            for (int64_t jt = 0; jt < nc; ++jt) {
                T* dst = out + b * R * Cc;
                const int64_t i0 = it * kTile, i1 = std::min(R, i0 + kTile), j0 = jt * kTile,
                              j1 = std::min(Cc, j0 + kTile);
                // the tile's element (i, j) at src[(i - i0) ld + j - j0]: the input, or the inputs' sum
                const T* src = in[0] + b * R * Cc + i0 * Cc + j0;
                int64_t ld = Cc;
                alignas(64) T sum[kTile * kTile];  // (n > 1)
                if (n > 1) {
                    for (int64_t i = i0; i < i1; ++i) {
                        T* s = sum + (i - i0) * kTile - j0;
                        const int64_t row = b * R * Cc + i * Cc;
                        for (int64_t j = j0; j < j1; ++j) s[j] = in[n - 1][row + j];
                        for (int64_t k = n - 1; k-- > 0;)
                            for (int64_t j = j0; j < j1; ++j) s[j] = in[k][row + j] + s[j];
                    }
                    src = sum;
                    ld = kTile;
                }
                int64_t i16 = i0, j16 = j0;  // the blocks of 16 x 16 cover [i0, i16) x [j0, j16)
                if constexpr (std::is_same_v<T, float>) {
                    if (blocks) {
                        i16 = i0 + (i1 - i0) / 16 * 16, j16 = j0 + (j1 - j0) / 16 * 16;
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
                        for (int64_t i = i0; i < i16; i += 16)
                            for (int64_t j = j0; j < j16; j += 16)
                                transpose_block16(dst, src + (i - i0) * ld + (j - j0), ld, R, i, j);
#endif
                    }
                }
                for (int64_t i = i0; i < i1; ++i)
                    for (int64_t j = i < i16 ? j16 : j0; j < j1; ++j) dst[j * R + i] = src[(i - i0) * ld + (j - j0)];
            }
}
template <class T>
void transpose_forward(T* out, const T* in, int64_t B, int64_t R, int64_t Cc) {
    transpose_sum_forward(out, &in, 1, B, R, Cc);
}
}  // namespace detail

template <class T>
void nchw_to_npc_forward(T* out, const T* in, int64_t B, int64_t C, int64_t P, backend::cpu) {
    detail::transpose_forward(out, in, B, C, P);  // per batch entry, (C, P) -> (P, C)
}

// out (B, P, C) = list_sum(in).flatten(2).permute(0, 2, 1) for n maps (B, C, P) (see the naive one)
template <class T>
void nchw_sum_to_npc_forward(T* out, const T* const* in, int64_t n, int64_t B, int64_t C, int64_t P, backend::cpu) {
    detail::transpose_sum_forward(out, in, n, B, C, P);
}

template <class T>
void npc_to_nchw_forward(T* out, const T* in, int64_t B, int64_t C, int64_t P, backend::cpu) {
    detail::transpose_forward(out, in, B, P, C);  // per batch entry, (P, C) -> (C, P)
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
