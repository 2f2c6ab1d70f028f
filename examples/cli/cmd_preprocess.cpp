// evsam preprocess: the model's exact input tensor, as upstream's transform makes it
// (evsam/model_input.hpp: preprocess_for_model), bit for bit.
#include <iostream>

#include "command.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/core/npy.hpp"
#include "evsam/model_input.hpp"

namespace evsam::tool {

// Named, not anonymous: the tool is a unity build (examples/CMakeLists.txt).
namespace cmd_preprocess {

int run(const Args& a) {
    const ModelRef m = resolve_model(a.str("model"));
    if (m.kind == ModelKind::sam && (a.has("resolution") || a.has("crop-ratio")))
        throw Error("preprocess: --resolution and --crop-ratio apply to classifiers (a SAM model's size is fixed)");
    if (m.kind == ModelKind::seg && (a.has("resolution") || a.has("crop-ratio")))
        throw Error(
            "preprocess: --resolution and --crop-ratio apply to classifiers (a segmenter's size follows "
            "its dataset's evaluation transform)");
    Image img = load_image(a.str("image"));
    int64_t R = 0;
    double crop = 0;
    if (m.kind == ModelKind::cls) {
        const EfficientViTClsConfig cfg = find_cls(m.name).config();
        R = m.resolution ? m.resolution : cfg.resolutions.front();
        if (a.has("resolution")) R = a.integer("resolution", R, 32, 4096);
        crop = a.real("crop-ratio", cfg.crop_ratio, 0.05, 1.0);
    }
    std::string how;
    const Tensor<float> x = preprocess_for_model<float>(m, img.data.data(), img.height, img.width, R, crop, &how);
    npy_save(a.str("out"), x);
    std::cerr << "evsam: " << a.str("image") << " " << img.width << "x" << img.height << " -> " << how << " -> "
              << a.str("out") << "\n";
    return 0;
}

}  // namespace cmd_preprocess

Command preprocess_command() {
    using namespace cmd_preprocess;
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
