// evsam: efficientvit/models/nn/ops.py: class DSConv
// depth_conv (kxk depthwise, stride) -> point_conv (1x1).
#pragma once
#include <array>

#include "evsam/nn/conv_layer.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct DSConv : Block<T, B> {
    ConvLayer<T, B> depth_conv, point_conv;

    DSConv(int64_t in, int64_t out, int64_t kernel_size = 3, int64_t stride = 1,
           std::array<bool, 2> use_bias = {false, false}, std::array<Norm, 2> norm = {Norm::bn2d, Norm::bn2d},
           std::array<Act, 2> act = {Act::relu6, Act::none})
        : depth_conv(in, in, kernel_size, stride, 1, in, use_bias[0], norm[0], act[0]),
          point_conv(in, out, 1, 1, 1, 1, use_bias[1], norm[1], act[1]) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        depth_conv.visit(v, p + "depth_conv.");
        point_conv.visit(v, p + "point_conv.");
    }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        TensorOf<T, B> y = depth_conv.forward(x, tr);
        y = point_conv.forward(y, tr);
        this->trace(tr, y);
        return y;
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        return describe_sequence(*this, "DSConv", in, t, depth, {&depth_conv, &point_conv});
    }
};

}  // namespace evsam
