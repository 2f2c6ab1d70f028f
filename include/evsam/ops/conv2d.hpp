// evsam: 2-D convolution, NCHW (torch.nn.functional.conv2d semantics, zero padding).
//
// Size letters: N batch, C input channels, H x W input size, OC output channels,
// OH x OW output size, K kernel side, G groups (C/G input and OC/G output
// channels per group). weight is (OC, C/G, K, K); bias is (OC,) or null.
//
//   conv2d_forward_naive : the reference, one loop nest per output element.
//   conv2d_forward       : the fast path, with the bias and an activation fused into its epilogue.
//                          groups == 1 -> im2col + GEMM (Eigen; 1x1 convs read the input in
//                          place); depthwise (G == C == OC) -> SIMD direct loops over a padded
//                          copy of each channel; other grouped convs -> one GEMM per group.
// Work is split into fixed-size column blocks (kColBlock output pixels), never
// by thread count, so the result is bit-identical whatever the number of threads.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "evsam/backend/backend.hpp"
#include "evsam/ops/gemm.hpp"
#include "evsam/ops/simd.hpp"  // Eigen and xsimd, with the intrinsics
#include "evsam/core/tensor.hpp"
#include "evsam/ops/activation.hpp"

namespace evsam {

inline int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dilation) {
    return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

template <class T>
void conv2d_forward_naive(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H,
                          int64_t W, int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G) {
    const int64_t OH = conv_out_size(H, K, stride, pad, dilation), OW = conv_out_size(W, K, stride, pad, dilation);
    const int64_t Cg = C / G, OCg = OC / G;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t oc = 0; oc < OC; ++oc) {
            const int64_t g = oc / OCg;
            for (int64_t oy = 0; oy < OH; ++oy)
                for (int64_t ox = 0; ox < OW; ++ox) {
                    T acc = bias ? bias[oc] : T(0);
                    for (int64_t ci = 0; ci < Cg; ++ci)
                        for (int64_t ky = 0; ky < K; ++ky) {
                            const int64_t iy = oy * stride - pad + ky * dilation;
                            if (iy < 0 || iy >= H) continue;
                            for (int64_t kx = 0; kx < K; ++kx) {
                                const int64_t ix = ox * stride - pad + kx * dilation;
                                if (ix < 0 || ix >= W) continue;
                                acc += weight[((oc * Cg + ci) * K + ky) * K + kx] *
                                       in[((n * C + g * Cg + ci) * H + iy) * W + ix];
                            }
                        }
                    out[((n * OC + oc) * OH + oy) * OW + ox] = acc;
                }
        }
}

namespace detail {

constexpr int64_t kColBlock = 256;  // output pixels per GEMM block (fixed: determinism)

inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }  // b > 0

// dst[0 .. n) = act(dst + b): the conv epilogue (bias, folded BatchNorm shift, fused activation).
template <class T>
inline void bias_act_row(T* dst, int64_t n, T b, Act act) {
    if (b == T(0) && act == Act::none) return;
    simd::map(dst, dst, n, [b, act](simd::vec<T> v) { return act_apply(act, v + simd::vec<T>(b)); });
}

// Generic depthwise (any stride/dilation): each channel through the naive conv, then the epilogue.
template <class T>
void conv2d_depthwise_generic(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H,
                              int64_t W, int64_t K, int64_t stride, int64_t pad, int64_t dilation, Act act) {
    const int64_t OH = conv_out_size(H, K, stride, pad, dilation), OW = conv_out_size(W, K, stride, pad, dilation);
#pragma omp parallel for schedule(static)
    for (int64_t nc = 0; nc < N * C; ++nc) {
        const int64_t c = nc % C;
        T* dst = out + nc * OH * OW;
        conv2d_forward_naive(dst, in + nc * H * W, weight + c * K * K, static_cast<const T*>(nullptr), 1, 1, H, W, 1, K,
                             stride, pad, dilation, 1);
        bias_act_row(dst, OH * OW, bias ? bias[c] : T(0), act);
    }
}

