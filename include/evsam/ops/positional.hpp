// evsam: SAM's random-Fourier positional encoding (prompt_encoder.py:
// PositionEmbeddingRandom._pe_encoding) and the coordinate helpers around it.
// Size letters: M points, F = num_pos_feats; G is the (2, F) Gaussian matrix.
//   c = 2 * xy - 1;  c = c @ G;  c = 2 * pi * c;  out = [sin(c), cos(c)]   (M, 2F)
#pragma once
#include <cmath>
#include <cstdint>

#include "evsam/backend/backend.hpp"

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

// PositionEmbeddingRandom.forward(size): the (h, w) grid of pixel centres, normalised:
// x = (j + 0.5) / w, y = (i + 0.5) / h; out is (2F, h, w) (channels first).
template <class T>
void dense_pe_forward(T* out, const T* G, int64_t h, int64_t w, int64_t F, backend::cpu) {
    const T two_pi = static_cast<T>(2 * 3.141592653589793);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
            // grid.cumsum(dim) - 0.5 is exactly j + 0.5 in float; then / w
            const T x = T(2) * ((static_cast<T>(j + 1) - T(0.5)) / static_cast<T>(w)) - T(1);
            const T y = T(2) * ((static_cast<T>(i + 1) - T(0.5)) / static_cast<T>(h)) - T(1);
            for (int64_t f = 0; f < F; ++f) {
                const T c = two_pi * (x * G[f] + y * G[F + f]);
                out[(f * h + i) * w + j] = std::sin(c);
                out[((F + f) * h + i) * w + j] = std::cos(c);
            }
        }
}

}  // namespace evsam
