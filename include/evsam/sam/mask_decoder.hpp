// evsam: segment_anything/modeling/mask_decoder.py: MLP, MaskDecoder
#pragma once
#include <vector>

#include "evsam/nn/functional.hpp"
#include "evsam/ops/activation.hpp"
#include "evsam/ops/layout.hpp"
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
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
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
        : transformer_dim(transformer_dim_),
          num_multimask_outputs(num_multimask_outputs_),
          num_mask_tokens(num_multimask_outputs_ + 1),
          transformer(std::move(transformer_)),
          iou_token(1, transformer_dim_),
          mask_tokens(num_mask_tokens, transformer_dim_),
          upscale_conv0(transformer_dim_, transformer_dim_ / 4, 2, 2),
          upscale_norm1(transformer_dim_ / 4),
          upscale_conv3(transformer_dim_ / 4, transformer_dim_ / 8, 2, 2),
          iou_prediction_head(transformer_dim_, iou_head_hidden_dim, num_mask_tokens, iou_head_depth) {
        for (int64_t i = 0; i < num_mask_tokens; ++i)
            output_hypernetworks_mlps.emplace_back(transformer_dim, transformer_dim, transformer_dim / 8, 3);
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
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

    // Upstream's forward: image_embeddings (1, E, h, w) shared by all B prompts; image_pe
    // (1, E, h, w); sparse (B, N, E); dense (B, E, h, w). The reference of the fast path below.
    Output forward(const Tensor<T>& image_embeddings, const Tensor<T>& image_pe, const Tensor<T>& sparse,
                   const Tensor<T>& dense, bool multimask_output, Trace<T>* tr = nullptr) const {
        auto [masks, iou_pred] = predict_masks(image_embeddings, image_pe, sparse, dense, tr);
        return select_masks(masks, iou_pred, multimask_output);
    }

    // mask_decoder.py: MaskDecoder.predict_masks, statement by statement. Returns all
    // num_mask_tokens masks and IoU predictions.
    std::pair<Tensor<T>, Tensor<T>> predict_masks(const Tensor<T>& image_embeddings, const Tensor<T>& image_pe,
                                                  const Tensor<T>& sparse, const Tensor<T>& dense,
                                                  Trace<T>* tr = nullptr) const {
        check_inputs(image_embeddings, &image_pe, &sparse, &dense);
        const int64_t Bn = sparse.size(0), h = image_embeddings.size(2), w = image_embeddings.size(3);
        const Tensor<T> tokens = prompt_tokens(sparse);  // concatenate output tokens
        Tensor<T> src =
            fn::repeat_batch<B>(image_embeddings, Bn);  // expand per-image data in batch direction to be per-mask
        fn::add_<B>(src, dense);
        const Tensor<T> pos_src = fn::repeat_batch<B>(image_pe, Bn);
        auto [hs, keys] = transformer.forward(src, pos_src, tokens, tr);  // run the transformer
        const Tensor<T> iou_token_out = fn::select<B>(hs, 1, 0);
        const Tensor<T> mask_tokens_out = fn::narrow<B>(hs, 1, 1, num_mask_tokens);
        src = fn::transpose_view<B>(keys, h, w);  // upscale mask embeddings and predict masks using the mask tokens
        const Tensor<T> upscaled_embedding = output_upscaling(src);
        std::vector<Tensor<T>> hyper_in_list;
        for (int64_t i = 0; i < num_mask_tokens; ++i)
            hyper_in_list.push_back(
                output_hypernetworks_mlps[static_cast<size_t>(i)].forward(fn::select<B>(mask_tokens_out, 1, i)));
        const Tensor<T> hyper_in = fn::stack1<B>(hyper_in_list);
        Tensor<T> masks = hyper_times_upscaled(
            hyper_in, upscaled_embedding);  // (hyper_in @ upscaled.view(b, c, h*w)).view(b, -1, h, w)
        Tensor<T> iou_pred = iou_prediction_head.forward(iou_token_out);  // generate mask quality predictions
        trace_outputs(tr, hyper_in, upscaled_embedding, iou_pred);
        return {std::move(masks), std::move(iou_pred)};
    }

    // The per-image part of predict_masks, for prompts that share the dense embedding `dense`
    // (1, E, h, w) (no mask input: no_mask_embed everywhere): the image side of the transformer
    // (flattened keys and key PE, layer 0's projections). The Predictor prepares it once per image.
    struct Prepared {
        Tensor<T> image_embeddings;  // (1, E, h, w)
        ImageKeys<T> keys;           // of image_embeddings + dense, and image_pe
    };
    Prepared prepare(const Tensor<T>& image_embeddings, const Tensor<T>& image_pe, const Tensor<T>& dense) const {
        check_inputs(image_embeddings, &image_pe, nullptr, &dense);
        return {image_embeddings, transformer.prepare(fn::add<B>(image_embeddings, dense), image_pe)};
    }

    // The fast forward: the prepared image, sparse (B, N, E), and the prompts' own dense embeddings
    // (B, E, h, w) when they have a mask input, or null for the prepared one.
    Output forward(const Prepared& image, const Tensor<T>& sparse, const Tensor<T>* dense, bool multimask_output,
                   Trace<T>* tr = nullptr) const {
        auto [masks, iou_pred] = predict_masks(image, sparse, dense, tr);
        return select_masks(masks, iou_pred, multimask_output);
    }

    // predict_masks, fast: cross attention factored through the prompt tokens, layer 0's image-side
    // projections from `image` when the prompts share its dense embedding, and the output upscaling
    // one prompt at a time (each (c, 4h, 4w) upscaled embedding is used at once, straight from the
    // transformer's token layout: a batch of 64 would otherwise hold about 1 GB of them).
    std::pair<Tensor<T>, Tensor<T>> predict_masks(const Prepared& image, const Tensor<T>& sparse,
                                                  const Tensor<T>* dense, Trace<T>* tr = nullptr) const {
        const Tensor<T>& emb = image.image_embeddings;
        check_inputs(emb, nullptr, &sparse, dense);
        const int64_t Bn = sparse.size(0), h = emb.size(2), w = emb.size(3);
        const Tensor<T> tokens = prompt_tokens(sparse);
        // with a mask input, each prompt's keys are its own src = image embedding + its dense embedding
        auto [hs, keys] = dense ? transformer.forward_factored(fn::flatten_permute<B>(fn::add<B>(emb, *dense)),
                                                               image.keys.key_pe, tokens, nullptr, tr)
                                : transformer.forward_factored(fn::repeat_batch<B>(image.keys.keys, Bn),
                                                               image.keys.key_pe, tokens, &image.keys, tr);
        const Tensor<T> mask_tokens_out = fn::narrow<B>(hs, 1, 1, num_mask_tokens);
        std::vector<Tensor<T>> hyper_in_list;
        for (int64_t i = 0; i < num_mask_tokens; ++i)
            hyper_in_list.push_back(
                output_hypernetworks_mlps[static_cast<size_t>(i)].forward(fn::select<B>(mask_tokens_out, 1, i)));
        const Tensor<T> hyper_in = fn::stack1<B>(hyper_in_list);
        const int64_t c = upscale_conv3.out_channels;
        Tensor<T> masks({Bn, num_mask_tokens, 4 * h, 4 * w}, Tensor<T>::uninitialized), up_all;
        if (tr) up_all = Tensor<T>({Bn, c, 4 * h, 4 * w}, Tensor<T>::uninitialized);
        for (int64_t b = 0; b < Bn; ++b) {  // one prompt at a time
            const Tensor<T> up = output_upscaling_tokens(keys, b, h, w);
            if (tr) batch_copy_forward(up_all.data() + b * up.numel(), up.data(), 1, up.numel(), 0, 0, B{});
            bmm_forward(masks.data() + b * num_mask_tokens * 16 * h * w, hyper_in.data() + b * num_mask_tokens * c,
                        up.data(), 1, num_mask_tokens, c, 16 * h * w, B{});
        }
        Tensor<T> iou_pred = iou_prediction_head.forward(fn::select<B>(hs, 1, 0));
        trace_outputs(tr, hyper_in, up_all, iou_pred);
        return {std::move(masks), std::move(iou_pred)};
    }

private:
    // output_upscaling = Sequential(ConvTranspose2d, LayerNorm2d, GELU, ConvTranspose2d, GELU) on src (B, E, h, w).
    Tensor<T> output_upscaling(const Tensor<T>& src) const {
        Tensor<T> x = upscale_conv0.forward(src);
        upscale_norm1.forward_(x);
        activation_forward(x.data(), x.numel(), Act::gelu_erf, B{});
        x = upscale_conv3.forward(x);
        activation_forward(x.data(), x.numel(), Act::gelu_erf, B{});
        return x;
    }
    // The same for prompt b of the transformer's keys (B, h*w, E), read in token layout: (1, c, 4h, 4w).
    Tensor<T> output_upscaling_tokens(const Tensor<T>& keys, int64_t b, int64_t h, int64_t w) const {
        Tensor<T> x = upscale_conv0.forward_tokens(keys, b, h, w);
        upscale_norm1.forward_(x);
        activation_forward(x.data(), x.numel(), Act::gelu_erf, B{});
        x = upscale_conv3.forward(x);
        activation_forward(x.data(), x.numel(), Act::gelu_erf, B{});
        return x;
    }
    // hyper_in (B, M, c) @ upscaled (B, c, H, W).view(B, c, H*W) -> (B, M, H, W)
    Tensor<T> hyper_times_upscaled(const Tensor<T>& hyper_in, const Tensor<T>& up) const {
        const int64_t Bn = up.size(0), c = up.size(1), UH = up.size(2), UW = up.size(3), M = hyper_in.size(1);
        Tensor<T> masks({Bn, M, UH, UW}, Tensor<T>::uninitialized);
        bmm_forward(masks.data(), hyper_in.data(), up.data(), Bn, M, c, UH * UW, B{});
        return masks;
    }
    // Select the correct mask or masks for output: [:, 1:] for multimask, [:, 0:1] otherwise.
    Output select_masks(const Tensor<T>& masks, const Tensor<T>& iou_pred, bool multimask_output) const {
        const int64_t first = multimask_output ? 1 : 0, count = multimask_output ? num_mask_tokens - 1 : 1;
        return {fn::narrow<B>(masks, 1, first, count), fn::narrow<B>(iou_pred, 1, first, count)};
    }
    // output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
    // output_tokens = output_tokens.unsqueeze(0).expand(sparse.size(0), -1, -1)
    // tokens = torch.cat((output_tokens, sparse), dim=1)
    Tensor<T> prompt_tokens(const Tensor<T>& sparse) const {
        Tensor<T> output_tokens = fn::cat<B>({&iou_token.weight, &mask_tokens.weight}, 0);
        output_tokens.reshape_({1, num_mask_tokens + 1, transformer_dim});  // expanded by cat
        return fn::cat<B>({&output_tokens, &sparse}, 1);
    }
    void check_inputs(const Tensor<T>& emb, const Tensor<T>* pe, const Tensor<T>* sparse,
                      const Tensor<T>* dense) const {
        const int64_t E = transformer_dim;
        EVSAM_CHECK(emb.dim() == 4 && emb.size(0) == 1 && emb.size(1) == E,
                    "MaskDecoder: image_embeddings must be (1, " + std::to_string(E) + ", h, w), got " +
                        shape_str(emb.shape()));
        EVSAM_CHECK(!pe || pe->shape() == emb.shape(),
                    "MaskDecoder: image_pe " + shape_str(pe->shape()) + " does not match the image embedding");
        EVSAM_CHECK(!sparse || (sparse->dim() == 3 && sparse->size(2) == E),
                    "MaskDecoder: sparse embeddings must be (B, N, " + std::to_string(E) + "), got " +
                        shape_str(sparse->shape()));
        const int64_t Bn = sparse ? sparse->size(0) : 1;
        EVSAM_CHECK(!dense || dense->shape() == (Shape{Bn, E, emb.size(2), emb.size(3)}),
                    "MaskDecoder: dense embeddings " + shape_str(dense->shape()) +
                        " do not match the prompts' batch and the image");
    }
    void trace_outputs(Trace<T>* tr, const Tensor<T>& hyper_in, const Tensor<T>& upscaled,
                       const Tensor<T>& iou_pred) const {
        if (!tr) return;
        tr->record(this->name + ".hyper_in", hyper_in);
        tr->record(this->name + ".output_upscaling", upscaled);
        tr->record(iou_prediction_head.name, iou_pred);
    }
};

}  // namespace evsam
