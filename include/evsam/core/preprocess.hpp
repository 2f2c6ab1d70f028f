// evsam: image preprocessing of the SAM models, bit-identical to upstream.
//
// Upstream (efficientvit/models/efficientvit/sam.py, EfficientViTSam.__init__):
//
//   self.transform = transforms.Compose([
//       SamResize(self.image_size[1]),                     # long side -> R (PIL bilinear)
//       transforms.ToTensor(),                              # uint8 HWC -> float32 CHW / 255
//       transforms.Normalize(mean=[123.675 / 255, 116.28 / 255, 103.53 / 255],
//                            std=[58.395 / 255, 57.12 / 255, 57.375 / 255]),
//       SamPad(self.image_size[1]),                         # zero-pad bottom/right to R x R
//   ])
//
// and EfficientViTSamPredictor.set_image runs self.model.transform(image).unsqueeze(0).
//
// Size letters: H, W = original image height/width; R = encoder input side
// (image_size[1]: 512 for the L models, 1024 for XL); newH, newW = the resized
// image, whose long side is R. Prompts (points, boxes) live in a separate frame
// whose long side is always 1024 (image_size[0]), even for L models that encode
// at 512: set_image computes self.input_size with
// ResizeLongestSide.get_preprocess_shape(H, W, long_side_length=image_size[0]).
//
// Every value is computed in float32 exactly as torch does on CPU (x / 255 is a
// true float division, mean/std are the Python doubles rounded to float32, then
// (x - mean) / std), so the float result equals upstream's tensor bit for bit;
// preprocess_image<T> converts those float32 values to T afterwards.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "evsam/core/error.hpp"
#include "evsam/core/pil_resize.hpp"
#include "evsam/core/tensor.hpp"

