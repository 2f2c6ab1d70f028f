// evsam op micro-benchmarks (Google Benchmark): each fast op next to its naive reference, on the
// same shape and in the same run, plus this machine's Eigen fp32 GEMM peak (1024^3).
//
//   build-bench/bin/bench_ops [--benchmark_filter=REGEX] [--benchmark_out=FILE.json ...]
//   EVSAM_BENCH_THREADS=N   OpenMP threads of the fast ops and of the split GEMM (default 2).
//                           The naive references are single-threaded loops by construction.
//
// Names are  <op>_<shape>/<variant> ; variants of one op share the shape, so the ratio is
// meaningful. "naive" is the reference (conv2d_forward_naive, ...), "fast" the dispatching entry
// point the model calls (conv2d_forward, ...), other variants are detail:: kernels called directly.
// Shapes are EfficientViT-SAM L0 at 512x512; where the naive loop would take seconds the pair runs
// on a smaller spatial size (the name says which), and the fast kernel also runs alone at the real one.
//
// Counters: GFLOP/s (multiply and add counted separately; bias, transforms and epilogues not
// counted), GB/s (bytes of inputs + weights + outputs, each counted once per call: a lower bound
// on traffic), Gelem/s for element-wise ops whose flop count is not well defined.
// After the run a summary prints, for each op, the baseline it was compared with (the naive
// reference, or im2col GEMM for the full-size convs) measured in this run, the speedup, and the
// fraction of the GEMM peak measured in this run.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "evsam/core/tensor.hpp"
#include "evsam/ops/activation.hpp"
#include "evsam/ops/attention.hpp"
#include "evsam/ops/conv2d.hpp"
#include "evsam/ops/linear.hpp"
#include "evsam/ops/lite_mla_attention.hpp"
#include "evsam/ops/norm.hpp"
#include "evsam/ops/resize.hpp"

