// ops/rel_pos_attention.hpp: SAM ViT's attention with decomposed relative positions, the GEMM path
// against the scalar loops (windows of 14x14, a global 20x20 grid with several query blocks,
// ragged grids, no relative positions); get_rel_pos against upstream's, on tables that need its
// linear interpolation (tests/data/tiny/tiny_vit/rel_pos, from segment_anything in float64);
// ops/window.hpp's partition/unpartition round trip with the zero padding.
#include <gtest/gtest.h>
#include <omp.h>

#include <evsam/core/npy.hpp>
#include <evsam/ops/rel_pos_attention.hpp>
#include <evsam/ops/window.hpp>

#include <array>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_rel_pos_attention {

namespace {

using evsam_test::random_tensor;

template <class T>
void check_attention(int64_t B, int64_t H, int64_t W, int64_t C, int64_t NH, bool rel) {
    const int64_t d = C / NH;
    auto qkv = random_tensor<T>({B, H * W, 3 * C}, 31, -2, 2);
    auto Rh = random_tensor<T>({H, H, d}, 32), Rw = random_tensor<T>({W, W, d}, 33);
    evsam::Tensor<T> ref({B, H * W, C}), fast({B, H * W, C});
    const T* rh = rel ? Rh.data() : nullptr;
    const T* rw = rel ? Rw.data() : nullptr;
    evsam::rel_pos_attention_forward_naive(ref.data(), qkv.data(), rh, rw, B, H, W, C, NH);
    evsam::rel_pos_attention_forward(fast.data(), qkv.data(), rh, rw, B, H, W, C, NH, evsam::backend::cpu{});
    EXPECT_TRUE(evsam_test::close(fast, ref, "rel_pos_attention"))
        << B << " x " << H << "x" << W << " C " << C << " heads " << NH << (rel ? " rel" : " no rel");
}

const std::array<int64_t, 6> kCases[] = {
    // B, H, W, C, heads, rel
    {3, 14, 14, 32, 4, 1},  // windows (vit's window 14)
    {1, 20, 20, 16, 2, 1},  // global: 400 queries, two query blocks, a block edge inside a grid row
    {2, 5, 7, 12, 3, 1},    // ragged grid, H != W
    {1, 17, 3, 8, 1, 1},    // W < grid rows per block
    {2, 6, 6, 8, 2, 0},     // use_rel_pos=False
    {1, 1, 1, 4, 1, 1},
};

TEST(RelPosAttention, FastMatchesNaiveFloat) {
    for (auto c : kCases) check_attention<float>(c[0], c[1], c[2], c[3], c[4], c[5]);
}
TEST(RelPosAttention, FastMatchesNaiveDouble) {
    for (auto c : kCases) check_attention<double>(c[0], c[1], c[2], c[3], c[4], c[5]);
}

TEST(RelPosAttention, ThreadCountDoesNotChangeResults) {
    auto qkv = random_tensor<float>({2, 400, 48}, 41);
    auto Rh = random_tensor<float>({20, 20, 8}, 42), Rw = random_tensor<float>({20, 20, 8}, 43);
    evsam::Tensor<float> a({2, 400, 16}), b({2, 400, 16});
    omp_set_num_threads(1);
    evsam::rel_pos_attention_forward(a.data(), qkv.data(), Rh.data(), Rw.data(), 2, 20, 20, 16, 2,
                                     evsam::backend::cpu{});
    omp_set_num_threads(2);
    evsam::rel_pos_attention_forward(b.data(), qkv.data(), Rh.data(), Rw.data(), 2, 20, 20, 16, 2,
                                     evsam::backend::cpu{});
    EXPECT_TRUE(evsam_test::bitwise_equal(a, b));
}

// get_rel_pos against segment_anything's, run in float64 on seeded tables.
TEST(GetRelPos, MatchesUpstreamIncludingInterpolation) {
    const std::string dir = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_vit/";
    std::ifstream f(dir + "rel_pos/cases.json");
    ASSERT_TRUE(f) << "missing fixture " << dir << "rel_pos/cases.json";
    const auto cases = nlohmann::json::parse(f);
    int interpolated = 0;
    for (const auto& c : cases) {
        const int64_t q = c["q_size"], k = c["k_size"], L = c["length"];
        auto table = evsam::npy_load_as<double>(dir + c["table"].get<std::string>());
        auto ref = evsam::npy_load_as<double>(dir + c["out"].get<std::string>());
        const int64_t d = table.size(1);
        evsam::Tensor<double> out({q, k, d});
        evsam::get_rel_pos_forward(out.data(), table.data(), L, d, q, k);
        EXPECT_TRUE(evsam_test::close(out, ref, "get_rel_pos")) << "q " << q << " k " << k << " L " << L;
        interpolated += L != 2 * std::max(q, k) - 1;
    }
    EXPECT_GE(interpolated, 3);
}

// Partition then unpartition gives the input back; the padded rows of each window are zero.
TEST(WindowPartition, RoundTripAndZeroPadding) {
    const int64_t B = 2, H = 9, W = 11, C = 3, S = 4;  // padded to 12 x 12: 3 x 3 windows
    auto x = random_tensor<float>({B, H, W, C}, 51);
    evsam::Tensor<float> win({B * 9, S, S, C}), back({B, H, W, C});
    evsam::window_partition_forward(win.data(), x.data(), B, H, W, C, S, evsam::backend::cpu{});
    evsam::window_unpartition_forward(back.data(), win.data(), B, H, W, C, S, evsam::backend::cpu{});
    EXPECT_TRUE(evsam_test::bitwise_equal(back, x));
    // window (b=1, wy=2, wx=1), row 1 (y = 9: padding), and window (1, 0, 2), column 3 (x = 11: padding)
    for (int64_t c = 0; c < C; ++c) {
        EXPECT_EQ(win.at(9 + 7, 1, 2, c), 0.0f);
        EXPECT_EQ(win.at(9 + 2, 0, 3, c), 0.0f);
        EXPECT_EQ(win.at(9 + 2, 0, 2, c), x.at(1, 0, 10, c));  // y = 0, x = 2*4 + 2 = 10
    }
}

}  // namespace

}  // namespace test_rel_pos_attention
