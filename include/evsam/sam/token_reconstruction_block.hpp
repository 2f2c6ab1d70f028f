// evsam: Expedit-SAM, segment_anything/modeling/hourglass_image_encoder.py: class
// TokenReconstructionBlock (each window's tokens rebuilt from its clustered tokens, weighted by the
// k nearest centres: exp(-temperture * distance^2), L2-normalised). No parameters. The loops are
// ops/token_clustering.hpp's. Upstream's State object carries feat_before_pooling and
// feat_after_pooling from the clustering step; here they are forward's arguments.
#pragma once
#include "evsam/nn/module.hpp"
#include "evsam/ops/token_clustering.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct TokenReconstructionBlock : Module<T, B> {
    int64_t k;
    double temperture;

    TokenReconstructionBlock(int64_t k_, double temperature) : k(k_), temperture(temperature) {}
    void visit(ParamVisitor<T>&, const std::string& p) override { this->set_name(p); }
    // x (N, K, C) clustered tokens after the last block; feat (N, L, C) the tokens before
    // clustering; sfeat (N, K, C) the cluster centres -> (N, L, C)
    Tensor<T> forward(const Tensor<T>& x, const Tensor<T>& feat, const Tensor<T>& sfeat,
                      Trace<T>* tr = nullptr) const {
        const int64_t N = feat.size(0), L = feat.size(1), K = x.size(1), C = x.size(2);
        Tensor<T> out({N, L, C}, Tensor<T>::uninitialized);
        token_reconstruction_forward(out.data(), x.data(), feat.data(), sfeat.data(), N, L, K, C, k, temperture, B{});
        this->trace(tr, out);
        return out;
    }
    // MACs: the distances (L K C) and the weighted sums (L K C), per window.
    Shape describe(const Shape& x, const Shape& feat, ModuleTable& t, int depth) {
        const size_t row = t.open(*this, "TokenReconstructionBlock", depth);
        const Shape out{feat[0], feat[1], x[2]};
        t.close(row, out, 2 * feat[0] * feat[1] * x[1] * x[2]);
        return out;
    }
};

}  // namespace evsam
