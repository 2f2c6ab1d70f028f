// evsam: 2-D convolution, NCHW (torch.nn.functional.conv2d semantics, zero padding).
//
// Size letters: N batch, C input channels, H x W input size, OC output channels,
// OH x OW output size, K kernel side, G groups (C/G input and OC/G output
// channels per group). weight is (OC, C/G, K, K); bias is (OC,) or null.
//
//   conv2d_forward_naive : the reference, one loop nest per output element.
//   conv2d_forward       : the fast path. groups == 1 -> im2col + GEMM (Eigen);
//                          depthwise (G == C == OC) -> direct loops; other
//                          grouped convs -> one GEMM per group.
// Work is split into fixed-size column blocks (kColBlock output pixels), never
// by thread count, so the result is bit-identical whatever the number of threads.
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <vector>

#include "evsam/backend/backend.hpp"

namespace evsam {

inline int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dilation) {
    return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

template <class T>
void conv2d_forward_naive(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H,
                          int64_t W, int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G) {
    const int64_t OH = conv_out_size(H, K, stride, pad, dilation), OW = conv_out_size(W, K, stride, pad, dilation);
    const int64_t Cg = C / G, OCg = OC / G;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t oc = 0; oc < OC; ++oc) {
            const int64_t g = oc / OCg;
            for (int64_t oy = 0; oy < OH; ++oy)
                for (int64_t ox = 0; ox < OW; ++ox) {
                    T acc = bias ? bias[oc] : T(0);
                    for (int64_t ci = 0; ci < Cg; ++ci)
                        for (int64_t ky = 0; ky < K; ++ky) {
                            const int64_t iy = oy * stride - pad + ky * dilation;
                            if (iy < 0 || iy >= H) continue;
                            for (int64_t kx = 0; kx < K; ++kx) {
                                const int64_t ix = ox * stride - pad + kx * dilation;
                                if (ix < 0 || ix >= W) continue;
                                acc += weight[((oc * Cg + ci) * K + ky) * K + kx] *
                                       in[((n * C + g * Cg + ci) * H + iy) * W + ix];
                            }
                        }
                    out[((n * OC + oc) * OH + oy) * OW + ox] = acc;
                }
        }
}

namespace detail {

constexpr int64_t kColBlock = 256;  // output pixels per GEMM block (fixed: determinism)

// Depthwise: each output channel reads its own input channel.
template <class T>
void conv2d_depthwise(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                      int64_t K, int64_t stride, int64_t pad, int64_t dilation) {
    const int64_t OH = conv_out_size(H, K, stride, pad, dilation), OW = conv_out_size(W, K, stride, pad, dilation);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
            const T* src = in + (n * C + c) * H * W;
            const T* wk = weight + c * K * K;
            T* dst = out + (n * C + c) * OH * OW;
            const T b = bias ? bias[c] : T(0);
            for (int64_t oy = 0; oy < OH; ++oy)
                for (int64_t ox = 0; ox < OW; ++ox) {
                    T acc = b;
                    for (int64_t ky = 0; ky < K; ++ky) {
                        const int64_t iy = oy * stride - pad + ky * dilation;
                        if (iy < 0 || iy >= H) continue;
                        for (int64_t kx = 0; kx < K; ++kx) {
                            const int64_t ix = ox * stride - pad + kx * dilation;
                            if (ix < 0 || ix >= W) continue;
                            acc += wk[ky * K + kx] * src[iy * W + ix];
                        }
                    }
                    dst[oy * OW + ox] = acc;
                }
        }
}

