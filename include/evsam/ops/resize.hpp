// evsam: PyTorch-exact interpolation (torch.nn.functional.interpolate, align_corners=False).
// Size letters: N*C planes (NC), H x W in, OH x OW out.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "evsam/backend/backend.hpp"

namespace evsam {

namespace detail {
// aten/src/ATen/native/UpSample.h: area_pixel_compute_source_index, align_corners=False.
// The scale is input/output computed in the op's accumulation type.
template <class T>
inline T source_index(T scale, int64_t dst, bool cubic) {
    T src = scale * (static_cast<T>(dst) + T(0.5)) - T(0.5);
    return (!cubic && src < T(0)) ? T(0) : src;
}
// Keys cubic convolution with A = -0.75 (aten upsample_bicubic2d).
template <class T>
inline void cubic_coeffs(T t, T c[4]) {
    const T A = T(-0.75);
    auto near = [&](T x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };       // |x| <= 1
    auto far = [&](T x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };  // 1 < |x| < 2
    c[0] = far(t + 1);
    c[1] = near(t);
    c[2] = near(1 - t);
    c[3] = far(2 - t);
}

// One output row or column's source taps: NT source indices (already clamped) and their weights.
template <class T, int NT>
struct ResizeTap {
    std::array<int64_t, NT> i;
    std::array<T, NT> c;
};

// v(0) c[0] + v(1) c[1] + ..., left to right
template <class V, class T, size_t NT, int64_t... K>
inline T tap_sum(V&& v, const std::array<T, NT>& c, std::integer_sequence<int64_t, K...>) {
    return (... + (v(K) * c[K]));
}

// A separable resize with the arithmetic of the one-pass formula
//   out = (sum over ky of  (sum over kx of  r_ky[x.i[kx]] x.c[kx])  y.c[ky]),  sums left to right,
// r_ky the source row y.i[ky]: the inner sums depend on the source row only, so a horizontal pass
// computes them once per source row that a block of output rows reads (not once per output row that
// reads it), and the vertical pass blends NT of them, whole output rows at a time (the compiler's
// vectors). out is NC x CH x CW, the first CH rows (ty) and CW columns (tx) of the resized planes;
// each tap list's indices grow with the output index.
template <class T, int NT>
void resize_separable(T* out, const T* in, int64_t NC, int64_t H, int64_t W, int64_t CH, int64_t CW,
                      const std::vector<ResizeTap<T, NT>>& ty, const std::vector<ResizeTap<T, NT>>& tx) {
    constexpr int64_t kRows = 64;  // output rows per task (fixed: the same bits for any thread count)
    const int64_t nrb = (CH + kRows - 1) / kRows;
    constexpr auto taps = std::make_integer_sequence<int64_t, NT>{};
#pragma omp parallel
    {
        std::vector<T> hbuf;
#pragma omp for collapse(2) schedule(static)
        for (int64_t p = 0; p < NC; ++p)
            for (int64_t rb = 0; rb < nrb; ++rb) {
                const int64_t oy0 = rb * kRows, oy1 = std::min(CH, oy0 + kRows);
                const int64_t s0 = ty[static_cast<size_t>(oy0)].i[0],
                              s1 = ty[static_cast<size_t>(oy1 - 1)].i[NT - 1] + 1;
                hbuf.resize(static_cast<size_t>((s1 - s0) * CW));
                const T* src = in + p * H * W;
                for (int64_t sy = s0; sy < s1; ++sy) {  // horizontal pass over the source rows this block reads
                    const T* r = src + sy * W;
                    T* hr = hbuf.data() + (sy - s0) * CW;
                    for (int64_t ox = 0; ox < CW; ++ox) {
                        const ResizeTap<T, NT>& x = tx[static_cast<size_t>(ox)];
                        hr[ox] = tap_sum([&](int64_t k) { return r[x.i[k]]; }, x.c, taps);
                    }
                }
                for (int64_t oy = oy0; oy < oy1; ++oy) {  // vertical pass
                    const ResizeTap<T, NT>& y = ty[static_cast<size_t>(oy)];
                    std::array<const T*, NT> h;
                    for (int k = 0; k < NT; ++k) h[static_cast<size_t>(k)] = hbuf.data() + (y.i[k] - s0) * CW;
                    T* dst = out + (p * CH + oy) * CW;
                    for (int64_t ox = 0; ox < CW; ++ox)
                        dst[ox] = tap_sum([&](int64_t k) { return h[k][ox]; }, y.c, taps);
                }
            }
    }
}

}  // namespace detail

// mode="bicubic": border taps are clamped to the edge (upsample_get_value_bounded).
// The reference: aten's loop, one output at a time, its source index and weights computed there.
template <class T>
void bicubic_resize_forward_naive(T* out, const T* in, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    const T sh = static_cast<T>(H) / static_cast<T>(OH), sw = static_cast<T>(W) / static_cast<T>(OW);
    for (int64_t p = 0; p < NC; ++p)
        for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
                const T fy = detail::source_index(sh, oy, true), fx = detail::source_index(sw, ox, true);
                const int64_t iy = static_cast<int64_t>(std::floor(fy)), ix = static_cast<int64_t>(std::floor(fx));
                T cy[4], cx[4];
                detail::cubic_coeffs(fy - static_cast<T>(iy), cy);
                detail::cubic_coeffs(fx - static_cast<T>(ix), cx);
                const T* src = in + p * H * W;
                auto at = [&](int64_t y, int64_t x) {
                    return src[std::clamp<int64_t>(y, 0, H - 1) * W + std::clamp<int64_t>(x, 0, W - 1)];
                };
                T rows[4];
                for (int k = 0; k < 4; ++k)
                    rows[k] = at(iy - 1 + k, ix - 1) * cx[0] + at(iy - 1 + k, ix) * cx[1] +
                              at(iy - 1 + k, ix + 1) * cx[2] + at(iy - 1 + k, ix + 2) * cx[3];
                out[(p * OH + oy) * OW + ox] = rows[0] * cy[0] + rows[1] * cy[1] + rows[2] * cy[2] + rows[3] * cy[3];
            }
}

