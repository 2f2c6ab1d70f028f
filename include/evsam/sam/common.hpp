// evsam: segment_anything/modeling/common.py: MLPBlock, LayerNorm2d
// SAM's LayerNorm2d normalises over channels exactly like efficientvit's
// (nn/norm.hpp: LayerNorm2d), so that one class serves both.
#pragma once
#include "evsam/ops/act.hpp"
#include "evsam/nn/layers.hpp"
#include "evsam/nn/norm.hpp"
#include "evsam/ops/activation.hpp"

namespace evsam {

// lin1 -> act -> lin2 (act = ReLU inside TwoWayTransformer)
template <class T, class B = backend::cpu>
struct MLPBlock : Module<T, B> {
    Linear<T, B> lin1, lin2;
    Act act;

    MLPBlock(int64_t embedding_dim, int64_t mlp_dim, Act act_ = Act::relu)
        : lin1(embedding_dim, mlp_dim), lin2(mlp_dim, embedding_dim), act(act_) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        lin1.visit(v, p + "lin1.");
        lin2.visit(v, p + "lin2.");
    }
    Tensor<T> forward(const Tensor<T>& x) const {
        Tensor<T> h = lin1.forward(x);                      // self.lin1(x)
        activation_forward(h.data(), h.numel(), act, B{});  // self.act(...)
        return lin2.forward(h);                             // self.lin2(...)
    }
};

}  // namespace evsam
