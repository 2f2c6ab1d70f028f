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
#include "evsam/ops/gemm.hpp"
#include "evsam/ops/simd.hpp"  // Eigen and xsimd, with the intrinsics

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

namespace detail {
// softmax over each of the rows of blk (rows x n, contiguous): minus the row's max, the exps of the
// whole block at once on SIMD vectors, then divided by the row's sum (simd::sum's fixed order).
template <class T>
void softmax_rows(T* blk, int64_t rows, int64_t n) {
    using V = simd::vec<T>;
    for (int64_t i = 0; i < rows; ++i) {
        T* row = blk + i * n;
        T mx = row[0];
        for (int64_t j = 1; j < n; ++j) mx = std::max(mx, row[j]);
        for (int64_t j = 0; j < n; ++j) row[j] -= mx;
    }
    simd::map(blk, blk, rows * n, [](V x) { return xsimd::exp(x); });
    for (int64_t i = 0; i < rows; ++i) {
        T* row = blk + i * n;
        const T sum = simd::sum(row, n);
        for (int64_t j = 0; j < n; ++j) row[j] /= sum;
    }
}
}  // namespace detail

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
                    gemm(Sb, Q, K.transpose());  // attn = q @ k.permute(0, 1, 3, 2)
                    // softmax(attn / sqrt(c_per_head), dim=-1) over the whole (nq x NK) block at once,
                    // so short rows (image -> token: 7 keys) do not pay for a vector tail each
                    T* blk = S.data();
                    simd::map(blk, blk, nq * NK, [scale](V x) { return x * V(scale); });
                    detail::softmax_rows(blk, nq, NK);
                    Eigen::Map<Mat, 0, Stride> O(out + (b * NQ + q0) * C + h * d, nq, d, Stride(C));
                    gemm(O, Sb, Vm);  // out = attn @ v
                }
    }
}

template <class T>
void attention_forward(T* out, const T* q, const T* k, const T* v, int64_t B, int64_t NQ, int64_t NK, int64_t C,
                       int64_t H, backend::cpu be) {
    attention_forward(out, q, k, v, B, NQ, NK, C, H, NQ * C, NK * C, be);
}

// ---------------------------------------------------------------- cross attention, factored
// SAM's cross attentions pit a few prompt tokens (NQ = 7 for one point) against the h*w = 4096
// image positions. Projecting all 4096 positions through k_proj and v_proj (or q_proj and
// out_proj) costs 2 * 4096 * E * D MACs; folding the projections into the few tokens instead
// costs 2 * 4096 * E * H * NQ, less while H * NQ < D (8 * 7 = 56 < 128). The algebra, with
// W_h the rows h*d .. h*d+d-1 of a projection weight (d x E) and b_h its bias slice:
//   scores:  q_h k_h^T = q_h (kin W_h^T + b_h)^T = (q_h W_h) kin^T + q_h . b_h
//   values:  P_h v_h   = P_h (vin W_h^T + b_h)   = (P_h vin) W_h^T + b_h   (rows of P_h sum to 1)
// and for the image -> token side (out_proj weight Wo, E x D, column slice Wo_h = Wo[:, h*d..]):
//   scores:  q_h k_h^T = (qin Wq_h^T + bq_h) k_h^T = qin (Wq_h^T k_h^T) + bq_h . k_h
//   output:  out_proj(concat_h P_h v_h) = sum_h P_h (v_h Wo_h^T) + bo
// The same values as Attention.forward up to rounding (another association of the same sums);
// the unfactored path (projections + attention_forward) stays the reference the tests compare with.

// Cost model: true when folding the projections into the NQ few rows is cheaper than projecting
// the NK many rows (E embedding dim, D internal dim, H heads).
inline bool factored_attention_pays(int64_t NQ, int64_t E, int64_t D, int64_t H) { return H * NQ * E < E * D + NQ * D; }

