// ops/layout.hpp: the tiled transposes against their naive index formulas (the same elements
// moved: bit for bit), and the strided copies and broadcast adds behind torch.cat / narrow /
// select / expand / a + b against the element formulas.
#include <gtest/gtest.h>

#include <evsam/ops/activation.hpp>
#include <evsam/ops/layout.hpp>

#include <array>
#include <vector>

#include "op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_layout {

namespace {

using evsam_test::random_tensor;

TEST(Layout, TransposesEqualNaive) {
    for (auto [B, C, P] : std::vector<std::array<int64_t, 3>>{{1, 256, 4096}, {3, 65, 130}, {2, 1, 1}, {1, 7, 63}}) {
        const auto x = random_tensor<float>({B, C, P}, 71);
        evsam::Tensor<float> ref({B, P, C}), fast({B, P, C});
        evsam::nchw_to_npc_forward_naive(ref.data(), x.data(), B, C, P);
        evsam::nchw_to_npc_forward(fast.data(), x.data(), B, C, P, evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::bitwise_equal(fast, ref)) << "nchw_to_npc " << B << "x" << C << "x" << P;
        evsam::Tensor<float> back({B, C, P}), back_ref({B, C, P});
        evsam::npc_to_nchw_forward_naive(back_ref.data(), ref.data(), B, C, P);
        evsam::npc_to_nchw_forward(back.data(), ref.data(), B, C, P, evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::bitwise_equal(back, back_ref));
        EXPECT_TRUE(evsam_test::bitwise_equal(back, x));  // the round trip is the identity
    }
}

// SamNeck's merge made channels-last: list_sum of 1 to 3 maps, summed from the back, then moved;
// float and double, ragged tiles included. The naive one is also the sums in place (dag_merge_add's
// add_forward), then the transpose.
TEST(Layout, SumToChannelsLastEqualsNaive) {
    for (auto [B, C, P] : std::vector<std::array<int64_t, 3>>{{1, 256, 4096}, {3, 65, 130}, {2, 1, 1}, {1, 7, 63}})
        for (int64_t n = 1; n <= 3; ++n) {
            std::vector<evsam::Tensor<float>> xs;
            std::vector<const float*> ptrs;
            for (int64_t k = 0; k < n; ++k) xs.push_back(random_tensor<float>({B, C, P}, 80 + static_cast<int>(k)));
            for (const auto& x : xs) ptrs.push_back(x.data());
            evsam::Tensor<float> ref({B, P, C}), fast({B, P, C});
            evsam::nchw_sum_to_npc_forward_naive(ref.data(), ptrs.data(), n, B, C, P);
            evsam::nchw_sum_to_npc_forward(fast.data(), ptrs.data(), n, B, C, P, evsam::backend::cpu{});
            EXPECT_TRUE(evsam_test::bitwise_equal(fast, ref)) << n << " maps of " << B << "x" << C << "x" << P;
            evsam::Tensor<float> acc = xs.back(), moved({B, P, C});  // x[k] + list_sum(x[k+1:]), in place
            for (int64_t k = n - 1; k-- > 0;)
                evsam::add_forward(acc.data(), xs[static_cast<size_t>(k)].data(), acc.data(), acc.numel(),
                                   evsam::backend::cpu{});
            evsam::nchw_to_npc_forward(moved.data(), acc.data(), B, C, P, evsam::backend::cpu{});
            EXPECT_TRUE(evsam_test::bitwise_equal(moved, ref)) << n << " maps of " << B << "x" << C << "x" << P;
        }
    const auto a = random_tensor<double>({2, 33, 70}, 90), b = random_tensor<double>({2, 33, 70}, 91);
    const double* ab[] = {a.data(), b.data()};
    evsam::Tensor<double> ref({2, 70, 33}), fast({2, 70, 33});
    evsam::nchw_sum_to_npc_forward_naive(ref.data(), ab, 2, 2, 33, 70);
    evsam::nchw_sum_to_npc_forward(fast.data(), ab, 2, 2, 33, 70, evsam::backend::cpu{});
    EXPECT_TRUE(evsam_test::bitwise_equal(fast, ref));
}

TEST(Layout, CopyChannelsIsCatOnDim1) {
    const auto a = random_tensor<float>({2, 3, 5}, 72), b = random_tensor<float>({2, 4, 5}, 73);
    evsam::Tensor<float> out({2, 7, 5});
    evsam::copy_channels_forward(out.data(), a.data(), 2, 3, 5, 7, 0, evsam::backend::cpu{});
    evsam::copy_channels_forward(out.data(), b.data(), 2, 4, 5, 7, 3, evsam::backend::cpu{});
    for (int64_t n = 0; n < 2; ++n)
        for (int64_t c = 0; c < 7; ++c)
            for (int64_t p = 0; p < 5; ++p)
                EXPECT_EQ(out[(n * 7 + c) * 5 + p], c < 3 ? a[(n * 3 + c) * 5 + p] : b[(n * 4 + c - 3) * 5 + p]);
}

TEST(Layout, BatchCopyWithStridesAndExpand) {
    const auto in = random_tensor<float>({3, 10}, 74);
    evsam::Tensor<float> out({3, 12}, -1.0f), rep({4, 6}, -1.0f);
    evsam::batch_copy_forward(out.data() + 2, in.data() + 1, 3, 6, 12, 10,
                              evsam::backend::cpu{});  // out[:, 2:8] = in[:, 1:7]
    evsam::batch_copy_forward(rep.data(), in.data() + 10, 4, 6, 6, 0, evsam::backend::cpu{});  // in[1, :6] expanded x4
    for (int64_t b = 0; b < 3; ++b)
        for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(out[b * 12 + i], i >= 2 && i < 8 ? in[b * 10 + i - 1] : -1.0f);
    for (int64_t b = 0; b < 4; ++b)
        for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(rep[b * 6 + i], in[10 + i]);
}

TEST(Layout, BatchAddBroadcastsABatchOfOne) {
    const auto a = random_tensor<float>({4, 9}, 75), b1 = random_tensor<float>({1, 9}, 76),
               b = random_tensor<float>({4, 9}, 77);
    evsam::Tensor<float> out({4, 9}), inplace = a;
    evsam::batch_add_forward(out.data(), a.data(), b1.data(), 4, 9, 9, 9, 0, evsam::backend::cpu{});
    evsam::batch_add_forward(inplace.data(), inplace.data(), b.data(), 4, 9, 9, 9, 9, evsam::backend::cpu{});
    for (int64_t k = 0; k < 4; ++k)
        for (int64_t i = 0; i < 9; ++i) {
            EXPECT_EQ(out[k * 9 + i], a[k * 9 + i] + b1[i]);
            EXPECT_EQ(inplace[k * 9 + i], a[k * 9 + i] + b[k * 9 + i]);
        }
    evsam::Tensor<float> rows({2, 2, 9}, 0.0f);  // a strided output: row 1 of each batch entry
    evsam::batch_add_forward(rows.data() + 9, rows.data() + 9, b1.data(), 2, 9, 18, 18, 0, evsam::backend::cpu{});
    for (int64_t k = 0; k < 2; ++k)
        for (int64_t i = 0; i < 9; ++i) {
            EXPECT_EQ(rows[(k * 2 + 1) * 9 + i], b1[i]);
            EXPECT_EQ(rows[k * 18 + i], 0.0f);
        }
}

TEST(Layout, BroadcastChannelsIsExpand) {
    const auto v = random_tensor<float>({3}, 78);
    evsam::Tensor<float> out({2, 3, 5});
    evsam::broadcast_channels_forward(out.data(), v.data(), 2, 3, 5, evsam::backend::cpu{});
    for (int64_t n = 0; n < 2; ++n)
        for (int64_t c = 0; c < 3; ++c)
            for (int64_t p = 0; p < 5; ++p) EXPECT_EQ(out[(n * 3 + c) * 5 + p], v[c]);
}

}  // namespace

}  // namespace test_layout
