// evsam: efficientvit/models/nn/ops.py: class ResBlock
// conv1 (kxk, stride) -> conv2 (kxk).
#pragma once
#include <array>

#include "evsam/nn/mb_conv.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct ResBlock : Block<T, B> {
    ConvLayer<T, B> conv1, conv2;

    ResBlock(int64_t in, int64_t out, int64_t kernel_size = 3, int64_t stride = 1, int64_t mid_channels = -1,
             double expand_ratio = 1, std::array<bool, 2> use_bias = {false, false},
             std::array<Norm, 2> norm = {Norm::bn2d, Norm::bn2d}, std::array<Act, 2> act = {Act::relu6, Act::none})
        : conv1(in, MBConv<T, B>::mid(in, expand_ratio, mid_channels), kernel_size, stride, 1, 1, use_bias[0], norm[0],
                act[0]),
          conv2(MBConv<T, B>::mid(in, expand_ratio, mid_channels), out, kernel_size, 1, 1, 1, use_bias[1], norm[1],
                act[1]) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        conv1.visit(v, p + "conv1.");
        conv2.visit(v, p + "conv2.");
    }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        if (!tr)  // the two convs in one op, where it takes them (same bits)
            if (auto y = conv1.forward_chain(conv2, x)) {
                stamp_module_end(conv2.name);  // a timed forward: the op's span, under its last module
                this->trace(tr, *y);
                return std::move(*y);
            }
        TensorOf<T, B> y = conv1.forward(x, tr);  // x = self.conv1(x)
        y = conv2.forward(y, tr);                 // x = self.conv2(x)
        this->trace(tr, y);
        return y;
    }
    std::optional<TensorOf<T, B>> forward_plus_input(const TensorOf<T, B>& x) const override {
        auto y = conv1.forward_chain(conv2, x, &x);
        if (y) {
            stamp_module_end(conv2.name);
            stamp_module_end(this->name);
        }
        return y;
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        return describe_sequence(*this, "ResBlock", in, t, depth, {&conv1, &conv2});
    }
};

}  // namespace evsam
