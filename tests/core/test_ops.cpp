// Fast ops against their naive references (llm.c style), on edge shapes.
#include <gtest/gtest.h>
#include <omp.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/ops/attention.hpp>
#include <evsam/ops/conv2d.hpp>
#include <evsam/ops/lite_mla_attention.hpp>
#include <evsam/ops/norm.hpp>
#include <cstring>
#include <array>
#include <random>
#include <vector>

namespace {

struct ConvCase {
    int64_t N, C, H, W, OC, K, stride, pad, dilation, G;
    evsam::Act act = evsam::Act::none;
};

template <class T>
void check_conv(const ConvCase& c, evsam::Tolerance tol) {
    std::mt19937 rng(1234);
    std::uniform_real_distribution<double> u(-1, 1);
    evsam::Tensor<T> x({c.N, c.C, c.H, c.W}), w({c.OC, c.C / c.G, c.K, c.K}), b({c.OC});
    for (auto* t : {&x, &w, &b})
        for (auto& v : *t) v = static_cast<T>(u(rng));
    const int64_t OH = evsam::conv_out_size(c.H, c.K, c.stride, c.pad, c.dilation);
    const int64_t OW = evsam::conv_out_size(c.W, c.K, c.stride, c.pad, c.dilation);
    evsam::Tensor<T> ref({c.N, c.OC, OH, OW}), fast({c.N, c.OC, OH, OW});
    evsam::conv2d_forward_naive(ref.data(), x.data(), w.data(), b.data(), c.N, c.C, c.H, c.W, c.OC, c.K, c.stride,
                                c.pad, c.dilation, c.G);
    evsam::activation_forward_naive(ref.data(), ref.numel(), c.act);
    evsam::conv2d_forward(fast.data(), x.data(), w.data(), b.data(), c.N, c.C, c.H, c.W, c.OC, c.K, c.stride, c.pad,
                          c.dilation, c.G, c.act, evsam::backend::cpu{});
    auto r = evsam::compare(fast, ref, tol, "conv2d");
    EXPECT_TRUE(r.ok) << r.message;
}

const ConvCase kCases[] = {
    {1, 3, 17, 23, 8, 3, 2, 1, 1, 1},      // stem: 3x3 s2, odd sizes
    {2, 16, 9, 7, 24, 1, 1, 0, 1, 1},      // pointwise (GEMM without im2col), batch 2
    {1, 8, 1, 1, 4, 3, 1, 1, 1, 1},        // 1x1 map with a 3x3 kernel: only the centre tap
    {1, 12, 33, 31, 12, 3, 1, 1, 1, 12},   // depthwise 3x3
    {1, 12, 16, 15, 12, 3, 2, 1, 1, 12},   // depthwise 3x3 stride 2
    {1, 24, 11, 13, 24, 5, 1, 2, 1, 24},   // depthwise 5x5 (LiteMLA aggreg)
    {1, 24, 11, 13, 24, 1, 1, 0, 1, 6},    // grouped 1x1 (LiteMLA aggreg, groups = 3*heads)
    {1, 8, 20, 20, 16, 3, 1, 2, 2, 1},     // dilation 2
    {1, 4, 40, 37, 64, 3, 1, 1, 1, 1},     // > 256 output pixels: several column blocks
    {1, 6, 5, 5, 6, 3, 1, 1, 1, 2},        // grouped 3x3
    // fused epilogues and the SIMD depthwise paths (rows shorter / longer than a vector, ragged tails)
    {1, 5, 3, 2, 5, 3, 1, 1, 1, 5, evsam::Act::relu6},        // depthwise, OW < one vector
    {2, 7, 19, 37, 7, 5, 2, 2, 1, 7, evsam::Act::hswish},     // depthwise 5x5 stride 2, odd width
    {1, 4, 18, 18, 4, 3, 2, 1, 1, 4, evsam::Act::gelu_tanh},  // depthwise 3x3 stride 2, even size
    {1, 4, 13, 17, 4, 3, 1, 2, 2, 4, evsam::Act::silu},       // depthwise dilated: the generic path
    {1, 3, 21, 19, 8, 3, 3, 1, 1, 1, evsam::Act::gelu_tanh},  // stride 3 im2col, fused GELU
    {1, 16, 7, 45, 24, 1, 1, 0, 1, 1, evsam::Act::gelu_erf},  // pointwise, fused exact GELU
    {1, 8, 9, 9, 8, 1, 2, 0, 1, 1, evsam::Act::relu},         // 1x1 stride 2: im2col, not in place
    // Winograd F(2x2,3x3): odd and even sizes (partial tiles), tile rows split across blocks
    // of 128 tiles, several blocks, batch 2, sizes below one vector of tiles
    {1, 8, 9, 9, 8, 3, 1, 1, 1, 1},
    {2, 16, 40, 37, 24, 3, 1, 1, 1, 1, evsam::Act::gelu_tanh},
    {1, 32, 64, 64, 16, 3, 1, 1, 1, 1, evsam::Act::relu},
    {1, 9, 3, 2, 11, 3, 1, 1, 1, 1},
    {1, 8, 1, 1, 8, 3, 1, 1, 1, 1},
};

TEST(Conv2d, FastMatchesNaiveFloat) {
    for (auto& c : kCases) check_conv<float>(c, evsam::kTolOpFloat);
}
TEST(Conv2d, FastMatchesNaiveDouble) {
    for (auto& c : kCases) check_conv<double>(c, {1e-12, 1e-12});
}

TEST(Conv2d, ThreadCountDoesNotChangeResults) {
    ConvCase c{1, 32, 45, 39, 48, 3, 1, 1, 1, 1};
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1, 1);
    evsam::Tensor<float> x({1, c.C, c.H, c.W}), w({c.OC, c.C, 3, 3});
    for (auto& v : x) v = u(rng);
    for (auto& v : w) v = u(rng);
    evsam::Tensor<float> a({1, c.OC, c.H, c.W}), b({1, c.OC, c.H, c.W});
    omp_set_num_threads(1);
    evsam::conv2d_forward<float>(a.data(), x.data(), w.data(), nullptr, 1, c.C, c.H, c.W, c.OC, 3, 1, 1, 1, 1, evsam::backend::cpu{});
    omp_set_num_threads(2);
    evsam::conv2d_forward<float>(b.data(), x.data(), w.data(), nullptr, 1, c.C, c.H, c.W, c.OC, 3, 1, 1, 1, 1, evsam::backend::cpu{});
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.numel())));
}

