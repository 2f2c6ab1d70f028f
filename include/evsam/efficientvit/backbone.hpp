// evsam: efficientvit/models/efficientvit/backbone.py: class EfficientViTLargeBackbone
//
// stages[0] : ConvLayer 3x3 s2 stem, then depth_list[0] residual local blocks
// stages[i] : a stride-2 local block ("mb" unless the stage's block is mb/fmb,
//             expand_list[i]*4, no shortcut), then depth_list[i] blocks:
//             EfficientViTBlock for "att"/"att@3", else residual local blocks.
// fewer_norm stages drop the BatchNorm (and gain a bias) on all but the last conv.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "evsam/efficientvit/feature_dict.hpp"
#include "evsam/nn/efficientvit_block.hpp"
#include "evsam/nn/fused_mb_conv.hpp"
#include "evsam/nn/mb_conv.hpp"
#include "evsam/nn/res_block.hpp"
#include "evsam/nn/residual_block.hpp"

namespace evsam {

struct LargeBackboneConfig {
    std::vector<int64_t> width_list;
    std::vector<int64_t> depth_list;
    std::vector<std::string> block_list = {"res", "fmb", "fmb", "mb", "att"};
    std::vector<double> expand_list = {1, 4, 4, 4, 6};
    std::vector<bool> fewer_norm_list = {false, false, false, true, true};
    int64_t in_channels = 3;
    int64_t qkv_dim = 32;
    Act act = Act::gelu_tanh;  // "gelu" = nn.GELU(approximate="tanh")
};

template <class T, class B = backend::cpu>
struct EfficientViTLargeBackbone : Module<T, B> {
    using Config = LargeBackboneConfig;
    LargeBackboneConfig cfg;
    std::vector<int64_t> width_list;
    std::vector<OpSequential<T, B>> stages;

    explicit EfficientViTLargeBackbone(LargeBackboneConfig c) : cfg(std::move(c)) {
        const size_t n = cfg.width_list.size();
        EVSAM_CHECK(n >= 1 && cfg.depth_list.size() == n && cfg.block_list.size() == n && cfg.expand_list.size() == n &&
                        cfg.fewer_norm_list.size() == n,
                    "EfficientViTLargeBackbone: width/depth/block/expand/fewer_norm lists differ in length");
        const Act act = cfg.act;
        // stage 0
        OpSequential<T, B> stage0;
        stage0.op_list.push_back(
            std::make_unique<ConvLayer<T, B>>(cfg.in_channels, cfg.width_list[0], 3, 2, 1, 1, false, Norm::bn2d, act));
        for (int64_t d = 0; d < cfg.depth_list[0]; ++d)
            stage0.op_list.push_back(std::make_unique<ResidualBlock<T, B>>(
                build_local_block(cfg.block_list[0], cfg.width_list[0], cfg.width_list[0], 1, cfg.expand_list[0], act,
                                  cfg.fewer_norm_list[0]),
                true));
        int64_t in = cfg.width_list[0];
        stages.push_back(std::move(stage0));
        width_list.push_back(in);

        for (size_t s = 1; s < n; ++s) {
            const std::string& blk = cfg.block_list[s];
            const int64_t w = cfg.width_list[s];
            OpSequential<T, B> stage;
            stage.op_list.push_back(std::make_unique<ResidualBlock<T, B>>(
                build_local_block((blk == "mb" || blk == "fmb") ? blk : "mb", in, w, 2, cfg.expand_list[s] * 4, act,
                                  cfg.fewer_norm_list[s]),
                false));
            in = w;
            for (int64_t d = 0; d < cfg.depth_list[s]; ++d) {
                if (blk.rfind("att", 0) == 0) {
                    stage.op_list.push_back(std::make_unique<EfficientViTBlock<T, B>>(
                        in, 1.0, cfg.qkv_dim, cfg.expand_list[s], std::vector<int64_t>{blk == "att@3" ? 3 : 5},
                        Norm::bn2d, act));
                } else {
                    stage.op_list.push_back(std::make_unique<ResidualBlock<T, B>>(
                        build_local_block(blk, in, in, 1, cfg.expand_list[s], act, cfg.fewer_norm_list[s]), true));
                }
            }
            stages.push_back(std::move(stage));
            width_list.push_back(in);
        }
    }

    // backbone.py: EfficientViTLargeBackbone.build_local_block
    static std::unique_ptr<Block<T, B>> build_local_block(const std::string& block, int64_t in, int64_t out,
                                                          int64_t stride, double expand_ratio, Act act,
                                                          bool fewer_norm) {
        const Norm bn = Norm::bn2d, no = Norm::none;
        if (block == "res")
            return std::make_unique<ResBlock<T, B>>(
                in, out, 3, stride, -1, 1.0,
                fewer_norm ? std::array<bool, 2>{true, false} : std::array<bool, 2>{false, false},
                fewer_norm ? std::array<Norm, 2>{no, bn} : std::array<Norm, 2>{bn, bn},
                std::array<Act, 2>{act, Act::none});
        if (block == "fmb")
            return std::make_unique<FusedMBConv<T, B>>(
                in, out, 3, stride, -1, expand_ratio, 1,
                fewer_norm ? std::array<bool, 2>{true, false} : std::array<bool, 2>{false, false},
                fewer_norm ? std::array<Norm, 2>{no, bn} : std::array<Norm, 2>{bn, bn},
                std::array<Act, 2>{act, Act::none});
        if (block == "mb")
            return std::make_unique<MBConv<T, B>>(
                in, out, 3, stride, -1, expand_ratio,
                fewer_norm ? std::array<bool, 3>{true, true, false} : std::array<bool, 3>{false, false, false},
                fewer_norm ? std::array<Norm, 3>{no, no, bn} : std::array<Norm, 3>{bn, bn, bn},
                std::array<Act, 3>{act, act, Act::none});
        throw Error("EfficientViTLargeBackbone: unknown block type '" + block + "'");
    }

    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        for (size_t i = 0; i < stages.size(); ++i) stages[i].visit(v, p + "stages." + std::to_string(i) + ".");
    }
    void describe(const Shape& in, ModuleTable& t, int depth) {
        std::vector<Block<T, B>*> s;
        for (auto& stage : stages) s.push_back(&stage);
        describe_sequence(*this, "EfficientViTLargeBackbone", in, t, depth, s);
    }
    // Returns the output of every stage ("stage0" ... "stageK" upstream's output_dict).
    std::vector<TensorOf<T, B>> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const {
        std::vector<TensorOf<T, B>> out;
        out.reserve(stages.size());  // cur points into out
        const TensorOf<T, B>* cur = &x;
        for (auto& stage : stages) {  // output_dict["stage%d" % stage_id] = x = stage(x)
            out.push_back(stage.forward(*cur, tr));
            cur = &out.back();
        }
        return out;
    }
    // upstream's output_dict: "input", "stage0" ... "stageK", "stage_final" (what the cls/seg heads read).
    FeatureDict<T> forward_dict(const Tensor<T>& x, Trace<T>* tr = nullptr) const {
        std::vector<Tensor<T>> stage = forward(x, tr);
        FeatureDict<T> d;
        d.reserve(stage.size() + 2);
        d.emplace_back("input", x);
        for (size_t i = 0; i < stage.size(); ++i) d.emplace_back("stage" + std::to_string(i), std::move(stage[i]));
        d.emplace_back("stage_final", d.back().second);
        return d;
    }
};

}  // namespace evsam
