// evsam: Pillow's BILINEAR resampling of 8-bit images, ported bit-exactly.
//
// Upstream EfficientViT-SAM resizes the input photo with
//   torchvision.transforms.functional.resize(to_pil_image(image), target_size)
// (efficientvit/models/efficientvit/sam.py, SamResize.apply_image). For a PIL
// input torchvision calls PIL.Image.resize(size, BILINEAR), which always
// antialiases: the triangle filter is widened by the downscale factor. This
// header ports the C code that does the work, Pillow src/libImaging/Resample.c
// (verified bit-exact against Pillow 9.4.0; up to Pillow 12.x the 8-bit path
// has only been refactored, with the same arithmetic):
//
//   ImagingResample         -> pil_resize_bilinear_u8 (BILINEAR filter only)
//   ImagingResampleInner    -> pil_resize_bilinear_u8 (two passes, row range)
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
// so C = 4 matches Pillow's RGBX/CMYK, not RGBA. Upstream SAM only ever feeds RGB.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "evsam/core/error.hpp"
#include "evsam/core/tensor.hpp"

namespace evsam {
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

// Defensive: the filter argument is rounded to double before bilinear_filter
// uses it, so that no compiler may fuse `1.0 - t * ss` into one FMA (allowed
// under GCC's default -ffp-contract=fast when FMA is enabled). That would give
// different coefficients from Pillow's own (non-FMA) build. The volatile store
// forces the rounding; it costs nothing measurable (coefficients only).
inline double rounded(double v) {
    volatile double r = v;
    return r;
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
inline Coeffs precompute_coeffs(int inSize, float in0, float in1, int outSize) {
    Coeffs c;
    // "prepare for horizontal stretch": scale = (double)(in1 - in0) / outSize,
    // and the filter is stretched by the scale when downsampling (antialias).
    double scale = static_cast<double>(in1 - in0) / outSize;
    double filterscale = scale;
    if (filterscale < 1.0) filterscale = 1.0;
    // "determine support size (length of resampling filter)"
    const double support = kBilinearSupport * filterscale;
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
        const double ss = 1.0 / filterscale;
        // "Round the value": C truncation of (center -/+ support + 0.5), then clamp.
        int xmin = static_cast<int>(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = static_cast<int>(center + support + 0.5);
        if (xmax > inSize) xmax = inSize;
        xmax -= xmin;  // from here on xmax is a count
        double* k = &c.kk[static_cast<size_t>(xx) * static_cast<size_t>(ksize)];
        for (int x = 0; x < xmax; x++) {
            // Pillow: filterp->filter((x + xmin - center + 0.5) * ss)
            const double w = bilinear_filter(rounded((x + xmin - center + 0.5) * ss));
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

}  // namespace pil

// PIL.Image.resize((newW, newH), Image.BILINEAR) on an HWC uint8 image with C
// channels (1..4), src (H*W*C bytes) -> dst (newH*newW*C bytes, must not overlap).
// Mirrors _imaging.c _resize (size checks, copy when the size is unchanged) and
// Resample.c ImagingResampleInner.
inline void pil_resize_bilinear_u8(uint8_t* dst, const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t newH,
                                   int64_t newW) {
    EVSAM_CHECK(C >= 1 && C <= 4, "pil_resize: channels must be 1..4, got " + std::to_string(C));
    // _imaging.c _resize: "height and width must be > 0"
    EVSAM_CHECK(newH >= 1 && newW >= 1, "pil_resize: height and width must be > 0 (requested " + std::to_string(newH) +
                                            "x" + std::to_string(newW) + ")");
    EVSAM_CHECK(H >= 1 && W >= 1, "pil_resize: empty source image " + std::to_string(H) + "x" + std::to_string(W));
    constexpr int64_t kMax = std::numeric_limits<int>::max();
    EVSAM_CHECK(H <= kMax && W <= kMax && newH <= kMax && newW <= kMax && W * C <= kMax && newW * C <= kMax,
                "pil_resize: image too large");
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

    const pil::Coeffs horiz = pil::precompute_coeffs(inW, box[0], box[2], xsize);
    pil::Coeffs vert = pil::precompute_coeffs(inH, box[1], box[3], ysize);

    // "First used row in the source image" / "Last used row in the source image":
    // the horizontal pass only processes the source rows the vertical pass reads.
    const int ybox_first = vert.bounds[0];
    const int ybox_last =
        vert.bounds[static_cast<size_t>(ysize) * 2 - 2] + vert.bounds[static_cast<size_t>(ysize) * 2 - 1];

    const uint8_t* cur = src;  // Pillow's imIn: the source, or the horizontally resampled rows
    int curW = inW;
    std::vector<uint8_t> tmp;
    if (need_horizontal) {
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
inline std::vector<uint8_t> pil_resize_bilinear_u8(const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t newH,
                                                   int64_t newW) {
    EVSAM_CHECK(newH >= 1 && newW >= 1, "pil_resize: height and width must be > 0 (requested " + std::to_string(newH) +
                                            "x" + std::to_string(newW) + ")");
    std::vector<uint8_t> out(static_cast<size_t>(newH * newW * C));
    pil_resize_bilinear_u8(out.data(), src, H, W, C, newH, newW);
    return out;
}

// Convenience: an (H, W, C) uint8 tensor -> (newH, newW, C).
inline Tensor<uint8_t> pil_resize_bilinear_u8(const Tensor<uint8_t>& img, int64_t newH, int64_t newW) {
    EVSAM_CHECK(img.dim() == 3, "pil_resize: expected an (H, W, C) image, got " + shape_str(img.shape()));
    EVSAM_CHECK(newH >= 1 && newW >= 1, "pil_resize: height and width must be > 0 (requested " + std::to_string(newH) +
                                            "x" + std::to_string(newW) + ")");
    Tensor<uint8_t> out({newH, newW, img.size(2)});
    pil_resize_bilinear_u8(out.data(), img.data(), img.size(0), img.size(1), img.size(2), newH, newW);
    return out;
}

}  // namespace evsam
