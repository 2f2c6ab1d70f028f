// evsam: efficientvit/models/efficientvit/sam.py: class EfficientViTSamImageEncoder
//   backbone -> neck -> LayerNorm2d(256)  (eps 1e-6 after set_norm_eps)
#pragma once
#include "evsam/efficientvit/backbone.hpp"
#include "evsam/efficientvit/sam_neck.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct EfficientViTSamImageEncoder;

struct EfficientViTSamImageEncoderConfig {
    LargeBackboneConfig backbone;
    SamNeckConfig neck;
    static constexpr bool on_cuda = true;  // the CUDA backend has its ops (backend/cuda)
    template <class T, class B>
    using Module = EfficientViTSamImageEncoder<T, B>;
};

template <class T, class B>
struct EfficientViTSamImageEncoder : Module<T, B> {
    using Config = EfficientViTSamImageEncoderConfig;
    EfficientViTLargeBackbone<T, B> backbone;
    SamNeck<T, B> neck;
    LayerNorm2d<T, B> norm;

    explicit EfficientViTSamImageEncoder(const Config& c)
        : backbone(c.backbone), neck(c.neck), norm(neck.cfg.out_dim) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        backbone.visit(v, p + "backbone.");
        neck.visit(v, p + "neck.");
        norm.visit(v, p + "norm.");
    }
    // The module tree for an (N, 3, R, R) input.
    void describe(const Shape& in, ModuleTable& t, int depth = 0) {
        size_t r = t.open(*this, "EfficientViTSamImageEncoder", depth);
        backbone.describe(in, t, depth + 1);
        std::vector<Shape> stage_shapes;  // read back from the stage rows just added
        for (auto& row : t.rows)
            if (row.depth == depth + 2 && row.name.rfind(backbone.name + ".stages.", 0) == 0)
                stage_shapes.push_back(row.out);
        Shape out = neck.describe(stage_shapes, t, depth + 1);
        size_t rn = t.open(norm, "LayerNorm2d", depth + 1);
        t.close(rn, out);
        t.close(r, out);
    }
    // x: (N, 3, R, R) preprocessed image -> (N, out_dim, 64, 64) image embedding.
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const {
        EVSAM_CHECK(x.dim() == 4 && x.size(1) == backbone.cfg.in_channels,
                    "image encoder: expected input (N, 3, R, R), got " + shape_str(x.shape()));
        std::vector<TensorOf<T, B>> feed = backbone.forward(x, tr);  // feed_dict = self.backbone(x)
        TensorOf<T, B> out = neck.forward(feed, tr);                 // feed_dict = self.neck(feed_dict)
        norm.forward_(out);                                          // output = self.norm(feed_dict["sam_encoder"])
        this->trace(tr, out);
        return out;
    }
};

}  // namespace evsam
