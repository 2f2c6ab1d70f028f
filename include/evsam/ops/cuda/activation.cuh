// evsam: element-wise kernels of backend::cuda (mirrors ops/activation.hpp and BatchNorm's
// inference form of ops/norm.hpp): activations in place, add, bias + activation epilogue.
#pragma once
#include "evsam/ops/act.hpp"
#include "evsam/ops/cuda/gemm.cuh"

namespace evsam::cuda {
// The formulas of act_apply (ops/activation.hpp), for the device.
template <class T>
__device__ __forceinline__ T act_apply_dev(Act a, T x) {
    switch (a) {
        case Act::none: return x;
        case Act::relu: return x > T(0) ? x : T(0);
        case Act::relu6: return fmin(fmax(x, T(0)), T(6));
        case Act::hswish: return x * fmin(fmax(x + T(3), T(0)), T(6)) / T(6);
        case Act::silu: return x / (T(1) + exp(-x));
        case Act::gelu_tanh:
        case Act::gelu_tanh_approx: {  // (the CPU's fast form of gelu_tanh; computed exactly here)
            const T k = T(0.7978845608028654);
            return T(0.5) * x * (T(1) + tanh(k * (x + T(0.044715) * x * x * x)));
        }
        case Act::gelu_erf: return T(0.5) * x * (T(1) + erf(x * T(0.7071067811865476)));
    }
    return x;
}

template <class T>
__global__ void activation_kernel(T* x, int64_t n, Act a) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        x[i] = act_apply_dev(a, x[i]);
}
template <class T>
__global__ void add_kernel(T* out, const T* a, const T* b, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        out[i] = a[i] + b[i];
}
// x[n, c, p] = act(x[n, c, p] + bias[c]) over N x C planes of P (bias may be null).
template <class T>
__global__ void bias_act_kernel(T* x, const T* bias, int64_t C, int64_t P, int64_t total, Act a) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const T b = bias ? bias[(i / P) % C] : T(0);
        x[i] = act_apply_dev(a, x[i] + b);
    }
}
template <class T>
__global__ void batchnorm2d_kernel(T* x, const T* w, const T* b, const T* mean, const T* var, T eps, int64_t C,
                                   int64_t P, int64_t total) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t c = (i / P) % C;
        x[i] = (x[i] - mean[c]) / sqrt(var[c] + eps) * w[c] + b[c];
    }
}

template <class T>
void bias_act(T* x, const T* bias, int64_t N, int64_t C, int64_t P, Act a) {
    const int64_t total = N * C * P;
    if (total == 0 || (!bias && a == Act::none)) return;
    bias_act_kernel<<<grid_for(total), 256, 0, context().stream()>>>(x, bias, C, P, total, a);
    EVSAM_CUDA_LAUNCH_CHECK();
}

template <class T>
void activation_forward(T* x, int64_t n, Act a, tag) {
    if (n == 0 || a == Act::none) return;
    cuda::activation_kernel<<<cuda::grid_for(n), 256, 0, cuda::context().stream()>>>(x, n, a);
    EVSAM_CUDA_LAUNCH_CHECK();
}

template <class T>
void add_forward(T* out, const T* a, const T* b, int64_t n, tag) {
    if (n == 0) return;
    cuda::add_kernel<<<cuda::grid_for(n), 256, 0, cuda::context().stream()>>>(out, a, b, n);
    EVSAM_CUDA_LAUNCH_CHECK();
}

template <class T>
void batchnorm2d_forward(T* x, const T* weight, const T* bias, const T* mean, const T* var, double eps, int64_t N,
                         int64_t C, int64_t P, tag) {
    const int64_t total = N * C * P;
    if (total == 0) return;
    cuda::batchnorm2d_kernel<<<cuda::grid_for(total), 256, 0, cuda::context().stream()>>>(
        x, weight, bias, mean, var, static_cast<T>(eps), C, P, total);
    EVSAM_CUDA_LAUNCH_CHECK();
}

}  // namespace evsam::cuda
