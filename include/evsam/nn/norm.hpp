// evsam: normalisation layers (upstream efficientvit/models/nn/norm.py).
// create_efficientvit_sam_model calls set_norm_eps(model, 1e-6): EVERY BatchNorm
// and LayerNorm in EfficientViT-SAM runs with eps = 1e-6, hence the defaults here.
// The classification and segmentation zoos call set_norm_eps(model, 1e-5) for the B models and
// 1e-7 for the L models (set_norm_eps below, on a model before its weights are loaded).
#pragma once
#include "evsam/nn/module.hpp"
#include "evsam/ops/norm.hpp"

namespace evsam {

enum class Norm { none, bn2d, ln2d };

// torch.nn.BatchNorm2d (inference: running statistics).
template <class T, class B = backend::cpu>
struct BatchNorm2d : Module<T, B> {
    int64_t num_features;
    double eps;
    Tensor<T> weight;                 // (C,)
    Tensor<T> bias;                   // (C,)
    Tensor<T> running_mean;           // (C,) buffer
    Tensor<T> running_var;            // (C,) buffer
    int64_t num_batches_tracked = 0;  // () int64 buffer, unused at inference

    explicit BatchNorm2d(int64_t c, double eps_ = 1e-6) : num_features(c), eps(eps_) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        v.tensor(p + "weight", weight, {num_features}, ParamKind::parameter);
        v.tensor(p + "bias", bias, {num_features}, ParamKind::parameter);
        v.tensor(p + "running_mean", running_mean, {num_features}, ParamKind::buffer);
        v.tensor(p + "running_var", running_var, {num_features}, ParamKind::buffer);
        v.index(p + "num_batches_tracked", num_batches_tracked);
        v.norm_eps(eps);
    }
    void forward_(TensorOf<T, B>& x) const {  // in place, NCHW
        batchnorm2d_forward(x.data(), param_ptr(weight, B{}), param_ptr(bias, B{}), param_ptr(running_mean, B{}),
                            param_ptr(running_var, B{}), eps, x.size(0), num_features, x.size(2) * x.size(3), B{});
    }
};

// efficientvit LayerNorm2d: LayerNorm over the channel dim of an NCHW tensor.
template <class T, class B = backend::cpu>
struct LayerNorm2d : Module<T, B> {
    int64_t num_channels;
    double eps;
    Tensor<T> weight;  // (C,)
    Tensor<T> bias;    // (C,)

    explicit LayerNorm2d(int64_t c, double eps_ = 1e-6) : num_channels(c), eps(eps_) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        v.tensor(p + "weight", weight, {num_channels}, ParamKind::parameter);
        v.tensor(p + "bias", bias, {num_channels}, ParamKind::parameter);
        v.norm_eps(eps);
    }
    void forward_(TensorOf<T, B>& x) const {  // in place, NCHW
        layernorm2d_forward(x.data(), param_ptr(weight, B{}), param_ptr(bias, B{}), eps, x.size(0), num_channels,
                            x.size(2) * x.size(3), B{});
    }
};

// torch.nn.LayerNorm over the last dim (SAM's transformer norms).
template <class T, class B = backend::cpu>
struct LayerNorm : Module<T, B> {
    int64_t normalized_shape;
    double eps;
    Tensor<T> weight;  // (D,)
    Tensor<T> bias;    // (D,)

    explicit LayerNorm(int64_t d, double eps_ = 1e-6) : normalized_shape(d), eps(eps_) {}
    void forward_(Tensor<T>& x) const {  // in place over the last dim
        layernorm_forward(x.data(), weight.data(), bias.data(), eps, x.numel() / normalized_shape, normalized_shape,
                          B{});
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        v.tensor(p + "weight", weight, {normalized_shape}, ParamKind::parameter);
        v.tensor(p + "bias", bias, {normalized_shape}, ParamKind::parameter);
        v.norm_eps(eps);
    }
};

// norm.py: set_norm_eps(model, eps): every BatchNorm, LayerNorm and LayerNorm2d of m. Call it
// before load_state_dict, which folds each BatchNorm into its conv with the eps it has then.
template <class T, class B>
void set_norm_eps(Module<T, B>& m, double eps) {
    struct V : ParamVisitor<T> {
        double e = 0;
        void tensor(const std::string&, Tensor<T>&, const Shape&, ParamKind) override {}
        void index(const std::string&, int64_t&) override {}
        void norm_eps(double& x) override { x = e; }
    } v;
    v.e = eps;
    const std::string saved = m.name;
    m.visit(v, m.name.empty() ? "" : m.name + ".");
    m.name = saved;
}

}  // namespace evsam
