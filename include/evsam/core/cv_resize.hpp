// evsam: OpenCV's cv::resize(src, dsize, interpolation=INTER_CUBIC) on 8-bit
// images, ported bit-exactly.
//
// Upstream's segmentation evaluation (applications/efficientvit_seg/eval_efficientvit_seg_model.py)
// resizes HWC uint8 RGB numpy images with cv2.resize(image, dsize=(w, h),
// interpolation=cv2.INTER_CUBIC): Cityscapes to (1024, 2048) when the size
// differs, ADE20K to short side 512 (ade20k_eval_size below). This header ports
// OpenCV's own code for that call, read in modules/imgproc/src/resize.cpp (4.x)
// and resize.simd.hpp (current), which agree on this path, and checked bit for
// bit against OpenCV 5.1.0 (opencv-python-headless 5.1.0.95, x86-64) with IPP
// switched off:
//
//   cv::resize            -> cv_resize_cubic_u8 (same size: a copy; dsize sets
//                            inv_scale_x = dsize.width / ssize.width)
//   resize_cpu / hal::resize, the INTER_CUBIC table setup (xofs/ialpha, yofs/ibeta)
//                         -> ocv::cubic_table
//   interpolateCubic      -> ocv::interpolate_cubic (A = -0.75, float)
//   HResizeCubic<uchar, int, short>
//                         -> ocv::hresize_cubic (integer, border: replicate)
//   VResizeCubic<uchar, int, short, FixedPtCast<int, uchar, 22>, VResizeCubicVec_32s8u>
//                         -> ocv::vresize_cubic
//   resizeGeneric_Invoker -> cv_resize_cubic_u8 (rows clipped to [0, H-1], each
//                            horizontally resized source row computed once)
//
// resize_cpu has special paths for INTER_NEAREST, INTER_LINEAR (2x up) and
// INTER_AREA (integer and rational factors), none for INTER_CUBIC: after the HAL
// (below) every cubic resize goes through resizeGeneric_. Two things the scalar
// code alone does not tell:
// 1. VResizeCubicVec_32s8u (the SIMD vertical pass; x86-64 baseline SSE2, 8 int16
//    lanes) does not compute what the scalar loop does. It converts the four
//    int32 rows to float, multiplies by beta * 2^-22 in float and rounds half to
//    even (v_round), where the scalar FixedPtCast adds 2^21 and shifts by 22.
//    It runs on the first floor(width * cn / 8) * 8 elements of every row; the
//    scalar code only does the rest. Both are ported: a scalar-only port differs
//    by one at exact ties (~1% of the pixels at 3x/4x downscaling) and near-ties
//    (~2e-5 at other factors). Its v_muladd is a separate multiply and add (no
//    FMA in the SSE baseline; the cubic path is not CPU-dispatched in 5.1.0:
//    identical output with AVX-512, AVX2 and SSE4 dispatch disabled). Other
//    architectures were not checked (OpenCV's NEON v_muladd on aarch64 may be a
//    fused multiply-add, which would change bits).
// 2. The x86-64 PyPI wheels are built with Intel IPP, and resize_cpu first offers
//    the call to the IPP HAL (ipp_hal_resize). For 8-bit cubic IPP takes every
//    1-, 3- or 4-channel image with height and width >= 4 (others fall back to
//    the code above) and computes in float: it differs from OpenCV's own code at
//    ~3% of the pixels (by one), agrees with the exact separable cubic rounded
//    half to even at all but ~1e-5 of them, and its AVX-512, AVX2 and SSE4.2
//    kernels disagree among themselves at a few pixels per million (IPP 2026.1).
//    So default cv2.resize on x86-64 has no single bit pattern to port.
//    CvCubicBackend::ipp_like gives the exact-arithmetic model (off by one at
//    ~1e-5 of the pixels, see tests/core/test_resize_u8.cpp); the default,
//    CvCubicBackend::opencv, is OpenCV's own code bit for bit, which is what cv2
//    gives with cv2.ipp.setUseIPP(False), and by default for images under 4 pixels
//    on a side and for 2 channels.
//
// Size letters: H, W = source height/width, C = channels (interleaved HWC, 1..4;
// CV_8UC1..CV_8UC4), newH, newW = destination height/width.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "evsam/core/error.hpp"
#include "evsam/core/tensor.hpp"

