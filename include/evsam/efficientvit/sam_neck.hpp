// evsam: efficientvit/models/efficientvit/sam.py: class SamNeck (a DAGBlock)
//   input_ops[i] : ConvLayer 1x1 + BN (no act), then bicubic resize to 64x64
//   merge "add"  : sum of the inputs
//   middle       : head_depth residual FusedMBConv ("fmb") / MBConv / ResBlock blocks
//   output_ops[0]: ConvLayer 1x1 with bias, no norm, no act -> out_dim
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "evsam/nn/fused_mb_conv.hpp"
#include "evsam/nn/mb_conv.hpp"
#include "evsam/nn/res_block.hpp"
#include "evsam/nn/residual_block.hpp"
#include "evsam/ops/resize.hpp"

namespace evsam {

struct SamNeckConfig {
    std::vector<std::string> fid_list;     // backbone outputs used, e.g. {"stage4", "stage3", "stage2"}
    std::vector<int64_t> in_channel_list;  // their widths
    int64_t head_width = 256;
    int64_t head_depth = 4;
    double expand_ratio = 1;
    std::string middle_op = "fmb";
    int64_t out_dim = 256;
    Act act = Act::gelu_tanh;
};

template <class T, class B = backend::cpu>
struct SamNeck : Module<T, B> {
    SamNeckConfig cfg;
    std::vector<OpSequential<T, B>> input_ops;  // [ConvLayer, UpSampleLayer(size=64x64, bicubic)]
    OpSequential<T, B> middle;
    std::vector<OpSequential<T, B>> output_ops;  // key "sam_encoder"

    explicit SamNeck(SamNeckConfig c) : cfg(std::move(c)) {
        EVSAM_CHECK(cfg.fid_list.size() == cfg.in_channel_list.size() && !cfg.fid_list.empty(),
                    "SamNeck: fid_list and in_channel_list differ in length");
        const Act act = cfg.act;
        for (int64_t cin : cfg.in_channel_list) {
            OpSequential<T, B> in;
            in.op_list.push_back(
                std::make_unique<ConvLayer<T, B>>(cin, cfg.head_width, 1, 1, 1, 1, false, Norm::bn2d, Act::none));
            input_ops.push_back(std::move(in));  // op_list.1 (UpSampleLayer) has no weights
        }
        const int64_t w = cfg.head_width;
        for (int64_t d = 0; d < cfg.head_depth; ++d) {
            std::unique_ptr<Block<T, B>> block;
            if (cfg.middle_op == "mb")
                block = std::make_unique<MBConv<T, B>>(
                    w, w, 3, 1, -1, cfg.expand_ratio, std::array<bool, 3>{false, false, false},
                    std::array<Norm, 3>{Norm::bn2d, Norm::bn2d, Norm::bn2d}, std::array<Act, 3>{act, act, Act::none});
            else if (cfg.middle_op == "fmb")
                block = std::make_unique<FusedMBConv<T, B>>(
                    w, w, 3, 1, -1, cfg.expand_ratio, 1, std::array<bool, 2>{false, false},
                    std::array<Norm, 2>{Norm::bn2d, Norm::bn2d}, std::array<Act, 2>{act, Act::none});
            else if (cfg.middle_op == "res")
                block = std::make_unique<ResBlock<T, B>>(
                    w, w, 3, 1, -1, cfg.expand_ratio, std::array<bool, 2>{false, false},
                    std::array<Norm, 2>{Norm::bn2d, Norm::bn2d}, std::array<Act, 2>{act, Act::none});
            else
                throw Error("SamNeck: unknown middle_op '" + cfg.middle_op + "'");
            middle.op_list.push_back(std::make_unique<ResidualBlock<T, B>>(std::move(block), true));
        }
        OpSequential<T, B> out;
        out.op_list.push_back(
            std::make_unique<ConvLayer<T, B>>(w, cfg.out_dim, 1, 1, 1, 1, true, Norm::none, Act::none));
        output_ops.push_back(std::move(out));
    }

    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        for (size_t i = 0; i < input_ops.size(); ++i) input_ops[i].visit(v, p + "input_ops." + std::to_string(i) + ".");
        middle.visit(v, p + "middle.");
        for (size_t i = 0; i < output_ops.size(); ++i)
            output_ops[i].visit(v, p + "output_ops." + std::to_string(i) + ".");
    }
    static constexpr int64_t kSize = 64;  // UpSampleLayer(size=(64, 64)), mode bicubic

    // stage_shapes: the backbone's stage output shapes.
    Shape describe(const std::vector<Shape>& stage_shapes, ModuleTable& t, int depth) {
        size_t r = t.open(*this, "SamNeck", depth);
        for (size_t i = 0; i < input_ops.size(); ++i) {
            size_t ri = t.open(input_ops[i], "OpSequential", depth + 1);
            Shape y = input_ops[i].op_list[0]->describe(stage_shapes.at(stage_index(cfg.fid_list[i])), t, depth + 2);
            t.rows.push_back({input_ops[i].name + ".op_list.1",
                              "UpSampleLayer(bicubic)",
                              {y[0], y[1], kSize, kSize},
                              0,
                              0,
                              depth + 2});
            t.close(ri, {y[0], y[1], kSize, kSize});
        }
        Shape s = middle.describe({stage_shapes[0][0], cfg.head_width, kSize, kSize}, t, depth + 1);
        s = output_ops[0].describe(s, t, depth + 1);
        t.close(r, s);
        return s;
    }
    // stages: the backbone's stage outputs; fid "stageK" selects stages[K]. Returns "sam_encoder".
    TensorOf<T, B> forward(const std::vector<TensorOf<T, B>>& stages, Trace<T>* tr = nullptr) const {
        TensorOf<T, B> feat;
        for (size_t i = 0; i < input_ops.size(); ++i) {  // feat = [op(feature_dict[key]) ...]
            const size_t k = stage_index(cfg.fid_list[i]);
            EVSAM_CHECK(k < stages.size(), this->name + ": backbone has no " + cfg.fid_list[i]);
            TensorOf<T, B> y = input_ops[i].op_list[0]->forward(stages[k], tr);  // ConvLayer 1x1 + BN
            y = upsample(std::move(y));                                          // UpSampleLayer (bicubic)
            if (tr) {  // one download for both names (UpSampleLayer and the OpSequential)
                const auto& h = to_host(y);
                tr->record(input_ops[i].name + ".op_list.1", h);
                tr->record(input_ops[i].name, h);
            }
            if (i == 0)
                feat = std::move(y);
            else
                add_forward(feat.data(), feat.data(), y.data(), feat.numel(), B{});  // merge "add"
        }
        feat = middle.forward(feat, tr);         // feat = self.middle(feat)
        return output_ops[0].forward(feat, tr);  // feature_dict["sam_encoder"] = op(feat)
    }

private:
    static size_t stage_index(const std::string& fid) {
        EVSAM_CHECK(fid.rfind("stage", 0) == 0, "SamNeck: bad fid '" + fid + "'");
        return static_cast<size_t>(std::stoul(fid.substr(5)));
    }
    // efficientvit UpSampleLayer: identity when already 64x64, else F.interpolate bicubic.
    static TensorOf<T, B> upsample(TensorOf<T, B> x) {
        if (x.size(2) == kSize && x.size(3) == kSize) return x;
        TensorOf<T, B> y({x.size(0), x.size(1), kSize, kSize}, TensorOf<T, B>::uninitialized);
        bicubic_resize_forward(y.data(), x.data(), x.size(0) * x.size(1), x.size(2), x.size(3), kSize, kSize, B{});
        return y;
    }
};

}  // namespace evsam
