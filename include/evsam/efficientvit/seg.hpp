// evsam: efficientvit/models/efficientvit/seg.py: class SegHead, class EfficientViTSeg and the
// efficientvit_seg_{b0..b3,l1,l2} configurations for Cityscapes and ADE20K, with
// seg_model_zoo.py's norm eps (1e-5 for B, 1e-7 for L).
//
//   SegHead (a DAGBlock, merge "add"):
//     input_ops[i]: factor = stride_list[i] // head_stride
//                   factor 1: ConvLayer(in, head_width, 1, norm, act_func=None)
//                   else:     OpSequential([that ConvLayer, UpSampleLayer(factor=factor)])  (bicubic)
//     merge:        list_sum (x0 + (x1 + x2))
//     middle:       head_depth x ResidualBlock(MBConv / FusedMBConv, IdentityLayer())
//     output_ops[0] ("segout"): OpSequential([ConvLayer(hw, hw * final_expand, 1, norm, act) or None,
//                                            ConvLayer(..., n_classes, 1, use_bias=True, norm=None, act=None)])
//                   (OpSequential drops the None, so without final_expand the classifier is op_list.0)
//   EfficientViTSeg: feed_dict = self.backbone(x); feed_dict = self.head(feed_dict); return feed_dict["segout"]
// The output is the logits at 1/head_stride (1/8) of the input.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "evsam/efficientvit/cls.hpp"
#include "evsam/efficientvit/dag_block.hpp"
#include "evsam/nn/upsample_layer.hpp"

namespace evsam {

struct SegHeadConfig {
    std::vector<std::string> fid_list = {"stage4", "stage3", "stage2"};
    std::vector<int64_t> in_channel_list;
    std::vector<int64_t> stride_list = {32, 16, 8};
    int64_t head_stride = 8;
    int64_t head_width = 0;
    int64_t head_depth = 0;
    double expand_ratio = 4;
    std::string middle_op = "mbconv";     // "mbconv" or "fmbconv"
    std::optional<int64_t> final_expand;  // None for ADE20K B and Cityscapes L heads
    int64_t n_classes = 19;
    Act act = Act::hswish;
};

template <class T, class B = backend::cpu>
struct SegHead : Module<T, B> {
    SegHeadConfig cfg;
    std::vector<std::unique_ptr<Block<T, B>>> input_ops;
    OpSequential<T, B> middle;
    std::vector<OpSequential<T, B>> output_ops;  // key "segout"

    explicit SegHead(SegHeadConfig c) : cfg(std::move(c)) {
        const size_t n = cfg.fid_list.size();
        EVSAM_CHECK(n >= 1 && cfg.in_channel_list.size() == n && cfg.stride_list.size() == n,
                    "SegHead: fid_list, in_channel_list and stride_list differ in length");
        const int64_t w = cfg.head_width;
        for (size_t i = 0; i < n; ++i) {
            const int64_t factor = cfg.stride_list[i] / cfg.head_stride;
            auto conv =
                std::make_unique<ConvLayer<T, B>>(cfg.in_channel_list[i], w, 1, 1, 1, 1, false, Norm::bn2d, Act::none);
            if (factor == 1) {
                input_ops.push_back(std::move(conv));
            } else {
                auto seq = std::make_unique<OpSequential<T, B>>();
                seq->op_list.push_back(std::move(conv));
                seq->op_list.push_back(std::make_unique<UpSampleLayer<T, B>>(UpSampleLayer<T, B>::by_factor(factor)));
                input_ops.push_back(std::move(seq));
            }
        }
        middle = dag_middle<T, B>(cfg.middle_op, cfg.head_depth, w, cfg.expand_ratio, cfg.act, "SegHead");
        OpSequential<T, B> out;
        int64_t cls_in = w;
        if (cfg.final_expand) {
            cls_in = w * *cfg.final_expand;
            out.op_list.push_back(std::make_unique<ConvLayer<T, B>>(w, cls_in, 1, 1, 1, 1, false, Norm::bn2d, cfg.act));
        }
        out.op_list.push_back(
            std::make_unique<ConvLayer<T, B>>(cls_in, cfg.n_classes, 1, 1, 1, 1, true, Norm::none, Act::none));
        output_ops.push_back(std::move(out));
    }

    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        for (size_t i = 0; i < input_ops.size(); ++i)
            input_ops[i]->visit(v, p + "input_ops." + std::to_string(i) + ".");
        middle.visit(v, p + "middle.");
        output_ops[0].visit(v, p + "output_ops.0.");
    }
    // feed_dict -> feed_dict["segout"]
    TensorOf<T, B> forward_dict(const FeatureDict<T>& feed_dict, Trace<T>* tr = nullptr) const {
        std::vector<TensorOf<T, B>> feat;
        for (size_t i = 0; i < input_ops.size(); ++i)  // feat = [op(feature_dict[key]) for key, op in ...]
            feat.push_back(input_ops[i]->forward(feature(feed_dict, cfg.fid_list[i]), tr));
        TensorOf<T, B> x = dag_merge_add<T, B>(feat);          // feat = list_sum(feat)
        x = middle.forward(x, tr);                             // feat = self.middle(feat)
        TensorOf<T, B> segout = output_ops[0].forward(x, tr);  // feature_dict["segout"] = op(feat)
        return segout;
    }
    // stage_shapes: the backbone's stage outputs ("stageK" at K).
    Shape describe(const std::vector<Shape>& stage_shapes, ModuleTable& t, int depth) {
        const size_t r = t.open(*this, "SegHead", depth);
        Shape s;
        for (size_t i = 0; i < input_ops.size(); ++i) {
            const size_t k = dag_stage_index(cfg.fid_list[i], "SegHead");
            EVSAM_CHECK(k < stage_shapes.size(), "SegHead: the backbone has no " + cfg.fid_list[i]);
            s = input_ops[i]->describe(stage_shapes[k], t, depth + 1);
        }
        s = middle.describe(s, t, depth + 1);
        s = output_ops[0].describe(s, t, depth + 1);
        t.close(r, s);
        return s;
    }
};

