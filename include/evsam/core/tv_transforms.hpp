// evsam: torchvision's classification-eval transform on uint8 images, bit-exact.
//
// Upstream's ImageNet evaluation (applications/efficientvit_cls/eval_efficientvit_cls_model.py)
// feeds datasets.ImageFolder's RGB PIL images through
//   transforms.Resize(int(math.ceil(image_size / crop_ratio)), interpolation=InterpolationMode.BICUBIC)
//   transforms.CenterCrop(image_size)
//   transforms.ToTensor(), transforms.Normalize(...)
// This header gives the uint8 image that reaches ToTensor. Ported (checked against
// torchvision 0.29.2 with Pillow 13.0.0 by tests/data/resize, made by
// validation/make_resize_fixtures.py):
//
//   torchvision/transforms/functional.py
//     _compute_resized_output_size    -> tv_resize_output_size
//     resize (PIL branch: same size returns the image, else PIL.Image.resize, which is
//             core/pil_resize.hpp)    -> tv_resize_pil_u8
//     center_crop (pad with 0 when the crop is larger, then crop)
//                                     -> tv_center_crop_u8
//   the eval script's Resize + CenterCrop
//                                     -> classify_resize_crop_u8
//
// Size letters: H, W = source height/width, C = channels (HWC, 1..4), R = crop side.
// Sizes are (height, width) pairs, as torchvision's [h, w] lists.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "evsam/core/error.hpp"
#include "evsam/core/pil_resize.hpp"
#include "evsam/core/tensor.hpp"

