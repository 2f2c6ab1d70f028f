// evsam: segment_anything/modeling/transformer.py: Attention, TwoWayAttentionBlock, TwoWayTransformer
//
// Two forwards of the same modules:
//   forward(...)          upstream's, statement by statement: the reference the fast path is tested
//                         against (tests/model/test_decoder_tiny.cpp);
//   forward_factored(...) the decoder's fast path: the cross attentions factored through the few
//                         prompt tokens (ops/attention.hpp), and, when every prompt has the same
//                         image keys, layer 0's image-side projections computed once per image
//                         (prepare(): ImageKeys).
#pragma once
#include <tuple>
#include <utility>
#include <vector>

#include "evsam/nn/functional.hpp"
#include "evsam/ops/activation.hpp"
#include "evsam/ops/attention.hpp"
#include "evsam/sam/common.hpp"

namespace evsam {

// Multi-head attention with an optional downscaled internal dim (q/k/v/out projections).
template <class T, class B = backend::cpu>
struct Attention : Module<T, B> {
    int64_t embedding_dim, internal_dim, num_heads;
    Linear<T, B> q_proj, k_proj, v_proj;  // (internal_dim, embedding_dim)
    Linear<T, B> out_proj;                // (embedding_dim, internal_dim)

    Attention(int64_t embedding_dim_, int64_t num_heads_, int64_t downsample_rate = 1)
        : embedding_dim(embedding_dim_),
          internal_dim(embedding_dim_ / downsample_rate),
          num_heads(num_heads_),
          q_proj(embedding_dim_, internal_dim),
          k_proj(embedding_dim_, internal_dim),
          v_proj(embedding_dim_, internal_dim),
          out_proj(internal_dim, embedding_dim_) {
        EVSAM_CHECK(internal_dim % num_heads == 0, "Attention: num_heads must divide embedding_dim / downsample_rate");
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
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
                          B{});      // separate heads, softmax(q k^T / sqrt(d)) v, recombine
        return out_proj.forward(o);  // self.out_proj(out)
    }
    // forward(q, k, v) for few queries against many keys (token -> image): the projections folded
    // into the queries when that is cheaper (ops/attention.hpp: attention_few_queries_forward).
    Tensor<T> forward_few_queries(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v) const {
        const int64_t Bn = q.size(0), NQ = q.size(1), NK = k.size(1);
        if (!factored_attention_pays(NQ, embedding_dim, internal_dim, num_heads)) return forward(q, k, v);
        EVSAM_CHECK(
            k.shape() == v.shape() && k.size(0) == Bn && k.size(-1) == embedding_dim && q.size(-1) == embedding_dim,
            "Attention: q " + shape_str(q.shape()) + ", k " + shape_str(k.shape()) + ", v " + shape_str(v.shape()) +
                " do not match");
        const Tensor<T> qp = q_proj.forward(q);  // q = self.q_proj(q)
        Tensor<T> o({Bn, NQ, internal_dim}, Tensor<T>::uninitialized);
        attention_few_queries_forward(o.data(), qp.data(), k.data(), v.data(), param_ptr(k_proj.weight, B{}),
                                      param_ptr(k_proj.bias, B{}), param_ptr(v_proj.weight, B{}),
                                      param_ptr(v_proj.bias, B{}), Bn, NQ, NK, embedding_dim, internal_dim, num_heads,
                                      NK * embedding_dim, B{});
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
                    "Attention: q " + shape_str(qq.shape()) + ", k " + shape_str(k.shape()) + ", v " +
                        shape_str(v.shape()) + " do not match");
        const Tensor<T> kp = k_proj.forward(k), vp = v_proj.forward(v);  // k = self.k_proj(k); v = self.v_proj(v)
        Tensor<T> out({Bn, NI, embedding_dim}, Tensor<T>::uninitialized);
        attention_few_keys_forward(
            out.data(), q ? q->data() : nullptr, q ? nullptr : qp->data(), qq.size(0) == 1 ? 0 : NI * W, kp.data(),
            vp.data(), param_ptr(q_proj.weight, B{}), param_ptr(q_proj.bias, B{}), param_ptr(out_proj.weight, B{}),
            param_ptr(out_proj.bias, B{}), Bn, NI, NT, embedding_dim, internal_dim, num_heads, B{});
        return out;
    }
};

