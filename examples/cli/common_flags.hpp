// evsam tool: the flags several commands take, each spelled and documented once.
#pragma once
#include <vector>

#include "args.hpp"

namespace evsam::tool {

inline FlagSpec weights_flag(bool is_required = true) {
    const char* doc = "checkpoint: .pt (torch.save) or .safetensors";
    return is_required ? required("weights", "FILE", doc) : value("weights", "FILE", doc);
}
inline FlagSpec model_flag() {
    return value("model", "NAME", "model name (default: detected from the checkpoint's keys and shapes)");
}
inline FlagSpec config_flag() {
    return value("config", "JSON",
                 "a model described in JSON (as validation/make_fixtures.py writes), instead of --model");
}
inline FlagSpec threads_flag() { return value("threads", "N", "OpenMP threads (results are the same for any N)"); }
inline FlagSpec dtype_flag() { return value("dtype", "float|double", "compute type (double: the fp64 oracle)"); }
// --backend cpu|cuda [--precision strict|fast] [--batch N]
inline std::vector<FlagSpec> backend_flag_specs() {
    return {value("backend", "cpu|cuda", "where the image encoder runs (cuda: a build with -DEVSAM_WITH_CUDA=ON)"),
            value("precision", "strict|fast",
                  "strict (fp32; CUDA: TF32 off) or fast (CPU: bf16 GEMMs, needs AVX512_BF16; CUDA: TF32)"),
            value("batch", "N", "images per CUDA encoder call")};
}

// Expedit-SAM's hourglass on SAM's ViT models (HourglassImageEncoderViT's hourglass_* arguments; the
// defaults are its class defaults). Off unless --hourglass-location is given.
inline std::vector<FlagSpec> hourglass_flag_specs() {
    return {value("hourglass-location", "L", "Expedit-SAM: cluster the tokens before ViT block L (default: off)"),
            value("hourglass-clusters", "K", "clusters per window, a perfect square (default 100)"),
            value("hourglass-iters", "N", "soft k-means iterations (default 5)"),
            value("hourglass-temperature", "T", "temperature of the clustering and reconstruction (default 0.01)"),
            value("hourglass-window", "W", "odd neighbourhood of initial clusters a token may join (default 5)"),
            value("hourglass-k", "K", "nearest centres per reconstructed token (default 20)")};
}

}  // namespace evsam::tool