// Depthwise, stride 1 or 2, no dilation (every depthwise conv in EfficientViT-SAM), SIMD along x.
// Each channel is copied once into a zero-padded plane whose rows are wide enough for whole vectors,
// so the inner loop is branch-free: acc = bias; acc = fma(x, w[ky][kx], acc) in (ky, kx) order.
// Stride 2 splits the padded plane into its even and odd columns, so the loads stay contiguous.
template <class T>
void conv2d_depthwise(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                      int64_t K, int64_t stride, int64_t pad, int64_t dilation, Act act) {
    if (dilation != 1 || stride > 2)
        return conv2d_depthwise_generic(out, in, weight, bias, N, C, H, W, K, stride, pad, dilation, act);
    using V = simd::vec<T>;
    constexpr int64_t VW = simd::width<T>;
    const int64_t OH = conv_out_size(H, K, stride, pad, 1), OW = conv_out_size(W, K, stride, pad, 1);
    const int64_t OWr = (OW + VW - 1) / VW * VW;
    const int64_t Hp = H + 2 * pad;
    const int64_t Wq = OWr + K;  // columns of each plane (stride 1: one plane; stride 2: even, odd)
    const int64_t planes = stride;
#pragma omp parallel
    {
        const int64_t row_at = (planes * Hp * Wq + 15) / 16 * 16;  // 64-byte aligned output row
        std::vector<T, AlignedAllocator<T>> buf(static_cast<size_t>(row_at + OWr));
        T* row = buf.data() + row_at;
#pragma omp for schedule(static)
        for (int64_t nc = 0; nc < N * C; ++nc) {
            const int64_t c = nc % C;
            const T* src = in + nc * H * W;
            const T* wk = weight + c * K * K;
            T* dst = out + nc * OH * OW;
            std::fill(buf.begin(), buf.begin() + planes * Hp * Wq, T(0));
            for (int64_t iy = 0; iy < H; ++iy) {
                const T* s = src + iy * W;
                if (stride == 1) {
                    std::copy(s, s + W, buf.data() + (iy + pad) * Wq + pad);
                } else {
                    for (int64_t ix = 0; ix < W; ++ix) {
                        const int64_t x = ix + pad;
                        buf[static_cast<size_t>(((x & 1) * Hp + iy + pad) * Wq + (x >> 1))] = s[ix];
                    }
                }
            }
            const V b(bias ? bias[c] : T(0));
            for (int64_t oy = 0; oy < OH; ++oy) {
                for (int64_t ox = 0; ox < OWr; ox += VW) {
                    V acc = b;
                    for (int64_t ky = 0; ky < K; ++ky) {
                        const int64_t r = oy * stride + ky;
                        for (int64_t kx = 0; kx < K; ++kx) {
                            const T* p = stride == 1 ? buf.data() + r * Wq + ox + kx
                                                     : buf.data() + ((kx & 1) * Hp + r) * Wq + ox + (kx >> 1);
                            acc = xsimd::fma(V::load_unaligned(p), V(wk[ky * K + kx]), acc);
                        }
                    }
                    act_apply(act, acc).store_aligned(row + ox);
                }
                std::copy(row, row + OW, dst + oy * OW);
            }
        }
    }
}

