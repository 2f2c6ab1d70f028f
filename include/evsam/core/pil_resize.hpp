// evsam: Pillow's BILINEAR and BICUBIC resampling of 8-bit images, ported bit-exactly.
//
// Upstream EfficientViT-SAM resizes the input photo with
//   torchvision.transforms.functional.resize(to_pil_image(image), target_size)
// (efficientvit/models/efficientvit/sam.py, SamResize.apply_image). For a PIL
// input torchvision calls PIL.Image.resize(size, BILINEAR), which always
// antialiases: the filter is widened by the downscale factor. Upstream's
// classification evaluation (applications/efficientvit_cls/eval_efficientvit_cls_model.py)
// resizes with transforms.Resize(..., interpolation=BICUBIC) on a PIL image, i.e.
// PIL.Image.resize(size, BICUBIC), the same code with another filter (see
// core/tv_transforms.hpp for the whole transform). This header ports the C code
// that does the work, Pillow src/libImaging/Resample.c (BILINEAR verified
// bit-exact against Pillow 9.4.0, BILINEAR and BICUBIC against Pillow 13.0.0;
// between those versions the 8-bit path was only refactored, same arithmetic):
//
//   ImagingResample         -> pil_resize_u8 (filter choice: PilFilter)
//   ImagingResampleInner    -> pil_resize_u8 (which passes run, row range, copy)
//                              and pil::vertical_first (their order, see below)
//   bilinear_filter         -> pil::bilinear_filter  (struct filter BILINEAR, support 1)
//   bicubic_filter          -> pil::bicubic_filter   (struct filter BICUBIC, a = -0.5, support 2)
//   precompute_coeffs       -> pil::precompute_coeffs
//   normalize_coeffs_8bpc   -> pil::normalize_coeffs_8bpc
//   clip8                   -> pil::clip8
//   ImagingResampleHorizontal_8bpc / ImagingResampleVertical_8bpc
//                           -> pil::resample_horizontal_8bpc / resample_vertical_8bpc
//
// Size letters: H, W = source height/width, C = channels (interleaved, HWC),
// newH, newW = destination height/width. Pillow's "x" is the width axis and
// "y" the height axis; xsize/ysize below are newW/newH.
//
// Images are HWC uint8 with C in 1..4 and every channel resampled on its own,
// which is what Pillow does for modes L, RGB, RGBX and CMYK. Note that
// PIL.Image.resize on an "RGBA"/"LA" image premultiplies alpha first (converts
// to "RGBa"/"La", resizes, converts back); that conversion is NOT ported here,
// so C = 4 matches Pillow's RGBX/CMYK, not RGBA. Upstream only ever feeds RGB.
//
// Pass order. The arithmetic of each pass is the same in every Pillow since 4.x,
// but which pass runs first changed, and with it the bits (the passes round to
// 8 bits in between):
//   Pillow <= 12.2: always the horizontal pass first;
//   Pillow 12.3:    Image.resize runs the vertical pass first for tall images,
//                   H > 100 * W, whose height shrinks (Python, PR #9524);
//   Pillow 13.0:    ImagingResampleInner runs the vertical pass first when the
//                   height shrinks by more than twice as many pixels as the width,
//                   newH < H and H - newH > 2 * (W - newW) (C, PR #9549; the rule is
//                   the one 13.0.0 follows, established on ~7000 size pairs, see
//                   validation/make_resize_fixtures.py).
// PilPassOrder picks one; the default, PilPassOrder::horizontal_first, keeps the
// bits of the Pillow 9.4 fixtures that SAM's preprocessing was checked against.

#pragma once
#include <cmath>
#include <cstdint>
#include <cstddef>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "evsam/core/error.hpp"
#include "evsam/core/tensor.hpp"

