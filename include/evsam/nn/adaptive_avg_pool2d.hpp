// evsam: torch.nn.AdaptiveAvgPool2d (ClsHead's global pooling), over ops/pool.hpp.
#pragma once
#include "evsam/nn/module.hpp"
#include "evsam/ops/pool.hpp"

namespace evsam {

// torch.nn.AdaptiveAvgPool2d(output_size): no weights.
template <class T, class B = backend::cpu>
struct AdaptiveAvgPool2d : Block<T, B> {
    int64_t output_h, output_w;
    explicit AdaptiveAvgPool2d(int64_t output_size = 1) : output_h(output_size), output_w(output_size) {}
    void visit(ParamVisitor<T>&, const std::string& p) override { this->set_name(p); }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        EVSAM_CHECK(x.dim() == 4, this->name + ": expected (N, C, H, W), got " + shape_str(x.shape()));
        TensorOf<T, B> y({x.size(0), x.size(1), output_h, output_w}, TensorOf<T, B>::uninitialized);
        adaptive_avg_pool2d_forward(y.data(), x.data(), x.size(0) * x.size(1), x.size(2), x.size(3), output_h, output_w,
                                    B{});
        this->trace(tr, y);
        return y;
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        const size_t r = t.open(*this, "AdaptiveAvgPool2d", depth);
        t.close(r, {in[0], in[1], output_h, output_w});
        return {in[0], in[1], output_h, output_w};
    }
};

}  // namespace evsam