// im2col for one group and a block of np output pixels starting at p0: row (ci, ky, kx) of col holds
// in[ci, oy*s - pad + ky*d, ox*s - pad + kx*d] for each pixel (oy, ox), zero outside the image.
// Pixels are walked one output row segment at a time, with the valid x range computed, not tested.
template <class T>
void im2col_block(T* col, const T* gin, int64_t Cg, int64_t H, int64_t W, int64_t OW, int64_t K, int64_t stride,
                  int64_t pad, int64_t dilation, int64_t p0, int64_t np) {
    for (int64_t ci = 0; ci < Cg; ++ci)
        for (int64_t ky = 0; ky < K; ++ky)
            for (int64_t kx = 0; kx < K; ++kx) {
                T* row = col + ((ci * K + ky) * K + kx) * np;
                const T* src = gin + ci * H * W;
                for (int64_t j = 0, p = p0; j < np;) {
                    const int64_t oy = p / OW, ox0 = p % OW, seg = std::min(OW - ox0, np - j);
                    const int64_t iy = oy * stride - pad + ky * dilation;
                    T* r = row + j;
                    if (iy < 0 || iy >= H) {
                        std::fill(r, r + seg, T(0));
                    } else {
                        const int64_t off = kx * dilation - pad;  // ix = (ox0 + t) * stride + off
                        const int64_t lo = std::clamp(ceil_div(-off, stride) - ox0, int64_t(0), seg);
                        const int64_t hi = std::clamp(ceil_div(W - off, stride) - ox0, lo, seg);
                        const T* s = src + iy * W + ox0 * stride + off;
                        std::fill(r, r + lo, T(0));
                        if (stride == 1)
                            std::copy(s + lo, s + hi, r + lo);
                        else
                            for (int64_t t = lo; t < hi; ++t) r[t] = s[t * stride];
                        std::fill(r + hi, r + seg, T(0));
                    }
                    j += seg;
                    p += seg;
                }
            }
}

// How a GEMM conv is cut into tasks: blocks of kColBlock output pixels, and, when that gives
// fewer than kMinTasks tasks (small late-stage maps: 16x16 is one block), row tiles of output
// channels too. The cut depends only on the shapes, never on the thread count, and no output
// element's reduction is split, so results are identical for any number of threads.
constexpr int64_t kMinTasks = 8;
inline int64_t conv_row_tile(int64_t col_tasks, int64_t OCg) {
    if (col_tasks >= kMinTasks) return OCg;
    const int64_t splits = (kMinTasks + col_tasks - 1) / col_tasks;
    constexpr int64_t a = 2 * GemmLhs<float>::row_align();  // tiles start on a packed panel
    return std::max<int64_t>(a, ((OCg + splits - 1) / splits + a - 1) / a * a);
}

// A convolution's weights as the fast paths use them: per group, packed for the GEMM; or, for
// Winograd, the 16 transformed matrices U[xi] and their packs.
template <class T>
struct ConvPrepared {
    const T* weight = nullptr;              // what it was made from
    std::vector<T, AlignedAllocator<T>> U;  // Winograd: 16 matrices of OC x C
    std::vector<GemmLhs<T>> lhs;            // Winograd: U[xi]; GEMM: one per group
};

// Made on first use for each precision and kept: Conv2d owns one, and its visit(), which every
// load goes through, empties it. Safe to share between threads calling forward; a forward holds
// its pack (shared_ptr) for its whole run, so a reset meanwhile frees nothing in use.
template <class T>
class ConvWeights {
public:
    ConvWeights() = default;
    ConvWeights(const ConvWeights&) {}
    ConvWeights& operator=(const ConvWeights&) {
        reset();
        return *this;
    }
    void reset() {
        std::lock_guard<std::mutex> lock(m_);
        for (auto& s : slots_) s.reset();
    }
    template <class Make>
    std::shared_ptr<const ConvPrepared<T>> get(const T* weight, Make&& make) const {
        std::lock_guard<std::mutex> lock(m_);
        auto& s = slots_[static_cast<size_t>(gemm_kernel::current_kind())];
        if (!s || s->weight != weight) {
            auto p = std::make_shared<ConvPrepared<T>>(make());
            p->weight = weight;
            s = std::move(p);
        }
        return s;
    }

private:
    mutable std::mutex m_;
    mutable std::array<std::shared_ptr<const ConvPrepared<T>>, 5> slots_;
};

template <class T>
ConvPrepared<T> gemm_conv_weights(const T* weight, int64_t OC, int64_t R, int64_t G) {
    ConvPrepared<T> p;
    const int64_t OCg = OC / G;
    p.lhs.reserve(static_cast<size_t>(G));
    for (int64_t g = 0; g < G; ++g) p.lhs.emplace_back(weight + g * OCg * R, OCg, R, R, 1);
    return p;
}

