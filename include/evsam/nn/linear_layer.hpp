// evsam: efficientvit/models/nn/ops.py: class LinearLayer
//   flatten to (N, in_features) -> [dropout: identity at inference] -> nn.Linear -> optional
//   nn.LayerNorm ("ln") -> optional activation.
#pragma once
#include <optional>

#include "evsam/nn/layers.hpp"
#include "evsam/nn/norm.hpp"
#include "evsam/ops/activation.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct LinearLayer : Block<T, B> {
    Linear<T, B> linear;
    std::optional<LayerNorm<T, B>> norm;  // norm="ln", or None
    Act act;

    LinearLayer(int64_t in, int64_t out, bool use_bias = true, bool layer_norm = false, Act act_ = Act::none)
        : linear(in, out, use_bias), act(act_) {
        if (layer_norm) norm.emplace(out);
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        linear.visit(v, p + "linear.");
        if (norm) norm->visit(v, p + "norm.");
    }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        EVSAM_CHECK(x.dim() >= 2 && x.numel() == x.size(0) * linear.in_features,
                    this->name + ": expected (N, " + std::to_string(linear.in_features) + ", ...), got " +
                        shape_str(x.shape()));
        Tensor<T> flat = x;
        flat.reshape_({x.size(0), linear.in_features});     // x = self._try_squeeze(x)
        Tensor<T> y = linear.forward(flat);                 // x = self.linear(x)
        if (norm) norm->forward_(y);                        // x = self.norm(x)
        activation_forward(y.data(), y.numel(), act, B{});  // x = self.act(x)
        this->trace(tr, y);
        return y;
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        const size_t r = t.open(*this, "LinearLayer", depth);
        Shape out = linear.describe({in[0], linear.in_features}, t, depth + 1);
        t.close(r, out);
        return out;
    }
};

}  // namespace evsam
