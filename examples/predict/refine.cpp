// Iterative refinement: click, keep the best mask's low-res logits, then click again with
// that mask as mask_input (as in SAM's predictor notebook).
#include "common.hpp"

int main(int argc, char** argv) {
    return example::run([&] {
        auto s = example::open(argc, argv);
        evsam::Predictor<float> predictor(*s.model);
        predictor.set_image(s.image);
        const double W = static_cast<double>(s.image.width), H = static_cast<double>(s.image.height);
        evsam::Prompt<float> prompt;
        prompt.points = {{W / 2, H / 2}};
        prompt.labels = {1};
        auto first = predictor.predict(prompt, /*multimask_output=*/true);
        example::report("first click", first);
        int64_t best = 0;  // the mask with the highest predicted IoU
        for (int64_t i = 1; i < first.iou_predictions.numel(); ++i)
            if (first.iou_predictions[i] > first.iou_predictions[best]) best = i;
        const int64_t n = 256 * 256;
        prompt.mask_input = evsam::Tensor<float>({1, 256, 256});
        std::copy(first.low_res_logits.data() + best * n, first.low_res_logits.data() + (best + 1) * n,
                  prompt.mask_input.data());
        prompt.points.push_back({W / 3, H / 3});  // a second, background click
        prompt.labels.push_back(0);
        auto second = predictor.predict(prompt, /*multimask_output=*/false);
        example::report("refined", second);
        evsam::save_png(s.out_prefix + "_refine.png",
                        evsam::viz::overlay(s.image, second.masks, prompt.points, prompt.labels, std::nullopt));
    });
}
