// evsam: efficientvit/models/efficientvit/sam.py: class EfficientViTSam and the
// efficientvit_sam_{l0,l1,l2,xl0,xl1} configurations (with backbone.py's
// efficientvit_backbone_l{0,1,2}).
//
// EfficientViTSam is SAM (sam/sam.hpp) with EfficientViTSamImageEncoder. Resolution: L models
// encode 512x512, XL models 1024x1024. Prompts and masks always live in the 1024 frame
// (image_size = (1024, R) upstream).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "evsam/efficientvit/image_encoder.hpp"
#include "evsam/sam/sam.hpp"

namespace evsam {

using EfficientViTSamConfig = SamConfigOf<EfficientViTSamImageEncoderConfig>;

template <class T = float, class B = backend::cpu>
using EfficientViTSam = Sam<EfficientViTSamImageEncoder<T, B>, T, B>;

// backbone.py: efficientvit_backbone_l0 / l1 / l2.
inline LargeBackboneConfig efficientvit_backbone_l(std::vector<int64_t> depth_list) {
    LargeBackboneConfig c;
    c.width_list = {32, 64, 128, 256, 512};
    c.depth_list = std::move(depth_list);
    return c;
}
inline LargeBackboneConfig efficientvit_backbone_l0() { return efficientvit_backbone_l({1, 1, 1, 4, 4}); }
inline LargeBackboneConfig efficientvit_backbone_l1() { return efficientvit_backbone_l({1, 1, 1, 6, 6}); }
inline LargeBackboneConfig efficientvit_backbone_l2() { return efficientvit_backbone_l({1, 2, 2, 8, 8}); }

// sam.py: the XL models' EfficientViTLargeBackbone (built inline in efficientvit_sam_xl0 / xl1).
inline LargeBackboneConfig efficientvit_backbone_xl(std::vector<int64_t> depth_list) {
    LargeBackboneConfig c;
    c.width_list = {32, 64, 128, 256, 512, 1024};
    c.depth_list = std::move(depth_list);
    c.block_list = {"res", "fmb", "fmb", "fmb", "att@3", "att@3"};
    c.expand_list = {1, 4, 4, 4, 4, 6};
    c.fewer_norm_list = {false, false, false, false, true, true};
    return c;
}

// sam.py: SamNeck(fid_list, in_channel_list, head_width=256, head_depth, expand_ratio, middle_op="fmb").
inline SamNeckConfig sam_neck(std::vector<std::string> fid_list, std::vector<int64_t> in_channel_list,
                              int64_t head_depth, double expand_ratio) {
    SamNeckConfig n;
    n.fid_list = std::move(fid_list);
    n.in_channel_list = std::move(in_channel_list);
    n.head_width = 256;
    n.head_depth = head_depth;
    n.expand_ratio = expand_ratio;
    n.middle_op = "fmb";
    n.out_dim = 256;
    return n;
}

// sam.py: build_efficientvit_sam(image_encoder, image_size): SAM's prompt encoder and mask decoder
// (SamDecoderConfig's defaults), image_size = (1024, image_size), EfficientViTSam.transform.
inline EfficientViTSamConfig build_efficientvit_sam(std::string name, EfficientViTSamImageEncoderConfig image_encoder,
                                                    int64_t image_size) {
    EfficientViTSamConfig c;
    c.name = std::move(name);
    c.transform.resolution = image_size;
    c.transform.prompt_frame = 1024;
    c.transform.normalize = ImageTransform::Normalize::unit_range;
    c.image_encoder = std::move(image_encoder);
    return c;
}

inline EfficientViTSamConfig efficientvit_sam_l0() {
    return build_efficientvit_sam(
        "l0", {efficientvit_backbone_l0(), sam_neck({"stage4", "stage3", "stage2"}, {512, 256, 128}, 4, 1)}, 512);
}
inline EfficientViTSamConfig efficientvit_sam_l1() {
    return build_efficientvit_sam(
        "l1", {efficientvit_backbone_l1(), sam_neck({"stage4", "stage3", "stage2"}, {512, 256, 128}, 8, 1)}, 512);
}
inline EfficientViTSamConfig efficientvit_sam_l2() {
    return build_efficientvit_sam(
        "l2", {efficientvit_backbone_l2(), sam_neck({"stage4", "stage3", "stage2"}, {512, 256, 128}, 12, 1)}, 512);
}
inline EfficientViTSamConfig efficientvit_sam_xl0() {
    return build_efficientvit_sam("xl0",
                                  {efficientvit_backbone_xl({0, 1, 1, 2, 3, 3}),
                                   sam_neck({"stage5", "stage4", "stage3"}, {1024, 512, 256}, 6, 4)},
                                  1024);
}
inline EfficientViTSamConfig efficientvit_sam_xl1() {
    return build_efficientvit_sam("xl1",
                                  {efficientvit_backbone_xl({1, 2, 2, 4, 6, 6}),
                                   sam_neck({"stage5", "stage4", "stage3"}, {1024, 512, 256}, 12, 4)},
                                  1024);
}

}  // namespace evsam
