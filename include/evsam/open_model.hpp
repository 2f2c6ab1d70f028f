// evsam: opening a checkpoint as a model of the registry: the model named, detected from the
// checkpoint's keys and shapes, or given as a JSON configuration (as validation/make_fixtures.py writes
// it). Either way the whole state_dict is checked against that model before anything is built, and
// every refusal is one line naming the file and what is wrong. The tool's flags (--weights, --model,
// --config) and the Python package (evsam.load, evsam.create_model) both open checkpoints here, so
// they refuse the same inputs with the same messages.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "evsam/config_json.hpp"
#include "evsam/core/checkpoint.hpp"
#include "evsam/core/file_io.hpp"
#include "evsam/registry.hpp"

namespace evsam {

// A checkpoint with its model resolved: model_flag wins, else detected from keys/shapes; with
// config_path, the JSON model. Either way the whole state_dict was checked against that model.
struct LoadedCheckpoint {
    Checkpoint ckpt;
    std::string model;  // the registry's name, or the JSON config's
    AnySamConfig cfg;
};

// An EfficientViT classifier's or segmenter's checkpoint (kind cls or seg) with its model resolved:
// model_flag wins, else detected from keys and shapes; config_path: a model in JSON (as
// validation/make_cls_seg_fixtures.py writes). The whole state_dict was checked against it. A
// checkpoint or model of another kind is refused naming the command that runs it.
struct LoadedZooCheckpoint {
    Checkpoint ckpt;
    ModelRef model;                            // kind, registry name ("custom" with a config), -rNNN
    std::optional<EfficientViTClsConfig> cls;  // kind cls
    std::optional<EfficientViTSegConfig> seg;  // kind seg
    std::string title;                         // "efficientvit-b1", or the config path
};

// The command that runs a model of this kind ("evsam classify", ...).
inline std::string command_for(ModelKind k) {
    switch (k) {
        case ModelKind::cls: return "evsam classify";
        case ModelKind::seg: return "evsam segment";
        default: return "evsam embed / predict / everything";
    }
}

namespace detail {

// A non-official configuration (JSON as validation/make_fixtures.py writes it), checked strictly.
inline LoadedCheckpoint open_with_config(const std::string& path, const std::string& config_path) {
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

}  // namespace detail

inline LoadedCheckpoint open_checkpoint(const std::string& path, const std::string& model_flag,
                                        const std::string& config_path = "") {
    if (!config_path.empty()) {
        if (!model_flag.empty()) throw Error("give --model or --config, not both");
        return detail::open_with_config(path, config_path);
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

inline LoadedZooCheckpoint open_zoo_checkpoint(const std::string& path, const std::string& model_flag,
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

}  // namespace evsam
