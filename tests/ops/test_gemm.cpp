// ops/gemm.hpp and ops/gemm_kernels.hpp: the product every CPU op computes with, the depth cut into
// fixed chunks. It is the product (against a double naive loop, within the op entry), it is at least
// as accurate as one running sum on a deep product (the reason for the chunks), and it accumulates
// and handles an empty depth. evsam's own kernels (AVX-512, AVX2, portable) give the same bits as
// each other on every operand layout and ragged shape, and match Eigen's GEMM (the reference) within
// the op entry; the bf16 kernel gives the bits of its portable emulation and the exact product of
// the rounded operands.
#include <gtest/gtest.h>
#include <omp.h>

#include <evsam/ops/conv2d.hpp>  // BiasActPlus, the conv's epilogue
#include <evsam/ops/gemm.hpp>
#include <evsam/ops/gemm_kernels.hpp>

#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_gemm {

namespace {

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

evsam::Tensor<double> naive_product(const evsam::Tensor<float>& a, const evsam::Tensor<float>& b, int64_t M, int64_t K,
                                    int64_t N) {
    evsam::Tensor<double> r({M, N});
    for (int64_t m = 0; m < M; ++m)
        for (int64_t k = 0; k < K; ++k)
            for (int64_t n = 0; n < N; ++n) r[m * N + n] += static_cast<double>(a[m * K + k]) * b[k * N + n];
    return r;
}

TEST(Gemm, IsTheProduct) {
    // depths below, at and across the chunk, one output, wide and tall results
    for (auto [M, K, N] :
         std::vector<std::array<int64_t, 3>>{{7, 5, 9}, {64, 64, 33}, {17, 200, 31}, {1, 1, 1}, {3, 1000, 2}}) {
        const auto a = evsam_test::random_tensor<float>({M, K}, 81), b = evsam_test::random_tensor<float>({K, N}, 82);
        evsam::Tensor<float> y({M, N});
        evsam::gemm(Eigen::Map<Mat>(y.data(), M, N), Eigen::Map<const Mat>(a.data(), M, K),
                    Eigen::Map<const Mat>(b.data(), K, N));
        const auto r = evsam::compare(y, naive_product(a, b, M, K, N), evsam::kTolOpFloat, "gemm");
        EXPECT_TRUE(r.ok) << M << "x" << K << "x" << N << ": " << r.message;
    }
}

TEST(Gemm, AccumulatesAndHandlesAnEmptyDepth) {
    const auto a = evsam_test::random_tensor<float>({4, 100}, 83), b = evsam_test::random_tensor<float>({100, 6}, 84);
    evsam::Tensor<float> y({4, 6}, 1.0f), z({4, 6}, 5.0f);
    evsam::gemm(Eigen::Map<Mat>(y.data(), 4, 6), Eigen::Map<const Mat>(a.data(), 4, 100),
                Eigen::Map<const Mat>(b.data(), 100, 6),
                /*accumulate=*/true);
    const auto ref = naive_product(a, b, 4, 100, 6);
    evsam::Tensor<double> ref1 = ref;
    for (auto& v : ref1) v += 1.0;
    EXPECT_TRUE(evsam::compare(y, ref1, evsam::kTolOpFloat, "accumulate").ok);
    evsam::gemm(Eigen::Map<Mat>(z.data(), 4, 6), Eigen::Map<const Mat>(a.data(), 4, 0),
                Eigen::Map<const Mat>(b.data(), 0, 6));
    for (float v : z) EXPECT_EQ(v, 0.0f);  // an empty sum
}

// A 1x1 conv over 512 channels (stage 1 of L0): against fp64, the chunked accumulation is at
// least 1.5x more accurate than one running sum over the whole depth, which is what Eigen's product
// does when its depth block is the whole K (measured here: 1.4e-7 vs 4.0e-7 relative L2; Eigen's
// own product, whose depth block depends on the machine's cache sizes, 2.9e-7).
TEST(Gemm, DeepProductsAreMoreAccurateThanARunningSum) {
    const int64_t M = 64, K = 512, N = 4096;
    auto a = evsam_test::random_tensor<float>({M, K}, 85, -0.1, 0.1),
         b = evsam_test::random_tensor<float>({K, N}, 86, 0, 1);
    const auto ref = naive_product(a, b, M, K, N);
    evsam::Tensor<float> chunked({M, N}), one({M, N});
    evsam::gemm(Eigen::Map<Mat>(chunked.data(), M, N), Eigen::Map<const Mat>(a.data(), M, K),
                Eigen::Map<const Mat>(b.data(), K, N));
    for (int64_t m = 0; m < M; ++m)  // one float running sum per output, k = 0 .. K-1
        for (int64_t n = 0; n < N; ++n) {
            float acc = 0;
            for (int64_t k = 0; k < K; ++k) acc += a[m * K + k] * b[k * N + n];
            one[m * N + n] = acc;
        }
    const auto rc = evsam::compare(chunked, ref, evsam::kTolOpFloat, "chunked");
    const auto r1 = evsam::compare(one, ref, evsam::kTolOpFloat, "one running sum");
    EXPECT_TRUE(rc.ok) << rc.message;
    EXPECT_LT(rc.rel_l2 * 1.5, r1.rel_l2) << rc.message << " | " << r1.message;
    std::cout << rc.message << "\n" << r1.message << "\n";
}

// One product on one kernel, A (M x K) and B (K x N) stored as given (transposed: the operand's
// transpose is what is stored, row-major), into Y with row stride ldy >= N.
struct Case {
    int64_t M, K, N;
    bool at, bt, accumulate;
};

evsam::Tensor<float> run_kernel(evsam::gemm_kernel::Kind kind, const Case& c, const evsam::Tensor<float>& a,
                                const evsam::Tensor<float>& b, const evsam::Tensor<float>& y0, int64_t ldy) {
    using evsam::gemm_kernel::Operand;
    const Operand A = c.at ? Operand{a.data(), 1, c.M} : Operand{a.data(), c.K, 1};
    const Operand B = c.bt ? Operand{b.data(), 1, c.K} : Operand{b.data(), c.N, 1};
    evsam::Tensor<float> y = y0;
    evsam::gemm_kernel::gemm(kind, c.M, c.N, c.K, A, B, y.data(), ldy, c.accumulate);
    return y;
}

// The exact product in double of the operands as the kernel reads them (rounded to bf16 first when
// round is set), plus the initial Y when accumulating; the padding columns of Y stay as they were.
evsam::Tensor<double> exact(const Case& c, const evsam::Tensor<float>& a, const evsam::Tensor<float>& b,
                            const evsam::Tensor<float>& y0, int64_t ldy, bool round) {
    auto q = [round](float v) {
        return round ? static_cast<double>(evsam::gemm_kernel::from_bf16(evsam::gemm_kernel::to_bf16(v)))
                     : static_cast<double>(v);
    };
    evsam::Tensor<double> r({c.M, ldy});
    for (int64_t i = 0; i < c.M; ++i)
        for (int64_t j = 0; j < ldy; ++j) {
            double s = (c.accumulate || j >= c.N) ? y0[i * ldy + j] : 0.0;
            if (j < c.N)
                for (int64_t k = 0; k < c.K; ++k)
                    s += q(c.at ? a[k * c.M + i] : a[i * c.K + k]) * q(c.bt ? b[j * c.K + k] : b[k * c.N + j]);
            r[i * ldy + j] = s;
        }
    return r;
}

const std::vector<Case>& cases() {
    // ragged rows / columns / depths around the tiles (12 x 32, 6 x 16, 4 x 16), the depth chunk (64)
    // and block (256); both layouts of both operands; accumulating and not
    static const std::vector<Case> c = {
        {1, 1, 1, false, false, false},     {7, 15, 33, false, false, true},  {12, 64, 32, false, false, false},
        {13, 65, 31, true, false, false},   {30, 257, 70, false, true, true}, {24, 600, 96, true, true, false},
        {5, 17, 200, false, true, false},   {37, 256, 64, true, false, true}, {12, 16, 16, false, true, false},
        {61, 513, 45, false, false, false}, {3, 1000, 2, false, true, true},  {50, 300, 129, true, true, true},
    };
    return c;
}

std::vector<evsam::gemm_kernel::Kind> f32_kinds() {
    using evsam::gemm_kernel::Kind;
    std::vector<Kind> k = {Kind::f32_portable};
    if (evsam::cpu_best_isa() >= evsam::CpuIsa::avx2) k.push_back(Kind::f32_avx2);
    if (evsam::cpu_best_isa() >= evsam::CpuIsa::avx512) k.push_back(Kind::f32_avx512);
    return k;
}

TEST(GemmKernels, EveryInstructionSetGivesTheSameBitsAndTheProduct) {
    std::cout << "kernels run here: portable" << (f32_kinds().size() > 1 ? ", avx2" : "")
              << (f32_kinds().size() > 2 ? ", avx512" : "") << "\n";
    uint32_t seed = 100;
    for (const Case& c : cases()) {
        const int64_t ldy = c.N + 3;
        const auto a = evsam_test::random_tensor<float>({c.M * c.K}, seed++),
                   b = evsam_test::random_tensor<float>({c.K * c.N}, seed++),
                   y0 = evsam_test::random_tensor<float>({c.M, ldy}, seed++);
        const auto ref = exact(c, a, b, y0, ldy, false);
        const auto first = run_kernel(f32_kinds()[0], c, a, b, y0, ldy);
        const std::string what = std::to_string(c.M) + "x" + std::to_string(c.K) + "x" + std::to_string(c.N) +
                                 (c.at ? " At" : "") + (c.bt ? " Bt" : "") + (c.accumulate ? " +=" : "");
        const auto r = evsam::compare(first, ref, evsam::kTolOpFloat, what);
        EXPECT_TRUE(r.ok) << r.message;
        for (auto kind : f32_kinds())
            EXPECT_TRUE(evsam_test::bitwise_equal(run_kernel(kind, c, a, b, y0, ldy), first))
                << what << " kernel " << static_cast<int>(kind);
    }
}

// Against the reference (Eigen's GEMM, chunked the same way) through gemm(): the op entry.
TEST(GemmKernels, MatchesEigensGemm) {
    for (const Case& c : cases()) {
        const auto a = evsam_test::random_tensor<float>({c.M, c.K}, 7),
                   b = evsam_test::random_tensor<float>({c.K, c.N}, 8);
        evsam::Tensor<float> own({c.M, c.N}, 0.5f), eig({c.M, c.N}, 0.5f);
        Eigen::Map<const Mat> A(a.data(), c.M, c.K), B(b.data(), c.K, c.N);
        evsam::gemm(Eigen::Map<Mat>(own.data(), c.M, c.N), A, B, c.accumulate);
        evsam::gemm_reference(Eigen::Map<Mat>(eig.data(), c.M, c.N), A, B, c.accumulate);
        const auto r = evsam::compare(own, eig, evsam::kTolOpFloat, "own vs Eigen");
        EXPECT_TRUE(r.ok) << r.message;
        // a column-major result runs as the transposed product
        // (Y^T = B^T A^T: the same fused multiply-adds in the same order, so the same bits)
        Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic> cm(c.M, c.N);
        cm.setConstant(0.5f);
        evsam::gemm(cm, A, B, c.accumulate);
        evsam::Tensor<float> cm_rows({c.M, c.N});
        Eigen::Map<Mat>(cm_rows.data(), c.M, c.N) = cm;
        EXPECT_TRUE(evsam_test::bitwise_equal(cm_rows, own));
    }
}

// A left operand packed once (GemmLhs: a layer's weights) gives the bits of the unpacked product.
TEST(GemmKernels, PackedLhsGivesTheSameBits) {
    const int64_t M = 37, K = 300, N = 100;
    const auto a = evsam_test::random_tensor<float>({M, K}, 9), b = evsam_test::random_tensor<float>({K, N}, 10);
    evsam::Tensor<float> y1({M, N}), y2({M, N});
    Eigen::Map<const Mat> A(a.data(), M, K), B(b.data(), K, N);
    evsam::gemm(Eigen::Map<Mat>(y1.data(), M, N), A, B);
    const evsam::GemmLhs<float> L(a.data(), M, K, K, 1);
    L.product(Eigen::Map<Mat>(y2.data(), M, N), B);
    EXPECT_TRUE(evsam_test::bitwise_equal(y2, y1));
}

// A right operand packed once (PackedRhs: an activation block that several row tiles share, as the
// conv does on small maps) gives the bits of the unpacked product, tile by tile, for every kernel:
// depths over several blocks (kKc = 256), ragged columns, packed whole (pack) or from each task's
// own piece (pack_piece, as the conv's im2col pieces), or in ranges of depths (pack_depths, as
// MBConv's depthwise channels: ranges across the ends of depth blocks, out of order; one off the
// kernel's depth pairs refused).
TEST(GemmKernels, PackedRhsGivesTheSameBits) {
    const int64_t M = 50, K = 600, N = 75;
    const auto a = evsam_test::random_tensor<float>({M, K}, 11), b = evsam_test::random_tensor<float>({K, N}, 12);
    Eigen::Map<const Mat> B(b.data(), K, N);
    std::vector<evsam::gemm_kernel::Kind> kinds = f32_kinds();
    kinds.push_back(evsam::gemm_kernel::kind_bf16(false));
    kinds.push_back(evsam::gemm_kernel::Kind::bf16_amx_portable);
    if (evsam::cpu_has_amx_bf16()) kinds.push_back(evsam::gemm_kernel::Kind::bf16_amx);
    for (auto kind : kinds) {
        SCOPED_TRACE(static_cast<int>(kind));
        const evsam::gemm_kernel::PackedLhs L(kind, {a.data(), K, 1}, M, K);
        evsam::Tensor<float> ref({M, N});
        L.product({b.data(), N, 1}, N, ref.data(), N, false);
        for (const char* how : {"pack", "pack_piece", "pack_depths"}) {
            const bool pieces = how == std::string("pack_piece");
            evsam::gemm_kernel::PackedRhs R;
            R.reset(kind, K, N);
            ASSERT_EQ(R.tasks() % 3, 0);  // three depth blocks (600 = 256 + 256 + 88), each of 3 to 5 panels
            ASSERT_GE(R.tasks(), 9);
            if (how == std::string("pack_depths")) {  // in this order, each from a copy of just its rows
                const int64_t cuts[] = {0, 96, 224, 288, 320, 544, 600};  // multiples of AMX's 32
                for (int64_t i : {3, 0, 5, 1, 4, 2}) {
                    const int64_t k0 = cuts[i], kc = cuts[i + 1] - k0;
                    std::vector<float> rows(b.data() + k0 * N, b.data() + (k0 + kc) * N);
                    R.pack_depths(k0, kc, {rows.data(), N, 1});
                }
                if (kind != evsam::gemm_kernel::Kind::f32_portable && kind != evsam::gemm_kernel::Kind::f32_avx2 &&
                    kind != evsam::gemm_kernel::Kind::f32_avx512) {
                    EXPECT_THROW(R.pack_depths(1, 32, {b.data() + N, N, 1}), std::logic_error);
                }
            }
            for (int64_t t = 0; t < R.tasks() && how != std::string("pack_depths"); ++t) {
                if (!pieces) {
                    R.pack(t, {b.data(), N, 1});
                    continue;
                }
                const auto k = R.task(t);  // a copy of just this task's piece, row stride nc
                std::vector<float> piece(static_cast<size_t>(k.kc * k.nc));
                for (int64_t i = 0; i < k.kc; ++i)
                    for (int64_t j = 0; j < k.nc; ++j) piece[static_cast<size_t>(i * k.nc + j)] = B(k.k0 + i, k.j0 + j);
                R.pack_piece(t, {piece.data(), k.nc, 1});
            }
            evsam::Tensor<float> y({M, N});
            const int64_t a0 = L.row_align();  // two row tiles, the second from a panel boundary
            for (int64_t i0 : {int64_t{0}, a0}) L.product_rows(i0, i0 ? M - i0 : a0, R, y.data() + i0 * N, N, false);
            EXPECT_TRUE(evsam_test::bitwise_equal(y, ref)) << how;
        }
        evsam::gemm_kernel::PackedRhs other;  // packed for another depth: refused
        other.reset(kind, K - 1, N);
        evsam::Tensor<float> y({M, N});
        EXPECT_THROW(L.product_rows(0, M, other, y.data(), N, false), std::logic_error);
    }
}

// bf16 (the fast precision): the AVX512_BF16 kernel and the portable emulation agree bit for bit; the
// result is the exact product of the bf16-rounded operands to fp32 accuracy; against the fp32
// product its relative L2 error is that of bf16's rounding (unit roundoff 2^-9 per operand).
TEST(GemmKernels, Bf16IsTheProductOfTheRoundedOperands) {
    using evsam::gemm_kernel::Kind;
    const bool native = evsam::cpu_has_avx512_bf16();
    std::cout << "AVX512_BF16: " << (native ? "yes" : "no (the emulation alone is checked)") << "\n";
    uint32_t seed = 300;
    for (const Case& c : cases()) {
        const int64_t ldy = c.N + 1;
        const auto a = evsam_test::random_tensor<float>({c.M * c.K}, seed++),
                   b = evsam_test::random_tensor<float>({c.K * c.N}, seed++),
                   y0 = evsam_test::random_tensor<float>({c.M, ldy}, seed++);
        const auto emu = run_kernel(Kind::bf16_portable, c, a, b, y0, ldy);
        const auto r =
            evsam::compare(emu, exact(c, a, b, y0, ldy, true), evsam::kTolOpFloat, "bf16 vs rounded operands");
        EXPECT_TRUE(r.ok) << r.message;
        if (c.K >= 64 && !c.accumulate) {
            const auto r32 = evsam::compare(emu, exact(c, a, b, y0, ldy, false), evsam::kTolOpFloat, "bf16 vs fp32");
            EXPECT_LT(r32.rel_l2, evsam::kMaxRelL2Bf16Product) << r32.message;
            EXPECT_GT(r32.rel_l2, 1e-4) << "bf16 rounding should show: " << r32.message;
        }
        if (native) {
            EXPECT_TRUE(evsam_test::bitwise_equal(run_kernel(Kind::bf16_avx512, c, a, b, y0, ldy), emu));
        }
    }
}

// AMX (fast's kernel where the CPU has it): its emulation and the tiles are the exact product of the
// rounded operands to fp32 accuracy, over ragged shapes around its 32 x 32 tile and 32-depth groups,
// both layouts, accumulating. Not bit for bit: TDPBF16PS's order of summation inside a tile
// instruction is not Intel's pseudo-code's (measured here: neither pair order, nor exact pair or
// group sums, reproduces it), so the tiles are held to the tolerance, and their bits are their own.
TEST(GemmKernels, AmxIsTheProductOfTheRoundedOperands) {
    using evsam::gemm_kernel::Kind;
    const bool native = evsam::cpu_has_amx_bf16();
    std::cout << "AMX-BF16: " << (native ? "yes" : "no (the emulation alone is checked)") << "\n";
    uint32_t seed = 500;
    std::vector<Case> cs = cases();
    cs.push_back({32, 32, 32, false, false, false});
    cs.push_back({64, 300, 96, false, false, true});
    cs.push_back({33, 31, 65, true, true, false});
    for (const Case& c : cs) {
        const int64_t ldy = c.N + 5;
        const auto a = evsam_test::random_tensor<float>({c.M * c.K}, seed++),
                   b = evsam_test::random_tensor<float>({c.K * c.N}, seed++),
                   y0 = evsam_test::random_tensor<float>({c.M, ldy}, seed++);
        const auto emu = run_kernel(Kind::bf16_amx_portable, c, a, b, y0, ldy);
        const std::string what = std::to_string(c.M) + "x" + std::to_string(c.K) + "x" + std::to_string(c.N);
        const auto r = evsam::compare(emu, exact(c, a, b, y0, ldy, true), evsam::kTolOpFloat, "amx vs rounded " + what);
        EXPECT_TRUE(r.ok) << r.message;
        if (native) {
            const auto tiles = run_kernel(Kind::bf16_amx, c, a, b, y0, ldy);
            const auto rt = evsam::compare(tiles, exact(c, a, b, y0, ldy, true), evsam::kTolOpFloat, "tiles " + what);
            EXPECT_TRUE(rt.ok) << rt.message;
            const auto re = evsam::compare(tiles, emu, evsam::kTolOpFloat, "tiles vs emulation " + what);
            EXPECT_TRUE(re.ok) << re.message;
        }
    }
}

// AMX's 32-row tiles, written to rows a multiple of 4 KiB apart, take their only depth block through
// an L1 tile and the epilogue's write (macro_block): the same bits as into rows that are not, with
// the conv's epilogue (bias, tanh-GELU, a residual sum), ragged edges, and depths of one block (the
// staged path) and of two (not staged). The portable emulation has the same 32-row panels, so a CPU
// without AMX runs the staged path too.
TEST(GemmKernels, AmxThroughAnL1TileGivesTheSameBits) {
    using evsam::gemm_kernel::Kind;
    std::vector<Kind> kinds = {Kind::bf16_amx_portable};
    if (evsam::cpu_has_amx_bf16()) kinds.push_back(Kind::bf16_amx);
    const int64_t M = 70, N = 1000;
    uint32_t seed = 700;
    for (Kind kind : kinds)
        for (int64_t K : {200, 300}) {
            SCOPED_TRACE(std::to_string(static_cast<int>(kind)) + " K=" + std::to_string(K));
            const auto a = evsam_test::random_tensor<float>({M * K}, seed++),
                       b = evsam_test::random_tensor<float>({K * N}, seed++),
                       bias = evsam_test::random_tensor<float>({M}, seed++),
                       plus = evsam_test::random_tensor<float>({M * N}, seed++);
            const evsam::gemm_kernel::PackedLhs L(kind, {a.data(), K, 1}, M, K);
            std::vector<evsam::Tensor<float>> ys;
            for (int64_t ld : {int64_t{1024}, int64_t{1040}}) {  // 4 KiB apart (staged), and not
                evsam::Tensor<float> out({M, ld}), pl({M, ld}), y({M, N});
                for (int64_t i = 0; i < M; ++i) std::copy(&plus[i * N], &plus[i * N] + N, &pl[i * ld]);
                const evsam::detail::BiasActPlus ep{{bias.data(), evsam::Act::gelu_tanh}, out.data(), pl.data()};
                L.product_rows(0, M, {b.data(), N, 1}, N, out.data(), ld, false, ep.epilogue());
                for (int64_t i = 0; i < M; ++i) std::copy(&out[i * ld], &out[i * ld] + N, &y[i * N]);
                ys.push_back(y);
            }
            EXPECT_TRUE(evsam_test::bitwise_equal(ys[0], ys[1]));
            // and it is the product, with the epilogue: against the double product of the operands
            evsam::Tensor<double> ref = naive_product(a, b, M, K, N);
            for (int64_t i = 0; i < M; ++i)
                for (int64_t j = 0; j < N; ++j) {
                    const double v = ref[i * N + j] + bias[i];
                    ref[i * N + j] =
                        v / (1 + std::exp(-2 * 0.7978845608028654 * (v + 0.044715 * v * v * v))) + plus[i * N + j];
                }
            double e2 = 0, r2 = 0;
            for (int64_t i = 0; i < M * N; ++i) e2 += std::pow(ys[0][i] - ref[i], 2), r2 += ref[i] * ref[i];
            EXPECT_LE(std::sqrt(e2 / r2), evsam::kMaxRelL2Bf16Product);
        }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target("amx-tile"))) void load_tiles(const evsam::gemm_kernel::AmxTileConfig& c) {
    _tile_loadconfig(&c);
}
__attribute__((target("amx-tile"))) evsam::gemm_kernel::AmxTileConfig stored_tiles() {
    evsam::gemm_kernel::AmxTileConfig c;
    _tile_storeconfig(&c);
    return c;
}
__attribute__((target("amx-tile"))) void release_tiles() { _tile_release(); }

