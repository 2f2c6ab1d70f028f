// evsam bench: medians of the encoder, one decoder prompt and (--amg) segment everything; on
// cuda, the encoder per batch of --batch images.
#include <omp.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "bench.hpp"
#include "command.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/nn/state_dict.hpp"
#include "model_args.hpp"

namespace evsam::tool {

namespace {

int run(const Args& a) {
    const BackendChoice be = backend_flags(a, "bench", true);
    const int repeat = static_cast<int>(a.integer("repeat", 3, 1, 1000));
    set_threads(a);
    const Image img = a.has("image") ? load_image(a.str("image")) : bench_test_image();
    auto lc = open_checkpoint(a.str("weights"), a.str("model"), a.str("config"));
    apply_hourglass_flags(a, lc, "bench");
    const std::string hourglass = hourglass_summary(lc.cfg);
    if (be.cuda) {  // the encoder on the GPU: batches of --batch copies of the image
        if (a.has("amg")) throw Error("bench --backend cuda: --amg needs the decoder on CUDA, which is not there yet");
        const auto x = preprocess_image<float>(img.data.data(), img.height, img.width, config_transform(lc.cfg));
        const auto r = cuda_bench_encoder(lc.ckpt, lc.cfg, x, be.opt, repeat);
        std::printf("model %s  device %s  precision %s  batch %d  repeat %d\n", lc.model.c_str(), r.device.c_str(),
                    be.opt.precision.c_str(), be.opt.batch, repeat);
        std::printf("encoder_s      %.5f\nimages_per_s   %.2f\npeak_device_mb %.1f\n", r.encoder_s, r.images_per_s,
                    r.peak_device_mb);
        if (a.has("json")) {
            nlohmann::ordered_json j{{"model", lc.model},
                                     {"backend", "cuda"},
                                     {"device", r.device},
                                     {"precision", be.opt.precision},
                                     {"batch", be.opt.batch},
                                     {"repeat", repeat},
                                     {"encoder_s", r.encoder_s},
                                     {"images_per_s", r.images_per_s},
                                     {"peak_device_mb", r.peak_device_mb}};
            std::printf("%s\n", j.dump().c_str());
        }
        return 0;
    }
    auto model = create_sam<float, backend::cpu>(lc.cfg);
    load_state_dict(*model, lc.ckpt, lc.model);
    const auto r = run_bench(*model, img, repeat, a.has("amg"));
    const int threads = omp_get_max_threads();
    std::printf("model %s  image %lldx%lld  threads %d  repeat %d  precision %s\n", lc.model.c_str(),
                static_cast<long long>(img.width), static_cast<long long>(img.height), threads, repeat,
                be.opt.precision.c_str());
    if (!hourglass.empty()) std::printf("hourglass   %s\n", hourglass.c_str());
    std::printf("encoder_s   %.4f\ndecoder_s   %.4f\n", r.encoder_s, r.decoder_s);
    if (r.amg_s >= 0) std::printf("amg_s       %.4f  (%lld masks)\n", r.amg_s, static_cast<long long>(r.amg_masks));
    std::printf("peak_rss_mb %.1f\n", r.peak_rss_mb);
    if (a.has("json")) {
        nlohmann::ordered_json j{{"model", lc.model},
                                 {"threads", threads},
                                 {"repeat", repeat},
                                 {"image", {img.width, img.height}},
                                 {"encoder_s", r.encoder_s},
                                 {"decoder_s", r.decoder_s},
                                 {"precision", be.opt.precision}};
        if (!hourglass.empty()) {
            const auto& h = std::get<SamViTConfig>(lc.cfg).image_encoder.hourglass;
            j["hourglass"] = {{"location", h.clustering_location}, {"clusters", h.num_cluster},
                              {"iters", h.cluster_iters},          {"temperature", h.temperture},
                              {"window", h.cluster_window_size},   {"k", h.reconstruction_k}};
        }
        if (r.amg_s >= 0) {
            j["amg_s"] = r.amg_s;
            j["amg_masks"] = r.amg_masks;
        }
        j["peak_rss_mb"] = r.peak_rss_mb;
        std::printf("%s\n", j.dump().c_str());
    }
    return 0;
}

}  // namespace

Command bench_command() {
    std::vector<FlagSpec> f = {weights_flag(),
                               model_flag(),
                               config_flag(),
                               value("image", "IMG", "the image (default: a built-in 640x480 test card)"),
                               threads_flag(),
                               value("repeat", "N", "timed runs after one warm-up (default 3)"),
                               toggle("amg", "also time segment everything (32x32 grid)"),
                               toggle("json", "also print one JSON object as the last line")};
    for (auto& b : backend_flag_specs()) f.push_back(b);
    for (auto& h : hourglass_flag_specs()) f.push_back(h);
    return {"bench",
            "median encoder_s, decoder_s (1-point multimask), amg_s (32x32, with --amg) and peak_rss_mb; on cuda: "
            "encoder_s per batch, images_per_s, peak_device_mb",
            f, run};
}

}  // namespace evsam::tool
