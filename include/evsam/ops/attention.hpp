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

#include <Eigen/Core>

#include "evsam/backend/backend.hpp"
#include "evsam/ops/simd.hpp"

namespace evsam {

// The reference: one query row at a time, scalar loops.
template <class T>
void attention_forward_naive(T* out, const T* q, const T* k, const T* v, int64_t B, int64_t NQ, int64_t NK, int64_t C,
                             int64_t H) {
    const int64_t d = C / H;
    const T scale = T(1) / std::sqrt(static_cast<T>(d));
    {
        std::vector<T> p(static_cast<size_t>(NK));
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

// The fast path: per (batch, head, block of kQBlock queries) two GEMMs (Eigen) on the strided
// head slices, S = q k^T and out = softmax(S) v, with the softmax on SIMD vectors in between.
// Blocks are fixed (determinism); the row max and sum run in a fixed sequential order.
// q_bstride / kv_bstride: elements between batch entries of q and of k, v (0: one shared
// q, or one shared k and v, for every batch entry).
template <class T>
void attention_forward(T* out, const T* q, const T* k, const T* v, int64_t B, int64_t NQ, int64_t NK, int64_t C,
                       int64_t H, int64_t q_bstride, int64_t kv_bstride, backend::cpu) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    using V = simd::vec<T>;
    constexpr int64_t kQBlock = 256;
    const int64_t d = C / H, nqb = (NQ + kQBlock - 1) / kQBlock;
    const T scale = T(1) / std::sqrt(static_cast<T>(d));
#pragma omp parallel
    {
        Mat S(std::min(kQBlock, NQ), NK);
#pragma omp for collapse(3) schedule(static)
        for (int64_t b = 0; b < B; ++b)
            for (int64_t h = 0; h < H; ++h)
                for (int64_t qb = 0; qb < nqb; ++qb) {
                    const int64_t q0 = qb * kQBlock, nq = std::min(kQBlock, NQ - q0);
                    Eigen::Map<const Mat, 0, Stride> Q(q + b * q_bstride + q0 * C + h * d, nq, d, Stride(C));
                    Eigen::Map<const Mat, 0, Stride> K(k + b * kv_bstride + h * d, NK, d, Stride(C));
                    Eigen::Map<const Mat, 0, Stride> Vm(v + b * kv_bstride + h * d, NK, d, Stride(C));
                    auto Sb = S.topRows(nq);
                    Sb.noalias() = Q * K.transpose();  // attn = q @ k.permute(0, 1, 3, 2)
                    // softmax(attn / sqrt(c_per_head), dim=-1) over the whole (nq x NK) block at once,
                    // so short rows (image -> token: 7 keys) do not pay for a vector tail each
                    T* blk = S.data();
                    simd::map(blk, blk, nq * NK, [scale](V x) { return x * V(scale); });
                    for (int64_t i = 0; i < nq; ++i) {
                        T* row = blk + i * NK;
                        T mx = row[0];
                        for (int64_t j = 1; j < NK; ++j) mx = std::max(mx, row[j]);
                        for (int64_t j = 0; j < NK; ++j) row[j] -= mx;
                    }
                    simd::map(blk, blk, nq * NK, [](V x) { return xsimd::exp(x); });
                    for (int64_t i = 0; i < nq; ++i) {
                        T* row = blk + i * NK;
                        T sum = 0;
                        for (int64_t j = 0; j < NK; ++j) sum += row[j];
                        for (int64_t j = 0; j < NK; ++j) row[j] /= sum;
                    }
                    Eigen::Map<Mat, 0, Stride> O(out + (b * NQ + q0) * C + h * d, nq, d, Stride(C));
                    O.noalias() = Sb * Vm;  // out = attn @ v
                }
    }
}

template <class T>
void attention_forward(T* out, const T* q, const T* k, const T* v, int64_t B, int64_t NQ, int64_t NK, int64_t C,
                       int64_t H, backend::cpu be) {
    attention_forward(out, q, k, v, B, NQ, NK, C, H, NQ * C, NK * C, be);
}

}  // namespace evsam
