// evsam: row-major strided-batched GEMM on cuBLAS for backend::cuda.
//
//   C[b] = A[b] B[b]  (M x N = M x K . K x N), every matrix row-major with its leading dimension;
//   ta / tb: A (or B) is stored transposed (K x M, or N x K). Strides are in elements; a stride
//   of 0 broadcasts one matrix over the batch (a conv weight over the images).
//
// Row-major C = A B is column-major C^T = B^T A^T, so cuBLAS gets the operands swapped.
// The compute type follows the context's precision: strict = CUBLAS_COMPUTE_32F (no TF32),
// fast = CUBLAS_COMPUTE_32F_FAST_TF32; double is always CUBLAS_COMPUTE_64F.
#pragma once
#include <type_traits>

#include "evsam/backend/cuda/runtime.cuh"

namespace evsam::cuda {

template <class T>
void gemm_strided_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, int64_t sA,
                          const T* B, int64_t ldb, int64_t sB, T* C, int64_t ldc, int64_t sC, int64_t batch,
                          T beta = T(0)) {
    if (M == 0 || N == 0 || batch == 0) return;
    EVSAM_CHECK(M <= INT32_MAX && N <= INT32_MAX && K <= INT32_MAX && batch <= INT32_MAX && lda <= INT32_MAX &&
                    ldb <= INT32_MAX && ldc <= INT32_MAX,
                "GEMM dimensions exceed cuBLAS's 32-bit sizes");
    Context& ctx = context();
    const T alpha = T(1);
    constexpr cudaDataType_t dt = std::is_same_v<T, float> ? CUDA_R_32F : CUDA_R_64F;
    const cublasComputeType_t ct = std::is_same_v<T, double>            ? CUBLAS_COMPUTE_64F
                                   : ctx.precision() == Precision::fast ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                        : CUBLAS_COMPUTE_32F;
    EVSAM_CUBLAS_CHECK(
        cublasGemmStridedBatchedEx(ctx.blas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha, B, dt,
                                   static_cast<int>(ldb), sB, A, dt, static_cast<int>(lda), sA, &beta, C, dt,
                                   static_cast<int>(ldc), sC, static_cast<int>(batch), ct, CUBLAS_GEMM_DEFAULT));
}

// Grid-stride launch shape for n elements.
inline dim3 grid_for(int64_t n, int threads = 256) {
    int64_t blocks = (n + threads - 1) / threads;
    if (blocks > 65535LL * 16) blocks = 65535LL * 16;  // grid-stride loops cover the rest
    if (blocks < 1) blocks = 1;
    return dim3(static_cast<unsigned>(blocks));
}

}  // namespace evsam::cuda
