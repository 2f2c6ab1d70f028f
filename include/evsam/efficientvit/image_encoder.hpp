// evsam: efficientvit/models/efficientvit/sam.py: class EfficientViTSamImageEncoder
//   backbone -> neck -> LayerNorm2d(256)  (eps 1e-6 after set_norm_eps)
#pragma once
#include "evsam/efficientvit/backbone.hpp"
#include "evsam/efficientvit/sam_neck.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct EfficientViTSamImageEncoder : Module<T, B> {
    EfficientViTLargeBackbone<T, B> backbone;
    SamNeck<T, B> neck;
    LayerNorm2d<T, B> norm;

    EfficientViTSamImageEncoder(LargeBackboneConfig b, SamNeckConfig n)
        : backbone(std::move(b)), neck(std::move(n)), norm(neck.cfg.out_dim) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        backbone.visit(v, p + "backbone.");
        neck.visit(v, p + "neck.");
        norm.visit(v, p + "norm.");
    }
};

}  // namespace evsam
