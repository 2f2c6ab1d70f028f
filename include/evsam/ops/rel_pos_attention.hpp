// evsam: SAM's ViT attention with decomposed relative positions (segment_anything/modeling/
// image_encoder.py: Attention.forward after qkv, add_decomposed_rel_pos, get_rel_pos; from MViTv2).
//
// Size letters: B batch (windows), H x W the token grid (queries and keys alike), C channels,
// NH heads, d = C / NH, L the length of a relative-position table.
//   qkv (B, H*W, 3C): the qkv Linear's output; head h's q, k, v are columns h*d, C + h*d, 2C + h*d.
//   out (B, H*W, C):  (attn @ v) with the heads recombined, as .permute(0, 2, 3, 1, 4) lays them out.
// Per (b, h), i = (qh, qw) a query and j = (kh, kw) a key:
//   attn[i, j] = ((q_i * scale) . k_j + rel_h[i, kh]) + rel_w[i, kw],  scale = d^-0.5
//   rel_h[i, kh] = q_i . Rh[qh, kh],  rel_w[i, kw] = q_i . Rw[qw, kw]   (q unscaled)
//   out_i = softmax_j(attn[i, :]) v
// with Rh = get_rel_pos(H, H, rel_pos_h) and Rw = get_rel_pos(W, W, rel_pos_w), (q_size, k_size, d);
// Rh = Rw = null without relative positions (use_rel_pos=False).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "evsam/backend/backend.hpp"
#include "evsam/core/error.hpp"
#include "evsam/ops/attention.hpp"
#include "evsam/ops/gemm.hpp"
#include "evsam/ops/resize.hpp"

