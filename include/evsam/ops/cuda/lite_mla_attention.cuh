// evsam: LiteMLA's attention core on backend::cuda (mirrors ops/lite_mla_attention.hpp; same
// layout: qkv (B, NH*3*D, N), per head rows [0,D) q, [D,2D) k, [2D,3D) v; out (B, NH*D, N)).
//
// linear (N > D), two kernels, no padded copy of v:
//   vk_kernel  : one block per head; vk = [v; 1] relu(k)^T, (D+1) x D, accumulated over tiles of
//                64 positions staged in shared memory; the padded row of ones is the row sums.
//   out_kernel : one thread per (head, position); o = vk relu(q[:, n]); out = o[:D] / (o[D] + eps).
// quadratic (N <= D): one block per head, A = relu(k)^T relu(q) in shared memory, columns
//   normalised by their sums + eps, out = v A.
// Always in T (fp32 or fp64), whatever the precision policy: the normaliser is never reduced.
#pragma once
#include "evsam/backend/cuda/device_tensor.cuh"
#include "evsam/ops/cuda/gemm.cuh"

namespace evsam::cuda {
constexpr int kMlaMaxDim = 63;           // (D+1)*D accumulators over 256 threads: 16 per thread
constexpr int kMlaTile = 64;             // positions per shared-memory tile
constexpr int kMlaPitch = kMlaTile + 1;  // padded row: a warp reading one column of 32 rows hits 32 banks
constexpr int kMlaThreads = 256;

template <class T>
__global__ void mla_vk_kernel(T* vk, const T* qkv, int64_t D, int64_t N) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* ks = reinterpret_cast<T*>(smem_raw);  // D x kMlaTile (pitch kMlaPitch): relu(k)
    T* vs = ks + D * kMlaPitch;              // D x kMlaTile (pitch kMlaPitch): v
    const int64_t head = blockIdx.x;
    const T* k = qkv + head * 3 * D * N + D * N;
    const T* v = k + D * N;
    const int64_t E = (D + 1) * D;
    T acc[16];
    for (int e = 0; e < 16; ++e) acc[e] = T(0);
    for (int64_t n0 = 0; n0 < N; n0 += kMlaTile) {
        for (int64_t t = threadIdx.x; t < D * kMlaTile; t += blockDim.x) {
            const int64_t d = t / kMlaTile, j = t % kMlaTile, n = n0 + j;
            ks[d * kMlaPitch + j] = n < N ? fmax(k[d * N + n], T(0)) : T(0);
            vs[d * kMlaPitch + j] = n < N ? v[d * N + n] : T(0);
        }
        __syncthreads();
        int slot = 0;
        for (int64_t e = threadIdx.x; e < E; e += blockDim.x, ++slot) {
            const int64_t i = e / D, j = e % D;  // vk[i][j], row D is the row of ones
            T s = 0;
            if (i < D)
                for (int t = 0; t < kMlaTile; ++t) s += vs[i * kMlaPitch + t] * ks[j * kMlaPitch + t];
            else
                for (int t = 0; t < kMlaTile; ++t) s += ks[j * kMlaPitch + t];
            acc[slot] += s;
        }
        __syncthreads();
    }
    int slot = 0;
    for (int64_t e = threadIdx.x; e < E; e += blockDim.x, ++slot) vk[head * E + e] = acc[slot];
}

template <class T>
__global__ void mla_out_kernel(T* out, const T* qkv, const T* vk, int64_t D, int64_t N, T eps, int64_t total) {
    for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
         idx += int64_t(gridDim.x) * blockDim.x) {
        const int64_t head = idx / N, n = idx % N;
        const T* q = qkv + head * 3 * D * N;
        const T* m = vk + head * (D + 1) * D;
        T qr[kMlaMaxDim];
        for (int64_t j = 0; j < D; ++j) qr[j] = fmax(q[j * N + n], T(0));
        T den = 0;
        for (int64_t j = 0; j < D; ++j) den += m[D * D + j] * qr[j];
        for (int64_t i = 0; i < D; ++i) {
            T num = 0;
            for (int64_t j = 0; j < D; ++j) num += m[i * D + j] * qr[j];
            out[(head * D + i) * N + n] = num / (den + eps);
        }
    }
}

