// evsam segment: an EfficientViT Cityscapes / ADE20K segmenter on one image (upstream's evaluation
// preprocessing, bit for bit) -> a PNG of class indices at the image's size, and optionally the
// overlay in upstream's palette, the raw logits and per-class pixel fractions.
#include <iostream>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "evsam/class_tables.hpp"
#include "evsam/cls_seg.hpp"
#include "evsam/core/npy.hpp"
#include "model_args.hpp"

namespace evsam::tool {

// Named, not anonymous: the tool is a unity build (examples/CMakeLists.txt).
namespace cmd_segment {

template <class T>
int run_segment(const Args& a, const LoadedZooCheckpoint& lc) {
    const EfficientViTSegConfig& cfg = *lc.seg;
    const int64_t C = cfg.head.n_classes;
    EVSAM_CHECK(C <= 256, "segment: " + std::to_string(C) + " classes do not fit an 8-bit label PNG");
    const bool city = cfg.dataset == "cityscapes", ade = cfg.dataset == "ade20k";
    Image img;
    Tensor<T> x;
    if (a.has("image")) {
        if (!city && !ade)
            throw Error(
                "segment: the --config model names no dataset (cityscapes or ade20k), so there is no "
                "preprocessing for --image; give --input");
        img = load_image(a.str("image"));
        x = segment_preprocess<T>(img.data.data(), img.height, img.width, cfg.dataset);
    } else {
        x = npy_load_as<T>(a.str("input"));
        if (x.dim() != 4 || x.size(0) != 1 || x.size(1) != 3 || x.size(2) % 32 || x.size(3) % 32 || x.size(2) < 32 ||
            x.size(3) < 32)
            throw Error(a.str("input") +
                        ": expected a preprocessed tensor of shape (1, 3, H, W), H and W multiples of "
                        "32, got " +
                        shape_str(x.shape()));
    }
    // the image's size (labels are at the original size), or the --input tensor's
    const int64_t H = a.has("image") ? img.height : x.size(2), W = a.has("image") ? img.width : x.size(3);
    auto model = create_seg<T>(cfg);
    load_state_dict(*model, lc.ckpt, lc.title);
    const Tensor<T> logits = model->forward(x);  // (1, C, h / 8, w / 8)
    const std::vector<int32_t> label = segment_labels(logits, H, W);

    std::vector<uint8_t> png(label.size());
    std::vector<int64_t> count(static_cast<size_t>(C), 0);
    for (size_t i = 0; i < label.size(); ++i) {
        png[i] = static_cast<uint8_t>(label[i]);
        ++count[static_cast<size_t>(label[i])];
    }
    const auto& names = city ? cityscapes_classes() : ade ? ade20k_classes() : std::vector<std::string>{};
    const auto& colors = city ? cityscapes_colors() : ade ? ade20k_colors() : std::vector<std::array<uint8_t, 3>>{};
    auto name_of = [&](int64_t c) {
        return static_cast<size_t>(c) < names.size() ? names[static_cast<size_t>(c)] : "class " + std::to_string(c);
    };
    // every output is complete in memory first, then written (each atomically)
    Image overlay;
    if (a.has("overlay")) overlay = segment_overlay(img, label, colors);
    save_png(a.str("out"), png.data(), H, W, 1);
    if (a.has("overlay")) save_png(a.str("overlay"), overlay);
    if (a.has("logits")) npy_save(a.str("logits"), logits);
    if (a.has("json")) {
        nlohmann::ordered_json j;
        j["model"] = lc.model.name;
        j["dataset"] = cfg.dataset;
        j["image_size"] = {H, W};
        j["input_size"] = {x.size(2), x.size(3)};
        j["logits_size"] = {logits.size(2), logits.size(3)};
        nlohmann::ordered_json cls = nlohmann::ordered_json::array();
        for (int64_t c = 0; c < C; ++c)
            if (count[static_cast<size_t>(c)])
                cls.push_back({{"index", c},
                               {"name", name_of(c)},
                               {"pixels", count[static_cast<size_t>(c)]},
                               {"fraction", static_cast<double>(count[static_cast<size_t>(c)]) / (H * W)}});
        j["classes"] = cls;
        std::cout << j.dump() << "\n";
        return 0;
    }
    std::cerr << "evsam: " << lc.title << ": " << W << "x" << H << " -> input " << x.size(3) << "x" << x.size(2)
              << " -> logits " << logits.size(3) << "x" << logits.size(2) << " -> " << a.str("out") << "\n";
    return 0;
}

int run(const Args& a) {
    if (a.has("image") == a.has("input")) throw Error("segment: give exactly one of --image and --input");
    if (a.has("overlay") && !a.has("image")) throw Error("segment: --overlay needs --image (it draws on the image)");
    const std::string dtype = a.choice("dtype", "float", {"float", "double"});
    set_threads(a);
    const auto lc = open_zoo_checkpoint(a.str("weights"), a.str("model"), a.str("config"), ModelKind::seg, "segment");
    return dtype == "double" ? run_segment<double>(a, lc) : run_segment<float>(a, lc);
}

}  // namespace cmd_segment

Command segment_command() {
    using namespace cmd_segment;
    return {
        "segment",
        "an EfficientViT Cityscapes / ADE20K segmenter on one image: a PNG of class indices at the image's size; "
        "--overlay draws upstream's palette, --logits writes the raw (1,C,H/8,W/8) output, --json prints "
        "per-class pixel fractions",
        {weights_flag(), value("model", "NAME", "zoo key: seg-b1-cityscapes, seg-l2-ade20k, ... (default: detected)"),
         value("config", "JSON", "a model described in JSON (as validation/make_cls_seg_fixtures.py writes)"),
         value("image", "IMG", "image: PNG, JPEG or BMP"),
         value("input", "X.npy", "a preprocessed (1,3,H,W) tensor, e.g. from evsam preprocess"),
         required("out", "LABELS.png", "8-bit PNG of class indices (the image's size, or the --input tensor's)"),
         value("overlay", "OUT.png", "the labels drawn over the image in upstream's palette (opacity 0.5)"),
         value("logits", "L.npy", "the model's raw (1,C,H/8,W/8) output, before the resize"),
         toggle("json", "print per-class pixel counts and fractions as one JSON object"), dtype_flag(), threads_flag()},
        run};
}

}  // namespace evsam::tool