// Grouped / dense: per (image, group, block of output pixels, tile of output channels), build the
// im2col block (Cg*K*K rows x cols; skipped for 1x1 stride-1 convs, which read the input in place)
// and multiply the group's (rows x Cg*K*K) weight tile straight into the output, then the epilogue.
template <class T>
void conv2d_gemm(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                 int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G, Act act,
                 const ConvPrepared<T>* prepared = nullptr) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    const int64_t OH = conv_out_size(H, K, stride, pad, dilation), OW = conv_out_size(W, K, stride, pad, dilation);
    const int64_t P = OH * OW, Cg = C / G, OCg = OC / G, R = Cg * K * K;
    const int64_t nblk = (P + kColBlock - 1) / kColBlock;
    const int64_t rows = conv_row_tile(N * G * nblk, OCg), ntile = (OCg + rows - 1) / rows;
    const bool pointwise = K == 1 && stride == 1 && pad == 0;
    std::optional<ConvPrepared<T>> local;  // packed here when the layer keeps no packs
    if (!prepared) prepared = &local.emplace(gemm_conv_weights(weight, OC, R, G));
#pragma omp parallel
    {
        std::vector<T, AlignedAllocator<T>> col(pointwise ? 0 : static_cast<size_t>(R * kColBlock));
#pragma omp for collapse(4) schedule(static)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t g = 0; g < G; ++g)
                for (int64_t b = 0; b < nblk; ++b)
                    for (int64_t t = 0; t < ntile; ++t) {
                        const int64_t p0 = b * kColBlock, np = std::min(kColBlock, P - p0);
                        const int64_t o0 = t * rows, no = std::min(rows, OCg - o0);
                        const T* gin = in + (n * C + g * Cg) * H * W;
                        T* gout = out + (n * OC + g * OCg + o0) * P + p0;
                        const GemmLhs<T>& Wm = prepared->lhs[static_cast<size_t>(g)];
                        Eigen::Map<Mat, 0, Stride> Y(gout, no, np, Stride(P));
                        if (pointwise) {
                            Wm.product_rows(o0, Y, Eigen::Map<const Mat, 0, Stride>(gin + p0, R, np, Stride(H * W)));
                        } else {
                            im2col_block(col.data(), gin, Cg, H, W, OW, K, stride, pad, dilation, p0, np);
                            Wm.product_rows(o0, Y, Eigen::Map<const Mat>(col.data(), R, np));
                        }
                        for (int64_t o = 0; o < no; ++o)
                            bias_act_row(gout + o * P, np, bias ? bias[g * OCg + o0 + o] : T(0), act);
                    }
    }
}

// Winograd F(2x2, 3x3) (Lavin & Gray 2015) for dense 3x3 stride-1 "same" convs, 59 % of the
// L-models' MACs: each 2x2 output tile is A^T [ (G g G^T) .* (B^T d B) ] A over the 4x4 input
// tile d, so 16 GEMMs of (OC x C) x (C x tiles) replace one of (OC x 9C) x (C x 4 tiles):
// 2.25x fewer multiplies. The transforms only add, subtract and halve (exact in binary floating
// point up to the rounding of each add), so the error stays at the level of the direct conv; the
// tests bound it against the naive conv and the model against upstream.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
// Tiles are processed in blocks of at most kTileBlock; small images get smaller blocks (down to 32),
// so that both threads have work. Every tile's arithmetic, the GEMM's order over the channels
// included, is the same whatever the block, so the bits do not depend on the block size either.
constexpr int64_t kTileBlock = 128;

inline int64_t winograd_tile_block(int64_t N, int64_t NT) {
#ifdef _OPENMP
    const int64_t tasks = 4 * std::max(1, omp_get_max_threads());
#else
    const int64_t tasks = 4;
#endif
    const int64_t tb = ((N * NT + tasks - 1) / tasks + 15) / 16 * 16;
    return std::clamp<int64_t>(tb, 32, kTileBlock);
}

inline bool winograd_applies(int64_t C, int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation,
                             int64_t G) {
    return K == 3 && stride == 1 && pad == 1 && dilation == 1 && G == 1 && C >= 8 && OC >= 8;
}

