// evsam: segment_anything/modeling/image_encoder.py: class Attention (multi-head attention with
// decomposed relative positions). Named ViTAttention here: sam/transformer.hpp's Attention is the
// mask decoder's.
//   qkv: Linear(dim, 3 dim, bias=qkv_bias); proj: Linear(dim, dim)
//   rel_pos_h, rel_pos_w: (2 input_size - 1, head_dim) when use_rel_pos
#pragma once
#include <vector>

#include "evsam/nn/layers.hpp"
#include "evsam/ops/rel_pos_attention.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct ViTAttention : Module<T, B> {
    int64_t dim, num_heads, input_h, input_w;
    bool use_rel_pos;
    Linear<T, B> qkv, proj;
    Tensor<T> rel_pos_h, rel_pos_w;  // (2 H - 1, head_dim), (2 W - 1, head_dim)

    ViTAttention(int64_t dim_, int64_t heads, bool qkv_bias, bool rel_pos, int64_t in_h, int64_t in_w)
        : dim(dim_),
          num_heads(heads),
          input_h(in_h),
          input_w(in_w),
          use_rel_pos(rel_pos),
          qkv(dim_, 3 * dim_, qkv_bias),
          proj(dim_, dim_) {
        EVSAM_CHECK(heads > 0 && dim_ % heads == 0, "Attention: dim " + std::to_string(dim_) +
                                                        " not divisible by num_heads " + std::to_string(heads));
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        if (use_rel_pos) {
            v.tensor(p + "rel_pos_h", rel_pos_h, {2 * input_h - 1, dim / num_heads}, ParamKind::parameter);
            v.tensor(p + "rel_pos_w", rel_pos_w, {2 * input_w - 1, dim / num_heads}, ParamKind::parameter);
        }
        qkv.visit(v, p + "qkv.");
        proj.visit(v, p + "proj.");
    }
    // x (B, H, W, dim) -> (B, H, W, dim)
    Tensor<T> forward(const Tensor<T>& x, Trace<T>* tr = nullptr) const {
        EVSAM_CHECK(x.dim() == 4 && x.size(3) == dim, this->name + ": bad input " + shape_str(x.shape()));
        const int64_t Bn = x.size(0), H = x.size(1), W = x.size(2), d = dim / num_heads;
        const Tensor<T> t = qkv.forward(x);  // qkv = self.qkv(x), (B, H, W, 3 dim)
        std::vector<T> Rh, Rw;               // get_rel_pos(H, H, rel_pos_h), get_rel_pos(W, W, rel_pos_w)
        if (use_rel_pos) {
            Rh.resize(static_cast<size_t>(H * H * d));
            Rw.resize(static_cast<size_t>(W * W * d));
            get_rel_pos_forward(Rh.data(), rel_pos_h.data(), rel_pos_h.size(0), d, H, H);
            get_rel_pos_forward(Rw.data(), rel_pos_w.data(), rel_pos_w.size(0), d, W, W);
        }
        Tensor<T> a({Bn, H, W, dim}, Tensor<T>::uninitialized);
        rel_pos_attention_forward(a.data(), t.data(), use_rel_pos ? Rh.data() : nullptr,
                                  use_rel_pos ? Rw.data() : nullptr, Bn, H, W, dim, num_heads, B{});
        Tensor<T> out = proj.forward(a);  // x = self.proj(x)
        this->trace(tr, out);
        return out;
    }
    // MACs as upstream's profilers count them: the two Linears and the two attention matmuls.
    Shape describe(const Shape& in, ModuleTable& t, int depth) {
        const size_t r = t.open(*this, "Attention", depth);
        const int64_t tokens = in[1] * in[2];
        qkv.describe(in, t, depth + 1);
        proj.describe(in, t, depth + 1);  // its input, the heads recombined, has x's shape
        t.close(r, in, 2 * in[0] * tokens * tokens * dim);
        return in;
    }
};

}  // namespace evsam