namespace {

using benchmark::Counter;
using benchmark::State;
using Buf = std::vector<float, evsam::AlignedAllocator<float>>;
using evsam::Act;
using cpu = evsam::backend::cpu;

int g_threads = 2;

Buf random_buf(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
    Buf b(static_cast<size_t>(n));
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    for (auto& x : b) x = d(rng);
    return b;
}

// flops and bytes are per call (per iteration).
void set_counters(State& st, double flops, double bytes, double elems = 0) {
    if (flops > 0) st.counters["GFLOP/s"] = Counter(flops * 1e-9, Counter::kIsIterationInvariantRate);
    if (bytes > 0) st.counters["GB/s"] = Counter(bytes * 1e-9, Counter::kIsIterationInvariantRate);
    if (elems > 0) st.counters["Gelem/s"] = Counter(elems * 1e-9, Counter::kIsIterationInvariantRate);
}

// ------------------------------------------------------------------------------------ conv2d
struct ConvShape {
    int64_t C, H, W, OC, K, stride, G;
};
enum class ConvImpl { naive, fast, gemm, winograd };

void bm_conv(State& st, ConvShape s, ConvImpl impl) {
    const int64_t pad = s.K / 2, N = 1;
    const int64_t OH = evsam::conv_out_size(s.H, s.K, s.stride, pad, 1);
    const int64_t OW = evsam::conv_out_size(s.W, s.K, s.stride, pad, 1);
    const int64_t nin = N * s.C * s.H * s.W, nw = s.OC * (s.C / s.G) * s.K * s.K, nout = N * s.OC * OH * OW;
    const Buf in = random_buf(nin, 1), w = random_buf(nw, 2, -0.1f, 0.1f), b = random_buf(s.OC, 3);
    Buf out(static_cast<size_t>(nout));
    for (auto _ : st) {
        switch (impl) {
            case ConvImpl::naive:
                evsam::conv2d_forward_naive(out.data(), in.data(), w.data(), b.data(), N, s.C, s.H, s.W, s.OC, s.K,
                                            s.stride, pad, int64_t(1), s.G);
                break;
            case ConvImpl::fast:
                evsam::conv2d_forward(out.data(), in.data(), w.data(), b.data(), N, s.C, s.H, s.W, s.OC, s.K, s.stride,
                                      pad, int64_t(1), s.G, Act::none, cpu{});
                break;
            case ConvImpl::gemm:
                evsam::detail::conv2d_gemm(out.data(), in.data(), w.data(), b.data(), N, s.C, s.H, s.W, s.OC, s.K,
                                           s.stride, pad, int64_t(1), s.G, Act::none);
                break;
            case ConvImpl::winograd:
                evsam::detail::conv2d_winograd_f2x3(out.data(), in.data(), w.data(), b.data(), N, s.C, s.H, s.W, s.OC,
                                                    Act::none);
                break;
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    const double macs = double(nout) * double(s.C / s.G) * double(s.K * s.K);
    set_counters(st, 2 * macs, 4.0 * double(nin + nw + s.OC + nout));
}

// MBConv's 1x1 expand (C -> E, GELU) and depthwise KxK (stride s): the two convs in turn, or in one
// pass (conv2d_expand_depthwise_forward); the layers' packs kept, as in the model; strict or fast.
void bm_expand_dw(State& st, int64_t C, int64_t H, int64_t W, int64_t E, int64_t K, int64_t stride, bool fused,
                  evsam::Precision prec) {
    if (prec == evsam::Precision::fast && !evsam::cpu_has_avx512_bf16()) {
        st.SkipWithError("no AVX512_BF16");
        return;
    }
    evsam::CpuPrecisionScope scope(prec);
    const int64_t pad = K / 2, OH = evsam::conv_out_size(H, K, stride, pad, 1),
                  OW = evsam::conv_out_size(W, K, stride, pad, 1);
    const Buf in = random_buf(C * H * W, 1), w1 = random_buf(E * C, 2, -0.1f, 0.1f), b1 = random_buf(E, 3),
              wd = random_buf(E * K * K, 4, -0.3f, 0.3f), bd = random_buf(E, 5);
    Buf mid(static_cast<size_t>(E * H * W)), out(static_cast<size_t>(E * OH * OW));
    evsam::detail::ConvWeights<float> k1;
    for (auto _ : st) {
        if (fused) {
            evsam::conv2d_expand_depthwise_forward(out.data(), in.data(), w1.data(), b1.data(), Act::gelu_tanh,
                                                   wd.data(), bd.data(), Act::none, int64_t(1), C, H, W, E, K, stride,
                                                   pad, &k1, cpu{});
        } else {
            evsam::conv2d_forward(mid.data(), in.data(), w1.data(), b1.data(), int64_t(1), C, H, W, E, int64_t(1),
                                  int64_t(1), int64_t(0), int64_t(1), int64_t(1), Act::gelu_tanh, &k1, cpu{});
            evsam::conv2d_forward(out.data(), mid.data(), wd.data(), bd.data(), int64_t(1), E, H, W, E, K, stride, pad,
                                  int64_t(1), E, Act::none, cpu{});
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    set_counters(st, 2.0 * double(E) * double(H * W) * double(C) + 2.0 * double(E * OH * OW * K * K),
                 4.0 * double(C * H * W + E * C + E * OH * OW));
}

// conv_transpose2d, kernel == stride (SAM decoder's output upscaling).
void bm_convt(State& st, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t K, bool naive) {
    const int64_t nin = C * H * W, nw = C * OC * K * K, nout = OC * H * K * W * K;
    const Buf in = random_buf(nin, 1), w = random_buf(nw, 2, -0.1f, 0.1f), b = random_buf(OC, 3);
    Buf out(static_cast<size_t>(nout));
    for (auto _ : st) {
        if (naive)
            evsam::conv_transpose2d_forward_naive(out.data(), in.data(), w.data(), b.data(), int64_t(1), C, H, W, OC,
                                                  K);
        else
            evsam::conv_transpose2d_forward(out.data(), in.data(), w.data(), b.data(), int64_t(1), C, H, W, OC, K,
                                            cpu{});
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    set_counters(st, 2.0 * double(nout) * double(C), 4.0 * double(nin + nw + OC + nout));
}

// ------------------------------------------------------------------------------------ element-wise / norm
// In place; the input is restored (untimed) before every call, or repeated GELU would drive the
// negative inputs into denormals.
void bm_act(State& st, int64_t n, Act a, bool naive) {
    const Buf src = random_buf(n, 4, -4.f, 4.f);
    Buf x = src;
    for (auto _ : st) {
        st.PauseTiming();
        std::copy(src.begin(), src.end(), x.begin());
        st.ResumeTiming();
        if (naive)
            evsam::activation_forward_naive(x.data(), n, a);
        else
            evsam::activation_forward(x.data(), n, a, cpu{});
        benchmark::DoNotOptimize(x.data());
        benchmark::ClobberMemory();
    }
    set_counters(st, 0, 8.0 * double(n), double(n));
}

// LayerNorm2d in place (repeating it is stable: the values stay normalised).
void bm_layernorm2d(State& st, int64_t C, int64_t P, bool naive) {
    Buf x = random_buf(C * P, 5);
    const Buf w = random_buf(C, 6, 0.5f, 1.5f), b = random_buf(C, 7, -0.1f, 0.1f);
    for (auto _ : st) {
        if (naive)
            evsam::layernorm2d_forward_naive(x.data(), w.data(), b.data(), 1e-6, int64_t(1), C, P);
        else
            evsam::layernorm2d_forward(x.data(), w.data(), b.data(), 1e-6, int64_t(1), C, P, cpu{});
        benchmark::DoNotOptimize(x.data());
        benchmark::ClobberMemory();
    }
    // per element: mean (1 add), variance (sub, mul, add), normalise (sub, mul, mul, add)
    set_counters(st, 8.0 * double(C * P), 4.0 * double(2 * C * P + 2 * C));
}

// ------------------------------------------------------------------------------------ attention
void bm_linatt(State& st, int64_t NH, int64_t D, int64_t N, bool naive) {
    const int64_t nin = 3 * NH * D * N, nout = NH * D * N;
    const Buf qkv = random_buf(nin, 8);
    Buf out(static_cast<size_t>(nout));
    for (auto _ : st) {
        if (naive)
            evsam::relu_linear_att_forward_naive(out.data(), qkv.data(), int64_t(1), NH, D, N, 1e-15);
        else
            evsam::relu_linear_att_forward(out.data(), qkv.data(), int64_t(1), NH, D, N, 1e-15, cpu{});
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    // vk = [v;1] k^T and o = vk q: 2 * 2 (D+1) D N per head
    set_counters(st, double(NH) * 4.0 * double(D + 1) * double(D) * double(N), 4.0 * double(nin + nout));
}

// SAM decoder attention core: q (NQ, C), k, v (NK, C), H heads.
void bm_attention(State& st, int64_t NQ, int64_t NK, int64_t C, int64_t H, bool naive) {
    const Buf q = random_buf(NQ * C, 9), k = random_buf(NK * C, 10), v = random_buf(NK * C, 11);
    Buf out(static_cast<size_t>(NQ * C));
    for (auto _ : st) {
        if (naive)
            evsam::attention_forward_naive(out.data(), q.data(), k.data(), v.data(), int64_t(1), NQ, NK, C, H);
        else
            evsam::attention_forward(out.data(), q.data(), k.data(), v.data(), int64_t(1), NQ, NK, C, H, cpu{});
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    // q k^T and attn v; the softmax not counted
    set_counters(st, 4.0 * double(NQ) * double(NK) * double(C), 4.0 * double(2 * NQ * C + 2 * NK * C));
}

void bm_linear(State& st, int64_t M, int64_t IN, int64_t OUT, bool naive) {
    const Buf x = random_buf(M * IN, 12), w = random_buf(OUT * IN, 13, -0.1f, 0.1f), b = random_buf(OUT, 14);
    Buf out(static_cast<size_t>(M * OUT));
    for (auto _ : st) {
        if (naive)
            evsam::linear_forward_naive(out.data(), x.data(), w.data(), b.data(), M, IN, OUT);
        else
            evsam::linear_forward(out.data(), x.data(), w.data(), b.data(), M, IN, OUT, cpu{});
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    set_counters(st, 2.0 * double(M) * double(IN) * double(OUT), 4.0 * double(M * IN + OUT * IN + OUT + M * OUT));
}

void bm_bmm(State& st, int64_t M, int64_t K, int64_t P) {
    const Buf a = random_buf(M * K, 15), x = random_buf(K * P, 16);
    Buf out(static_cast<size_t>(M * P));
    for (auto _ : st) {
        evsam::bmm_forward(out.data(), a.data(), x.data(), int64_t(1), M, K, P, cpu{});
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    set_counters(st, 2.0 * double(M) * double(K) * double(P), 4.0 * double(M * K + K * P + M * P));
}

// ------------------------------------------------------------------------------------ resize (one version each)
void bm_resize(State& st, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW, bool cubic) {
    const Buf in = random_buf(NC * H * W, 17);
    Buf out(static_cast<size_t>(NC * OH * OW));
    for (auto _ : st) {
        if (cubic)
            evsam::bicubic_resize_forward(out.data(), in.data(), NC, H, W, OH, OW, cpu{});
        else
            evsam::bilinear_resize_forward(out.data(), in.data(), NC, H, W, OH, OW, cpu{});
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    // interpolation arithmetic per output: bicubic 4 rows x 4 taps + 4 = 20 mul + 15 add;
    // bilinear 6 mul + 3 add. Coefficient computation not counted.
    set_counters(st, (cubic ? 35.0 : 9.0) * double(NC * OH * OW), 4.0 * double(NC * (H * W + OH * OW)));
}

// ------------------------------------------------------------------------------------ GEMM peak
// C = A B, 1024^3 fp32, row-major. eigen_1t: one thread. omp_split: EVSAM_BENCH_THREADS threads,
// each one fixed block of rows, each block a single-threaded Eigen GEMM (how the ops parallelise).
// eigen_mt: Eigen's own OpenMP GEMM with Eigen::setNbThreads(EVSAM_BENCH_THREADS). own_1t, own_split:
// evsam's own kernel (ops/gemm_kernels.hpp, evsam::gemm as the ops call it) on one thread and split as
// omp_split; own_bf16_split: the same under --precision fast (bf16 operands, on AMX tiles where the
// CPU has them, else AVX512_BF16; skipped without it); own_vdpbf16_split: fast on AVX512_BF16 even on
// an AMX CPU (skipped on one without AMX: own_bf16_split is that kernel there).
enum class GemmMode { one_thread, omp_split, eigen_mt, own_1t, own_split, own_bf16_split, own_vdpbf16_split };
void bm_gemm(State& st, int64_t n, GemmMode mode) {
    using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Mat A = Mat::Random(n, n), B = Mat::Random(n, n), C(n, n);
    const bool vdp = mode == GemmMode::own_vdpbf16_split, bf16 = mode == GemmMode::own_bf16_split || vdp;
    const bool own = mode == GemmMode::own_1t || mode == GemmMode::own_split || bf16;
    const bool split = mode == GemmMode::omp_split || mode == GemmMode::own_split || bf16;
    const int parts = split ? g_threads : 1;
    const int64_t rows = (n + parts - 1) / parts;
    if (bf16 && !evsam::cpu_has_avx512_bf16()) {
        st.SkipWithError("no AVX512_BF16 on this CPU");
        return;
    }
    if (vdp && !evsam::cpu_has_amx_bf16()) {
        st.SkipWithError("no AMX on this CPU: own_bf16_split runs on AVX512_BF16");
        return;
    }
    evsam::CpuPrecisionScope prec(bf16 ? evsam::Precision::fast : evsam::Precision::strict);
    evsam::set_cpu_amx_allowed(!vdp);
    Eigen::setNbThreads(mode == GemmMode::eigen_mt ? g_threads : 1);
    for (auto _ : st) {
        if (split) {
#pragma omp parallel for schedule(static) num_threads(parts)
            for (int p = 0; p < parts; ++p) {
                const int64_t r0 = p * rows, nr = std::min(rows, n - r0);
                if (nr <= 0) continue;
                if (own)
                    evsam::gemm(C.middleRows(r0, nr), A.middleRows(r0, nr), B);
                else
                    C.middleRows(r0, nr).noalias() = A.middleRows(r0, nr) * B;
            }
        } else if (own) {
            evsam::gemm(C, A, B);
        } else {
            C.noalias() = A * B;
        }
        benchmark::DoNotOptimize(C.data());
        benchmark::ClobberMemory();
    }
    Eigen::setNbThreads(1);
    evsam::set_cpu_amx_allowed(true);
    set_counters(st, 2.0 * double(n) * double(n) * double(n), 4.0 * 3.0 * double(n * n));
}

// ------------------------------------------------------------------------------------ registration
// Registration order is run order, so the variants of one op print next to each other.
template <class F>
void reg(const std::string& name, benchmark::TimeUnit unit, F&& f) {
    benchmark::RegisterBenchmark(name.c_str(), std::forward<F>(f))->UseRealTime()->Unit(unit);
}

void conv_group(const std::string& op, ConvShape s, std::vector<std::pair<const char*, ConvImpl>> impls,
                benchmark::TimeUnit unit) {
    for (auto& [vname, impl] : impls) {
        const ConvImpl i = impl;
        reg(op + "/" + vname, unit, [s, i](State& st) { bm_conv(st, s, i); });
    }
}

void register_gemm(const std::string& op) {
    reg(op + "/eigen_1t", benchmark::kMillisecond, [](State& st) { bm_gemm(st, 1024, GemmMode::one_thread); });
    reg(op + "/omp_split", benchmark::kMillisecond, [](State& st) { bm_gemm(st, 1024, GemmMode::omp_split); });
    reg(op + "/eigen_mt", benchmark::kMillisecond, [](State& st) { bm_gemm(st, 1024, GemmMode::eigen_mt); });
    reg(op + "/own_1t", benchmark::kMillisecond, [](State& st) { bm_gemm(st, 1024, GemmMode::own_1t); });
    reg(op + "/own_split", benchmark::kMillisecond, [](State& st) { bm_gemm(st, 1024, GemmMode::own_split); });
    reg(op + "/own_bf16_split", benchmark::kMillisecond,
        [](State& st) { bm_gemm(st, 1024, GemmMode::own_bf16_split); });
    reg(op + "/own_vdpbf16_split", benchmark::kMillisecond,
        [](State& st) { bm_gemm(st, 1024, GemmMode::own_vdpbf16_split); });
}

void register_all() {
    using benchmark::kMicrosecond;
    using benchmark::kMillisecond;
    const std::vector<std::pair<const char*, ConvImpl>> naive_fast = {{"naive", ConvImpl::naive},
                                                                      {"fast", ConvImpl::fast}};
    const std::vector<std::pair<const char*, ConvImpl>> dense3x3 = {{"naive", ConvImpl::naive},
                                                                    {"im2col_gemm", ConvImpl::gemm},
                                                                    {"winograd", ConvImpl::winograd},
                                                                    {"fast", ConvImpl::fast}};
    const std::vector<std::pair<const char*, ConvImpl>> dense3x3_big = {
        {"im2col_gemm", ConvImpl::gemm}, {"winograd", ConvImpl::winograd}, {"fast", ConvImpl::fast}};
    const std::vector<std::pair<const char*, ConvImpl>> gemm_fast = {
        {"naive", ConvImpl::naive}, {"im2col_gemm", ConvImpl::gemm}, {"fast", ConvImpl::fast}};

    // The machine's peak first, so every op below can be read against it (and again at the end:
    // on a shared machine either can catch a neighbour's load; the summary uses the higher).
    register_gemm("gemm_1024");

    // Dense 3x3 s1 (Winograd territory). Neck FusedMBConv 256->256 runs at 64x64 in the model,
    // stage-1 FusedMBConv 64->256 at 128x128; the naive pairs run at a quarter of the pixels.
    conv_group("conv3x3_256to256_32x32", {256, 32, 32, 256, 3, 1, 1}, dense3x3, kMillisecond);
    conv_group("conv3x3_64to256_64x64", {64, 64, 64, 256, 3, 1, 1}, dense3x3, kMillisecond);
    conv_group("conv3x3_256to256_64x64", {256, 64, 64, 256, 3, 1, 1}, dense3x3_big, kMillisecond);
    conv_group("conv3x3_64to256_128x128", {64, 128, 128, 256, 3, 1, 1}, dense3x3_big, kMillisecond);
    // Input stem: 3x3 s2, 3->32, 512x512 -> 256x256 (C < 8: im2col GEMM).
    conv_group("conv3x3s2_3to32_512x512", {3, 512, 512, 32, 3, 2, 1}, naive_fast, kMillisecond);
    // 1x1 convs (GEMM on the input in place): MBConv expand 256->1024 (64x64 in the model; naive
    // pair at 32x16, two pixel blocks), and LiteMLA's qkv 512->1536 at 16x16 (one block: row tiles).
    conv_group("conv1x1_256to1024_32x16", {256, 32, 16, 1024, 1, 1, 1}, naive_fast, kMillisecond);
    conv_group("conv1x1_256to1024_64x64", {256, 64, 64, 1024, 1, 1, 1}, {{"fast", ConvImpl::fast}}, kMillisecond);
    conv_group("conv1x1_512to1536_16x16", {512, 16, 16, 1536, 1, 1, 1}, naive_fast, kMillisecond);
    // The L classifiers at 224: MBConv expand 512->3072 and project 3072->512 on stage 5's 7x7 map
    // (49 columns), expand 256->1024 on stage 4's 14x14 (196 columns): one pixel block, row tiles.
    conv_group("conv1x1_512to3072_7x7", {512, 7, 7, 3072, 1, 1, 1}, {{"fast", ConvImpl::fast}}, kMicrosecond);
    conv_group("conv1x1_3072to512_7x7", {3072, 7, 7, 512, 1, 1, 1}, {{"fast", ConvImpl::fast}}, kMicrosecond);
    conv_group("conv1x1_256to1024_14x14", {256, 14, 14, 1024, 1, 1, 1}, {{"fast", ConvImpl::fast}}, kMicrosecond);
    // Depthwise (SIMD direct), real shapes.
    conv_group("dwconv3x3s1_1024_64x64", {1024, 64, 64, 1024, 3, 1, 1024}, naive_fast, kMillisecond);
    conv_group("dwconv3x3s2_1024_64x64", {1024, 64, 64, 1024, 3, 2, 1024}, naive_fast, kMillisecond);
    conv_group("dwconv5x5s1_1536_16x16", {1536, 16, 16, 1536, 5, 1, 1536}, naive_fast, kMicrosecond);
    // LiteMLA grouped 1x1: 1536 channels in 48 groups of 32 (one GEMM per group).
    conv_group("gconv1x1_g48_1536_16x16", {1536, 16, 16, 1536, 1, 1, 48}, naive_fast, kMicrosecond);

    // MBConv's expand and depthwise, in turn and in one pass: L0's first stride-2 MBConv (128 -> 2048 at
    // 64x64), a stride-1 one of stage 3 (256 -> 1024 at 32x32) and of stage 4 (512 -> 2048 at 16x16).
    struct ExpandDwShape {
        const char* name;
        int64_t C, H, W, E, K, stride;
    };
    for (const ExpandDwShape& e : {ExpandDwShape{"mbconv_expand_dw_128to2048_64x64_s2", 128, 64, 64, 2048, 3, 2},
                                   ExpandDwShape{"mbconv_expand_dw_256to1024_32x32", 256, 32, 32, 1024, 3, 1},
                                   ExpandDwShape{"mbconv_expand_dw_512to2048_16x16", 512, 16, 16, 2048, 3, 1}})
        for (auto prec : {evsam::Precision::strict, evsam::Precision::fast})
            for (bool fused : {false, true})
                reg(std::string(e.name) + "/" + (fused ? "one_pass" : "two_convs") +
                        (prec == evsam::Precision::fast ? "_fast" : ""),
                    kMillisecond,
                    [e, fused, prec](State& st) { bm_expand_dw(st, e.C, e.H, e.W, e.E, e.K, e.stride, fused, prec); });

    // LiteMLA ReLU linear attention, 32 heads of dim 32 (16x16 and 32x32 maps).
    for (int64_t N : {256, 1024})
        for (bool naive : {true, false})
            reg("relu_linear_att_nh32_d32_n" + std::to_string(N) + (naive ? "/naive" : "/fast"), kMicrosecond,
                [N, naive](State& st) { bm_linatt(st, 32, 32, N, naive); });

    // LayerNorm2d (neck output, 256 x 64x64) and GELU-tanh (4M floats).
    for (bool naive : {true, false})
        reg(std::string("layernorm2d_c256_p4096/") + (naive ? "naive" : "fast"), kMicrosecond,
            [naive](State& st) { bm_layernorm2d(st, 256, 4096, naive); });
    for (bool naive : {true, false})
        reg(std::string("gelu_tanh_4M/") + (naive ? "naive" : "fast"), kMillisecond,
            [naive](State& st) { bm_act(st, int64_t(1) << 22, Act::gelu_tanh, naive); });

    // Neck upsampling: bicubic to 64x64 on 256 channels (one version).
    reg("bicubic_256ch_16x16to64x64/fast", kMicrosecond, [](State& st) { bm_resize(st, 256, 16, 16, 64, 64, true); });
    reg("bicubic_256ch_32x32to64x64/fast", kMicrosecond, [](State& st) { bm_resize(st, 256, 32, 32, 64, 64, true); });
    // Mask post-processing: 3 masks 256x256 -> 512x512 bilinear (one version).
    reg("bilinear_3ch_256to512/fast", kMicrosecond, [](State& st) { bm_resize(st, 3, 256, 256, 512, 512, false); });

    // SAM mask decoder: cross-attention projections (4096 image tokens, 256 -> 128), the two
    // cross attentions (8 heads, internal dim 128, 7 tokens), output upscaling, mask product.
    for (bool naive : {true, false})
        reg(std::string("linear_m4096_256to128/") + (naive ? "naive" : "fast"), kMillisecond,
            [naive](State& st) { bm_linear(st, 4096, 256, 128, naive); });
    for (bool naive : {true, false})
        reg(std::string("attention_tok2img_q7_k4096_c128_h8/") + (naive ? "naive" : "fast"), kMicrosecond,
            [naive](State& st) { bm_attention(st, 7, 4096, 128, 8, naive); });
    for (bool naive : {true, false})
        reg(std::string("attention_img2tok_q4096_k7_c128_h8/") + (naive ? "naive" : "fast"), kMicrosecond,
            [naive](State& st) { bm_attention(st, 4096, 7, 128, 8, naive); });
    // ConvTranspose 2x2 s2 256->64 runs at 64x64 in the model; the naive pair at 32x32.
    for (bool naive : {true, false})
        reg(std::string("convT2x2_256to64_32x32/") + (naive ? "naive" : "fast"), kMillisecond,
            [naive](State& st) { bm_convt(st, 256, 32, 32, 64, 2, naive); });
    reg("convT2x2_256to64_64x64/fast", kMillisecond, [](State& st) { bm_convt(st, 256, 64, 64, 64, 2, false); });
    reg("bmm_m4_k32_p65536/fast", kMicrosecond, [](State& st) { bm_bmm(st, 4, 32, 65536); });

    register_gemm("gemm_1024_again");
}

// ------------------------------------------------------------------------------------ summary
struct Result {
    double sec = 0, gflops = 0, gbs = 0;
    bool has_flops = false, has_bytes = false;
};

// Console output as usual, and every result kept for the summary.
class Collector : public benchmark::ConsoleReporter {
public:
    Collector() : ConsoleReporter(OO_Tabular) {}
    std::vector<std::string> order;
    std::map<std::string, Result> results;
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& r : runs) {
            if (r.error_occurred || r.run_type != Run::RT_Iteration || r.iterations == 0) continue;
            Result res;
            res.sec = r.real_accumulated_time / static_cast<double>(r.iterations);
            if (auto it = r.counters.find("GFLOP/s"); it != r.counters.end())
                res.gflops = it->second, res.has_flops = true;
            if (auto it = r.counters.find("GB/s"); it != r.counters.end()) res.gbs = it->second, res.has_bytes = true;
            const std::string name = r.run_name.function_name;  // "op/variant" as registered
            if (!results.count(name)) order.push_back(name);
            results[name] = res;
        }
    }
};

std::string time_str(double sec) {
    char b[32];
    if (sec >= 1e-3)
        std::snprintf(b, sizeof b, "%.3f ms", sec * 1e3);
    else
        std::snprintf(b, sizeof b, "%.1f us", sec * 1e6);
    return b;
}

void print_summary(const Collector& c) {
    auto split = [](const std::string& n) {  // "op/variant"
        const auto p = n.rfind('/');
        return std::make_pair(n.substr(0, p), n.substr(p + 1));
    };
    double peak = 0;
    std::string peak_name;
    for (const auto& n : c.order) {
        const auto [op, var] = split(n);
        if (op.rfind("gemm_1024", 0) == 0 && var == "omp_split" && c.results.at(n).gflops > peak)
            peak = c.results.at(n).gflops, peak_name = n;
    }
    std::printf(
        "\nSummary (threads=%d). Baseline = the op's naive reference if it has one, else its first variant;\n"
        "both measured above, in this run. %% peak = GFLOP/s over %s = %.1f GFLOP/s (this run).\n",
        g_threads, peak_name.c_str(), peak);
    std::printf("%-36s %-12s %-12s %12s %12s %9s %9s %9s %7s\n", "op", "variant", "baseline", "baseline t", "time",
                "speedup", "GFLOP/s", "GB/s", "%peak");
    std::map<std::string, std::string> baseline;  // op -> variant
    for (const auto& n : c.order) {
        const auto [op, var] = split(n);
        if (!baseline.count(op) || var == "naive") baseline[op] = var;
    }
    for (const auto& n : c.order) {
        const auto [op, var] = split(n);
        const Result& r = c.results.at(n);
        std::string bname = baseline[op], bt = "-", speed = "-";
        if (bname != var) {
            for (const auto& m : c.order)
                if (split(m) == std::make_pair(op, bname)) {
                    const Result& b = c.results.at(m);
                    bt = time_str(b.sec);
                    char s[32];
                    std::snprintf(s, sizeof s, "%.2fx", b.sec / r.sec);
                    speed = s;
                }
        } else {
            bname = "(self)";
        }
        char fl[32] = "-", gb[32] = "-", pk[32] = "-";
        if (r.has_flops) std::snprintf(fl, sizeof fl, "%.2f", r.gflops);
        if (r.has_bytes) std::snprintf(gb, sizeof gb, "%.2f", r.gbs);
        if (r.has_flops && peak > 0) std::snprintf(pk, sizeof pk, "%.1f%%", 100.0 * r.gflops / peak);
        std::printf("%-36s %-12s %-12s %12s %12s %9s %9s %9s %7s\n", op.c_str(), var.c_str(), bname.c_str(), bt.c_str(),
                    time_str(r.sec).c_str(), speed.c_str(), fl, gb, pk);
    }
}

std::string loadavg() {
    std::ifstream f("/proc/loadavg");
    std::string a, b, c;
    f >> a >> b >> c;
    return a + " " + b + " " + c;
}

}  // namespace

int main(int argc, char** argv) {
    if (const char* e = std::getenv("EVSAM_BENCH_THREADS")) g_threads = std::max(1, std::atoi(e));
    omp_set_num_threads(g_threads);
    Eigen::setNbThreads(1);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    std::printf(
        "evsam bench_ops: EVSAM_BENCH_THREADS=%d (fast ops and omp_split GEMM; naive references run 1 thread)\n",
        g_threads);
    std::printf("load average at start: %s (the numbers are only as quiet as the machine)\n", loadavg().c_str());
    benchmark::AddCustomContext("evsam_threads", std::to_string(g_threads));
    benchmark::AddCustomContext("simd_float_width", std::to_string(evsam::simd::width<float>));
    benchmark::AddCustomContext("loadavg_at_start", loadavg());
    register_all();
    Collector rep;
    benchmark::RunSpecifiedBenchmarks(&rep);
    print_summary(rep);
    std::printf("load average at end: %s\n", loadavg().c_str());
    benchmark::Shutdown();
    return 0;
}