// The input transform's row split (padded column x + 1 to its even/odd plane: O[j] = src[2j],
// E[j + 1] = src[2j + 1]) and the output's merge (row[2i] = even[i], row[2i + 1] = odd[i]), 32
// columns at a time with AVX-512 where the build has it. deinterleave_row returns the first column
// it left to the scalar loop; interleave_store returns false when it did nothing.
template <class T>
int64_t deinterleave_row(T* E, T* O, const T* src, int64_t W) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
        const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        int64_t x = 0;
        for (; x + 32 <= W; x += 32) {
            const __m512 a = _mm512_loadu_ps(src + x), b = _mm512_loadu_ps(src + x + 16);
            _mm512_storeu_ps(O + x / 2, _mm512_permutex2var_ps(a, ie, b));
            _mm512_storeu_ps(E + x / 2 + 1, _mm512_permutex2var_ps(a, io, b));
        }
        return x;
    }
#endif
    (void)E, (void)O, (void)src, (void)W;
    return 0;
}
template <int64_t VW, class T>
bool interleave_store(T* row, const T* even, const T* odd) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && VW == 16) {
        const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        const __m512 e = _mm512_load_ps(even), o = _mm512_load_ps(odd);
        _mm512_storeu_ps(row, _mm512_permutex2var_ps(e, lo, o));
        _mm512_storeu_ps(row + 16, _mm512_permutex2var_ps(e, hi, o));
        return true;
    }
#endif
    (void)row, (void)even, (void)odd;
    return false;
}

// U[xi] = (G g G^T)[xi] for every (oc, c): 16 matrices of OC x C, and their packs.
template <class T>
ConvPrepared<T> winograd_weights(const T* weight, int64_t C, int64_t OC) {
    ConvPrepared<T> p;
    p.U.resize(static_cast<size_t>(16 * OC * C));
    T* U = p.U.data();
#pragma omp parallel for schedule(static)
    for (int64_t oc = 0; oc < OC; ++oc)
        for (int64_t c = 0; c < C; ++c) {
            const T* g = weight + (oc * C + c) * 9;
            T t[4][3];  // G g
            for (int j = 0; j < 3; ++j) {
                t[0][j] = g[j];
                t[1][j] = T(0.5) * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = T(0.5) * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; ++i) {  // (G g) G^T
                const T u[4] = {t[i][0], T(0.5) * (t[i][0] + t[i][1] + t[i][2]), T(0.5) * (t[i][0] - t[i][1] + t[i][2]),
                                t[i][2]};
                for (int j = 0; j < 4; ++j) U[((i * 4 + j) * OC + oc) * C + c] = u[j];
            }
        }
    p.lhs.reserve(16);
    for (int64_t xi = 0; xi < 16; ++xi) p.lhs.emplace_back(U + xi * OC * C, OC, C, C, 1);
    if (p.lhs[0].holds_pack()) {  // float: the packs are the copy kept (16/9 of the weights, not twice that)
        for (auto& l : p.lhs) l.drop_source();
        p.U = {};
    }
    return p;
}

template <class T>
void conv2d_winograd_f2x3(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H,
                          int64_t W, int64_t OC, Act act, const ConvPrepared<T>* prepared = nullptr) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using V = simd::vec<T>;
    constexpr int64_t VW = simd::width<T>;
    const int64_t TH = (H + 1) / 2, TW = (W + 1) / 2, NT = TH * TW, TB = winograd_tile_block(N, NT);
    const int64_t nblk = (NT + TB - 1) / TB;
    std::optional<ConvPrepared<T>> local;  // transformed and packed here when the layer keeps no packs
    if (!prepared) prepared = &local.emplace(winograd_weights(weight, C, OC));
    const std::vector<GemmLhs<T>>& Ul = prepared->lhs;
    // The tiles of a block, one tile-row segment at a time: f(ty, tx0, count, j0) with j0 the
    // index of tile (ty, tx0) within the block.
    auto for_segments = [TW](int64_t t0, int64_t nt, auto&& f) {
        for (int64_t j = 0; j < nt;) {
            const int64_t ty = (t0 + j) / TW, tx = (t0 + j) % TW, cnt = std::min(TW - tx, nt - j);
            f(ty, tx, cnt, j);
            j += cnt;
        }
    };
    const int64_t EW = TW + 1 + VW;  // even/odd column planes of a zero-padded input row
