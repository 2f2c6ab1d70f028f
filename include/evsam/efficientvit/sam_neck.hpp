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
            in.op_list.push_back(std::make_unique<ConvLayer<T, B>>(cin, cfg.head_width, 1, 1, 1, 1, false, Norm::bn2d, Act::none));
            input_ops.push_back(std::move(in));  // op_list.1 (UpSampleLayer) has no weights
        }
        const int64_t w = cfg.head_width;
        for (int64_t d = 0; d < cfg.head_depth; ++d) {
            std::unique_ptr<Module<T, B>> block;
            if (cfg.middle_op == "mb")
                block = std::make_unique<MBConv<T, B>>(w, w, 3, 1, -1, cfg.expand_ratio, std::array<bool, 3>{false, false, false},
                                                       std::array<Norm, 3>{Norm::bn2d, Norm::bn2d, Norm::bn2d},
                                                       std::array<Act, 3>{act, act, Act::none});
            else if (cfg.middle_op == "fmb")
                block = std::make_unique<FusedMBConv<T, B>>(w, w, 3, 1, -1, cfg.expand_ratio, 1, std::array<bool, 2>{false, false},
                                                            std::array<Norm, 2>{Norm::bn2d, Norm::bn2d},
                                                            std::array<Act, 2>{act, Act::none});
            else if (cfg.middle_op == "res")
                block = std::make_unique<ResBlock<T, B>>(w, w, 3, 1, -1, cfg.expand_ratio, std::array<bool, 2>{false, false},
                                                         std::array<Norm, 2>{Norm::bn2d, Norm::bn2d},
                                                         std::array<Act, 2>{act, Act::none});
            else
                throw Error("SamNeck: unknown middle_op '" + cfg.middle_op + "'");
            middle.op_list.push_back(std::make_unique<ResidualBlock<T, B>>(std::move(block), true));
        }
        OpSequential<T, B> out;
        out.op_list.push_back(std::make_unique<ConvLayer<T, B>>(w, cfg.out_dim, 1, 1, 1, 1, true, Norm::none, Act::none));
        output_ops.push_back(std::move(out));
    }

    void visit(ParamVisitor<T>& v, const std::string& p) override {
        for (size_t i = 0; i < input_ops.size(); ++i) input_ops[i].visit(v, p + "input_ops." + std::to_string(i) + ".");
        middle.visit(v, p + "middle.");
        for (size_t i = 0; i < output_ops.size(); ++i) output_ops[i].visit(v, p + "output_ops." + std::to_string(i) + ".");
    }
};

}  // namespace evsam
