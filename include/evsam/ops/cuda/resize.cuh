// evsam: bicubic resize of backend::cuda (mirrors bicubic_resize_forward of ops/resize.hpp:
// PyTorch's upsample_bicubic2d, A = -0.75, align_corners=False, taps clamped to the border).
#pragma once
#include "evsam/ops/cuda/gemm.cuh"

namespace evsam::cuda {
template <class T>
__device__ __forceinline__ void cubic_coeffs_dev(T t, T c[4]) {
    const T A = T(-0.75);
    auto near = [&](T x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
    auto far = [&](T x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
    c[0] = far(t + 1);
    c[1] = near(t);
    c[2] = near(1 - t);
    c[3] = far(2 - t);
}

template <class T>
__global__ void bicubic_resize_kernel(T* out, const T* in, int64_t H, int64_t W, int64_t OH, int64_t OW, T sh, T sw,
                                      int64_t total) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t ox = i % OW, oy = (i / OW) % OH, p = i / (OW * OH);
        const T fy = sh * (static_cast<T>(oy) + T(0.5)) - T(0.5), fx = sw * (static_cast<T>(ox) + T(0.5)) - T(0.5);
        const int64_t iy = static_cast<int64_t>(floor(fy)), ix = static_cast<int64_t>(floor(fx));
        T cy[4], cx[4];
        cubic_coeffs_dev(fy - static_cast<T>(iy), cy);
        cubic_coeffs_dev(fx - static_cast<T>(ix), cx);
        const T* src = in + p * H * W;
        T acc = 0;
        for (int ky = 0; ky < 4; ++ky) {
            const int64_t yy = min(max(iy - 1 + ky, int64_t(0)), H - 1);
            T row = 0;
            for (int kx = 0; kx < 4; ++kx) row += cx[kx] * src[yy * W + min(max(ix - 1 + kx, int64_t(0)), W - 1)];
            acc += cy[ky] * row;
        }
        out[i] = acc;
    }
}

template <class T>
void bicubic_resize_forward(T* out, const T* in, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW, tag) {
    const int64_t total = NC * OH * OW;
    if (total == 0) return;
    const T sh = static_cast<T>(H) / static_cast<T>(OH), sw = static_cast<T>(W) / static_cast<T>(OW);
    cuda::bicubic_resize_kernel<<<cuda::grid_for(total), 256, 0, cuda::context().stream()>>>(out, in, H, W, OH, OW, sh,
                                                                                             sw, total);
    EVSAM_CUDA_LAUNCH_CHECK();
}

}  // namespace evsam::cuda
