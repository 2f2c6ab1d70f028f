// evsam: segment_anything/modeling/image_encoder.py: class ImageEncoderViT (SAM's ViT-B/L/H
// image encoder) and build_sam.py's _build_sam settings, with Expedit-SAM's training-free
// hourglass (segment_anything/modeling/hourglass_image_encoder.py: HourglassImageEncoderViT, whose
// state_dict is ImageEncoderViT's; with its clustering off it is ImageEncoderViT).
//   patch_embed -> + pos_embed -> blocks (windowed, global at global_attn_indexes) ->
//   neck: Conv2d 1x1 (no bias), LayerNorm2d, Conv2d 3x3 pad 1 (no bias), LayerNorm2d (eps 1e-6)
// The hourglass (HourglassConfig, off by default): before block clustering_location, each
// window_size window (the grid zero-padded as window_partition pads it) is clustered into
// num_cluster = g^2 tokens (TokenClusteringBlock), the windows merged into a (Hp / window_size * g)^2
// grid; the later windowed blocks run at window g, the global ones on the small grid (both with
// their rel-pos tables interpolated by get_rel_pos); after the last block TokenReconstructionBlock
// rebuilds every window's tokens, and the neck runs on the full grid as before.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "evsam/nn/layers.hpp"
#include "evsam/nn/norm.hpp"
#include "evsam/sam/patch_embed.hpp"
#include "evsam/sam/token_clustering_block.hpp"
#include "evsam/sam/token_reconstruction_block.hpp"
#include "evsam/sam/vit_block.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct ImageEncoderViT;

// Expedit-SAM's knobs: HourglassImageEncoderViT's hourglass_* constructor arguments, with their
// defaults (load_hourglass_args sets the same ones on a built model: ImageEncoderViT::set_hourglass).
struct HourglassConfig {
    int64_t clustering_location = -1;  // the block clustered before; < 0: off
    int64_t num_cluster = 100;         // clusters per window, a perfect square
    int64_t cluster_iters = 5;         // soft k-means steps
    double temperture = 0.01;          // upstream's spelling; shared by clustering and reconstruction
    int64_t cluster_window_size = 5;   // odd: the neighbourhood of initial clusters a token may join
    int64_t reconstruction_k = 20;     // nearest centres per rebuilt token
    bool on() const { return clustering_location >= 0; }
    int64_t side() const { return static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(num_cluster)))); }
};

// How each knob is named in an error: upstream's keyword arguments (the library), or the tool's flags.
enum class HourglassNames { kwargs, flags };

// Empty when h suits an encoder of `depth` blocks and windows of `window_size`; else the one-line
// problem. Upstream asserts the square and the odd window; a location past the last block would
// silently leave the model unchanged, and k outside 1 .. num_cluster fails inside torch.topk.
inline std::string hourglass_problem(const HourglassConfig& h, int64_t depth, int64_t window_size,
                                     HourglassNames names = HourglassNames::kwargs) {
    const bool f = names == HourglassNames::flags;
    auto n = [f](const char* kw, const char* flag) { return std::string(f ? flag : kw); };
    if (!h.on()) return "";
    if (window_size <= 0)
        return "the hourglass clusters windows: this encoder has no windowed blocks (window_size 0)";
    if (h.clustering_location >= depth)
        return n("hourglass_clustering_location", "--hourglass-location") + " " +
               std::to_string(h.clustering_location) + ": the encoder has " + std::to_string(depth) + " blocks (0.." +
               std::to_string(depth - 1) + ")";
    const int64_t g = h.side();
    if (h.num_cluster <= 0 || g * g != h.num_cluster)
        return n("hourglass_num_cluster", "--hourglass-clusters") + " " + std::to_string(h.num_cluster) +
               ": not a positive perfect square";
    if (h.cluster_iters < 0)
        return n("hourglass_cluster_iters", "--hourglass-iters") + " " + std::to_string(h.cluster_iters) +
               ": must be >= 0";
    if (!(std::isfinite(h.temperture) && h.temperture > 0))
        return n("hourglass_temperture", "--hourglass-temperature") + " " + std::to_string(h.temperture) +
               ": must be a positive number";
    if (h.cluster_window_size <= 0 || h.cluster_window_size % 2 == 0)
        return n("hourglass_cluster_window_size", "--hourglass-window") + " " + std::to_string(h.cluster_window_size) +
               ": must be a positive odd number";
    if (h.reconstruction_k < 1 || h.reconstruction_k > h.num_cluster)
        return n("hourglass_reconstruction_k", "--hourglass-k") + " " + std::to_string(h.reconstruction_k) +
               ": must be 1.." + std::to_string(h.num_cluster) + " (the clusters per window)";
    return "";
}

