// evsam: efficientvit/models/efficientvit/cls.py: class ClsHead, class EfficientViTCls and the
// efficientvit_cls_{b0..b3,l1..l3} configurations, with cls_model_zoo.py's norm eps.
//
//   ClsHead (an OpSequential reading feed_dict[fid], fid = "stage_final"):
//     op_list.0: ConvLayer(in_channels, width_list[0], 1, norm="bn2d", act_func=act)
//     op_list.1: nn.AdaptiveAvgPool2d(output_size=1)
//     op_list.2: LinearLayer(width_list[0], width_list[1], False, norm="ln", act_func=act)
//     op_list.3: LinearLayer(width_list[1], n_classes, True, dropout, None, None)
//   EfficientViTCls: feed_dict = self.backbone(x); output = self.head(feed_dict)
// B models: EfficientViTBackbone, hswish, every norm's eps 1e-5; L models: EfficientViTLargeBackbone,
// "gelu" (tanh), eps 1e-7 (create_efficientvit_cls_model: set_norm_eps(model, norm_eps)).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "evsam/efficientvit/backbone.hpp"
#include "evsam/efficientvit/backbone_b.hpp"
#include "evsam/nn/adaptive_avg_pool2d.hpp"
#include "evsam/nn/linear_layer.hpp"

namespace evsam {

struct ClsHeadConfig {
    int64_t in_channels = 0;
    std::vector<int64_t> width_list;  // 2 entries
    int64_t n_classes = 1000;
    Act act = Act::hswish;
    std::string fid = "stage_final";
};

template <class T, class B = backend::cpu>
struct ClsHead : OpSequential<T, B> {
    ClsHeadConfig cfg;
    explicit ClsHead(ClsHeadConfig c) : cfg(std::move(c)) {
        EVSAM_CHECK(cfg.width_list.size() == 2, "ClsHead: width_list must have 2 entries");
        const int64_t w0 = cfg.width_list[0], w1 = cfg.width_list[1];
        auto& ops = this->op_list;
        ops.push_back(std::make_unique<ConvLayer<T, B>>(cfg.in_channels, w0, 1, 1, 1, 1, false, Norm::bn2d, cfg.act));
        ops.push_back(std::make_unique<AdaptiveAvgPool2d<T, B>>(1));
        ops.push_back(std::make_unique<LinearLayer<T, B>>(w0, w1, false, true, cfg.act));
        ops.push_back(std::make_unique<LinearLayer<T, B>>(w1, cfg.n_classes, true, false, Act::none));
    }
    // x = feed_dict[self.fid]; return OpSequential.forward(self, x)
    TensorOf<T, B> forward_dict(const FeatureDict<T>& feed, Trace<T>* tr = nullptr) const {
        return OpSequential<T, B>::forward(feature(feed, cfg.fid), tr);
    }
};

// The backbone of a classification or segmentation model: B series or L series.
using EfficientViTBackboneConfig = std::variant<BackboneConfig, LargeBackboneConfig>;

// Which backbone module a backbone config builds.
template <class Config, class T, class B>
struct BackboneFor;
template <class T, class B>
struct BackboneFor<BackboneConfig, T, B> {
    using type = EfficientViTBackbone<T, B>;
};
template <class T, class B>
struct BackboneFor<LargeBackboneConfig, T, B> {
    using type = EfficientViTLargeBackbone<T, B>;
};

// Adds the backbone's rows for input `in`; returns its stage output shapes ("stageK" at K).
template <class Backbone>
std::vector<Shape> describe_backbone(Backbone& backbone, const Shape& in, ModuleTable& t, int depth) {
    const size_t r = t.rows.size();
    backbone.describe(in, t, depth);
    return t.children_out(r);
}

struct EfficientViTClsConfig {
    std::string name;  // "b1", "cls-l2": the architecture
    EfficientViTBackboneConfig backbone;
    ClsHeadConfig head;
    double norm_eps = 1e-5;
    std::vector<int64_t> resolutions;  // the zoo's checkpoints: "-r224", ...; the first is the default
    double crop_ratio = 1.0;           // the eval transform's Resize(ceil(R / crop_ratio)) + CenterCrop(R)
};

// What a backbone + head model offers, whatever its backbone (ClsModel, SegModel).
template <class Config, class T, class B>
struct BackboneHeadModel : Module<T, B> {
    // x: (N, 3, H, W) preprocessed images -> the head's output (logits).
    virtual TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const = 0;
    virtual void describe(const Shape& in, ModuleTable& t, int depth = 0) = 0;
    virtual const Config& config() const = 0;
};

// Model<Backbone, T, B> on the backbone cfg.backbone names (B series or L series).
template <template <class, class, class> class Model, class T, class B, class Config>
std::unique_ptr<BackboneHeadModel<Config, T, B>> create_on_backbone(const Config& cfg) {
    return std::visit(
        [&](const auto& bc) -> std::unique_ptr<BackboneHeadModel<Config, T, B>> {
            using Backbone = typename BackboneFor<std::decay_t<decltype(bc)>, T, B>::type;
            return std::make_unique<Model<Backbone, T, B>>(cfg);
        },
        cfg.backbone);
}

// A classifier: (N, 3, R, R) -> (N, n_classes) logits.
template <class T, class B = backend::cpu>
using ClsModel = BackboneHeadModel<EfficientViTClsConfig, T, B>;

template <class Backbone, class T, class B = backend::cpu>
struct EfficientViTCls : ClsModel<T, B> {
    EfficientViTClsConfig cfg;
    Backbone backbone;
    ClsHead<T, B> head;