#pragma omp parallel
    {
        std::vector<T, AlignedAllocator<T>> Vb(static_cast<size_t>(16 * C * TB));
        std::vector<T, AlignedAllocator<T>> Mb(static_cast<size_t>(16 * OC * TB));
        std::vector<T, AlignedAllocator<T>> eo(static_cast<size_t>(8 * EW));  // rows 0..3: even, then odd
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t b = 0; b < nblk; ++b) {
                const int64_t t0 = b * TB, nt = std::min(TB, NT - t0);
                // V[xi][c][tile] = (B^T d B)[xi], d the 4x4 input patch at (2 ty - 1, 2 tx - 1), zero
                // outside. Padded column x + 1 of a row is split into even/odd planes, so tile tx
                // reads columns q = 0..3 at E[tx], O[tx], E[tx+1], O[tx+1]: contiguous over tiles.
                for (int64_t c = 0; c < C; ++c) {
                    const T* src = in + (n * C + c) * H * W;
                    for_segments(t0, nt, [&](int64_t ty, int64_t tx0, int64_t cnt, int64_t j0) {
                        std::fill(eo.begin(), eo.end(), T(0));
                        for (int r = 0; r < 4; ++r) {
                            const int64_t y = 2 * ty - 1 + r;
                            if (y < 0 || y >= H) continue;
                            T* E = eo.data() + r * EW;
                            T* O = eo.data() + (4 + r) * EW;
                            const int64_t x0 = deinterleave_row(E, O, src + y * W, W);
                            for (int64_t x = x0; x < W; ++x) (((x + 1) & 1) ? O : E)[(x + 1) >> 1] = src[y * W + x];
                        }
                        for (int64_t k = 0; k < cnt; k += VW) {
                            const int64_t tx = tx0 + k;
                            V d[4][4];
                            for (int r = 0; r < 4; ++r) {
                                const T* E = eo.data() + r * EW + tx;
                                const T* O = eo.data() + (4 + r) * EW + tx;
                                d[r][0] = V::load_unaligned(E);
                                d[r][1] = V::load_unaligned(O);
                                d[r][2] = V::load_unaligned(E + 1);
                                d[r][3] = V::load_unaligned(O + 1);
                            }
                            V t[4][4];  // B^T d
                            for (int q = 0; q < 4; ++q) {
                                t[0][q] = d[0][q] - d[2][q];
                                t[1][q] = d[1][q] + d[2][q];
                                t[2][q] = d[2][q] - d[1][q];
                                t[3][q] = d[1][q] - d[3][q];
                            }
                            V v[16];  // (B^T d) B
                            for (int r = 0; r < 4; ++r) {
                                v[r * 4 + 0] = t[r][0] - t[r][2];
                                v[r * 4 + 1] = t[r][1] + t[r][2];
                                v[r * 4 + 2] = t[r][2] - t[r][1];
                                v[r * 4 + 3] = t[r][1] - t[r][3];
                            }
                            const int64_t m = std::min(VW, cnt - k);
                            for (int xi = 0; xi < 16; ++xi) {
                                T* dst = Vb.data() + (xi * C + c) * nt + j0 + k;
                                if (m == VW) {
                                    v[xi].store_unaligned(dst);
                                } else {
                                    alignas(64) T buf[VW];
                                    v[xi].store_aligned(buf);
                                    std::copy(buf, buf + m, dst);
                                }
                            }
                        }
                    });
                }
                // M[xi] = U[xi] V[xi]: (OC x C) (C x nt)
                for (int64_t xi = 0; xi < 16; ++xi) {
                    Eigen::Map<const Mat> Vm(Vb.data() + xi * C * nt, C, nt);
                    Eigen::Map<Mat> Mm(Mb.data() + xi * OC * nt, OC, nt);
                    Ul[static_cast<size_t>(xi)].product(Mm, Vm);
                }
                // Y = A^T M A per tile, vectorised over the tiles of a segment; + bias, activation.
                for (int64_t oc = 0; oc < OC; ++oc) {
                    const V bv(bias ? bias[oc] : T(0));
                    T* dst = out + (n * OC + oc) * H * W;
                    for_segments(t0, nt, [&](int64_t ty, int64_t tx0, int64_t cnt, int64_t j0) {
                        for (int64_t k = 0; k < cnt; k += VW) {
                            const int64_t m = std::min(VW, cnt - k);
                            V mm[16];
                            for (int xi = 0; xi < 16; ++xi) {
                                const T* p = Mb.data() + (xi * OC + oc) * nt + j0 + k;
                                if (m == VW) {
                                    mm[xi] = V::load_unaligned(p);
                                } else {
                                    alignas(64) T buf[VW] = {};
                                    std::copy(p, p + m, buf);
                                    mm[xi] = V::load_aligned(buf);
                                }
                            }
                            alignas(64) T y[4][VW];
                            V sr[2][4];  // A^T M, then (A^T M) A
                            for (int q = 0; q < 4; ++q) {
                                sr[0][q] = mm[q] + mm[4 + q] + mm[8 + q];
                                sr[1][q] = mm[4 + q] - mm[8 + q] - mm[12 + q];
                            }
                            for (int r = 0; r < 2; ++r) {
                                act_apply(act, sr[r][0] + sr[r][1] + sr[r][2] + bv).store_aligned(y[r * 2 + 0]);
                                act_apply(act, sr[r][1] - sr[r][2] - sr[r][3] + bv).store_aligned(y[r * 2 + 1]);
                            }
                            for (int r = 0; r < 2; ++r) {
                                const int64_t oy = 2 * ty + r;
                                if (oy >= H) break;
                                T* row = dst + oy * W;
                                if (m == VW && 2 * (tx0 + k + VW) <= W &&
                                    interleave_store<VW>(row + 2 * (tx0 + k), y[r * 2], y[r * 2 + 1]))
                                    continue;
                                for (int64_t i = 0; i < m; ++i) {
                                    const int64_t ox = 2 * (tx0 + k + i);
                                    row[ox] = y[r * 2][i];
                                    if (ox + 1 < W) row[ox + 1] = y[r * 2 + 1][i];
                                }
                            }
                        }
                    });
                }
            }
    }
}

}  // namespace detail

