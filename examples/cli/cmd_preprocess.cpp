// evsam preprocess: the model's exact input tensor, as upstream's transform makes it
// (EfficientViTSam.transform: SamResize -> ToTensor -> Normalize -> SamPad, bit for bit).
#include <iostream>

#include "command.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/core/npy.hpp"
#include "evsam/core/preprocess.hpp"
#include "evsam/registry.hpp"

namespace evsam::tool {

namespace {

int run(const Args& a) {
    const ImageTransform tf = config_transform(find_model(a.str("model")).config());
    Image img = load_image(a.str("image"));
    Tensor<float> x = preprocess_image<float>(img.data.data(), img.height, img.width, tf);
    npy_save(a.str("out"), x);
    const auto [h, w] = get_preprocess_shape(img.height, img.width, tf.resolution);
    std::cerr << "evsam: " << a.str("image") << " " << img.width << "x" << img.height << " -> resized " << w << "x" << h
              << ", padded to " << tf.resolution << "x" << tf.resolution << " -> " << a.str("out") << "\n";
    return 0;
}

}  // namespace

Command preprocess_command() {
    return {"preprocess",
            "the model's (1,3,R,R) float32 input tensor, exactly as upstream's preprocessing makes it",
            {required("image", "IMG", "image: PNG, JPEG or BMP"), required("model", "NAME", "model name"),
             required("out", "X.npy", "the input tensor")},
            run};
}

}  // namespace evsam::tool
