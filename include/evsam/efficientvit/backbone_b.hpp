// evsam: efficientvit/models/efficientvit/backbone.py: class EfficientViTBackbone
// (the B-series backbone of EfficientViT-B0..B3 classification/segmentation).
//
// input_stem : ConvLayer 3x3 s2 (in -> width[0]), then depth_list[0] residual DSConv
//              blocks (expand_ratio 1 -> DSConv, identity shortcut)
// stages[0,1]: width[1], width[2]; depth_list[i] local blocks each (MBConv with
//              expand_ratio), the first one stride 2 without shortcut, the others
//              residual; the downsampling block counts towards the depth
// stages[2,3]: width[3], width[4]; a stride-2 fewer_norm MBConv without shortcut
//              (bias on the first two convs, BatchNorm only on the last), then
//              depth_list[i] EfficientViTBlocks (LiteMLA head dim `dim`, scale 5)
// act "hswish" everywhere. State_dict names: input_stem.op_list.N...,
// stages.N.op_list.M... forward returns upstream's output_dict in order:
// "input", "stage0" (input_stem), "stage1".."stage4", "stage_final".
// BatchNorm eps: the cls/seg model zoos call set_norm_eps(model, 1e-5) (PyTorch's
// default); it is a config field here and applied after construction, as upstream does.
#pragma once
#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "evsam/efficientvit/feature_dict.hpp"
#include "evsam/nn/ds_conv.hpp"
#include "evsam/nn/efficientvit_block.hpp"
#include "evsam/nn/lite_mla.hpp"
#include "evsam/nn/mb_conv.hpp"
#include "evsam/nn/residual_block.hpp"

namespace evsam {

struct BackboneConfig {
    std::vector<int64_t> width_list;  // 5 entries: stem, stage1 .. stage4
    std::vector<int64_t> depth_list;  // 5 entries
    int64_t in_channels = 3;
    int64_t dim = 32;  // LiteMLA head dim
    double expand_ratio = 4;
    Norm norm = Norm::bn2d;  // "bn2d" (or none)
    Act act = Act::hswish;   // act_func="hswish"
    double norm_eps = 1e-5;  // set_norm_eps(model, 1e-5) in cls_model_zoo / seg_model_zoo
};

// efficientvit_backbone_b0 .. b3
inline BackboneConfig backbone_b_config(const std::string& name) {
    BackboneConfig c;
    if (name == "b0") {
        c.width_list = {8, 16, 32, 64, 128};
        c.depth_list = {1, 2, 2, 2, 2};
        c.dim = 16;
    } else if (name == "b1") {
        c.width_list = {16, 32, 64, 128, 256};
        c.depth_list = {1, 2, 3, 3, 4};
        c.dim = 16;
    } else if (name == "b2") {
        c.width_list = {24, 48, 96, 192, 384};
        c.depth_list = {1, 3, 4, 4, 6};
        c.dim = 32;
    } else if (name == "b3") {
        c.width_list = {32, 64, 128, 256, 512};
        c.depth_list = {1, 4, 6, 6, 9};
        c.dim = 32;
    } else {
        throw Error("unknown EfficientViT B backbone '" + name + "' (expected b0, b1, b2 or b3)");
    }
    return c;
}

inline std::vector<std::string> backbone_b_names() { return {"b0", "b1", "b2", "b3"}; }

template <class T, class B = backend::cpu>
struct EfficientViTBackbone : Module<T, B> {
    using Config = BackboneConfig;
    using Outputs = FeatureDict<T>;  // upstream's output_dict, in order

    BackboneConfig cfg;
    std::vector<int64_t> width_list;
    OpSequential<T, B> input_stem;
    std::vector<OpSequential<T, B>> stages;  // nn.ModuleList

