// evsam: the model registry. Every model evsam knows, by name: its configuration, which fixes
// its encoder type and its preprocessing (SamConfigOf: ImageTransform, encoder, decoder), and how
// a checkpoint is recognised as it (its state_dict schema: every key, dtype class and shape).
//
// Adding a model: one entry in model_registry(). A new encoder family also adds its config type
// to AnySamConfig and its encoder's headers (see README: How the code is laid out).
//
// EfficientViT's ImageNet classifiers and Cityscapes/ADE20K segmenters have their own tables
// (cls_registry, seg_registry); resolve_model() takes any name of all three, detect_any_model()
// recognises a checkpoint of any of them.
#pragma once
#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "evsam/core/checkpoint.hpp"
#include "evsam/efficientvit/sam.hpp"
#include "evsam/efficientvit/seg.hpp"
#include "evsam/sam/sam_vit.hpp"
#include "evsam/nn/state_dict.hpp"

namespace evsam {

// One alternative per SAM encoder family; each names its encoder module (Config::Module<T, B>).
using AnySamConfig = std::variant<EfficientViTSamConfig, SamViTConfig>;

struct ModelEntry {
    std::string name;                      // --model NAME, info's "model": "l0"
    std::string title;                     // what `evsam info` prints: "efficientvit-sam-l0"
    std::function<AnySamConfig()> config;  // the upstream factory it mirrors (sam.py: efficientvit_sam_l0,
                                           // build_sam.py: build_sam_vit_b)
};

// Prefixes a model name may carry, as upstream's model zoos spell them ("efficientvit-sam-l0").
inline const std::vector<std::string>& model_name_prefixes() {
    static const std::vector<std::string> p = {"efficientvit-sam-", "efficientvit_sam_", "sam-", "sam_"};
    return p;
}

inline const std::vector<ModelEntry>& model_registry() {
    static const std::vector<ModelEntry> r = {
        {"l0", "efficientvit-sam-l0", [] { return AnySamConfig(efficientvit_sam_l0()); }},
        {"l1", "efficientvit-sam-l1", [] { return AnySamConfig(efficientvit_sam_l1()); }},
        {"l2", "efficientvit-sam-l2", [] { return AnySamConfig(efficientvit_sam_l2()); }},
        {"xl0", "efficientvit-sam-xl0", [] { return AnySamConfig(efficientvit_sam_xl0()); }},
        {"xl1", "efficientvit-sam-xl1", [] { return AnySamConfig(efficientvit_sam_xl1()); }},
        {"vit_b", "sam-vit-b", [] { return AnySamConfig(sam_vit_b()); }},
        {"vit_l", "sam-vit-l", [] { return AnySamConfig(sam_vit_l()); }},
        {"vit_h", "sam-vit-h", [] { return AnySamConfig(sam_vit_h()); }},
    };
    return r;
}

inline std::vector<std::string> model_names() {
    std::vector<std::string> n;
    for (const auto& e : model_registry()) n.push_back(e.name);
    return n;
}

// The entry of `name` (a prefix from model_name_prefixes() is dropped first); throws naming the
// models there are.
inline const ModelEntry& find_model(std::string name) {
    for (const auto& pre : model_name_prefixes())
        if (name.rfind(pre, 0) == 0) name = name.substr(pre.size());
    for (const auto& e : model_registry())
        if (e.name == name) return e;
    std::string list;
    for (const auto& e : model_registry()) list += (list.empty() ? "" : ", ") + e.name;
    throw Error("unknown model '" + name + "' (expected one of " + list + ")");
}

// The parts of any configuration every model has.
inline const std::string& config_name(const AnySamConfig& c) {
    return std::visit([](const auto& x) -> const std::string& { return x.name; }, c);
}
inline const ImageTransform& config_transform(const AnySamConfig& c) {
    return std::visit([](const auto& x) -> const ImageTransform& { return x.transform; }, c);
}

// The model of a configuration, with T and B chosen by the caller; weights are not loaded yet.
template <class T = float, class B = backend::cpu>
std::unique_ptr<SamBase<T, B>> create_sam(const AnySamConfig& cfg) {
    return std::visit(
        [](const auto& c) -> std::unique_ptr<SamBase<T, B>> {
            using EncoderConfig = std::decay_t<decltype(c.image_encoder)>;
            if constexpr (std::is_same_v<B, backend::cpu> || EncoderConfig::on_cuda) {
                using Encoder = typename EncoderConfig::template Module<T, B>;
                return std::make_unique<Sam<Encoder, T, B>>(c);
            } else {
                throw Error("model '" + c.name + "': its image encoder has no ops on this backend yet (CPU only)");
            }
        },
        cfg);
}
template <class T = float, class B = backend::cpu>
std::unique_ptr<SamBase<T, B>> create_sam(const std::string& name) {
    return create_sam<T, B>(find_model(name).config());
}

// The state_dict a checkpoint of this configuration must hold.
inline std::vector<SchemaEntry> sam_schema(const AnySamConfig& cfg) {
    return state_dict_schema(*create_sam<float>(cfg));
}

// EfficientViT-SAM's configuration of `name` ("l0" ... "xl1", or "efficientvit-sam-l0").
inline EfficientViTSamConfig sam_config(const std::string& name) {
    const AnySamConfig c = find_model(name).config();
    const auto* e = std::get_if<EfficientViTSamConfig>(&c);
    EVSAM_CHECK(e, "model '" + name + "' is not an EfficientViT-SAM model");
    return *e;
}

// Which registered model a checkpoint is: the one whose schema it matches exactly. Throws when
// none does, naming the closest model and its mismatches.
inline std::string detect_model(const Checkpoint& ckpt) {
    std::string best;
    StateDictMismatch best_mm;
    size_t best_n = SIZE_MAX;
    for (const auto& e : model_registry()) {
        auto mm = compare_state_dict(sam_schema(e.config()), ckpt);
        if (mm.count() == 0) return e.name;
        if (mm.count() < best_n) {
            best_n = mm.count();
            best = e.name;
            best_mm = mm;
        }
    }
    throw Error(ckpt.path() + ": not a checkpoint of any known model (closest is " + best + ": " + best_mm.describe() +
                ")");
}

// ------------------------------------------------------------------ classifiers and segmenters

// EfficientViT's classifiers (cls_model_zoo.py) by architecture: the zoo key is "efficientvit-" +
// the title's tail, and "-rNNN" picks a checkpoint's resolution. The L classifiers are "cls-l1" ..
// "cls-l3" here, since bare "l1" / "l2" are EfficientViT-SAM's models (a contract of the tool).
struct ClsEntry {
    std::string name;   // "b1", "cls-l2"
    std::string title;  // "efficientvit-b1", "efficientvit-l2"
    std::function<EfficientViTClsConfig()> config;
};
inline const std::vector<ClsEntry>& cls_registry() {
    static const std::vector<ClsEntry> r = {
        {"b0", "efficientvit-b0", [] { return efficientvit_cls_b("b0"); }},
        {"b1", "efficientvit-b1", [] { return efficientvit_cls_b("b1"); }},
        {"b2", "efficientvit-b2", [] { return efficientvit_cls_b("b2"); }},
        {"b3", "efficientvit-b3", [] { return efficientvit_cls_b("b3"); }},
        {"cls-l1", "efficientvit-l1", [] { return efficientvit_cls_l("l1"); }},
        {"cls-l2", "efficientvit-l2", [] { return efficientvit_cls_l("l2"); }},
        {"cls-l3", "efficientvit-l3", [] { return efficientvit_cls_l("l3"); }},
    };
    return r;
}

// EfficientViT's segmenters (seg_model_zoo.py): "seg-<b0..b3|l1|l2>-<cityscapes|ade20k>".
struct SegEntry {
    std::string name;   // "seg-b1-cityscapes"
    std::string title;  // "efficientvit-seg-b1-cityscapes"
    std::function<EfficientViTSegConfig()> config;
};
inline const std::vector<SegEntry>& seg_registry() {
    static const std::vector<SegEntry> r = [] {
        std::vector<SegEntry> v;
        for (const char* d : {"cityscapes", "ade20k"})
            for (const char* b : {"b0", "b1", "b2", "b3", "l1", "l2"}) {
                if (std::string(b) == "b0" && std::string(d) == "ade20k") continue;
                const std::string name = std::string("seg-") + b + "-" + d;
                v.push_back({name, "efficientvit-" + name,
                             [b = std::string(b), d = std::string(d)] { return efficientvit_seg(b, d); }});
            }
        return v;
    }();
    return r;
}

enum class ModelKind { sam, cls, seg };

// A model of any of the three tables, as a name resolves: its kind, its table name, and for a
// classifier the resolution its name gave ("-r288"; 0 when none).
struct ModelRef {
    ModelKind kind = ModelKind::sam;
    std::string name;
    int64_t resolution = 0;
};

inline const ClsEntry& find_cls(const std::string& name) {
    for (const auto& e : cls_registry())
        if (e.name == name) return e;
    throw Error("unknown classifier '" + name + "'");
}
inline const SegEntry& find_seg(const std::string& name) {
    for (const auto& e : seg_registry())
        if (e.name == name) return e;
    throw Error("unknown segmenter '" + name + "'");
}

// Every name resolve_model() takes, for error messages: SAM's models, then the zoo keys.
inline std::string all_model_names() {
    std::string s;
    for (const auto& e : model_registry()) s += (s.empty() ? "" : ", ") + e.name;
    for (const auto& e : cls_registry()) {
        const std::string key = e.title.substr(std::string("efficientvit-").size());
        for (int64_t r : e.config().resolutions) s += ", " + key + "-r" + std::to_string(r);
    }
    for (const auto& e : seg_registry()) s += ", " + e.name;
    return s;
}

// Any model name: SAM's ("l0", "vit_h", "efficientvit-sam-xl1"), a classifier by upstream's zoo key
// with or without "efficientvit-" ("b1-r224", "efficientvit-l3-r384", "b2"; "cls-l1" is the L1
// classifier, bare "l1" / "l2" are EfficientViT-SAM's), or a segmenter ("seg-l2-ade20k",
// "efficientvit-seg-b1-cityscapes"). A "-rNNN" suffix must be a resolution the zoo has a checkpoint
// for. Throws naming every model there is.
inline ModelRef resolve_model(const std::string& given) {
    try {  // SAM's names first: bare l1 / l2 stay SAM's
        return {ModelKind::sam, find_model(given).name, 0};
    } catch (const Error&) {
    }
    std::string n = given;
    bool zoo_prefix = false;
    for (const char* pre : {"efficientvit-", "efficientvit_"})
        if (n.rfind(pre, 0) == 0) {
            n = n.substr(std::string(pre).size());
            zoo_prefix = true;
        }
    if (n.rfind("seg-", 0) == 0)
        for (const auto& e : seg_registry())
            if (e.name == n) return {ModelKind::seg, e.name, 0};
    int64_t res = 0;
    const size_t r = n.rfind("-r");
    if (r != std::string::npos && r + 2 < n.size() && n.find_first_not_of("0123456789", r + 2) == std::string::npos &&
        n.size() - r <= 7) {
        res = std::stoll(n.substr(r + 2));
        n = n.substr(0, r);
    }
    std::string arch = n;
    if (n == "l1" || n == "l2" || n == "l3") {
        // "efficientvit-l1", "l1-r224", "l3": a classifier (bare l1 / l2 were SAM's, above)
        if (zoo_prefix || res || n == "l3") arch = "cls-" + n;
    }
    for (const auto& e : cls_registry())
        if (e.name == arch) {
            if (res) {
                const auto rs = e.config().resolutions;
                if (std::find(rs.begin(), rs.end(), res) == rs.end()) {
                    std::string have;
                    for (int64_t x : rs) have += (have.empty() ? "" : ", ") + std::to_string(x);
                    throw Error("unknown model '" + given + "': upstream's zoo has " + e.title + " at " + have +
                                " (any other size: --resolution)");
                }
            }
            return {ModelKind::cls, e.name, res};
        }
    throw Error("unknown model '" + given + "' (expected one of " + all_model_names() + ")");
}

// What `evsam info` prints as the model: "efficientvit-sam-l0", "efficientvit-b1", ...
inline std::string model_title(const ModelRef& m) {
    switch (m.kind) {
        case ModelKind::cls: return find_cls(m.name).title;
        case ModelKind::seg: return find_seg(m.name).title;
        default: return find_model(m.name).title;
    }
}

// The state_dict a checkpoint of this model must hold.
inline std::vector<SchemaEntry> model_schema(const ModelRef& m) {
    switch (m.kind) {
        case ModelKind::cls: return state_dict_schema(*create_cls<float>(find_cls(m.name).config()));
        case ModelKind::seg: return state_dict_schema(*create_seg<float>(find_seg(m.name).config()));
        default: return sam_schema(find_model(m.name).config());
    }
}

// Which model of any table a checkpoint is: the one whose schema it matches exactly. Throws when
// none does, naming the closest model and its mismatches.
inline ModelRef detect_any_model(const Checkpoint& ckpt) {
    std::vector<ModelRef> all;
    for (const auto& e : model_registry()) all.push_back({ModelKind::sam, e.name, 0});
    for (const auto& e : cls_registry()) all.push_back({ModelKind::cls, e.name, 0});
    for (const auto& e : seg_registry()) all.push_back({ModelKind::seg, e.name, 0});
    const ModelRef* best = nullptr;
    StateDictMismatch best_mm;
    size_t best_n = SIZE_MAX;
    for (const auto& m : all) {
        auto mm = compare_state_dict(model_schema(m), ckpt);
        if (mm.count() == 0) return m;
        if (mm.count() < best_n) {
            best_n = mm.count();
            best = &m;
            best_mm = mm;
        }
    }
    throw Error(ckpt.path() + ": not a checkpoint of any known model (closest is " + model_title(*best) + ": " +
                best_mm.describe() + ")");
}

}  // namespace evsam
