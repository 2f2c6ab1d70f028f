// evsam: efficientvit/models/nn/ops.py: class FusedMBConv
// spatial_conv (kxk expand, stride) -> point_conv (1x1 project).
#pragma once
#include <array>

#include "evsam/nn/mb_conv.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct FusedMBConv : Block<T, B> {
    ConvLayer<T, B> spatial_conv, point_conv;

    FusedMBConv(int64_t in, int64_t out, int64_t kernel_size = 3, int64_t stride = 1, int64_t mid_channels = -1,
                double expand_ratio = 6, int64_t groups = 1, std::array<bool, 2> use_bias = {false, false},
                std::array<Norm, 2> norm = {Norm::bn2d, Norm::bn2d}, std::array<Act, 2> act = {Act::relu6, Act::none})
        : spatial_conv(in, MBConv<T, B>::mid(in, expand_ratio, mid_channels), kernel_size, stride, 1, groups,
                       use_bias[0], norm[0], act[0]),
          point_conv(MBConv<T, B>::mid(in, expand_ratio, mid_channels), out, 1, 1, 1, 1, use_bias[1], norm[1], act[1]) {
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        spatial_conv.visit(v, p + "spatial_conv.");
        point_conv.visit(v, p + "point_conv.");
    }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        if (!tr)  // the two convs in one pass over blocks of pixels, where the op takes them (same bits)
            if (auto y = spatial_conv.forward_pair(point_conv, x)) {
                stamp_module_end(point_conv.name);  // a timed forward: the pair's span, under its last module
                this->trace(tr, *y);
                return std::move(*y);
            }
        TensorOf<T, B> y = spatial_conv.forward(x, tr);  // kxk expand + act
        y = point_conv.forward(y, tr);                   // 1x1 project
        this->trace(tr, y);
        return y;
    }
    std::optional<TensorOf<T, B>> forward_plus_input(const TensorOf<T, B>& x) const override {
        auto y = spatial_conv.forward_pair(point_conv, x, &x);
        if (y) {
            stamp_module_end(point_conv.name);
            stamp_module_end(this->name);
        }
        return y;
    }
    // channels-last where the pair takes it and the output keeps x's shape (the residual ones)
    bool keeps_channels_last(const Shape& x) const override {
        return spatial_conv.pair_applies(point_conv, x, true) && spatial_conv.conv.stride == 1 &&
               point_conv.conv.out_channels == x[1];
    }
    TensorOf<T, B> forward_channels_last(const TensorOf<T, B>& x, const TensorOf<T, B>* plus) const override {
        TensorOf<T, B> y = spatial_conv.forward_pair_channels_last(point_conv, x, plus);  // both convs, + plus
        stamp_module_end(point_conv.name);
        this->trace(nullptr, y);
        return y;
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        return describe_sequence(*this, "FusedMBConv", in, t, depth, {&spatial_conv, &point_conv});
    }
};

}  // namespace evsam