    explicit EfficientViTBackbone(BackboneConfig c) : cfg(std::move(c)) {
        EVSAM_CHECK(!cfg.width_list.empty() && cfg.depth_list.size() == cfg.width_list.size(),
                    "EfficientViTBackbone: width_list and depth_list must be non-empty and of the same length");
        EVSAM_CHECK(cfg.norm != Norm::ln2d, "EfficientViTBackbone: norm must be bn2d or none");
        const Norm norm = cfg.norm;
        const Act act = cfg.act;
        // input stem
        input_stem.op_list.push_back(
            std::make_unique<ConvLayer<T, B>>(cfg.in_channels, cfg.width_list[0], 3, 2, 1, 1, false, norm, act));
        for (int64_t d = 0; d < cfg.depth_list[0]; ++d)
            input_stem.op_list.push_back(std::make_unique<ResidualBlock<T, B>>(
                build_local_block(cfg.width_list[0], cfg.width_list[0], 1, 1, norm, act), true));
        int64_t in = cfg.width_list[0];
        width_list.push_back(in);

        // stages: width_list[1:3] -- local blocks only
        for (size_t s = 1; s < std::min<size_t>(3, cfg.width_list.size()); ++s) {
            OpSequential<T, B> stage;
            for (int64_t i = 0; i < cfg.depth_list[s]; ++i) {
                const int64_t stride = i == 0 ? 2 : 1;
                stage.op_list.push_back(std::make_unique<ResidualBlock<T, B>>(
                    build_local_block(in, cfg.width_list[s], stride, cfg.expand_ratio, norm, act), stride == 1));
                in = cfg.width_list[s];
            }
            stages.push_back(std::move(stage));
            width_list.push_back(in);
        }
        // stages: width_list[3:] -- a fewer_norm downsampling block, then EfficientViTBlocks
        for (size_t s = 3; s < cfg.width_list.size(); ++s) {
            OpSequential<T, B> stage;
            stage.op_list.push_back(std::make_unique<ResidualBlock<T, B>>(
                build_local_block(in, cfg.width_list[s], 2, cfg.expand_ratio, norm, act, true), false));
            in = cfg.width_list[s];
            for (int64_t d = 0; d < cfg.depth_list[s]; ++d)
                stage.op_list.push_back(std::make_unique<EfficientViTBlock<T, B>>(in, 1.0, cfg.dim, cfg.expand_ratio,
                                                                                  std::vector<int64_t>{5}, norm, act));
            stages.push_back(std::move(stage));
            width_list.push_back(in);
        }
        set_norm_eps(*this, cfg.norm_eps);  // set_norm_eps(model, eps)
    }

    // backbone.py: EfficientViTBackbone.build_local_block
    static std::unique_ptr<Block<T, B>> build_local_block(int64_t in, int64_t out, int64_t stride, double expand_ratio,
                                                          Norm norm, Act act, bool fewer_norm = false) {
        const Norm no = Norm::none;
        if (expand_ratio == 1)
            return std::make_unique<DSConv<T, B>>(
                in, out, 3, stride, fewer_norm ? std::array<bool, 2>{true, false} : std::array<bool, 2>{false, false},
                fewer_norm ? std::array<Norm, 2>{no, norm} : std::array<Norm, 2>{norm, norm},
                std::array<Act, 2>{act, Act::none});
        return std::make_unique<MBConv<T, B>>(
            in, out, 3, stride, -1, expand_ratio,
            fewer_norm ? std::array<bool, 3>{true, true, false} : std::array<bool, 3>{false, false, false},
            fewer_norm ? std::array<Norm, 3>{no, no, norm} : std::array<Norm, 3>{norm, norm, norm},
            std::array<Act, 3>{act, act, Act::none});
    }

    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        input_stem.visit(v, p + "input_stem.");
        for (size_t i = 0; i < stages.size(); ++i) stages[i].visit(v, p + "stages." + std::to_string(i) + ".");
    }

    // output_dict = {"input": x}; "stage0" = input_stem(x); "stage%d" = stage(x); "stage_final" = x.
    // With a trace, the entries are also recorded as <name>.<key> (as upstream's dict output).
    Outputs forward(const Tensor<T>& x, Trace<T>* tr = nullptr) const {
        Outputs out;
        out.reserve(stages.size() + 3);
        out.emplace_back("input", x);
        out.emplace_back("stage0", input_stem.forward(x, tr));
        for (size_t i = 0; i < stages.size(); ++i)
            out.emplace_back("stage" + std::to_string(i + 1), stages[i].forward(out.back().second, tr));
        out.emplace_back("stage_final", out.back().second);
        if (tr)
            for (auto& [key, t] : out) tr->record(this->name.empty() ? key : this->name + "." + key, t);
        return out;
    }
    FeatureDict<T> forward_dict(const Tensor<T>& x, Trace<T>* tr = nullptr) const { return forward(x, tr); }
    // The module tree: the stem and each stage (their rows are stage0, stage1, ...).
    void describe(const Shape& in, ModuleTable& t, int depth) {
        std::vector<Block<T, B>*> s{&input_stem};
        for (auto& stage : stages) s.push_back(&stage);
        describe_sequence(*this, "EfficientViTBackbone", in, t, depth, s);
    }
};

}  // namespace evsam
