// evsam: segment_anything/modeling/image_encoder.py: class Block (a ViT block with window
// attention and residual propagation). Named ViTBlock here.
//   norm1, norm2: nn.LayerNorm(dim, eps=1e-6); attn: Attention (windowed: input_size = window);
//   mlp: MLPBlock(dim, dim * mlp_ratio, nn.GELU) (exact erf GELU)
#pragma once
#include "evsam/nn/functional.hpp"
#include "evsam/nn/norm.hpp"
#include "evsam/ops/window.hpp"
#include "evsam/sam/common.hpp"
#include "evsam/sam/vit_attention.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct ViTBlock : Module<T, B> {
    int64_t window_size;  // 0: global attention
    LayerNorm<T, B> norm1;
    ViTAttention<T, B> attn;
    LayerNorm<T, B> norm2;
    MLPBlock<T, B> mlp;

    // input_h x input_w: the token grid (the rel-pos tables of a global block span it)
    ViTBlock(int64_t dim, int64_t num_heads, double mlp_ratio, bool qkv_bias, bool use_rel_pos, int64_t window,
             int64_t input_h, int64_t input_w, double eps)
        : window_size(window),
          norm1(dim, eps),
          attn(dim, num_heads, qkv_bias, use_rel_pos, window > 0 ? window : input_h, window > 0 ? window : input_w),
          norm2(dim, eps),
          mlp(dim, static_cast<int64_t>(static_cast<double>(dim) * mlp_ratio), Act::gelu_erf) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        norm1.visit(v, p + "norm1.");
        attn.visit(v, p + "attn.");
        norm2.visit(v, p + "norm2.");
        mlp.visit(v, p + "mlp.");
    }
    // x (B, H, W, dim) -> (B, H, W, dim)
    Tensor<T> forward(const Tensor<T>& x, Trace<T>* tr = nullptr) const { return forward(x, window_size, tr); }
    // ... at window S instead of the block's own (Expedit-SAM's HourglassBlock after the clustering:
    // window sqrt(num_cluster), its rel-pos tables still those of window_size, interpolated)
    Tensor<T> forward(const Tensor<T>& x, int64_t S, Trace<T>* tr = nullptr) const {
        const int64_t Bn = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
        Tensor<T> h = x;                                      // shortcut = x
        norm1.forward_(h);                                    // x = self.norm1(x)
        if (S > 0) {                                          // x, pad_hw = window_partition(x, self.window_size)
            const int64_t Hp = window_padded(H, S), Wp = window_padded(W, S);
            Tensor<T> win({Bn * (Hp / S) * (Wp / S), S, S, C}, Tensor<T>::uninitialized);
            window_partition_forward(win.data(), h.data(), Bn, H, W, C, S, B{});
            const Tensor<T> a = attn.forward(win, tr);        // x = self.attn(x)
            window_unpartition_forward(h.data(), a.data(), Bn, H, W, C, S, B{});  // window_unpartition(...)
        } else {
            h = attn.forward(h, tr);                          // x = self.attn(x)
        }
        fn::add_<B>(h, x);                                        // x = shortcut + x
        Tensor<T> m = h;
        norm2.forward_(m);
        fn::add_<B>(h, mlp.forward(m));                           // x = x + self.mlp(self.norm2(x))
        this->trace(tr, h);
        return h;
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) { return describe(in, window_size, t, depth); }
    Shape describe(const Shape& in, int64_t S, ModuleTable& t, int depth) {
        const size_t r = t.open(*this, "Block", depth);
        t.close(t.open(norm1, "LayerNorm", depth + 1), in);
        Shape a = in;
        if (S > 0) {
            a = {in[0] * (window_padded(in[1], S) / S) * (window_padded(in[2], S) / S), S, S, in[3]};
        }
        attn.describe(a, t, depth + 1);
        t.close(t.open(norm2, "LayerNorm", depth + 1), in);
        const size_t rm = t.open(mlp, "MLPBlock", depth + 1);
        t.close(rm, mlp.lin2.describe(mlp.lin1.describe(in, t, depth + 2), t, depth + 2));
        t.close(r, in);
        return in;
    }
};

}  // namespace evsam
