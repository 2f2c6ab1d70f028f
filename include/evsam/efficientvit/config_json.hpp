// evsam: EfficientViTSamConfig from a JSON description (validation/make_fixtures.py writes one per
// tiny fixture model), so non-official configurations can be built and checked too.
#pragma once
#include <nlohmann/json.hpp>

#include "evsam/efficientvit/sam.hpp"
#include "evsam/sam/config_json.hpp"

namespace evsam {

inline EfficientViTSamConfig sam_config_from_json(const nlohmann::json& j) {
    EfficientViTSamConfig c;
    c.name = j.value("name", std::string("custom"));
    c.transform.resolution = j.at("resolution").get<int64_t>();
    const auto& b = j.at("backbone");
    c.image_encoder.backbone.width_list = b.at("width_list").get<std::vector<int64_t>>();
    c.image_encoder.backbone.depth_list = b.at("depth_list").get<std::vector<int64_t>>();
    c.image_encoder.backbone.block_list = b.at("block_list").get<std::vector<std::string>>();
    c.image_encoder.backbone.expand_list = b.at("expand_list").get<std::vector<double>>();
    c.image_encoder.backbone.fewer_norm_list = b.at("fewer_norm_list").get<std::vector<bool>>();
    c.image_encoder.backbone.in_channels = b.value("in_channels", int64_t(3));
    c.image_encoder.backbone.qkv_dim = b.value("qkv_dim", int64_t(32));
    c.image_encoder.backbone.act = act_from_name(b.value("act_func", std::string("gelu")));
    const auto& n = j.at("neck");
    c.image_encoder.neck.fid_list = n.at("fid_list").get<std::vector<std::string>>();
    c.image_encoder.neck.in_channel_list = n.at("in_channel_list").get<std::vector<int64_t>>();
    c.image_encoder.neck.head_width = n.at("head_width").get<int64_t>();
    c.image_encoder.neck.head_depth = n.at("head_depth").get<int64_t>();
    c.image_encoder.neck.expand_ratio = n.at("expand_ratio").get<double>();
    c.image_encoder.neck.middle_op = n.at("middle_op").get<std::string>();
    c.image_encoder.neck.out_dim = n.at("out_dim").get<int64_t>();
    c.image_encoder.neck.act = act_from_name(n.value("act_func", std::string("gelu")));
    c.decoder = sam_decoder_config_from_json(j);
    return c;
}

}  // namespace evsam