struct ImageEncoderViTConfig {
    int64_t img_size = 1024, patch_size = 16, in_chans = 3, embed_dim = 768, depth = 12, num_heads = 12;
    double mlp_ratio = 4.0;
    int64_t out_chans = 256;
    bool qkv_bias = true, use_abs_pos = true, use_rel_pos = false;  // ImageEncoderViT's defaults;
    int64_t window_size = 0;                                        // build_sam's are sam_vit_encoder's
    std::vector<int64_t> global_attn_indexes;
    double norm_eps = 1e-6;  // partial(torch.nn.LayerNorm, eps=1e-6); SAM's LayerNorm2d: 1e-6
    HourglassConfig hourglass;  // Expedit-SAM's clustering (off); no parameters of its own
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
    TokenClusteringBlock<T, B> token_clustering_block;          // used when cfg.hourglass.on()
    TokenReconstructionBlock<T, B> token_reconstruction_block;  // ... and the grid changed

    explicit ImageEncoderViT(const Config& c)
        : cfg(c),
          patch_embed(c.patch_size, c.in_chans, c.embed_dim),
          neck(c.embed_dim, c.out_chans, c.norm_eps),
          token_clustering_block(c.hourglass.side(), c.hourglass.cluster_iters, c.hourglass.temperture,
                                 c.hourglass.cluster_window_size),
          token_reconstruction_block(c.hourglass.reconstruction_k, c.hourglass.temperture) {
        const std::string problem = hourglass_problem(c.hourglass, c.depth, c.window_size);
        EVSAM_CHECK(problem.empty(), "ImageEncoderViT: " + problem);
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
    // HourglassImageEncoderViT.load_hourglass_args: new knobs on the built (and loaded) model.
    void set_hourglass(const HourglassConfig& h) {
        const std::string problem = hourglass_problem(h, cfg.depth, cfg.window_size);
        EVSAM_CHECK(problem.empty(), "ImageEncoderViT: " + problem);
        cfg.hourglass = h;
        token_clustering_block.num_spixels_side = h.side();
        token_clustering_block.n_iters = h.cluster_iters;
        token_clustering_block.temperture = h.temperture;
        token_clustering_block.r = h.cluster_window_size / 2;
        token_reconstruction_block.k = h.reconstruction_k;
        token_reconstruction_block.temperture = h.temperture;
    }
    // HourglassBlock's window: 0 for a global block; window_size before the clustering, g after it.
    int64_t block_window(size_t i) const {
        const auto& h = cfg.hourglass;
        if (blocks[i].window_size == 0) return 0;
        return h.on() && static_cast<int64_t>(i) >= h.clustering_location ? h.side() : cfg.window_size;
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        if (cfg.use_abs_pos) v.tensor(p + "pos_embed", pos_embed, {1, grid(), grid(), cfg.embed_dim}, ParamKind::parameter);
        patch_embed.visit(v, p + "patch_embed.");
        for (size_t i = 0; i < blocks.size(); ++i) blocks[i].visit(v, p + "blocks." + std::to_string(i) + ".");
        neck.visit(v, p + "neck.");
        token_clustering_block.visit(v, p + "token_clustering_block.");
        token_reconstruction_block.visit(v, p + "token_reconstruction_block.");
    }
    // The reconstructer's state between cluster() and reconstruct() (upstream's State).
    struct HourglassState {
        Tensor<T> feat_before_pooling, feat_after_pooling;  // (N, S^2, C), (N, g^2, C)
        int64_t Hp = 0, Wp = 0;                             // pad_hw
    };
    // HourglassImageEncoderViT.cluster: x (B, H, W, C) -> (B, Hp / S * g, Wp / S * g, C)
    Tensor<T> cluster(const Tensor<T>& x, HourglassState& st, Trace<T>* tr) const {
        const int64_t Bn = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3), S = cfg.window_size;
        const int64_t g = cfg.hourglass.side();
        st.Hp = window_padded(H, S);
        st.Wp = window_padded(W, S);
        const int64_t nw = Bn * (st.Hp / S) * (st.Wp / S);
        Tensor<T> win({nw, S, S, C}, Tensor<T>::uninitialized);
        window_partition_forward(win.data(), x.data(), Bn, H, W, C, S, B{});  // x, pad_hw = window_partition(x, S)
        Tensor<T> c = token_clustering_block.forward(win, tr);                // x, hard_labels = ...(x)
        const int64_t h = st.Hp / S * g, w = st.Wp / S * g;
        Tensor<T> out({Bn, h, w, C}, Tensor<T>::uninitialized);
        window_unpartition_forward(out.data(), c.data(), Bn, h, w, C, g, B{});  // window_unpartition(x, ws_new, (h, w), (h, w))
        st.feat_before_pooling = std::move(win);  // update_state(feat_before_pooling=x.view(-1, S * S, C))
        st.feat_before_pooling.reshape_({nw, S * S, C});
        st.feat_after_pooling = std::move(c);     // update_state(feat_after_pooling=x.view(Bnw, -1, C))
        st.feat_after_pooling.reshape_({nw, g * g, C});
        return out;
    }
    // HourglassImageEncoderViT.reconstruct: x (B, h, w, C) -> (B, H, W, C)
    Tensor<T> reconstruct(const Tensor<T>& x, int64_t H, int64_t W, const HourglassState& st, Trace<T>* tr) const {
        const int64_t Bn = x.size(0), h = x.size(1), w = x.size(2), C = x.size(3), S = cfg.window_size;
        const int64_t g = cfg.hourglass.side(), nw = Bn * (h / g) * (w / g);
        Tensor<T> win({nw, g * g, C}, Tensor<T>::uninitialized);
        window_partition_forward(win.data(), x.data(), Bn, h, w, C, g, B{});  // x, _ = window_partition(x, ws_new)
        const Tensor<T> r = token_reconstruction_block.forward(win, st.feat_before_pooling, st.feat_after_pooling,
                                                               tr);  // x, _ = recontructer.call(x)
        Tensor<T> out({Bn, H, W, C}, Tensor<T>::uninitialized);
        window_unpartition_forward(out.data(), r.data(), Bn, H, W, C, S, B{});  // window_unpartition(x, S, pad_hw, (H, W))
        return out;
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
        const int64_t H = t.size(1), W = t.size(2);
        HourglassState st;                                      // reconstructer = ...derive_unpooler()
        for (size_t i = 0; i < blocks.size(); ++i) {            // for i, blk in enumerate(self.blocks):
            if (static_cast<int64_t>(i) == cfg.hourglass.clustering_location) t = cluster(t, st, tr);
            t = blocks[i].forward(t, block_window(i), tr);      //     x = blk(x)
        }
        if (t.size(1) != H || t.size(2) != W) t = reconstruct(t, H, W, st, tr);
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
        const Shape full = s;
        Shape before;  // the windows clustered (feat_before_pooling)
        for (size_t i = 0; i < blocks.size(); ++i) {
            if (static_cast<int64_t>(i) == cfg.hourglass.clustering_location) {
                const int64_t S = cfg.window_size, g = cfg.hourglass.side();
                const int64_t nwy = window_padded(s[1], S) / S, nwx = window_padded(s[2], S) / S;
                before = {s[0] * nwy * nwx, S * S, s[3]};
                token_clustering_block.describe({before[0], S, S, s[3]}, t, depth + 1);
                s = {s[0], nwy * g, nwx * g, s[3]};
            }
            s = blocks[i].describe(s, block_window(i), t, depth + 1);
        }
        if (s != full) {
            const int64_t g = cfg.hourglass.side();
            token_reconstruction_block.describe({before[0], g * g, s[3]}, before, t, depth + 1);
            s = full;
        }
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