// Few queries, many keys (token -> image). qp (B, NQ, D): the projected queries; kin, vin (B, NK, E):
// the unprojected keys and values, batch entries kv_bstride apart (0: shared); Wk, Wv (D, E) and
// bk, bv (D,): k_proj's and v_proj's parameters (a null bias is zero). out (B, NQ, D): the heads recombined, before
// out_proj.
template <class T>
void attention_few_queries_forward(T* out, const T* qp, const T* kin, const T* vin, const T* Wk, const T* bk,
                                   const T* Wv, const T* bv, int64_t B, int64_t NQ, int64_t NK, int64_t E, int64_t D,
                                   int64_t H, int64_t kv_bstride, backend::cpu) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    using V = simd::vec<T>;
    constexpr int64_t kKeyBlock = 256, kColBlock = 64;  // fixed blocks: the same bits for any thread count
    const int64_t d = D / H, R = H * NQ, nkb = (NK + kKeyBlock - 1) / kKeyBlock, ncb = (E + kColBlock - 1) / kColBlock;
    const T scale = T(1) / std::sqrt(static_cast<T>(d));
    Mat QK(R, E), S(R, NK), PV(R, E);
    std::vector<T> c(static_cast<size_t>(R));
    for (int64_t b = 0; b < B; ++b) {
        const T* kb = kin + b * kv_bstride;
        const T* vb = vin + b * kv_bstride;
        for (int64_t h = 0; h < H; ++h) {  // row h*NQ + i of QK: (q_i)_h W_h, and c: (q_i)_h . b_h
            Eigen::Map<const Mat, 0, Stride> Q(qp + b * NQ * D + h * d, NQ, d, Stride(D));
            gemm(QK.middleRows(h * NQ, NQ), Q, Eigen::Map<const Mat>(Wk + h * d * E, d, E));
            for (int64_t i = 0; i < NQ; ++i) {
                T s = 0;
                if (bk)
                    for (int64_t j = 0; j < d; ++j) s += Q(i, j) * bk[h * d + j];
                c[static_cast<size_t>(h * NQ + i)] = s;
            }
        }
#pragma omp parallel for schedule(static)
        for (int64_t kb0 = 0; kb0 < nkb; ++kb0) {  // S = (QK kin^T + c) / sqrt(d), by blocks of keys
            const int64_t j0 = kb0 * kKeyBlock, nj = std::min(kKeyBlock, NK - j0);
            Eigen::Map<const Mat> K(kb + j0 * E, nj, E);
            gemm(S.middleCols(j0, nj), QK, K.transpose());
            for (int64_t r = 0; r < R; ++r)
                for (int64_t j = j0; j < j0 + nj; ++j) S(r, j) = (S(r, j) + c[static_cast<size_t>(r)]) * scale;
        }
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < R; ++r) {  // softmax over the keys, row by row
            T* row = S.data() + r * NK;
            T mx = row[0];
            for (int64_t j = 1; j < NK; ++j) mx = std::max(mx, row[j]);
            simd::map(row, row, NK, [mx](V x) { return xsimd::exp(x - V(mx)); });
            const T sum = simd::sum(row, NK);
            const T inv = T(1) / sum;
            simd::map(row, row, NK, [inv](V x) { return x * V(inv); });
        }
#pragma omp parallel for schedule(static)
        for (int64_t cb = 0; cb < ncb; ++cb) {  // PV = P vin, by blocks of columns
            const int64_t e0 = cb * kColBlock, ne = std::min(kColBlock, E - e0);
            Eigen::Map<const Mat, 0, Stride> Vm(vb + e0, NK, ne, Stride(E));
            gemm(PV.middleCols(e0, ne), S, Vm);
        }
        for (int64_t h = 0; h < H; ++h) {  // out_h = PV_h W_h^T + b_h
            Eigen::Map<Mat, 0, Stride> O(out + b * NQ * D + h * d, NQ, d, Stride(D));
            gemm(O, PV.middleRows(h * NQ, NQ), Eigen::Map<const Mat>(Wv + h * d * E, d, E).transpose());
            if (bv)
                for (int64_t i = 0; i < NQ; ++i)
                    for (int64_t j = 0; j < d; ++j) O(i, j) += bv[h * d + j];
        }
    }
}