    explicit EfficientViTCls(EfficientViTClsConfig c)
        : cfg(std::move(c)), backbone(std::get<typename Backbone::Config>(cfg.backbone)), head(cfg.head) {
        set_norm_eps(*this, cfg.norm_eps);  // create_efficientvit_cls_model: set_norm_eps(model, norm_eps)
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        backbone.visit(v, p + "backbone.");
        head.visit(v, p + "head.");
    }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        EVSAM_CHECK(x.dim() == 4 && x.size(1) == 3,
                    "classifier: expected input (N, 3, R, R), got " + shape_str(x.shape()));
        FeatureDict<T> feed_dict = backbone.forward_dict(x, tr);   // feed_dict = self.backbone(x)
        TensorOf<T, B> output = head.forward_dict(feed_dict, tr);  // output = self.head(feed_dict)
        this->trace(tr, output);
        return output;
    }
    void describe(const Shape& in, ModuleTable& t, int depth = 0) override {
        const size_t r = t.open(*this, "EfficientViTCls", depth);
        const std::vector<Shape> stages = describe_backbone(backbone, in, t, depth + 1);
        Shape out = head.describe(stages.back(), t, depth + 1);  // fid "stage_final": the last stage
        t.close(r, out);
    }
    const EfficientViTClsConfig& config() const override { return cfg; }
};

// The classifier of a configuration, with T and B chosen by the caller; weights not loaded yet.
template <class T = float, class B = backend::cpu>
std::unique_ptr<ClsModel<T, B>> create_cls(const EfficientViTClsConfig& cfg) {
    return create_on_backbone<EfficientViTCls, T, B>(cfg);
}

// cls.py: efficientvit_cls_b0 .. b3 (backbone.py: efficientvit_backbone_b*), eps 1e-5.
inline EfficientViTClsConfig efficientvit_cls_b(const std::string& v) {
    EfficientViTClsConfig c;
    c.name = v;
    BackboneConfig b = backbone_b_config(v);
    c.norm_eps = b.norm_eps = 1e-5;
    c.head.in_channels = b.width_list.back();
    c.head.act = Act::hswish;
    if (v == "b0") c.head.width_list = {1024, 1280};
    if (v == "b1") c.head.width_list = {1536, 1600};
    if (v == "b2" || v == "b3") c.head.width_list = {2304, 2560};
    c.backbone = std::move(b);
    // cls_model_zoo.py's checkpoints (b0 has none; its default is upstream's eval size, 224)
    c.resolutions = v == "b0" ? std::vector<int64_t>{224} : std::vector<int64_t>{224, 256, 288};
    // eval_efficientvit_cls_model.py's --crop_ratio (default 0.95): 0.95 for b1 and 1.0 for the
    // other models, the values evsam's issue 16 fixes for the zoo (a caller may override it)
    c.crop_ratio = v == "b1" ? 0.95 : 1.0;
    return c;
}

// backbone.py: efficientvit_backbone_l1 / l2 / l3 (L1 and L2 are EfficientViT-SAM's L1 and L2).
inline LargeBackboneConfig efficientvit_backbone_large(const std::string& v) {
    LargeBackboneConfig c;
    c.width_list = {32, 64, 128, 256, 512};
    if (v == "l0")
        c.depth_list = {1, 1, 1, 4, 4};
    else if (v == "l1")
        c.depth_list = {1, 1, 1, 6, 6};
    else if (v == "l2")
        c.depth_list = {1, 2, 2, 8, 8};
    else if (v == "l3") {
        c.width_list = {64, 128, 256, 512, 1024};
        c.depth_list = {1, 2, 2, 8, 8};
    } else
        throw Error("unknown EfficientViT L backbone '" + v + "' (expected l0, l1, l2 or l3)");
    return c;
}

// cls.py: efficientvit_cls_l1 .. l3, act "gelu", eps 1e-7.
inline EfficientViTClsConfig efficientvit_cls_l(const std::string& v) {
    EfficientViTClsConfig c;
    c.name = "cls-" + v;
    LargeBackboneConfig b = efficientvit_backbone_large(v);
    c.norm_eps = 1e-7;
    c.head.in_channels = b.width_list.back();
    c.head.width_list = v == "l3" ? std::vector<int64_t>{6144, 6400} : std::vector<int64_t>{3072, 3200};
    c.head.act = Act::gelu_tanh;
    c.backbone = std::move(b);
    c.resolutions = v == "l1" ? std::vector<int64_t>{224} : std::vector<int64_t>{224, 256, 288, 320, 384};
    c.crop_ratio = 1.0;
    return c;
}

}  // namespace evsam
