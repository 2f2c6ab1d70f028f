// evsam tool: the checkpoint and backend flags (model_args.hpp).
#include "model_args.hpp"

#include <climits>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "evsam/core/file_io.hpp"
#include "evsam/config_json.hpp"

namespace evsam::tool {

namespace {

// A non-official configuration (JSON as validation/make_fixtures.py writes it), checked strictly.
LoadedCheckpoint open_with_config(const std::string& path, const std::string& config_path) {
    auto bytes = read_file(config_path);
    auto j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (j.is_discarded()) throw Error(config_path + ": not valid JSON");
    AnySamConfig cfg;
    try {
        cfg = any_sam_config_from_json(j);
    } catch (const nlohmann::json::exception& e) {
        throw Error(config_path + ": bad model configuration (" + e.what() + ")");
    }
    auto ckpt = Checkpoint::open(path);
    auto mm = compare_state_dict(sam_schema(cfg), ckpt);
    if (mm.count()) throw Error(path + ": checkpoint does not match " + config_path + ": " + mm.describe());
    std::string name = config_name(cfg);
    return {std::move(ckpt), std::move(name), std::move(cfg)};
}

}  // namespace

LoadedCheckpoint open_checkpoint(const std::string& path, const std::string& model_flag,
                                 const std::string& config_path) {
    if (!config_path.empty()) {
        if (!model_flag.empty()) throw Error("give --model or --config, not both");
        return open_with_config(path, config_path);
    }
    auto ckpt = Checkpoint::open(path);
    if (!model_flag.empty()) {  // a classifier's or segmenter's name: say which command runs it
        ModelRef m;             // (an unknown name: find_model below says so, listing SAM's models)
        try {
            m = resolve_model(model_flag);
        } catch (const Error&) {
        }
        if (m.kind != ModelKind::sam)
            throw Error("--model " + model_flag + " is " + model_title(m) + ", not a SAM model: use " +
                        command_for(m.kind));
    }
    std::string model;
    if (model_flag.empty()) {
        try {
            model = detect_model(ckpt);
        } catch (const Error&) {
            ModelRef other;
            try {
                other = detect_any_model(ckpt);
            } catch (const Error&) {
                other.kind = ModelKind::sam;
            }
            if (other.kind == ModelKind::sam) throw;  // the SAM detection's message (closest SAM model) stands
            throw Error(path + ": checkpoint is " + model_title(other) + ", not a SAM model: use " +
                        command_for(other.kind));
        }
    } else {
        model = find_model(model_flag).name;
    }
    AnySamConfig cfg = find_model(model).config();
    auto mm = compare_state_dict(sam_schema(cfg), ckpt);
    if (mm.count()) {
        std::string actual;
        if (!model_flag.empty()) try {
                actual = detect_model(ckpt);
            } catch (const Error&) {
            }
        if (!actual.empty())
            throw Error(path + ": checkpoint is " + find_model(actual).title + ", not --model " + model);
        throw Error(path + ": checkpoint does not match --model " + model + ": " + mm.describe());
    }
    return {std::move(ckpt), model, std::move(cfg)};
}

std::string command_for(ModelKind k) {
    switch (k) {
        case ModelKind::cls: return "evsam classify";
        case ModelKind::seg: return "evsam segment";
        default: return "evsam embed / predict / everything";
    }
}

LoadedZooCheckpoint open_zoo_checkpoint(const std::string& path, const std::string& model_flag,
                                        const std::string& config_path, ModelKind want, const std::string& cmd) {
    const char* what = want == ModelKind::cls ? "a classifier" : "a segmenter";
    LoadedZooCheckpoint lc{Checkpoint::open(path), {}, {}, {}, {}};
    std::vector<SchemaEntry> schema;
    if (!config_path.empty()) {
        if (!model_flag.empty()) throw Error(cmd + ": give --model or --config, not both");
        auto bytes = read_file(config_path);
        auto j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
        if (j.is_discarded()) throw Error(config_path + ": not valid JSON");
        try {
            if (want == ModelKind::cls) {
                lc.cls = cls_config_from_json(j);
                schema = state_dict_schema(*create_cls<float>(*lc.cls));
            } else {
                lc.seg = seg_config_from_json(j);
                schema = state_dict_schema(*create_seg<float>(*lc.seg));
            }
        } catch (const nlohmann::json::exception& e) {
            throw Error(config_path + ": bad model configuration (" + e.what() + ")");
        }
        lc.model = {want, "custom", 0};
        lc.title = config_path;
        auto mm = compare_state_dict(schema, lc.ckpt);
        if (mm.count()) throw Error(path + ": checkpoint does not match " + config_path + ": " + mm.describe());
        return lc;
    }
    if (!model_flag.empty()) {
        lc.model = resolve_model(model_flag);
        if (lc.model.kind != want)
            throw Error(cmd + ": --model " + model_flag + " is " + model_title(lc.model) + ", not " + what + ": use " +
                        command_for(lc.model.kind));
        auto mm = compare_state_dict(model_schema(lc.model), lc.ckpt);
        if (mm.count()) {
            std::string actual;
            try {
                actual = model_title(detect_any_model(lc.ckpt));
            } catch (const Error&) {
            }
            if (!actual.empty()) throw Error(path + ": checkpoint is " + actual + ", not --model " + model_flag);
            throw Error(path + ": checkpoint does not match --model " + model_flag + ": " + mm.describe());
        }
    } else {
        lc.model = detect_any_model(lc.ckpt);
        if (lc.model.kind != want)
            throw Error(path + ": checkpoint is " + model_title(lc.model) + ", not " + what + ": use " +
                        command_for(lc.model.kind));
    }
    if (want == ModelKind::cls) lc.cls = find_cls(lc.model.name).config();
    if (want == ModelKind::seg) lc.seg = find_seg(lc.model.name).config();
    lc.title = model_title(lc.model);
    return lc;
}

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