namespace evsam {

// SamResize.get_preprocess_shape (sam.py) and, identically,
// segment_anything ResizeLongestSide.get_preprocess_shape:
//   scale = long_side_length * 1.0 / max(oldh, oldw)
//   newh, neww = oldh * scale, oldw * scale
//   neww = int(neww + 0.5); newh = int(newh + 0.5)
// Python floats are doubles and int() truncates (values are >= 0 here).
// Returns (newh, neww); a side can come out 0 for extreme aspect ratios.
inline std::pair<int64_t, int64_t> get_preprocess_shape(int64_t oldh, int64_t oldw, int64_t long_side_length) {
    EVSAM_CHECK(oldh > 0 && oldw > 0,
                "get_preprocess_shape: empty image " + std::to_string(oldh) + "x" + std::to_string(oldw));
    const double scale = static_cast<double>(long_side_length) * 1.0 / static_cast<double>(std::max(oldh, oldw));
    const double newh = static_cast<double>(oldh) * scale;
    const double neww = static_cast<double>(oldw) * scale;
    return {static_cast<int64_t>(newh + 0.5), static_cast<int64_t>(neww + 0.5)};
}

// The prompt frame: EfficientViTSamPredictor.set_image sets
//   self.input_size = ResizeLongestSide.get_preprocess_shape(*self.original_size,
//                                                            long_side_length=self.model.image_size[0])
// with image_size[0] == 1024 for every model (L models encode at 512 but take
// prompts in this 1024 frame). Returns (h, w).
inline std::pair<int64_t, int64_t> input_size_1024(int64_t H, int64_t W) { return get_preprocess_shape(H, W, 1024); }

// SamResize(R).__call__ on an RGB uint8 HWC image: returns the (newH, newW, 3)
// uint8 image.
//   h, w, _ = image.shape; long_side = max(h, w)
//   if long_side != self.size: return self.apply_image(image)   # resize
//   else: return image                                          # untouched
// apply_image: target_size = get_preprocess_shape(h, w, self.size);
//   np.array(resize(to_pil_image(image), target_size))
// torchvision resize() on a PIL image -> PIL Image.resize((neww, newh), BILINEAR)
// (antialiased; torchvision 0.14 functional_pil.resize), which is
// pil_resize_bilinear_u8. A target side of 0 makes Pillow raise
// "height and width must be > 0"; so does this function.
inline Tensor<uint8_t> sam_resize(const uint8_t* rgb, int64_t H, int64_t W, int64_t R) {
    EVSAM_CHECK(H > 0 && W > 0, "sam_resize: empty image " + std::to_string(H) + "x" + std::to_string(W));
    EVSAM_CHECK(R > 0, "sam_resize: target long side must be > 0, got " + std::to_string(R));
    if (std::max(H, W) == R) {
        Tensor<uint8_t> out({H, W, 3});
        std::copy(rgb, rgb + H * W * 3, out.data());
        return out;
    }
    const auto [newh, neww] = get_preprocess_shape(H, W, R);
    EVSAM_CHECK(newh >= 1 && neww >= 1, "sam_resize: a " + std::to_string(H) + "x" + std::to_string(W) +
                                            " image resizes to " + std::to_string(newh) + "x" + std::to_string(neww) +
                                            " at long side " + std::to_string(R) +
                                            " (upstream's PIL resize raises: height and width must be > 0)");
    Tensor<uint8_t> out({newh, neww, 3});
    pil_resize_bilinear_u8(out.data(), rgb, H, W, 3, newh, neww);
    return out;
}

// How a SAM model turns an RGB image into its encoder input (the model's preprocessing):
// the long side resized to `resolution` (Pillow bilinear on uint8), normalised with the pixel
// mean and std, then zero-padded bottom-right to resolution x resolution. Prompts and masks live
// in a frame whose long side is `prompt_frame` (image_size[0]), whatever the resolution.
// The two normalisation orders round differently in float32, so each model names its own:
//   unit_range : EfficientViT-SAM's transform: ToTensor (x / 255), then
//                Normalize(mean / 255, std / 255), mean / 255 evaluated in double;
//   pixel_range: segment-anything's Sam.preprocess: (x - pixel_mean) / pixel_std on the 0-255
//                values (uint8 - float32 buffer promotes to float32).
struct ImageTransform {
    enum class Normalize { unit_range, pixel_range };
    int64_t resolution = 1024;
    int64_t prompt_frame = 1024;
    std::array<double, 3> pixel_mean{123.675, 116.28, 103.53};  // in 0-255 units, as upstream writes them
    std::array<double, 3> pixel_std{58.395, 57.12, 57.375};
    Normalize normalize = Normalize::unit_range;
};

// The normalisation of t applied to one uint8 value of channel c, in float32.
//   unit_range:  ToTensor (torchvision functional.to_tensor): img.to(float32).div(255);
//                Normalize (functional_tensor.normalize): mean = torch.as_tensor(mean, dtype=float32),
//                std likewise, then tensor.sub_(mean).div_(std). The mean/std are Python doubles
//                (123.675 / 255 evaluated in double) rounded once to float32.
//   pixel_range: x = (x - self.pixel_mean) / self.pixel_std with float32 buffers.
inline float normalize_value(const ImageTransform& t, int c, uint8_t v) {
    const size_t k = static_cast<size_t>(c);
    if (t.normalize == ImageTransform::Normalize::pixel_range)
        return (static_cast<float>(v) - static_cast<float>(t.pixel_mean[k])) / static_cast<float>(t.pixel_std[k]);
    const float mean = static_cast<float>(t.pixel_mean[k] / 255), std = static_cast<float>(t.pixel_std[k] / 255);
    const float x = static_cast<float>(v) / 255.0f;  // .div(255): true float32 division
    return (x - mean) / std;                         // .sub_(mean).div_(std)
}

using NormalizeTable = std::array<std::array<float, 256>, 3>;

// normalize_value for every (channel, value): the normalisation is elementwise, so it is exactly
// a 3 x 256 lookup table.
inline NormalizeTable normalize_table(const ImageTransform& t) {
    NormalizeTable table{};
    for (int c = 0; c < 3; ++c)
        for (int v = 0; v < 256; ++v)
            table[static_cast<size_t>(c)][static_cast<size_t>(v)] = normalize_value(t, c, static_cast<uint8_t>(v));
    return table;
}

// EfficientViT-SAM's ToTensor + Normalize (the default ImageTransform) on one value, and its table.
inline float sam_normalize_value(int c, uint8_t v) { return normalize_value(ImageTransform{}, c, v); }
inline const NormalizeTable& sam_normalize_table() {
    static const NormalizeTable table = normalize_table(ImageTransform{});
    return table;
}

// The whole transform followed by .unsqueeze(0): an RGB uint8 HWC image (H x W x 3, row-major)
// -> a (1, 3, R, R) tensor.
//   SamResize(R) / ResizeLongestSide(R)  -> sam_resize
//   normalisation                        -> normalize_table (float32), then static_cast<T>
//   SamPad(R) / F.pad(x, (0, R - w, 0, R - h)): zero-pad right and bottom *after* normalising,
//     so the padding is 0, not the mean colour.
template <class T>
Tensor<T> preprocess_image(const uint8_t* rgb, int64_t H, int64_t W, const ImageTransform& t) {
    const int64_t R = t.resolution;
    const Tensor<uint8_t> resized = sam_resize(rgb, H, W, R);
    const int64_t h = resized.size(0), w = resized.size(1);
    // SamPad.__call__: assert th >= h and tw >= w
    EVSAM_CHECK(h <= R && w <= R, "preprocess_image: resized image " + std::to_string(h) + "x" + std::to_string(w) +
                                      " exceeds " + std::to_string(R));
    const NormalizeTable table = normalize_table(t);
    Tensor<T> out({1, 3, R, R}, T(0));
    for (int c = 0; c < 3; ++c) {
        const auto& tc = table[static_cast<size_t>(c)];
        for (int64_t y = 0; y < h; ++y) {
            const uint8_t* src = resized.data() + y * w * 3 + c;
            T* dst = &out.at(0, c, y, 0);
            for (int64_t x = 0; x < w; ++x) dst[x] = static_cast<T>(tc[src[x * 3]]);
        }
    }
    return out;
}

// EfficientViT-SAM's transform (EfficientViTSam.transform) at encoder resolution R.
template <class T>
Tensor<T> preprocess_image(const uint8_t* rgb, int64_t H, int64_t W, int64_t R) {
    ImageTransform t;
    t.resolution = R;
    return preprocess_image<T>(rgb, H, W, t);
}

// Same, for an (H, W, 3) uint8 tensor.
template <class T>
Tensor<T> preprocess_image(const Tensor<uint8_t>& rgb, int64_t R) {
    EVSAM_CHECK(rgb.dim() == 3 && rgb.size(2) == 3,
                "preprocess_image: expected an (H, W, 3) RGB image, got " + shape_str(rgb.shape()));
    return preprocess_image<T>(rgb.data(), rgb.size(0), rgb.size(1), R);
}

}  // namespace evsam
