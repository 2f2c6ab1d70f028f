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

}  // namespace evsam::tool
