// evsam tool: the checkpoint and backend flags (model_args.hpp).
#include "model_args.hpp"

#include <climits>
#include <cstdint>
#include <cstdio>

namespace evsam::tool {

BackendChoice backend_flags(const Args& a, const std::string& cmd, bool cuda_supported) {
    BackendChoice b;
    b.cuda = a.choice("backend", "cpu", {"cpu", "cuda"}) == "cuda";
    b.opt.precision = a.choice("precision", "strict", {"strict", "fast"});
    b.opt.batch = static_cast<int>(a.integer("batch", 1, 1, 4096));
    if (!b.cuda && a.has("batch")) throw Error(cmd + ": --batch applies to --backend cuda only");
    // on the CPU, --precision fast rounds every GEMM's operands to bf16 (refused without AVX512_BF16)
    if (!b.cuda) set_cpu_precision(precision_from_name(b.opt.precision));
    if (b.cuda && !cuda_built()) no_cuda();
    if (b.cuda && !cuda_supported)
        throw Error(cmd +
                    " --backend cuda: the CUDA backend runs the image encoder only so far (embed, bench); "
                    "the prompt encoder and mask decoder have no CUDA ops yet");
    return b;
}

void apply_hourglass_flags(const Args& a, LoadedCheckpoint& lc, const std::string& cmd) {
    const char* const names[] = {"hourglass-location",    "hourglass-clusters", "hourglass-iters",
                                 "hourglass-temperature", "hourglass-window",   "hourglass-k"};
    std::string given;
    for (const char* n : names)
        if (a.has(n) && given.empty()) given = n;
    if (given.empty()) return;
    if (!a.has("hourglass-location"))
        throw Error(cmd + ": --" + given + " needs --hourglass-location (the hourglass is off without it)");
    auto* vit = std::get_if<SamViTConfig>(&lc.cfg);
    if (!vit) throw Error(cmd + ": --hourglass-* apply to SAM's ViT models (vit_b, vit_l, vit_h), not " + lc.model);
    HourglassConfig h;
    h.clustering_location = a.integer("hourglass-location", h.clustering_location, 0, INT32_MAX);
    h.num_cluster = a.integer("hourglass-clusters", h.num_cluster, 1, INT32_MAX);
    h.cluster_iters = a.integer("hourglass-iters", h.cluster_iters, 0, 1000);
    h.temperture = a.real("hourglass-temperature", h.temperture, 0, 1e9);
    h.cluster_window_size = a.integer("hourglass-window", h.cluster_window_size, 1, INT32_MAX);
    h.reconstruction_k = a.integer("hourglass-k", h.reconstruction_k, 1, INT32_MAX);
    const auto& e = vit->image_encoder;
    const std::string problem = hourglass_problem(h, e.depth, e.window_size, HourglassNames::flags);
    if (!problem.empty()) throw Error(cmd + ": " + problem + " (" + lc.model + ")");
    vit->image_encoder.hourglass = h;
}

std::string hourglass_summary(const AnySamConfig& cfg) {
    const auto* vit = std::get_if<SamViTConfig>(&cfg);
    if (!vit || !vit->image_encoder.hourglass.on()) return "";
    const HourglassConfig& h = vit->image_encoder.hourglass;
    char buf[200];
    std::snprintf(buf, sizeof buf, "location %lld clusters %lld iters %lld temperature %g window %lld k %lld",
                  static_cast<long long>(h.clustering_location), static_cast<long long>(h.num_cluster),
                  static_cast<long long>(h.cluster_iters), h.temperture, static_cast<long long>(h.cluster_window_size),
                  static_cast<long long>(h.reconstruction_k));
    return buf;
}

}  // namespace evsam::tool