namespace evsam {

// Which cv2.resize(INTER_CUBIC) to reproduce (see the top of this file).
enum class CvCubicBackend {
    opencv,    // OpenCV's own code, bit-exact (IPP off; with IPP: under 4 px on a side, or 2 channels)
    ipp_like,  // x86-64 wheels with IPP: exact separable cubic, half to even; not bit-exact
};

namespace ocv {

// resize.simd.hpp: INTER_RESIZE_COEF_BITS = 11, INTER_RESIZE_COEF_SCALE = 1 << 11.
constexpr int kCoefBits = 11;
constexpr int kCoefScale = 1 << kCoefBits;

// Float and double arithmetic exactly as the baseline (non-FMA) build does it:
// every product rounded before it is added. evsam's CMake target passes
// -ffp-contract=off; a consumer's build may not, and GCC then fuses a*b+c into an
// FMA even across statements (and turns (float)((double)a*b) back into a float
// multiply first). The volatile stores below force each product (and the one
// double expression, (dx + 0.5) * scale_x - 0.5) to be rounded on its own; they
// cost ~10% of the resize (measured at 1024x2048x3).
inline float mul(float a, float b) {
    volatile float r = a * b;
    return r;
}
inline double rounded(double v) {
    volatile double r = v;
    return r;
}

// cvRound(float) (round half to even, as cvtss2si / lrintf) and saturate_cast<short>.
inline int16_t saturate_short(float v) {
    const float r = std::nearbyint(v);
    return static_cast<int16_t>(r < -32768.f ? -32768 : (r > 32767.f ? 32767 : static_cast<int>(r)));
}

// interpolateCubic(float x, float* coeffs), A = -0.75f, in float:
//   c0 = ((A*(x+1) - 5A)*(x+1) + 8A)*(x+1) - 4A
//   c1 = ((A+2)*x - (A+3))*x*x + 1
//   c2 = ((A+2)*(1-x) - (A+3))*(1-x)*(1-x) + 1
//   c3 = 1 - c0 - c1 - c2
inline void interpolate_cubic(float x, float coeffs[4]) {
    const float A = -0.75f;
    const float x1 = x + 1.f, omx = 1.f - x;
    coeffs[0] = mul(mul(mul(A, x1) - 5 * A, x1) + 8 * A, x1) - 4 * A;
    coeffs[1] = mul(mul(mul(A + 2, x) - (A + 3), x), x) + 1;
    coeffs[2] = mul(mul(mul(A + 2, omx) - (A + 3), omx), omx) + 1;
    coeffs[3] = 1.f - coeffs[0] - coeffs[1] - coeffs[2];
}

// One axis of resize_cpu's INTER_CUBIC setup: for destination index d,
//   fx = (float)((d + 0.5) * scale - 0.5); sx = cvFloor(fx); fx -= sx;
//   interpolateCubic(fx); coef = saturate_cast<short>(c * INTER_RESIZE_COEF_SCALE)
// with scale = 1. / inv_scale and inv_scale = (double)dst_size / src_size. The
// taps are source indices sx - 1 .. sx + 2. (OpenCV also records xmin/xmax, the
// range where no tap leaves the image, only to skip clamping there.)
struct CubicTable {
    std::vector<int> ofs;       // sx per destination index
    std::vector<int16_t> coef;  // 4 per destination index
};
inline CubicTable cubic_table(int src_size, int dst_size) {
    CubicTable t;
    t.ofs.resize(static_cast<size_t>(dst_size));
    t.coef.resize(static_cast<size_t>(dst_size) * 4);
    const double inv_scale = static_cast<double>(dst_size) / src_size;
    const double scale = 1. / inv_scale;
    for (int d = 0; d < dst_size; ++d) {
        float f = static_cast<float>(rounded((d + 0.5) * scale) - 0.5);
        const int s = static_cast<int>(std::floor(f));  // cvFloor
        f -= static_cast<float>(s);
        float c[4];
        interpolate_cubic(f, c);
        t.ofs[static_cast<size_t>(d)] = s;
        for (int k = 0; k < 4; ++k) t.coef[static_cast<size_t>(d) * 4 + k] = saturate_short(mul(c[k], kCoefScale));
    }
    return t;
}

// HResizeCubic<uchar, int, short>::operator() for one row: D[dx*C + ch] =
// sum_k S[clip(sx - 1 + k)*C + ch] * alpha[k], in int (the sum of |alpha| is at
// most ~1.4 * 2048, so |D| < 2^20). OpenCV clamps a tap that leaves the row by
// stepping it back by cn, i.e. to the first/last pixel of the same channel.
inline void hresize_cubic(int32_t* D, const uint8_t* S, int W, int C, int newW, const CubicTable& tx) {
    for (int dx = 0; dx < newW; ++dx) {
        const int sx = tx.ofs[static_cast<size_t>(dx)];
        const int16_t* a = &tx.coef[static_cast<size_t>(dx) * 4];
        int xs[4];
        for (int k = 0; k < 4; ++k) xs[k] = std::min(std::max(sx - 1 + k, 0), W - 1);
        for (int ch = 0; ch < C; ++ch) {
            int32_t v = 0;
            for (int k = 0; k < 4; ++k) v += static_cast<int32_t>(S[static_cast<size_t>(xs[k]) * C + ch]) * a[k];
            D[static_cast<size_t>(dx) * C + ch] = v;
        }
    }
}

// VResizeCubic<uchar, int, short, FixedPtCast<int, uchar, 22>, VResizeCubicVec_32s8u>
// for one output row of `width` = newW * C elements from the four horizontally
// resized rows S[0..3] and the row's beta[0..3].
inline void vresize_cubic(uint8_t* dst, const int32_t* const S[4], const int16_t beta[4], int width) {
    // VResizeCubicVec_32s8u: x += 8 while x <= width - 8 (v_int16 lanes, 128-bit).
    //   b_k = (float)beta[k] * (1.f / (INTER_RESIZE_COEF_SCALE * INTER_RESIZE_COEF_SCALE))
    //   v = v_muladd(S0, b0, v_muladd(S1, b1, v_muladd(S2, b2, S3 * b3)))   (in float)
    //   dst = v_pack_u(v_pack(v_round(v)))                                  (half to even, saturate)
    const float scale = 1.f / static_cast<float>(kCoefScale * kCoefScale);  // 2^-22, exact
    float b[4];
    for (int k = 0; k < 4; ++k) b[k] = static_cast<float>(beta[k]) * scale;
    const int nvec = width / 8 * 8;
    int x = 0;
    for (; x < nvec; ++x) {
        float v = mul(static_cast<float>(S[3][x]), b[3]);  // |S| < 2^24: the int -> float conversion is exact
        v = mul(static_cast<float>(S[2][x]), b[2]) + v;
        v = mul(static_cast<float>(S[1][x]), b[1]) + v;
        v = mul(static_cast<float>(S[0][x]), b[0]) + v;
        const float r = std::nearbyint(v);
        dst[x] = static_cast<uint8_t>(r < 0.f ? 0 : (r > 255.f ? 255 : static_cast<int>(r)));
    }
    // The scalar tail: FixedPtCast: saturate_cast<uchar>((val + (1 << 21)) >> 22), in int
    // (|val| < 2^31 here, so int64 gives the same value without the overflow question).
    for (; x < width; ++x) {
        const int64_t val = int64_t(S[0][x]) * beta[0] + int64_t(S[1][x]) * beta[1] + int64_t(S[2][x]) * beta[2] +
                            int64_t(S[3][x]) * beta[3];
        const int64_t r = (val + (int64_t(1) << (2 * kCoefBits - 1))) >> (2 * kCoefBits);
        dst[x] = static_cast<uint8_t>(r < 0 ? 0 : (r > 255 ? 255 : r));
    }
}

// The checks of cv::resize (!ssize.empty(), dsize non-empty) plus what a C++ caller
// needs: C in 1..4, int sides (OpenCV's sizes are ints), no byte count overflow.
inline void check_resize_sizes(int64_t H, int64_t W, int64_t C, int64_t newH, int64_t newW) {
    EVSAM_CHECK(C >= 1 && C <= 4, "cv_resize: channels must be 1..4, got " + std::to_string(C));
    EVSAM_CHECK(H >= 1 && W >= 1, "cv_resize: empty source image " + std::to_string(H) + "x" + std::to_string(W));
    EVSAM_CHECK(newH >= 1 && newW >= 1,
                "cv_resize: destination size must be >= 1, got " + std::to_string(newH) + "x" + std::to_string(newW));
    // OpenCV keeps sizes and row widths (width * cn) in int.
    constexpr int64_t kMaxSide = std::numeric_limits<int>::max();
    constexpr int64_t kMaxBytes = std::numeric_limits<std::ptrdiff_t>::max() / 4;  // int32 row buffers
    const bool fits = H <= kMaxSide && newH <= kMaxSide && W <= kMaxSide / C && newW <= kMaxSide / C &&
                      H <= kMaxBytes / W / C && newH <= kMaxBytes / newW / C;
    EVSAM_CHECK(fits, "cv_resize: image too large (" + std::to_string(H) + "x" + std::to_string(W) + " -> " +
                          std::to_string(newH) + "x" + std::to_string(newW) + ", " + std::to_string(C) + " channels)");
}

// CvCubicBackend::ipp_like for images of at least 4x4: the separable cubic
// (Keys, a = -0.75, taps clamped to the image, source position (d + 0.5) * H / newH - 0.5)
// in double, rows first, rounded half to even and saturated. Not bit-exact (see
// the top of this file).
inline void resize_cubic_exact_u8(uint8_t* dst, const uint8_t* src, int H, int W, int C, int newH, int newW) {
    auto weights = [](int in, int out, std::vector<int>& idx, std::vector<double>& w) {
        idx.resize(static_cast<size_t>(out) * 4);
        w.resize(static_cast<size_t>(out) * 4);
        const double scale = static_cast<double>(in) / out;
        for (int d = 0; d < out; ++d) {
            const double f = (d + 0.5) * scale - 0.5, s = std::floor(f), t = f - s;
            for (int k = 0; k < 4; ++k) {
                const double x = std::fabs(t - (k - 1));
                const double a = -0.75;
                w[static_cast<size_t>(d) * 4 + k] = x < 1 ? ((a + 2) * x - (a + 3)) * x * x + 1
                                                          : (x < 2 ? ((a * x - 5 * a) * x + 8 * a) * x - 4 * a : 0.0);
                idx[static_cast<size_t>(d) * 4 + k] = std::min(std::max(static_cast<int>(s) - 1 + k, 0), in - 1);
            }
        }
    };
    std::vector<int> xi, yi;
    std::vector<double> xw, yw;
    weights(W, newW, xi, xw);
    weights(H, newH, yi, yw);
    const size_t rowlen = static_cast<size_t>(newW) * C;
    std::vector<double> tmp(static_cast<size_t>(H) * rowlen);
    for (int y = 0; y < H; ++y)
        for (int dx = 0; dx < newW; ++dx)
            for (int ch = 0; ch < C; ++ch) {
                double v = 0;
                for (int k = 0; k < 4; ++k)
                    v += xw[static_cast<size_t>(dx) * 4 + k] *
                         src[(static_cast<size_t>(y) * W + xi[static_cast<size_t>(dx) * 4 + k]) * C + ch];
                tmp[static_cast<size_t>(y) * rowlen + static_cast<size_t>(dx) * C + ch] = v;
            }
    for (int dy = 0; dy < newH; ++dy)
        for (size_t i = 0; i < rowlen; ++i) {
            double v = 0;
            for (int k = 0; k < 4; ++k)
                v += yw[static_cast<size_t>(dy) * 4 + k] *
                     tmp[static_cast<size_t>(yi[static_cast<size_t>(dy) * 4 + k]) * rowlen + i];
            const double r = std::nearbyint(v);
            dst[static_cast<size_t>(dy) * rowlen + i] = static_cast<uint8_t>(r < 0 ? 0 : (r > 255 ? 255 : r));
        }
}

}  // namespace ocv

// cv2.resize(src, dsize=(newW, newH), interpolation=cv2.INTER_CUBIC) on an HWC
// uint8 image with C channels (1..4): src (H*W*C bytes) -> dst (newH*newW*C bytes,
// must not overlap). backend: see CvCubicBackend (default: OpenCV's own code, bit-exact).
inline void cv_resize_cubic_u8(uint8_t* dst, const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t newH,
                               int64_t newW, CvCubicBackend backend = CvCubicBackend::opencv) {
    ocv::check_resize_sizes(H, W, C, newH, newW);
    // cv::resize: "Source and destination are of same size. Use simple copy."
    if (newH == H && newW == W) {
        std::memcpy(dst, src, static_cast<size_t>(H * W * C));
        return;
    }
    const int h = static_cast<int>(H), w = static_cast<int>(W), c = static_cast<int>(C);
    const int nh = static_cast<int>(newH), nw = static_cast<int>(newW);
    if (backend == CvCubicBackend::ipp_like && h >= 4 && w >= 4 && c != 2) {  // IPP's HAL takes 1, 3 and 4 channels
        ocv::resize_cubic_exact_u8(dst, src, h, w, c, nh, nw);
        return;
    }
    const ocv::CubicTable tx = ocv::cubic_table(w, nw), ty = ocv::cubic_table(h, nh);
    // resizeGeneric_Invoker: for output row dy the source rows clip(yofs[dy] - 1 + k, 0, H)
    // (its clip(x, a, b) returns b - 1 at or above b); a horizontally resized row is
    // computed once and kept while a later output row still reads it (4 buffers).
    const size_t rowlen = static_cast<size_t>(nw) * c;
    std::vector<int32_t> buf(4 * rowlen);
    int held[4] = {-1, -1, -1, -1};  // source row in each buffer
    for (int dy = 0; dy < nh; ++dy) {
        int need[4];
        for (int k = 0; k < 4; ++k) need[k] = std::min(std::max(ty.ofs[static_cast<size_t>(dy)] - 1 + k, 0), h - 1);
        const int32_t* rows[4];
        for (int k = 0; k < 4; ++k) {
            int slot = -1;
            for (int j = 0; j < 4 && slot < 0; ++j)
                if (held[j] == need[k]) slot = j;
            if (slot < 0) {  // a buffer whose row this output row does not read
                for (int j = 0; j < 4 && slot < 0; ++j)
                    if (std::find(need, need + 4, held[j]) == need + 4) slot = j;
                held[slot] = need[k];
                ocv::hresize_cubic(&buf[static_cast<size_t>(slot) * rowlen], src + static_cast<size_t>(need[k]) * w * c,
                                   w, c, nw, tx);
            }
            rows[k] = &buf[static_cast<size_t>(slot) * rowlen];
        }
        ocv::vresize_cubic(dst + static_cast<size_t>(dy) * rowlen, rows, &ty.coef[static_cast<size_t>(dy) * 4],
                           static_cast<int>(rowlen));
    }
}

// Convenience: returns the newH*newW*C resized bytes.
inline std::vector<uint8_t> cv_resize_cubic_u8(const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t newH,
                                               int64_t newW, CvCubicBackend backend = CvCubicBackend::opencv) {
    ocv::check_resize_sizes(H, W, C, newH, newW);
    std::vector<uint8_t> out(static_cast<size_t>(newH * newW * C));
    cv_resize_cubic_u8(out.data(), src, H, W, C, newH, newW, backend);
    return out;
}

// Convenience: an (H, W, C) uint8 tensor -> (newH, newW, C).
inline Tensor<uint8_t> cv_resize_cubic_u8(const Tensor<uint8_t>& img, int64_t newH, int64_t newW,
                                          CvCubicBackend backend = CvCubicBackend::opencv) {
    EVSAM_CHECK(img.dim() == 3, "cv_resize: expected an (H, W, C) image, got " + shape_str(img.shape()));
    ocv::check_resize_sizes(img.size(0), img.size(1), img.size(2), newH, newW);
    Tensor<uint8_t> out({newH, newW, img.size(2)});
    cv_resize_cubic_u8(out.data(), img.data(), img.size(0), img.size(1), img.size(2), newH, newW, backend);
    return out;
}

// applications/efficientvit_seg/eval_efficientvit_seg_model.py, ADE20KDataset.__getitem__:
//   if h < w: th = crop_size; tw = math.ceil(w / h * th / 32) * 32
//   else:     tw = crop_size; th = math.ceil(h / w * tw / 32) * 32
// (Python floats: w / h, then * th, then / 32, all doubles). The image is resized
// (cv2 INTER_CUBIC) only when (th, tw) != (h, w). Returns (th, tw).
inline std::pair<int64_t, int64_t> ade20k_eval_size(int64_t h, int64_t w, int64_t crop_size = 512) {
    EVSAM_CHECK(h >= 1 && w >= 1 && crop_size >= 1, "ade20k_eval_size: sizes must be >= 1, got " + std::to_string(h) +
                                                        "x" + std::to_string(w) + ", crop " +
                                                        std::to_string(crop_size));
    EVSAM_CHECK(h <= std::numeric_limits<int>::max() && w <= std::numeric_limits<int>::max() &&
                    crop_size <= std::numeric_limits<int>::max(),
                "ade20k_eval_size: size too large");
    if (h < w) {
        const double tw = std::ceil(static_cast<double>(w) / static_cast<double>(h) * crop_size / 32);
        return {crop_size, static_cast<int64_t>(tw) * 32};
    }
    const double th = std::ceil(static_cast<double>(h) / static_cast<double>(w) * crop_size / 32);
    return {static_cast<int64_t>(th) * 32, crop_size};
}

// CityscapesDataset's Resize(crop_size=(crop_size, crop_size * 2)): every image is
// resized (cv2 INTER_CUBIC) to (crop_size, 2 * crop_size) unless it already has
// that size; upstream's --crop_size defaults to 1024. Returns (h, w).
inline std::pair<int64_t, int64_t> cityscapes_eval_size(int64_t crop_size = 1024) {
    EVSAM_CHECK(crop_size >= 1 && crop_size <= std::numeric_limits<int>::max() / 2,
                "cityscapes_eval_size: crop size out of range: " + std::to_string(crop_size));
    return {crop_size, 2 * crop_size};
}

}  // namespace evsam
