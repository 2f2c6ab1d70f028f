// evsam classify: an EfficientViT ImageNet classifier on one image (upstream's evaluation
// preprocessing, bit for bit) -> the top-k classes with their names and probabilities.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "evsam/class_tables.hpp"
#include "evsam/cls_seg.hpp"
#include "evsam/core/npy.hpp"
#include "model_args.hpp"

namespace evsam::tool {

// Named, not anonymous: the tool is a unity build (examples/CMakeLists.txt).
namespace cmd_classify {

// The resolution: --resolution, else the name's -rNNN, else the zoo's smallest; and the crop ratio.
std::pair<int64_t, double> cls_resolution(const Args& a, const LoadedZooCheckpoint& lc) {
    int64_t R = lc.model.resolution ? lc.model.resolution : lc.cls->resolutions.front();
    if (a.has("resolution")) R = a.integer("resolution", R, 32, 4096);
    const double crop = a.has("crop-ratio") ? a.real("crop-ratio", lc.cls->crop_ratio, 0.05, 1.0) : lc.cls->crop_ratio;
    return {R, crop};
}

template <class T>
int run_classify(const Args& a, const LoadedZooCheckpoint& lc) {
    const auto [R, crop] = cls_resolution(a, lc);
    Tensor<T> x;
    if (a.has("image")) {
        Image img = load_image(a.str("image"));
        x = classify_preprocess<T>(img.data.data(), img.height, img.width, R, crop);
    } else {
        x = npy_load_as<T>(a.str("input"));
        if (x.dim() != 4 || x.size(0) != 1 || x.size(1) != 3 || x.size(2) < 32 || x.size(3) < 32)
            throw Error(a.str("input") + ": expected a preprocessed tensor of shape (1, 3, H, W), H and W >= 32, got " +
                        shape_str(x.shape()));
    }
    const int64_t k = a.integer("top-k", 5, 1, lc.cls->head.n_classes);
    auto model = create_cls<T>(*lc.cls);
    load_state_dict(*model, lc.ckpt, lc.title);
    const Tensor<T> logits = model->forward(x);
    const std::vector<ClassScore> top = top_k(logits, 0, k);
    const auto& names = imagenet_classes();
    auto name_of = [&](int64_t i) {
        return lc.cls->head.n_classes == 1000 ? names[static_cast<size_t>(i)] : "class " + std::to_string(i);
    };
    if (a.has("logits")) npy_save(a.str("logits"), logits);
    if (a.has("json")) {
        nlohmann::ordered_json j;
        j["model"] = lc.model.name;
        j["resolution"] = x.size(2);
        if (a.has("image")) j["crop_ratio"] = crop;
        nlohmann::ordered_json rows = nlohmann::ordered_json::array();
        for (const auto& s : top)
            rows.push_back({{"index", s.index}, {"name", name_of(s.index)}, {"prob", s.prob}, {"logit", s.logit}});
        j["top_k"] = rows;
        std::cout << j.dump() << "\n";
        return 0;
    }
    std::cout << lc.title << " at " << x.size(2) << "x" << x.size(3);
    if (a.has("image")) std::cout << " (crop ratio " << crop << ")";
    std::cout << ": top " << k << " of " << lc.cls->head.n_classes << "\n";
    for (size_t i = 0; i < top.size(); ++i) {
        char line[256];
        std::snprintf(line, sizeof line, "%2zu  %4lld  %-32s %8.4f  (logit %.4f)\n", i + 1,
                      static_cast<long long>(top[i].index), name_of(top[i].index).c_str(), top[i].prob, top[i].logit);
        std::cout << line;
    }
    return 0;
}

int run(const Args& a) {
    if (a.has("image") == a.has("input")) throw Error("classify: give exactly one of --image and --input");
    if (a.has("input") && (a.has("resolution") || a.has("crop-ratio")))
        throw Error("classify: --resolution and --crop-ratio apply to --image (an --input tensor is already sized)");
    const std::string dtype = a.choice("dtype", "float", {"float", "double"});
    set_threads(a);
    const auto lc = open_zoo_checkpoint(a.str("weights"), a.str("model"), a.str("config"), ModelKind::cls, "classify");
    return dtype == "double" ? run_classify<double>(a, lc) : run_classify<float>(a, lc);
}

}  // namespace cmd_classify

Command classify_command() {
    using namespace cmd_classify;
    return {
        "classify",
        "an EfficientViT ImageNet classifier (b0-b3, l1-l3) on one image: the top-k classes, names and "
        "probabilities; --logits writes the (1,1000) logits",
        {weights_flag(), value("model", "NAME", "zoo key: b1-r224, l3-r384, ... (default: detected)"),
         value("config", "JSON", "a model described in JSON (as validation/make_cls_seg_fixtures.py writes)"),
         value("image", "IMG", "image: PNG, JPEG or BMP"),
         value("input", "X.npy", "a preprocessed (1,3,R,R) tensor, e.g. from evsam preprocess"),
         value("resolution", "R", "input resolution (default: the --model name's -rNNN, else the zoo's smallest, 224)"),
         value("crop-ratio", "F", "Resize(ceil(R / F)) then CenterCrop(R) (default: 0.95 for b1, 1.0 otherwise)"),
         value("top-k", "K", "classes to print (default 5)"), value("logits", "L.npy", "the (1,1000) logits"),
         toggle("json", "print one JSON object"), dtype_flag(), threads_flag()},
        run};
}

}  // namespace evsam::tool
