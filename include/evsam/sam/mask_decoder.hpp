// evsam: segment_anything/modeling/mask_decoder.py: MLP, MaskDecoder
#pragma once
#include <vector>

#include "evsam/sam/transformer.hpp"

namespace evsam {

// num_layers Linear layers with ReLU between them (mask_decoder.py: class MLP).
template <class T, class B = backend::cpu>
struct MLP : Module<T, B> {
    std::vector<Linear<T, B>> layers;
    bool sigmoid_output;

    MLP(int64_t input_dim, int64_t hidden_dim, int64_t output_dim, int64_t num_layers, bool sigmoid_output_ = false)
        : sigmoid_output(sigmoid_output_) {
        for (int64_t i = 0; i < num_layers; ++i)
            layers.emplace_back(i == 0 ? input_dim : hidden_dim, i == num_layers - 1 ? output_dim : hidden_dim);
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override { this->set_name(p);
        for (size_t i = 0; i < layers.size(); ++i) layers[i].visit(v, p + "layers." + std::to_string(i) + ".");
    }
};

template <class T, class B = backend::cpu>
struct MaskDecoder : Module<T, B> {
    int64_t transformer_dim, num_multimask_outputs, num_mask_tokens;
    TwoWayTransformer<T, B> transformer;
    Embedding<T, B> iou_token;    // (1, D)
    Embedding<T, B> mask_tokens;  // (num_mask_tokens, D)
    // output_upscaling = Sequential(ConvTranspose2d(D, D/4, 2, s2), LayerNorm2d(D/4), GELU,
    //                               ConvTranspose2d(D/4, D/8, 2, s2), GELU); weights at 0, 1, 3
    ConvTranspose2d<T, B> upscale_conv0;
    LayerNorm2d<T, B> upscale_norm1;
    ConvTranspose2d<T, B> upscale_conv3;
    std::vector<MLP<T, B>> output_hypernetworks_mlps;  // num_mask_tokens x MLP(D, D, D/8, 3)
    MLP<T, B> iou_prediction_head;                     // MLP(D, hidden, num_mask_tokens, depth)

    MaskDecoder(int64_t transformer_dim_, TwoWayTransformer<T, B> transformer_, int64_t num_multimask_outputs_ = 3,
                int64_t iou_head_depth = 3, int64_t iou_head_hidden_dim = 256)
        : transformer_dim(transformer_dim_), num_multimask_outputs(num_multimask_outputs_),
          num_mask_tokens(num_multimask_outputs_ + 1), transformer(std::move(transformer_)), iou_token(1, transformer_dim_),
          mask_tokens(num_mask_tokens, transformer_dim_), upscale_conv0(transformer_dim_, transformer_dim_ / 4, 2, 2),
          upscale_norm1(transformer_dim_ / 4), upscale_conv3(transformer_dim_ / 4, transformer_dim_ / 8, 2, 2),
          iou_prediction_head(transformer_dim_, iou_head_hidden_dim, num_mask_tokens, iou_head_depth) {
        for (int64_t i = 0; i < num_mask_tokens; ++i)
            output_hypernetworks_mlps.emplace_back(transformer_dim, transformer_dim, transformer_dim / 8, 3);
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override { this->set_name(p);
        transformer.visit(v, p + "transformer.");
        iou_token.visit(v, p + "iou_token.");
        mask_tokens.visit(v, p + "mask_tokens.");
        upscale_conv0.visit(v, p + "output_upscaling.0.");
        upscale_norm1.visit(v, p + "output_upscaling.1.");
        upscale_conv3.visit(v, p + "output_upscaling.3.");
        for (size_t i = 0; i < output_hypernetworks_mlps.size(); ++i)
            output_hypernetworks_mlps[i].visit(v, p + "output_hypernetworks_mlps." + std::to_string(i) + ".");
        iou_prediction_head.visit(v, p + "iou_prediction_head.");
    }
};

}  // namespace evsam