TEST(Conv2d, DepthwiseThreadCountDoesNotChangeResults) {
    for (int64_t stride : {1, 2}) {
        const int64_t C = 24, H = 33, W = 29, K = 5, OH = evsam::conv_out_size(H, K, stride, 2, 1),
                      OW = evsam::conv_out_size(W, K, stride, 2, 1);
        std::mt19937 rng(11);
        std::uniform_real_distribution<float> u(-1, 1);
        evsam::Tensor<float> x({1, C, H, W}), w({C, 1, K, K});
        for (auto& v : x) v = u(rng);
        for (auto& v : w) v = u(rng);
        evsam::Tensor<float> a({1, C, OH, OW}), b({1, C, OH, OW});
        omp_set_num_threads(1);
        evsam::conv2d_forward<float>(a.data(), x.data(), w.data(), nullptr, 1, C, H, W, C, K, stride, 2, 1, C,
                                     evsam::Act::gelu_tanh, evsam::backend::cpu{});
        omp_set_num_threads(2);
        evsam::conv2d_forward<float>(b.data(), x.data(), w.data(), nullptr, 1, C, H, W, C, K, stride, 2, 1, C,
                                     evsam::Act::gelu_tanh, evsam::backend::cpu{});
        EXPECT_EQ(0, std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.numel()))) << "stride " << stride;
    }
}

// The SIMD activations against the scalar formulas, every kind, on lengths around the vector
// width and the parallel chunk (so the ragged tails are covered), in float and double.
template <class T>
void check_activations(evsam::Tolerance tol) {
    using evsam::Act;
    std::mt19937 rng(5);
    std::uniform_real_distribution<double> u(-8, 8);
    for (Act a : {Act::relu, Act::relu6, Act::hswish, Act::silu, Act::gelu_tanh, Act::gelu_erf})
        for (int64_t n : {1, 7, 16, 17, 33, 16384 + 5, 40000}) {
            evsam::Tensor<T> ref({n});
            for (auto& v : ref) v = static_cast<T>(u(rng));
            ref[0] = n > 1 ? T(0) : T(1.5);  // compare() refuses an all-zero reference
            evsam::Tensor<T> fast = ref;
            evsam::activation_forward_naive(ref.data(), n, a);
            evsam::activation_forward(fast.data(), n, a, evsam::backend::cpu{});
            auto r = evsam::compare(fast, ref, tol, "activation " + std::to_string(static_cast<int>(a)));
            EXPECT_TRUE(r.ok) << r.message << " n=" << n;
        }
}
TEST(Activation, FastMatchesNaive) {
    check_activations<float>(evsam::kTolOpFloat);
    check_activations<double>({1e-12, 1e-12});
}

