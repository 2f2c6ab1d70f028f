// evsam: efficientvit/models/nn/ops.py: class EfficientViTBlock
//   context_module = ResidualBlock(LiteMLA, identity)   -- global context
//   local_module   = ResidualBlock(MBConv,  identity)   -- local features
#pragma once
#include <memory>

#include "evsam/nn/lite_mla.hpp"
#include "evsam/nn/mb_conv.hpp"
#include "evsam/nn/residual_block.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct EfficientViTBlock : Block<T, B> {
    ResidualBlock<T, B> context_module;  // main: LiteMLA
    ResidualBlock<T, B> local_module;    // main: MBConv

    EfficientViTBlock(int64_t in, double heads_ratio = 1.0, int64_t dim = 32, double expand_ratio = 4,
                      std::vector<int64_t> scales = {5}, Norm norm = Norm::bn2d, Act act = Act::hswish)
        : context_module(std::make_unique<LiteMLA<T, B>>(
                             in, in, -1, heads_ratio, dim, std::array<bool, 2>{false, false},
                             std::array<Norm, 2>{Norm::none, norm}, std::array<Act, 2>{Act::none, Act::none}, scales),
                         true),
          local_module(std::make_unique<MBConv<T, B>>(
                           in, in, 3, 1, -1, expand_ratio, std::array<bool, 3>{true, true, false},
                           std::array<Norm, 3>{Norm::none, Norm::none, norm}, std::array<Act, 3>{act, act, Act::none}),
                       true) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        context_module.visit(v, p + "context_module.");
        local_module.visit(v, p + "local_module.");
    }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        TensorOf<T, B> y = context_module.forward(x, tr);  // x = self.context_module(x)
        y = local_module.forward(y, tr);                   // x = self.local_module(x)
        this->trace(tr, y);
        return y;
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        return describe_sequence(*this, "EfficientViTBlock", in, t, depth, {&context_module, &local_module});
    }
};

}  // namespace evsam
