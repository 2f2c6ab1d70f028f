// evsam: segment_anything/modeling/prompt_encoder.py: PositionEmbeddingRandom, PromptEncoder
//   points/boxes -> sparse embeddings (random-Fourier PE + learned point_embeddings)
//   mask input   -> dense embeddings (mask_downscaling), or no_mask_embed broadcast
#pragma once
#include <vector>

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
};

}  // namespace evsam
