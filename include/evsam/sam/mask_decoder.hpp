// evsam: segment_anything/modeling/mask_decoder.py: MLP, MaskDecoder
#pragma once
#include <vector>

#include "evsam/ops/linear.hpp"
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
    Tensor<T> forward(const Tensor<T>& x) const {
        Tensor<T> y = x;
        for (size_t i = 0; i < layers.size(); ++i) {  // x = F.relu(layer(x)) if i < num_layers - 1 else layer(x)
            y = layers[i].forward(y);
            if (i + 1 < layers.size()) activation_forward(y.data(), y.numel(), Act::relu, B{});
        }
        EVSAM_CHECK(!sigmoid_output, "MLP: sigmoid_output is not used by SAM and not implemented");
        return y;
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

    struct Output {
        Tensor<T> masks;     // (B, C, 4h, 4w) low-res mask logits, C = 3 (multimask) or 1
        Tensor<T> iou_pred;  // (B, C)
    };

    // image_embeddings (1, E, h, w) shared by all B prompts; image_pe (1, E, h, w);
    // sparse (B, N, E); dense (B, E, h, w). pre: the transformer's ImageProjections of
    // image_embeddings + dense, valid only when every prompt's dense embedding is no_mask_embed.
    Output forward(const Tensor<T>& image_embeddings, const Tensor<T>& image_pe, const Tensor<T>& sparse,
                   const Tensor<T>& dense, bool multimask_output, Trace<T>* tr = nullptr,
                   const ImageProjections<T>* pre = nullptr) const {
        auto [masks, iou] = predict_masks(image_embeddings, image_pe, sparse, dense, tr, pre);
        // Select the correct mask or masks for output: [1:] for multimask, [0:1] otherwise
        const int64_t first = multimask_output ? 1 : 0, count = multimask_output ? num_mask_tokens - 1 : 1;
        return {slice_dim1(masks, first, count), slice_dim1(iou, first, count)};
    }

    // mask_decoder.py: MaskDecoder.predict_masks. Returns all num_mask_tokens masks and IoU predictions.
    std::pair<Tensor<T>, Tensor<T>> predict_masks(const Tensor<T>& image_embeddings, const Tensor<T>& image_pe,
                                                  const Tensor<T>& sparse, const Tensor<T>& dense,
                                                  Trace<T>* tr = nullptr,
                                                  const ImageProjections<T>* pre = nullptr) const {
        const int64_t Bn = sparse.size(0), Ns = sparse.size(1), E = transformer_dim, NT = 1 + num_mask_tokens;
        EVSAM_CHECK(image_embeddings.dim() == 4 && image_embeddings.size(0) == 1 && image_embeddings.size(1) == E,
                    "MaskDecoder: image_embeddings must be (1, " + std::to_string(E) + ", h, w), got " +
                        shape_str(image_embeddings.shape()));
        const int64_t h = image_embeddings.size(2), w = image_embeddings.size(3), P = h * w;
        EVSAM_CHECK(dense.shape() == (Shape{Bn, E, h, w}), "MaskDecoder: dense embeddings " + shape_str(dense.shape()) +
                                                               " do not match the prompts' batch and the image");
        // tokens = cat(iou_token, mask_tokens, sparse) per prompt: (B, NT + Ns, E)
        Tensor<T> tokens({Bn, NT + Ns, E});
        for (int64_t b = 0; b < Bn; ++b) {
            T* dst = tokens.data() + b * (NT + Ns) * E;
            std::copy(iou_token.weight.begin(), iou_token.weight.end(), dst);
            std::copy(mask_tokens.weight.begin(), mask_tokens.weight.end(), dst + E);
            std::copy(sparse.data() + b * Ns * E, sparse.data() + (b + 1) * Ns * E, dst + NT * E);
        }
        // src = repeat_interleave(image_embeddings, B) + dense; pos_src = repeat_interleave(image_pe, B):
        // the transformer adds the one image_pe to every prompt's keys instead of B copies of it.
        // Each prompt's src goes straight into the transformer's (B, HW, E) layout.
        EVSAM_CHECK(image_pe.shape() == image_embeddings.shape(), "MaskDecoder: image_pe " + shape_str(image_pe.shape()) +
                                                                      " does not match the image embedding");
        // With pre, every prompt's src is the image's (no mask input): pre holds it and image_pe flattened.
        Tensor<T> keys0({Bn, P, E}, Tensor<T>::uninitialized), key_pe_own;
        if (pre) {
            EVSAM_CHECK(pre->keys.numel() == P * E && pre->key_pe.numel() == P * E,
                        "MaskDecoder: image projections do not match the image embedding");
            for (int64_t b = 0; b < Bn; ++b) std::copy(pre->keys.begin(), pre->keys.end(), keys0.data() + b * P * E);
        } else {
            Tensor<T> src({1, E, h, w}, Tensor<T>::uninitialized);
            for (int64_t b = 0; b < Bn; ++b) {
                add_forward(src.data(), image_embeddings.data(), dense.data() + b * E * P, E * P, B{});
                nchw_to_npc_forward(keys0.data() + b * P * E, src.data(), 1, E, P, B{});
            }
            key_pe_own = Tensor<T>({1, P, E}, Tensor<T>::uninitialized);
            nchw_to_npc_forward(key_pe_own.data(), image_pe.data(), 1, E, P, B{});
        }
        const Tensor<T>& key_pe = pre ? pre->key_pe : key_pe_own;
        auto [hs, keys] = transformer.forward_flat(std::move(keys0), key_pe, tokens, tr, pre);  // self.transformer(...)
        // hyper_in[:, i] = output_hypernetworks_mlps[i](mask_tokens_out[:, i])
        const int64_t c = upscale_conv3.out_channels, UH = 4 * h, UW = 4 * w, UP = UH * UW;
        Tensor<T> hyper({Bn, num_mask_tokens, c}, Tensor<T>::uninitialized);
        for (int64_t i = 0; i < num_mask_tokens; ++i) {
            Tensor<T> tok({Bn, E}, Tensor<T>::uninitialized);
            for (int64_t b = 0; b < Bn; ++b)
                std::copy(hs.data() + (b * (NT + Ns) + 1 + i) * E, hs.data() + (b * (NT + Ns) + 2 + i) * E,
                          tok.data() + b * E);
            Tensor<T> o = output_hypernetworks_mlps[static_cast<size_t>(i)].forward(tok);
            for (int64_t b = 0; b < Bn; ++b) std::copy(o.data() + b * c, o.data() + (b + 1) * c, hyper.data() + (b * num_mask_tokens + i) * c);
        }
        if (tr) tr->record(this->name + ".hyper_in", hyper);
        // src = src.transpose(1, 2).view(b, c, h, w); upscaled_embedding = self.output_upscaling(src);
        // masks = hyper_in @ upscaled_embedding.view(b, c, h * w). One prompt at a time: each
        // (c, 4h, 4w) upscaled embedding is used at once (every op here treats prompts independently,
        // so this is the batched result; a batch of 64 would otherwise hold about 1 GB of them).
        Tensor<T> masks({Bn, num_mask_tokens, UH, UW}, Tensor<T>::uninitialized);
        Tensor<T> up_all;
        if (tr) up_all = Tensor<T>({Bn, c, UH, UW}, Tensor<T>::uninitialized);
        for (int64_t b = 0; b < Bn; ++b) {
            Tensor<T> up = upscale_conv0.forward_tokens(keys, b, h, w);  // from this prompt's keys, no transpose
            upscale_norm1.forward_(up);
            activation_forward(up.data(), up.numel(), Act::gelu_erf, B{});
            up = upscale_conv3.forward(up);
            activation_forward(up.data(), up.numel(), Act::gelu_erf, B{});
            if (tr) std::copy(up.begin(), up.end(), up_all.data() + b * c * UP);
            bmm_forward(masks.data() + b * num_mask_tokens * UP, hyper.data() + b * num_mask_tokens * c, up.data(), 1,
                        num_mask_tokens, c, UP, B{});
        }
        if (tr) tr->record(this->name + ".output_upscaling", up_all);
        // iou_pred = self.iou_prediction_head(iou_token_out), iou_token_out = hs[:, 0, :]
        Tensor<T> iou_tok({Bn, E});
        for (int64_t b = 0; b < Bn; ++b)
            std::copy(hs.data() + b * (NT + Ns) * E, hs.data() + (b * (NT + Ns) + 1) * E, iou_tok.data() + b * E);
        Tensor<T> iou = iou_prediction_head.forward(iou_tok);
        if (tr) tr->record(iou_prediction_head.name, iou);
        return {std::move(masks), std::move(iou)};
    }

private:
    // x[:, first:first+count] for a tensor whose dim 0 is the batch.
    static Tensor<T> slice_dim1(const Tensor<T>& x, int64_t first, int64_t count) {
        Shape s = x.shape();
        const int64_t inner = x.numel() / (s[0] * s[1]);
        Tensor<T> r([&] { Shape t = s; t[1] = count; return t; }());
        for (int64_t b = 0; b < s[0]; ++b)
            std::copy(x.data() + (b * s[1] + first) * inner, x.data() + (b * s[1] + first + count) * inner,
                      r.data() + b * count * inner);
        return r;
    }
};

}  // namespace evsam