namespace evsam {

// torchvision _compute_resized_output_size(image_size=(H, W), size=[size], max_size=None):
//   short, long = (w, h) if w <= h else (h, w)
//   new_short, new_long = size, int(size * long / short)
//   new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
// `size * long / short` is Python's true division of two ints (correctly rounded),
// which equals the double division here while size * long < 2^53 (checked);
// int() truncates toward zero. Returns (new_h, new_w).
inline std::pair<int64_t, int64_t> tv_resize_output_size(int64_t H, int64_t W, int64_t size) {
    EVSAM_CHECK(H >= 1 && W >= 1, "tv_resize: empty image " + std::to_string(H) + "x" + std::to_string(W));
    EVSAM_CHECK(size >= 1, "tv_resize: size must be >= 1, got " + std::to_string(size));
    const bool w_is_short = W <= H;
    const int64_t shorter = w_is_short ? W : H, longer = w_is_short ? H : W;
    constexpr int64_t kExact = int64_t(1) << 53;  // doubles hold every integer below this
    EVSAM_CHECK(size <= std::numeric_limits<int>::max() && longer <= kExact / size,
                "tv_resize: size " + std::to_string(size) + " too large for a " + std::to_string(H) + "x" +
                    std::to_string(W) + " image");
    const int64_t new_short = size;
    const int64_t new_long =
        static_cast<int64_t>(static_cast<double>(size * longer) / static_cast<double>(shorter));  // int(...)
    return w_is_short ? std::make_pair(new_long, new_short) : std::make_pair(new_short, new_long);
}

// torchvision.transforms.functional.resize(pil_image, size) with an int size:
// the short side becomes `size`. An image already of the output size is returned
// as it is; otherwise PIL.Image.resize((new_w, new_h), filter) with the pass
// order of the Pillow release `order` names (core/pil_resize.hpp). Returns the
// (new_h, new_w) size through out_h/out_w and the bytes.
inline std::vector<uint8_t> tv_resize_pil_u8(const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t size,
                                             PilFilter filter, PilPassOrder order = PilPassOrder::horizontal_first,
                                             int64_t* out_h = nullptr, int64_t* out_w = nullptr) {
    const std::pair<int64_t, int64_t> hw = tv_resize_output_size(H, W, size);
    if (out_h) *out_h = hw.first;
    if (out_w) *out_w = hw.second;
    if (hw.first == H && hw.second == W) {  // "if [image_height, image_width] == output_size: return img"
        pil::check_resize_sizes(H, W, C, H, W);
        return std::vector<uint8_t>(src, src + static_cast<size_t>(H * W * C));
    }
    return pil_resize_u8(src, H, W, C, hw.first, hw.second, filter, order);
}

namespace tv {

// Python's round() of d / 2.0 for an integer d >= 0: half to even.
inline int64_t round_half_even_div2(int64_t d) {
    int64_t k = d / 2;
    if (d % 2 != 0 && k % 2 != 0) ++k;
    return k;
}

}  // namespace tv

// torchvision.transforms.functional.center_crop(pil_image, [crop_h, crop_w]):
//   if the crop is larger than the image on a side, pad that side with 0 by
//   ((crop - size) // 2, (crop - size + 1) // 2) (left/top, right/bottom) and
//   return the padded image if it now has the crop's size;
//   crop_top = int(round((image_height - crop_height) / 2.0)), likewise crop_left
//   (Python's round: half to even), then PIL's crop of that box.
inline std::vector<uint8_t> tv_center_crop_u8(const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t crop_h,
                                              int64_t crop_w) {
    EVSAM_CHECK(H >= 1 && W >= 1, "tv_center_crop: empty image " + std::to_string(H) + "x" + std::to_string(W));
    EVSAM_CHECK(C >= 1 && C <= 4, "tv_center_crop: channels must be 1..4, got " + std::to_string(C));
    EVSAM_CHECK(crop_h >= 1 && crop_w >= 1,
                "tv_center_crop: crop size must be >= 1, got " + std::to_string(crop_h) + "x" + std::to_string(crop_w));
    constexpr int64_t kMaxSide = std::numeric_limits<int>::max();
    EVSAM_CHECK(H <= kMaxSide && W <= kMaxSide && crop_h <= kMaxSide / crop_w / C,
                "tv_center_crop: crop " + std::to_string(crop_h) + "x" + std::to_string(crop_w) + " too large");
    // Padding (left, top) when the crop is larger; the padded image's size.
    const int64_t pad_left = crop_w > W ? (crop_w - W) / 2 : 0;
    const int64_t pad_top = crop_h > H ? (crop_h - H) / 2 : 0;
    const int64_t padded_w = crop_w > W ? W + pad_left + (crop_w - W + 1) / 2 : W;
    const int64_t padded_h = crop_h > H ? H + pad_top + (crop_h - H + 1) / 2 : H;
    // After padding both sides are >= the crop; crop_top/crop_left are 0 on a padded side.
    const int64_t crop_top = tv::round_half_even_div2(padded_h - crop_h);
    const int64_t crop_left = tv::round_half_even_div2(padded_w - crop_w);
    // Output pixel (y, x) is padded pixel (y + crop_top, x + crop_left), i.e. source
    // pixel (y + crop_top - pad_top, x + crop_left - pad_left), or 0 outside the source.
    const int64_t dy = crop_top - pad_top, dx = crop_left - pad_left;
    std::vector<uint8_t> out(static_cast<size_t>(crop_h * crop_w * C), 0);
    const int64_t x0 = std::max<int64_t>(0, -dx), x1 = std::min<int64_t>(crop_w, W - dx);
    for (int64_t y = 0; y < crop_h; ++y) {
        const int64_t sy = y + dy;
        if (sy < 0 || sy >= H || x0 >= x1) continue;
        std::memcpy(&out[static_cast<size_t>((y * crop_w + x0) * C)], src + static_cast<size_t>((sy * W + x0 + dx) * C),
                    static_cast<size_t>((x1 - x0) * C));
    }
    return out;
}

// Upstream's classification transform up to ToTensor, on an HWC uint8 image
// (RGB in upstream; every channel count 1..4 is resized the same way):
//   transforms.Resize(int(math.ceil(R / crop_ratio)), interpolation=BICUBIC)
//   transforms.CenterCrop(R)
// Returns the R x R x C bytes. crop_ratio is upstream's --crop_ratio (0.95 by
// default; 1.0 resizes the short side to R). R / crop_ratio is a double division,
// as in Python. `order`: the Pillow release to follow where Pillow's pass order
// changed (only images whose height shrinks much more than their width; see
// core/pil_resize.hpp); the default is every release up to 12.2.
inline std::vector<uint8_t> classify_resize_crop_u8(const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t R,
                                                    double crop_ratio,
                                                    PilPassOrder order = PilPassOrder::horizontal_first) {
    EVSAM_CHECK(R >= 1 && R <= std::numeric_limits<int>::max(),
                "classify_resize_crop: image size R must be >= 1, got " + std::to_string(R));
    EVSAM_CHECK(std::isfinite(crop_ratio) && crop_ratio > 0,
                "classify_resize_crop: crop_ratio must be > 0, got " + std::to_string(crop_ratio));
    const double resize_to = std::ceil(static_cast<double>(R) / crop_ratio);  // math.ceil(image_size / crop_ratio)
    EVSAM_CHECK(resize_to >= 1 && resize_to <= std::numeric_limits<int>::max(),
                "classify_resize_crop: resize size " + std::to_string(resize_to) + " out of range (R " +
                    std::to_string(R) + ", crop_ratio " + std::to_string(crop_ratio) + ")");
    int64_t rh = 0, rw = 0;
    const std::vector<uint8_t> resized =
        tv_resize_pil_u8(src, H, W, C, static_cast<int64_t>(resize_to), PilFilter::bicubic, order, &rh, &rw);
    return tv_center_crop_u8(resized.data(), rh, rw, C, R, R);
}

// Convenience: an (H, W, C) uint8 tensor -> (R, R, C).
inline Tensor<uint8_t> classify_resize_crop_u8(const Tensor<uint8_t>& img, int64_t R, double crop_ratio,
                                               PilPassOrder order = PilPassOrder::horizontal_first) {
    EVSAM_CHECK(img.dim() == 3, "classify_resize_crop: expected an (H, W, C) image, got " + shape_str(img.shape()));
    const std::vector<uint8_t> v =
        classify_resize_crop_u8(img.data(), img.size(0), img.size(1), img.size(2), R, crop_ratio, order);
    Tensor<uint8_t> out({R, R, img.size(2)});
    std::memcpy(out.data(), v.data(), v.size());
    return out;
}

}  // namespace evsam