namespace evsam {

// The resampling filters ported here (Pillow's Image.Resampling.BILINEAR and
// .BICUBIC; BOX, HAMMING and LANCZOS are not ported).
enum class PilFilter { bilinear, bicubic };

// Which Pillow release's pass order to follow (see the top of this file).
enum class PilPassOrder {
    horizontal_first,  // Pillow <= 12.2 (and the default)
    pillow_12_3,       // vertical first when H > 100 * W and newH < H
    pillow_13,         // vertical first when newH < H and H - newH > 2 * (W - newW)
};

namespace pil {

// Resample.c: `#define PRECISION_BITS (32 - 8 - 2)` -- fixed-point coefficients
// carry 22 fractional bits (8 bits for the pixel, 2 spare for overshoot).
constexpr int kPrecisionBits = 32 - 8 - 2;

// Resample.c: bilinear_filter, with `static struct filter BILINEAR = {bilinear_filter, 1.0};`
inline double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}
constexpr double kBilinearSupport = 1.0;

// Defensive: the filter argument and the filters' intermediate products are
// rounded to double one operation at a time, so that no compiler may fuse
// `1.0 - t * ss` or the cubic's `p * x + q` into one FMA (allowed under GCC's
// default -ffp-contract=fast when FMA is enabled; evsam's CMake target passes
// -ffp-contract=off, a consumer may not). A fused operation would give
// different coefficients from Pillow's own (non-FMA) build. The volatile store
// forces the rounding; it costs nothing measurable (coefficients only).
inline double rounded(double v) {
    volatile double r = v;
    return r;
}

// Resample.c: bicubic_filter, with `#define a -0.5` and
// `static struct filter BICUBIC = {bicubic_filter, 2.0};` (Keys' cubic convolution):
//   |x| < 1: ((a + 2) x - (a + 3)) x x + 1,   1 <= |x| < 2: (((x - 5) x + 8) x - 4) a.
// Evaluated in Pillow's order, each product rounded on its own (see rounded()).
inline double bicubic_filter(double x) {
    constexpr double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) {
        const double p = rounded((a + 2.0) * x) - (a + 3.0);  // (a + 2.0) * x - (a + 3.0)
        return rounded(rounded(p * x) * x) + 1;               // ... * x * x + 1
    }
    if (x < 2.0) {
        const double q = rounded((x - 5) * x) + 8;  // (x - 5) * x + 8
        return (rounded(q * x) - 4) * a;            // (... * x - 4) * a
    }
    return 0.0;
}
constexpr double kBicubicSupport = 2.0;

// Resample.c: `struct filter` -- the filter's support and its function.
inline double filter_support(PilFilter f) { return f == PilFilter::bicubic ? kBicubicSupport : kBilinearSupport; }
inline double filter_weight(PilFilter f, double x) {
    return f == PilFilter::bicubic ? bicubic_filter(x) : bilinear_filter(x);
}

// Output of precompute_coeffs: for each output pixel xx, the first source index
// bounds[2*xx] and the count bounds[2*xx+1] of source pixels it reads, and their
// weights kk[xx*ksize + 0 .. count-1] (the rest of the row is 0).
struct Coeffs {
    int ksize = 0;
    std::vector<int> bounds;
    std::vector<double> kk;
};

