// evsam: efficientvit/models/nn/ops.py: class ConvLayer
// conv ("same" padding, optional bias) -> optional norm -> optional activation.
#pragma once
#include <cmath>
#include <optional>

#include "evsam/ops/act.hpp"
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
    // Inference form, built by load_state_dict (unless asked not to): the BatchNorm folded into the conv,
    // conv.weight *= gamma / sqrt(var + eps) per output channel, and this bias
    // beta + (conv.bias - mean) * gamma / sqrt(var + eps). The norm keeps the checkpoint's values.
    bool folded = false;
    Tensor<T> folded_bias;

    ConvLayer(int64_t in, int64_t out, int64_t kernel_size = 3, int64_t stride = 1, int64_t dilation = 1,
              int64_t groups = 1, bool use_bias = false, Norm norm_ = Norm::bn2d, Act act_ = Act::relu)
        : conv(in, out, kernel_size, stride, get_same_padding(kernel_size) * dilation, dilation, groups, use_bias),
          act(act_) {
        EVSAM_CHECK(norm_ != Norm::ln2d, "ConvLayer: ln2d norm is not used by EfficientViT-SAM and not supported");
        if (norm_ == Norm::bn2d) norm.emplace(out);
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        conv.visit(v, p + "conv.");
        if (norm) norm->visit(v, p + "norm.");
        if (v.fold_batchnorm()) fold_norm();
        if (folded) v.derived(folded_bias);
    }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        TensorOf<T, B> y;
        if (fused_form()) {  // x = self.act(self.norm(self.conv(x))), one pass with the norm folded
            y = conv.forward_fused(x, fused_bias(), act);
        } else {
            y = conv.forward(x);                                // x = self.conv(x)
            norm->forward_(y);                                  // x = self.norm(x)
            activation_forward(y.data(), y.numel(), act, B{});  // x = self.act(x)
        }
        this->trace(tr, y);
        return y;
    }
    // forward(x) into y, the output's values in a row, where the layer runs in one pass (fused_form);
    // false, and nothing written, otherwise. No trace; the end stamped for a timed forward.
    bool forward_into(T* y, const TensorOf<T, B>& x) const {
        if (!fused_form()) return false;
        conv.forward_fused_into(y, x.data(), x.shape(), fused_bias(), act);
        stamp_module_end(this->name);
        return true;
    }
    // The output of a fused op that starts with this conv on x and ends with oc channels at its
    // resolution (uninitialized); nothing where plus has another shape.
    std::optional<TensorOf<T, B>> fused_output(const TensorOf<T, B>& x, int64_t oc, const TensorOf<T, B>* plus) const {
        const Conv2d<T, B>& c = conv;
        const Shape out{x.size(0), oc, conv_out_size(x.size(2), c.kernel_size, c.stride, c.padding, c.dilation),
                        conv_out_size(x.size(3), c.kernel_size, c.stride, c.padding, c.dilation)};
        if (plus && plus->shape() != out) return std::nullopt;
        return TensorOf<T, B>(out, TensorOf<T, B>::uninitialized);
    }
    // point(this(x)) for a second ConvLayer `point` (1x1), in one pass over blocks of pixels
    // (ops/conv2d.hpp: conv2d_pair_forward, the same bits as the two forwards in turn) where that op
    // takes them: the CPU, float, both norms folded, and what conv2d_pair_applies asks. Otherwise
    // nothing, and the caller runs the two forwards.
    // plus: a tensor of the output's shape added to it in the same pass (ResidualBlock's x), or null.
    std::optional<TensorOf<T, B>> forward_pair(const ConvLayer& point, const TensorOf<T, B>& x,
                                               const TensorOf<T, B>* plus = nullptr) const {
        if constexpr (!std::is_same_v<B, backend::cpu> || !std::is_same_v<T, float>) {
            (void)point, (void)x, (void)plus;
            return std::nullopt;
        } else {
            const Conv2d<T, B>&c1 = conv, &c2 = point.conv;
            if (!pair_applies(point, x.shape())) return std::nullopt;
            const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
            auto y = fused_output(x, c2.out_channels, plus);
            if (!y) return std::nullopt;
            conv2d_pair_forward(y->data(), x.data(), c1.weight.data(), fused_bias(), act, c2.weight.data(),
                                point.fused_bias(), point.act, N, c1.in_channels, H, W, c1.out_channels, c1.kernel_size,
                                c1.stride, c1.padding, c1.dilation, c2.out_channels, &c1.packed, &c2.packed, B{},
                                plus ? plus->data() : nullptr);
            return y;
        }
    }

    // Whether forward_pair takes an input of NCHW shape x (channels_last: forward_pair_channels_last).
    bool pair_applies(const ConvLayer& point, const Shape& x, bool channels_last = false) const {
        if constexpr (!std::is_same_v<B, backend::cpu>) return false;
        const Conv2d<T, B>&c1 = conv, &c2 = point.conv;
        if (!fused_form() || !point.fused_form() || x.size() != 4 || x[1] != c1.in_channels ||
            c2.in_channels != c1.out_channels || c2.kernel_size != 1 || c2.stride != 1 || c2.padding != 0 ||
            c2.groups != 1)
            return false;
        if (channels_last)
            return conv2d_pair_channels_last_applies<T>(c1.in_channels, c1.out_channels, c1.kernel_size, c1.stride,
                                                        c1.padding, c1.dilation, c1.groups);
        return conv2d_pair_applies<T>(x[0], c1.in_channels, x[2], x[3], c1.out_channels, c1.kernel_size, c1.stride,
                                      c1.padding, c1.dilation, c1.groups);
    }
    // forward_pair on a channels-last map x, (N, H, W, C), giving the output channels-last (plus too)
    // where pair_applies(point, NCHW shape, true); the same bits, transposed (ops/conv2d.hpp:
    // conv2d_pair_channels_last_forward). OpSequential's runs of FusedMBConvs.
    TensorOf<T, B> forward_pair_channels_last(const ConvLayer& point, const TensorOf<T, B>& x,
                                              const TensorOf<T, B>* plus = nullptr) const {
        if constexpr (!std::is_same_v<B, backend::cpu> || !std::is_same_v<T, float>) {
            (void)point, (void)x, (void)plus;
            throw std::logic_error(this->name + ": channels-last pairs are the CPU's float path");
        } else {
            const Conv2d<T, B>&c1 = conv, &c2 = point.conv;
            const int64_t N = x.size(0), H = x.size(1), W = x.size(2);
            if (!pair_applies(point, {N, x.size(3), H, W}, true))
                throw std::logic_error(this->name + ": a channels-last pair this layer does not take");
            TensorOf<T, B> y({N, conv_out_size(H, c1.kernel_size, c1.stride, c1.padding, c1.dilation),
                              conv_out_size(W, c1.kernel_size, c1.stride, c1.padding, c1.dilation), c2.out_channels},
                             TensorOf<T, B>::uninitialized);
            if (plus && plus->shape() != y.shape())
                throw std::logic_error(this->name + ": a residual of another shape");
            conv2d_pair_channels_last_forward(y.data(), x.data(), c1.weight.data(), fused_bias(), act, c2.weight.data(),
                                              point.fused_bias(), point.act, N, c1.in_channels, H, W, c1.out_channels,
                                              c1.kernel_size, c1.stride, c1.padding, c1.dilation, c2.out_channels,
                                              &c1.packed, &c2.packed, B{}, plus ? plus->data() : nullptr);
            return y;
        }
    }

    // next(this(x)) for a second dense kxk ConvLayer `next` at stride 1 (ResBlock's conv2) in one op
    // (ops/conv2d.hpp: conv2d_chain_forward, the same bits as the two forwards in turn) where that op
    // takes them: the CPU, float, both norms folded, and what conv2d_chain_applies asks. Otherwise
    // nothing, and the caller runs the two forwards. plus: as forward_pair's.
    std::optional<TensorOf<T, B>> forward_chain(const ConvLayer& next, const TensorOf<T, B>& x,
                                                const TensorOf<T, B>* plus = nullptr) const {
        if constexpr (!std::is_same_v<B, backend::cpu> || !std::is_same_v<T, float>) {
            (void)next, (void)x, (void)plus;
            return std::nullopt;
        } else {
            const Conv2d<T, B>&c1 = conv, &c2 = next.conv;
            if (!fused_form() || !next.fused_form() || x.dim() != 4 || x.size(1) != c1.in_channels ||
                c2.in_channels != c1.out_channels || c2.kernel_size != c1.kernel_size || c2.stride != 1 ||
                c2.padding != c1.padding || c2.dilation != c1.dilation || c1.groups != 1 || c2.groups != 1 ||
                !conv2d_chain_applies<T>(c1.in_channels, c1.out_channels, c2.out_channels, c1.kernel_size, c1.stride,
                                         c1.padding, c1.dilation, 1))
                return std::nullopt;
            const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
            auto y = fused_output(x, c2.out_channels, plus);
            if (!y) return std::nullopt;
            conv2d_chain_forward(y->data(), x.data(), c1.weight.data(), fused_bias(), act, c2.weight.data(),
                                 next.fused_bias(), next.act, N, c1.in_channels, H, W, c1.out_channels, c1.kernel_size,
                                 c1.stride, c1.padding, c1.dilation, c2.out_channels, &c1.packed, &c2.packed, B{},
                                 plus ? plus->data() : nullptr);
            return y;
        }
    }

    // dw(this(x)) for this 1x1 conv and a depthwise ConvLayer `dw`, in one pass over blocks of
    // channels (ops/conv2d.hpp: conv2d_expand_depthwise_forward, the same bits as the two forwards
    // in turn) where that op takes them: the CPU, float, both norms folded, stride 1 or 2, no
    // dilation. Otherwise nothing, and the caller runs the two forwards.
    std::optional<TensorOf<T, B>> forward_depthwise(const ConvLayer& dw, const TensorOf<T, B>& x) const {
        if constexpr (!std::is_same_v<B, backend::cpu> || !std::is_same_v<T, float>) {
            (void)dw, (void)x;
            return std::nullopt;
        } else {
            const Conv2d<T, B>&c1 = conv, &c2 = dw.conv;
            const int64_t E = c1.out_channels;
            if (!expand_depthwise_fusable(dw, x)) return std::nullopt;
            const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
            TensorOf<T, B> y({N, E, conv_out_size(H, c2.kernel_size, c2.stride, c2.padding, 1),
                              conv_out_size(W, c2.kernel_size, c2.stride, c2.padding, 1)},
                             TensorOf<T, B>::uninitialized);
            conv2d_expand_depthwise_forward(y.data(), x.data(), c1.weight.data(), fused_bias(), act, c2.weight.data(),
                                            dw.fused_bias(), dw.act, N, c1.in_channels, H, W, E, c2.kernel_size,
                                            c2.stride, c2.padding, &c1.packed, B{});
            return y;
        }
    }

    // point(dw(this(x))) for this 1x1 conv, a depthwise ConvLayer `dw` and a 1x1 ConvLayer `point`
    // (MBConv's three), the depthwise output packed straight for the 1x1 (ops/conv2d.hpp:
    // conv2d_mbconv_forward, the same bits as the three forwards in turn) where that op takes them:
    // forward_depthwise's conditions, and point a plain 1x1. Otherwise nothing.
    // plus: as forward_pair's (ResidualBlock's x), or null.
    std::optional<TensorOf<T, B>> forward_depthwise_point(const ConvLayer& dw, const ConvLayer& point,
                                                          const TensorOf<T, B>& x,
                                                          const TensorOf<T, B>* plus = nullptr) const {
        if constexpr (!std::is_same_v<B, backend::cpu> || !std::is_same_v<T, float>) {
            (void)dw, (void)point, (void)x, (void)plus;
            return std::nullopt;
        } else {
            const Conv2d<T, B>&c1 = conv, &c2 = dw.conv, &c3 = point.conv;
            const int64_t E = c1.out_channels;
            if (!expand_depthwise_fusable(dw, x) || !point.fused_form() || c3.in_channels != E || c3.kernel_size != 1 ||
                c3.stride != 1 || c3.padding != 0 || c3.groups != 1)
                return std::nullopt;
            const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
            const Shape out{N, c3.out_channels, conv_out_size(H, c2.kernel_size, c2.stride, c2.padding, 1),
                            conv_out_size(W, c2.kernel_size, c2.stride, c2.padding, 1)};
            if (plus && plus->shape() != out) return std::nullopt;
            TensorOf<T, B> y(out, TensorOf<T, B>::uninitialized);
            conv2d_mbconv_forward(y.data(), x.data(), c1.weight.data(), fused_bias(), act, c2.weight.data(),
                                  dw.fused_bias(), dw.act, c3.weight.data(), point.fused_bias(), point.act, N,
                                  c1.in_channels, H, W, E, c2.kernel_size, c2.stride, c2.padding, c3.out_channels,
                                  &c1.packed, &c3.packed, B{}, plus ? plus->data() : nullptr);
            return y;
        }
    }

