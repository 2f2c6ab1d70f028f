// evsam: torch.nn.functional.linear, y = x W^T + b, on row-major (M, IN) -> (M, OUT).
// Size letters: M rows (tokens x batch), IN input features, OUT output features.
//   linear_forward_naive : the reference loop.
//   linear_forward       : Eigen GEMM on fixed blocks of kRowBlock rows, split across
//                          threads (block size fixed: bit-identical for any thread count); a few
//                          rows through a large weight: linear_forward_gemv, blocks of outputs.
#pragma once
#include <algorithm>
#include <cstdint>

#include "evsam/backend/backend.hpp"
#include "evsam/ops/gemm.hpp"
#include "evsam/ops/simd.hpp"  // Eigen and xsimd, with the intrinsics

namespace evsam {

template <class T>
void linear_forward_naive(T* out, const T* in, const T* weight, const T* bias, int64_t M, int64_t IN, int64_t OUT) {
    for (int64_t m = 0; m < M; ++m)
        for (int64_t o = 0; o < OUT; ++o) {
            T acc = bias ? bias[o] : T(0);
            for (int64_t i = 0; i < IN; ++i) acc += in[m * IN + i] * weight[o * IN + i];
            out[m * OUT + o] = acc;
        }
}

// A few rows through a large weight (a classifier head on one image: 1 x 3072 -> 3200): one GEMM
// would run on one thread and repack the whole weight every call. Instead each fixed block of
// kOutBlock outputs is a matrix-vector product per row, the blocks split across threads (fixed
// blocks: bit-identical for any thread count).
template <class T>
void linear_forward_gemv(T* out, const T* in, const T* weight, const T* bias, int64_t M, int64_t IN, int64_t OUT) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    constexpr int64_t kOutBlock = 64;
    const int64_t nblk = (OUT + kOutBlock - 1) / kOutBlock;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nblk; ++b) {
        const int64_t o0 = b * kOutBlock, no = std::min(kOutBlock, OUT - o0);
        Eigen::Map<const Mat> W(weight + o0 * IN, no, IN);
        for (int64_t m = 0; m < M; ++m) {
            Eigen::Map<const Vec> x(in + m * IN, IN);
            Eigen::Map<Vec> y(out + m * OUT + o0, no);
            y.noalias() = W * x;
            if (bias)
                for (int64_t o = 0; o < no; ++o) y[o] += bias[o0 + o];
        }
    }
}
// linear_forward takes the GEMV path for at most this many rows through a weight of at least
// kGemvMinWeight elements (SAM's decoder MLPs, 256 x 256, stay on the GEMM path).
constexpr int64_t kGemvMaxRows = 8, kGemvMinWeight = int64_t(1) << 20;

template <class T>
void linear_forward(T* out, const T* in, const T* weight, const T* bias, int64_t M, int64_t IN, int64_t OUT,
                    backend::cpu) {
    if (M <= kGemvMaxRows && IN * OUT >= kGemvMinWeight) return linear_forward_gemv(out, in, weight, bias, M, IN, OUT);
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    constexpr int64_t kRowBlock = 256;  // rows per GEMM: the weight is packed once per block
    const int64_t nblk = (M + kRowBlock - 1) / kRowBlock;
    Eigen::Map<const Mat> Wm(weight, OUT, IN);
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nblk; ++b) {
        const int64_t m0 = b * kRowBlock, nm = std::min(kRowBlock, M - m0);
        Eigen::Map<const Mat> X(in + m0 * IN, nm, IN);
        Eigen::Map<Mat> Y(out + m0 * OUT, nm, OUT);
        gemm(Y, X, Wm.transpose());
        if (bias)
            for (int64_t r = 0; r < nm; ++r)
                for (int64_t o = 0; o < OUT; ++o) Y(r, o) += bias[o];
    }
}

}  // namespace evsam

namespace evsam {

// Batched matmul: out[b] = a[b] @ x[b], a (B, M, K), x (B, K, P), out (B, M, P)
// (mask_decoder.py: masks = hyper_in @ upscaled_embedding.view(b, c, h * w)).
// The reference: one dot product per output.
template <class T>
void bmm_forward_naive(T* out, const T* a, const T* x, int64_t B, int64_t M, int64_t K, int64_t P) {
    for (int64_t b = 0; b < B; ++b)
        for (int64_t m = 0; m < M; ++m)
            for (int64_t p = 0; p < P; ++p) {
                T acc = 0;
                for (int64_t k = 0; k < K; ++k) acc += a[(b * M + m) * K + k] * x[(b * K + k) * P + p];
                out[(b * M + m) * P + p] = acc;
            }
}

// The fast path: Eigen GEMMs on fixed blocks of kColBlock columns.
template <class T>
void bmm_forward(T* out, const T* a, const T* x, int64_t B, int64_t M, int64_t K, int64_t P, backend::cpu) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    constexpr int64_t kColBlock = 1024;  // fixed: bit-identical for any thread count
    const int64_t nblk = (P + kColBlock - 1) / kColBlock;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b)
        for (int64_t blk = 0; blk < nblk; ++blk) {
            const int64_t p0 = blk * kColBlock, np = std::min(kColBlock, P - p0);
            Eigen::Map<const Mat> A(a + b * M * K, M, K);
            Eigen::Map<const Mat, 0, Stride> X(x + b * K * P + p0, K, np, Stride(P));
            Eigen::Map<Mat, 0, Stride> Y(out + b * M * P + p0, M, np, Stride(P));
            gemm(Y, A, X);
        }
}

}  // namespace evsam
