// evsam: any registered model's exact input tensor from an RGB image, as upstream's transform makes
// it (what `evsam preprocess --model NAME` writes, and evsam.preprocess in Python):
//   SAM models: EfficientViTSam.transform / Sam.preprocess (resize the long side, normalise, pad);
//   classifiers: the ImageNet eval transform (bicubic Resize(ceil(R / crop_ratio)), CenterCrop(R),
//     normalise); segmenters: the Cityscapes / ADE20K eval resize (cv2 INTER_CUBIC), normalise.
// All bit for bit.
#pragma once
#include <string>

#include "evsam/cls_seg.hpp"
#include "evsam/core/preprocess.hpp"
#include "evsam/registry.hpp"

namespace evsam {

// resolution / crop_ratio: a classifier's (0: the name's -rNNN, else the zoo's first resolution; the
// zoo's crop ratio); ignored for other models. how, if given, says what was done in one phrase.
template <class T>
Tensor<T> preprocess_for_model(const ModelRef& m, const uint8_t* rgb, int64_t H, int64_t W, int64_t resolution = 0,
                               double crop_ratio = 0, std::string* how = nullptr) {
    std::string said;
    Tensor<T> x;
    if (m.kind == ModelKind::cls) {
        const EfficientViTClsConfig cfg = find_cls(m.name).config();
        const int64_t R = resolution ? resolution : m.resolution ? m.resolution : cfg.resolutions.front();
        const double crop = crop_ratio > 0 ? crop_ratio : cfg.crop_ratio;
        x = classify_preprocess<T>(rgb, H, W, R, crop);
        said = "resized (bicubic) to ceil(" + std::to_string(R) + " / " + std::to_string(crop) + "), cropped to " +
               std::to_string(R) + "x" + std::to_string(R);
    } else if (m.kind == ModelKind::seg) {
        const EfficientViTSegConfig cfg = find_seg(m.name).config();
        x = segment_preprocess<T>(rgb, H, W, cfg.dataset);
        said = "resized (cv2 INTER_CUBIC, " + cfg.dataset + ") to " + std::to_string(x.size(3)) + "x" +
               std::to_string(x.size(2));
    } else {
        const ImageTransform tf = config_transform(find_model(m.name).config());
        x = preprocess_image<T>(rgb, H, W, tf);
        const auto [h, w] = get_preprocess_shape(H, W, tf.resolution);
        said = "resized " + std::to_string(w) + "x" + std::to_string(h) + ", padded to " +
               std::to_string(tf.resolution) + "x" + std::to_string(tf.resolution);
    }
    if (how) *how = said;
    return x;
}

}  // namespace evsam
