// Many boxes against one image embedding in a single decoder pass (how box-prompted COCO
// evaluation runs): predict_torch with boxes already mapped to the 1024 frame.
#include "common.hpp"

int main(int argc, char** argv) {
    return example::run([&] {
        auto s = example::open(argc, argv);
        evsam::Predictor<float> predictor(*s.model);
        predictor.set_image(s.image);
        const double W = static_cast<double>(s.image.width), H = static_cast<double>(s.image.height);
        const std::vector<std::array<double, 4>> boxes = {{0, 0, W / 2, H / 2},
                                                          {W / 2, 0, W - 1, H / 2},
                                                          {0, H / 2, W / 2, H - 1},
                                                          {W / 4, H / 4, 3 * W / 4, 3 * H / 4}};
        evsam::Tensor<float> b({static_cast<int64_t>(boxes.size()), 4});
        for (size_t i = 0; i < boxes.size(); ++i) {  // apply_boxes: both corners to the 1024 frame
            auto p0 = predictor.apply_coords(boxes[i][0], boxes[i][1]),
                 p1 = predictor.apply_coords(boxes[i][2], boxes[i][3]);
            b[4 * i] = p0[0], b[4 * i + 1] = p0[1], b[4 * i + 2] = p1[0], b[4 * i + 3] = p1[1];
        }
        auto out = predictor.predict_torch(nullptr, nullptr, &b, nullptr, /*multimask_output=*/false);
        const int64_t hw = out.masks.size(2) * out.masks.size(3);
        for (size_t i = 0; i < boxes.size(); ++i) {
            int64_t area = 0;
            for (int64_t k = 0; k < hw; ++k) area += out.masks[static_cast<int64_t>(i) * hw + k] > 0;
            std::printf("box %zu: predicted IoU %.3f  area %lld px\n", i,
                        static_cast<double>(out.iou_predictions[static_cast<int64_t>(i)]),
                        static_cast<long long>(area));
        }
    });
}
