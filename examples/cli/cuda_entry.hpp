// evsam tool: what the tool asks of the CUDA backend, behind plain host types, so that the command
// files stay ordinary C++ and only cuda_backend.cu goes through nvcc. A build without
// EVSAM_WITH_CUDA links no_cuda.cpp instead, whose functions throw "built without CUDA".
#pragma once
#include <string>

#include "evsam/core/checkpoint.hpp"
#include "evsam/core/tensor.hpp"
#include "evsam/nn/module.hpp"
#include "evsam/registry.hpp"

namespace evsam::tool {

struct CudaOptions {
    std::string precision = "strict";  // strict | fast (evsam::cuda::Precision)
    int batch = 1;                     // images per encoder call
};

// Whether this evsam was built with the CUDA backend; no_cuda() throws the one-line error saying
// it was not.
bool cuda_built();
[[noreturn]] void no_cuda();

// The encoder of `cfg` with the checkpoint's weights on the GPU: x (N, 3, R, R) preprocessed
// images -> (N, 256, 64, 64) embeddings; module outputs into tr when given (downloaded as they come).
Tensor<float> cuda_encode(const Checkpoint& ckpt, const AnySamConfig& cfg, const Tensor<float>& x, const CudaOptions& o,
                          Trace<float>* tr);
Tensor<double> cuda_encode(const Checkpoint& ckpt, const AnySamConfig& cfg, const Tensor<double>& x,
                           const CudaOptions& o, Trace<double>* tr);

struct CudaBenchResult {
    std::string device;
    double encoder_s = 0;  // median seconds per batch of o.batch images (synchronised)
    double images_per_s = 0;
    double peak_device_mb = 0;  // the activation arena's peak plus the weights
};
CudaBenchResult cuda_bench_encoder(const Checkpoint& ckpt, const AnySamConfig& cfg, const Tensor<float>& one_image,
                                   const CudaOptions& o, int repeat);

}  // namespace evsam::tool
