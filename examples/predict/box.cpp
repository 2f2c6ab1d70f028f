// A box prompt (the middle half of the image): one unambiguous mask.
#include "common.hpp"

int main(int argc, char** argv) {
    return example::run([&] {
        auto s = example::open(argc, argv);
        evsam::Predictor<float> predictor(*s.model);
        predictor.set_image(s.image);
        const double W = static_cast<double>(s.image.width), H = static_cast<double>(s.image.height);
        evsam::Prompt<float> prompt;
        prompt.box = std::array<double, 4>{W / 4, H / 4, 3 * W / 4, 3 * H / 4};  // x0, y0, x1, y1
        auto pred = predictor.predict(prompt, /*multimask_output=*/false);
        example::report("box", pred);
        evsam::save_png(s.out_prefix + "_box.png",
                        evsam::viz::overlay(s.image, pred.masks, prompt.points, prompt.labels, prompt.box));
    });
}
