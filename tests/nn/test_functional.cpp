// nn/functional.hpp: the tensor functions behind the decoder's upstream-shaped statements
// (torch.cat with an expanded batch of 1, narrow, select, stack, repeat_interleave, expand,
// flatten/permute, a + b broadcast over the batch), against element formulas.
#include <gtest/gtest.h>

#include <evsam/nn/functional.hpp>

#include "../ops/op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_functional {

namespace {

using cpu = evsam::backend::cpu;
using evsam::Tensor;
using evsam_test::random_tensor;

TEST(Functional, CatAlongDim1ExpandsABatchOfOne) {
    const auto tok = random_tensor<float>({1, 5, 4}, 1), sparse = random_tensor<float>({3, 2, 4}, 2);
    const Tensor<float> r = evsam::fn::cat<cpu>({&tok, &sparse}, 1);  // output_tokens expanded, then the prompts'
    ASSERT_EQ(r.shape(), (evsam::Shape{3, 7, 4}));
    for (int64_t b = 0; b < 3; ++b)
        for (int64_t n = 0; n < 7; ++n)
            for (int64_t e = 0; e < 4; ++e)
                EXPECT_EQ(r[(b * 7 + n) * 4 + e], n < 5 ? tok[n * 4 + e] : sparse[(b * 2 + n - 5) * 4 + e]);
}

TEST(Functional, CatAlongDim0AndAnInnerDim) {
    const auto a = random_tensor<float>({1, 4}, 3), b = random_tensor<float>({3, 4}, 4);
    const Tensor<float> r0 = evsam::fn::cat<cpu>({&a, &b}, 0);  // torch.cat([iou_token.weight, mask_tokens.weight])
    ASSERT_EQ(r0.shape(), (evsam::Shape{4, 4}));
    for (int64_t i = 0; i < 16; ++i) EXPECT_EQ(r0[i], i < 4 ? a[i] : b[i - 4]);
    const auto x = random_tensor<float>({2, 3, 2}, 5), y = random_tensor<float>({2, 3, 1}, 6);
    const Tensor<float> r2 = evsam::fn::cat<cpu>({&x, &y}, 2);
    ASSERT_EQ(r2.shape(), (evsam::Shape{2, 3, 3}));
    for (int64_t i = 0; i < 6; ++i)
        for (int64_t k = 0; k < 3; ++k) EXPECT_EQ(r2[i * 3 + k], k < 2 ? x[i * 2 + k] : y[i]);
    const auto bad = random_tensor<float>({2, 4, 2}, 7);
    EXPECT_THROW(evsam::fn::cat<cpu>({&x, &bad}, 2), evsam::Error);
}

TEST(Functional, NarrowSelectStack) {
    const auto hs = random_tensor<float>({2, 7, 3}, 8);
    const Tensor<float> mask_tokens_out = evsam::fn::narrow<cpu>(hs, 1, 1, 4);  // hs[:, 1:5, :]
    const Tensor<float> iou_token_out = evsam::fn::select<cpu>(hs, 1, 0);       // hs[:, 0, :]
    ASSERT_EQ(mask_tokens_out.shape(), (evsam::Shape{2, 4, 3}));
    ASSERT_EQ(iou_token_out.shape(), (evsam::Shape{2, 3}));
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t e = 0; e < 3; ++e) {
            EXPECT_EQ(iou_token_out[b * 3 + e], hs[(b * 7) * 3 + e]);
            for (int64_t i = 0; i < 4; ++i)
                EXPECT_EQ(mask_tokens_out[(b * 4 + i) * 3 + e], hs[(b * 7 + 1 + i) * 3 + e]);
        }
    std::vector<Tensor<float>> parts;
    for (int64_t i = 0; i < 4; ++i) parts.push_back(evsam::fn::select<cpu>(mask_tokens_out, 1, i));
    EXPECT_TRUE(evsam_test::bitwise_equal(evsam::fn::stack1<cpu>(parts), mask_tokens_out));  // stack undoes select
    EXPECT_THROW(evsam::fn::narrow<cpu>(hs, 1, 5, 3), evsam::Error);
}

TEST(Functional, AddBroadcastsOverTheBatch) {
    const auto keys = random_tensor<float>({3, 5, 2}, 9), pe = random_tensor<float>({1, 5, 2}, 10);
    const Tensor<float> k = evsam::fn::add<cpu>(keys, pe), k2 = evsam::fn::add<cpu>(pe, keys);
    Tensor<float> inplace = keys;
    evsam::fn::add_<cpu>(inplace, pe);
    for (int64_t b = 0; b < 3; ++b)
        for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(k[b * 10 + i], keys[b * 10 + i] + pe[i]);
    EXPECT_TRUE(evsam_test::bitwise_equal(k2, k));
    EXPECT_TRUE(evsam_test::bitwise_equal(inplace, k));
    const auto bad = random_tensor<float>({2, 5, 2}, 11);
    EXPECT_THROW(evsam::fn::add<cpu>(keys, bad), evsam::Error);
}

TEST(Functional, RepeatExpandAndTransposes) {
    const auto img = random_tensor<float>({1, 3, 2, 2}, 12);
    const Tensor<float> rep = evsam::fn::repeat_batch<cpu>(img, 3);  // torch.repeat_interleave(x, 3, dim=0)
    ASSERT_EQ(rep.shape(), (evsam::Shape{3, 3, 2, 2}));
    for (int64_t i = 0; i < rep.numel(); ++i) EXPECT_EQ(rep[i], img[i % 12]);
    const auto v = random_tensor<float>({3}, 13);
    const Tensor<float> ex = evsam::fn::expand_channels<cpu>(v, 2, 2, 2);  // v.reshape(1, -1, 1, 1).expand(2, -1, 2, 2)
    for (int64_t i = 0; i < ex.numel(); ++i) EXPECT_EQ(ex[i], v[(i / 4) % 3]);
    const Tensor<float> tok = evsam::fn::flatten_permute<cpu>(rep);  // (3, 4, 3)
    ASSERT_EQ(tok.shape(), (evsam::Shape{3, 4, 3}));
    for (int64_t b = 0; b < 3; ++b)
        for (int64_t p = 0; p < 4; ++p)
            for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(tok[(b * 4 + p) * 3 + c], rep[(b * 3 + c) * 4 + p]);
    EXPECT_TRUE(evsam_test::bitwise_equal(evsam::fn::transpose_view<cpu>(tok, 2, 2), rep));
}

}  // namespace

}  // namespace test_functional
