// evsam: the attention core of LiteMLA (efficientvit/models/nn/ops.py:
// LiteMLA.relu_linear_att and LiteMLA.relu_quadratic_att).
//
// qkv is (B, NH*3*D, H, W), viewed as (B, NH, 3*D, N) with N = H*W: per head the
// rows [0, D) are q, [D, 2D) k, [2D, 3D) v. out is (B, NH*D, H, W).
//   linear   : q, k = relu(q), relu(k); vk = [v; 1] k^T  (D+1 x D); o = vk q  (D+1 x N);
//              out = o[:D] / (o[D] + eps)          -- used when N > D
//   quadratic: A = k^T q (N x N); A /= (sum over k's index + eps); out = v A  -- N <= D
// Each keeps its scalar reference (_naive), which the tests tie the fast path to.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "evsam/backend/backend.hpp"
#include "evsam/ops/gemm.hpp"
#include "evsam/ops/linear.hpp"  // bmm_forward_naive, the reference's matmul
#include "evsam/ops/simd.hpp"    // Eigen and xsimd, with the intrinsics

namespace evsam {

// The reference: one scalar loop nest per head.
template <class T>
void relu_linear_att_forward_naive(T* out, const T* qkv, int64_t B, int64_t NH, int64_t D, int64_t N, double eps) {
    const T e = static_cast<T>(eps);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t h = 0; h < NH; ++h) {
            const T* q = qkv + (b * NH + h) * 3 * D * N;
            const T* k = q + D * N;
            const T* v = k + D * N;
            T* o = out + (b * NH + h) * D * N;
            std::vector<T> vk(static_cast<size_t>((D + 1) * D), T(0));  // rows: v_0..v_{D-1}, ones
            std::vector<T> kr(static_cast<size_t>(N));
            for (int64_t j = 0; j < D; ++j) {  // column j of vk = sum_n [v; 1][:, n] * relu(k[j, n])
                for (int64_t n = 0; n < N; ++n) kr[n] = std::max(k[j * N + n], T(0));
                for (int64_t i = 0; i < D; ++i) {
                    T s = 0;
                    for (int64_t n = 0; n < N; ++n) s += v[i * N + n] * kr[n];
                    vk[i * D + j] = s;
                }
                T s = 0;
                for (int64_t n = 0; n < N; ++n) s += kr[n];
                vk[D * D + j] = s;
            }
            for (int64_t n = 0; n < N; ++n) {
                T den = 0;
                for (int64_t j = 0; j < D; ++j) den += vk[D * D + j] * std::max(q[j * N + n], T(0));
                for (int64_t i = 0; i < D; ++i) {
                    T num = 0;
                    for (int64_t j = 0; j < D; ++j) num += vk[i * D + j] * std::max(q[j * N + n], T(0));
                    o[i * N + n] = num / (den + e);
                }
            }
        }
}

// The fast path, as upstream writes it: two GEMMs per head (Eigen) on v read in place, the ReLUs
// in small per-thread buffers, the padded row of ones as row sums, the division fused into the copy out.
template <class T>
void relu_linear_att_forward(T* out, const T* qkv, int64_t B, int64_t NH, int64_t D, int64_t N, double eps,
                             backend::cpu) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const T e = static_cast<T>(eps);
#pragma omp parallel
    {
        Mat kr(D, N), qr(D, N), vk(D + 1, D), o(D + 1, N);
#pragma omp for collapse(2) schedule(static)
        for (int64_t b = 0; b < B; ++b)
            for (int64_t h = 0; h < NH; ++h) {
                const T* q = qkv + (b * NH + h) * 3 * D * N;
                Eigen::Map<const Mat> Q(q, D, N), K(q + D * N, D, N), V(q + 2 * D * N, D, N);
                qr = Q.cwiseMax(T(0));  // q = self.kernel_func(q)
                kr = K.cwiseMax(T(0));  // k = self.kernel_func(k)
                // v = F.pad(v, (0, 0, 0, 1), value=1); vk = torch.matmul(v, trans_k), without the padded
                // copy: the rows of v straight from qkv, and the row of ones as the sums of relu(k)'s rows
                gemm(vk.topRows(D), V, kr.transpose());
                vk.row(D) = kr.rowwise().sum().transpose();
                gemm(o, vk, qr);                      // out = torch.matmul(vk, q)
                T* dst = out + (b * NH + h) * D * N;  // out = out[:-1] / (out[-1:] + eps)
                for (int64_t i = 0; i < D; ++i)
                    for (int64_t n = 0; n < N; ++n) dst[i * N + n] = o(i, n) / (o(D, n) + e);
            }
    }
}

