// evsam: layout ops of backend::cuda (mirrors ops/layout.hpp).
#pragma once
#include "evsam/ops/cuda/gemm.cuh"

namespace evsam::cuda {

// out[:, c0:c0+C] = in (torch.cat on dim 1): one strided copy, B rows of C*P elements.
template <class T>
void copy_channels_forward(T* out, const T* in, int64_t B, int64_t C, int64_t P, int64_t DC, int64_t c0, tag) {
    if (B * C * P == 0) return;
    EVSAM_CUDA_CHECK(cudaMemcpy2DAsync(out + c0 * P, static_cast<size_t>(DC * P) * sizeof(T), in,
                                       static_cast<size_t>(C * P) * sizeof(T), static_cast<size_t>(C * P) * sizeof(T),
                                       static_cast<size_t>(B), cudaMemcpyDeviceToDevice, cuda::context().stream()));
}

}  // namespace evsam::cuda