// The image side of the transformer for prompts that share one image embedding and one dense
// embedding (no mask input): the flattened keys and key PE, and layer 0's projections of them:
// cross_attn_token_to_image's k_proj(keys + key_pe) and v_proj(keys), cross_attn_image_to_token's
// q_proj(keys + key_pe). In layer 0 the keys are still src = image embedding + dense embedding, so
// these depend on the image alone, and TwoWayTransformer::prepare computes them once per image.
// Where the factored cross attention does not pay (factored_attention_pays: small dims) the path
// without them does the same arithmetic, so the results are bit-identical; at SAM's dims that path
// folds the projections into the prompt tokens instead, and the two agree to rounding.
template <class T>
struct ImageKeys {
    Tensor<T> keys, key_pe;         // (1, h*w, E): src and image_pe flattened, the transformer's inputs
    Tensor<T> t2i_k, t2i_v, i2t_q;  // (1, h*w, internal_dim): layer 0's projections of them
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
        : self_attn(embedding_dim, num_heads),
          norm1(embedding_dim),
          cross_attn_token_to_image(embedding_dim, num_heads, attention_downsample_rate),
          norm2(embedding_dim),
          mlp(embedding_dim, mlp_dim, Act::relu),
          norm3(embedding_dim),
          norm4(embedding_dim),
          cross_attn_image_to_token(embedding_dim, num_heads, attention_downsample_rate),
          skip_first_layer_pe(skip_first_layer_pe_) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        self_attn.visit(v, p + "self_attn.");
        norm1.visit(v, p + "norm1.");
        cross_attn_token_to_image.visit(v, p + "cross_attn_token_to_image.");
        norm2.visit(v, p + "norm2.");
        mlp.visit(v, p + "mlp.");
        norm3.visit(v, p + "norm3.");
        norm4.visit(v, p + "norm4.");
        cross_attn_image_to_token.visit(v, p + "cross_attn_image_to_token.");
    }

    // Upstream's forward: queries (B, N, E), keys (B, HW, E); query_pe like queries, key_pe like keys.
    std::pair<Tensor<T>, Tensor<T>> forward(Tensor<T> queries, Tensor<T> keys, const Tensor<T>& query_pe,
                                            const Tensor<T>& key_pe, Trace<T>* tr = nullptr) const {
        if (skip_first_layer_pe) {  // self attention block
            queries = self_attn.forward(queries, queries, queries);
        } else {
            const Tensor<T> q = fn::add<B>(queries, query_pe);
            queries = fn::add<B>(queries, self_attn.forward(q, q, queries));
        }
        norm1.forward_(queries);
        Tensor<T> q = fn::add<B>(queries, query_pe);  // cross attention block, tokens attending to image embedding
        Tensor<T> k = fn::add<B>(keys, key_pe);
        queries = fn::add<B>(queries, cross_attn_token_to_image.forward(q, k, keys));
        norm2.forward_(queries);
        queries = fn::add<B>(queries, mlp.forward(queries));  // MLP block
        norm3.forward_(queries);
        q = fn::add<B>(queries, query_pe);  // cross attention block, image embedding attending to tokens
        k = fn::add<B>(keys, key_pe);
        keys = fn::add<B>(keys, cross_attn_image_to_token.forward(k, q, queries));
        norm4.forward_(keys);
        trace_outputs(tr, queries, keys);
        return {std::move(queries), std::move(keys)};
    }

    // The fast forward, in place: the cross attentions factored through the prompt tokens; key_pe
    // may be a batch of 1. image: layer 0's image-side projections, when every prompt has its keys.
    void forward_factored(Tensor<T>& queries, Tensor<T>& keys, const Tensor<T>& query_pe, const Tensor<T>& key_pe,
                          const ImageKeys<T>* image, Trace<T>* tr) const {
        if (skip_first_layer_pe) {
            queries = self_attn.forward(queries, queries, queries);
        } else {
            const Tensor<T> q = fn::add<B>(queries, query_pe);
            fn::add_<B>(queries, self_attn.forward(q, q, queries));
        }
        norm1.forward_(queries);
        const Tensor<T> q = fn::add<B>(queries, query_pe);
        const auto& t2i = cross_attn_token_to_image;
        fn::add_<B>(queries, image ? t2i.forward_projected(t2i.q_proj.forward(q), image->t2i_k, image->t2i_v)
                                   : t2i.forward_few_queries(q, fn::add<B>(keys, key_pe), keys));
        norm2.forward_(queries);
        fn::add_<B>(queries, mlp.forward(queries));
        norm3.forward_(queries);
        const Tensor<T> q2 = fn::add<B>(queries, query_pe);
        if (image) {
            fn::add_<B>(keys, cross_attn_image_to_token.forward_few_keys(nullptr, &image->i2t_q, q2, queries));
        } else {
            const Tensor<T> k = fn::add<B>(keys, key_pe);
            fn::add_<B>(keys, cross_attn_image_to_token.forward_few_keys(&k, nullptr, q2, queries));
        }
        norm4.forward_(keys);
        trace_outputs(tr, queries, keys);
    }

