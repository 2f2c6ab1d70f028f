// evsam: EfficientViTSamConfig, EfficientViTClsConfig and EfficientViTSegConfig from a JSON
// description (validation/make_fixtures.py and make_cls_seg_fixtures.py write one per tiny fixture
// model), so non-official configurations can be built and checked too.
#pragma once
#include <nlohmann/json.hpp>

#include "evsam/efficientvit/sam.hpp"
#include "evsam/efficientvit/seg.hpp"
#include "evsam/sam/config_json.hpp"

namespace evsam {

// EfficientViTLargeBackbone's keyword arguments.
inline LargeBackboneConfig large_backbone_config_from_json(const nlohmann::json& b) {
    LargeBackboneConfig c;
    c.width_list = b.at("width_list").get<std::vector<int64_t>>();
    c.depth_list = b.at("depth_list").get<std::vector<int64_t>>();
    c.block_list = b.at("block_list").get<std::vector<std::string>>();
    c.expand_list = b.at("expand_list").get<std::vector<double>>();
    c.fewer_norm_list = b.at("fewer_norm_list").get<std::vector<bool>>();
    c.in_channels = b.value("in_channels", int64_t(3));
    c.qkv_dim = b.value("qkv_dim", int64_t(32));
    c.act = act_from_name(b.value("act_func", std::string("gelu")));
    return c;
}

// EfficientViTBackbone's keyword arguments (norm "bn2d" only), with the model's norm eps.
inline BackboneConfig backbone_b_config_from_json(const nlohmann::json& b, double norm_eps) {
    BackboneConfig c;
    c.width_list = b.at("width_list").get<std::vector<int64_t>>();
    c.depth_list = b.at("depth_list").get<std::vector<int64_t>>();
    c.in_channels = b.value("in_channels", int64_t(3));
    c.dim = b.value("dim", int64_t(32));
    c.expand_ratio = b.value("expand_ratio", 4.0);
    EVSAM_CHECK(b.value("norm", std::string("bn2d")) == "bn2d", "EfficientViTBackbone: only norm bn2d is supported");
    c.act = act_from_name(b.value("act_func", std::string("hswish")));
    c.norm_eps = norm_eps;
    return c;
}

// {"type": "EfficientViTBackbone" | "EfficientViTLargeBackbone", ...}
inline EfficientViTBackboneConfig any_backbone_config_from_json(const nlohmann::json& b, double norm_eps) {
    const std::string type = b.at("type").get<std::string>();
    if (type == "EfficientViTBackbone") return backbone_b_config_from_json(b, norm_eps);
    if (type == "EfficientViTLargeBackbone") return large_backbone_config_from_json(b);
    throw Error("unknown backbone type '" + type + "'");
}

// {"name", "backbone": {...}, "head": ClsHead's kwargs, "norm_eps"}
inline EfficientViTClsConfig cls_config_from_json(const nlohmann::json& j) {
    EfficientViTClsConfig c;
    c.name = j.value("name", std::string("custom"));
    c.norm_eps = j.at("norm_eps").get<double>();
    c.backbone = any_backbone_config_from_json(j.at("backbone"), c.norm_eps);
    const auto& h = j.at("head");
    c.head.in_channels = h.at("in_channels").get<int64_t>();
    c.head.width_list = h.at("width_list").get<std::vector<int64_t>>();
    c.head.n_classes = h.value("n_classes", int64_t(1000));
    c.head.act = act_from_name(h.value("act_func", std::string("hswish")));
    c.head.fid = h.value("fid", std::string("stage_final"));
    c.resolutions = {j.value("resolution", int64_t(224))};
    return c;
}

// {"name", "backbone": {...}, "head": SegHead's kwargs, "norm_eps"}
inline EfficientViTSegConfig seg_config_from_json(const nlohmann::json& j) {
    EfficientViTSegConfig c;
    c.name = j.value("name", std::string("custom"));
    c.dataset = j.value("dataset", std::string("custom"));
    c.norm_eps = j.at("norm_eps").get<double>();
    c.backbone = any_backbone_config_from_json(j.at("backbone"), c.norm_eps);
    const auto& h = j.at("head");
    c.head.fid_list = h.at("fid_list").get<std::vector<std::string>>();
    c.head.in_channel_list = h.at("in_channel_list").get<std::vector<int64_t>>();
    c.head.stride_list = h.at("stride_list").get<std::vector<int64_t>>();
    c.head.head_stride = h.at("head_stride").get<int64_t>();
    c.head.head_width = h.at("head_width").get<int64_t>();
    c.head.head_depth = h.at("head_depth").get<int64_t>();
    c.head.expand_ratio = h.at("expand_ratio").get<double>();
    c.head.middle_op = h.at("middle_op").get<std::string>();
    if (!h.at("final_expand").is_null()) c.head.final_expand = h.at("final_expand").get<int64_t>();
    c.head.n_classes = h.at("n_classes").get<int64_t>();
    c.head.act = act_from_name(h.value("act_func", std::string("hswish")));
    return c;
}

inline EfficientViTSamConfig sam_config_from_json(const nlohmann::json& j) {
    EfficientViTSamConfig c;
    c.name = j.value("name", std::string("custom"));
    c.transform.resolution = j.at("resolution").get<int64_t>();
    c.image_encoder.backbone = large_backbone_config_from_json(j.at("backbone"));
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
