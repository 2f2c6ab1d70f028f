// evsam info: a checkpoint's model, parameter count, resolution and storage dtype; with --model,
// also the module tree (every module's output shape, parameters and MACs).
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "model_args.hpp"

namespace evsam::tool {

// Named, not anonymous: the tool is a unity build (examples/CMakeLists.txt).
namespace cmd_info {

std::string human(int64_t v) {
    char b[32];
    if (v >= 1000000000)
        std::snprintf(b, sizeof b, "%.2fG", v / 1e9);
    else if (v >= 1000000)
        std::snprintf(b, sizeof b, "%.2fM", v / 1e6);
    else if (v >= 1000)
        std::snprintf(b, sizeof b, "%.1fK", v / 1e3);
    else
        std::snprintf(b, sizeof b, "%lld", static_cast<long long>(v));
    return b;
}

// The module tree of the image encoder at its resolution (batch 1), plus the prompt
// encoder and mask decoder (parameters only: their cost depends on the prompts).
ModuleTable module_table(const AnySamConfig& cfg) {
    return std::visit(
        [](const auto& c) {
            using Model = Sam<typename std::decay_t<decltype(c.image_encoder)>::template Module<float, backend::cpu>>;
            Model m(c);
            assign_names(m);
            ModuleTable t;
            const int64_t R = c.transform.resolution;
            m.image_encoder.describe({1, 3, R, R}, t, 0);
            t.close(t.open(m.prompt_encoder, "PromptEncoder", 0), {});
            t.close(t.open(m.mask_decoder, "MaskDecoder", 0), {});
            return t;
        },
        cfg);
}

// The checkpoint's storage: the "dtype", "format", "wrapped", "tensors" and "weights" fields.
void checkpoint_json(nlohmann::ordered_json& j, const Checkpoint& ckpt, const std::string& path) {
    j["dtype"] = ckpt.float_dtype();
    j["format"] = ckpt.format();
    j["wrapped"] = ckpt.wrapped();
    j["tensors"] = ckpt.tensors().size();
    j["weights"] = path;
}
void print_checkpoint(const Checkpoint& ckpt, int64_t buffers) {
    std::cout << "dtype       " << ckpt.float_dtype() << "\n"
              << "format      " << ckpt.format() << (ckpt.wrapped() ? " ({\"state_dict\": ...} wrapped)" : "") << "\n"
              << "tensors     " << ckpt.tensors().size() << " (" << buffers << " buffers)\n";
}
// The module tree's rows as the "modules" array.
nlohmann::ordered_json modules_json(const ModuleTable& table) {
    nlohmann::ordered_json mods = nlohmann::ordered_json::array();
    for (auto& r : table.rows)
        mods.push_back({{"name", r.name},
                        {"type", r.type},
                        {"depth", r.depth},
                        {"output", r.out},
                        {"params", r.params},
                        {"macs", r.macs}});
    return mods;
}

void print_tree(const ModuleTable& t) {
    std::printf("%-58s %-28s %-20s %10s %10s\n", "module", "type", "output", "params", "MACs");
    std::vector<std::string> parents;
    for (auto& r : t.rows) {
        parents.resize(static_cast<size_t>(r.depth));
        std::string shown = r.name;
        if (r.depth > 0 && shown.rfind(parents.back() + ".", 0) == 0) shown = shown.substr(parents.back().size() + 1);
        parents.push_back(r.name);
        std::string label = std::string(2 * static_cast<size_t>(r.depth), ' ') + shown;
        std::printf("%-58s %-28s %-20s %10s %10s\n", label.c_str(), r.type.c_str(),
                    r.out.empty() ? "-" : shape_str(r.out).c_str(), human(r.params).c_str(),
                    r.out.empty() ? "-" : human(r.macs).c_str());
    }
}

// info for an EfficientViT classifier or segmenter: the same fields as for SAM models, with the
// input size its evaluation uses (classifiers: R x R; Cityscapes 1024 x 2048; ADE20K: the short side
// 512, shown for a 512 x 512 image) and "macs" for the whole model at that size.
int run_zoo(const Args& a, const ModelRef& m, std::unique_ptr<LoadedZooCheckpoint> lc) {
    nlohmann::ordered_json j;
    const std::vector<SchemaEntry> schema = model_schema(m);
    int64_t buffers = 0;
    for (auto& e : schema) buffers += e.kind == ParamKind::buffer;
    Shape in;
    std::unique_ptr<Module<float, backend::cpu>> model;
    ModuleTable table;
    if (m.kind == ModelKind::cls) {
        const EfficientViTClsConfig cfg = find_cls(m.name).config();
        const int64_t R = m.resolution ? m.resolution : cfg.resolutions.front();
        in = {1, 3, R, R};
        auto c = create_cls<float>(cfg);
        assign_names(*c);
        if (a.has("model")) c->describe(in, table);
        j["model"] = m.name;
        j["kind"] = "classifier";
        j["params"] = count_parameters(schema);
        j["resolution"] = R;
        nlohmann::ordered_json rs = nlohmann::ordered_json::array();
        for (int64_t r : cfg.resolutions) rs.push_back(r);
        j["zoo_resolutions"] = rs;
        j["crop_ratio"] = cfg.crop_ratio;
        j["classes"] = cfg.head.n_classes;
    } else {
        const EfficientViTSegConfig cfg = find_seg(m.name).config();
        in = cfg.dataset == "cityscapes" ? Shape{1, 3, 1024, 2048} : Shape{1, 3, 512, 512};
        auto c = create_seg<float>(cfg);
        assign_names(*c);
        if (a.has("model")) c->describe(in, table);
        j["model"] = m.name;
        j["kind"] = "segmenter";
        j["params"] = count_parameters(schema);
        j["dataset"] = cfg.dataset;
        j["classes"] = cfg.head.n_classes;
    }
    j["input"] = in;
    if (lc) checkpoint_json(j, lc->ckpt, a.str("weights"));
    j["buffers"] = buffers;
    if (a.has("model")) {
        j["macs"] = table.rows[0].macs;
        j["modules"] = modules_json(table);
    }
    if (a.has("json")) {
        std::cout << j.dump() << "\n";
        return 0;
    }
    std::cout << "model       " << model_title(m) << " (" << j["kind"].get<std::string>() << ", "
              << j["classes"].get<int64_t>() << " classes)\n"
              << "params      " << j["params"].get<int64_t>() << "\n"
              << "input       " << shape_str(in) << "\n";
    if (lc) print_checkpoint(lc->ckpt, buffers);
    if (a.has("model")) {
        std::cout << "model       " << human(table.rows[0].macs) << " MACs at " << shape_str(in) << "\n\n";
        std::cout.flush();
        print_tree(table);
    }
    return 0;
}

int run(const Args& a) {
    if (!a.has("weights") && !a.has("model")) throw Error("info: give --weights FILE, --model NAME, or both");
    {  // an EfficientViT classifier or segmenter (by name, or detected)
        ModelRef m;
        bool zoo = false;
        if (a.has("model")) {
            m = resolve_model(a.str("model"));
            zoo = m.kind != ModelKind::sam;
        } else {
            try {
                m = detect_any_model(Checkpoint::open(a.str("weights")));
                zoo = m.kind != ModelKind::sam;
            } catch (const Error&) {
            }
        }
        if (zoo) {
            std::unique_ptr<LoadedZooCheckpoint> lc;
            if (a.has("weights"))
                lc = std::make_unique<LoadedZooCheckpoint>(
                    open_zoo_checkpoint(a.str("weights"), a.str("model"), "", m.kind, "info"));
            if (lc) m = ModelRef{lc->model.kind, lc->model.name, m.resolution};
            return run_zoo(a, m, std::move(lc));
        }
    }
    nlohmann::ordered_json j;
    std::string model;
    int64_t params = 0, buffers = 0;
    std::unique_ptr<LoadedCheckpoint> lc;
    if (a.has("weights")) {
        lc = std::make_unique<LoadedCheckpoint>(open_checkpoint(a.str("weights"), a.str("model")));
        model = lc->model;
    } else {
        model = find_model(a.str("model")).name;
    }
    const ModelEntry& entry = find_model(model);
    const AnySamConfig cfg = entry.config();
    const ImageTransform& tf = config_transform(cfg);
    {
        const auto schema = sam_schema(cfg);
        params = count_parameters(schema);
        for (auto& e : schema) buffers += e.kind == ParamKind::buffer;
    }
    j["model"] = model;
    j["params"] = params;
    j["resolution"] = tf.resolution;
    j["prompt_frame"] = tf.prompt_frame;
    if (lc) checkpoint_json(j, lc->ckpt, a.str("weights"));
    j["buffers"] = buffers;
    ModuleTable table;
    if (a.has("model")) {
        table = module_table(cfg);
        j["encoder_macs"] = table.rows[0].macs;
        j["modules"] = modules_json(table);
    }
    if (a.has("json")) {
        std::cout << j.dump() << "\n";
        return 0;
    }
    std::cout << "model       " << entry.title << "\n"
              << "params      " << params << "\n"
              << "resolution  " << tf.resolution << "x" << tf.resolution << " (prompts in the " << tf.prompt_frame
              << " frame)\n";
    if (lc) print_checkpoint(lc->ckpt, buffers);
    if (a.has("model")) {
        std::cout << "encoder     " << human(table.rows[0].macs) << " MACs at " << tf.resolution << "x" << tf.resolution
                  << "\n\n";
        std::cout.flush();
        print_tree(table);
    }
    return 0;
}

}  // namespace cmd_info

Command info_command() {
    using namespace cmd_info;
    return {"info",
            "a checkpoint's model, parameter count, resolution and storage dtype (the whole state_dict is checked); "
            "with --model also the module tree (output shapes, parameters, MACs)",
            {weights_flag(false), model_flag(), toggle("json", "print one JSON object")},
            run};
}

}  // namespace evsam::tool
