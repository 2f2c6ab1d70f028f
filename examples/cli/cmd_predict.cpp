// evsam predict: point / box / mask prompts on one image -> masks at the original size, as
// upstream's predictor returns them.
#include <cstdio>

#include "command.hpp"
#include "evsam/core/file_io.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/core/npy.hpp"
#include "evsam/nn/state_dict.hpp"
#include "evsam/predictor.hpp"
#include "evsam/viz.hpp"
#include "embedding_meta.hpp"
#include "model_args.hpp"
#include "prompt_args.hpp"

namespace evsam::tool {

// Named, not anonymous: the tool is a unity build (examples/CMakeLists.txt).
namespace cmd_predict {

template <class T>
int run_predict(const Args& a, const LoadedCheckpoint& lc, const std::vector<Prompt<T>>& prompts) {
    Image img = load_image(a.str("image"));
    auto model = create_sam<T, backend::cpu>(lc.cfg);
    load_state_dict(*model, lc.ckpt, lc.model);
    Predictor<T> predictor(*model);
    if (a.has("embedding")) {  // evsam embed's output instead of running the encoder, once checked
        const std::string e = a.str("embedding");
        const EmbeddingMeta want =
            embedding_meta_of(lc.model, hourglass_summary(lc.cfg), a.choice("dtype", "float", {"float", "double"}),
                              a.str("weights"), img.height, img.width);
        check_embedding_meta(e, load_embedding_meta(e), want);
        predictor.set_image_embedding(npy_load_as<T>(e), img.height, img.width);
    } else {
        predictor.set_image(img);
    }
    const bool logits = a.has("logits"), batch = prompts.size() > 1;
    // one prompt set: (C, H, W) as predict returns it; several (one per --box): (B, C, H, W)
    BatchPrediction<T> pred = predictor.predict_batch(prompts, !a.has("single-mask"), logits);
    if (!batch)
        for (Tensor<T>* t : {&pred.masks, &pred.iou_predictions, &pred.low_res_logits})
            t->reshape_(Shape(t->shape().begin() + 1, t->shape().end()));
    if (logits)
        npy_save(a.str("out-masks"), pred.masks.template cast<float>());
    else
        npy_save(a.str("out-masks"), pred.masks.template cast<uint8_t>());
    if (a.has("out-iou")) npy_save(a.str("out-iou"), pred.iou_predictions.template cast<float>());
    if (a.has("out-lowres")) npy_save(a.str("out-lowres"), pred.low_res_logits.template cast<float>());
    if (a.has("overlay")) {
        const int64_t H = img.height, W = img.width;
        Tensor<T> all = pred.masks;  // every prompt's masks, each in its own colour
        all.reshape_({all.numel() / (H * W), H, W});
        std::vector<std::array<double, 4>> boxes;
        for (const auto& p : prompts)
            if (p.box) boxes.push_back(*p.box);
        save_png(a.str("overlay"), viz::overlay(img, all, prompts[0].points, prompts[0].labels, boxes));
    }
    const int64_t C = pred.iou_predictions.size(pred.iou_predictions.dim() - 1);
    for (int64_t i = 0; i < pred.iou_predictions.numel(); ++i) {
        const std::string box = batch ? "box " + std::to_string(i / C) + " " : "";
        std::fprintf(stderr, "evsam: %smask %lld predicted IoU %.4f\n", box.c_str(), static_cast<long long>(i % C),
                     static_cast<double>(pred.iou_predictions[i]));
    }
    return 0;
}

int run(const Args& a) {
    const std::string dtype = a.choice("dtype", "float", {"float", "double"});
    const BackendChoice be = backend_flags(a, "predict", false);
    if (dtype == "double" && be.opt.precision == "fast") throw Error("predict: --precision fast needs --dtype float");
    set_threads(a);
    for (const char* f : {"out-masks", "out-iou", "out-lowres", "overlay"})  // fail before any work
        if (a.has(f)) detail::check_write_target(a.str(f));
    auto open = [&a] {
        auto lc = open_checkpoint(a.str("weights"), a.str("model"), a.str("config"));
        apply_hourglass_flags(a, lc, "predict");
        return lc;
    };
    if (dtype == "double") {
        auto prompts = parse_prompts<double>(a);  // prompts first: a bad prompt fails before loading weights
        return run_predict<double>(a, open(), prompts);
    }
    auto prompts = parse_prompts<float>(a);
    return run_predict<float>(a, open(), prompts);
}

}  // namespace cmd_predict

Command predict_command() {
    using namespace cmd_predict;
    return {"predict",
            "masks at the original size (uint8 0/1, or float32 logits with --logits); 3 masks unless --single-mask; "
            "several --box: one prompt set each, outputs (B, ...)",
            predict_flag_specs(), run};
}

}  // namespace evsam::tool
