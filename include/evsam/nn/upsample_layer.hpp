// evsam: efficientvit/models/nn/ops.py: class UpSampleLayer (mode "bicubic", align_corners=False)
//   to a fixed size (SamNeck: 64x64) or by an integer factor (SegHead: stride / head_stride);
//   identity when the input already has that size, or the factor is 1.
// F.interpolate with scale_factor=f uses 1/f as the source scale; the op uses H / (H*f), the same
// number for the power-of-two factors upstream builds (2, 4).
#pragma once
#include <array>
#include <optional>
#include <string>

#include "evsam/nn/module.hpp"
#include "evsam/ops/resize.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct UpSampleLayer : Block<T, B> {
    std::optional<std::array<int64_t, 2>> size;  // self.size (h, w), or
    int64_t factor = 2;                          // self.factor when no size is given

    static UpSampleLayer to_size(int64_t h, int64_t w) {
        UpSampleLayer u;
        u.size = std::array<int64_t, 2>{h, w};
        return u;
    }
    static UpSampleLayer by_factor(int64_t f) {
        EVSAM_CHECK(f >= 1, "UpSampleLayer: factor must be >= 1, got " + std::to_string(f));
        UpSampleLayer u;
        u.factor = f;
        return u;
    }
    void visit(ParamVisitor<T>&, const std::string& p) override { this->set_name(p); }
    std::array<int64_t, 2> out_size(int64_t h, int64_t w) const {
        return size ? *size : std::array<int64_t, 2>{h * factor, w * factor};
    }
    // whether forward returns x as it is (upstream: the size asked for is x's own)
    bool returns_input(const TensorOf<T, B>& x) const {
        return x.dim() == 4 && out_size(x.size(2), x.size(3)) == std::array<int64_t, 2>{x.size(2), x.size(3)};
    }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        EVSAM_CHECK(x.dim() == 4, this->name + ": expected (N, C, H, W), got " + shape_str(x.shape()));
        if (returns_input(x)) {  // return x
            this->trace(tr, x);
            return x;
        }
        const auto [OH, OW] = out_size(x.size(2), x.size(3));
        TensorOf<T, B> y({x.size(0), x.size(1), OH, OW}, TensorOf<T, B>::uninitialized);
        // resize(x, self.size, self.factor, "bicubic", align_corners=False)
        bicubic_resize_forward(y.data(), x.data(), x.size(0) * x.size(1), x.size(2), x.size(3), OH, OW, B{});
        this->trace(tr, y);
        return y;
    }
    TensorOf<T, B> forward_owned(TensorOf<T, B>&& x, Trace<T>* tr = nullptr) const override {
        if (!returns_input(x)) return forward(x, tr);
        this->trace(tr, x);  // return x, given up by the caller: not copied
        return std::move(x);
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        const size_t r = t.open(*this, "UpSampleLayer(bicubic)", depth);
        const auto [OH, OW] = out_size(in[2], in[3]);
        t.close(r, {in[0], in[1], OH, OW});
        return {in[0], in[1], OH, OW};
    }
};

}  // namespace evsam