struct EfficientViTSegConfig {
    std::string name;     // "seg-b1-cityscapes"
    std::string dataset;  // "cityscapes" or "ade20k"
    EfficientViTBackboneConfig backbone;
    SegHeadConfig head;
    double norm_eps = 1e-5;
};

// A segmenter: (N, 3, H, W) -> (N, n_classes, H / 8, W / 8) logits.
template <class T, class B = backend::cpu>
using SegModel = BackboneHeadModel<EfficientViTSegConfig, T, B>;

template <class Backbone, class T, class B = backend::cpu>
struct EfficientViTSeg : SegModel<T, B> {
    EfficientViTSegConfig cfg;
    Backbone backbone;
    SegHead<T, B> head;

    explicit EfficientViTSeg(EfficientViTSegConfig c)
        : cfg(std::move(c)), backbone(std::get<typename Backbone::Config>(cfg.backbone)), head(cfg.head) {
        set_norm_eps(*this, cfg.norm_eps);  // create_efficientvit_seg_model: set_norm_eps(model, norm_eps)
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        backbone.visit(v, p + "backbone.");
        head.visit(v, p + "head.");
    }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        EVSAM_CHECK(x.dim() == 4 && x.size(1) == 3,
                    "segmenter: expected input (N, 3, H, W), got " + shape_str(x.shape()));
        FeatureDict<T> feed_dict = backbone.forward_dict(x, tr);   // feed_dict = self.backbone(x)
        TensorOf<T, B> segout = head.forward_dict(feed_dict, tr);  // feed_dict = self.head(feed_dict)
        this->trace(tr, segout);
        return segout;  // return feed_dict["segout"]
    }
    void describe(const Shape& in, ModuleTable& t, int depth = 0) override {
        const size_t r = t.open(*this, "EfficientViTSeg", depth);
        const std::vector<Shape> stages = describe_backbone(backbone, in, t, depth + 1);
        t.close(r, head.describe(stages, t, depth + 1));
    }
    const EfficientViTSegConfig& config() const override { return cfg; }
};

// The segmenter of a configuration, with T and B chosen by the caller; weights not loaded yet.
template <class T = float, class B = backend::cpu>
std::unique_ptr<SegModel<T, B>> create_seg(const EfficientViTSegConfig& cfg) {
    return create_on_backbone<EfficientViTSeg, T, B>(cfg);
}

// seg.py: efficientvit_seg_<v>(dataset). v: b0..b3, l1, l2; dataset: "cityscapes" (19 classes) or
// "ade20k" (150). Throws for the pairs upstream does not build (b0 on ADE20K).
inline EfficientViTSegConfig efficientvit_seg(const std::string& v, const std::string& dataset) {
    EVSAM_CHECK(dataset == "cityscapes" || dataset == "ade20k",
                "unknown segmentation dataset '" + dataset + "' (expected cityscapes or ade20k)");
    const bool city = dataset == "cityscapes";
    EfficientViTSegConfig c;
    c.name = "seg-" + v + "-" + dataset;
    c.dataset = dataset;
    SegHeadConfig& h = c.head;
    h.n_classes = city ? 19 : 150;
    if (v.size() == 2 && v[0] == 'b') {
        EVSAM_CHECK(v != "b0" || city, "efficientvit_seg_b0 has no ADE20K head (upstream raises NotImplementedError)");
        BackboneConfig b = backbone_b_config(v);
        c.norm_eps = b.norm_eps = 1e-5;
        const auto& wl = b.width_list;  // stage2..stage4 widths
        h.in_channel_list = {wl[4], wl[3], wl[2]};
        h.head_width = v == "b0" ? 32 : v == "b1" ? 64 : v == "b2" ? 96 : 128;
        h.head_depth = v == "b0" ? 1 : 3;
        h.expand_ratio = 4;
        h.middle_op = "mbconv";
        if (city) h.final_expand = 4;
        h.act = Act::hswish;
        c.backbone = std::move(b);
    } else if (v == "l1" || v == "l2") {
        LargeBackboneConfig b = efficientvit_backbone_large(v);
        c.norm_eps = 1e-7;
        h.in_channel_list = {512, 256, 128};
        h.middle_op = "fmbconv";
        h.act = Act::gelu_tanh;
        if (city) {
            h.head_width = 256;
            h.head_depth = v == "l1" ? 3 : 5;
            h.expand_ratio = 1;
        } else {
            h.head_width = 128;
            h.head_depth = 3;
            h.expand_ratio = 4;
            h.final_expand = 8;
        }
        c.backbone = std::move(b);
    } else {
        throw Error("unknown EfficientViT segmentation model '" + v + "' (expected b0, b1, b2, b3, l1 or l2)");
    }
    return c;
}

}  // namespace evsam
