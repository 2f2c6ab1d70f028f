// evsam: segment_anything/modeling/transformer.py: Attention, TwoWayAttentionBlock, TwoWayTransformer
#pragma once
#include <vector>

#include "evsam/ops/activation.hpp"
#include "evsam/ops/attention.hpp"
#include "evsam/ops/layout.hpp"
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
    // q: (B, NQ, E), k and v: (B, NK, E) -> (B, NQ, E)
    Tensor<T> forward(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v) const {
        return forward_projected(q_proj.forward(q), k_proj.forward(k), v_proj.forward(v));  // input projections
    }
    // The rest of forward, from projected qp (B or 1, NQ, D) and kp, vp (B or 1, NK, D): a batch of
    // 1 is shared by every prompt (the Predictor's per-image projections).
    Tensor<T> forward_projected(const Tensor<T>& qp, const Tensor<T>& kp, const Tensor<T>& vp) const {
        EVSAM_CHECK(kp.shape() == vp.shape() && qp.size(-1) == internal_dim && kp.size(-1) == internal_dim,
                    "Attention: projected q " + shape_str(qp.shape()) + ", k " + shape_str(kp.shape()) + ", v " +
                        shape_str(vp.shape()) + " do not match");
        const int64_t Bn = std::max(qp.size(0), kp.size(0)), NQ = qp.size(1), NK = kp.size(1);
        Tensor<T> o({Bn, NQ, internal_dim}, Tensor<T>::uninitialized);
        attention_forward(o.data(), qp.data(), kp.data(), vp.data(), Bn, NQ, NK, internal_dim, num_heads,
                          qp.size(0) == 1 ? 0 : NQ * internal_dim, kp.size(0) == 1 ? 0 : NK * internal_dim,
                          B{});  // separate heads, softmax(q k^T / sqrt(d)) v, recombine
        return out_proj.forward(o);  // self.out_proj(out)
    }
    // forward(q, k, v) for few queries against many keys (token -> image): the projections folded
    // into the queries when that is cheaper (ops/attention.hpp: attention_few_queries_forward).
    Tensor<T> forward_few_queries(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v) const {
        const int64_t Bn = q.size(0), NQ = q.size(1), NK = k.size(1);
        if (!factored_attention_pays(NQ, embedding_dim, internal_dim, num_heads)) return forward(q, k, v);
        EVSAM_CHECK(k.shape() == v.shape() && k.size(0) == Bn && k.size(-1) == embedding_dim && q.size(-1) == embedding_dim,
                    "Attention: q " + shape_str(q.shape()) + ", k " + shape_str(k.shape()) + ", v " + shape_str(v.shape()) +
                        " do not match");
        const Tensor<T> qp = q_proj.forward(q);  // q = self.q_proj(q)
        Tensor<T> o({Bn, NQ, internal_dim}, Tensor<T>::uninitialized);
        attention_few_queries_forward(o.data(), qp.data(), k.data(), v.data(), param_ptr(k_proj.weight, B{}), param_ptr(k_proj.bias, B{}),
                                      param_ptr(v_proj.weight, B{}), param_ptr(v_proj.bias, B{}), Bn, NQ, NK, embedding_dim,
                                      internal_dim, num_heads, NK * embedding_dim, B{});
        return out_proj.forward(o);  // self.out_proj(out)
    }
    // forward(q, k, v) for many queries against few keys (image -> token): q (B, NI, E), or qp
    // (1 or B, NI, D) already projected when q is null; q_proj and out_proj folded into the keys and
    // values when that is cheaper (ops/attention.hpp: attention_few_keys_forward).
    Tensor<T> forward_few_keys(const Tensor<T>* q, const Tensor<T>* qp, const Tensor<T>& k, const Tensor<T>& v) const {
        const int64_t NT = k.size(1);
        if (!factored_attention_pays(NT, embedding_dim, internal_dim, num_heads))
            return q ? forward(*q, k, v) : forward_projected(*qp, k_proj.forward(k), v_proj.forward(v));
        const Tensor<T>& qq = q ? *q : *qp;
        const int64_t Bn = k.size(0), NI = qq.size(1), W = q ? embedding_dim : internal_dim;
        EVSAM_CHECK(k.shape() == v.shape() && qq.size(-1) == W && (qq.size(0) == Bn || qq.size(0) == 1),
                    "Attention: q " + shape_str(qq.shape()) + ", k " + shape_str(k.shape()) + ", v " + shape_str(v.shape()) +
                        " do not match");
        const Tensor<T> kp = k_proj.forward(k), vp = v_proj.forward(v);  // k = self.k_proj(k); v = self.v_proj(v)
        Tensor<T> out({Bn, NI, embedding_dim}, Tensor<T>::uninitialized);
        attention_few_keys_forward(out.data(), q ? q->data() : nullptr, q ? nullptr : qp->data(),
                                   qq.size(0) == 1 ? 0 : NI * W, kp.data(), vp.data(), param_ptr(q_proj.weight, B{}),
                                   param_ptr(q_proj.bias, B{}), param_ptr(out_proj.weight, B{}), param_ptr(out_proj.bias, B{}), Bn,
                                   NI, NT, embedding_dim, internal_dim, num_heads, B{});
        return out;
    }
};

