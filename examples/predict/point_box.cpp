// A box plus a background click inside it: carve a region out of the box's mask.
#include "common.hpp"

int main(int argc, char** argv) {
    return example::run([&] {
        auto s = example::open(argc, argv);
        evsam::Predictor<float> predictor(*s.model);
        predictor.set_image(s.image);
        const double W = static_cast<double>(s.image.width), H = static_cast<double>(s.image.height);
        evsam::Prompt<float> prompt;
        prompt.box = std::array<double, 4>{W / 5, H / 5, 4 * W / 5, 4 * H / 5};
        prompt.points = {{W / 2, H / 2}};
        prompt.labels = {0};  // background point
        auto pred = predictor.predict(prompt, /*multimask_output=*/false);
        example::report("point+box", pred);
        evsam::save_png(s.out_prefix + "_point_box.png",
                        evsam::viz::overlay(s.image, pred.masks, prompt.points, prompt.labels, prompt.box));
    });
}
