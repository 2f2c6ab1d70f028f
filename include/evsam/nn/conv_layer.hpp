// evsam: efficientvit/models/nn/ops.py: class ConvLayer
// conv ("same" padding, optional bias) -> optional norm -> optional activation.
#pragma once
#include <optional>

#include "evsam/nn/act.hpp"
#include "evsam/nn/layers.hpp"
#include "evsam/nn/norm.hpp"
#include "evsam/ops/activation.hpp"

namespace evsam {

// efficientvit/models/utils/network.py: get_same_padding (odd kernels only).
inline int64_t get_same_padding(int64_t kernel_size) {
    EVSAM_CHECK(kernel_size % 2 == 1, "kernel size should be odd number, got " + std::to_string(kernel_size));
    return kernel_size / 2;
}

template <class T, class B = backend::cpu>
struct ConvLayer : Block<T, B> {
    Conv2d<T, B> conv;
    std::optional<BatchNorm2d<T, B>> norm;  // "bn2d" or none (all EfficientViT-SAM ConvLayers)
    Act act;

    ConvLayer(int64_t in, int64_t out, int64_t kernel_size = 3, int64_t stride = 1, int64_t dilation = 1,
              int64_t groups = 1, bool use_bias = false, Norm norm_ = Norm::bn2d, Act act_ = Act::relu)
        : conv(in, out, kernel_size, stride, get_same_padding(kernel_size) * dilation, dilation, groups, use_bias),
          act(act_) {
        EVSAM_CHECK(norm_ != Norm::ln2d, "ConvLayer: ln2d norm is not used by EfficientViT-SAM and not supported");
        if (norm_ == Norm::bn2d) norm.emplace(out);
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override { this->set_name(p);
        conv.visit(v, p + "conv.");
        if (norm) norm->visit(v, p + "norm.");
    }
    Tensor<T> forward(const Tensor<T>& x, Trace<T>* tr = nullptr) const override {
        Tensor<T> y = conv.forward(x);                        // x = self.conv(x)
        if (norm) norm->forward_(y);                          // x = self.norm(x)
        activation_forward(y.data(), y.numel(), act, B{});    // x = self.act(x)
        this->trace(tr, y);
        return y;
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        size_t r = t.open(*this, "ConvLayer", depth);
        Shape out = conv.describe(in, t, depth + 1);
        t.close(r, out);
        return out;
    }
};

}  // namespace evsam
