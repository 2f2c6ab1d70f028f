// evsam: segment_anything/modeling/prompt_encoder.py: PositionEmbeddingRandom, PromptEncoder
//   points/boxes -> sparse embeddings (random-Fourier PE + learned point_embeddings)
//   mask input   -> dense embeddings (mask_downscaling), or no_mask_embed broadcast
#pragma once
#include <vector>

#include "evsam/nn/functional.hpp"
#include "evsam/ops/activation.hpp"
#include "evsam/ops/positional.hpp"
#include "evsam/sam/common.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct PositionEmbeddingRandom : Module<T, B> {
    int64_t num_pos_feats;
    Tensor<T> positional_encoding_gaussian_matrix;  // (2, num_pos_feats) buffer

    explicit PositionEmbeddingRandom(int64_t n = 64) : num_pos_feats(n) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        v.tensor(p + "positional_encoding_gaussian_matrix", positional_encoding_gaussian_matrix, {2, num_pos_feats},
                 ParamKind::buffer);
    }
    // forward(size): (2F, h, w)
    Tensor<T> forward(int64_t h, int64_t w) const {
        Tensor<T> pe({2 * num_pos_feats, h, w}, Tensor<T>::uninitialized);
        dense_pe_forward(pe.data(), positional_encoding_gaussian_matrix.data(), h, w, num_pos_feats, B{});
        return pe;
    }
    // forward_with_coords: coords (..., 2) in pixels of an image of size (img_h, img_w) -> (..., 2F)
    Tensor<T> forward_with_coords(const Tensor<T>& coords, int64_t img_h, int64_t img_w) const {
        const int64_t M = coords.numel() / 2;
        Tensor<T> xy(coords.shape(), Tensor<T>::uninitialized);
        normalize_coords_forward(xy.data(), coords.data(), M, img_h, img_w,
                                 B{});  // coords[..., 0] /= image_size[1], ...
        Shape s = coords.shape();
        s.back() = 2 * num_pos_feats;
        Tensor<T> out(s, Tensor<T>::uninitialized);
        pe_encoding_forward(out.data(), xy.data(), positional_encoding_gaussian_matrix.data(), M, num_pos_feats,
                            B{});  // _pe_encoding
        return out;
    }
};

template <class T, class B = backend::cpu>
struct PromptEncoder : Module<T, B> {
    static constexpr int64_t num_point_embeddings = 4;  // pos/neg point + 2 box corners
    int64_t embed_dim, image_embedding_size, input_image_size, mask_in_chans;
    PositionEmbeddingRandom<T, B> pe_layer;
    std::vector<Embedding<T, B>> point_embeddings;  // 4 x (1, embed_dim)
    Embedding<T, B> not_a_point_embed;              // (1, embed_dim)
    // mask_downscaling = Sequential(Conv2d(1, c/4, 2, s2), LayerNorm2d, GELU, Conv2d(c/4, c, 2, s2),
    //                               LayerNorm2d, GELU, Conv2d(c, embed_dim, 1)); indices 0,1,3,4,6 hold weights
    Conv2d<T, B> mask_conv0;
    LayerNorm2d<T, B> mask_norm1;
    Conv2d<T, B> mask_conv3;
    LayerNorm2d<T, B> mask_norm4;
    Conv2d<T, B> mask_conv6;
    Embedding<T, B> no_mask_embed;  // (1, embed_dim)