private:
    // the conv's bias and activation as one epilogue: the norm folded into the conv, or none
    bool fused_form() const { return folded || !norm; }
    // forward_depthwise's conditions on this 1x1 conv, the depthwise `dw` and the input (float CPU)
    bool expand_depthwise_fusable(const ConvLayer& dw, const TensorOf<T, B>& x) const {
        const Conv2d<T, B>&c1 = conv, &c2 = dw.conv;
        const int64_t E = c1.out_channels;
        return fused_form() && dw.fused_form() && x.dim() == 4 && x.size(1) == c1.in_channels && c1.kernel_size == 1 &&
               c1.stride == 1 && c1.padding == 0 && c1.groups == 1 && c2.in_channels == E && c2.out_channels == E &&
               c2.groups == E && conv2d_expand_depthwise_applies<T>(c2.stride, c2.dilation);
    }
    const T* fused_bias() const { return param_ptr(folded ? folded_bias : conv.bias, B{}); }
    void fold_norm() {
        conv.packed.reset();  // the weights change here
        folded = false;
        if (!norm) return;
        const int64_t OC = conv.out_channels, per_oc = conv.weight.numel() / OC;
        folded_bias = Tensor<T>({OC});
        for (int64_t o = 0; o < OC; ++o) {  // in double, as PyTorch's BN kernel would if it were fp64
            const double scale =
                static_cast<double>(norm->weight[o]) / std::sqrt(static_cast<double>(norm->running_var[o]) + norm->eps);
            for (int64_t i = 0; i < per_oc; ++i)
                conv.weight[o * per_oc + i] = static_cast<T>(static_cast<double>(conv.weight[o * per_oc + i]) * scale);
            const double b0 = conv.has_bias ? static_cast<double>(conv.bias[o]) : 0.0;
            folded_bias[o] = static_cast<T>(static_cast<double>(norm->bias[o]) +
                                            (b0 - static_cast<double>(norm->running_mean[o])) * scale);
        }
        folded = true;
    }

public:
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        return describe_sequence(*this, "ConvLayer", in, t, depth, {&conv});
    }
};

}  // namespace evsam
