// evsam: segment_anything/build_sam.py: SAM's own models, build_sam_vit_h / _l / _b, as
// Sam<ImageEncoderViT> (sam/sam.hpp) with SAM's prompt encoder and mask decoder.
//   vit_b: embed 768,  depth 12, heads 12, global blocks [2, 5, 8, 11]
//   vit_l: embed 1024, depth 24, heads 16, global blocks [5, 11, 17, 23]
//   vit_h: embed 1280, depth 32, heads 16, global blocks [7, 15, 23, 31]
// All: image 1024, patch 16, window 14, relative positions, mlp_ratio 4, out_chans 256.
// Preprocessing (Sam.preprocess and SamPredictor.set_image): ResizeLongestSide(1024) through
// Pillow's bilinear resize, (x - pixel_mean) / pixel_std on the 0-255 values, zero padding to 1024.
// Prompts and masks live in the 1024 frame (the encoder's own img_size).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "evsam/sam/image_encoder_vit.hpp"
#include "evsam/sam/sam.hpp"

namespace evsam {

using SamViTConfig = SamConfigOf<ImageEncoderViTConfig>;

template <class T = float, class B = backend::cpu>
using SamViT = Sam<ImageEncoderViT<T, B>, T, B>;

// _build_sam(...): image_size 1024, prompt frame = img_size, pixel_range normalisation.
inline SamViTConfig build_sam_vit(std::string name, ImageEncoderViTConfig encoder) {
    SamViTConfig c;
    c.name = std::move(name);
    c.transform.resolution = encoder.img_size;
    c.transform.prompt_frame = encoder.img_size;
    c.transform.normalize = ImageTransform::Normalize::pixel_range;
    c.decoder.image_embedding_size = encoder.img_size / encoder.patch_size;
    c.decoder.embed_dim = encoder.out_chans;
    c.image_encoder = std::move(encoder);
    return c;
}

inline SamViTConfig sam_vit_b() { return build_sam_vit("vit_b", sam_vit_encoder(768, 12, 12, {2, 5, 8, 11})); }
inline SamViTConfig sam_vit_l() { return build_sam_vit("vit_l", sam_vit_encoder(1024, 24, 16, {5, 11, 17, 23})); }
inline SamViTConfig sam_vit_h() { return build_sam_vit("vit_h", sam_vit_encoder(1280, 32, 16, {7, 15, 23, 31})); }

}  // namespace evsam