// out = act(conv2d(in, weight) + bias): the convolution with its epilogue fused (ConvLayer passes
// its folded BatchNorm shift as the bias, and its activation).
template <class T>
void conv2d_forward(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                    int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G, Act act,
                    backend::cpu) {
    conv2d_forward(out, in, weight, bias, N, C, H, W, OC, K, stride, pad, dilation, G, act,
                   static_cast<const detail::ConvWeights<T>*>(nullptr), backend::cpu{});
}

// The same, with the layer's prepared weights (Conv2d's cache: packed once, not per call).
template <class T>
void conv2d_forward(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                    int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G, Act act,
                    const detail::ConvWeights<T>* cache, backend::cpu) {
    if (G == C && G == OC && G > 1) {
        detail::conv2d_depthwise(out, in, weight, bias, N, C, H, W, K, stride, pad, dilation, act);
    } else if (detail::winograd_applies(C, OC, K, stride, pad, dilation, G)) {
        const auto p = cache ? cache->get(weight, [&] { return detail::winograd_weights(weight, C, OC); }) : nullptr;
        detail::conv2d_winograd_f2x3(out, in, weight, bias, N, C, H, W, OC, act, p.get());
    } else {
        const auto p = cache
                           ? cache->get(weight, [&] { return detail::gemm_conv_weights(weight, OC, C / G * K * K, G); })
                           : nullptr;
        detail::conv2d_gemm(out, in, weight, bias, N, C, H, W, OC, K, stride, pad, dilation, G, act, p.get());
    }
}

template <class T>
void conv2d_forward(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H, int64_t W,
                    int64_t OC, int64_t K, int64_t stride, int64_t pad, int64_t dilation, int64_t G, backend::cpu b) {
    conv2d_forward(out, in, weight, bias, N, C, H, W, OC, K, stride, pad, dilation, G, Act::none, b);
}