// Other libraries in the process (oneDNN) configure the tiles with their own shapes: an AMX product
// puts a foreign configuration back, and runs after the tiles were released.
TEST(GemmKernels, AmxPutsAForeignTileConfigurationBack) {
    if (!evsam::cpu_has_amx_bf16()) GTEST_SKIP() << "no AMX on this CPU";
    using evsam::gemm_kernel::Kind;
    const Case c{40, 70, 50, false, false, false};
    const auto a = evsam_test::random_tensor<float>({c.M * c.K}, 1),
               b = evsam_test::random_tensor<float>({c.K * c.N}, 2),
               y0 = evsam_test::random_tensor<float>({c.M, c.N}, 3);
    evsam::gemm_kernel::AmxTileConfig foreign;  // someone else's shapes: 3 tiles of 8 rows x 32 bytes
    for (int t = 0; t < 3; ++t) {
        foreign.colsb[t] = 32;
        foreign.rows[t] = 8;
    }
    load_tiles(foreign);
    const auto y1 = run_kernel(Kind::bf16_amx, c, a, b, y0, c.N);
    const auto after = stored_tiles();
    EXPECT_EQ(std::memcmp(&foreign, &after, sizeof foreign), 0) << "the foreign configuration was lost";
    release_tiles();
    const auto y2 = run_kernel(Kind::bf16_amx, c, a, b, y0, c.N);  // configures its own again
    EXPECT_EQ(stored_tiles().palette, 1);
    EXPECT_TRUE(evsam_test::bitwise_equal(y1, y2));
    const auto y3 = run_kernel(Kind::bf16_amx, c, a, b, y0, c.N);  // its own, left from the last call
    EXPECT_TRUE(evsam_test::bitwise_equal(y1, y3));
}
#endif

