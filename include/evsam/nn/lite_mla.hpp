// evsam: efficientvit/models/nn/ops.py: class LiteMLA (lightweight multi-scale linear attention)
//   qkv    : 1x1 ConvLayer in -> 3*heads*dim
//   aggreg : per scale s, depthwise sxs conv then grouped 1x1 conv (groups = 3*heads)
//   ReLU kernel on q and k, linear attention (v padded with a row of ones, eps 1e-15),
//   or the quadratic form when H*W <= dim
//   proj   : 1x1 ConvLayer heads*dim*(1+#scales) -> out, with BatchNorm
#pragma once
#include <array>
#include <optional>
#include <vector>

#include "evsam/nn/conv_layer.hpp"
#include "evsam/ops/layout.hpp"
#include "evsam/ops/lite_mla_attention.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct LiteMLA : Block<T, B> {
    struct Aggreg {  // nn.Sequential(depthwise sxs, grouped 1x1): state_dict aggreg.<i>.0 / aggreg.<i>.1
        Conv2d<T, B> dw, pw;
    };
    int64_t dim, heads, total_dim;
    double eps;
    std::vector<int64_t> scales;
    ConvLayer<T, B> qkv;
    std::vector<Aggreg> aggreg;
    ConvLayer<T, B> proj;

    static int64_t num_heads(int64_t in, int64_t dim, double heads_ratio, int64_t heads) {
        return heads > 0 ? heads : static_cast<int64_t>(static_cast<double>(in / dim) * heads_ratio);
    }
    LiteMLA(int64_t in, int64_t out, int64_t heads_ = -1, double heads_ratio = 1.0, int64_t dim_ = 8,
            std::array<bool, 2> use_bias = {false, false}, std::array<Norm, 2> norm = {Norm::none, Norm::bn2d},
            std::array<Act, 2> act = {Act::none, Act::none}, std::vector<int64_t> scales_ = {5}, double eps_ = 1e-15)
        : dim(dim_),
          heads(num_heads(in, dim_, heads_ratio, heads_)),
          total_dim(heads * dim_),
          eps(eps_),
          scales(std::move(scales_)),
          qkv(in, 3 * total_dim, 1, 1, 1, 1, use_bias[0], norm[0], act[0]),
          proj(total_dim * (1 + static_cast<int64_t>(scales.size())), out, 1, 1, 1, 1, use_bias[1], norm[1], act[1]) {
        for (int64_t s : scales)
            aggreg.push_back(
                {Conv2d<T, B>(3 * total_dim, 3 * total_dim, s, 1, get_same_padding(s), 1, 3 * total_dim, use_bias[0]),
                 Conv2d<T, B>(3 * total_dim, 3 * total_dim, 1, 1, 0, 1, 3 * heads, use_bias[0])});
    }
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        qkv.visit(v, p + "qkv.");
        for (size_t i = 0; i < aggreg.size(); ++i) {
            aggreg[i].dw.visit(v, p + "aggreg." + std::to_string(i) + ".0.");
            aggreg[i].pw.visit(v, p + "aggreg." + std::to_string(i) + ".1.");
        }
        proj.visit(v, p + "proj.");
    }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        if (!tr && x.dim() == 4 && x.size(0) == 1)
            if (auto y = forward_one_image(x)) return std::move(*y);
        TensorOf<T, B> q = qkv.forward(x, tr);  // qkv = self.qkv(x)
        const int64_t N = q.size(0), C3 = q.size(1), H = q.size(2), W = q.size(3), P = H * W;
        const int64_t S = 1 + static_cast<int64_t>(aggreg.size());
        // torch.cat([qkv] + [op(qkv) for op in self.aggreg], dim=1)
        TensorOf<T, B> cat({N, C3 * S, H, W}, TensorOf<T, B>::uninitialized);
        copy_channels_forward(cat.data(), q.data(), N, C3, P, C3 * S, 0, B{});
        for (size_t i = 0; i < aggreg.size(); ++i) {
            TensorOf<T, B> a = aggreg[i].pw.forward(aggreg[i].dw.forward(q, tr), tr);
            copy_channels_forward(cat.data(), a.data(), N, C3, P, C3 * S, C3 * static_cast<int64_t>(i + 1), B{});
        }
        return attend(cat, tr);
    }
    // The same for one image, untraced, with torch.cat made in place: for N = 1 each entry of
    // multi_scale_qkv is a run of whole channels of the concatenation, so qkv and each aggreg's last
    // conv write theirs there, and the depthwise convs read qkv from there. The same values, and two
    // copies of 3 * total_dim channels fewer (the first copy took 0.2-0.3 ms of a 16x16 block of L1).
    // Nothing where qkv does not run in one pass (its BatchNorm unfolded).
    std::optional<TensorOf<T, B>> forward_one_image(const TensorOf<T, B>& x) const {
        const Shape qs = qkv.conv.out_shape(x.shape());
        const int64_t C3 = qs[1], P = qs[2] * qs[3], S = 1 + static_cast<int64_t>(aggreg.size());
        TensorOf<T, B> cat({1, C3 * S, qs[2], qs[3]}, TensorOf<T, B>::uninitialized);
        if (!qkv.forward_into(cat.data(), x)) return std::nullopt;  // qkv = self.qkv(x); multi_scale_qkv = [qkv]
        for (size_t i = 0; i < aggreg.size(); ++i) {
            TensorOf<T, B> d(aggreg[i].dw.out_shape(qs), TensorOf<T, B>::uninitialized);
            aggreg[i].dw.forward_into(d.data(), cat.data(), qs);  // multi_scale_qkv.append(op(qkv))
            aggreg[i].pw.forward_into(cat.data() + C3 * static_cast<int64_t>(i + 1) * P, d.data(), d.shape());
        }
        return attend(cat, nullptr);  // qkv = torch.cat(multi_scale_qkv, dim=1): cat
    }
    // The rest of forward from the concatenation: the ReLU linear (or quadratic) attention per head
    // and scale, then proj.
    TensorOf<T, B> attend(const TensorOf<T, B>& cat, Trace<T>* tr) const {
        const int64_t N = cat.size(0), H = cat.size(2), W = cat.size(3), P = H * W;
        const int64_t S = 1 + static_cast<int64_t>(aggreg.size());
        // H * W > dim: relu_linear_att, else relu_quadratic_att; heads here = all S*heads groups
        TensorOf<T, B> att({N, total_dim * S, H, W}, TensorOf<T, B>::uninitialized);
        if (P > dim)
            relu_linear_att_forward(att.data(), cat.data(), N, heads * S, dim, P, eps, B{});
        else
            relu_quadratic_att_forward(att.data(), cat.data(), N, heads * S, dim, P, eps, B{});
        TensorOf<T, B> y = proj.forward(att, tr);  // out = self.proj(out)
        this->trace(tr, y);
        return y;
    }

    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        size_t r = t.open(*this, "LiteMLA", depth);
        Shape q = qkv.describe(in, t, depth + 1);
        for (auto& a : aggreg) a.pw.describe(a.dw.describe(q, t, depth + 1), t, depth + 1);
        const int64_t S = 1 + static_cast<int64_t>(aggreg.size()), P = q[2] * q[3], groups = q[0] * heads * S;
        // attention matmuls: linear [v;1] k^T and (vk) q, each (D+1) x D x N; quadratic k^T q and v A
        const int64_t att = P > dim ? groups * 2 * (dim + 1) * dim * P : groups * 2 * P * P * dim;
        Shape out = proj.describe({q[0], total_dim * S, q[2], q[3]}, t, depth + 1);
        t.close(r, out, att);
        return out;
    }
};

}  // namespace evsam
