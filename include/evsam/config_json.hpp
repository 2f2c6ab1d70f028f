// evsam: any SAM model's configuration from JSON (validation/make_fixtures.py writes one per tiny
// fixture model; `evsam --config FILE` reads them): SAM's ViT when "image_encoder" names its type
// "ImageEncoderViT" (sam/config_json.hpp), EfficientViT-SAM otherwise (efficientvit/config_json.hpp).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "evsam/efficientvit/config_json.hpp"
#include "evsam/registry.hpp"
#include "evsam/sam/config_json.hpp"

namespace evsam {

inline AnySamConfig any_sam_config_from_json(const nlohmann::json& j) {
    const std::string type = j.is_object() && j.contains("image_encoder") && j["image_encoder"].is_object()
                                 ? j["image_encoder"].value("type", std::string())
                                 : std::string();
    const bool vit = type == "ImageEncoderViT" || type == "HourglassImageEncoderViT";  // Expedit-SAM's
    if (vit) return sam_vit_config_from_json(j);
    return sam_config_from_json(j);
}

}  // namespace evsam
