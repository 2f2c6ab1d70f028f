// ops/activation.hpp: the SIMD activations against the scalar formulas (every kind, lengths around
// the vector width and the parallel chunk, float and double); threshold and add against their
// element formulas.
#include <gtest/gtest.h>

#include <evsam/ops/activation.hpp>

#include <string>

#include "op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_activation {

namespace {

template <class T>
void check_activations() {
    using evsam::Act;
    for (Act a : {Act::relu, Act::relu6, Act::hswish, Act::silu, Act::gelu_tanh, Act::gelu_erf})
        for (int64_t n : {1, 7, 16, 17, 33, 16384 + 5, 40000}) {
            evsam::Tensor<T> ref = evsam_test::random_tensor<T>({n}, 5, -8, 8);
            ref[0] = n > 1 ? T(0) : T(1.5);  // compare() refuses an all-zero reference
            evsam::Tensor<T> fast = ref;
            evsam::activation_forward_naive(ref.data(), n, a);
            evsam::activation_forward(fast.data(), n, a, evsam::backend::cpu{});
            EXPECT_TRUE(evsam_test::close(fast, ref, "activation " + std::to_string(static_cast<int>(a))))
                << " n=" << n;
        }
}
TEST(Activation, FastMatchesNaiveFloat) { check_activations<float>(); }
TEST(Activation, FastMatchesNaiveDouble) { check_activations<double>(); }

// masks = masks > mask_threshold, on lengths around the vector width and the chunk.
TEST(Activation, ThresholdIsTheComparison) {
    for (int64_t n : {1, 15, 16384 + 3}) {
        evsam::Tensor<float> x = evsam_test::random_tensor<float>({n}, 3, -2, 2), ref({n});
        x[0] = 0.0f;  // exactly at the threshold: not inside
        for (int64_t i = 0; i < n; ++i) ref[i] = x[i] > 0.0f ? 1.0f : 0.0f;
        evsam::threshold_forward(x.data(), n, 0.0f, evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::bitwise_equal(x, ref)) << n;
    }
}

TEST(Activation, AddIsElementwise) {
    const auto a = evsam_test::random_tensor<float>({1000}, 1), b = evsam_test::random_tensor<float>({1000}, 2);
    evsam::Tensor<float> out({1000}), ref({1000});
    for (int64_t i = 0; i < 1000; ++i) ref[i] = a[i] + b[i];
    evsam::add_forward(out.data(), a.data(), b.data(), 1000, evsam::backend::cpu{});
    EXPECT_TRUE(evsam_test::bitwise_equal(out, ref));
}

}  // namespace

}  // namespace test_activation
