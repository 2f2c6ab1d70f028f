// evsam: segment_anything/modeling/sam.py: class Sam, generic over its image encoder.
//
// A SAM model is an image encoder, SAM's prompt encoder and mask decoder, and the model's own
// preprocessing (ImageTransform: resolution, prompt frame, pixel mean/std, normalisation order).
// EfficientViT-SAM (efficientvit/sam.hpp) is Sam<EfficientViTSamImageEncoder>; SAM's ViT and
// other encoders plug in the same way. The Predictor and the automatic mask generator take any
// SamBase, so they need nothing from the encoder but encode().
#pragma once
#include <string>
#include <utility>

#include "evsam/core/preprocess.hpp"
#include "evsam/nn/module.hpp"
#include "evsam/sam/mask_decoder.hpp"
#include "evsam/sam/prompt_encoder.hpp"

namespace evsam {

// The prompt encoder's and mask decoder's sizes (build_sam.py / build_efficientvit_sam: the same
// for every model of the family).
struct SamDecoderConfig {
    int64_t embed_dim = 256;            // prompt_embed_dim = transformer_dim
    int64_t image_embedding_size = 64;  // the image embedding is embed_dim x 64 x 64
    int64_t mask_in_chans = 16;
    int64_t transformer_depth = 2, transformer_mlp_dim = 2048, transformer_heads = 8;
    int64_t num_multimask_outputs = 3, iou_head_depth = 3, iou_head_hidden_dim = 256;
};

// A whole model's configuration: its name, preprocessing, encoder and decoder.
// EncoderConfig names its module as EncoderConfig::Module<T, B>.
template <class EncoderConfig>
struct SamConfigOf {
    std::string name;  // the registry's name ("l0"), or the JSON config's
    ImageTransform transform;
    EncoderConfig image_encoder;
    SamDecoderConfig decoder;
};

// What every SAM model offers its apps: preprocessing, the encoder call, the prompt encoder and
// the mask decoder. State_dict order as upstream: image_encoder, prompt_encoder, mask_decoder.
template <class T = float, class B = backend::cpu>
struct SamBase : Module<T, B> {
    std::string model_name;    // the config's name: the registry's ("l0"), or the JSON config's
    ImageTransform transform;  // self.transform / self.preprocess, image_size
    PromptEncoder<T, B> prompt_encoder;
    MaskDecoder<T, B> mask_decoder;

    SamBase(std::string name, ImageTransform t, const SamDecoderConfig& d)
        : model_name(std::move(name)),
          transform(t),
          prompt_encoder(d.embed_dim, d.image_embedding_size, t.prompt_frame, d.mask_in_chans),
          mask_decoder(
              d.embed_dim,
              TwoWayTransformer<T, B>(d.transformer_depth, d.embed_dim, d.transformer_heads, d.transformer_mlp_dim),
              d.num_multimask_outputs, d.iou_head_depth, d.iou_head_hidden_dim) {}
    // self.image_encoder(x): x (N, 3, R, R) preprocessed -> (N, embed_dim, 64, 64).
    virtual TensorOf<T, B> encode(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const = 0;
};

template <class ImageEncoder, class T = float, class B = backend::cpu>
struct Sam : SamBase<T, B> {
    using Config = SamConfigOf<typename ImageEncoder::Config>;
    ImageEncoder image_encoder;

    explicit Sam(const Config& c) : SamBase<T, B>(c.name, c.transform, c.decoder), image_encoder(c.image_encoder) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        image_encoder.visit(v, p + "image_encoder.");
        this->prompt_encoder.visit(v, p + "prompt_encoder.");
        this->mask_decoder.visit(v, p + "mask_decoder.");
    }
    TensorOf<T, B> encode(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        return image_encoder.forward(x, tr);
    }
};

}  // namespace evsam
