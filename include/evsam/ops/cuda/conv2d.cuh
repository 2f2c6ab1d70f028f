// evsam: convolutions of backend::cuda (mirrors ops/conv2d.hpp; same arguments and layout).
//   depthwise (groups == C == OC)  : a direct kernel, one thread per output, bias + act fused;
//   1x1, stride 1, no padding      : one strided-batched GEMM over the images (the input is the
//                                    column matrix already), per group when grouped;
//   any other k x k / stride / dil : im2col into the arena, then the same GEMM;
//   then a bias + activation pass (the folded BatchNorm's bias).
// The naive reference for all of them is conv2d_forward_naive (ops/conv2d.hpp), which the CUDA
// tests compare against.
#pragma once
#include <algorithm>

#include "evsam/backend/cuda/device_tensor.cuh"
#include "evsam/ops/conv2d.hpp"
#include "evsam/ops/cuda/activation.cuh"

namespace evsam::cuda {

template <class T>
__global__ void conv2d_depthwise_kernel(T* out, const T* in, const T* weight, const T* bias, int64_t C, int64_t H,
                                        int64_t W, int64_t OH, int64_t OW, int64_t K, int64_t stride, int64_t pad,
                                        int64_t dil, int64_t total, Act act) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t ox = i % OW, oy = (i / OW) % OH, nc = i / (OW * OH), c = nc % C;
        const T* src = in + nc * H * W;
        const T* wk = weight + c * K * K;
        T acc = T(0);
        for (int64_t ky = 0; ky < K; ++ky) {
            const int64_t iy = oy * stride - pad + ky * dil;
            if (iy < 0 || iy >= H) continue;
            for (int64_t kx = 0; kx < K; ++kx) {
                const int64_t ix = ox * stride - pad + kx * dil;
                if (ix < 0 || ix >= W) continue;
                acc += wk[ky * K + kx] * src[iy * W + ix];
            }
        }
        out[i] = act_apply_dev(act, acc + (bias ? bias[c] : T(0)));
    }
}

// col[n][(c*K + ky)*K + kx][oy*OW + ox] = in[n][c][oy*s - p + ky*d][ox*s - p + kx*d] (0 outside).
template <class T>
__global__ void im2col_kernel(T* col, const T* in, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t K,
                              int64_t stride, int64_t pad, int64_t dil, int64_t total) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t P = OH * OW, p = i % P, row = (i / P) % (C * K * K), n = i / (P * C * K * K);
        const int64_t kx = row % K, ky = (row / K) % K, c = row / (K * K);
        const int64_t oy = p / OW, ox = p % OW;
        const int64_t iy = oy * stride - pad + ky * dil, ix = ox * stride - pad + kx * dil;
        col[i] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? in[((n * C + c) * H + iy) * W + ix] : T(0);
    }
}

template <class T>
void conv2d_forward(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                    int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G, Act act, tag) {
    const int64_t OH = conv_out_size(H, K, stride, pad, dilation), OW = conv_out_size(W, K, stride, pad, dilation);
    const int64_t P = OH * OW, Cg = C / G, OCg = OC / G, KK = K * K;
    if (N * OC * P == 0) return;
    cudaStream_t s = cuda::context().stream();
    if (G == C && G == OC) {  // depthwise
        const int64_t total = N * OC * P;
        cuda::conv2d_depthwise_kernel<<<cuda::grid_for(total), 256, 0, s>>>(out, in, weight, bias, C, H, W, OH, OW, K,
                                                                            stride, pad, dilation, total, act);
        EVSAM_CUDA_LAUNCH_CHECK();
        return;
    }
    const bool direct = K == 1 && stride == 1 && pad == 0;  // the input is its own column matrix
    // Images per im2col chunk: the column buffer stays under 256 MiB.
    const int64_t col_per_image = C * KK * P;
    const int64_t chunk = direct ? N
                                 : std::max<int64_t>(1, std::min<int64_t>(N, (int64_t(256) << 20) / int64_t(sizeof(T)) /
                                                                                 std::max<int64_t>(1, col_per_image)));
    cuda::DeviceTensor<T> col;
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
        const int64_t nb = std::min(chunk, N - n0);
        const T* cols = in + n0 * C * H * W;
        if (!direct) {
            if (col.numel() < nb * col_per_image)
                col = cuda::DeviceTensor<T>({nb * col_per_image}, cuda::DeviceTensor<T>::uninitialized);
            const int64_t total = nb * col_per_image;
            cuda::im2col_kernel<<<cuda::grid_for(total), 256, 0, s>>>(col.data(), cols, C, H, W, OH, OW, K, stride, pad,
                                                                      dilation, total);
            EVSAM_CUDA_LAUNCH_CHECK();
            cols = col.data();
        }
        T* dst = out + n0 * OC * P;
        if (G == 1) {  // out[n] (OC x P) = weight (OC x C*K*K) . col[n] (C*K*K x P), all images in one call
            cuda::gemm_strided_batched(false, false, OC, P, C * KK, weight, C * KK, 0, cols, P, C * KK * P, dst, P,
                                       OC * P, nb);
        } else {  // per image, the groups as the batch
            for (int64_t n = 0; n < nb; ++n)
                cuda::gemm_strided_batched(false, false, OCg, P, Cg * KK, weight, Cg * KK, OCg * Cg * KK,
                                           cols + n * C * KK * P, P, Cg * KK * P, dst + n * OC * P, P, OCg * P, G);
        }
    }
    cuda::bias_act(out, bias, N, OC, P, act);
}

template <class T>
void conv2d_forward(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                    int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G, tag b) {
    conv2d_forward(out, in, weight, bias, N, C, H, W, OC, K, stride, pad, dilation, G, Act::none, b);
}

}  // namespace evsam::cuda
