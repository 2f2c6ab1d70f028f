// evsam: segment_anything/modeling/prompt_encoder.py: PositionEmbeddingRandom, PromptEncoder
//   points/boxes -> sparse embeddings (random-Fourier PE + learned point_embeddings)
//   mask input   -> dense embeddings (mask_downscaling), or no_mask_embed broadcast
#pragma once
#include <vector>

#include "evsam/ops/activation.hpp"
#include "evsam/ops/positional.hpp"
#include "evsam/sam/common.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct PositionEmbeddingRandom : Module<T, B> {
    int64_t num_pos_feats;
    Tensor<T> positional_encoding_gaussian_matrix;  // (2, num_pos_feats) buffer

    explicit PositionEmbeddingRandom(int64_t n = 64) : num_pos_feats(n) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override { this->set_name(p);
        v.tensor(p + "positional_encoding_gaussian_matrix", positional_encoding_gaussian_matrix, {2, num_pos_feats},
                 ParamKind::buffer);
    }
    // forward(size): (2F, h, w)
    Tensor<T> forward(int64_t h, int64_t w) const {
        Tensor<T> pe({2 * num_pos_feats, h, w});
        dense_pe_forward(pe.data(), positional_encoding_gaussian_matrix.data(), h, w, num_pos_feats, B{});
        return pe;
    }
    // forward_with_coords: coords (..., 2) in pixels of an image of size (img_h, img_w) -> (..., 2F)
    Tensor<T> forward_with_coords(const Tensor<T>& coords, int64_t img_h, int64_t img_w) const {
        Tensor<T> xy = coords;
        const int64_t M = coords.numel() / 2;
        for (int64_t m = 0; m < M; ++m) {  // coords[..., 0] /= image_size[1]; coords[..., 1] /= image_size[0]
            xy[2 * m] /= static_cast<T>(img_w);
            xy[2 * m + 1] /= static_cast<T>(img_h);
        }
        Shape s = coords.shape();
        s.back() = 2 * num_pos_feats;
        Tensor<T> out(s);
        pe_encoding_forward(out.data(), xy.data(), positional_encoding_gaussian_matrix.data(), M, num_pos_feats, B{});
        return out;
    }
};

