// Every CUDA op against its naive CPU reference (ops/*.hpp), on edge shapes: odd sizes, strides,
// dilation, groups, tails of the 64-position attention tiles. Float with kTolOpFloat (the table's
// entry for a fast op against its naive reference), double with kTolEncoderDouble.
#include "cuda_test_util.cuh"

namespace {

using namespace evsam_cuda_test;
using evsam::Act;
using evsam::Tensor;
using evsam::backend::cuda;

template <class T>
evsam::Tolerance op_tol() {
    return std::is_same_v<T, float> ? evsam::kTolOpFloat : evsam::kTolEncoderDouble;
}

template <class T>
void expect_close(const Tensor<T>& got, const Tensor<T>& ref, const std::string& what) {
    auto r = evsam::compare(got, ref, op_tol<T>(), what);
    EXPECT_TRUE(r.ok) << r.message;
}

struct ConvCase {
    int64_t N, C, H, W, OC, K, stride, pad, dil, G;
    Act act;
};

template <class T>
void check_conv(const ConvCase& c, uint32_t seed) {
    const int64_t OH = evsam::conv_out_size(c.H, c.K, c.stride, c.pad, c.dil),
                  OW = evsam::conv_out_size(c.W, c.K, c.stride, c.pad, c.dil);
    auto x = random_tensor<T>({c.N, c.C, c.H, c.W}, seed);
    auto w = random_tensor<T>({c.OC, c.C / c.G, c.K, c.K}, seed + 1);
    auto b = random_tensor<T>({c.OC}, seed + 2);
    Tensor<T> ref({c.N, c.OC, OH, OW});
    evsam::conv2d_forward_naive(ref.data(), x.data(), w.data(), b.data(), c.N, c.C, c.H, c.W, c.OC, c.K, c.stride,
                                c.pad, c.dil, c.G);
    evsam::activation_forward_naive(ref.data(), ref.numel(), c.act);
    auto dx = up(x), dw = up(w), db = up(b);
    Dev<T> dy({c.N, c.OC, OH, OW}, Dev<T>::uninitialized);
    evsam::cuda::conv2d_forward(dy.data(), dx.data(), dw.data(), db.data(), c.N, c.C, c.H, c.W, c.OC, c.K, c.stride,
                                c.pad, c.dil, c.G, c.act, cuda{});
    expect_close(dy.to_host(), ref,
                 "conv N" + std::to_string(c.N) + " C" + std::to_string(c.C) + " K" + std::to_string(c.K) + " s" +
                     std::to_string(c.stride) + " G" + std::to_string(c.G));
}

template <class T>
void conv_cases() {
    const ConvCase cases[] = {
        {2, 8, 9, 7, 16, 1, 1, 0, 1, 1, Act::none},        // 1x1 GEMM, odd plane
        {2, 8, 9, 7, 16, 3, 1, 1, 1, 1, Act::gelu_tanh},   // 3x3 im2col
        {1, 3, 17, 15, 8, 3, 2, 1, 1, 1, Act::relu6},      // the stem: 3 channels, stride 2, odd sizes
        {2, 12, 11, 10, 12, 3, 1, 1, 1, 12, Act::hswish},  // depthwise 3x3
        {2, 12, 11, 10, 12, 3, 2, 1, 1, 12, Act::relu},    // depthwise 3x3 stride 2
        {1, 6, 9, 9, 6, 5, 1, 2, 1, 6, Act::none},         // depthwise 5x5 (LiteMLA aggreg)
        {2, 24, 5, 6, 24, 1, 1, 0, 1, 6, Act::none},       // grouped 1x1 (LiteMLA aggreg)
        {1, 8, 7, 7, 8, 3, 1, 2, 2, 2, Act::silu},         // grouped 3x3, dilation 2
        {1, 4, 1, 1, 4, 3, 1, 1, 1, 1, Act::none},         // 1x1 plane, all padding
        {3, 8, 6, 5, 4, 3, 2, 1, 1, 2, Act::gelu_erf},     // grouped 3x3 stride 2, several images
    };
    uint32_t seed = 10;
    for (const auto& c : cases) check_conv<T>(c, seed += 7);
}

TEST(CudaOps, Conv2dFloat) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    conv_cases<float>();
}
TEST(CudaOps, Conv2dDouble) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    conv_cases<double>();
}

