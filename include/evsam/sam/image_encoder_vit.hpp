// evsam: segment_anything/modeling/image_encoder.py: class ImageEncoderViT (SAM's ViT-B/L/H
// image encoder) and build_sam.py's _build_sam settings.
//   patch_embed -> + pos_embed -> blocks (windowed, global at global_attn_indexes) ->
//   neck: Conv2d 1x1 (no bias), LayerNorm2d, Conv2d 3x3 pad 1 (no bias), LayerNorm2d (eps 1e-6)
#pragma once
#include <algorithm>
#include <vector>

#include "evsam/nn/layers.hpp"
#include "evsam/nn/norm.hpp"
#include "evsam/sam/patch_embed.hpp"
#include "evsam/sam/vit_block.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct ImageEncoderViT;

struct ImageEncoderViTConfig {
    int64_t img_size = 1024, patch_size = 16, in_chans = 3, embed_dim = 768, depth = 12, num_heads = 12;
    double mlp_ratio = 4.0;
    int64_t out_chans = 256;
    bool qkv_bias = true, use_abs_pos = true, use_rel_pos = false;  // ImageEncoderViT's defaults;
    int64_t window_size = 0;                                        // build_sam's are sam_vit_encoder's
    std::vector<int64_t> global_attn_indexes;
    double norm_eps = 1e-6;  // partial(torch.nn.LayerNorm, eps=1e-6); SAM's LayerNorm2d: 1e-6
    static constexpr bool on_cuda = false;  // no CUDA ops for it yet: create_sam refuses backend::cuda
    template <class T, class B>
    using Module = ImageEncoderViT<T, B>;
};

// ImageEncoderViT.neck: nn.Sequential(Conv2d 1x1 (no bias), LayerNorm2d, Conv2d 3x3 pad 1 (no bias),
// LayerNorm2d), its children named 0 .. 3 as in the state_dict.
template <class T, class B = backend::cpu>
struct ViTNeck : Module<T, B> {
    Conv2d<T, B> c0;
    LayerNorm2d<T, B> n1;
    Conv2d<T, B> c2;
    LayerNorm2d<T, B> n3;

    ViTNeck(int64_t embed_dim, int64_t out_chans, double eps)
        : c0(embed_dim, out_chans, 1, 1, 0, 1, 1, false),
          n1(out_chans, eps),
          c2(out_chans, out_chans, 3, 1, 1, 1, 1, false),
          n3(out_chans, eps) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        c0.visit(v, p + "0.");
        n1.visit(v, p + "1.");
        c2.visit(v, p + "2.");
        n3.visit(v, p + "3.");
    }
    // x (N, embed_dim, h, w) -> (N, out_chans, h, w)
    Tensor<T> forward(const Tensor<T>& x) const {
        Tensor<T> y = c0.forward(x);
        n1.forward_(y);
        y = c2.forward(y);
        n3.forward_(y);
        return y;
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) {
        const size_t r = t.open(*this, "Sequential", depth);
        Shape o = c0.describe(in, t, depth + 1);
        t.close(t.open(n1, "LayerNorm2d", depth + 1), o);
        o = c2.describe(o, t, depth + 1);
        t.close(t.open(n3, "LayerNorm2d", depth + 1), o);
        t.close(r, o);
        return o;
    }
};

template <class T, class B>
struct ImageEncoderViT : Module<T, B> {
    using Config = ImageEncoderViTConfig;
    Config cfg;
    PatchEmbed<T, B> patch_embed;
    Tensor<T> pos_embed;  // (1, img/patch, img/patch, embed_dim) when use_abs_pos
    std::vector<ViTBlock<T, B>> blocks;
    ViTNeck<T, B> neck;

    explicit ImageEncoderViT(const Config& c)
        : cfg(c),
          patch_embed(c.patch_size, c.in_chans, c.embed_dim),
          neck(c.embed_dim, c.out_chans, c.norm_eps) {
        EVSAM_CHECK(c.patch_size > 0 && c.img_size % c.patch_size == 0,
                    "ImageEncoderViT: img_size " + std::to_string(c.img_size) + " is not a multiple of patch_size " +
                        std::to_string(c.patch_size));
        const int64_t g = grid();
        blocks.reserve(static_cast<size_t>(c.depth));
        for (int64_t i = 0; i < c.depth; ++i) {
            const bool global = std::find(c.global_attn_indexes.begin(), c.global_attn_indexes.end(), i) !=
                                c.global_attn_indexes.end();
            blocks.emplace_back(c.embed_dim, c.num_heads, c.mlp_ratio, c.qkv_bias, c.use_rel_pos,
                                global ? 0 : c.window_size, g, g, c.norm_eps);
        }
    }
    int64_t grid() const { return cfg.img_size / cfg.patch_size; }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        if (cfg.use_abs_pos) v.tensor(p + "pos_embed", pos_embed, {1, grid(), grid(), cfg.embed_dim}, ParamKind::parameter);
        patch_embed.visit(v, p + "patch_embed.");
        for (size_t i = 0; i < blocks.size(); ++i) blocks[i].visit(v, p + "blocks." + std::to_string(i) + ".");
        neck.visit(v, p + "neck.");
    }
    // x (N, 3, img_size, img_size) preprocessed -> (N, out_chans, grid, grid)
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const {
        EVSAM_CHECK(x.dim() == 4 && x.size(1) == cfg.in_chans && x.size(2) == cfg.img_size &&
                        x.size(3) == cfg.img_size,
                    "image encoder: expected input (N, " + std::to_string(cfg.in_chans) + ", " +
                        std::to_string(cfg.img_size) + ", " + std::to_string(cfg.img_size) + "), got " +
                        shape_str(x.shape()));
        Tensor<T> t = patch_embed.forward(x, tr);              // x = self.patch_embed(x)
        if (cfg.use_abs_pos) fn::add_<B>(t, pos_embed);            // x = x + self.pos_embed
        for (const auto& blk : blocks) t = blk.forward(t, tr);  // for blk in self.blocks: x = blk(x)
        const int64_t N = t.size(0), g = t.size(1);
        Tensor<T> y({N, cfg.embed_dim, g, g}, Tensor<T>::uninitialized);
        npc_to_nchw_forward(y.data(), t.data(), N, cfg.embed_dim, g * g, B{});  // x.permute(0, 3, 1, 2)
        Tensor<T> out = neck.forward(y);                       // x = self.neck(...)
        this->trace(tr, out);
        return out;
    }
    void describe(const Shape& in, ModuleTable& t, int depth = 0) {
        const size_t r = t.open(*this, "ImageEncoderViT", depth);
        Shape s = patch_embed.describe(in, t, depth + 1);
        for (auto& b : blocks) s = b.describe(s, t, depth + 1);
        const Shape o = neck.describe({s[0], s[3], s[1], s[2]}, t, depth + 1);  // NCHW after the permute
        t.close(r, o);
    }
};

// build_sam.py: _build_sam(encoder_embed_dim, encoder_depth, encoder_num_heads, encoder_global_attn_indexes)
inline ImageEncoderViTConfig sam_vit_encoder(int64_t embed_dim, int64_t depth, int64_t heads,
                                             std::vector<int64_t> global_attn_indexes) {
    ImageEncoderViTConfig c;  // img_size 1024, patch 16, mlp_ratio 4, out_chans 256, qkv_bias
    c.use_rel_pos = true;
    c.window_size = 14;
    c.embed_dim = embed_dim;
    c.depth = depth;
    c.num_heads = heads;
    c.global_attn_indexes = std::move(global_attn_indexes);
    return c;
}

}  // namespace evsam
