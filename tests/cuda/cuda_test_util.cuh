// Shared by the CUDA tests: the skip when there is no device, random inputs, and running a CUDA
// op on host data (upload, call, download).
#pragma once
#include <gtest/gtest.h>

#include <evsam/evsam_cuda.cuh>
#include <evsam/backend/tolerance.hpp>

#include "../ops/op_test_util.hpp"
#include <random>
#include <vector>

// Every CUDA test starts with this: without a GPU it passes as skipped, saying why.
#define EVSAM_REQUIRE_CUDA_DEVICE()                                                       \
    do {                                                                                  \
        if (!evsam::cuda::device_available()) GTEST_SKIP() << evsam::cuda::kNoDeviceSkip; \
    } while (0)

namespace evsam_cuda_test {

using evsam_test::random_tensor;  // tests/ops/op_test_util.hpp

template <class T>
using Dev = evsam::cuda::DeviceTensor<T>;

template <class T>
Dev<T> up(const evsam::Tensor<T>& t) {
    return Dev<T>::from_host(t);
}

}  // namespace evsam_cuda_test
