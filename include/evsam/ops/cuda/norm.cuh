// evsam: LayerNorm2d of backend::cuda (mirrors layernorm2d_forward of ops/norm.hpp): one thread
// per pixel walks down the channels, two passes (mean, then variance about the mean) in the
// order of layernorm2d_pixels_naive; neighbouring threads read neighbouring pixels (coalesced).
// fp32 in every precision policy (issue 8: LayerNorm never drops below fp32).
#pragma once
#include "evsam/ops/cuda/gemm.cuh"

namespace evsam::cuda {
template <class T>
__global__ void layernorm2d_kernel(T* x, const T* weight, const T* bias, T eps, int64_t C, int64_t P, int64_t total) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        T* base = x + (i / P) * C * P + i % P;
        T u = 0;
        for (int64_t c = 0; c < C; ++c) u += base[c * P];
        u /= static_cast<T>(C);
        T s = 0;
        for (int64_t c = 0; c < C; ++c) s += (base[c * P] - u) * (base[c * P] - u);
        s /= static_cast<T>(C);
        const T inv = T(1) / sqrt(s + eps);
        for (int64_t c = 0; c < C; ++c) base[c * P] = (base[c * P] - u) * inv * weight[c] + bias[c];
    }
}

template <class T>
void layernorm2d_forward(T* x, const T* weight, const T* bias, double eps, int64_t N, int64_t C, int64_t P, tag) {
    const int64_t total = N * P;
    if (total == 0) return;
    cuda::layernorm2d_kernel<<<cuda::grid_for(total), 256, 0, cuda::context().stream()>>>(
        x, weight, bias, static_cast<T>(eps), C, P, total);
    EVSAM_CUDA_LAUNCH_CHECK();
}

}  // namespace evsam::cuda
