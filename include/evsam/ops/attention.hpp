// evsam: multi-head scaled dot-product attention (segment_anything/modeling/transformer.py:
// Attention.forward after the projections): per batch b and head h,
//   attn = softmax(q k^T / sqrt(d)) over the keys;  out = attn v.
// Size letters: B batch, NQ queries, NK keys, H heads, d = C / H per head.
// q is (B, NQ, C), k and v are (B, NK, C), out is (B, NQ, C): heads are the C/H-wide
// column slices, exactly as _separate_heads / _recombine_heads lay them out.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "evsam/backend/backend.hpp"

namespace evsam {

template <class T>
void attention_forward(T* out, const T* q, const T* k, const T* v, int64_t B, int64_t NQ, int64_t NK, int64_t C,
                       int64_t H, backend::cpu) {
    const int64_t d = C / H;
    const T scale = T(1) / std::sqrt(static_cast<T>(d));
#pragma omp parallel
    {
        std::vector<T> p(static_cast<size_t>(NK));
#pragma omp for collapse(3) schedule(static)
        for (int64_t b = 0; b < B; ++b)
            for (int64_t h = 0; h < H; ++h)
                for (int64_t i = 0; i < NQ; ++i) {
                    const T* qi = q + (b * NQ + i) * C + h * d;
                    T mx = -INFINITY;
                    for (int64_t j = 0; j < NK; ++j) {
                        const T* kj = k + (b * NK + j) * C + h * d;
                        T s = 0;
                        for (int64_t c = 0; c < d; ++c) s += qi[c] * kj[c];
                        p[j] = s * scale;  // attn = q @ k^T; attn = attn / sqrt(c_per_head)
                        mx = std::max(mx, p[j]);
                    }
                    T sum = 0;
                    for (int64_t j = 0; j < NK; ++j) sum += (p[j] = std::exp(p[j] - mx));  // softmax(dim=-1)
                    T* oi = out + (b * NQ + i) * C + h * d;
                    std::fill(oi, oi + d, T(0));
                    for (int64_t j = 0; j < NK; ++j) {
                        const T w = p[j] / sum;
                        const T* vj = v + (b * NK + j) * C + h * d;
                        for (int64_t c = 0; c < d; ++c) oi[c] += w * vj[c];  // out = attn @ v
                    }
                }
    }
}

}  // namespace evsam
