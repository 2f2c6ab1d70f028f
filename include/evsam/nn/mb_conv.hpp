// evsam: efficientvit/models/nn/ops.py: class MBConv
// inverted_conv (1x1 expand) -> depth_conv (kxk depthwise, stride) -> point_conv (1x1 project).
#pragma once
#include <array>
#include <cmath>

#include "evsam/nn/conv_layer.hpp"

namespace evsam {

// Python's round() on a float (ties to even), as used for mid_channels.
inline int64_t py_round(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

template <class T, class B = backend::cpu>
struct MBConv : Block<T, B> {
    ConvLayer<T, B> inverted_conv, depth_conv, point_conv;

    static int64_t mid(int64_t in, double expand_ratio, int64_t mid_channels) {
        return mid_channels > 0 ? mid_channels : py_round(static_cast<double>(in) * expand_ratio);
    }
    MBConv(int64_t in, int64_t out, int64_t kernel_size = 3, int64_t stride = 1, int64_t mid_channels = -1,
           double expand_ratio = 6, std::array<bool, 3> use_bias = {false, false, false},
           std::array<Norm, 3> norm = {Norm::bn2d, Norm::bn2d, Norm::bn2d},
           std::array<Act, 3> act = {Act::relu6, Act::relu6, Act::none})
        : inverted_conv(in, mid(in, expand_ratio, mid_channels), 1, 1, 1, 1, use_bias[0], norm[0], act[0]),
          depth_conv(mid(in, expand_ratio, mid_channels), mid(in, expand_ratio, mid_channels), kernel_size, stride, 1,
                     mid(in, expand_ratio, mid_channels), use_bias[1], norm[1], act[1]),
          point_conv(mid(in, expand_ratio, mid_channels), out, 1, 1, 1, 1, use_bias[2], norm[2], act[2]) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        inverted_conv.visit(v, p + "inverted_conv.");
        depth_conv.visit(v, p + "depth_conv.");
        point_conv.visit(v, p + "point_conv.");
    }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        if (!tr)  // the three below in one pass, where the op takes them (the same bits)
            if (auto y = inverted_conv.forward_depthwise_point(depth_conv, point_conv, x)) {
                stamp_module_end(point_conv.name);  // a timed forward: the span of all three, under the last
                this->trace(tr, *y);
                return std::move(*y);
            }
        TensorOf<T, B> y;
        if (auto e = tr ? std::nullopt : inverted_conv.forward_depthwise(depth_conv, x)) {
            y = std::move(*e);  // the two below in one pass over blocks of channels, where the op takes them
            stamp_module_end(depth_conv.name);  // a timed forward: the pair's span, under its last module
        } else {
            y = inverted_conv.forward(x, tr);  // 1x1 expand + act
            y = depth_conv.forward(y, tr);     // kxk depthwise + act
        }
        y = point_conv.forward(y, tr);  // 1x1 project
        this->trace(tr, y);
        return y;
    }
    // main(x) + x (ResidualBlock), the sum in the 1x1's write
    std::optional<TensorOf<T, B>> forward_plus_input(const TensorOf<T, B>& x) const override {
        auto y = inverted_conv.forward_depthwise_point(depth_conv, point_conv, x, &x);
        if (y) {
            stamp_module_end(point_conv.name);
            stamp_module_end(this->name);
        }
        return y;
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        return describe_sequence(*this, "MBConv", in, t, depth, {&inverted_conv, &depth_conv, &point_conv});
    }
};

}  // namespace evsam
