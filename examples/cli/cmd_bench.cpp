// evsam bench: medians of the encoder, one decoder prompt and (--amg) segment everything; on
// cuda, the encoder per batch of --batch images.
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "bench.hpp"
#include "evsam/cls_seg.hpp"
#include "command.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/nn/state_dict.hpp"
#include "model_args.hpp"

namespace evsam::tool {

// Named, not anonymous: the tool is a unity build (examples/CMakeLists.txt).
namespace cmd_bench {

// --profile in the JSON line: [{"module": name, "s": seconds}, ...]
nlohmann::ordered_json profile_json(const std::vector<std::pair<std::string, double>>& profile) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const auto& [name, s] : profile) j.push_back({{"module", name}, {"s", s}});
    return j;
}

// An EfficientViT classifier or segmenter: the median forward time at its evaluation input size
// (classifiers R x R, Cityscapes 1024 x 2048, ADE20K the --image's size rule or 512 x 512).
int run_zoo(const Args& a, ModelKind kind) {
    if (a.has("amg") || a.has("backend") || a.has("batch") || a.has("config"))
        throw Error("bench: --amg, --backend, --batch and --config apply to SAM models only");
    const BackendChoice be = backend_flags(a, "bench", false);
    const int repeat = static_cast<int>(a.integer("repeat", 3, 1, 1000));
    set_threads(a);
    const auto lc = open_zoo_checkpoint(a.str("weights"), a.str("model"), "", kind, "bench");
    std::unique_ptr<BackboneHeadModel<EfficientViTClsConfig, float, backend::cpu>> cls;
    std::unique_ptr<BackboneHeadModel<EfficientViTSegConfig, float, backend::cpu>> seg;
    Shape in;
    if (kind == ModelKind::cls) {
        const int64_t R = a.has("resolution")
                              ? a.integer("resolution", 224, 32, 4096)
                              : (lc.model.resolution ? lc.model.resolution : lc.cls->resolutions.front());
        in = {1, 3, R, R};
        cls = create_cls<float>(*lc.cls);
        load_state_dict(*cls, lc.ckpt, lc.title);
    } else {
        if (a.has("resolution")) throw Error("bench: --resolution applies to classifiers");
        const auto [h, w] = a.has("image") ? segment_input_size(lc.seg->dataset, image_info(a.str("image")).height,
                                                                image_info(a.str("image")).width)
                                           : segment_input_size(lc.seg->dataset, 512, 512);
        in = {1, 3, h, w};
        seg = create_seg<float>(*lc.seg);
        load_state_dict(*seg, lc.ckpt, lc.title);
    }
    Tensor<float> x(in);
    for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
    auto forward = [&] { return cls ? cls->forward(x) : seg->forward(x); };
    forward();  // warm-up
    std::vector<double> t;
    for (int i = 0; i < repeat; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        forward();
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    const double fwd = median(t);
    const auto profile =
        a.has("profile") ? profile_modules(forward, repeat) : std::vector<std::pair<std::string, double>>{};
    const double rss = peak_rss_mb();
    const int threads = omp_get_max_threads();
    std::printf("model %s  input %s  threads %d  repeat %d  precision %s\n", lc.model.name.c_str(),
                shape_str(in).c_str(), threads, repeat, be.opt.precision.c_str());
    std::printf("forward_s   %.4f\npeak_rss_mb %.1f\n", fwd, rss);
    if (a.has("profile")) print_profile(profile, repeat);
    if (a.has("json")) {
        nlohmann::ordered_json j{{"model", lc.model.name}, {"threads", threads},
                                 {"repeat", repeat},       {"input", in},
                                 {"forward_s", fwd},       {"precision", be.opt.precision},
                                 {"peak_rss_mb", rss}};
        if (a.has("profile")) j["profile"] = profile_json(profile);
        std::printf("%s\n", j.dump().c_str());
    }
    return 0;
}

int run(const Args& a) {
    if (!a.has("config")) {  // a classifier or segmenter, by --model or detected
        ModelRef m;
        if (a.has("model")) {
            m = resolve_model(a.str("model"));
        } else {
            try {
                m = detect_any_model(Checkpoint::open(a.str("weights")));
            } catch (const Error&) {
            }
        }
        if (m.kind != ModelKind::sam) return run_zoo(a, m.kind);
    }
    if (a.has("resolution")) throw Error("bench: --resolution applies to classifiers");
    const BackendChoice be = backend_flags(a, "bench", true);
    const int repeat = static_cast<int>(a.integer("repeat", 3, 1, 1000));
    set_threads(a);
    const Image img = a.has("image") ? load_image(a.str("image")) : bench_test_image();
    auto lc = open_checkpoint(a.str("weights"), a.str("model"), a.str("config"));
    apply_hourglass_flags(a, lc, "bench");
    const std::string hourglass = hourglass_summary(lc.cfg);
    if (be.cuda) {  // the encoder on the GPU: batches of --batch copies of the image
        if (a.has("profile")) throw Error("bench --profile: the CPU backend only (a GPU's modules run asynchronously)");
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
    const auto r = run_bench(*model, img, repeat, a.has("amg"), a.has("profile"));
    const int threads = omp_get_max_threads();
    std::printf("model %s  image %lldx%lld  threads %d  repeat %d  precision %s\n", lc.model.c_str(),
                static_cast<long long>(img.width), static_cast<long long>(img.height), threads, repeat,
                be.opt.precision.c_str());
    if (!hourglass.empty()) std::printf("hourglass   %s\n", hourglass.c_str());
    std::printf("encoder_s   %.4f\ndecoder_s   %.4f\n", r.encoder_s, r.decoder_s);
    if (r.amg_s >= 0) std::printf("amg_s       %.4f  (%lld masks)\n", r.amg_s, static_cast<long long>(r.amg_masks));
    std::printf("peak_rss_mb %.1f\n", r.peak_rss_mb);
    if (a.has("profile")) print_profile(r.profile, repeat);
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
        if (a.has("profile")) j["profile"] = profile_json(r.profile);
        std::printf("%s\n", j.dump().c_str());
    }
    return 0;
}

}  // namespace cmd_bench

Command bench_command() {
    using namespace cmd_bench;
    std::vector<FlagSpec> f = {weights_flag(),
                               model_flag(),
                               config_flag(),
                               value("image", "IMG", "the image (default: a built-in 640x480 test card)"),
                               threads_flag(),
                               value("repeat", "N", "timed runs after one warm-up (default 3)"),
                               toggle("amg", "also time segment everything (32x32 grid)"),
                               toggle("json", "also print one JSON object as the last line"),
                               toggle("profile",
                                      "also time each module of the encoder (of the model, for a classifier or "
                                      "segmenter): its own time, median of --repeat more runs (CPU only)")};
    for (auto& b : backend_flag_specs()) f.push_back(b);
    for (auto& h : hourglass_flag_specs()) f.push_back(h);
    f.push_back(value("resolution", "R", "classifiers: input resolution (default: the name's -rNNN, else 224)"));
    return {"bench",
            "median encoder_s, decoder_s (1-point multimask), amg_s (32x32, with --amg) and peak_rss_mb; on cuda: "
            "encoder_s per batch, images_per_s, peak_device_mb; for a classifier or segmenter: forward_s at its "
            "evaluation input size",
            f, run};
}

}  // namespace evsam::tool