// Grouped / dense: per (image, group, block of output pixels), build the im2col block
// (Cg*K*K rows x cols) and multiply by the group's (OCg x Cg*K*K) weight.
template <class T>
void conv2d_gemm(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                 int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    const int64_t OH = conv_out_size(H, K, stride, pad, dilation), OW = conv_out_size(W, K, stride, pad, dilation);
    const int64_t P = OH * OW, Cg = C / G, OCg = OC / G, R = Cg * K * K;
    const int64_t nblk = (P + kColBlock - 1) / kColBlock;
    const bool pointwise = K == 1 && stride == 1 && pad == 0;
#pragma omp parallel
    {
        std::vector<T> col(pointwise ? 0 : static_cast<size_t>(R * kColBlock));
        Mat acc(OCg, kColBlock);
#pragma omp for collapse(3) schedule(static)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t g = 0; g < G; ++g)
                for (int64_t b = 0; b < nblk; ++b) {
                    const int64_t p0 = b * kColBlock, np = std::min(kColBlock, P - p0);
                    const T* gin = in + (n * C + g * Cg) * H * W;
                    Eigen::Map<const Mat, 0, Stride> Wm(weight + g * OCg * R, OCg, R, Stride(R));
                    auto A = acc.leftCols(np);
                    if (pointwise) {
                        Eigen::Map<const Mat, 0, Stride> X(gin + p0, R, np, Stride(H * W));
                        A.noalias() = Wm * X;
                    } else {
                        for (int64_t ci = 0; ci < Cg; ++ci)
                            for (int64_t ky = 0; ky < K; ++ky)
                                for (int64_t kx = 0; kx < K; ++kx) {
                                    T* row = col.data() + ((ci * K + ky) * K + kx) * np;
                                    const T* src = gin + ci * H * W;
                                    for (int64_t j = 0; j < np; ++j) {
                                        const int64_t p = p0 + j, oy = p / OW, ox = p % OW;
                                        const int64_t iy = oy * stride - pad + ky * dilation;
                                        const int64_t ix = ox * stride - pad + kx * dilation;
                                        row[j] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? src[iy * W + ix] : T(0);
                                    }
                                }
                        Eigen::Map<const Mat> X(col.data(), R, np);
                        A.noalias() = Wm * X;
                    }
                    for (int64_t o = 0; o < OCg; ++o) {
                        const int64_t oc = g * OCg + o;
                        const T bb = bias ? bias[oc] : T(0);
                        T* dst = out + (n * OC + oc) * P + p0;
                        for (int64_t j = 0; j < np; ++j) dst[j] = acc(o, j) + bb;
                    }
                }
    }
}

}  // namespace detail

template <class T>
void conv2d_forward(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                    int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G, backend::cpu) {
    if (G == C && G == OC && G > 1)
        detail::conv2d_depthwise(out, in, weight, bias, N, C, H, W, K, stride, pad, dilation);
    else
        detail::conv2d_gemm(out, in, weight, bias, N, C, H, W, OC, K, stride, pad, dilation, G);
}

// torch.nn.ConvTranspose2d with kernel == stride, no padding (SAM's 2x2 s2 upscaling):
// every input pixel writes its own KxK output patch, so out = W^T x per position.
// weight is (C, OC, K, K); output (N, OC, H*K, W*K).
template <class T>
void conv_transpose2d_forward_naive(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H,
                                    int64_t W, int64_t OC, int64_t K) {
    const int64_t OH = H * K, OW = W * K;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t oc = 0; oc < OC; ++oc)
            for (int64_t y = 0; y < H; ++y)
                for (int64_t x = 0; x < W; ++x)
                    for (int64_t ky = 0; ky < K; ++ky)
                        for (int64_t kx = 0; kx < K; ++kx) {
                            T acc = bias ? bias[oc] : T(0);
                            for (int64_t c = 0; c < C; ++c)
                                acc += in[((n * C + c) * H + y) * W + x] * weight[((c * OC + oc) * K + ky) * K + kx];
                            out[((n * OC + oc) * OH + y * K + ky) * OW + x * K + kx] = acc;
                        }
}

// Fast path: per image and fixed block of input pixels, one GEMM (OC*K*K x C) * (C x pixels),
// then each row (oc, ky, kx) is scattered to its output positions.
template <class T>
void conv_transpose2d_forward(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H,
                              int64_t W, int64_t OC, int64_t K, backend::cpu) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    const int64_t P = H * W, OH = H * K, OW = W * K, R = OC * K * K;
    const int64_t nblk = (P + detail::kColBlock - 1) / detail::kColBlock;
    Eigen::Map<const Mat> Wm(weight, C, R);  // (C, OC*K*K)
#pragma omp parallel
    {
        Mat acc(R, detail::kColBlock);
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t b = 0; b < nblk; ++b) {
                const int64_t p0 = b * detail::kColBlock, np = std::min(detail::kColBlock, P - p0);
                Eigen::Map<const Mat, 0, Stride> X(in + n * C * P + p0, C, np, Stride(P));
                auto A = acc.leftCols(np);
                A.noalias() = Wm.transpose() * X;
                for (int64_t oc = 0; oc < OC; ++oc) {
                    const T bb = bias ? bias[oc] : T(0);
                    for (int64_t ky = 0; ky < K; ++ky)
                        for (int64_t kx = 0; kx < K; ++kx) {
                            const int64_t r = (oc * K + ky) * K + kx;
                            T* dst = out + (n * OC + oc) * OH * OW;
                            for (int64_t j = 0; j < np; ++j) {
                                const int64_t p = p0 + j, y = p / W, x = p % W;
                                dst[(y * K + ky) * OW + x * K + kx] = acc(r, j) + bb;
                            }
                        }
                }
            }
    }
}

}  // namespace evsam