    PromptEncoder(int64_t embed_dim_ = 256, int64_t image_embedding_size_ = 64, int64_t input_image_size_ = 1024,
                  int64_t mask_in_chans_ = 16)
        : embed_dim(embed_dim_),
          image_embedding_size(image_embedding_size_),
          input_image_size(input_image_size_),
          mask_in_chans(mask_in_chans_),
          pe_layer(embed_dim_ / 2),
          not_a_point_embed(1, embed_dim_),
          mask_conv0(1, mask_in_chans_ / 4, 2, 2),
          mask_norm1(mask_in_chans_ / 4),
          mask_conv3(mask_in_chans_ / 4, mask_in_chans_, 2, 2),
          mask_norm4(mask_in_chans_),
          mask_conv6(mask_in_chans_, embed_dim_, 1),
          no_mask_embed(1, embed_dim_) {
        for (int64_t i = 0; i < num_point_embeddings; ++i) point_embeddings.emplace_back(1, embed_dim);
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        pe_layer.visit(v, p + "pe_layer.");
        for (size_t i = 0; i < point_embeddings.size(); ++i)
            point_embeddings[i].visit(v, p + "point_embeddings." + std::to_string(i) + ".");
        not_a_point_embed.visit(v, p + "not_a_point_embed.");
        mask_conv0.visit(v, p + "mask_downscaling.0.");
        mask_norm1.visit(v, p + "mask_downscaling.1.");
        mask_conv3.visit(v, p + "mask_downscaling.3.");
        mask_norm4.visit(v, p + "mask_downscaling.4.");
        mask_conv6.visit(v, p + "mask_downscaling.6.");
        no_mask_embed.visit(v, p + "no_mask_embed.");
    }

    // get_dense_pe: (1, E, h, w) positional encoding of the image embedding grid.
    Tensor<T> get_dense_pe() const {
        Tensor<T> pe = pe_layer.forward(image_embedding_size, image_embedding_size);
        pe.reshape_({1, embed_dim, image_embedding_size, image_embedding_size});
        return pe;
    }

    // The dense embedding of a prompt without a mask input: no_mask_embed.weight.reshape(1, -1, 1, 1)
    // .expand(bs, -1, h, w), for bs = 1: (1, E, h, w).
    Tensor<T> no_mask_dense() const {
        return fn::expand_channels<B>(no_mask_embed.weight, 1, image_embedding_size, image_embedding_size);
    }

    // Upstream's forward. points: coords (B, N, 2) in the 1024 frame and labels (B, N) with 1 fg,
    // 0 bg, -1 padding; boxes (B, 4) XYXY; masks (B, 1, 4h, 4w) low-res logits. Any may be null.
    // Returns sparse (B, Nsparse, E) and dense (B, E, h, w) embeddings.
    std::pair<Tensor<T>, Tensor<T>> forward(const Tensor<T>* coords, const Tensor<T>* labels, const Tensor<T>* boxes,
                                            const Tensor<T>* masks, Trace<T>* tr = nullptr) const {
        const int64_t bs = get_batch_size(coords, boxes, masks);
        Tensor<T> sparse = embed_sparse(coords, labels, boxes, bs, tr);
        Tensor<T> dense =
            masks ? embed_masks(*masks, tr)
                  : fn::expand_channels<B>(no_mask_embed.weight, bs, image_embedding_size, image_embedding_size);
        if (tr) tr->record(this->name + ".dense", dense);
        return {std::move(sparse), std::move(dense)};
    }

    // _get_batch_size: the batch of the first prompt given (points, boxes, masks), else 1.
    static int64_t get_batch_size(const Tensor<T>* coords, const Tensor<T>* boxes, const Tensor<T>* masks) {
        return coords ? coords->size(0) : boxes ? boxes->size(0) : masks ? masks->size(0) : 1;
    }

    // The sparse half of forward: the points' and the box corners' embeddings of bs prompts
    // (get_batch_size), (bs, Nsparse, E).
    Tensor<T> embed_sparse(const Tensor<T>* coords, const Tensor<T>* labels, const Tensor<T>* boxes, int64_t bs,
                           Trace<T>* tr = nullptr) const {
        std::vector<Tensor<T>> parts;  // sparse_embeddings = torch.cat([points, boxes], dim=1)
        if (coords) {
            EVSAM_CHECK(labels && labels->shape() == (Shape{bs, coords->size(1)}) && coords->size(2) == 2,
                        "PromptEncoder: point coords (B, N, 2) and labels (B, N) do not match");
            parts.push_back(embed_points(*coords, *labels, boxes == nullptr));  // pad = (boxes is None)
        }
        if (boxes) {
            EVSAM_CHECK(boxes->shape() == (Shape{bs, 4}),
                        "PromptEncoder: boxes must be (B, 4), got " + shape_str(boxes->shape()));
            parts.push_back(embed_boxes(*boxes));
        }
        Tensor<T> sparse = parts.empty()       ? Tensor<T>({bs, 0, embed_dim})
                           : parts.size() == 1 ? std::move(parts[0])
                                               : fn::cat<B>({&parts[0], &parts[1]}, 1);
        if (tr) tr->record(this->name + ".sparse", sparse);
        return sparse;
    }