// LiteMLA's linear attention: the two-GEMM fast path against the scalar loops, for the head
// sizes of the L/XL models (dim 32) and odd ones, maps smaller and larger than a GEMM block.
TEST(LiteMLAAttention, LinearFastMatchesNaive) {
    std::mt19937 rng(21);
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto [B, NH, D, N] : std::vector<std::array<int64_t, 4>>{{1, 2, 32, 256}, {2, 3, 8, 37}, {1, 1, 5, 6}, {1, 4, 16, 1024}}) {
        evsam::Tensor<float> qkv({B, NH * 3 * D, N}), ref({B, NH * D, N}), fast({B, NH * D, N});
        for (auto& v : qkv) v = u(rng);
        evsam::relu_linear_att_forward_naive(ref.data(), qkv.data(), B, NH, D, N, 1e-15);
        evsam::relu_linear_att_forward(fast.data(), qkv.data(), B, NH, D, N, 1e-15, evsam::backend::cpu{});
        auto r = evsam::compare(fast, ref, evsam::kTolOpFloat, "relu_linear_att");
        EXPECT_TRUE(r.ok) << r.message;
    }
}

// SAM's attention: the GEMM + SIMD softmax path against the scalar loops, for the decoder's
// shapes (tokens -> image, image -> tokens over several query blocks, self-attention) and odd ones.
TEST(Attention, FastMatchesNaive) {
    std::mt19937 rng(8);
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto [B, NQ, NK, C, H] : std::vector<std::array<int64_t, 5>>{
             {1, 7, 4096, 128, 8}, {2, 600, 7, 128, 8}, {1, 7, 7, 256, 8}, {3, 5, 33, 12, 3}, {1, 1, 1, 4, 1}}) {
        evsam::Tensor<float> q({B, NQ, C}), k({B, NK, C}), v({B, NK, C}), ref({B, NQ, C}), fast({B, NQ, C});
        for (auto* t : {&q, &k, &v})
            for (auto& x : *t) x = 3 * u(rng);
        evsam::attention_forward_naive(ref.data(), q.data(), k.data(), v.data(), B, NQ, NK, C, H);
        evsam::attention_forward(fast.data(), q.data(), k.data(), v.data(), B, NQ, NK, C, H, evsam::backend::cpu{});
        auto r = evsam::compare(fast, ref, evsam::kTolOpFloat, "attention");
        EXPECT_TRUE(r.ok) << r.message;
    }
}

// LayerNorm2d: the SIMD path does the reference's arithmetic in the reference's order, so the
// two agree bit for bit, also on the ragged last vector of pixels.
TEST(LayerNorm2d, FastEqualsNaive) {
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-3, 3);
    for (auto [N, C, P] : std::vector<std::array<int64_t, 3>>{{1, 256, 4096}, {2, 7, 37}, {1, 3, 5}, {1, 32, 16}}) {
        evsam::Tensor<float> x({N, C, P}), w({C}), b({C});
        for (auto* t : {&x, &w, &b})
            for (auto& v : *t) v = u(rng);
        evsam::Tensor<float> ref = x, fast = x;
        evsam::layernorm2d_forward_naive(ref.data(), w.data(), b.data(), 1e-6, N, C, P);
        evsam::layernorm2d_forward(fast.data(), w.data(), b.data(), 1e-6, N, C, P, evsam::backend::cpu{});
        EXPECT_EQ(0, std::memcmp(ref.data(), fast.data(), sizeof(float) * static_cast<size_t>(x.numel())))
            << N << "x" << C << "x" << P;
    }
}

}  // namespace

namespace {

TEST(ConvTranspose2d, FastMatchesNaive) {
    std::mt19937 rng(99);
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto [N, C, H, W, OC] : std::vector<std::array<int64_t, 5>>{{1, 16, 5, 7, 4}, {3, 8, 17, 19, 6}, {1, 4, 1, 1, 2}}) {
        evsam::Tensor<float> x({N, C, H, W}), w({C, OC, 2, 2}), b({OC});
        for (auto* t : {&x, &w, &b})
            for (auto& v : *t) v = u(rng);
        evsam::Tensor<float> ref({N, OC, 2 * H, 2 * W}), fast({N, OC, 2 * H, 2 * W});
        evsam::conv_transpose2d_forward_naive(ref.data(), x.data(), w.data(), b.data(), N, C, H, W, OC, 2);
        evsam::conv_transpose2d_forward(fast.data(), x.data(), w.data(), b.data(), N, C, H, W, OC, 2, evsam::backend::cpu{});
        auto r = evsam::compare(fast, ref, evsam::kTolOpFloat, "conv_transpose2d");
        EXPECT_TRUE(r.ok) << r.message;
    }
}

}  // namespace