// The first layer's projections of the image side: cross_attn_token_to_image's k_proj(keys +
// key_pe) and v_proj(keys), and cross_attn_image_to_token's q_proj(keys + key_pe). In layer 0 the
// keys are still src = image embedding + dense prompt embedding, so when the dense embedding does
// not depend on the prompt (no mask input: no_mask_embed everywhere) these depend on the image
// alone. The Predictor computes them once per image (batch 1, shared by every prompt). Where the
// factored cross attention does not pay (factored_attention_pays: small dims) the path without them
// does the same arithmetic, so the results are bit-identical; at SAM's dims that path folds the
// projections into the prompt tokens instead, and the two agree to rounding.
template <class T>
struct ImageProjections {
    Tensor<T> t2i_k, t2i_v, i2t_q;  // (1, h*w, internal_dim)
    Tensor<T> keys, key_pe;         // (1, h*w, E): src and image_pe flattened, the transformer's inputs
};

// a + b, where b has a's shape or a batch of 1 that is added to every batch entry of a
// (the image positional encoding, shared by every prompt).
template <class T>
Tensor<T> add_tensors(const Tensor<T>& a, const Tensor<T>& b) {
    const bool bcast = b.dim() == a.dim() && b.dim() > 0 && b.size(0) == 1 && b.numel() * a.size(0) == a.numel();
    EVSAM_CHECK(a.shape() == b.shape() || bcast,
                "add: shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) + " differ");
    Tensor<T> r(a.shape(), Tensor<T>::uninitialized);
    const int64_t n = b.numel();
    for (int64_t i = 0; i < a.numel(); i += n) add_forward(r.data() + i, a.data() + i, b.data(), n, backend::cpu{});
    return r;
}
template <class T>
void add_inplace(Tensor<T>& a, const Tensor<T>& b) {
    EVSAM_CHECK(a.shape() == b.shape(), "add: shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) + " differ");
    add_forward(a.data(), a.data(), b.data(), a.numel(), backend::cpu{});
}

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
    // queries (B, N, E), keys (B, HW, E); query_pe like queries, key_pe like keys.
    // pre: layer 0's image-side projections, when keys are the same image for every prompt.
    void forward(Tensor<T>& queries, Tensor<T>& keys, const Tensor<T>& query_pe, const Tensor<T>& key_pe,
                 Trace<T>* tr = nullptr, const ImageProjections<T>* pre = nullptr) const {
        if (skip_first_layer_pe) {  // self attention block (no residual, no PE in the first layer)
            queries = self_attn.forward(queries, queries, queries);
        } else {
            Tensor<T> q = add_tensors(queries, query_pe);
            add_inplace(queries, self_attn.forward(q, q, queries));
        }
        norm1.forward_(queries);
        {  // cross attention block, tokens attending to image embedding
            Tensor<T> q = add_tensors(queries, query_pe);
            if (pre) {
                const auto& a = cross_attn_token_to_image;
                add_inplace(queries, a.forward_projected(a.q_proj.forward(q), pre->t2i_k, pre->t2i_v));
            } else {
                Tensor<T> k = add_tensors(keys, key_pe);
                add_inplace(queries, cross_attn_token_to_image.forward_few_queries(q, k, keys));
            }
            norm2.forward_(queries);
        }
        add_inplace(queries, mlp.forward(queries));  // MLP block
        norm3.forward_(queries);
        {  // cross attention block, image embedding attending to tokens
            Tensor<T> q = add_tensors(queries, query_pe);
            if (pre) {
                add_inplace(keys, cross_attn_image_to_token.forward_few_keys(nullptr, &pre->i2t_q, q, queries));
            } else {
                Tensor<T> k = add_tensors(keys, key_pe);
                add_inplace(keys, cross_attn_image_to_token.forward_few_keys(&k, nullptr, q, queries));
            }
            norm4.forward_(keys);
        }
        if (tr) {
            tr->record(this->name + ".queries", queries);
            tr->record(this->name + ".keys", keys);
        }
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
    // ImageProjections for one image: src (1, E, h, w) = image embedding + the prompt-independent
    // dense embedding, image_pe (1, E, h, w).
    ImageProjections<T> project_image(const Tensor<T>& src, const Tensor<T>& image_pe) const {
        Tensor<T> keys = flatten_permute(src), key_pe = flatten_permute(image_pe);
        const Tensor<T> k = add_tensors(keys, key_pe);
        const auto& l0 = layers.front();
        return {l0.cross_attn_token_to_image.k_proj.forward(k), l0.cross_attn_token_to_image.v_proj.forward(keys),
                l0.cross_attn_image_to_token.q_proj.forward(k), std::move(keys), std::move(key_pe)};
    }

    // image_embedding (B, E, h, w), image_pe (B or 1, E, h, w), point_embedding (B, N, E)
    // -> queries (B, N, E) and keys (B, h*w, E). pre: see ImageProjections (layer 0 only).
    std::pair<Tensor<T>, Tensor<T>> forward(const Tensor<T>& image_embedding, const Tensor<T>& image_pe,
                                            const Tensor<T>& point_embedding, Trace<T>* tr = nullptr,
                                            const ImageProjections<T>* pre = nullptr) const {
        // B x C x H x W -> B x HW x C
        return forward_flat(flatten_permute(image_embedding), flatten_permute(image_pe), point_embedding, tr, pre);
    }
    // forward with the image side already flattened: keys (B, HW, E), key_pe (B or 1, HW, E).
    std::pair<Tensor<T>, Tensor<T>> forward_flat(Tensor<T> keys, const Tensor<T>& key_pe,
                                                 const Tensor<T>& point_embedding, Trace<T>* tr = nullptr,
                                                 const ImageProjections<T>* pre = nullptr) const {
        Tensor<T> queries = point_embedding;
        for (size_t i = 0; i < layers.size(); ++i)
            layers[i].forward(queries, keys, point_embedding, key_pe, tr, i == 0 ? pre : nullptr);
        Tensor<T> q = add_tensors(queries, point_embedding), k = add_tensors(keys, key_pe);
        add_inplace(queries, final_attn_token_to_image.forward_few_queries(q, k, keys));  // final attention, points -> image
        norm_final_attn.forward_(queries);
        if (tr) {  // the transformer's outputs: hs (tokens) and src (image keys)
            tr->record(this->name + ".hs", queries);
            tr->record(this->name + ".src", keys);
        }
        return {std::move(queries), std::move(keys)};
    }

    static Tensor<T> flatten_permute(const Tensor<T>& x) {
        Tensor<T> r({x.size(0), x.size(2) * x.size(3), x.size(1)}, Tensor<T>::uninitialized);
        nchw_to_npc_forward(r.data(), x.data(), x.size(0), x.size(1), x.size(2) * x.size(3), B{});
        return r;
    }
};

}  // namespace evsam