template <class T, class B = backend::cpu>
struct PromptEncoder : Module<T, B> {
    static constexpr int64_t num_point_embeddings = 4;  // pos/neg point + 2 box corners
    int64_t embed_dim, image_embedding_size, input_image_size, mask_in_chans;
    PositionEmbeddingRandom<T, B> pe_layer;
    std::vector<Embedding<T, B>> point_embeddings;  // 4 x (1, embed_dim)
    Embedding<T, B> not_a_point_embed;             // (1, embed_dim)
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
        : embed_dim(embed_dim_), image_embedding_size(image_embedding_size_), input_image_size(input_image_size_),
          mask_in_chans(mask_in_chans_), pe_layer(embed_dim_ / 2), not_a_point_embed(1, embed_dim_),
          mask_conv0(1, mask_in_chans_ / 4, 2, 2), mask_norm1(mask_in_chans_ / 4),
          mask_conv3(mask_in_chans_ / 4, mask_in_chans_, 2, 2), mask_norm4(mask_in_chans_),
          mask_conv6(mask_in_chans_, embed_dim_, 1), no_mask_embed(1, embed_dim_) {
        for (int64_t i = 0; i < num_point_embeddings; ++i) point_embeddings.emplace_back(1, embed_dim);
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override { this->set_name(p);
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

    // points: coords (B, N, 2) in the 1024 frame and labels (B, N) with 1 fg, 0 bg, -1 padding;
    // boxes (B, 4) XYXY; masks (B, 1, 4h, 4w) low-res logits. Any may be null.
    // Returns sparse (B, Nsparse, E) and dense (B, E, h, w) embeddings.
    std::pair<Tensor<T>, Tensor<T>> forward(const Tensor<T>* coords, const Tensor<T>* labels, const Tensor<T>* boxes,
                                            const Tensor<T>* masks, Trace<T>* tr = nullptr) const {
        const int64_t bs = coords ? coords->size(0) : boxes ? boxes->size(0) : masks ? masks->size(0) : 1;
        const int64_t np = coords ? coords->size(1) + (boxes ? 0 : 1) : 0, nb = boxes ? 2 : 0;
        Tensor<T> sparse({bs, np + nb, embed_dim});
        if (coords) {
            EVSAM_CHECK(labels && labels->shape() == (Shape{bs, coords->size(1)}) && coords->size(2) == 2,
                        "PromptEncoder: point coords (B, N, 2) and labels (B, N) do not match");
            Tensor<T> pts = embed_points(*coords, *labels, boxes == nullptr);  // pad = (boxes is None)
            copy_rows(sparse, 0, pts);
        }
        if (boxes) {
            EVSAM_CHECK(boxes->shape() == (Shape{bs, 4}), "PromptEncoder: boxes must be (B, 4), got " + shape_str(boxes->shape()));
            copy_rows(sparse, np, embed_boxes(*boxes));
        }
        Tensor<T> dense;
        if (masks) {
            dense = embed_masks(*masks);
        } else {  // no_mask_embed.weight.reshape(1, -1, 1, 1).expand(bs, -1, h, w)
            const int64_t P = image_embedding_size * image_embedding_size;
            dense = Tensor<T>({bs, embed_dim, image_embedding_size, image_embedding_size});
            for (int64_t b = 0; b < bs; ++b)
                for (int64_t c = 0; c < embed_dim; ++c)
                    std::fill_n(dense.data() + (b * embed_dim + c) * P, P, no_mask_embed.weight[c]);
        }
        if (tr) {
            tr->record(this->name + ".sparse", sparse);
            tr->record(this->name + ".dense", dense);
        }
        return {std::move(sparse), std::move(dense)};
    }

private:
    Tensor<T> embed_points(const Tensor<T>& coords, const Tensor<T>& labels, bool pad) const {
        const int64_t Bn = coords.size(0), N = coords.size(1), Np = N + (pad ? 1 : 0), E = embed_dim;
        Tensor<T> pts({Bn, Np, 2}, T(0));  // padding point (0, 0) with label -1
        Tensor<T> lab({Bn, Np}, T(-1));
        for (int64_t b = 0; b < Bn; ++b)
            for (int64_t n = 0; n < N; ++n) {
                pts[(b * Np + n) * 2] = coords[(b * N + n) * 2] + T(0.5);  // shift to the pixel centre
                pts[(b * Np + n) * 2 + 1] = coords[(b * N + n) * 2 + 1] + T(0.5);
                lab[b * Np + n] = labels[b * N + n];
            }
        Tensor<T> emb = pe_layer.forward_with_coords(pts, input_image_size, input_image_size);
        for (int64_t i = 0; i < Bn * Np; ++i) {
            T* e = emb.data() + i * E;
            const T l = lab[i];
            EVSAM_CHECK(l == T(-1) || l == T(0) || l == T(1), "PromptEncoder: point labels must be 1, 0 or -1");
            if (l == T(-1)) {  // point_embedding[labels == -1] = 0; += not_a_point_embed
                std::copy(not_a_point_embed.weight.begin(), not_a_point_embed.weight.end(), e);
            } else {
                const Tensor<T>& pe = point_embeddings[l == T(0) ? 0 : 1].weight;
                for (int64_t c = 0; c < E; ++c) e[c] += pe[c];
            }
        }
        return emb;
    }
    Tensor<T> embed_boxes(const Tensor<T>& boxes) const {
        const int64_t Bn = boxes.size(0), E = embed_dim;
        Tensor<T> corners({Bn, 2, 2});
        for (int64_t i = 0; i < Bn * 4; ++i) corners[i] = boxes[i] + T(0.5);  // shift to the pixel centre
        Tensor<T> emb = pe_layer.forward_with_coords(corners, input_image_size, input_image_size);
        for (int64_t b = 0; b < Bn; ++b)
            for (int64_t c = 0; c < E; ++c) {
                emb[(b * 2) * E + c] += point_embeddings[2].weight[c];
                emb[(b * 2 + 1) * E + c] += point_embeddings[3].weight[c];
            }
        return emb;
    }
    // mask_downscaling: conv 2x2 s2 -> LayerNorm2d -> GELU -> conv 2x2 s2 -> LayerNorm2d -> GELU -> conv 1x1
    Tensor<T> embed_masks(const Tensor<T>& masks) const {
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
        return mask_conv6.forward(x);
    }
    static void copy_rows(Tensor<T>& dst, int64_t row0, const Tensor<T>& src) {  // along dim 1 of (B, N, E)
        const int64_t Bn = src.size(0), n = src.size(1), E = src.size(2), Nd = dst.size(1);
        for (int64_t b = 0; b < Bn; ++b)
            std::copy(src.data() + b * n * E, src.data() + (b + 1) * n * E, dst.data() + (b * Nd + row0) * E);
    }
};

}  // namespace evsam