// The reference: upstream's statements one by one on materialised tensors: q, k = relu(q), relu(k);
// att_map = matmul(k^T, q); att_map /= (sum over dim 2 + eps); out = matmul(v, att_map), the
// matmuls by the naive bmm. The kernel below sums in the same order, so the two agree bit for bit.
template <class T>
void relu_quadratic_att_forward_naive(T* out, const T* qkv, int64_t B, int64_t NH, int64_t D, int64_t N, double eps) {
    std::vector<T> q(static_cast<size_t>(D * N)), kt(static_cast<size_t>(N * D)), att(static_cast<size_t>(N * N));
    for (int64_t b = 0; b < B; ++b)
        for (int64_t h = 0; h < NH; ++h) {
            const T* qkv_h = qkv + (b * NH + h) * 3 * D * N;  // q, k, v = qkv[:, :, 0:dim], [dim:2dim], [2dim:]
            for (int64_t d = 0; d < D; ++d)
                for (int64_t n = 0; n < N; ++n) {
                    q[static_cast<size_t>(d * N + n)] = std::max(qkv_h[d * N + n], T(0));  // q = kernel_func(q)
                    kt[static_cast<size_t>(n * D + d)] =
                        std::max(qkv_h[(D + d) * N + n], T(0));  // k = kernel_func(k), transposed
                }
            bmm_forward_naive(att.data(), kt.data(), q.data(), 1, N, D,
                              N);              // att_map = torch.matmul(k.transpose(-1, -2), q)
            for (int64_t n = 0; n < N; ++n) {  // att_map / (torch.sum(att_map, dim=2, keepdim=True) + eps)
                T s = 0;
                for (int64_t m = 0; m < N; ++m) s += att[static_cast<size_t>(m * N + n)];
                for (int64_t m = 0; m < N; ++m) att[static_cast<size_t>(m * N + n)] /= (s + static_cast<T>(eps));
            }
            bmm_forward_naive(out + (b * NH + h) * D * N, qkv_h + 2 * D * N, att.data(), 1, D, N,
                              N);  // out = torch.matmul(v, att_map)
        }
}

// The kernel: per head, the attention map's entries as dot products of the ReLU'd columns, each
// column normalised, then v times the map, fused into one loop nest (no relu'd copies, no
// transposes). Small by construction: used only where N = H*W <= dim.
template <class T>
void relu_quadratic_att_forward(T* out, const T* qkv, int64_t B, int64_t NH, int64_t D, int64_t N, double eps,
                                backend::cpu) {
    const T e = static_cast<T>(eps);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b)
        for (int64_t h = 0; h < NH; ++h) {
            const T* q = qkv + (b * NH + h) * 3 * D * N;
            const T* k = q + D * N;
            const T* v = k + D * N;
            T* o = out + (b * NH + h) * D * N;
            std::vector<T> A(static_cast<size_t>(N * N));  // A[m][n] = sum_d relu(k[d,m]) relu(q[d,n])
            for (int64_t m = 0; m < N; ++m)
                for (int64_t n = 0; n < N; ++n) {
                    T s = 0;
                    for (int64_t d = 0; d < D; ++d) s += std::max(k[d * N + m], T(0)) * std::max(q[d * N + n], T(0));
                    A[m * N + n] = s;
                }
            for (int64_t n = 0; n < N; ++n) {  // normalise each column by its sum over m
                T s = 0;
                for (int64_t m = 0; m < N; ++m) s += A[m * N + n];
                for (int64_t m = 0; m < N; ++m) A[m * N + n] /= (s + e);
            }
            for (int64_t d = 0; d < D; ++d)
                for (int64_t n = 0; n < N; ++n) {
                    T s = 0;
                    for (int64_t m = 0; m < N; ++m) s += v[d * N + m] * A[m * N + n];
                    o[d * N + n] = s;
                }
        }
}

}  // namespace evsam