TEST(CudaOps, ActivationsAndAdd) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    auto x = random_tensor<float>({3, 1000}, 3, -8, 8);
    for (Act a : {Act::relu, Act::relu6, Act::hswish, Act::silu, Act::gelu_tanh, Act::gelu_erf}) {
        Tensor<float> ref = x;
        evsam::activation_forward_naive(ref.data(), ref.numel(), a);
        auto d = up(x);
        evsam::cuda::activation_forward(d.data(), d.numel(), a, cuda{});
        expect_close(d.to_host(), ref, "activation " + std::to_string(static_cast<int>(a)));
    }
    auto y = random_tensor<float>({3, 1000}, 4);
    Tensor<float> ref(x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) ref[i] = x[i] + y[i];
    auto dx = up(x), dy = up(y);
    evsam::cuda::add_forward(dx.data(), dx.data(), dy.data(), dx.numel(), cuda{});
    expect_close(dx.to_host(), ref, "add");
}

TEST(CudaOps, BatchNorm2d) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    auto x = random_tensor<float>({2, 5, 3, 7}, 8, -3, 3);
    auto w = random_tensor<float>({5}, 9), b = random_tensor<float>({5}, 10), m = random_tensor<float>({5}, 11);
    auto v = random_tensor<float>({5}, 12, 0.5, 1.5);
    Tensor<float> ref = x;
    evsam::batchnorm2d_forward_naive(ref.data(), w.data(), b.data(), m.data(), v.data(), 1e-6, 2, 5, 21);
    auto d = up(x), dw = up(w), db = up(b), dm = up(m), dv = up(v);
    evsam::cuda::batchnorm2d_forward(d.data(), dw.data(), db.data(), dm.data(), dv.data(), 1e-6, 2, 5, 21, cuda{});
    expect_close(d.to_host(), ref, "batchnorm2d");
}

template <class T>
void check_layernorm2d() {
    auto x = random_tensor<T>({2, 19, 5, 7}, 5, -3, 3);
    auto w = random_tensor<T>({19}, 6), b = random_tensor<T>({19}, 7);
    Tensor<T> ref = x;
    evsam::layernorm2d_forward_naive(ref.data(), w.data(), b.data(), 1e-6, 2, 19, 35);
    auto d = up(x), dw = up(w), db = up(b);
    evsam::cuda::layernorm2d_forward(d.data(), dw.data(), db.data(), 1e-6, 2, 19, 35, cuda{});
    expect_close(d.to_host(), ref, "layernorm2d");
}
TEST(CudaOps, LayerNorm2d) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    check_layernorm2d<float>();
    check_layernorm2d<double>();
}

template <class T>
void check_linear_att(int64_t B, int64_t NH, int64_t D, int64_t N) {
    auto qkv = random_tensor<T>({B, NH * 3 * D, N}, static_cast<uint32_t>(D * 131 + N));
    Tensor<T> ref({B, NH * D, N});
    evsam::relu_linear_att_forward_naive(ref.data(), qkv.data(), B, NH, D, N, 1e-15);
    auto d = up(qkv);
    Dev<T> out({B, NH * D, N}, Dev<T>::uninitialized);
    evsam::cuda::relu_linear_att_forward(out.data(), d.data(), B, NH, D, N, 1e-15, cuda{});
    expect_close(out.to_host(), ref, "relu_linear_att D" + std::to_string(D) + " N" + std::to_string(N));
}
TEST(CudaOps, LiteMlaLinearAttention) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    check_linear_att<float>(2, 3, 8, 9);      // fewer positions than one tile
    check_linear_att<float>(1, 2, 32, 130);   // the SAM head dim; a tail of 2 after two tiles
    check_linear_att<float>(2, 4, 32, 1024);  // L0 stage 3 (32x32)
    check_linear_att<double>(1, 2, 16, 65);
}

