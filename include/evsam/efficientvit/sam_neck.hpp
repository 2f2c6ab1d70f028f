// evsam: efficientvit/models/efficientvit/sam.py: class SamNeck (a DAGBlock)
//   input_ops[i] : ConvLayer 1x1 + BN (no act), then bicubic resize to 64x64
//   merge "add"  : sum of the inputs
//   middle       : head_depth residual FusedMBConv ("fmb") / MBConv / ResBlock blocks
//   output_ops[0]: ConvLayer 1x1 with bias, no norm, no act -> out_dim
#pragma once
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "evsam/efficientvit/dag_block.hpp"
#include "evsam/nn/upsample_layer.hpp"
#include "evsam/ops/layout.hpp"

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
            in.op_list.push_back(std::make_unique<UpSampleLayer<T, B>>(UpSampleLayer<T, B>::to_size(kSize, kSize)));
            input_ops.push_back(std::move(in));
        }
        const int64_t w = cfg.head_width;
        middle = dag_middle<T, B>(cfg.middle_op, cfg.head_depth, w, cfg.expand_ratio, act, "SamNeck");
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
        for (size_t i = 0; i < input_ops.size(); ++i)
            input_ops[i].describe(stage_shapes.at(stage_index(cfg.fid_list[i])), t, depth + 1);
        Shape s = middle.describe({stage_shapes[0][0], cfg.head_width, kSize, kSize}, t, depth + 1);
        s = output_ops[0].describe(s, t, depth + 1);
        t.close(r, s);
        return s;
    }
    // stages: the backbone's stage outputs; fid "stageK" selects stages[K]. Returns "sam_encoder".
    TensorOf<T, B> forward(const std::vector<TensorOf<T, B>>& stages, Trace<T>* tr = nullptr) const {
        std::vector<TensorOf<T, B>> feat;
        for (size_t i = 0; i < input_ops.size(); ++i) {  // feat = [op(feature_dict[key]) ...]
            const size_t k = stage_index(cfg.fid_list[i]);
            EVSAM_CHECK(k < stages.size(), this->name + ": backbone has no " + cfg.fid_list[i]);
            feat.push_back(input_ops[i].forward(stages[k], tr));  // ConvLayer 1x1 + BN, UpSampleLayer
        }
        TensorOf<T, B> x = middle_of_sum(feat, tr);  // feat = list_sum(feat); feat = self.middle(feat)
        return output_ops[0].forward(x, tr);         // feature_dict["sam_encoder"] = op(feat)
    }

private:
    // self.middle(list_sum(feat)). Untraced on the CPU, where the middle runs channels-last from its
    // first block (fast on AMX), the sum is made channels-last in one pass over the maps (the same bits
    // as the sums, then the transpose).
    TensorOf<T, B> middle_of_sum(std::vector<TensorOf<T, B>>& feat, Trace<T>* tr) const {
        if constexpr (std::is_same_v<B, backend::cpu>) {
            const Shape s = dag_merge_shape<T, B>(feat);
            if (!tr && s.size() == 4 && middle.runs_channels_last(s)) {
                std::vector<const T*> in;
                for (const auto& f : feat) in.push_back(f.data());
                const int64_t n = static_cast<int64_t>(in.size());
                TensorOf<T, B> y({s[0], s[2], s[3], s[1]}, TensorOf<T, B>::uninitialized);
                nchw_sum_to_npc_forward(y.data(), in.data(), n, s[0], s[1], s[2] * s[3], B{});  // .permute(0, 2, 3, 1)
                feat.clear();
                return middle.forward_from_channels_last(std::move(y), s);
            }
        }
        TensorOf<T, B> x = dag_merge_add<T, B>(feat);  // feat = list_sum(feat)
        return middle.forward(x, tr);                  // feat = self.middle(feat)
    }
    static size_t stage_index(const std::string& fid) { return dag_stage_index(fid, "SamNeck"); }
};

}  // namespace evsam