// Few keys, many queries (image -> token). Either qin (B, NI, E), the unprojected queries with
// q_proj's Wq (D, E) and bq (D,), or qp (1 or B, NI, D) already projected (qin = nullptr; the
// Predictor's per-image projection); q_bstride: elements between batch entries of qin or qp (0:
// shared). kp, vp (B, NT, D): the projected keys and values. Wo (E, D), bo (E,): out_proj's.
// out (B, NI, E): out_proj applied.
template <class T>
void attention_few_keys_forward(T* out, const T* qin, const T* qp, int64_t q_bstride, const T* kp, const T* vp,
                                const T* Wq, const T* bq, const T* Wo, const T* bo, int64_t B, int64_t NI, int64_t NT,
                                int64_t E, int64_t D, int64_t H, backend::cpu) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    using V = simd::vec<T>;
    constexpr int64_t kRowBlock = 256;
    const int64_t d = D / H, R = H * NT, nrb = (NI + kRowBlock - 1) / kRowBlock;
    const T scale = T(1) / std::sqrt(static_cast<T>(d));
    Mat M(E, R), N(R, E);
    std::vector<T> c(static_cast<size_t>(R), T(0));
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t h = 0; h < H; ++h) {
            Eigen::Map<const Mat, 0, Stride> Kh(kp + b * NT * D + h * d, NT, d, Stride(D));
            Eigen::Map<const Mat, 0, Stride> Vh(vp + b * NT * D + h * d, NT, d, Stride(D));
            // N_h = v_h Wo_h^T: (NT x d) (d x E), Wo_h the columns h*d .. of Wo
            gemm(N.middleRows(h * NT, NT), Vh,
                 Eigen::Map<const Mat, 0, Stride>(Wo + h * d, E, d, Stride(D)).transpose());
            if (qin) {  // M_h = Wq_h^T k_h^T (E x NT); c_h = bq_h . k_h
                gemm(M.middleCols(h * NT, NT), Eigen::Map<const Mat>(Wq + h * d * E, d, E).transpose(), Kh.transpose());
                for (int64_t t = 0; t < NT; ++t) {
                    T s = 0;
                    if (bq)
                        for (int64_t j = 0; j < d; ++j) s += bq[h * d + j] * Kh(t, j);
                    c[static_cast<size_t>(h * NT + t)] = s;
                }
            }
        }
#pragma omp parallel
        {
            Mat S(std::min(kRowBlock, NI), R);
#pragma omp for schedule(static)
            for (int64_t rb = 0; rb < nrb; ++rb) {
                const int64_t i0 = rb * kRowBlock, ni = std::min(kRowBlock, NI - i0);
                auto Sb = S.topRows(ni);
                if (qin) {  // scores of every head at once: qin M + c
                    gemm(Sb, Eigen::Map<const Mat>(qin + b * q_bstride + i0 * E, ni, E), M);
                } else {
                    for (int64_t h = 0; h < H; ++h)
                        gemm(Sb.middleCols(h * NT, NT),
                             Eigen::Map<const Mat, 0, Stride>(qp + b * q_bstride + i0 * D + h * d, ni, d, Stride(D)),
                             Eigen::Map<const Mat, 0, Stride>(kp + b * NT * D + h * d, NT, d, Stride(D)).transpose());
                }
                for (int64_t i = 0; i < ni; ++i) {  // softmax over each head's NT keys
                    T* row = Sb.data() + i * R;
                    for (int64_t h = 0; h < H; ++h) {  // scale, bias, minus the head's max
                        T* g = row + h * NT;
                        T mx = -INFINITY;
                        for (int64_t t = 0; t < NT; ++t)
                            mx = std::max(mx, g[t] = (g[t] + c[static_cast<size_t>(h * NT + t)]) * scale);
                        for (int64_t t = 0; t < NT; ++t) g[t] -= mx;
                    }
                    simd::map(row, row, R, [](V x) { return xsimd::exp(x); });  // every head's exps at once
                    for (int64_t h = 0; h < H; ++h) {
                        T* g = row + h * NT;
                        T sum = 0;
                        for (int64_t t = 0; t < NT; ++t) sum += g[t];
                        const T inv = T(1) / sum;
                        for (int64_t t = 0; t < NT; ++t) g[t] *= inv;
                    }
                }
                Eigen::Map<Mat> O(out + (b * NI + i0) * E, ni, E);
                gemm(O, Sb, N);  // sum_h P_h N_h
                if (bo)
                    for (int64_t i = 0; i < ni; ++i)
                        for (int64_t e = 0; e < E; ++e) O(i, e) += bo[e];
            }
        }
    }
}

}  // namespace evsam
