// evsam: torch.nn leaf layers with weights: Conv2d, ConvTranspose2d, Linear, Embedding.
#pragma once
#include "evsam/nn/module.hpp"
#include "evsam/ops/conv2d.hpp"
#include "evsam/ops/linear.hpp"

namespace evsam {

// torch.nn.Conv2d. Padding and dilation are forward-time settings kept here too.
template <class T, class B = backend::cpu>
struct Conv2d : Block<T, B> {
    int64_t in_channels, out_channels, kernel_size, stride, padding, dilation, groups;
    bool has_bias;
    Tensor<T> weight;  // (C_out, C_in/groups, k, k)
    Tensor<T> bias;    // (C_out,) when has_bias
    // the weights packed for the CPU's GEMMs (or Winograd-transformed), made on first use per precision
    detail::ConvWeights<T> packed;

    Conv2d(int64_t in, int64_t out, int64_t k, int64_t stride_ = 1, int64_t padding_ = 0, int64_t dilation_ = 1,
           int64_t groups_ = 1, bool bias_ = true)
        : in_channels(in),
          out_channels(out),
          kernel_size(k),
          stride(stride_),
          padding(padding_),
          dilation(dilation_),
          groups(groups_),
          has_bias(bias_) {
        EVSAM_CHECK(groups > 0 && in % groups == 0 && out % groups == 0,
                    "Conv2d: channels " + std::to_string(in) + "->" + std::to_string(out) +
                        " not divisible by groups " + std::to_string(groups));
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        packed.reset();  // a load may change the weights
        v.tensor(p + "weight", weight, {out_channels, in_channels / groups, kernel_size, kernel_size},
                 ParamKind::parameter);
        if (has_bias) v.tensor(p + "bias", bias, {out_channels}, ParamKind::parameter);
    }
    // F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        TensorOf<T, B> y = forward_fused(x, param_ptr(bias, B{}), Act::none);
        this->trace(tr, y);
        return y;
    }
    // act(F.conv2d(x, weight) + b) in one pass: the epilogue ConvLayer uses for its folded BatchNorm.
    // b is in the backend's memory (param_ptr).
    TensorOf<T, B> forward_fused(const TensorOf<T, B>& x, const T* b, Act act) const {
        TensorOf<T, B> y(out_shape(x.shape()), TensorOf<T, B>::uninitialized);
        forward_fused_into(y.data(), x.data(), x.shape(), b, act);
        return y;
    }
    // The same into y, out_shape(xs) values in a row, from x of shape xs: for a caller that places
    // input and output itself (LiteMLA's torch.cat, written in place).
    void forward_fused_into(T* y, const T* x, const Shape& xs, const T* b, Act act) const {
        (void)out_shape(xs);  // checks xs
        const int64_t N = xs[0], H = xs[2], W = xs[3];
        if constexpr (std::is_same_v<B, backend::cpu>)
            conv2d_forward(y, x, weight.data(), b, N, in_channels, H, W, out_channels, kernel_size, stride, padding,
                           dilation, groups, act, &packed, B{});
        else
            conv2d_forward(y, x, param_ptr(weight, B{}), b, N, in_channels, H, W, out_channels, kernel_size, stride,
                           padding, dilation, groups, act, B{});
    }
    // forward(x) into y, x of shape xs (no trace; the end stamped for a timed forward).
    void forward_into(T* y, const T* x, const Shape& xs) const {
        forward_fused_into(y, x, xs, param_ptr(bias, B{}), Act::none);
        stamp_module_end(this->name);
    }
    // The output's shape for an input of shape xs (checked: (N, in_channels, H, W)).
    Shape out_shape(const Shape& xs) const {
        EVSAM_CHECK(
            xs.size() == 4 && xs[1] == in_channels,
            this->name + ": expected input (N, " + std::to_string(in_channels) + ", H, W), got " + shape_str(xs));
        return {xs[0], out_channels, conv_out_size(xs[2], kernel_size, stride, padding, dilation),
                conv_out_size(xs[3], kernel_size, stride, padding, dilation)};
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        size_t r = t.open(*this, "Conv2d", depth);
        Shape out{in[0], out_channels, conv_out_size(in[2], kernel_size, stride, padding, dilation),
                  conv_out_size(in[3], kernel_size, stride, padding, dilation)};
        t.close(r, out, shape_numel(out) * (in_channels / groups) * kernel_size * kernel_size);
        return out;
    }
};

