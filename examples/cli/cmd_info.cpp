// evsam info: a checkpoint's model, parameter count, resolution and storage dtype; with --model,
// also the module tree (every module's output shape, parameters and MACs).
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "model_args.hpp"

namespace evsam::tool {

namespace {

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

int run(const Args& a) {
    if (!a.has("weights") && !a.has("model")) throw Error("info: give --weights FILE, --model NAME, or both");
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
    if (lc) {
        j["dtype"] = lc->ckpt.float_dtype();
        j["format"] = lc->ckpt.format();
        j["wrapped"] = lc->ckpt.wrapped();
        j["tensors"] = lc->ckpt.tensors().size();
        j["weights"] = a.str("weights");
    }
    j["buffers"] = buffers;
    ModuleTable table;
    if (a.has("model")) {
        table = module_table(cfg);
        j["encoder_macs"] = table.rows[0].macs;
        nlohmann::ordered_json mods = nlohmann::ordered_json::array();
        for (auto& r : table.rows)
            mods.push_back({{"name", r.name},
                            {"type", r.type},
                            {"depth", r.depth},
                            {"output", r.out},
                            {"params", r.params},
                            {"macs", r.macs}});
        j["modules"] = mods;
    }
    if (a.has("json")) {
        std::cout << j.dump() << "\n";
        return 0;
    }
    std::cout << "model       " << entry.title << "\n"
              << "params      " << params << "\n"
              << "resolution  " << tf.resolution << "x" << tf.resolution << " (prompts in the " << tf.prompt_frame
              << " frame)\n";
    if (lc)
        std::cout << "dtype       " << lc->ckpt.float_dtype() << "\n"
                  << "format      " << lc->ckpt.format()
                  << (lc->ckpt.wrapped() ? " ({\"state_dict\": ...} wrapped)" : "") << "\n"
                  << "tensors     " << lc->ckpt.tensors().size() << " (" << buffers << " buffers)\n";
    if (a.has("model")) {
        std::cout << "encoder     " << human(table.rows[0].macs) << " MACs at " << tf.resolution << "x" << tf.resolution
                  << "\n\n";
        std::cout.flush();
        print_tree(table);
    }
    return 0;
}

}  // namespace

Command info_command() {
    return {"info",
            "a checkpoint's model, parameter count, resolution and storage dtype (the whole state_dict is checked); "
            "with --model also the module tree (output shapes, parameters, MACs)",
            {weights_flag(false), model_flag(), toggle("json", "print one JSON object")},
            run};
}

}  // namespace evsam::tool
