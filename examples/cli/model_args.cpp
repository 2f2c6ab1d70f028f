// evsam tool: the checkpoint and backend flags (model_args.hpp).
#include "model_args.hpp"

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
    const std::string model = model_flag.empty() ? detect_model(ckpt) : find_model(model_flag).name;
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

}  // namespace evsam::tool