// The fast path: the same arithmetic, separable (detail::resize_separable), each output row's and
// column's clamped taps and weights computed once.
template <class T>
void bicubic_resize_forward(T* out, const T* in, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                            backend::cpu) {
    const T sh = static_cast<T>(H) / static_cast<T>(OH), sw = static_cast<T>(W) / static_cast<T>(OW);
    auto taps = [](T scale, int64_t out_n, int64_t in_n) {
        std::vector<detail::ResizeTap<T, 4>> t(static_cast<size_t>(out_n));
        for (int64_t o = 0; o < out_n; ++o) {
            const T f = detail::source_index(scale, o, true);
            const int64_t i = static_cast<int64_t>(std::floor(f));
            auto& tp = t[static_cast<size_t>(o)];
            detail::cubic_coeffs(f - static_cast<T>(i), tp.c.data());
            for (int k = 0; k < 4; ++k) tp.i[static_cast<size_t>(k)] = std::clamp<int64_t>(i - 1 + k, 0, in_n - 1);
        }
        return t;
    };
    detail::resize_separable(out, in, NC, H, W, OH, OW, taps(sh, OH, H), taps(sw, OW, W));
}

// mode="bilinear" (no antialias): used to upscale and resize masks.
// As aten's CPU kernel (UpSampleKernel.cpp, compute_indices_weights_linear): the scale is
// input/output rounded to T, but the source index and the two weights are computed in
// double and rounded to T only at the end.
// The reference: one output at a time, the source index and weights computed in place.
template <class T>
void bilinear_resize_forward_naive(T* out, const T* in, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    const double sh = static_cast<T>(static_cast<T>(H) / static_cast<T>(OH));
    const double sw = static_cast<T>(static_cast<T>(W) / static_cast<T>(OW));
    for (int64_t p = 0; p < NC; ++p)
        for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
                const double fy = detail::source_index(sh, oy, false), fx = detail::source_index(sw, ox, false);
                const int64_t y0 = static_cast<int64_t>(fy), x0 = static_cast<int64_t>(fx);
                const int64_t y1 = y0 + (y0 < H - 1 ? 1 : 0), x1 = x0 + (x0 < W - 1 ? 1 : 0);
                const T ly = static_cast<T>(fy - static_cast<double>(y0)),
                        lx = static_cast<T>(fx - static_cast<double>(x0));
                const T hy = static_cast<T>(1.0 - (fy - static_cast<double>(y0)));
                const T hx = static_cast<T>(1.0 - (fx - static_cast<double>(x0)));
                const T* src = in + p * H * W;
                out[(p * OH + oy) * OW + ox] = hy * (hx * src[y0 * W + x0] + lx * src[y0 * W + x1]) +
                                               ly * (hx * src[y1 * W + x0] + lx * src[y1 * W + x1]);
            }
}

// bilinear_resize_crop_forward: only the top-left CH x CW corner of the OH x OW result, into a
// (NC, CH, CW) output (SAM's postprocess_masks upscales to 1024 x 1024 and keeps the unpadded part).
template <class T>
void bilinear_resize_crop_forward(T* out, const T* in, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                  int64_t CH, int64_t CW, backend::cpu) {
    const double sh = static_cast<T>(static_cast<T>(H) / static_cast<T>(OH));
    const double sw = static_cast<T>(static_cast<T>(W) / static_cast<T>(OW));
    // Per output row / column: the two source indices and their weights (computed once), then the
    // separable passes, with the arithmetic of the one-pass formula
    //   out = y.w0 * (x.w0 * r0[x.i0] + x.w1 * r0[x.i1]) + y.w1 * (x.w0 * r1[x.i0] + x.w1 * r1[x.i1]).
    auto taps = [](double scale, int64_t out_n, int64_t in_n) {
        std::vector<detail::ResizeTap<T, 2>> t(static_cast<size_t>(out_n));
        for (int64_t o = 0; o < out_n; ++o) {
            const double f = detail::source_index(scale, o, false);
            const int64_t i0 = static_cast<int64_t>(f);
            const double l = f - static_cast<double>(i0);
            t[static_cast<size_t>(o)] = {{i0, i0 + (i0 < in_n - 1 ? 1 : 0)},
                                         {static_cast<T>(1.0 - l), static_cast<T>(l)}};
        }
        return t;
    };
    detail::resize_separable(out, in, NC, H, W, CH, CW, taps(sh, CH, H),
                             taps(sw, CW, W));  // the first CH rows / CW columns
}

template <class T>
void bilinear_resize_forward(T* out, const T* in, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             backend::cpu b) {
    bilinear_resize_crop_forward(out, in, NC, H, W, OH, OW, OH, OW, b);
}

}  // namespace evsam
