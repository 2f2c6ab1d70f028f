// evsam: applications/efficientvit_sam/deployment/onnx/export_decoder.py: DecoderOnnxModel, the
// prompt encoder and mask decoder as upstream exports them to ONNX, so that an export can be checked
// against the same computation (python/evsam/check.py).
//
// It is not SamPredictor's decoder:
//   - prompts are points only, already in the prompt frame (1024), labels -1 (not a point), 0, 1,
//     and 2, 3 for a box's corners; nothing is padded (a caller adds the (0, 0, -1) point itself);
//   - no mask input: the dense embedding is always no_mask_embed;
//   - the masks are the decoder's low-res logits of all num_mask_tokens tokens (no upscaling), and
//     return_single_mask keeps, per prompt, the token of the highest IoU prediction among *all* of
//     them, where SamPredictor takes token 0 (multimask_output=False) or the best of tokens 1..3.
#pragma once
#include <cstdint>
#include <utility>

#include "evsam/core/error.hpp"
#include "evsam/nn/functional.hpp"
#include "evsam/ops/layout.hpp"
#include "evsam/ops/positional.hpp"
#include "evsam/sam/sam.hpp"

namespace evsam {

template <class T = float, class B = backend::cpu>
struct DecoderOnnxModel {
    const SamBase<T, B>& model;
    int64_t img_size;  // self.img_size = model.image_size[0]: the prompt frame
    bool return_single_mask;

    DecoderOnnxModel(const SamBase<T, B>& m, bool single)
        : model(m), img_size(m.transform.prompt_frame), return_single_mask(single) {}

    struct Output {
        Tensor<T> masks;   // (B, num_mask_tokens, 4h, 4w) low-res logits, or (B, 1, 4h, 4w)
        Tensor<T> scores;  // (B, num_mask_tokens), or (B, 1)
    };

    // _embed_points: point_coords (B, N, 2), point_labels (B, N) -> (B, N, E).
    Tensor<T> embed_points(const Tensor<T>& point_coords, const Tensor<T>& point_labels) const {
        const auto& pe = model.prompt_encoder;
        EVSAM_CHECK(point_coords.dim() == 3 && point_coords.size(2) == 2 && point_labels.dim() == 2 &&
                        point_labels.size(0) == point_coords.size(0) && point_labels.size(1) == point_coords.size(1),
                    "DecoderOnnxModel: point_coords must be (B, N, 2) and point_labels (B, N), got " +
                        shape_str(point_coords.shape()) + " and " + shape_str(point_labels.shape()));
        Tensor<T> coords(point_coords.shape(), Tensor<T>::uninitialized);
        add_scalar_forward(coords.data(), point_coords.data(), T(0.5), coords.numel(), B{});  // point_coords + 0.5
        // point_coords / self.img_size, then pe_layer._pe_encoding
        Tensor<T> point_embedding = pe.pe_layer.forward_with_coords(coords, img_size, img_size);
        const T* point_embeddings[4];
        for (int i = 0; i < 4; ++i)
            point_embeddings[i] = param_ptr(pe.point_embeddings[static_cast<size_t>(i)].weight, B{});
        // * (labels != -1) + not_a_point_embed * (labels == -1) + sum_i point_embeddings[i] * (labels == i)
        onnx_point_label_embed_forward(point_embedding.data(), point_labels.data(),
                                       param_ptr(pe.not_a_point_embed.weight, B{}), point_embeddings,
                                       point_labels.numel(), pe.embed_dim, B{});
        return point_embedding;
    }

    // forward(image_embeddings (1, E, h, w), point_coords, point_labels) -> masks, scores.
    Output forward(const Tensor<T>& image_embeddings, const Tensor<T>& point_coords, const Tensor<T>& point_labels,
                   Trace<T>* tr = nullptr) const {
        const auto& pe = model.prompt_encoder;
        const Tensor<T> sparse_embedding = embed_points(point_coords, point_labels);
        if (tr) tr->record(pe.name + ".sparse", sparse_embedding);
        EVSAM_CHECK(image_embeddings.dim() == 4, "DecoderOnnxModel: image_embeddings must be (1, E, h, w), got " +
                                                     shape_str(image_embeddings.shape()));
        // no_mask_embed.weight.reshape(1, -1, 1, 1).expand(..., h, w), one per prompt as predict_masks adds it
        const Tensor<T> dense_embedding = fn::expand_channels<B>(pe.no_mask_embed.weight, sparse_embedding.size(0),
                                                                 image_embeddings.size(2), image_embeddings.size(3));
        auto [masks, scores] = model.mask_decoder.predict_masks(image_embeddings, pe.get_dense_pe(), sparse_embedding,
                                                                dense_embedding, tr);
        if (return_single_mask) return select_masks(masks, scores);
        return {std::move(masks), std::move(scores)};
    }

    // select_masks: masks[arange(B), argmax(iou_preds, 1)].unsqueeze(1), and the same of iou_preds.
    Output select_masks(const Tensor<T>& masks, const Tensor<T>& iou_preds) const {
        const int64_t Bn = masks.size(0);
        Tensor<T> best_masks({Bn, 1, masks.size(2), masks.size(3)}, Tensor<T>::uninitialized),
            best_iou({Bn, 1}, Tensor<T>::uninitialized);
        argmax_select_forward(best_masks.data(), best_iou.data(), masks.data(), iou_preds.data(), Bn, masks.size(1),
                              masks.size(2) * masks.size(3), B{});
        return {std::move(best_masks), std::move(best_iou)};
    }
};

}  // namespace evsam
