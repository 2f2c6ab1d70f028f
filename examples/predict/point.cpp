// One foreground click in the middle of the image, three candidate masks (multimask).
#include "common.hpp"

int main(int argc, char** argv) {
    return example::run([&] {
        auto s = example::open(argc, argv);
        evsam::Predictor<float> predictor(*s.model);
        predictor.set_image(s.image);  // runs the image encoder once
        evsam::Prompt<float> prompt;
        prompt.points = {{s.image.width / 2.0, s.image.height / 2.0}};  // original-image pixels
        prompt.labels = {1};
        auto pred = predictor.predict(prompt, /*multimask_output=*/true);
        example::report("point", pred);
        evsam::save_png(s.out_prefix + "_point.png",
                        evsam::viz::overlay(s.image, pred.masks, prompt.points, prompt.labels, prompt.box));
    });
}