// Resample.c: precompute_coeffs(inSize, in0, in1, outSize, filterp, ...).
// in0/in1 is the source box on this axis; Image.resize passes the full image,
// i.e. in0 = 0, in1 = inSize, as C floats.
inline Coeffs precompute_coeffs(int inSize, float in0, float in1, int outSize, PilFilter filter = PilFilter::bilinear) {
    Coeffs c;
    // "prepare for horizontal stretch": scale = (double)(in1 - in0) / outSize,
    // and the filter is stretched by the scale when downsampling (antialias).
    double scale = static_cast<double>(in1 - in0) / outSize;
    double filterscale = scale;
    if (filterscale < 1.0) filterscale = 1.0;
    // "determine support size (length of resampling filter)"
    const double support = filter_support(filter) * filterscale;
    // "maximum number of coeffs"
    const int ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
    // Pillow's overflow check: outSize > INT_MAX / (ksize * sizeof(double)).
    EVSAM_CHECK(outSize <= std::numeric_limits<int>::max() / (ksize * static_cast<int>(sizeof(double))),
                "pil_resize: coefficient table too large");
    c.ksize = ksize;
    c.kk.assign(static_cast<size_t>(outSize) * static_cast<size_t>(ksize), 0.0);
    c.bounds.assign(static_cast<size_t>(outSize) * 2, 0);

    for (int xx = 0; xx < outSize; xx++) {
        const double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        const double ss = 1.0 / filterscale;  // Pillow: inv_filterscale
        // "Round the value": C truncation of (center -/+ support + 0.5), then clamp.
        int xmin = static_cast<int>(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = static_cast<int>(center + support + 0.5);
        if (xmax > inSize) xmax = inSize;
        xmax -= xmin;  // from here on xmax is a count
        double* k = &c.kk[static_cast<size_t>(xx) * static_cast<size_t>(ksize)];
        for (int x = 0; x < xmax; x++) {
            // Pillow: filterp->filter((x + xmin - center + 0.5) * inv_filterscale)
            const double w = filter_weight(filter, rounded((x + xmin - center + 0.5) * ss));
            k[x] = w;
            ww += w;
        }
        for (int x = 0; x < xmax; x++) {
            if (ww != 0.0) k[x] /= ww;
        }
        // "Remaining values should stay empty if they are used despite of xmax." (already 0)
        c.bounds[static_cast<size_t>(xx) * 2 + 0] = xmin;
        c.bounds[static_cast<size_t>(xx) * 2 + 1] = xmax;
    }
    return c;
}

// Resample.c: normalize_coeffs_8bpc -- weights to 22-bit fixed point, rounding
// half away from zero by C truncation of (w * 2^22 +/- 0.5).
inline std::vector<int32_t> normalize_coeffs_8bpc(const std::vector<double>& prekk) {
    std::vector<int32_t> kk(prekk.size());
    for (size_t x = 0; x < prekk.size(); x++) {
        if (prekk[x] < 0) {
            kk[x] = static_cast<int32_t>(-0.5 + prekk[x] * (1 << kPrecisionBits));
        } else {
            kk[x] = static_cast<int32_t>(0.5 + prekk[x] * (1 << kPrecisionBits));
        }
    }
    return kk;
}

// Resample.c: clip8 -- `clip8_lookups[in >> PRECISION_BITS]`, a table that maps
// negative values to 0, 0..255 to themselves and larger values to 255. The shift
// is arithmetic (floor), as on every compiler Pillow is built with.
inline uint8_t clip8(int32_t in) {
    const int32_t v = in >> kPrecisionBits;
    return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// GCC 12+ may warn -Wmaybe-uninitialized on px[ch] below when everything is
// inlined into a caller whose source is a small local array (it cannot see that
// bounds[] keeps x + xmin inside the row). A false positive, silenced here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// Resample.c: ImagingResampleHorizontal_8bpc. Writes outH rows of outW pixels
// into out (HWC); out row yy is computed from source row yy + offset.
inline void resample_horizontal_8bpc(uint8_t* out, int outH, int outW, const uint8_t* in, int inW, int C, int offset,
                                     const Coeffs& co) {
    const std::vector<int32_t> kk = normalize_coeffs_8bpc(co.kk);
    for (int yy = 0; yy < outH; yy++) {
        const uint8_t* row = in + (static_cast<size_t>(yy) + offset) * inW * C;
        uint8_t* orow = out + static_cast<size_t>(yy) * outW * C;
        for (int xx = 0; xx < outW; xx++) {
            const int xmin = co.bounds[static_cast<size_t>(xx) * 2 + 0];
            const int xmax = co.bounds[static_cast<size_t>(xx) * 2 + 1];
            const int32_t* k = &kk[static_cast<size_t>(xx) * co.ksize];
            // ss0 = ss1 = ss2 = ss3 = 1 << (PRECISION_BITS - 1): round to nearest on the final shift.
            int32_t ss[4] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1),
                             1 << (kPrecisionBits - 1)};
            for (int x = 0; x < xmax; x++) {
                const uint8_t* px = row + static_cast<size_t>(x + xmin) * C;
                for (int ch = 0; ch < C; ch++) ss[ch] += static_cast<int32_t>(px[ch]) * k[x];
            }
            for (int ch = 0; ch < C; ch++) orow[static_cast<size_t>(xx) * C + ch] = clip8(ss[ch]);
        }
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// Resample.c: ImagingResampleVertical_8bpc. Writes outH rows of outW pixels;
// out row yy reads the rows bounds[2*yy] .. +bounds[2*yy+1]-1 of in (whose
// width is also outW). Pillow calls it with offset 0, so there is none here.
inline void resample_vertical_8bpc(uint8_t* out, int outH, int outW, const uint8_t* in, int C, const Coeffs& co) {
    const std::vector<int32_t> kk = normalize_coeffs_8bpc(co.kk);
    const size_t rowlen = static_cast<size_t>(outW) * C;
    for (int yy = 0; yy < outH; yy++) {
        const int32_t* k = &kk[static_cast<size_t>(yy) * co.ksize];
        const int ymin = co.bounds[static_cast<size_t>(yy) * 2 + 0];
        const int ymax = co.bounds[static_cast<size_t>(yy) * 2 + 1];
        uint8_t* orow = out + static_cast<size_t>(yy) * rowlen;
        for (size_t i = 0; i < rowlen; i++) {  // every (xx, channel) on its own
            int32_t ss = 1 << (kPrecisionBits - 1);
            for (int y = 0; y < ymax; y++)
                ss += static_cast<int32_t>(in[(static_cast<size_t>(y) + ymin) * rowlen + i]) * k[y];
            orow[i] = clip8(ss);
        }
    }
}

// The size checks of _imaging.c _resize ("height and width must be > 0") and of
// Storage.c ImagingNewPrologueSubtype (width <= INT_MAX / 4 - 1, its "linesize
// overflow check") plus what a C++ caller needs on top: C in 1..4, a non-empty
// source, every side an int (Pillow's sizes are C ints) and no byte count
// overflowing ptrdiff_t. Throws evsam::Error with a one-line message naming the sizes.
inline void check_resize_sizes(int64_t H, int64_t W, int64_t C, int64_t newH, int64_t newW) {
    EVSAM_CHECK(C >= 1 && C <= 4, "pil_resize: channels must be 1..4, got " + std::to_string(C));
    EVSAM_CHECK(newH >= 1 && newW >= 1, "pil_resize: height and width must be > 0 (requested " + std::to_string(newH) +
                                            "x" + std::to_string(newW) + ")");
    EVSAM_CHECK(H >= 1 && W >= 1, "pil_resize: empty source image " + std::to_string(H) + "x" + std::to_string(W));
    constexpr int64_t kMaxSide = std::numeric_limits<int>::max();
    constexpr int64_t kMaxBytes = std::numeric_limits<std::ptrdiff_t>::max();
    constexpr int64_t kMaxWidth = kMaxSide / 4 - 1;
    const bool fits = H <= kMaxSide && W <= kMaxWidth && newH <= kMaxSide && newW <= kMaxWidth &&
                      H <= kMaxBytes / W / C && newH <= kMaxBytes / newW / C &&  // source, destination
                      H <= kMaxBytes / newW / C && newH <= kMaxBytes / W / C;    // either intermediate
    EVSAM_CHECK(fits, "pil_resize: image too large (" + std::to_string(H) + "x" + std::to_string(W) + " -> " +
                          std::to_string(newH) + "x" + std::to_string(newW) + ", " + std::to_string(C) + " channels)");
}

// True when the given Pillow release runs the vertical pass first (both passes needed).
inline bool vertical_first(PilPassOrder order, int64_t H, int64_t W, int64_t newH, int64_t newW) {
    switch (order) {
        case PilPassOrder::pillow_12_3: return H > W * 100 && newH < H;  // Image.resize, Pillow 12.3
        case PilPassOrder::pillow_13: return newH < H && H - newH > 2 * (W - newW);
        default: return false;
    }
}

}  // namespace pil

// PIL.Image.resize((newW, newH), filter) on an HWC uint8 image with C channels
// (1..4), src (H*W*C bytes) -> dst (newH*newW*C bytes, must not overlap).
// Mirrors _imaging.c _resize (size checks, copy when the size is unchanged),
// Resample.c ImagingResample (the filter) and ImagingResampleInner (the passes,
// in the order of the Pillow release `order` names).
inline void pil_resize_u8(uint8_t* dst, const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t newH, int64_t newW,
                          PilFilter filter, PilPassOrder order = PilPassOrder::horizontal_first) {
    pil::check_resize_sizes(H, W, C, newH, newW);
    const int c = static_cast<int>(C);
    const int inW = static_cast<int>(W), inH = static_cast<int>(H);
    const int xsize = static_cast<int>(newW), ysize = static_cast<int>(newH);

    // Image.resize / _resize: same size and full box -> a plain copy.
    if (xsize == inW && ysize == inH) {
        std::memcpy(dst, src, static_cast<size_t>(H * W * C));
        return;
    }

    // ImagingResampleInner with box = (0, 0, W, H): a pass is needed only when
    // that axis changes size ("need_horizontal = xsize != imIn->xsize || box[0] || box[2] != xsize").
    const float box[4] = {0.0f, 0.0f, static_cast<float>(inW), static_cast<float>(inH)};
    const bool need_horizontal = xsize != inW || box[0] != 0.0f || box[2] != static_cast<float>(xsize);
    const bool need_vertical = ysize != inH || box[1] != 0.0f || box[3] != static_cast<float>(ysize);

    pil::Coeffs vert = pil::precompute_coeffs(inH, box[1], box[3], ysize, filter);
    if (need_horizontal && need_vertical && pil::vertical_first(order, H, W, newH, newW)) {
        // Vertical pass over every column into ysize x W, then the horizontal pass.
        const pil::Coeffs horiz = pil::precompute_coeffs(inW, box[0], box[2], xsize, filter);
        std::vector<uint8_t> tmp(static_cast<size_t>(ysize) * inW * c);
        pil::resample_vertical_8bpc(tmp.data(), ysize, inW, src, c, vert);
        pil::resample_horizontal_8bpc(dst, ysize, xsize, tmp.data(), inW, c, 0, horiz);
        return;
    }

    // Horizontal pass first. "First used row in the source image" / "Last used row
    // in the source image": it only processes the source rows the vertical pass reads.
    const int ybox_first = vert.bounds[0];
    const int ybox_last =
        vert.bounds[static_cast<size_t>(ysize) * 2 - 2] + vert.bounds[static_cast<size_t>(ysize) * 2 - 1];

    const uint8_t* cur = src;  // Pillow's imIn: the source, or the horizontally resampled rows
    int curW = inW;
    std::vector<uint8_t> tmp;
    if (need_horizontal) {
        // The horizontal coefficients are computed only when that pass runs.
        const pil::Coeffs horiz = pil::precompute_coeffs(inW, box[0], box[2], xsize, filter);
        // "Shift bounds for vertical pass"
        for (int i = 0; i < ysize; i++) vert.bounds[static_cast<size_t>(i) * 2] -= ybox_first;
        const int tmpH = ybox_last - ybox_first;
        tmp.resize(static_cast<size_t>(tmpH) * xsize * c);
        pil::resample_horizontal_8bpc(tmp.data(), tmpH, xsize, src, inW, c, ybox_first, horiz);
        cur = tmp.data();
        curW = xsize;
    }
    if (need_vertical) {
        // "imIn can be the original image or horizontally resampled one"
        pil::resample_vertical_8bpc(dst, ysize, curW, cur, c, vert);
    } else {
        // Only the horizontal pass ran; ybox_first = 0 and the rows are the output.
        std::memcpy(dst, cur, static_cast<size_t>(ysize) * curW * c);
    }
}

// Convenience: returns the newH*newW*C resized bytes.
inline std::vector<uint8_t> pil_resize_u8(const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t newH,
                                          int64_t newW, PilFilter filter,
                                          PilPassOrder order = PilPassOrder::horizontal_first) {
    pil::check_resize_sizes(H, W, C, newH, newW);
    std::vector<uint8_t> out(static_cast<size_t>(newH * newW * C));
    pil_resize_u8(out.data(), src, H, W, C, newH, newW, filter, order);
    return out;
}

// Convenience: an (H, W, C) uint8 tensor -> (newH, newW, C).
inline Tensor<uint8_t> pil_resize_u8(const Tensor<uint8_t>& img, int64_t newH, int64_t newW, PilFilter filter,
                                     PilPassOrder order = PilPassOrder::horizontal_first) {
    EVSAM_CHECK(img.dim() == 3, "pil_resize: expected an (H, W, C) image, got " + shape_str(img.shape()));
    pil::check_resize_sizes(img.size(0), img.size(1), img.size(2), newH, newW);
    Tensor<uint8_t> out({newH, newW, img.size(2)});
    pil_resize_u8(out.data(), img.data(), img.size(0), img.size(1), img.size(2), newH, newW, filter, order);
    return out;
}

// PIL.Image.resize((newW, newH), Image.BILINEAR): SAM's and EfficientViT-SAM's resize.
inline void pil_resize_bilinear_u8(uint8_t* dst, const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t newH,
                                   int64_t newW) {
    pil_resize_u8(dst, src, H, W, C, newH, newW, PilFilter::bilinear);
}
inline std::vector<uint8_t> pil_resize_bilinear_u8(const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t newH,
                                                   int64_t newW) {
    return pil_resize_u8(src, H, W, C, newH, newW, PilFilter::bilinear);
}
inline Tensor<uint8_t> pil_resize_bilinear_u8(const Tensor<uint8_t>& img, int64_t newH, int64_t newW) {
    return pil_resize_u8(img, newH, newW, PilFilter::bilinear);
}

// PIL.Image.resize((newW, newH), Image.BICUBIC): the classification models' resize
// (torchvision Resize(..., InterpolationMode.BICUBIC) on a PIL image).
inline void pil_resize_bicubic_u8(uint8_t* dst, const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t newH,
                                  int64_t newW, PilPassOrder order = PilPassOrder::horizontal_first) {
    pil_resize_u8(dst, src, H, W, C, newH, newW, PilFilter::bicubic, order);
}
inline std::vector<uint8_t> pil_resize_bicubic_u8(const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t newH,
                                                  int64_t newW, PilPassOrder order = PilPassOrder::horizontal_first) {
    return pil_resize_u8(src, H, W, C, newH, newW, PilFilter::bicubic, order);
}
inline Tensor<uint8_t> pil_resize_bicubic_u8(const Tensor<uint8_t>& img, int64_t newH, int64_t newW,
                                             PilPassOrder order = PilPassOrder::horizontal_first) {
    return pil_resize_u8(img, newH, newW, PilFilter::bicubic, order);
}

}  // namespace evsam