// torch.nn.ConvTranspose2d with kernel == stride, no padding (SAM's 2x2 s2 upscaling):
// every input pixel writes its own KxK output patch, so out = W^T x per position.
// weight is (C, OC, K, K); output (N, OC, H*K, W*K).
template <class T>
void conv_transpose2d_forward_naive(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C,
                                    int64_t H, int64_t W, int64_t OC, int64_t K) {
    const int64_t OH = H * K, OW = W * K;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t oc = 0; oc < OC; ++oc)
            for (int64_t y = 0; y < H; ++y)
                for (int64_t x = 0; x < W; ++x)
                    for (int64_t ky = 0; ky < K; ++ky)
                        for (int64_t kx = 0; kx < K; ++kx) {
                            T acc = bias ? bias[oc] : T(0);
                            for (int64_t c = 0; c < C; ++c)
                                acc += in[((n * C + c) * H + y) * W + x] * weight[((c * OC + oc) * K + ky) * K + kx];
                            out[((n * OC + oc) * OH + y * K + ky) * OW + x * K + kx] = acc;
                        }
}

namespace detail {
// Per image and fixed block of input pixels, one GEMM (OC*K*K x C) * (C x pixels), then each row
// (oc, ky, kx) goes to its output positions, image row by image row. tokens: the input is laid out
// (N, H*W, C) (the transformer's keys) instead of (N, C, H, W).
template <class T, bool tokens>
void conv_transpose2d_impl(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H,
                           int64_t W, int64_t OC, int64_t K) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    const int64_t P = H * W, OH = H * K, OW = W * K, R = OC * K * K;
    const int64_t nblk = (P + kColBlock - 1) / kColBlock;
    const GemmLhs<T> Wt(weight, R, C, 1, R);  // W^T: (OC*K*K, C), W (C, OC*K*K), packed once
#pragma omp parallel
    {
        Mat acc(R, kColBlock);
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t b = 0; b < nblk; ++b) {
                const int64_t p0 = b * kColBlock, np = std::min(kColBlock, P - p0);
                auto A = acc.leftCols(np);
                if constexpr (tokens) {
                    Eigen::Map<const Mat> X(in + (n * P + p0) * C, np, C);
                    Wt.product(A, X.transpose());
                } else {
                    Eigen::Map<const Mat, 0, Stride> X(in + n * C * P + p0, C, np, Stride(P));
                    Wt.product(A, X);
                }
                for (int64_t oc = 0; oc < OC; ++oc) {
                    const T bb = bias ? bias[oc] : T(0);
                    T* plane = out + (n * OC + oc) * OH * OW;
                    for (int64_t ky = 0; ky < K; ++ky)
                        for (int64_t kx = 0; kx < K; ++kx) {
                            const T* a = acc.data() + ((oc * K + ky) * K + kx) * kColBlock;
                            for (int64_t j = 0; j < np;) {  // one image row segment at a time
                                const int64_t p = p0 + j, y = p / W, x0 = p % W, nx = std::min(W - x0, np - j);
                                T* d = plane + (y * K + ky) * OW + kx;
                                for (int64_t x = 0; x < nx; ++x) d[(x0 + x) * K] = a[j + x] + bb;
                                j += nx;
                            }
                        }
                }
            }
    }
}
}  // namespace detail

template <class T>
void conv_transpose2d_forward(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C, int64_t H,
                              int64_t W, int64_t OC, int64_t K, backend::cpu) {
    detail::conv_transpose2d_impl<T, false>(out, in, weight, bias, N, C, H, W, OC, K);
}

// The same convolution of an input in token layout (N, H*W, C): SAM's keys after the transformer,
// upscaled without first transposing them back to (N, C, H, W).
template <class T>
void conv_transpose2d_tokens_forward(T* out, const T* in, const T* weight, const T* bias, int64_t N, int64_t C,
                                     int64_t H, int64_t W, int64_t OC, int64_t K, backend::cpu) {
    detail::conv_transpose2d_impl<T, true>(out, in, weight, bias, N, C, H, W, OC, K);
}

}  // namespace evsam