    // _embed_masks: mask_downscaling, conv 2x2 s2 -> LayerNorm2d -> GELU -> conv 2x2 s2 -> LayerNorm2d
    // -> GELU -> conv 1x1. masks (B, 1, 4h, 4w) -> (B, E, h, w).
    Tensor<T> embed_masks(const Tensor<T>& masks, Trace<T>* tr = nullptr) const {
        EVSAM_CHECK(masks.dim() == 4 && masks.size(1) == 1 && masks.size(2) == 4 * image_embedding_size &&
                        masks.size(3) == 4 * image_embedding_size,
                    "PromptEncoder: mask input must be (B, 1, " + std::to_string(4 * image_embedding_size) + ", " +
                        std::to_string(4 * image_embedding_size) + "), got " + shape_str(masks.shape()));
        Tensor<T> x = mask_conv0.forward(masks);
        mask_norm1.forward_(x);
        activation_forward(x.data(), x.numel(), Act::gelu_erf, B{});
        x = mask_conv3.forward(x);
        mask_norm4.forward_(x);
        activation_forward(x.data(), x.numel(), Act::gelu_erf, B{});
        x = mask_conv6.forward(x);
        if (tr) tr->record(this->name + ".mask_downscaling", x);
        return x;
    }

private:
    Tensor<T> embed_points(const Tensor<T>& coords, const Tensor<T>& labels, bool pad) const {
        const int64_t Bn = coords.size(0), N = coords.size(1);
        Tensor<T> points(coords.shape(), Tensor<T>::uninitialized);
        add_scalar_forward(points.data(), coords.data(), T(0.5), coords.numel(), B{});  // shift to center of pixel
        Tensor<T> lab = labels;
        if (pad) {  // a padding point (0, 0) with label -1
            const Tensor<T> padding_point({Bn, 1, 2}), padding_label({Bn, 1}, T(-1));
            points = fn::cat<B>({&points, &padding_point}, 1);
            lab = fn::cat<B>({&labels, &padding_label}, 1);
        }
        Tensor<T> emb = pe_layer.forward_with_coords(points, input_image_size, input_image_size);
        point_label_embed_forward(emb.data(), lab.data(), param_ptr(not_a_point_embed.weight, B{}),
                                  param_ptr(point_embeddings[0].weight, B{}),
                                  param_ptr(point_embeddings[1].weight, B{}), Bn * (N + (pad ? 1 : 0)), embed_dim, B{});
        return emb;
    }
    Tensor<T> embed_boxes(const Tensor<T>& boxes) const {
        const int64_t Bn = boxes.size(0), E = embed_dim;
        Tensor<T> coords({Bn, 2, 2}, Tensor<T>::uninitialized);  // boxes + 0.5, reshaped (-1, 2, 2)
        add_scalar_forward(coords.data(), boxes.data(), T(0.5), boxes.numel(), B{});
        Tensor<T> emb = pe_layer.forward_with_coords(coords, input_image_size, input_image_size);
        // corner_embedding[:, 0, :] += point_embeddings[2].weight; [:, 1, :] += point_embeddings[3].weight
        batch_add_forward(emb.data(), emb.data(), param_ptr(point_embeddings[2].weight, B{}), Bn, E, 2 * E, 2 * E, 0,
                          B{});
        batch_add_forward(emb.data() + E, emb.data() + E, param_ptr(point_embeddings[3].weight, B{}), Bn, E, 2 * E,
                          2 * E, 0, B{});
        return emb;
    }
};

}  // namespace evsam