TEST(GemmKernels, Bf16RoundsToNearestEven) {
    using evsam::gemm_kernel::from_bf16;
    using evsam::gemm_kernel::to_bf16;
    EXPECT_EQ(from_bf16(to_bf16(1.0f)), 1.0f);
    EXPECT_EQ(from_bf16(to_bf16(1.0f + 1.0f / 256)), 1.0f);               // a tie: to even (down)
    EXPECT_EQ(from_bf16(to_bf16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);  // a tie: to even (up)
    EXPECT_EQ(from_bf16(to_bf16(1.0f + 1.0f / 256 + 1e-6f)), 1.0f + 2.0f / 256);
    EXPECT_TRUE(std::isnan(from_bf16(to_bf16(NAN))));
    EXPECT_EQ(from_bf16(to_bf16(INFINITY)), INFINITY);
    EXPECT_EQ(from_bf16(to_bf16(1e-40f)), 0.0f);  // denormals flush, as VCVTNEPS2BF16
}

TEST(GemmKernels, FastPrecisionRoutesGemmToBf16) {
    if (!evsam::cpu_has_avx512_bf16()) {
        EXPECT_THROW(evsam::set_cpu_precision(evsam::Precision::fast), evsam::Error);
        GTEST_SKIP() << "no AVX512_BF16 on this CPU: fast refuses (checked)";
    }
    const int64_t M = 20, K = 128, N = 40;
    const auto a = evsam_test::random_tensor<float>({M, K}, 11), b = evsam_test::random_tensor<float>({K, N}, 12);
    evsam::Tensor<float> fast({M, N}), emu({M, N});
    {
        evsam::CpuPrecisionScope scope(evsam::Precision::fast);
        evsam::gemm(Eigen::Map<Mat>(fast.data(), M, N), Eigen::Map<const Mat>(a.data(), M, K),
                    Eigen::Map<const Mat>(b.data(), K, N));
    }
    EXPECT_EQ(evsam::cpu_precision(), evsam::Precision::strict);  // the scope put it back
    using evsam::gemm_kernel::Kind;  // the kernel fast runs on here: AMX's tiles, else AVX512_BF16's
    const Kind native = evsam::cpu_uses_amx() ? Kind::bf16_amx : Kind::bf16_avx512;
    EXPECT_EQ(evsam::gemm_kernel::current_kind(), Kind::f32_avx512);
    evsam::gemm_kernel::gemm(native, M, N, K, {a.data(), K, 1}, {b.data(), N, 1}, emu.data(), N, false);
    EXPECT_TRUE(evsam_test::bitwise_equal(fast, emu));
}

}  // namespace

}  // namespace test_gemm
