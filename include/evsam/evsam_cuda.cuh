// evsam: the CUDA backend. Include this (from a .cu file compiled by nvcc), before or after
// evsam.hpp; it includes evsam.hpp itself:
//
//   #include <evsam/evsam_cuda.cuh>
//   evsam::EfficientViTSam<float, evsam::backend::cuda> model(evsam::sam_config("l0"));
//   evsam::load_state_dict(model, ckpt);                        // weights go to the device once
//   evsam::cuda::context().set_precision(evsam::cuda::Precision::strict);
//   auto x = evsam::cuda::DeviceTensor<float>::from_host(preprocessed);   // (N, 3, R, R)
//   evsam::Tensor<float> emb = model.image_encoder.forward(x).to_host();
//
// The CUDA ops overload the CPU ones on the backend::cuda tag and live in its namespace,
// evsam::cuda, where argument-dependent lookup finds them from the model templates whatever the
// include order (evsam/backend/backend.hpp). A model op with no CUDA overload is a compile error
// at the call (never a CPU fallback). The prompt encoder and mask decoder have no CUDA ops yet:
// Predictor<T, backend::cuda> does not compile.
#pragma once
#ifndef __CUDACC__
#error "evsam/evsam_cuda.cuh contains CUDA kernels: compile this file with nvcc (a .cu source)"
#endif

#include "evsam/backend/cuda/runtime.cuh"
#include "evsam/backend/cuda/device_tensor.cuh"
#include "evsam/ops/cuda/activation.cuh"
#include "evsam/ops/cuda/conv2d.cuh"
#include "evsam/ops/cuda/layout.cuh"
#include "evsam/ops/cuda/lite_mla_attention.cuh"
#include "evsam/ops/cuda/norm.cuh"
#include "evsam/ops/cuda/resize.cuh"

#include "evsam/evsam.hpp"