template <class T>
__global__ void mla_quadratic_kernel(T* out, const T* qkv, int64_t D, int64_t N, T eps) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* A = reinterpret_cast<T*>(smem_raw);  // N x N
    const int64_t head = blockIdx.x;
    const T* q = qkv + head * 3 * D * N;
    const T* k = q + D * N;
    const T* v = k + D * N;
    for (int64_t e = threadIdx.x; e < N * N; e += blockDim.x) {
        const int64_t m = e / N, n = e % N;
        T s = 0;
        for (int64_t d = 0; d < D; ++d) s += fmax(k[d * N + m], T(0)) * fmax(q[d * N + n], T(0));
        A[e] = s;
    }
    __syncthreads();
    for (int64_t n = threadIdx.x; n < N; n += blockDim.x) {
        T s = 0;
        for (int64_t m = 0; m < N; ++m) s += A[m * N + n];
        for (int64_t m = 0; m < N; ++m) A[m * N + n] /= (s + eps);
    }
    __syncthreads();
    for (int64_t e = threadIdx.x; e < D * N; e += blockDim.x) {
        const int64_t d = e / N, n = e % N;
        T s = 0;
        for (int64_t m = 0; m < N; ++m) s += v[d * N + m] * A[m * N + n];
        out[head * D * N + e] = s;
    }
}

template <class T>
void relu_linear_att_forward(T* out, const T* qkv, int64_t B, int64_t NH, int64_t D, int64_t N, double eps, tag) {
    EVSAM_CHECK(D <= cuda::kMlaMaxDim, "LiteMLA: the CUDA kernel supports head dims up to " +
                                           std::to_string(cuda::kMlaMaxDim) + ", got " + std::to_string(D));
    const int64_t heads = B * NH;
    if (heads == 0 || N == 0) return;
    cudaStream_t s = cuda::context().stream();
    cuda::DeviceTensor<T> vk({heads * (D + 1) * D}, cuda::DeviceTensor<T>::uninitialized);
    const size_t smem = static_cast<size_t>(2 * D * cuda::kMlaPitch) * sizeof(T);
    EVSAM_CHECK(smem <= 48 * 1024, "LiteMLA: head dim " + std::to_string(D) + " needs more shared memory than 48 KiB");
    cuda::mla_vk_kernel<<<static_cast<unsigned>(heads), cuda::kMlaThreads, smem, s>>>(vk.data(), qkv, D, N);
    EVSAM_CUDA_LAUNCH_CHECK();
    const int64_t total = heads * N;
    cuda::mla_out_kernel<<<cuda::grid_for(total, 128), 128, 0, s>>>(out, qkv, vk.data(), D, N, static_cast<T>(eps),
                                                                    total);
    EVSAM_CUDA_LAUNCH_CHECK();
}

template <class T>
void relu_quadratic_att_forward(T* out, const T* qkv, int64_t B, int64_t NH, int64_t D, int64_t N, double eps, tag) {
    const int64_t heads = B * NH;
    if (heads == 0 || N == 0) return;
    const size_t smem = static_cast<size_t>(N * N) * sizeof(T);
    EVSAM_CHECK(smem <= 48 * 1024,
                "LiteMLA quadratic attention: " + std::to_string(N) + " positions exceed shared memory");
    cuda::mla_quadratic_kernel<<<static_cast<unsigned>(heads), cuda::kMlaThreads, smem, cuda::context().stream()>>>(
        out, qkv, D, N, static_cast<T>(eps));
    EVSAM_CUDA_LAUNCH_CHECK();
}

}  // namespace evsam::cuda
