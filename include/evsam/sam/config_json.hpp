// evsam: SAM model configurations from JSON (validation/make_fixtures.py writes one per tiny
// fixture model): the prompt encoder's and mask decoder's sizes, shared by every family, and
// SamViTConfig (its "image_encoder" holds ImageEncoderViT's constructor arguments, and optionally
// HourglassImageEncoderViT's hourglass_* ones).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "evsam/sam/sam_vit.hpp"

namespace evsam {

// "prompt_encoder" and "mask_decoder": PromptEncoder's and MaskDecoder's constructor arguments.
inline SamDecoderConfig sam_decoder_config_from_json(const nlohmann::json& j) {
    SamDecoderConfig c;
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

inline SamViTConfig sam_vit_config_from_json(const nlohmann::json& j) {
    const auto& e = j.at("image_encoder");
    ImageEncoderViTConfig v;
    v.img_size = e.at("img_size").get<int64_t>();
    v.patch_size = e.at("patch_size").get<int64_t>();
    v.in_chans = e.value("in_chans", int64_t(3));
    v.embed_dim = e.at("embed_dim").get<int64_t>();
    v.depth = e.at("depth").get<int64_t>();
    v.num_heads = e.at("num_heads").get<int64_t>();
    v.mlp_ratio = e.value("mlp_ratio", 4.0);
    v.out_chans = e.at("out_chans").get<int64_t>();
    v.qkv_bias = e.value("qkv_bias", true);
    v.use_abs_pos = e.value("use_abs_pos", true);
    v.use_rel_pos = e.value("use_rel_pos", false);
    v.window_size = e.value("window_size", int64_t(0));
    v.global_attn_indexes = e.value("global_attn_indexes", std::vector<int64_t>{});
    v.norm_eps = e.value("norm_eps", 1e-6);
    // HourglassImageEncoderViT's keyword arguments (Expedit-SAM), when the configuration has them
    HourglassConfig& h = v.hourglass;
    h.clustering_location = e.value("hourglass_clustering_location", h.clustering_location);
    h.num_cluster = e.value("hourglass_num_cluster", h.num_cluster);
    h.cluster_iters = e.value("hourglass_cluster_iters", h.cluster_iters);
    h.temperture = e.value("hourglass_temperture", h.temperture);
    h.cluster_window_size = e.value("hourglass_cluster_window_size", h.cluster_window_size);
    h.reconstruction_k = e.value("hourglass_reconstruction_k", h.reconstruction_k);
    SamViTConfig c = build_sam_vit(j.value("name", std::string("custom")), v);
    c.decoder = sam_decoder_config_from_json(j);
    return c;
}

}  // namespace evsam
