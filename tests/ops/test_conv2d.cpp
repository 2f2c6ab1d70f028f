// ops/conv2d.hpp: the fast convolutions (im2col GEMM, in-place 1x1, SIMD depthwise, Winograd
// F(2x2,3x3), grouped) against conv2d_forward_naive, with fused epilogues, on edge shapes; results
// that do not depend on the thread count; ConvTranspose2d (NCHW and token layout) against its reference.
#include <gtest/gtest.h>

#include <cstring>
#include <omp.h>

#include <evsam/ops/conv2d.hpp>
#include <evsam/ops/layout.hpp>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_conv2d {

namespace {

using evsam_test::random_tensor;

// A float tensor's values in double (the naive references run in double); bf16: rounded to bf16 first.
evsam::Tensor<double> as_double(const evsam::Tensor<float>& t, bool bf16 = false) {
    using evsam::gemm_kernel::from_bf16;
    using evsam::gemm_kernel::to_bf16;
    evsam::Tensor<double> r(t.shape());
    for (int64_t k = 0; k < t.numel(); ++k) r[k] = bf16 ? from_bf16(to_bf16(t[k])) : t[k];
    return r;
}

struct ConvCase {
    int64_t N, C, H, W, OC, K, stride, pad, dilation, G;
    evsam::Act act = evsam::Act::none;
};

template <class T>
void check_conv(const ConvCase& c) {
    auto x = random_tensor<T>({c.N, c.C, c.H, c.W}, 1234), w = random_tensor<T>({c.OC, c.C / c.G, c.K, c.K}, 1235),
         b = random_tensor<T>({c.OC}, 1236);
    const int64_t OH = evsam::conv_out_size(c.H, c.K, c.stride, c.pad, c.dilation);
    const int64_t OW = evsam::conv_out_size(c.W, c.K, c.stride, c.pad, c.dilation);
    evsam::Tensor<T> ref({c.N, c.OC, OH, OW}), fast({c.N, c.OC, OH, OW});
    evsam::conv2d_forward_naive(ref.data(), x.data(), w.data(), b.data(), c.N, c.C, c.H, c.W, c.OC, c.K, c.stride,
                                c.pad, c.dilation, c.G);
    evsam::activation_forward_naive(ref.data(), ref.numel(), c.act);
    evsam::conv2d_forward(fast.data(), x.data(), w.data(), b.data(), c.N, c.C, c.H, c.W, c.OC, c.K, c.stride, c.pad,
                          c.dilation, c.G, c.act, evsam::backend::cpu{});
    EXPECT_TRUE(evsam_test::close(fast, ref, "conv2d"));
}

const ConvCase kCases[] = {
    {1, 3, 17, 23, 8, 3, 2, 1, 1, 1},     // stem: 3x3 s2, odd sizes
    {2, 16, 9, 7, 24, 1, 1, 0, 1, 1},     // pointwise (GEMM without im2col), batch 2
    {1, 8, 1, 1, 4, 3, 1, 1, 1, 1},       // 1x1 map with a 3x3 kernel: only the centre tap
    {1, 12, 33, 31, 12, 3, 1, 1, 1, 12},  // depthwise 3x3
    {1, 12, 16, 15, 12, 3, 2, 1, 1, 12},  // depthwise 3x3 stride 2
    {1, 24, 11, 13, 24, 5, 1, 2, 1, 24},  // depthwise 5x5 (LiteMLA aggreg)
    {1, 24, 11, 13, 24, 1, 1, 0, 1, 6},   // grouped 1x1 (LiteMLA aggreg, groups = 3*heads)
    {1, 8, 20, 20, 16, 3, 1, 2, 2, 1},    // dilation 2
    {1, 4, 40, 37, 64, 3, 1, 1, 1, 1},    // > 256 output pixels: several column blocks
    {1, 6, 5, 5, 6, 3, 1, 1, 1, 2},       // grouped 3x3
    // fused epilogues and the SIMD depthwise paths (rows shorter / longer than a vector, ragged tails)
    {1, 5, 3, 2, 5, 3, 1, 1, 1, 5, evsam::Act::relu6},        // depthwise, OW < one vector
    {2, 7, 19, 37, 7, 5, 2, 2, 1, 7, evsam::Act::hswish},     // depthwise 5x5 stride 2, odd width
    {1, 4, 18, 18, 4, 3, 2, 1, 1, 4, evsam::Act::gelu_tanh},  // depthwise 3x3 stride 2, even size
    {1, 4, 13, 17, 4, 3, 1, 2, 2, 4, evsam::Act::silu},       // depthwise dilated: the generic path
    {1, 6, 9, 40, 6, 3, 2, 0, 1, 6},                          // depthwise stride 2, no padding, wide rows
    {1, 3, 20, 45, 3, 7, 2, 3, 1, 3},                         // depthwise 7x7 stride 2, odd padding 3
    {1, 5, 7, 7, 5, 3, 1, 1, 1, 5, evsam::Act::gelu_tanh},    // depthwise on a 7x7 map (the L classifiers')
    {1, 3, 10, 21, 3, 7, 1, 3, 1, 3, evsam::Act::hswish},     // depthwise 7x7 stride 1: the register kernel
    {1, 4, 14, 14, 4, 3, 2, 1, 1, 4},                         // depthwise stride 2 to 7x7
    {1, 3, 21, 19, 8, 3, 3, 1, 1, 1, evsam::Act::gelu_tanh},  // stride 3 im2col, fused GELU
    {1, 16, 7, 45, 24, 1, 1, 0, 1, 1, evsam::Act::gelu_erf},  // pointwise, fused exact GELU
    {1, 8, 9, 9, 8, 1, 2, 0, 1, 1, evsam::Act::relu},         // 1x1 stride 2: im2col, not in place
    {1, 4, 40, 70, 8, 3, 2, 1, 1, 1, evsam::Act::gelu_tanh},  // stride-2 im2col rows of 35: whole vectors
    {1, 8, 9, 80, 8, 1, 2, 0, 1, 1},                          // 1x1 stride 2 on wide rows
    // Winograd F(2x2,3x3): odd and even sizes (partial tiles), tile rows split across blocks
    // of 128 tiles, several blocks, batch 2, sizes below one vector of tiles
    {1, 8, 9, 9, 8, 3, 1, 1, 1, 1},
    {2, 16, 40, 37, 24, 3, 1, 1, 1, 1, evsam::Act::gelu_tanh},
    {1, 32, 64, 64, 16, 3, 1, 1, 1, 1, evsam::Act::relu},
    {1, 9, 3, 2, 11, 3, 1, 1, 1, 1},
    {1, 8, 1, 1, 8, 3, 1, 1, 1, 1},
    {1, 8, 64, 64, 300, 3, 1, 1, 1, 1, evsam::Act::gelu_tanh},  // M over 2 MiB: output channels in groups
};

// The direct conv's kinds to run: AMX's C++ emulation and, where the CPU runs it (and fast may use it),
// the tiles.
std::vector<evsam::gemm_kernel::Kind> tile_kinds() {
    std::vector<evsam::gemm_kernel::Kind> kinds = {evsam::gemm_kernel::Kind::bf16_amx_portable};
    if (evsam::cpu_uses_amx()) kinds.push_back(evsam::gemm_kernel::Kind::bf16_amx);
    return kinds;
}

TEST(Conv2d, FastMatchesNaiveFloat) {
    for (auto& c : kCases) check_conv<float>(c);
}
TEST(Conv2d, FastMatchesNaiveDouble) {
    for (auto& c : kCases) check_conv<double>(c);
}

// The layer's kept packs (ConvWeights: Conv2d's cache) give the bits of packing per call, in both
// precisions, on every case (Winograd, 1x1 in place, im2col, grouped; row tiles of small maps);
// a changed weight tensor, or a reset, is packed anew.
TEST(Conv2d, KeptPacksGiveTheBitsOfPerCallPacks) {
    std::vector<evsam::Precision> precisions = {evsam::Precision::strict};
    if (evsam::cpu_has_avx512_bf16()) precisions.push_back(evsam::Precision::fast);
    std::vector<ConvCase> cases(std::begin(kCases), std::end(kCases));
    cases.push_back({1, 64, 8, 8, 100, 1, 1, 0, 1, 1});  // one column block: output channels cut in row tiles
    for (auto prec : precisions) {
        evsam::CpuPrecisionScope scope(prec);
        for (const auto& c : cases) {
            auto x = random_tensor<float>({c.N, c.C, c.H, c.W}, 21),
                 w = random_tensor<float>({c.OC, c.C / c.G, c.K, c.K}, 22);
            const int64_t OH = evsam::conv_out_size(c.H, c.K, c.stride, c.pad, c.dilation);
            const int64_t OW = evsam::conv_out_size(c.W, c.K, c.stride, c.pad, c.dilation);
            evsam::Tensor<float> per_call({c.N, c.OC, OH, OW}), kept({c.N, c.OC, OH, OW});
            evsam::detail::ConvWeights<float> cache;
            auto run = [&](evsam::Tensor<float>& y, const evsam::detail::ConvWeights<float>* k) {
                evsam::conv2d_forward<float>(y.data(), x.data(), w.data(), nullptr, c.N, c.C, c.H, c.W, c.OC, c.K,
                                             c.stride, c.pad, c.dilation, c.G, c.act, k, evsam::backend::cpu{});
            };
            run(per_call, nullptr);
            run(kept, &cache);
            EXPECT_TRUE(evsam_test::bitwise_equal(kept, per_call)) << c.C << "->" << c.OC << " k" << c.K;
            run(kept, &cache);  // from the cache
            EXPECT_TRUE(evsam_test::bitwise_equal(kept, per_call));
            for (auto& v : w) v *= 0.5f;  // new values in the same storage: a reset (as a load does) repacks
            cache.reset();
            run(per_call, nullptr);
            run(kept, &cache);
            EXPECT_TRUE(evsam_test::bitwise_equal(kept, per_call)) << "after a reset";
        }
    }
}

// conv2d_pair_forward (FusedMBConv's expanding conv and 1x1 projection in one pass over blocks of
// pixels) gives the bits of the two convs run in turn, in both precisions, with and without kept
// packs, and with a residual sum folded in, on the GEMM and the Winograd paths, and matches the naive convs;
// conv2d_pair_applies refuses what it does not take.
struct PairCase {
    int64_t N, C, H, W, E, K, stride, pad, OC;
    evsam::Act act1, act2;
    bool bias2;
};
TEST(Conv2dPair, OnePassGivesTheBitsOfTwoConvs) {
    std::vector<evsam::Precision> precisions = {evsam::Precision::strict};
    if (evsam::cpu_has_avx512_bf16()) precisions.push_back(evsam::Precision::fast);
    const PairCase cases[] = {
        {1, 3, 96, 90, 40, 3, 2, 1, 20, evsam::Act::gelu_tanh, evsam::Act::none, false},  // 45x48: ragged panels
        {2, 8, 70, 64, 36, 3, 2, 1, 13, evsam::Act::relu6, evsam::Act::hswish, true},     // batch 2, odd channels
        {1, 5, 81, 97, 24, 5, 2, 2, 30, evsam::Act::silu, evsam::Act::gelu_tanh, true},   // 5x5, odd sizes
        // Winograd (3x3 stride 1): the projection in each tile block; partial tiles at odd sizes,
        // tile rows split across blocks, several blocks, batch 2, a map smaller than one vector
        {1, 16, 37, 45, 40, 3, 1, 1, 24, evsam::Act::gelu_tanh, evsam::Act::none, false},
        {2, 8, 20, 33, 24, 3, 1, 1, 13, evsam::Act::relu, evsam::Act::hswish, true},
        {1, 12, 64, 70, 32, 3, 1, 1, 20, evsam::Act::gelu_tanh, evsam::Act::none, true},
        {1, 9, 3, 5, 11, 3, 1, 1, 7, evsam::Act::none, evsam::Act::relu6, true},
        {1, 8, 64, 64, 300, 3, 1, 1, 20, evsam::Act::gelu_tanh, evsam::Act::none, true},  // channel groups
    };
    for (auto prec : precisions) {
        evsam::CpuPrecisionScope scope(prec);
        for (const auto& c : cases) {
            ASSERT_TRUE(evsam::conv2d_pair_applies<float>(c.N, c.C, c.H, c.W, c.E, c.K, c.stride, c.pad, 1, 1));
            auto x = random_tensor<float>({c.N, c.C, c.H, c.W}, 31), b1 = random_tensor<float>({c.E}, 33),
                 b2 = random_tensor<float>({c.OC}, 35);
            // weights of a trained net's scale (about 1 / sqrt(fan-in)), so activations stay O(1)
            const double s1 = 1 / std::sqrt(double(c.C * c.K * c.K)), s2 = 1 / std::sqrt(double(c.E));
            auto w1 = random_tensor<float>({c.E, c.C, c.K, c.K}, 32, -s1, s1),
                 w2 = random_tensor<float>({c.OC, c.E, 1, 1}, 34, -s2, s2);
            const float* b2p = c.bias2 ? b2.data() : nullptr;
            const int64_t OH = evsam::conv_out_size(c.H, c.K, c.stride, c.pad, 1);
            const int64_t OW = evsam::conv_out_size(c.W, c.K, c.stride, c.pad, 1);
            evsam::Tensor<float> mid({c.N, c.E, OH, OW}), two({c.N, c.OC, OH, OW}), one({c.N, c.OC, OH, OW});
            evsam::conv2d_forward<float>(mid.data(), x.data(), w1.data(), b1.data(), c.N, c.C, c.H, c.W, c.E, c.K,
                                         c.stride, c.pad, 1, 1, c.act1, evsam::backend::cpu{});
            evsam::conv2d_forward<float>(two.data(), mid.data(), w2.data(), b2p, c.N, c.E, OH, OW, c.OC, 1, 1, 0, 1, 1,
                                         c.act2, evsam::backend::cpu{});
            evsam::conv2d_pair_forward<float>(one.data(), x.data(), w1.data(), b1.data(), c.act1, w2.data(), b2p,
                                              c.act2, c.N, c.C, c.H, c.W, c.E, c.K, c.stride, c.pad, 1, c.OC, nullptr,
                                              nullptr, evsam::backend::cpu{});
            EXPECT_TRUE(evsam_test::bitwise_equal(one, two)) << c.C << "->" << c.E << "->" << c.OC;
            evsam::detail::ConvWeights<float> k1, k2;  // kept packs: the same again, twice
            {  // k2 made first by the 1x1's own forward (a traced run): the pair completes it, and after
               // that the 1x1 alone still finds its GEMM pack
                evsam::Tensor<float> alone(two.shape());
                evsam::conv2d_forward<float>(alone.data(), mid.data(), w2.data(), b2p, c.N, c.E, OH, OW, c.OC, 1, 1, 0,
                                             1, 1, c.act2, &k2, evsam::backend::cpu{});
                EXPECT_TRUE(evsam_test::bitwise_equal(alone, two)) << "1x1 with its kept pack";
            }
            for (int i = 0; i < 2; ++i) {
                std::fill(one.begin(), one.end(), 0.0f);
                evsam::conv2d_pair_forward<float>(one.data(), x.data(), w1.data(), b1.data(), c.act1, w2.data(), b2p,
                                                  c.act2, c.N, c.C, c.H, c.W, c.E, c.K, c.stride, c.pad, 1, c.OC, &k1,
                                                  &k2, evsam::backend::cpu{});
                EXPECT_TRUE(evsam_test::bitwise_equal(one, two)) << "kept packs, run " << i;
                evsam::Tensor<float> alone(two.shape());
                evsam::conv2d_forward<float>(alone.data(), mid.data(), w2.data(), b2p, c.N, c.E, OH, OW, c.OC, 1, 1, 0,
                                             1, 1, c.act2, &k2, evsam::backend::cpu{});
                EXPECT_TRUE(evsam_test::bitwise_equal(alone, two)) << "1x1 after the pair, run " << i;
            }
            {  // a residual sum folded into the write: the bits of the pair, then add_forward
                auto plus = random_tensor<float>(two.shape(), 36);
                evsam::Tensor<float> sum(two.shape()), withp(two.shape());
                evsam::add_forward(sum.data(), two.data(), plus.data(), sum.numel(), evsam::backend::cpu{});
                evsam::conv2d_pair_forward<float>(withp.data(), x.data(), w1.data(), b1.data(), c.act1, w2.data(), b2p,
                                                  c.act2, c.N, c.C, c.H, c.W, c.E, c.K, c.stride, c.pad, 1, c.OC, &k1,
                                                  &k2, evsam::backend::cpu{}, plus.data());
                EXPECT_TRUE(evsam_test::bitwise_equal(withp, sum)) << "plus a residual";
            }
            if (prec != evsam::Precision::strict) continue;
            const evsam::Tensor<double> xd = as_double(x), w1d = as_double(w1), b1d = as_double(b1),
                                        w2d = as_double(w2), b2d = as_double(b2);
            evsam::Tensor<double> midr({c.N, c.E, OH, OW}), ref({c.N, c.OC, OH, OW});
            evsam::conv2d_forward_naive(midr.data(), xd.data(), w1d.data(), b1d.data(), c.N, c.C, c.H, c.W, c.E, c.K,
                                        c.stride, c.pad, int64_t(1), int64_t(1));
            evsam::activation_forward_naive(midr.data(), midr.numel(), c.act1);
            evsam::conv2d_forward_naive(ref.data(), midr.data(), w2d.data(), c.bias2 ? b2d.data() : nullptr, c.N, c.E,
                                        OH, OW, c.OC, int64_t(1), int64_t(1), int64_t(0), int64_t(1), int64_t(1));
            evsam::activation_forward_naive(ref.data(), ref.numel(), c.act2);
            EXPECT_TRUE(evsam_test::close(one, ref, "conv2d_pair"));
        }
    }
    // a 1x1 in place, a grouped conv, a small image on the GEMM path and double are not taken
    EXPECT_TRUE(evsam::conv2d_pair_applies<float>(1, 16, 20, 20, 32, 3, 1, 1, 1, 1));  // Winograd: any size
    EXPECT_FALSE(evsam::conv2d_pair_applies<float>(1, 16, 96, 96, 32, 1, 1, 0, 1, 1));
    EXPECT_FALSE(evsam::conv2d_pair_applies<float>(1, 16, 96, 96, 32, 3, 2, 1, 1, 2));
    EXPECT_FALSE(evsam::conv2d_pair_applies<float>(1, 16, 20, 20, 32, 3, 2, 1, 1, 1));
    EXPECT_FALSE(evsam::conv2d_pair_applies<double>(1, 3, 96, 90, 40, 3, 2, 1, 1, 1));
}

// conv2d_expand_depthwise_forward (MBConv's 1x1 expand and depthwise conv in one pass over blocks of
// mid channels) gives the bits of the two convs run in turn, in both precisions, with and without
// kept packs, on 1 and 2 threads, and matches the naive convs. So does conv2d_mbconv_forward (all
// three of MBConv's convs, the depthwise outputs packed straight for the 1x1) give those of the three
// in turn, and with a tensor added in its write (ResidualBlock's x) those of add_forward after them.
struct ExpandDwCase {
    int64_t N, C, H, W, E, K, stride, pad;
    evsam::Act act1, actd;
    bool bias;
    int64_t OC;  // the 1x1 projection's (conv2d_mbconv_forward)
    evsam::Act act2;
};
TEST(Conv2dExpandDepthwise, OnePassGivesTheBitsOfTwoConvs) {
    std::vector<evsam::Precision> precisions = {evsam::Precision::strict};
    if (evsam::cpu_has_avx512_bf16()) precisions.push_back(evsam::Precision::fast);
    const ExpandDwCase cases[] = {
        // odd sizes, stride 2
        {1, 16, 33, 29, 40, 3, 2, 1, evsam::Act::gelu_tanh, evsam::Act::none, true, 24, evsam::Act::none},
        // batch 2, ragged panels
        {2, 8, 20, 24, 100, 3, 1, 1, evsam::Act::relu6, evsam::Act::hswish, false, 8, evsam::Act::relu},
        // ten blocks, a mid of over 256 channels (two depth blocks of the 1x1)
        {1, 24, 64, 64, 300, 5, 1, 2, evsam::Act::gelu_tanh, evsam::Act::gelu_tanh, true, 70, evsam::Act::none},
        // several blocks, stride 2
        {1, 12, 64, 64, 200, 3, 2, 1, evsam::Act::none, evsam::Act::relu, true, 40, evsam::Act::gelu_tanh},
        // a 7x7 map
        {1, 12, 7, 7, 64, 3, 2, 1, evsam::Act::silu, evsam::Act::none, true, 16, evsam::Act::none},
    };
    const int threads = omp_get_max_threads();
    for (auto prec : precisions) {
        evsam::CpuPrecisionScope scope(prec);
        for (const auto& c : cases) {
            ASSERT_TRUE(evsam::conv2d_expand_depthwise_applies<float>(c.stride, 1));
            const double s1 = 1 / std::sqrt(double(c.C)), sd = 1 / double(c.K);
            auto x = random_tensor<float>({c.N, c.C, c.H, c.W}, 41),
                 w1 = random_tensor<float>({c.E, c.C, 1, 1}, 42, -s1, s1), b1 = random_tensor<float>({c.E}, 43),
                 wd = random_tensor<float>({c.E, 1, c.K, c.K}, 44, -sd, sd), bd = random_tensor<float>({c.E}, 45);
            const float* bdp = c.bias ? bd.data() : nullptr;
            const int64_t OH = evsam::conv_out_size(c.H, c.K, c.stride, c.pad, 1);
            const int64_t OW = evsam::conv_out_size(c.W, c.K, c.stride, c.pad, 1);
            evsam::Tensor<float> mid({c.N, c.E, c.H, c.W}), two({c.N, c.E, OH, OW}), one({c.N, c.E, OH, OW});
            evsam::conv2d_forward<float>(mid.data(), x.data(), w1.data(), b1.data(), c.N, c.C, c.H, c.W, c.E, 1, 1, 0,
                                         1, 1, c.act1, evsam::backend::cpu{});
            evsam::conv2d_forward<float>(two.data(), mid.data(), wd.data(), bdp, c.N, c.E, c.H, c.W, c.E, c.K, c.stride,
                                         c.pad, 1, c.E, c.actd, evsam::backend::cpu{});
            const double s2 = 1 / std::sqrt(double(c.E));
            auto w2 = random_tensor<float>({c.OC, c.E, 1, 1}, 46, -s2, s2), b2 = random_tensor<float>({c.OC}, 47),
                 plus = random_tensor<float>({c.N, c.OC, OH, OW}, 48);
            evsam::Tensor<float> three({c.N, c.OC, OH, OW}), three_plus({c.N, c.OC, OH, OW}),
                fused({c.N, c.OC, OH, OW});
            evsam::conv2d_forward<float>(three.data(), two.data(), w2.data(), b2.data(), c.N, c.E, OH, OW, c.OC, 1, 1,
                                         0, 1, 1, c.act2, evsam::backend::cpu{});
            evsam::add_forward(three_plus.data(), three.data(), plus.data(), three.numel(), evsam::backend::cpu{});
            evsam::detail::ConvWeights<float> k1, k2;
            for (int t : {1, 2}) {
                omp_set_num_threads(t);
                for (const evsam::detail::ConvWeights<float>* k : {static_cast<decltype(&k1)>(nullptr), &k1, &k1}) {
                    std::fill(one.begin(), one.end(), 0.0f);
                    evsam::conv2d_expand_depthwise_forward<float>(one.data(), x.data(), w1.data(), b1.data(), c.act1,
                                                                  wd.data(), bdp, c.actd, c.N, c.C, c.H, c.W, c.E, c.K,
                                                                  c.stride, c.pad, k, evsam::backend::cpu{});
                    EXPECT_TRUE(evsam_test::bitwise_equal(one, two))
                        << c.C << "->" << c.E << " k" << c.K << " s" << c.stride << ", " << t << " threads"
                        << (k ? ", kept packs" : "");
                    for (const float* pl :
                         {static_cast<const float*>(nullptr), static_cast<const float*>(plus.data())}) {
                        std::fill(fused.begin(), fused.end(), 0.0f);
                        evsam::conv2d_mbconv_forward<float>(fused.data(), x.data(), w1.data(), b1.data(), c.act1,
                                                            wd.data(), bdp, c.actd, w2.data(), b2.data(), c.act2, c.N,
                                                            c.C, c.H, c.W, c.E, c.K, c.stride, c.pad, c.OC, k,
                                                            k ? &k2 : nullptr, evsam::backend::cpu{}, pl);
                        EXPECT_TRUE(evsam_test::bitwise_equal(fused, pl ? three_plus : three))
                            << "mbconv " << c.C << "->" << c.E << "->" << c.OC << " k" << c.K << " s" << c.stride
                            << ", " << t << " threads" << (k ? ", kept packs" : "") << (pl ? ", plus" : "");
                    }
                }
            }
            omp_set_num_threads(threads);
            if (prec != evsam::Precision::strict) continue;
            const evsam::Tensor<double> xd = as_double(x), w1d = as_double(w1), b1d = as_double(b1),
                                        wdd = as_double(wd), bdd = as_double(bd);
            evsam::Tensor<double> midr({c.N, c.E, c.H, c.W}), ref({c.N, c.E, OH, OW});
            evsam::conv2d_forward_naive(midr.data(), xd.data(), w1d.data(), b1d.data(), c.N, c.C, c.H, c.W, c.E,
                                        int64_t(1), int64_t(1), int64_t(0), int64_t(1), int64_t(1));
            evsam::activation_forward_naive(midr.data(), midr.numel(), c.act1);
            evsam::conv2d_forward_naive(ref.data(), midr.data(), wdd.data(), c.bias ? bdd.data() : nullptr, c.N, c.E,
                                        c.H, c.W, c.E, c.K, c.stride, c.pad, int64_t(1), c.E);
            evsam::activation_forward_naive(ref.data(), ref.numel(), c.actd);
            EXPECT_TRUE(evsam_test::close(one, ref, "conv2d_expand_depthwise"));
        }
    }
    EXPECT_FALSE(evsam::conv2d_expand_depthwise_applies<float>(3, 1));
    EXPECT_FALSE(evsam::conv2d_expand_depthwise_applies<float>(1, 2));
    EXPECT_FALSE(evsam::conv2d_expand_depthwise_applies<double>(1, 1));
}

// The dense 3x3 conv (stride 1 or 2) on AMX tiles (fast where the GEMMs run on AMX, ops/conv2d_amx.hpp):
// against the naive conv, in double, of the bf16-rounded input and weights (the products are exact
// in fp32, so only the fp32 sums differ), for AMX's C++ emulation and, where the CPU runs it, the
// tiles themselves; odd channel counts (a half-empty pair), ragged channel and pixel blocks, batch 2,
// a 1x1 map, odd sizes at stride 2; the same bits on 1 and 2 threads and with the layer's kept packs.
TEST(Conv2dDirectAmx, MatchesTheNaiveConvOfTheRoundedOperands) {
    using evsam::gemm_kernel::Kind;
    const std::vector<Kind> kinds = tile_kinds();
    const ConvCase cases[] = {
        {2, 21, 5, 37, 40, 3, 1, 1, 1, 1, evsam::Act::gelu_tanh},
        {1, 64, 6, 32, 32, 3, 1, 1, 1, 1},
        {1, 8, 1, 1, 8, 3, 1, 1, 1, 1, evsam::Act::relu},
        {1, 40, 3, 70, 70, 3, 1, 1, 1, 1, evsam::Act::silu},
        {1, 16, 9, 70, 40, 3, 2, 1, 1, 1, evsam::Act::gelu_tanh},  // stride 2: 5 x 35
        {2, 21, 8, 65, 33, 3, 2, 1, 1, 1},                         // 4 x 33, odd channels, batch 2
        {1, 8, 2, 2, 8, 3, 2, 1, 1, 1, evsam::Act::relu},          // 1 x 1
        {1, 32, 6, 128, 64, 3, 2, 1, 1, 1},                        // 3 x 64: whole blocks
    };
    for (const auto& c : cases) {
        auto x = random_tensor<float>({c.N, c.C, c.H, c.W}, 41), b = random_tensor<float>({c.OC}, 43);
        const double s = 1 / std::sqrt(double(c.C * 9));
        auto w = random_tensor<float>({c.OC, c.C, 3, 3}, 42, -s, s);
        const evsam::Tensor<double> xd = as_double(x, true), wd = as_double(w, true), bd = as_double(b);
        const int64_t OH = evsam::conv_out_size(c.H, 3, c.stride, 1, 1),
                      OW = evsam::conv_out_size(c.W, 3, c.stride, 1, 1);
        evsam::Tensor<double> ref({c.N, c.OC, OH, OW});
        evsam::conv2d_forward_naive(ref.data(), xd.data(), wd.data(), bd.data(), c.N, c.C, c.H, c.W, c.OC, int64_t(3),
                                    c.stride, int64_t(1), int64_t(1), int64_t(1));
        evsam::activation_forward_naive(ref.data(), ref.numel(), c.act);
        for (Kind kind : kinds) {
            const std::string what = std::string(kind == Kind::bf16_amx ? "AMX" : "emulated AMX") + " " +
                                     std::to_string(c.C) + "->" + std::to_string(c.OC);
            evsam::Tensor<float> two(ref.shape()), one(ref.shape());
            evsam::detail::conv2d_direct_amx(two.data(), x.data(), w.data(), b.data(), c.N, c.C, c.H, c.W, c.OC,
                                             c.stride, c.act, nullptr, kind);
            EXPECT_TRUE(evsam_test::close(two, ref, what));
            const int threads = omp_get_max_threads();
            omp_set_num_threads(1);
            evsam::detail::conv2d_direct_amx(one.data(), x.data(), w.data(), b.data(), c.N, c.C, c.H, c.W, c.OC,
                                             c.stride, c.act, nullptr, kind);
            omp_set_num_threads(threads);
            EXPECT_TRUE(evsam_test::bitwise_equal(one, two)) << what << ", 1 thread";
        }
        if (!evsam::cpu_uses_amx()) continue;
        // conv2d_forward takes it under fast (with fast's GELU), with the layer's kept packs too
        evsam::CpuPrecisionScope scope(evsam::Precision::fast);
        ASSERT_TRUE(evsam::detail::direct_amx_applies<float>(c.C, c.OC, 3, c.stride, 1, 1, 1));
        evsam::Tensor<float> direct(ref.shape()), viaop(ref.shape());  // direct: with fast's GELU
        evsam::detail::conv2d_direct_amx(direct.data(), x.data(), w.data(), b.data(), c.N, c.C, c.H, c.W, c.OC,
                                         c.stride, evsam::act_in_force<float>(c.act), nullptr, Kind::bf16_amx);
        evsam::detail::ConvWeights<float> kept;
        for (int i = 0; i < 2; ++i) {
            evsam::conv2d_forward(viaop.data(), x.data(), w.data(), b.data(), c.N, c.C, c.H, c.W, c.OC, int64_t(3),
                                  c.stride, int64_t(1), int64_t(1), int64_t(1), c.act, &kept, evsam::backend::cpu{});
            EXPECT_TRUE(evsam_test::bitwise_equal(viaop, direct)) << "conv2d_forward, run " << i;
        }
    }
    // not for strict, grouped or strided convs, nor double
    evsam::CpuPrecisionScope scope(evsam::Precision::strict);
    EXPECT_FALSE(evsam::detail::direct_amx_applies<float>(64, 64, 3, 1, 1, 1, 1));
    EXPECT_FALSE(evsam::detail::direct_amx_applies<double>(64, 64, 3, 1, 1, 1, 1));
}

// The direct conv's channels-last input pack and its tile transpose, on AVX-512, give the bits of
// their C++ references (the emulated kind's): odd and ragged channel groups, widths off 16, both
// strides, every padded row (borders, the columns past the image, a zero-padded channel group); and
// tiles run pipelined in halves (direct_amx_tiles) give the bits of one tile at a time.
TEST(Conv2dDirectAmx, FastPackAndTransposeAreTheReferences) {
    using evsam::gemm_kernel::Kind;
    const evsam::detail::DirectAmxKernel fast = evsam::detail::direct_amx_kernel(Kind::bf16_amx);
    if (!fast.native || !evsam::cpu_has_amx_bf16())
        GTEST_SKIP() << "skipped: no AMX kernel in this build or on this CPU";
    const evsam::detail::DirectAmxKernel ref = evsam::detail::direct_amx_kernel(Kind::bf16_amx_portable);
    struct Shape {
        int64_t C, H, W, S;
    };
    for (const Shape& c :
         {Shape{21, 5, 37, 1}, Shape{64, 3, 32, 1}, Shape{40, 4, 70, 2}, Shape{8, 1, 1, 2}, Shape{33, 6, 17, 1}}) {
        const evsam::detail::DirectAmxGeom d(c.C, c.H, c.W, 8, c.S);
        const auto x = random_tensor<float>({c.C, c.H, c.W}, 47);
        std::vector<uint16_t, evsam::AlignedAllocator<uint16_t>> a(d.image(), 7), b(d.image(), 9);
        fast.pack(a.data(), x.data(), d, 0, d.Hp);
        ref.pack(b.data(), x.data(), d, 0, d.Hp);
        EXPECT_TRUE(a == b) << c.C << " channels, " << c.H << "x" << c.W << ", stride " << c.S;
    }
    {  // tiles in start / finish halves, two in flight (direct_amx_tiles): the bits of one tile at a time
        const evsam::detail::DirectAmxGeom d(40, 3, 45, 64, 1);
        const auto x = random_tensor<float>({40, 3, 45}, 44), w = random_tensor<float>({64, 40, 3, 3}, 45);
        std::vector<uint16_t, evsam::AlignedAllocator<uint16_t>> X(d.image()), Wp(d.weights());
        ref.pack(X.data(), x.data(), d, 0, d.Hp);
        evsam::detail::direct_amx_pack_weights(Wp.data(), w.data(), d);
        const evsam::detail::DirectAmxSteps st = d.steps();
        const int64_t n = d.OH * d.XB * d.OB;
        auto operands = [&](int64_t i) {
            return evsam::detail::DirectAmxOperands{Wp.data() + i % d.OB * st.nk * 1024,
                                                    X.data() + d.block(i / d.OB / d.XB, i / d.OB % d.XB)};
        };
        for (const auto* kn : {&ref, &fast}) {
            const evsam::detail::DirectAmxTiles tiles(*kn);
            std::vector<float, evsam::AlignedAllocator<float>> piped(n * 1024), alone(n * 1024), bufs(2048);
            evsam::detail::direct_amx_tiles(*kn, st, n, bufs.data(), operands, [&](int64_t i, const float* C) {
                std::copy(C, C + 1024, piped.data() + i * 1024);
            });
            for (int64_t i = 0; i < n; ++i) {
                kn->start(operands(i).A, operands(i).b0, st, nullptr);
                kn->finish(alone.data() + i * 1024);
            }
            EXPECT_TRUE(piped == alone) << (kn == &fast ? "AMX" : "emulated AMX");
            if (kn == &ref) {  // and the emulation's halves are its micro-kernel
                float one[1024];
                evsam::detail::direct_amx_micro_portable(operands(7).A, operands(7).b0, st, one);
                EXPECT_EQ(std::memcmp(one, alone.data() + 7 * 1024, sizeof one), 0);
            }
        }
    }
    const auto t = random_tensor<float>({1024}, 48);
    alignas(64) float u[1024], v[1024];
    fast.transpose(t.data(), u);
    ref.transpose(t.data(), v);
    EXPECT_EQ(std::memcmp(u, v, sizeof u), 0);
    EXPECT_EQ(v[1 * 32 + 2], t[2 * 32 + 1]);
    // FusedMBConv's mid tile (bias, activation, bf16), 32 channels or a ragged 13 from channel 5,
    // with a bias (some zero) or none: the same bits, zero past the channels, and the element formula
    auto bias = random_tensor<float>({64}, 49);
    bias[6] = bias[9] = 0.0f;
    for (evsam::Act act : {evsam::Act::gelu_tanh_approx, evsam::Act::none, evsam::Act::relu6})
        for (int64_t ne : {32, 13})
            for (const float* b : {static_cast<const float*>(bias.data()), static_cast<const float*>(nullptr)}) {
                alignas(64) uint16_t ma[1024], mb[1024];
                fast.mid(t.data(), b, act, 5, ne, ma);
                ref.mid(t.data(), b, act, 5, ne, mb);
                EXPECT_EQ(std::memcmp(ma, mb, sizeof ma), 0) << static_cast<int>(act) << " ne " << ne;
                if (ne < 32) {
                    EXPECT_EQ(mb[3 * 32 + ne], uint16_t(0));
                }
                const float x = t[7 * 32 + 2] + (b ? b[5 + 2] : 0.0f);
                EXPECT_EQ(mb[7 * 32 + 2],
                          evsam::gemm_kernel::to_bf16(evsam::act_apply(act, evsam::simd::vec<float>(x)).get(0)));
            }
}

// FusedMBConv's pair on the tiles with the 3x3's E channels in chunks (detail::conv2d_pair_direct_amx's
// chunk_bytes: its weights over that, as XL's 256 -> 1024, go chunk by chunk, the 1x1's sums stored
// and loaded back between them) gives the bits of the pair in one chunk: chunks of one block of 32
// channels and of three (the last shorter), a ragged last block, stride 2, batch 2, a residual sum,
// 1 and 2 threads (one band of rows per thread), for AMX's emulation and, where the CPU runs it, the tiles.
// FusedMBConv's pair on the tiles (detail::conv2d_pair_direct_amx): a case's shapes, its random
// operands from `seed` on (the 1x1's weights also packed as the tiles' right operands) and one block's
// packed 3x3 weights in bytes (a chunk of one block).
struct PairTilesCase {
    int64_t N, C, H, W, E, stride, OC;
};
struct PairTilesOperands {
    evsam::detail::DirectAmxGeom d;
    evsam::Tensor<float> x, w1, b1, w2, b2, plus;
    std::vector<uint16_t, evsam::AlignedAllocator<uint16_t>> W2p;
    int64_t block;
    PairTilesOperands(const PairTilesCase& c, uint32_t seed)
        : d(c.C, c.H, c.W, c.E, c.stride),
          x(random_tensor<float>({c.N, c.C, c.H, c.W}, seed)),
          w1(random_tensor<float>({c.E, c.C, 3, 3}, seed + 1, -1 / std::sqrt(double(c.C * 9)),
                                  1 / std::sqrt(double(c.C * 9)))),
          b1(random_tensor<float>({c.E}, seed + 2)),
          w2(random_tensor<float>({c.OC, c.E}, seed + 3, -1 / std::sqrt(double(c.E)), 1 / std::sqrt(double(c.E)))),
          b2(random_tensor<float>({c.OC}, seed + 4)),
          plus(random_tensor<float>({c.N, c.OC, d.OH, d.OW}, seed + 5)),
          W2p(static_cast<size_t>(d.OB * ((c.OC + 31) / 32) * 1024)),
          block(d.steps().nk * 2048) {
        evsam::detail::direct_amx_pack_weights(W2p.data(), w2.data(), c.E, c.OC, 1);
    }
};

TEST(Conv2dPair, ChunksOfTheExpansionGiveTheBitsOfOne) {
    using evsam::gemm_kernel::Kind;
    for (const PairTilesCase& c : {PairTilesCase{1, 40, 9, 37, 200, 1, 24}, PairTilesCase{2, 16, 11, 70, 130, 2, 40}}) {
        const PairTilesOperands o(c, 61);
        const evsam::detail::DirectAmxGeom& d = o.d;
        const auto &x = o.x, &w1 = o.w1, &plus = o.plus;
        const auto& W2p = o.W2p;
        const evsam::detail::BiasAct ba1{o.b1.data(), evsam::Act::gelu_tanh_approx}, ba2{o.b2.data(), evsam::Act::none};
        const int64_t block = o.block;
        for (Kind kind : tile_kinds()) {
            evsam::Tensor<float> one({c.N, c.OC, d.OH, d.OW}), chunked(one.shape());
            const evsam::detail::BiasActPlus bo{ba2, one.data(), plus.data()}, bc{ba2, chunked.data(), plus.data()};
            evsam::detail::conv2d_pair_direct_amx(one.data(), x.data(), w1.data(), ba1, W2p.data(), bo.epilogue(), c.N,
                                                  c.C, c.H, c.W, c.E, c.stride, c.OC, nullptr, kind, int64_t{1} << 40);
            for (int64_t blocks : {1, 3})
                for (int threads : {2, 1}) {
                    const int before = omp_get_max_threads();
                    omp_set_num_threads(threads);
                    std::fill(chunked.begin(), chunked.end(), 0.0f);
                    evsam::detail::conv2d_pair_direct_amx(chunked.data(), x.data(), w1.data(), ba1, W2p.data(),
                                                          bc.epilogue(), c.N, c.C, c.H, c.W, c.E, c.stride, c.OC,
                                                          nullptr, kind, blocks * block);
                    omp_set_num_threads(before);
                    EXPECT_TRUE(evsam_test::bitwise_equal(chunked, one))
                        << c.C << "->" << c.E << "->" << c.OC << (kind == Kind::bf16_amx ? " AMX" : " emulated")
                        << ", chunks of " << blocks << " blocks, " << threads << " thread(s)";
                }
        }
    }
}

// The channels-last pack (OpSequential's runs of FusedMBConvs) gives the bits of the NCHW pack of the
// same image: odd and ragged channel groups, widths off 16, both strides; the emulated kind's C++
// and, where the CPU runs it, AVX-512's.
TEST(Conv2dDirectAmx, ChannelsLastPackIsThePackOfTheSameImage) {
    using evsam::gemm_kernel::Kind;
    std::vector<Kind> kinds = {Kind::bf16_amx_portable};
    if (evsam::cpu_has_amx_bf16()) kinds.push_back(Kind::bf16_amx);
    struct Shape {
        int64_t C, H, W, S;
    };
    for (const Shape& c :
         {Shape{21, 5, 37, 1}, Shape{64, 3, 32, 1}, Shape{40, 4, 70, 2}, Shape{8, 1, 1, 2}, Shape{33, 6, 17, 1}}) {
        const evsam::detail::DirectAmxGeom d(c.C, c.H, c.W, 8, c.S);
        const auto x = random_tensor<float>({c.C, c.H, c.W}, 57);
        evsam::Tensor<float> xt({c.H, c.W, c.C});
        evsam::nchw_to_npc_forward_naive(xt.data(), x.data(), 1, c.C, c.H * c.W);
        const evsam::detail::DirectAmxKernel ref = evsam::detail::direct_amx_kernel(Kind::bf16_amx_portable);
        std::vector<uint16_t, evsam::AlignedAllocator<uint16_t>> a(d.image(), 7);
        ref.pack(a.data(), x.data(), d, 0, d.Hp);
        for (Kind kind : kinds) {
            std::vector<uint16_t, evsam::AlignedAllocator<uint16_t>> b(d.image(), 9);
            evsam::detail::direct_amx_kernel(kind).pack_channels_last(b.data(), xt.data(), d, 0, d.Hp);
            EXPECT_TRUE(a == b) << c.C << " channels, " << c.H << "x" << c.W << ", stride " << c.S
                                << (kind == Kind::bf16_amx ? ", AVX-512" : ", C++");
        }
    }
}

// BiasActColumns (a channels-last write: the bias per column) gives the bits of BiasAct and
// BiasActPlus on the transposed product: every activation, zero biases and -0 values (which a zero
// bias without activation leaves as they are), no bias, 32 channels and a ragged 37 (a tail of 5).
TEST(Conv2dEpilogue, ColumnsAreTheTransposedRowsWrite) {
    for (int64_t n : {32, 37})
        for (evsam::Act act : {evsam::Act::none, evsam::Act::gelu_tanh_approx, evsam::Act::gelu_tanh, evsam::Act::relu6,
                               evsam::Act::silu})
            for (bool with_bias : {true, false})
                for (bool with_plus : {false, true}) {
                    const int64_t m = 11;  // pixels
                    auto src = random_tensor<float>({m, n}, 58), bias = random_tensor<float>({n}, 59),
                         plus = random_tensor<float>({m, n}, 60);
                    bias[3] = bias[n - 1] = 0.0f;
                    src[0 * n + 3] = src[4 * n + n - 1] = -0.0f, plus[0 * n + 3] = -0.0f;
                    evsam::Tensor<float> srct({n, m}), plust({n, m}), rows({n, m}), cols({m, n}), back({n, m});
                    evsam::nchw_to_npc_forward_naive(srct.data(), src.data(), 1, m, n);
                    evsam::nchw_to_npc_forward_naive(plust.data(), plus.data(), 1, m, n);
                    const float* b = with_bias ? bias.data() : nullptr;
                    const evsam::detail::BiasAct ba{b, act};
                    const evsam::detail::BiasActPlus bp{ba, rows.data(), plust.data()};
                    const evsam::detail::BiasActColumns bc{b, act, cols.data(), with_plus ? plus.data() : nullptr};
                    (with_plus ? bp.epilogue() : ba.epilogue()).write(srct.data(), m, rows.data(), m, 0, n, m);
                    bc.epilogue().write(src.data(), n, cols.data(), n, 0, m, n);
                    evsam::nchw_to_npc_forward_naive(back.data(), cols.data(), 1, m, n);
                    EXPECT_TRUE(evsam_test::bitwise_equal(back, rows))
                        << n << " channels, act " << static_cast<int>(act) << (with_bias ? ", bias" : ", no bias")
                        << (with_plus ? ", plus" : "");
                }
}

// conv2d_pair_channels_last_forward's path (detail::conv2d_pair_direct_amx with channels_last: the
// channels-last pack, the tiles written untransposed through BiasActColumns) gives the bits of the
// NCHW pair, transposed: odd and ragged channels, stride 2, batch 2, with and without a residual, the
// 3x3's E in one chunk and in chunks of one block, 1 and 2 threads, AMX's emulation and, where the
// CPU runs it, the tiles and the public op under fast.
TEST(Conv2dPair, ChannelsLastGivesTheBitsOfTheNchwPair) {
    using evsam::gemm_kernel::Kind;
    for (const PairTilesCase& c : {PairTilesCase{1, 40, 9, 37, 60, 1, 40}, PairTilesCase{2, 16, 11, 70, 130, 2, 24},
                                   PairTilesCase{1, 32, 6, 64, 32, 1, 32}}) {
        PairTilesOperands o(c, 67);
        o.b2[5] = 0.0f;
        const evsam::detail::DirectAmxGeom& d = o.d;
        const int64_t P = d.OH * d.OW;
        const auto &x = o.x, &w1 = o.w1, &w2 = o.w2, &b1 = o.b1, &b2 = o.b2, &plus = o.plus;
        const auto& W2p = o.W2p;
        evsam::Tensor<float> xt({c.N, c.H, c.W, c.C}), plust({c.N, d.OH, d.OW, c.OC});
        evsam::nchw_to_npc_forward_naive(xt.data(), x.data(), c.N, c.C, c.H * c.W);
        evsam::nchw_to_npc_forward_naive(plust.data(), plus.data(), c.N, c.OC, P);
        const evsam::detail::BiasAct ba1{b1.data(), evsam::Act::gelu_tanh_approx}, ba2{b2.data(), evsam::Act::none};
        const int64_t block = o.block;
        for (Kind kind : tile_kinds())
            for (bool with_plus : {true, false}) {
                evsam::Tensor<float> ref({c.N, c.OC, d.OH, d.OW}), cl({c.N, d.OH, d.OW, c.OC}), back(ref.shape());
                const evsam::detail::BiasActPlus bp{ba2, ref.data(), plus.data()};
                evsam::detail::conv2d_pair_direct_amx(ref.data(), x.data(), w1.data(), ba1, W2p.data(),
                                                      with_plus ? bp.epilogue() : ba2.epilogue(), c.N, c.C, c.H, c.W,
                                                      c.E, c.stride, c.OC, nullptr, kind);
                const evsam::detail::BiasActColumns bc{b2.data(), evsam::Act::none, cl.data(),
                                                       with_plus ? plust.data() : nullptr};
                for (int64_t chunk : {int64_t{1} << 40, block})
                    for (int threads : {2, 1}) {
                        const int before = omp_get_max_threads();
                        omp_set_num_threads(threads);
                        std::fill(cl.begin(), cl.end(), 0.0f);
                        evsam::detail::conv2d_pair_direct_amx(cl.data(), xt.data(), w1.data(), ba1, W2p.data(),
                                                              bc.epilogue(), c.N, c.C, c.H, c.W, c.E, c.stride, c.OC,
                                                              nullptr, kind, chunk, true);
                        omp_set_num_threads(before);
                        evsam::npc_to_nchw_forward_naive(back.data(), cl.data(), c.N, c.OC, P);
                        EXPECT_TRUE(evsam_test::bitwise_equal(back, ref))
                            << c.C << "->" << c.E << "->" << c.OC << (kind == Kind::bf16_amx ? " AMX" : " emulated")
                            << (with_plus ? ", plus" : "") << ", chunk " << chunk << ", " << threads << " thread(s)";
                    }
            }
        if (!evsam::cpu_uses_amx()) continue;
        evsam::CpuPrecisionScope scope(evsam::Precision::fast);  // the public ops, with fast's GELU
        ASSERT_TRUE(evsam::conv2d_pair_channels_last_applies<float>(c.C, c.E, 3, c.stride, 1, 1, 1));
        evsam::Tensor<float> ref({c.N, c.OC, d.OH, d.OW}), cl({c.N, d.OH, d.OW, c.OC}), back(ref.shape());
        evsam::conv2d_pair_forward<float>(ref.data(), x.data(), w1.data(), b1.data(), evsam::Act::gelu_tanh, w2.data(),
                                          b2.data(), evsam::Act::none, c.N, c.C, c.H, c.W, c.E, 3, c.stride, 1, 1, c.OC,
                                          nullptr, nullptr, evsam::backend::cpu{}, plus.data());
        evsam::conv2d_pair_channels_last_forward<float>(
            cl.data(), xt.data(), w1.data(), b1.data(), evsam::Act::gelu_tanh, w2.data(), b2.data(), evsam::Act::none,
            c.N, c.C, c.H, c.W, c.E, 3, c.stride, 1, 1, c.OC, nullptr, nullptr, evsam::backend::cpu{}, plust.data());
        evsam::npc_to_nchw_forward_naive(back.data(), cl.data(), c.N, c.OC, P);
        EXPECT_TRUE(evsam_test::bitwise_equal(back, ref)) << c.C << "->" << c.E << "->" << c.OC << ", the op";
    }
    evsam::CpuPrecisionScope scope(evsam::Precision::strict);  // the tiles' path only
    EXPECT_FALSE(evsam::conv2d_pair_channels_last_applies<float>(32, 32, 3, 1, 1, 1, 1));
    EXPECT_FALSE(evsam::conv2d_pair_channels_last_applies<double>(32, 32, 3, 1, 1, 1, 1));
}

// conv2d_chain_forward (ResBlock's two 3x3 convs, conv1's output straight into conv2's bf16 input
// pack) gives the bits of the two direct convs in turn, with and without a residual sum folded into
// the write: for AMX's C++ emulation (detail::conv2d_chain_direct_amx) and, where the CPU runs it,
// the tiles and the public op under fast; odd and ragged channel groups, pixel blocks off 32 (the
// copy of a ragged block's lines), conv1 at stride 2, batch 2, 1 and 2 threads, kept packs. It is
// refused under strict, for double, and for a conv2 whose weights would not come from L2.
TEST(Conv2dChain, OneOpGivesTheBitsOfTwoDirectConvs) {
    using evsam::gemm_kernel::Kind;
    struct ChainCase {
        int64_t N, C, H, W, E, stride, OC;
        evsam::Act act1, act2;
    };
    const ChainCase cases[] = {
        {1, 8, 40, 40, 8, 1, 8, evsam::Act::gelu_tanh_approx, evsam::Act::none},  // tiny_l's stage 0
        {2, 21, 9, 37, 40, 1, 13, evsam::Act::relu6, evsam::Act::gelu_tanh_approx},
        {1, 32, 12, 64, 32, 1, 32, evsam::Act::gelu_tanh_approx, evsam::Act::none},  // whole blocks
        {1, 16, 11, 70, 33, 2, 24, evsam::Act::silu, evsam::Act::relu},              // stride 2: 6 x 35
    };
    const std::vector<Kind> kinds = tile_kinds();
    for (const auto& c : cases) {
        const int64_t OH = evsam::conv_out_size(c.H, 3, c.stride, 1, 1),
                      OW = evsam::conv_out_size(c.W, 3, c.stride, 1, 1);
        auto x = random_tensor<float>({c.N, c.C, c.H, c.W}, 51), b1 = random_tensor<float>({c.E}, 53),
             b2 = random_tensor<float>({c.OC}, 55), plus = random_tensor<float>({c.N, c.OC, OH, OW}, 56);
        const double s1 = 1 / std::sqrt(double(c.C * 9)), s2 = 1 / std::sqrt(double(c.E * 9));
        auto w1 = random_tensor<float>({c.E, c.C, 3, 3}, 52, -s1, s1),
             w2 = random_tensor<float>({c.OC, c.E, 3, 3}, 54, -s2, s2);
        const evsam::detail::BiasAct ba1{b1.data(), c.act1}, ba2{b2.data(), c.act2};
        const std::string what = std::to_string(c.C) + "->" + std::to_string(c.E) + "->" + std::to_string(c.OC);
        for (Kind kind : kinds) {
            evsam::Tensor<float> mid({c.N, c.E, OH, OW}), two({c.N, c.OC, OH, OW}), sum(two.shape()), one(two.shape()),
                withp(two.shape());
            evsam::detail::conv2d_direct_amx(mid.data(), x.data(), w1.data(), b1.data(), c.N, c.C, c.H, c.W, c.E,
                                             c.stride, c.act1, nullptr, kind);
            evsam::detail::conv2d_direct_amx(two.data(), mid.data(), w2.data(), b2.data(), c.N, c.E, OH, OW, c.OC, 1,
                                             c.act2, nullptr, kind);
            evsam::add_forward(sum.data(), two.data(), plus.data(), sum.numel(), evsam::backend::cpu{});
            const evsam::detail::BiasActPlus bp{ba2, withp.data(), plus.data()};
            for (int threads : {2, 1}) {
                const int before = omp_get_max_threads();
                omp_set_num_threads(threads);
                std::fill(one.begin(), one.end(), 0.0f);
                evsam::detail::conv2d_chain_direct_amx(one.data(), x.data(), w1.data(), ba1, w2.data(), ba2.epilogue(),
                                                       c.N, c.C, c.H, c.W, c.E, c.stride, c.OC, nullptr, nullptr, kind);
                evsam::detail::conv2d_chain_direct_amx(withp.data(), x.data(), w1.data(), ba1, w2.data(), bp.epilogue(),
                                                       c.N, c.C, c.H, c.W, c.E, c.stride, c.OC, nullptr, nullptr, kind);
                omp_set_num_threads(before);
                const std::string how = what + (kind == Kind::bf16_amx ? " AMX, " : " emulated AMX, ") +
                                        std::to_string(threads) + " thread(s)";
                EXPECT_TRUE(evsam_test::bitwise_equal(one, two)) << how;
                EXPECT_TRUE(evsam_test::bitwise_equal(withp, sum)) << how << ", plus a residual";
            }
        }
        if (!evsam::cpu_uses_amx()) continue;
        evsam::CpuPrecisionScope scope(evsam::Precision::fast);  // the public op, with fast's GELU and kept packs
        ASSERT_TRUE(evsam::conv2d_chain_applies<float>(c.C, c.E, c.OC, 3, c.stride, 1, 1, 1)) << what;
        evsam::Tensor<float> mid({c.N, c.E, OH, OW}), two({c.N, c.OC, OH, OW}), sum(two.shape()), one(two.shape());
        evsam::conv2d_forward<float>(mid.data(), x.data(), w1.data(), b1.data(), c.N, c.C, c.H, c.W, c.E, 3, c.stride,
                                     1, 1, 1, c.act1, evsam::backend::cpu{});
        evsam::conv2d_forward<float>(two.data(), mid.data(), w2.data(), b2.data(), c.N, c.E, OH, OW, c.OC, 3, 1, 1, 1,
                                     1, c.act2, evsam::backend::cpu{});
        evsam::add_forward(sum.data(), two.data(), plus.data(), sum.numel(), evsam::backend::cpu{});
        evsam::detail::ConvWeights<float> k1, k2;
        for (int i = 0; i < 2; ++i) {
            evsam::conv2d_chain_forward<float>(one.data(), x.data(), w1.data(), b1.data(), c.act1, w2.data(), b2.data(),
                                               c.act2, c.N, c.C, c.H, c.W, c.E, 3, c.stride, 1, 1, c.OC, &k1, &k2,
                                               evsam::backend::cpu{}, i ? plus.data() : nullptr);
            EXPECT_TRUE(evsam_test::bitwise_equal(one, i ? sum : two)) << what << ", the op, run " << i;
        }
    }
    if (evsam::cpu_has_avx512_bf16()) {  // fast is refused without it
        evsam::CpuPrecisionScope scope(evsam::Precision::fast);
        EXPECT_FALSE(evsam::conv2d_chain_applies<double>(32, 32, 32, 3, 1, 1, 1, 1));
        EXPECT_FALSE(evsam::conv2d_chain_applies<float>(32, 32, 32, 1, 1, 0, 1, 1));      // 1x1
        EXPECT_FALSE(evsam::conv2d_chain_applies<float>(32, 32, 32, 3, 1, 1, 1, 2));      // grouped
        EXPECT_FALSE(evsam::conv2d_chain_applies<float>(256, 1024, 256, 3, 1, 1, 1, 1));  // 4.5 MiB of weights
    }
    evsam::CpuPrecisionScope scope(evsam::Precision::strict);
    EXPECT_FALSE(evsam::conv2d_chain_applies<float>(32, 32, 32, 3, 1, 1, 1, 1));
}

// The second case is Winograd's with many output channels: one thread takes blocks of 112 tiles
// and groups the output channels (M over 2 MiB), two take blocks of 64 and do not; the bits agree.
TEST(Conv2d, ThreadCountDoesNotChangeResults) {
    for (ConvCase c : {ConvCase{1, 32, 45, 39, 48, 3, 1, 1, 1, 1}, ConvCase{1, 8, 40, 40, 300, 3, 1, 1, 1, 1}}) {
        auto x = random_tensor<float>({1, c.C, c.H, c.W}, 7), w = random_tensor<float>({c.OC, c.C, 3, 3}, 8);
        evsam::Tensor<float> a({1, c.OC, c.H, c.W}), b({1, c.OC, c.H, c.W});
        omp_set_num_threads(1);
        evsam::conv2d_forward<float>(a.data(), x.data(), w.data(), nullptr, 1, c.C, c.H, c.W, c.OC, 3, 1, 1, 1, 1,
                                     evsam::backend::cpu{});
        omp_set_num_threads(2);
        evsam::conv2d_forward<float>(b.data(), x.data(), w.data(), nullptr, 1, c.C, c.H, c.W, c.OC, 3, 1, 1, 1, 1,
                                     evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::bitwise_equal(a, b)) << c.C << "->" << c.OC;
    }
}

TEST(Conv2d, DepthwiseThreadCountDoesNotChangeResults) {
    for (int64_t stride : {1, 2}) {
        const int64_t C = 24, H = 33, W = 29, K = 5, OH = evsam::conv_out_size(H, K, stride, 2, 1),
                      OW = evsam::conv_out_size(W, K, stride, 2, 1);
        auto x = random_tensor<float>({1, C, H, W}, 11), w = random_tensor<float>({C, 1, K, K}, 12);
        evsam::Tensor<float> a({1, C, OH, OW}), b({1, C, OH, OW});
        omp_set_num_threads(1);
        evsam::conv2d_forward<float>(a.data(), x.data(), w.data(), nullptr, 1, C, H, W, C, K, stride, 2, 1, C,
                                     evsam::Act::gelu_tanh, evsam::backend::cpu{});
        omp_set_num_threads(2);
        evsam::conv2d_forward<float>(b.data(), x.data(), w.data(), nullptr, 1, C, H, W, C, K, stride, 2, 1, C,
                                     evsam::Act::gelu_tanh, evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::bitwise_equal(a, b)) << "stride " << stride;
    }
}

// The depthwise register kernel (stride 1, padding K / 2; depthwise_rows_avx512) against the padded
// planes it replaces there, value for value in every bit: every K it takes, maps narrower than a
// vector, one vector, ragged and several vectors wide, fewer rows than a block and ragged blocks,
// the activations, a -0 bias on zeros (the sign the zero taps leave), and big values.
TEST(Conv2d, DepthwiseRowsGiveThePlanesBits) {
    const evsam::detail::DepthwisePlan<float> probe(16, 16, 3, 1, 1);
    if (!probe.rows) GTEST_SKIP() << "skipped: this build has no AVX-512 depthwise kernel";
    int checked = 0;
    for (int64_t K : {3, 5, 7})
        for (int64_t H : {1, 3, 8, 9, 16, 33})
            for (int64_t W : {1, 5, 15, 16, 17, 32, 47, 64}) {
                const evsam::detail::DepthwisePlan<float> plan(H, W, K, 1, K / 2);
                ASSERT_TRUE(plan.rows) << K << " " << H << "x" << W;
                auto x = random_tensor<float>({H, W}, 7 * K + H + W), w = random_tensor<float>({K, K}, 3 * K + W);
                if (H == 3)
                    for (int64_t k = 0; k < x.numel(); ++k) x[k] = 0.0f;
                if (H == 9) x[0] = 3e38f;
                std::vector<float, evsam::AlignedAllocator<float>> buf(plan.buffer_size());
                for (evsam::Act act : {evsam::Act::none, evsam::Act::gelu_tanh_approx, evsam::Act::relu6}) {
                    const float b = H == 3 ? -0.0f : 0.25f;
                    evsam::Tensor<float> rows({H, W}), planes({H, W});
                    plan.channel(rows.data(), x.data(), w.data(), b, act, buf.data());
                    plan.channel_planes(planes.data(), x.data(), w.data(), b, act, buf.data());
                    EXPECT_EQ(std::memcmp(rows.data(), planes.data(), sizeof(float) * H * W), 0)
                        << "K " << K << " " << H << "x" << W << " act " << static_cast<int>(act);
                    ++checked;
                }
            }
    EXPECT_EQ(checked, 3 * 6 * 8 * 3);
    // where it does not apply: stride 2, other padding, an even or larger K
    EXPECT_FALSE((evsam::detail::DepthwisePlan<float>(16, 16, 3, 2, 1).rows));
    EXPECT_FALSE((evsam::detail::DepthwisePlan<float>(16, 16, 3, 1, 0).rows));
    EXPECT_FALSE((evsam::detail::DepthwisePlan<float>(16, 16, 4, 1, 2).rows));
    EXPECT_FALSE((evsam::detail::DepthwisePlan<float>(16, 16, 9, 1, 4).rows));
    EXPECT_FALSE((evsam::detail::DepthwisePlan<double>(16, 16, 3, 1, 1).rows));
}

TEST(ConvTranspose2d, FastMatchesNaive) {
    for (auto [N, C, H, W, OC] :
         std::vector<std::array<int64_t, 5>>{{1, 16, 5, 7, 4}, {3, 8, 17, 19, 6}, {1, 4, 1, 1, 2}}) {
        auto x = random_tensor<float>({N, C, H, W}, 99), w = random_tensor<float>({C, OC, 2, 2}, 100),
             b = random_tensor<float>({OC}, 101);
        evsam::Tensor<float> ref({N, OC, 2 * H, 2 * W}), fast({N, OC, 2 * H, 2 * W});
        evsam::conv_transpose2d_forward_naive(ref.data(), x.data(), w.data(), b.data(), N, C, H, W, OC, 2);
        evsam::conv_transpose2d_forward(fast.data(), x.data(), w.data(), b.data(), N, C, H, W, OC, 2,
                                        evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::close(fast, ref, "conv_transpose2d"));
    }
}

// The token-layout ConvTranspose2d (the decoder's upscaling straight from the transformer's keys)
// is the NCHW one on transposed input: the same GEMM.
TEST(ConvTranspose2d, TokenLayoutEqualsNchw) {
    for (auto [N, C, H, W, OC] :
         std::vector<std::array<int64_t, 5>>{{1, 256, 64, 64, 64}, {2, 8, 17, 19, 6}, {1, 4, 1, 1, 2}}) {
        auto x = random_tensor<float>({N, C, H, W}, 5), w = random_tensor<float>({C, OC, 2, 2}, 6),
             b = random_tensor<float>({OC}, 7);
        evsam::Tensor<float> xt({N, H * W, C});  // (N, C, H, W) -> (N, H*W, C)
        evsam::nchw_to_npc_forward_naive(xt.data(), x.data(), N, C, H * W);
        evsam::Tensor<float> ref({N, OC, 2 * H, 2 * W}), tok({N, OC, 2 * H, 2 * W});
        evsam::conv_transpose2d_forward(ref.data(), x.data(), w.data(), b.data(), N, C, H, W, OC, 2,
                                        evsam::backend::cpu{});
        evsam::conv_transpose2d_tokens_forward(tok.data(), xt.data(), w.data(), b.data(), N, C, H, W, OC, 2,
                                               evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::close(tok, ref, "conv_transpose2d tokens"));
    }
}

}  // namespace

}  // namespace test_conv2d
