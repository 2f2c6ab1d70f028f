// evsam: the model registry. Every model evsam knows, by name: its configuration, which fixes
// its encoder type and its preprocessing (SamConfigOf: ImageTransform, encoder, decoder), and how
// a checkpoint is recognised as it (its state_dict schema: every key, dtype class and shape).
//
// Adding a model: one entry in model_registry(). A new encoder family also adds its config type
// to AnySamConfig and its encoder's headers (see README: How the code is laid out).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "evsam/core/checkpoint.hpp"
#include "evsam/efficientvit/sam.hpp"
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
    throw Error(ckpt.path() + ": not a checkpoint of any known model (closest is " + best + ": " +
                best_mm.describe() + ")");
}

}  // namespace evsam