namespace evsam {

// get_rel_pos(q_size, k_size, rel_pos): rel_pos (L, d) -> out (q_size, k_size, d).
//   max_rel_dist = 2 * max(q_size, k_size) - 1
//   rel_pos resized to max_rel_dist rows by F.interpolate(mode="linear") (align_corners=False)
//     when L != max_rel_dist;
//   q_coords = arange(q_size)[:, None] * max(k_size / q_size, 1.0)       (float32 tensors)
//   k_coords = arange(k_size)[None, :] * max(q_size / k_size, 1.0)
//   relative_coords = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
//   out = rel_pos_resized[relative_coords.long()]
// The coordinates are float32 as in torch (an int tensor times a Python float), truncated to
// integers; the interpolation is aten's upsample_linear1d in T.
template <class T>
void get_rel_pos_forward(T* out, const T* rel_pos, int64_t L, int64_t d, int64_t q_size, int64_t k_size) {
    const int64_t R = 2 * std::max(q_size, k_size) - 1;
    std::vector<T> resized;
    const T* table = rel_pos;
    if (L != R) {  // F.interpolate(rel_pos.reshape(1, L, -1).permute(0, 2, 1), size=R, mode="linear")
        resized.resize(static_cast<size_t>(R * d));
        const T scale = static_cast<T>(L) / static_cast<T>(R);
        for (int64_t r = 0; r < R; ++r) {
            const T src = detail::source_index(scale, r, false);
            const int64_t i0 = std::min(static_cast<int64_t>(std::floor(src)), L - 1);
            const int64_t i1 = i0 + (i0 < L - 1 ? 1 : 0);
            const T l1 = std::min(std::max(src - static_cast<T>(i0), T(0)), T(1)), l0 = T(1) - l1;
            for (int64_t c = 0; c < d; ++c)
                resized[static_cast<size_t>(r * d + c)] = l0 * rel_pos[i0 * d + c] + l1 * rel_pos[i1 * d + c];
        }
        table = resized.data();
    }
    const double qk = std::max(static_cast<double>(k_size) / static_cast<double>(q_size), 1.0);
    const double kq = std::max(static_cast<double>(q_size) / static_cast<double>(k_size), 1.0);
    const float fqk = static_cast<float>(qk), fkq = static_cast<float>(kq);
    const float offset = static_cast<float>(static_cast<double>(k_size - 1) * kq);
    for (int64_t i = 0; i < q_size; ++i)
        for (int64_t j = 0; j < k_size; ++j) {
            const float rc = (static_cast<float>(i) * fqk - static_cast<float>(j) * fkq) + offset;
            const int64_t idx = static_cast<int64_t>(rc);  // .long(): truncation
            EVSAM_CHECK(idx >= 0 && idx < R, "get_rel_pos: index out of range");
            std::copy(table + idx * d, table + (idx + 1) * d, out + (i * k_size + j) * d);
        }
}

// The reference: one query at a time, scalar loops, in upstream's order of operations.
template <class T>
void rel_pos_attention_forward_naive(T* out, const T* qkv, const T* Rh, const T* Rw, int64_t B, int64_t H, int64_t W,
                                     int64_t C, int64_t NH) {
    const int64_t d = C / NH, N = H * W;
    const T scale = static_cast<T>(std::pow(static_cast<double>(d), -0.5));  // head_dim**-0.5
    std::vector<T> p(static_cast<size_t>(N)), qs(static_cast<size_t>(d));
    for (int64_t b = 0; b < B; ++b)
        for (int64_t h = 0; h < NH; ++h)
            for (int64_t i = 0; i < N; ++i) {
                const T* q = qkv + (b * N + i) * 3 * C + h * d;
                const int64_t qh = i / W, qw = i % W;
                for (int64_t c = 0; c < d; ++c) qs[static_cast<size_t>(c)] = q[c] * scale;  // q * self.scale
                T mx = -INFINITY;
                for (int64_t j = 0; j < N; ++j) {
                    const T* k = qkv + (b * N + j) * 3 * C + C + h * d;
                    const int64_t kh = j / W, kw = j % W;
                    T s = 0, rh = 0, rw = 0;
                    for (int64_t c = 0; c < d; ++c) s += qs[static_cast<size_t>(c)] * k[c];
                    if (Rh) {
                        for (int64_t c = 0; c < d; ++c) rh += q[c] * Rh[(qh * H + kh) * d + c];  // einsum bhwc,hkc
                        for (int64_t c = 0; c < d; ++c) rw += q[c] * Rw[(qw * W + kw) * d + c];  // einsum bhwc,wkc
                        s = (s + rh) + rw;
                    }
                    p[static_cast<size_t>(j)] = s;
                    mx = std::max(mx, p[static_cast<size_t>(j)]);
                }
                T sum = 0;
                for (int64_t j = 0; j < N; ++j) sum += (p[static_cast<size_t>(j)] = std::exp(p[static_cast<size_t>(j)] - mx));
                T* o = out + (b * N + i) * C + h * d;
                std::fill(o, o + d, T(0));
                for (int64_t j = 0; j < N; ++j) {
                    const T w = p[static_cast<size_t>(j)] / sum;
                    const T* v = qkv + (b * N + j) * 3 * C + 2 * C + h * d;
                    for (int64_t c = 0; c < d; ++c) o[c] += w * v[c];
                }
            }
}

// The fast path: per (window, head, block of kQBlock queries), S = (q scale) k^T as one GEMM, the
// relative terms as two small GEMMs per query row of the grid (q_row Rh[qh]^T, q_col Rw[qw]^T),
// the softmax of attention.hpp, then out = P v. Fixed blocks: the same bits for any thread count.
template <class T>
void rel_pos_attention_forward(T* out, const T* qkv, const T* Rh, const T* Rw, int64_t B, int64_t H, int64_t W,
                               int64_t C, int64_t NH, backend::cpu) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    constexpr int64_t kQBlock = 256;
    const int64_t d = C / NH, N = H * W, nqb = (N + kQBlock - 1) / kQBlock;
    const T scale = static_cast<T>(std::pow(static_cast<double>(d), -0.5));
#pragma omp parallel
    {
        const int64_t nqmax = std::min(kQBlock, N);
        Mat S(nqmax, N), Qs(nqmax, d), relh(nqmax, H), relw(nqmax, W);
#pragma omp for collapse(3) schedule(static)
        for (int64_t b = 0; b < B; ++b)
            for (int64_t h = 0; h < NH; ++h)
                for (int64_t qb = 0; qb < nqb; ++qb) {
                    const int64_t q0 = qb * kQBlock, nq = std::min(kQBlock, N - q0);
                    const T* base = qkv + b * N * 3 * C;
                    Eigen::Map<const Mat, 0, Stride> Q(base + q0 * 3 * C + h * d, nq, d, Stride(3 * C));
                    Eigen::Map<const Mat, 0, Stride> K(base + C + h * d, N, d, Stride(3 * C));
                    Eigen::Map<const Mat, 0, Stride> Vm(base + 2 * C + h * d, N, d, Stride(3 * C));
                    auto Qb = Qs.topRows(nq);
                    Qb = Q * scale;  // q * self.scale
                    auto Sb = S.topRows(nq);
                    gemm(Sb, Qb, K.transpose());  // attn = (q * scale) @ k.transpose(-2, -1)
                    // rel_h = q Rh[qh]^T for each run of queries on grid row qh (contiguous), and
                    // rel_w = q Rw[qw]^T for the queries of each grid column qw (every W-th row)
                    for (int64_t qh = q0 / W; Rh && qh * W < q0 + nq; ++qh) {
                        const int64_t r0 = std::max(qh * W - q0, int64_t(0)), r1 = std::min((qh + 1) * W - q0, nq);
                        gemm(relh.middleRows(r0, r1 - r0), Q.middleRows(r0, r1 - r0),
                             Eigen::Map<const Mat>(Rh + qh * H * d, H, d).transpose());
                    }
                    for (int64_t qw = 0; Rw && qw < W; ++qw) {
                        const int64_t r0 = ((qw - q0 % W) % W + W) % W;
                        if (r0 >= nq) continue;
                        const int64_t m = (nq - 1 - r0) / W + 1;
                        Eigen::Map<const Mat, 0, Stride> Qc(base + (q0 + r0) * 3 * C + h * d, m, d, Stride(W * 3 * C));
                        Eigen::Map<Mat, 0, Stride> Rc(relw.data() + r0 * W, m, W, Stride(W * W));
                        gemm(Rc, Qc, Eigen::Map<const Mat>(Rw + qw * W * d, W, d).transpose());
                    }
                    for (int64_t r = 0; Rh && r < nq; ++r) {  // attn.view(B, qh, qw, kh, kw) + rel_h[..., None] + rel_w[..., None, :]
                        T* srow = Sb.data() + r * N;
                        const T* rw = relw.data() + r * W;
                        for (int64_t kh = 0; kh < H; ++kh) {
                            const T rh = relh(r, kh);
                            T* s = srow + kh * W;
                            for (int64_t kw = 0; kw < W; ++kw) s[kw] = (s[kw] + rh) + rw[kw];
                        }
                    }
                    detail::softmax_rows(Sb.data(), nq, N);  // attn.softmax(dim=-1)
                    Eigen::Map<Mat, 0, Stride> O(out + (b * N + q0) * C + h * d, nq, d, Stride(C));
                    gemm(O, Sb, Vm);  // attn @ v
                }
    }
}

}  // namespace evsam
