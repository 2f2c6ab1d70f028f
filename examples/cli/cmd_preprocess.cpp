// evsam preprocess: the model's exact input tensor, as upstream's transform makes it:
//   SAM models: EfficientViTSam.transform / Sam.preprocess (resize the long side, normalise, pad);
//   classifiers: the ImageNet eval transform (bicubic Resize(ceil(R / crop_ratio)), CenterCrop(R),
//     normalise); segmenters: the Cityscapes / ADE20K eval resize (cv2 INTER_CUBIC), normalise.
// All bit for bit.
#include <iostream>

#include "command.hpp"
#include "evsam/cls_seg.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/core/npy.hpp"
#include "evsam/core/preprocess.hpp"
#include "evsam/registry.hpp"

namespace evsam::tool {

namespace {

int run(const Args& a) {
    const ModelRef m = resolve_model(a.str("model"));
    if (m.kind == ModelKind::sam && (a.has("resolution") || a.has("crop-ratio")))
        throw Error("preprocess: --resolution and --crop-ratio apply to classifiers (a SAM model's size is fixed)");
    if (m.kind == ModelKind::seg && (a.has("resolution") || a.has("crop-ratio")))
        throw Error(
            "preprocess: --resolution and --crop-ratio apply to classifiers (a segmenter's size follows "
            "its dataset's evaluation transform)");
    Image img = load_image(a.str("image"));
    Tensor<float> x;
    std::string how;
    if (m.kind == ModelKind::cls) {
        const EfficientViTClsConfig cfg = find_cls(m.name).config();
        int64_t R = m.resolution ? m.resolution : cfg.resolutions.front();
        if (a.has("resolution")) R = a.integer("resolution", R, 32, 4096);
        const double crop = a.real("crop-ratio", cfg.crop_ratio, 0.05, 1.0);
        x = classify_preprocess<float>(img.data.data(), img.height, img.width, R, crop);
        how = "resized (bicubic) to ceil(" + std::to_string(R) + " / " + std::to_string(crop) + "), cropped to " +
              std::to_string(R) + "x" + std::to_string(R);
    } else if (m.kind == ModelKind::seg) {
        const EfficientViTSegConfig cfg = find_seg(m.name).config();
        x = segment_preprocess<float>(img.data.data(), img.height, img.width, cfg.dataset);
        how = "resized (cv2 INTER_CUBIC, " + cfg.dataset + ") to " + std::to_string(x.size(3)) + "x" +
              std::to_string(x.size(2));
    } else {
        const ImageTransform tf = config_transform(find_model(m.name).config());
        x = preprocess_image<float>(img.data.data(), img.height, img.width, tf);
        const auto [h, w] = get_preprocess_shape(img.height, img.width, tf.resolution);
        how = "resized " + std::to_string(w) + "x" + std::to_string(h) + ", padded to " +
              std::to_string(tf.resolution) + "x" + std::to_string(tf.resolution);
    }
    npy_save(a.str("out"), x);
    std::cerr << "evsam: " << a.str("image") << " " << img.width << "x" << img.height << " -> " << how << " -> "
              << a.str("out") << "\n";
    return 0;
}

}  // namespace

Command preprocess_command() {
    return {"preprocess",
            "the model's float32 input tensor, exactly as upstream's preprocessing makes it: (1,3,R,R) for SAM models "
            "and classifiers, (1,3,H,W) for segmenters",
            {required("image", "IMG", "image: PNG, JPEG or BMP"),
             required("model", "NAME", "model name (SAM's, or a classifier's / segmenter's zoo key)"),
             required("out", "X.npy", "the input tensor"),
             value("resolution", "R", "classifiers: input resolution (default: the name's -rNNN, else 224)"),
             value("crop-ratio", "F",
                   "classifiers: Resize(ceil(R / F)) then CenterCrop(R) (default 0.95 for b1, "
                   "1.0 otherwise)")},
            run};
}

}  // namespace evsam::tool
