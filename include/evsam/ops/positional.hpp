// evsam: SAM's random-Fourier positional encoding (prompt_encoder.py:
// PositionEmbeddingRandom._pe_encoding, forward, forward_with_coords) and the prompt embedding's
// element-wise steps (PromptEncoder._embed_points, _embed_boxes).
// Size letters: M points, F = num_pos_feats; G is the (2, F) Gaussian matrix; E = 2F.
//   c = 2 * xy - 1;  c = c @ G;  c = 2 * pi * c;  out = [sin(c), cos(c)]   (M, 2F)
//
//   pe_encoding_forward         : the encoding of M normalised points (one loop, no reference needed:
//                                 it is the formula itself);
//   dense_pe_forward_naive      : forward(size) as upstream computes it: the grid of pixel centres
//                                 by cumsum, normalised, then _pe_encoding, then permuted to (2F, h, w);
//   dense_pe_forward            : the same values computed in place, channels first.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "evsam/backend/backend.hpp"
#include "evsam/core/error.hpp"

namespace evsam {

// xy: (M, 2) coordinates normalised to [0, 1]; out: (M, 2F).
template <class T>
void pe_encoding_forward(T* out, const T* xy, const T* G, int64_t M, int64_t F, backend::cpu) {
    const T two_pi = static_cast<T>(2 * 3.141592653589793);  // 2 * np.pi, rounded once to T as torch does
#pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < M; ++m) {
        const T x = T(2) * xy[2 * m] - T(1), y = T(2) * xy[2 * m + 1] - T(1);
        for (int64_t f = 0; f < F; ++f) {
            const T c = two_pi * (x * G[f] + y * G[F + f]);
            out[m * 2 * F + f] = std::sin(c);
            out[m * 2 * F + F + f] = std::cos(c);
        }
    }
}

// PositionEmbeddingRandom.forward(size), as upstream: grid = ones(h, w); y_embed = grid.cumsum(0)
// - 0.5; x_embed = grid.cumsum(1) - 0.5; y_embed / h, x_embed / w; pe = _pe_encoding(stack([x, y],
// -1)) (h, w, 2F); pe.permute(2, 0, 1). out is (2F, h, w).
template <class T>
void dense_pe_forward_naive(T* out, const T* G, int64_t h, int64_t w, int64_t F) {
    std::vector<T> xy(static_cast<size_t>(h * w * 2)), pe(static_cast<size_t>(h * w * 2 * F));
    for (int64_t i = 0; i < h; ++i) {
        T ycum = 0;
        for (int64_t r = 0; r <= i; ++r) ycum += T(1);  // grid.cumsum(dim=0)
        for (int64_t j = 0; j < w; ++j) {
            T xcum = 0;
            for (int64_t c = 0; c <= j; ++c) xcum += T(1);  // grid.cumsum(dim=1)
            xy[static_cast<size_t>((i * w + j) * 2)] = (xcum - T(0.5)) / static_cast<T>(w);
            xy[static_cast<size_t>((i * w + j) * 2 + 1)] = (ycum - T(0.5)) / static_cast<T>(h);
        }
    }
    pe_encoding_forward(pe.data(), xy.data(), G, h * w, F, backend::cpu{});
    for (int64_t p = 0; p < h * w; ++p)
        for (int64_t e = 0; e < 2 * F; ++e) out[e * h * w + p] = pe[static_cast<size_t>(p * 2 * F + e)];
}

// The same, computed in place: x = (j + 0.5) / w, y = (i + 0.5) / h (grid.cumsum - 0.5 is exactly
// j + 0.5 in floating point), written channels first.
template <class T>
void dense_pe_forward(T* out, const T* G, int64_t h, int64_t w, int64_t F, backend::cpu) {
    const T two_pi = static_cast<T>(2 * 3.141592653589793);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
            const T x = T(2) * ((static_cast<T>(j + 1) - T(0.5)) / static_cast<T>(w)) - T(1);
            const T y = T(2) * ((static_cast<T>(i + 1) - T(0.5)) / static_cast<T>(h)) - T(1);
            for (int64_t f = 0; f < F; ++f) {
                const T c = two_pi * (x * G[f] + y * G[F + f]);
                out[(f * h + i) * w + j] = std::sin(c);
                out[((F + f) * h + i) * w + j] = std::cos(c);
            }
        }
}

// forward_with_coords' normalisation: out[m] = (xy[m, 0] / img_w, xy[m, 1] / img_h), M points.
template <class T>
void normalize_coords_forward(T* out, const T* xy, int64_t M, int64_t img_h, int64_t img_w, backend::cpu) {
    for (int64_t m = 0; m < M; ++m) {
        out[2 * m] = xy[2 * m] / static_cast<T>(img_w);
        out[2 * m + 1] = xy[2 * m + 1] / static_cast<T>(img_h);
    }
}

// out = in + s over n elements (points + 0.5: the shift to the centre of the pixel).
template <class T>
void add_scalar_forward(T* out, const T* in, T s, int64_t n, backend::cpu) {
    for (int64_t i = 0; i < n; ++i) out[i] = in[i] + s;
}

// _embed_points' label step on M point embeddings (rows of E), in place:
//   point_embedding[labels == -1] = 0.0; point_embedding[labels == -1] += not_a_point_embed.weight
//   point_embedding[labels == 0] += point_embeddings[0].weight  (neg)
//   point_embedding[labels == 1] += point_embeddings[1].weight  (pos)
template <class T>
void point_label_embed_forward(T* emb, const T* labels, const T* not_a_point, const T* neg, const T* pos, int64_t M,
                               int64_t E, backend::cpu) {
    for (int64_t m = 0; m < M; ++m) {
        T* e = emb + m * E;
        const T l = labels[m];
        EVSAM_CHECK(l == T(-1) || l == T(0) || l == T(1), "PromptEncoder: point labels must be 1, 0 or -1");
        if (l == T(-1)) {
            for (int64_t c = 0; c < E; ++c) e[c] = T(0) + not_a_point[c];
        } else {
            const T* add = l == T(0) ? neg : pos;
            for (int64_t c = 0; c < E; ++c) e[c] += add[c];
        }
    }
}

// DecoderOnnxModel._embed_points' labels (efficientvit's deployment/onnx/export_decoder.py), on the
// M points' encodings emb (M, E): a label of -1 makes the point not_a_point (its encoding times 0,
// plus the embedding), a label i in 0..3 adds point_embeddings[i] (0, 1: background / foreground
// point, 2, 3: a box's corners), any other label adds nothing, as the export's masks do.
// point_embeddings: the 4 embeddings' rows, each (E).
template <class T>
void onnx_point_label_embed_forward(T* emb, const T* labels, const T* not_a_point, const T* const* point_embeddings,
                                    int64_t M, int64_t E, backend::cpu) {
    for (int64_t m = 0; m < M; ++m) {
        T* e = emb + m * E;
        const T l = labels[m];
        if (l == T(-1)) {
            for (int64_t c = 0; c < E; ++c) e[c] = e[c] * T(0) + not_a_point[c];
            continue;
        }
        for (int i = 0; i < 4; ++i)
            if (l == T(i))
                for (int64_t c = 0; c < E; ++c) e[c] += point_embeddings[i][c];
    }
}

}  // namespace evsam
