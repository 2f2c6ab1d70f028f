// Shared by the op tests (tests/ops/test_<op>.cpp): seeded random tensors and bitwise equality.
#pragma once
#include <gtest/gtest.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/core/tensor.hpp>

#include <cstring>
#include <random>
#include <string>
#include <type_traits>

namespace evsam_test {

// Uniform in [lo, hi), from a fixed seed.
template <class T>
evsam::Tensor<T> random_tensor(evsam::Shape s, uint32_t seed, double lo = -1, double hi = 1) {
    evsam::Tensor<T> t(std::move(s), evsam::Tensor<T>::uninitialized);
    std::mt19937 g(seed);
    std::uniform_real_distribution<double> d(lo, hi);
    for (auto& v : t) v = static_cast<T>(d(g));
    return t;
}

// A fast op against its naive reference: the table's entry for T (summation orders differ).
template <class T>
evsam::Tolerance op_tol() {
    return std::is_same_v<T, float> ? evsam::kTolOpFloat : evsam::kTolOpDouble;
}

template <class T, class R = T>
::testing::AssertionResult close(const evsam::Tensor<T>& got, const evsam::Tensor<R>& ref, const std::string& what) {
    const auto r = evsam::compare(got, ref, op_tol<T>(), what);
    if (r.ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << r.message;
}

// The same bits: for fast paths that keep the reference's arithmetic and order.
template <class T>
::testing::AssertionResult bitwise_equal(const evsam::Tensor<T>& got, const evsam::Tensor<T>& ref) {
    if (got.shape() != ref.shape())
        return ::testing::AssertionFailure()
               << "shape " << evsam::shape_str(got.shape()) << " vs " << evsam::shape_str(ref.shape());
    for (int64_t i = 0; i < ref.numel(); ++i)
        if (std::memcmp(&got[i], &ref[i], sizeof(T)) != 0)
            return ::testing::AssertionFailure()
                   << "first difference at flat index " << i << ": " << got[i] << " vs " << ref[i];
    return ::testing::AssertionSuccess();
}

}  // namespace evsam_test
