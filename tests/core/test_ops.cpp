// Fast ops against their naive references (llm.c style), on edge shapes.
#include <gtest/gtest.h>
#include <omp.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/ops/attention.hpp>
#include <evsam/ops/conv2d.hpp>
#include <evsam/ops/lite_mla_attention.hpp>
#include <evsam/ops/linear.hpp>
#include <evsam/ops/norm.hpp>
#include <evsam/ops/resize.hpp>
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

namespace {

std::vector<float> nchw_to_tokens(const evsam::Tensor<float>& x) {  // (N, C, H, W) -> (N, H*W, C)
    const int64_t N = x.size(0), C = x.size(1), P = x.size(2) * x.size(3);
    std::vector<float> t(static_cast<size_t>(x.numel()));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t p = 0; p < P; ++p) t[static_cast<size_t>((n * P + p) * C + c)] = x[(n * C + c) * P + p];
    return t;
}

// The token-layout ConvTranspose2d (the decoder's upscaling straight from the transformer's keys)
// is the NCHW one on transposed input: the same GEMM, so the same bits.
TEST(ConvTranspose2d, TokenLayoutEqualsNchw) {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto [N, C, H, W, OC] : std::vector<std::array<int64_t, 5>>{{1, 256, 64, 64, 64}, {2, 8, 17, 19, 6}, {1, 4, 1, 1, 2}}) {
        evsam::Tensor<float> x({N, C, H, W}), w({C, OC, 2, 2}), b({OC});
        for (auto* t : {&x, &w, &b})
            for (auto& v : *t) v = u(rng);
        const std::vector<float> xt = nchw_to_tokens(x);
        evsam::Tensor<float> ref({N, OC, 2 * H, 2 * W}), tok({N, OC, 2 * H, 2 * W});
        evsam::conv_transpose2d_forward(ref.data(), x.data(), w.data(), b.data(), N, C, H, W, OC, 2, evsam::backend::cpu{});
        evsam::conv_transpose2d_tokens_forward(tok.data(), xt.data(), w.data(), b.data(), N, C, H, W, OC, 2,
                                               evsam::backend::cpu{});
        auto r = evsam::compare(tok, ref, evsam::kTolOpFloat, "conv_transpose2d tokens");
        EXPECT_TRUE(r.ok) << r.message;
    }
}

// Bilinear resize (mask upscaling): the separable fast path keeps the one-pass formula's
// arithmetic, so it equals the naive loop bit for bit; the crop variant is the full resize's corner.
TEST(BilinearResize, FastEqualsNaiveAndCropIsTheCorner) {
    std::mt19937 rng(21);
    std::uniform_real_distribution<float> u(-20, 20);
    for (auto [NC, H, W, OH, OW] : std::vector<std::array<int64_t, 5>>{
             {3, 256, 256, 1024, 1024}, {2, 768, 1024, 480, 640}, {1, 5, 7, 13, 3}, {2, 1, 1, 4, 4}, {1, 9, 9, 9, 9}}) {
        evsam::Tensor<float> x({NC, H, W});
        for (auto& v : x) v = u(rng);
        evsam::Tensor<float> ref({NC, OH, OW}), fast({NC, OH, OW});
        evsam::bilinear_resize_forward_naive(ref.data(), x.data(), NC, H, W, OH, OW);
        evsam::bilinear_resize_forward(fast.data(), x.data(), NC, H, W, OH, OW, evsam::backend::cpu{});
        ASSERT_EQ(0, std::memcmp(ref.data(), fast.data(), sizeof(float) * static_cast<size_t>(ref.numel())))
            << H << "x" << W << " -> " << OH << "x" << OW;
        const int64_t CH = (OH * 3 + 3) / 4, CW = OW - 1 > 0 ? OW - 1 : 1;
        evsam::Tensor<float> crop({NC, CH, CW});
        evsam::bilinear_resize_crop_forward(crop.data(), x.data(), NC, H, W, OH, OW, CH, CW, evsam::backend::cpu{});
        for (int64_t p = 0; p < NC; ++p)
            for (int64_t y = 0; y < CH; ++y)
                ASSERT_EQ(0, std::memcmp(crop.data() + (p * CH + y) * CW, ref.data() + (p * OH + y) * OW, sizeof(float) * CW))
                    << "crop row " << y;
    }
}

// LayerNorm over the last dim (the transformer's norms): SIMD partial sums against the scalar loop.
TEST(LayerNorm, FastMatchesNaive) {
    std::mt19937 rng(13);
    std::uniform_real_distribution<float> u(-3, 3);
    for (auto [M, D] : std::vector<std::array<int64_t, 2>>{{4096, 256}, {7, 256}, {5, 37}, {3, 3}}) {
        evsam::Tensor<float> x({M, D}), w({D}), b({D});
        for (auto* t : {&x, &w, &b})
            for (auto& v : *t) v = u(rng);
        evsam::Tensor<float> ref = x, fast = x;
        evsam::layernorm_forward_naive(ref.data(), w.data(), b.data(), 1e-6, M, D);
        evsam::layernorm_forward(fast.data(), w.data(), b.data(), 1e-6, M, D, evsam::backend::cpu{});
        auto r = evsam::compare(fast, ref, evsam::kTolOpFloat, "layernorm");
        EXPECT_TRUE(r.ok) << r.message;
    }
}

