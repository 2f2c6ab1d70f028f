// evsam: the CUDA runtime side of backend::cuda: error checks, the device query, and the
// Context every CUDA op runs in (one stream, one cuBLAS handle bound to it, the activation
// arena and the precision policy).
//
// Errors become evsam::Error with one line naming the failing call, like every other error.
// Without a device (or a driver) device_count() is 0 and context() throws "no CUDA device".
#pragma once
#include <cuda_runtime.h>
#include <cublas_v2.h>

#include <cstdlib>
#include <string>

#include "evsam/backend/backend.hpp"
#include "evsam/backend/cpu_precision.hpp"
#include "evsam/backend/cuda/arena.hpp"
#include "evsam/core/error.hpp"

#define EVSAM_CUDA_CHECK(expr)                                                                                 \
    do {                                                                                                       \
        const cudaError_t evsam_err_ = (expr);                                                                 \
        if (evsam_err_ != cudaSuccess)                                                                         \
            throw ::evsam::Error(std::string("CUDA error: ") + cudaGetErrorString(evsam_err_) + " in " #expr); \
    } while (0)

#define EVSAM_CUBLAS_CHECK(expr)                                                                                   \
    do {                                                                                                           \
        const cublasStatus_t evsam_st_ = (expr);                                                                   \
        if (evsam_st_ != CUBLAS_STATUS_SUCCESS)                                                                    \
            throw ::evsam::Error(std::string("cuBLAS error: ") + cublasGetStatusString(evsam_st_) + " in " #expr); \
    } while (0)

// After a kernel launch: a bad launch configuration surfaces here, not at the next sync.
#define EVSAM_CUDA_LAUNCH_CHECK() EVSAM_CUDA_CHECK(cudaGetLastError())

namespace evsam::cuda {

// Precision policies (issue 8):
//   strict: fp32 everywhere, TF32 off (cuBLAS CUBLAS_COMPUTE_32F) -- held to the CPU's tolerance table;
//   fast  : GEMMs and convolutions on TF32 tensor cores; LayerNorm, softmax and the linear-attention
//           normaliser stay fp32 -- held to its own, declared tolerance (backend/tolerance.hpp).
// The policy type is the CPU's (backend/cpu_precision.hpp).
using evsam::Precision;
using evsam::precision_from_name;
using evsam::precision_name;

// Number of usable devices; 0 when there is no device or no driver (never throws).
inline int device_count() noexcept {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();  // clear the sticky "no driver" error
        return 0;
    }
    return n;
}
inline bool device_available() noexcept { return device_count() > 0; }

inline std::string device_name(int dev = 0) {
    cudaDeviceProp p{};
    EVSAM_CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
    return p.name;
}

struct RawDeviceAlloc {
    void* allocate(size_t bytes) {
        void* p = nullptr;
        if (cudaMalloc(&p, bytes) != cudaSuccess) {
            (void)cudaGetLastError();
            return nullptr;
        }
        return p;
    }
    void release(void* p) { (void)cudaFree(p); }
};

class Context {
public:
    Context() {
        if (!device_available()) throw Error("no CUDA device: the cuda backend needs an NVIDIA GPU and driver");
        EVSAM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        EVSAM_CUBLAS_CHECK(cublasCreate(&blas_));
        EVSAM_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
        // strict until set_precision says otherwise (no environment check here: a caller asking for
        // fast must not fail on NVIDIA_TF32_OVERRIDE)
        EVSAM_CUBLAS_CHECK(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH));
    }
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    cudaStream_t stream() const { return stream_; }
    cublasHandle_t blas() const { return blas_; }
    CachingArena<RawDeviceAlloc>& arena() { return arena_; }
    Precision precision() const { return precision_; }
    void set_precision(Precision p) {
        // strict is fp32 GEMMs with TF32 off (CUBLAS_DEFAULT_MATH + CUBLAS_COMPUTE_32F, as PyTorch with
        // allow_tf32=False); NVIDIA_TF32_OVERRIDE=1 would turn TF32 on behind cuBLAS's back.
        if (p == Precision::strict) {
            const char* o = std::getenv("NVIDIA_TF32_OVERRIDE");
            if (o && std::string(o) != "0")
                throw Error("--precision strict: NVIDIA_TF32_OVERRIDE=" + std::string(o) + " forces TF32; unset it");
        }
        precision_ = p;
        EVSAM_CUBLAS_CHECK(
            cublasSetMathMode(blas_, p == Precision::strict ? CUBLAS_DEFAULT_MATH : CUBLAS_TF32_TENSOR_OP_MATH));
    }
    void synchronize() const { EVSAM_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

private:
    cudaStream_t stream_ = nullptr;
    cublasHandle_t blas_ = nullptr;
    CachingArena<RawDeviceAlloc> arena_;
    Precision precision_ = Precision::strict;
};

// The process-wide context, created on first use (so a CPU-only run never touches the driver).
// Never destroyed: CUDA objects must not be freed after the driver has shut down at exit.
inline Context& context() {
    static Context* c = new Context();
    return *c;
}

// The "skipped: no CUDA device" message CUDA tests print when they cannot run.
inline constexpr const char* kNoDeviceSkip = "skipped: no CUDA device";

}  // namespace evsam::cuda
