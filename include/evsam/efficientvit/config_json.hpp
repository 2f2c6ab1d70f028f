// evsam: SamConfig from a JSON description (validation/make_fixtures.py writes one per
// tiny fixture model), so non-official configurations can be built and checked too.
#pragma once
#include <nlohmann/json.hpp>

#include "evsam/efficientvit/sam.hpp"

namespace evsam {

inline SamConfig sam_config_from_json(const nlohmann::json& j) {
    SamConfig c;
    c.name = j.value("name", std::string("custom"));
    c.resolution = j.at("resolution").get<int64_t>();
    const auto& b = j.at("backbone");
    c.backbone.width_list = b.at("width_list").get<std::vector<int64_t>>();
    c.backbone.depth_list = b.at("depth_list").get<std::vector<int64_t>>();
    c.backbone.block_list = b.at("block_list").get<std::vector<std::string>>();
    c.backbone.expand_list = b.at("expand_list").get<std::vector<double>>();
    c.backbone.fewer_norm_list = b.at("fewer_norm_list").get<std::vector<bool>>();
    c.backbone.in_channels = b.value("in_channels", int64_t(3));
    c.backbone.qkv_dim = b.value("qkv_dim", int64_t(32));
    c.backbone.act = act_from_name(b.value("act_func", std::string("gelu")));
    const auto& n = j.at("neck");
    c.neck.fid_list = n.at("fid_list").get<std::vector<std::string>>();
    c.neck.in_channel_list = n.at("in_channel_list").get<std::vector<int64_t>>();
    c.neck.head_width = n.at("head_width").get<int64_t>();
    c.neck.head_depth = n.at("head_depth").get<int64_t>();
    c.neck.expand_ratio = n.at("expand_ratio").get<double>();
    c.neck.middle_op = n.at("middle_op").get<std::string>();
    c.neck.out_dim = n.at("out_dim").get<int64_t>();
    c.neck.act = act_from_name(n.value("act_func", std::string("gelu")));
    const auto& p = j.at("prompt_encoder");
    c.embed_dim = p.at("embed_dim").get<int64_t>();
    c.image_embedding_size = p.at("image_embedding_size").at(0).get<int64_t>();
    c.mask_in_chans = p.at("mask_in_chans").get<int64_t>();
    const auto& d = j.at("mask_decoder");
    c.num_multimask_outputs = d.at("num_multimask_outputs").get<int64_t>();
    c.iou_head_depth = d.at("iou_head_depth").get<int64_t>();
    c.iou_head_hidden_dim = d.at("iou_head_hidden_dim").get<int64_t>();
    const auto& t = d.at("transformer");
    c.transformer_depth = t.at("depth").get<int64_t>();
    c.transformer_mlp_dim = t.at("mlp_dim").get<int64_t>();
    c.transformer_heads = t.at("num_heads").get<int64_t>();
    return c;
}

}  // namespace evsam
