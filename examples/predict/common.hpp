// Shared by the predictor examples: load a checkpoint into a model and an image, print masks.
// Usage of every example: <example> WEIGHTS.pt IMAGE.png [OUT_PREFIX]
#pragma once
#include <evsam/evsam.hpp>
#include <evsam/viz.hpp>

#include <cstdio>
#include <memory>
#include <string>

namespace example {

struct Session {
    std::unique_ptr<evsam::SamBase<float>> model;  // any registered model
    evsam::Image image;
    std::string out_prefix;
};

// Loads weights (the model detected from the keys) and the image; throws evsam::Error on bad input.
inline Session open(int argc, char** argv) {
    if (argc < 3) throw evsam::Error(std::string("usage: ") + argv[0] + " WEIGHTS.pt IMAGE.png [OUT_PREFIX]");
    auto ckpt = evsam::Checkpoint::open(argv[1]);
    const std::string name = evsam::detect_model(ckpt);
    Session s{evsam::create_sam<float>(name), evsam::load_image(argv[2]), argc > 3 ? argv[3] : "out"};
    evsam::load_state_dict(*s.model, ckpt, name);
    return s;
}

inline void report(const char* what, const evsam::Prediction<float>& p) {
    for (int64_t i = 0; i < p.iou_predictions.numel(); ++i) {
        int64_t area = 0;
        const int64_t hw = p.masks.size(1) * p.masks.size(2);
        for (int64_t k = 0; k < hw; ++k) area += p.masks[i * hw + k] > 0;
        std::printf("%s: mask %lld  predicted IoU %.3f  area %lld px\n", what, static_cast<long long>(i),
                    static_cast<double>(p.iou_predictions[i]), static_cast<long long>(area));
    }
}

template <class F>
int run(F&& body) {
    try {
        body();
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}

}  // namespace example