// Factored cross attention (projections folded into the few tokens) against the unfactored
// composition it replaces: naive Linear projections + naive attention (+ naive out_proj).
struct CrossCase {
    int64_t B, NF, NM, E, D, H;  // batch, few rows (tokens), many rows (image positions), dims, heads
};
std::vector<CrossCase> cross_cases() {
    return {{1, 7, 4096, 256, 128, 8}, {3, 6, 300, 256, 128, 8}, {2, 5, 33, 16, 8, 2}, {1, 1, 1, 8, 4, 1}};
}

TEST(CrossAttention, FewQueriesMatchesProjectedAttention) {
    std::mt19937 rng(17);
    std::uniform_real_distribution<float> u(-1, 1);
    for (const auto& c : cross_cases()) {
        evsam::Tensor<float> q({c.B, c.NF, c.D}), k({c.B, c.NM, c.E}), v({c.B, c.NM, c.E}), Wk({c.D, c.E}), bk({c.D}),
            Wv({c.D, c.E}), bv({c.D});
        for (auto* t : {&q, &k, &v, &bk, &bv})
            for (auto& x : *t) x = 2 * u(rng);
        for (auto* t : {&Wk, &Wv})
            for (auto& x : *t) x = u(rng) / std::sqrt(static_cast<float>(c.E) / 3);
        evsam::Tensor<float> kp({c.B, c.NM, c.D}), vp({c.B, c.NM, c.D}), ref({c.B, c.NF, c.D}), fast({c.B, c.NF, c.D});
        evsam::linear_forward_naive(kp.data(), k.data(), Wk.data(), bk.data(), c.B * c.NM, c.E, c.D);
        evsam::linear_forward_naive(vp.data(), v.data(), Wv.data(), bv.data(), c.B * c.NM, c.E, c.D);
        evsam::attention_forward_naive(ref.data(), q.data(), kp.data(), vp.data(), c.B, c.NF, c.NM, c.D, c.H);
        evsam::attention_few_queries_forward(fast.data(), q.data(), k.data(), v.data(), Wk.data(), bk.data(), Wv.data(),
                                             bv.data(), c.B, c.NF, c.NM, c.E, c.D, c.H, c.NM * c.E, evsam::backend::cpu{});
        auto r = evsam::compare(fast, ref, evsam::kTolOpFloat, "few queries B" + std::to_string(c.B));
        EXPECT_TRUE(r.ok) << r.message;
    }
}

TEST(CrossAttention, FewKeysMatchesProjectedAttention) {
    std::mt19937 rng(19);
    std::uniform_real_distribution<float> u(-1, 1);
    for (const auto& c : cross_cases())
        for (bool preprojected : {false, true}) {
            evsam::Tensor<float> qin({c.B, c.NM, c.E}), kp({c.B, c.NF, c.D}), vp({c.B, c.NF, c.D}), Wq({c.D, c.E}),
                bq({c.D}), Wo({c.E, c.D}), bo({c.E});
            for (auto* t : {&qin, &kp, &vp, &bq, &bo})
                for (auto& x : *t) x = 2 * u(rng);
            for (auto* t : {&Wq, &Wo})
                for (auto& x : *t) x = u(rng) / std::sqrt(static_cast<float>(c.E) / 3);
            evsam::Tensor<float> qp({c.B, c.NM, c.D}), o({c.B, c.NM, c.D}), ref({c.B, c.NM, c.E}), fast({c.B, c.NM, c.E});
            evsam::linear_forward_naive(qp.data(), qin.data(), Wq.data(), bq.data(), c.B * c.NM, c.E, c.D);
            evsam::attention_forward_naive(o.data(), qp.data(), kp.data(), vp.data(), c.B, c.NM, c.NF, c.D, c.H);
            evsam::linear_forward_naive(ref.data(), o.data(), Wo.data(), bo.data(), c.B * c.NM, c.D, c.E);
            if (preprojected)  // the Predictor's per-image q projection
                evsam::attention_few_keys_forward(fast.data(), static_cast<const float*>(nullptr), qp.data(), c.NM * c.D,
                                                  kp.data(), vp.data(), Wq.data(), bq.data(), Wo.data(), bo.data(), c.B,
                                                  c.NM, c.NF, c.E, c.D, c.H, evsam::backend::cpu{});
            else
                evsam::attention_few_keys_forward(fast.data(), qin.data(), static_cast<const float*>(nullptr), c.NM * c.E,
                                                  kp.data(), vp.data(), Wq.data(), bq.data(), Wo.data(), bo.data(), c.B,
                                                  c.NM, c.NF, c.E, c.D, c.H, evsam::backend::cpu{});
            auto r = evsam::compare(fast, ref, evsam::kTolOpFloat,
                                    std::string("few keys") + (preprojected ? " (q projected)" : "") + " B" + std::to_string(c.B));
            EXPECT_TRUE(r.ok) << r.message;
        }
}

}  // namespace