private:
    void trace_outputs(Trace<T>* tr, const Tensor<T>& queries, const Tensor<T>& keys) const {
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
        : depth(depth_),
          embedding_dim(embedding_dim_),
          num_heads(num_heads_),
          mlp_dim(mlp_dim_),
          final_attn_token_to_image(embedding_dim_, num_heads_, attention_downsample_rate),
          norm_final_attn(embedding_dim_) {
        for (int64_t i = 0; i < depth; ++i)
            layers.emplace_back(embedding_dim, num_heads, mlp_dim, attention_downsample_rate, i == 0);
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        for (size_t i = 0; i < layers.size(); ++i) layers[i].visit(v, p + "layers." + std::to_string(i) + ".");
        final_attn_token_to_image.visit(v, p + "final_attn_token_to_image.");
        norm_final_attn.visit(v, p + "norm_final_attn.");
    }

    // Upstream's forward: image_embedding (B, E, h, w), image_pe (B, E, h, w), point_embedding
    // (B, N, E) -> queries (B, N, E) and keys (B, h*w, E).
    std::pair<Tensor<T>, Tensor<T>> forward(const Tensor<T>& image_embedding, const Tensor<T>& image_pe,
                                            const Tensor<T>& point_embedding, Trace<T>* tr = nullptr) const {
        Tensor<T> keys = fn::flatten_permute<B>(image_embedding);  // B x C x H x W -> B x HW x C
        const Tensor<T> key_pe = fn::flatten_permute<B>(image_pe);
        Tensor<T> queries = point_embedding;  // prepare queries
        for (const auto& layer : layers)      // apply transformer blocks and final layernorm
            std::tie(queries, keys) = layer.forward(std::move(queries), std::move(keys), point_embedding, key_pe, tr);
        const Tensor<T> q =
            fn::add<B>(queries, point_embedding);  // apply the final attention layer from the points to the image
        const Tensor<T> k = fn::add<B>(keys, key_pe);
        queries = fn::add<B>(queries, final_attn_token_to_image.forward(q, k, keys));
        norm_final_attn.forward_(queries);
        trace_outputs(tr, queries, keys);
        return {std::move(queries), std::move(keys)};
    }

    // The image side of forward_factored, once per image: src (1, E, h, w) = image embedding + the
    // dense embedding its prompts share, image_pe (1, E, h, w).
    ImageKeys<T> prepare(const Tensor<T>& src, const Tensor<T>& image_pe) const {
        ImageKeys<T> r;
        r.keys = fn::flatten_permute<B>(src);
        r.key_pe = fn::flatten_permute<B>(image_pe);
        const Tensor<T> k = fn::add<B>(r.keys, r.key_pe);
        const auto& l0 = layers.front();
        r.t2i_k = l0.cross_attn_token_to_image.k_proj.forward(k);
        r.t2i_v = l0.cross_attn_token_to_image.v_proj.forward(r.keys);
        r.i2t_q = l0.cross_attn_image_to_token.q_proj.forward(k);
        return r;
    }

    // The fast forward, from keys already flattened: (B, HW, E) per prompt, key_pe (1, HW, E).
    // image: the prepared image side when every prompt's keys are image->keys (then keys holds B
    // copies of them); layer 0 uses its projections.
    std::pair<Tensor<T>, Tensor<T>> forward_factored(Tensor<T> keys, const Tensor<T>& key_pe,
                                                     const Tensor<T>& point_embedding, const ImageKeys<T>* image,
                                                     Trace<T>* tr = nullptr) const {
        Tensor<T> queries = point_embedding;
        for (size_t i = 0; i < layers.size(); ++i)
            layers[i].forward_factored(queries, keys, point_embedding, key_pe, i == 0 ? image : nullptr, tr);
        const Tensor<T> q = fn::add<B>(queries, point_embedding), k = fn::add<B>(keys, key_pe);
        fn::add_<B>(queries, final_attn_token_to_image.forward_few_queries(q, k, keys));
        norm_final_attn.forward_(queries);
        trace_outputs(tr, queries, keys);
        return {std::move(queries), std::move(keys)};
    }

private:
    void trace_outputs(Trace<T>* tr, const Tensor<T>& queries, const Tensor<T>& keys) const {
        if (tr) {  // the transformer's outputs: hs (tokens) and src (image keys)
            tr->record(this->name + ".hs", queries);
            tr->record(this->name + ".src", keys);
        }
    }
};

}  // namespace evsam
