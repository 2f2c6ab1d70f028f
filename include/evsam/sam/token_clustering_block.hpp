// evsam: Expedit-SAM, segment_anything/modeling/hourglass_image_encoder.py: class
// TokenClusteringBlock (soft k-means of each window's tokens into num_spixels clusters). No
// parameters. The loops are ops/token_clustering.hpp's.
//   num_spixels: a perfect square g * g (upstream asserts it); n_iters soft k-means steps;
//   temperture (upstream's spelling) in softmax(-dist * temperture); r = window_size // 2, the
//   neighbourhood of initial clusters a token may join (window_size odd).
#pragma once
#include "evsam/nn/module.hpp"
#include "evsam/ops/token_clustering.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct TokenClusteringBlock : Module<T, B> {
    int64_t num_spixels_side, n_iters;  // num_spixels = (side, side)
    double temperture;
    int64_t r;

    TokenClusteringBlock(int64_t side, int64_t iters, double temperature, int64_t window_size)
        : num_spixels_side(side), n_iters(iters), temperture(temperature), r(window_size / 2) {}
    void visit(ParamVisitor<T>&, const std::string& p) override { this->set_name(p); }
    // x (N, S, S, C) windows of tokens -> (N, side, side, C) cluster centres
    // (upstream's hard_labels, used only by its NaiveUnpooling, are not computed).
    Tensor<T> forward(const Tensor<T>& x, Trace<T>* tr = nullptr) const {
        const int64_t N = x.size(0), S = x.size(1), C = x.size(3), g = num_spixels_side;
        Tensor<T> out({N, g, g, C}, Tensor<T>::uninitialized);
        token_clustering_forward(out.data(), x.data(), N, S, C, g, n_iters, temperture, r, B{});
        this->trace(tr, out);
        return out;
    }
    // MACs: per window and iteration, the distances (K L C) and the weighted means (K L C).
    Shape describe(const Shape& in, ModuleTable& t, int depth) {
        const size_t row = t.open(*this, "TokenClusteringBlock", depth);
        const int64_t K = num_spixels_side * num_spixels_side, L = in[1] * in[2];
        const Shape out{in[0], num_spixels_side, num_spixels_side, in[3]};
        t.close(row, out, 2 * n_iters * in[0] * K * L * in[3]);
        return out;
    }
};

}  // namespace evsam
