// evsam: segment_anything/modeling/image_encoder.py: class PatchEmbed
//   proj: Conv2d(in_chans, embed_dim, kernel_size=patch, stride=patch); forward: proj(x).permute(0, 2, 3, 1)
#pragma once
#include "evsam/nn/layers.hpp"
#include "evsam/ops/layout.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct PatchEmbed : Module<T, B> {
    Conv2d<T, B> proj;

    PatchEmbed(int64_t patch_size, int64_t in_chans, int64_t embed_dim)
        : proj(in_chans, embed_dim, patch_size, patch_size, 0, 1, 1, true) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        proj.visit(v, p + "proj.");
    }
    // x (N, 3, R, R) -> (N, R/patch, R/patch, embed_dim)
    Tensor<T> forward(const Tensor<T>& x, Trace<T>* tr = nullptr) const {
        Tensor<T> y = proj.forward(x);  // x = self.proj(x)
        const int64_t N = y.size(0), C = y.size(1), h = y.size(2), w = y.size(3);
        Tensor<T> out({N, h, w, C}, Tensor<T>::uninitialized);
        nchw_to_npc_forward(out.data(), y.data(), N, C, h * w, B{});  // x = x.permute(0, 2, 3, 1)
        this->trace(tr, out);
        return out;
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) {
        const size_t r = t.open(*this, "PatchEmbed", depth);
        const Shape s = proj.describe(in, t, depth + 1);
        const Shape out{s[0], s[2], s[3], s[1]};
        t.close(r, out);
        return out;
    }
};

}  // namespace evsam
