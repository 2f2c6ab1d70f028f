// evsam: efficientvit/models/efficientvit/sam.py: class EfficientViTSam and the
// efficientvit_sam_{l0,l1,l2,xl0,xl1} configurations (with backbone.py's
// efficientvit_backbone_l{0,1,2}).
//
// Resolution: L models encode 512x512, XL models 1024x1024. Prompts and masks
// always live in the 1024 frame (image_size = (1024, R) upstream).
#pragma once
#include <string>
#include <vector>

#include "evsam/efficientvit/image_encoder.hpp"
#include "evsam/sam/mask_decoder.hpp"
#include "evsam/sam/prompt_encoder.hpp"

namespace evsam {

struct SamConfig {
    std::string name;       // "l0" ... "xl1"
    int64_t resolution;     // encoder input side R (image_size[1] upstream)
    int64_t prompt_frame = 1024;  // image_size[0] upstream
    LargeBackboneConfig backbone;
    SamNeckConfig neck;
    // PromptEncoder / MaskDecoder (sam.py: build_efficientvit_sam)
    int64_t embed_dim = 256, image_embedding_size = 64, mask_in_chans = 16;
    int64_t transformer_depth = 2, transformer_mlp_dim = 2048, transformer_heads = 8;
    int64_t num_multimask_outputs = 3, iou_head_depth = 3, iou_head_hidden_dim = 256;
};

inline const std::vector<std::string>& sam_model_names() {
    static const std::vector<std::string> names = {"l0", "l1", "l2", "xl0", "xl1"};
    return names;
}

// The five official configurations. Accepts "l0" or "efficientvit-sam-l0" / "efficientvit_sam_l0".
inline SamConfig sam_config(std::string name) {
    for (const char* pre : {"efficientvit-sam-", "efficientvit_sam_"})
        if (name.rfind(pre, 0) == 0) name = name.substr(std::string(pre).size());
    SamConfig c;
    c.name = name;
    if (name == "l0" || name == "l1" || name == "l2") {
        c.resolution = 512;
        c.backbone.width_list = {32, 64, 128, 256, 512};
        c.backbone.depth_list = name == "l0"   ? std::vector<int64_t>{1, 1, 1, 4, 4}
                                : name == "l1" ? std::vector<int64_t>{1, 1, 1, 6, 6}
                                               : std::vector<int64_t>{1, 2, 2, 8, 8};
        c.neck.fid_list = {"stage4", "stage3", "stage2"};
        c.neck.in_channel_list = {512, 256, 128};
        c.neck.head_depth = name == "l0" ? 4 : name == "l1" ? 8 : 12;
        c.neck.expand_ratio = 1;
    } else if (name == "xl0" || name == "xl1") {
        c.resolution = 1024;
        c.backbone.width_list = {32, 64, 128, 256, 512, 1024};
        c.backbone.depth_list = name == "xl0" ? std::vector<int64_t>{0, 1, 1, 2, 3, 3} : std::vector<int64_t>{1, 2, 2, 4, 6, 6};
        c.backbone.block_list = {"res", "fmb", "fmb", "fmb", "att@3", "att@3"};
        c.backbone.expand_list = {1, 4, 4, 4, 4, 6};
        c.backbone.fewer_norm_list = {false, false, false, false, true, true};
        c.neck.fid_list = {"stage5", "stage4", "stage3"};
        c.neck.in_channel_list = {1024, 512, 256};
        c.neck.head_depth = name == "xl0" ? 6 : 12;
        c.neck.expand_ratio = 4;
    } else {
        throw Error("unknown model '" + name + "' (expected one of l0, l1, l2, xl0, xl1)");
    }
    c.neck.head_width = 256;
    c.neck.middle_op = "fmb";
    c.neck.out_dim = 256;
    return c;
}

template <class T = float, class B = backend::cpu>
struct EfficientViTSam : Module<T, B> {
    SamConfig cfg;
    EfficientViTSamImageEncoder<T, B> image_encoder;
    PromptEncoder<T, B> prompt_encoder;
    MaskDecoder<T, B> mask_decoder;

    explicit EfficientViTSam(SamConfig c)
        : cfg(std::move(c)), image_encoder(cfg.backbone, cfg.neck),
          prompt_encoder(cfg.embed_dim, cfg.image_embedding_size, cfg.prompt_frame, cfg.mask_in_chans),
          mask_decoder(cfg.embed_dim,
                       TwoWayTransformer<T, B>(cfg.transformer_depth, cfg.embed_dim, cfg.transformer_heads, cfg.transformer_mlp_dim),
                       cfg.num_multimask_outputs, cfg.iou_head_depth, cfg.iou_head_hidden_dim) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override { this->set_name(p);
        image_encoder.visit(v, p + "image_encoder.");
        prompt_encoder.visit(v, p + "prompt_encoder.");
        mask_decoder.visit(v, p + "mask_decoder.");
    }
};

}  // namespace evsam
