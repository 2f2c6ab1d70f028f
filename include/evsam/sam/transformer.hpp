// evsam: segment_anything/modeling/transformer.py: Attention, TwoWayAttentionBlock, TwoWayTransformer
#pragma once
#include <vector>

#include "evsam/sam/common.hpp"

namespace evsam {

// Multi-head attention with an optional downscaled internal dim (q/k/v/out projections).
template <class T, class B = backend::cpu>
struct Attention : Module<T, B> {
    int64_t embedding_dim, internal_dim, num_heads;
    Linear<T, B> q_proj, k_proj, v_proj;  // (internal_dim, embedding_dim)
    Linear<T, B> out_proj;                // (embedding_dim, internal_dim)

    Attention(int64_t embedding_dim_, int64_t num_heads_, int64_t downsample_rate = 1)
        : embedding_dim(embedding_dim_), internal_dim(embedding_dim_ / downsample_rate), num_heads(num_heads_),
          q_proj(embedding_dim_, internal_dim), k_proj(embedding_dim_, internal_dim), v_proj(embedding_dim_, internal_dim),
          out_proj(internal_dim, embedding_dim_) {
        EVSAM_CHECK(internal_dim % num_heads == 0, "Attention: num_heads must divide embedding_dim / downsample_rate");
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override { this->set_name(p);
        q_proj.visit(v, p + "q_proj.");
        k_proj.visit(v, p + "k_proj.");
        v_proj.visit(v, p + "v_proj.");
        out_proj.visit(v, p + "out_proj.");
    }
};

// self-attn on tokens, cross-attn tokens->image, MLP on tokens, cross-attn image->tokens.
template <class T, class B = backend::cpu>
struct TwoWayAttentionBlock : Module<T, B> {
    Attention<T, B> self_attn;
    LayerNorm<T, B> norm1;
    Attention<T, B> cross_attn_token_to_image;
    LayerNorm<T, B> norm2;
    MLPBlock<T, B> mlp;
    LayerNorm<T, B> norm3;
    LayerNorm<T, B> norm4;
    Attention<T, B> cross_attn_image_to_token;
    bool skip_first_layer_pe;

    TwoWayAttentionBlock(int64_t embedding_dim, int64_t num_heads, int64_t mlp_dim, int64_t attention_downsample_rate,
                         bool skip_first_layer_pe_)
        : self_attn(embedding_dim, num_heads), norm1(embedding_dim),
          cross_attn_token_to_image(embedding_dim, num_heads, attention_downsample_rate), norm2(embedding_dim),
          mlp(embedding_dim, mlp_dim, Act::relu), norm3(embedding_dim), norm4(embedding_dim),
          cross_attn_image_to_token(embedding_dim, num_heads, attention_downsample_rate),
          skip_first_layer_pe(skip_first_layer_pe_) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override { this->set_name(p);
        self_attn.visit(v, p + "self_attn.");
        norm1.visit(v, p + "norm1.");
        cross_attn_token_to_image.visit(v, p + "cross_attn_token_to_image.");
        norm2.visit(v, p + "norm2.");
        mlp.visit(v, p + "mlp.");
        norm3.visit(v, p + "norm3.");
        norm4.visit(v, p + "norm4.");
        cross_attn_image_to_token.visit(v, p + "cross_attn_image_to_token.");
    }
};

template <class T, class B = backend::cpu>
struct TwoWayTransformer : Module<T, B> {
    int64_t depth, embedding_dim, num_heads, mlp_dim;
    std::vector<TwoWayAttentionBlock<T, B>> layers;
    Attention<T, B> final_attn_token_to_image;
    LayerNorm<T, B> norm_final_attn;

    TwoWayTransformer(int64_t depth_, int64_t embedding_dim_, int64_t num_heads_, int64_t mlp_dim_,
                      int64_t attention_downsample_rate = 2)
        : depth(depth_), embedding_dim(embedding_dim_), num_heads(num_heads_), mlp_dim(mlp_dim_),
          final_attn_token_to_image(embedding_dim_, num_heads_, attention_downsample_rate), norm_final_attn(embedding_dim_) {
        for (int64_t i = 0; i < depth; ++i)
            layers.emplace_back(embedding_dim, num_heads, mlp_dim, attention_downsample_rate, i == 0);
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override { this->set_name(p);
        for (size_t i = 0; i < layers.size(); ++i) layers[i].visit(v, p + "layers." + std::to_string(i) + ".");
        final_attn_token_to_image.visit(v, p + "final_attn_token_to_image.");
        norm_final_attn.visit(v, p + "norm_final_attn.");
    }
};

}  // namespace evsam