TEST(CudaOps, LiteMlaQuadraticAttention) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    for (int64_t N : {1, 4, 16}) {
        auto qkv = random_tensor<float>({2, 2 * 3 * 16, N}, static_cast<uint32_t>(N));
        Tensor<float> ref({2, 2 * 16, N});
        evsam::relu_quadratic_att_forward_naive(ref.data(), qkv.data(), 2, 2, 16, N, 1e-15);
        auto d = up(qkv);
        Dev<float> out({2, 2 * 16, N}, Dev<float>::uninitialized);
        evsam::cuda::relu_quadratic_att_forward(out.data(), d.data(), 2, 2, 16, N, 1e-15, cuda{});
        expect_close(out.to_host(), ref, "relu_quadratic_att N" + std::to_string(N));
    }
}

TEST(CudaOps, BicubicResize) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    for (auto [H, W, OH, OW] :
         {std::array<int64_t, 4>{16, 16, 64, 64}, {32, 32, 64, 64}, {5, 7, 64, 64}, {70, 65, 64, 64}}) {
        auto x = random_tensor<float>({3, H, W}, static_cast<uint32_t>(H * W));
        Tensor<float> ref({3, OH, OW});
        evsam::bicubic_resize_forward_naive(ref.data(), x.data(), 3, H, W, OH, OW);
        auto d = up(x);
        Dev<float> out({3, OH, OW}, Dev<float>::uninitialized);
        evsam::cuda::bicubic_resize_forward(out.data(), d.data(), 3, H, W, OH, OW, cuda{});
        expect_close(out.to_host(), ref, "bicubic " + std::to_string(H) + "x" + std::to_string(W));
    }
}

TEST(CudaOps, CopyChannelsAndDeviceTensor) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    auto a = random_tensor<float>({2, 3, 5}, 1), b = random_tensor<float>({2, 4, 5}, 2);
    Tensor<float> ref({2, 7, 5});
    evsam::copy_channels_forward(ref.data(), a.data(), 2, 3, 5, 7, 0, evsam::backend::cpu{});
    evsam::copy_channels_forward(ref.data(), b.data(), 2, 4, 5, 7, 3, evsam::backend::cpu{});
    auto da = up(a), db = up(b);
    Dev<float> out({2, 7, 5});
    evsam::cuda::copy_channels_forward(out.data(), da.data(), 2, 3, 5, 7, 0, cuda{});
    evsam::cuda::copy_channels_forward(out.data(), db.data(), 2, 4, 5, 7, 3, cuda{});
    Tensor<float> got = out.to_host();
    ASSERT_EQ(got.shape(), ref.shape());
    for (int64_t i = 0; i < ref.numel(); ++i) ASSERT_EQ(got[i], ref[i]) << "element " << i;
    Dev<float> copy = out;  // a device-to-device copy, independent of the original
    evsam::cuda::activation_forward(out.data(), out.numel(), Act::relu, cuda{});
    Tensor<float> back = copy.to_host();
    for (int64_t i = 0; i < ref.numel(); ++i)
        ASSERT_EQ(back[i], ref[i]) << "copy changed with its source, element " << i;
    Dev<float> zeros({4, 4});
    for (float v : zeros.to_host()) ASSERT_EQ(v, 0.0f);
}

// Freed activations are reused: the second pass of the same shapes allocates nothing new.
TEST(CudaOps, ArenaReusesBlocks) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    auto& arena = evsam::cuda::context().arena();
    { Dev<float> a({1 << 20}, Dev<float>::uninitialized), b({3, 1000}, Dev<float>::uninitialized); }
    const size_t reserved = arena.reserved_bytes();
    { Dev<float> a({1 << 20}, Dev<float>::uninitialized), b({3, 1000}, Dev<float>::uninitialized); }
    EXPECT_EQ(arena.reserved_bytes(), reserved);
}

}  // namespace