// torch.nn.ConvTranspose2d (groups = 1, no padding: SAM's 2x2 stride-2 upscaling).
template <class T, class B = backend::cpu>
struct ConvTranspose2d : Module<T, B> {
    int64_t in_channels, out_channels, kernel_size, stride;
    Tensor<T> weight;  // (C_in, C_out, k, k)  -- note: in before out, as PyTorch stores it
    Tensor<T> bias;    // (C_out,)

    ConvTranspose2d(int64_t in, int64_t out, int64_t k, int64_t stride_)
        : in_channels(in), out_channels(out), kernel_size(k), stride(stride_) {
        EVSAM_CHECK(k == stride_, "ConvTranspose2d: only kernel_size == stride (no overlap) is implemented");
    }
    Tensor<T> forward(const Tensor<T>& x) const {
        EVSAM_CHECK(x.dim() == 4 && x.size(1) == in_channels, this->name + ": bad input " + shape_str(x.shape()));
        Tensor<T> y({x.size(0), out_channels, x.size(2) * kernel_size, x.size(3) * kernel_size},
                    Tensor<T>::uninitialized);
        conv_transpose2d_forward(y.data(), x.data(), param_ptr(weight, B{}), param_ptr(bias, B{}), x.size(0),
                                 in_channels, x.size(2), x.size(3), out_channels, kernel_size, B{});
        return y;
    }
    // The same for batch entry n of x in token layout (N, h*w, C_in), an h x w map: no transpose
    // back to NCHW first. Returns (1, C_out, h*k, w*k).
    Tensor<T> forward_tokens(const Tensor<T>& x, int64_t n, int64_t h, int64_t w) const {
        EVSAM_CHECK(x.dim() == 3 && x.size(1) == h * w && x.size(2) == in_channels && n >= 0 && n < x.size(0),
                    this->name + ": bad token input " + shape_str(x.shape()));
        Tensor<T> y({1, out_channels, h * kernel_size, w * kernel_size}, Tensor<T>::uninitialized);
        conv_transpose2d_tokens_forward(y.data(), x.data() + n * h * w * in_channels, param_ptr(weight, B{}),
                                        param_ptr(bias, B{}), 1, in_channels, h, w, out_channels, kernel_size, B{});
        return y;
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        v.tensor(p + "weight", weight, {in_channels, out_channels, kernel_size, kernel_size}, ParamKind::parameter);
        v.tensor(p + "bias", bias, {out_channels}, ParamKind::parameter);
    }
};

// torch.nn.Linear: y = x W^T + b.
template <class T, class B = backend::cpu>
struct Linear : Module<T, B> {
    int64_t in_features, out_features;
    bool has_bias;
    Tensor<T> weight;  // (out_features, in_features)
    Tensor<T> bias;    // (out_features,)

    Linear(int64_t in, int64_t out, bool bias_ = true) : in_features(in), out_features(out), has_bias(bias_) {}
    // (..., in_features) -> (..., out_features)
    Tensor<T> forward(const Tensor<T>& x) const {
        EVSAM_CHECK(x.dim() >= 1 && x.size(-1) == in_features, this->name + ": bad input " + shape_str(x.shape()));
        Shape s = x.shape();
        s.back() = out_features;
        Tensor<T> y(s, Tensor<T>::uninitialized);
        linear_forward(y.data(), x.data(), weight.data(), has_bias ? bias.data() : nullptr, x.numel() / in_features,
                       in_features, out_features, B{});
        return y;
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        v.tensor(p + "weight", weight, {out_features, in_features}, ParamKind::parameter);
        if (has_bias) v.tensor(p + "bias", bias, {out_features}, ParamKind::parameter);
    }
    // Its row of the module tree for an input (..., in_features): in_features MACs per output.
    Shape describe(const Shape& in, ModuleTable& t, int depth) {
        const size_t r = t.open(*this, "Linear", depth);
        Shape out = in;
        out.back() = out_features;
        t.close(r, out, shape_numel(out) * in_features);
        return out;
    }
};

// torch.nn.Embedding: a learned table.
template <class T, class B = backend::cpu>
struct Embedding : Module<T, B> {
    int64_t num_embeddings, embedding_dim;
    Tensor<T> weight;  // (num_embeddings, embedding_dim)

    Embedding(int64_t n, int64_t d) : num_embeddings(n), embedding_dim(d) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        v.tensor(p + "weight", weight, {num_embeddings, embedding_dim}, ParamKind::parameter);
    }
};

}  // namespace evsam
