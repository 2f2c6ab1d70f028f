// evsam: efficientvit/models/efficientvit/sam.py: class EfficientViTSamPredictor (segment_anything
// predictor.py: SamPredictor), for any SAM model (sam/sam.hpp: SamBase)
//
//   set_image(rgb)   : preprocess (Pillow-exact resize to R, normalise, pad) and run the
//                      image encoder once; remembers original_size (H, W) and input_size,
//                      the image resized so its long side is 1024 (the prompt frame).
//   set_image_embedding: the same from an embedding computed earlier (`evsam embed`).
//   predict(prompt)  : prompts in original-image pixels -> apply_coords (to the 1024
//                      frame) -> prompt encoder -> mask decoder -> postprocess:
//                      bilinear to 1024x1024, crop to input_size, bilinear to (H, W),
//                      threshold at 0 unless logits are asked for.
//   predict_batch    : several prompt sets (e.g. one box each) in one decoder pass.
//   predict_torch    : the batched form (B prompts against one image embedding, in one
//                      decoder pass), with prompts already in the 1024 frame.
//
// A Predictor only reads the model, so several Predictors may share one model across threads.
#pragma once
#include <algorithm>
#include <array>
#include <optional>
#include <vector>

#include "evsam/core/image_io.hpp"
#include "evsam/core/preprocess.hpp"
#include "evsam/nn/functional.hpp"
#include "evsam/sam/sam.hpp"
#include "evsam/ops/resize.hpp"

namespace evsam {

enum class ImageFormat { RGB, BGR };

// Prompts for one prediction, in original-image pixels (x, y).
template <class T>
struct Prompt {
    std::vector<std::array<double, 2>> points;  // point_coords (N, 2)
    std::vector<int> labels;                    // point_labels (N): 1 foreground, 0 background
    std::optional<std::array<double, 4>> box;   // XYXY
    Tensor<T> mask_input;                       // (1, 256, 256) low-res logits, or empty
};

template <class T>
struct Prediction {
    Tensor<T> masks;            // (C, H, W) at the original size: 0/1, or logits when asked for
    Tensor<T> iou_predictions;  // (C,)
    Tensor<T> low_res_logits;   // (C, 256, 256): can be fed back as Prompt::mask_input
};

template <class T>
struct BatchPrediction {
    Tensor<T> masks;            // (B, C, H, W)
    Tensor<T> iou_predictions;  // (B, C)
    Tensor<T> low_res_logits;   // (B, C, 256, 256)
};

template <class T = float, class B = backend::cpu>
class Predictor {
public:
    static constexpr double mask_threshold = 0.0;

    // The dense positional encoding and the no-mask dense embedding depend only on the weights:
    // computed once here, not per prompt.
    explicit Predictor(const SamBase<T, B>& model)
        : model_(model),
          dense_pe_(model.prompt_encoder.get_dense_pe()),
          no_mask_dense_(model.prompt_encoder.no_mask_dense()) {}

    // set_image: rgb is H x W x 3 uint8 (HWC). BGR input is reversed to RGB first.
    void set_image(const uint8_t* hwc, int64_t H, int64_t W, ImageFormat format = ImageFormat::RGB) {
        EVSAM_CHECK(H > 0 && W > 0, "set_image: empty image");
        reset_image();
        std::vector<uint8_t> rgb;
        if (format == ImageFormat::BGR) {  // image = image[..., ::-1]
            rgb.assign(hwc, hwc + H * W * 3);
            swap_red_blue(rgb.data(), H * W, 3);
            hwc = rgb.data();
        }
        original_size_ = {H, W};
        input_size_ = get_preprocess_shape(H, W, model_.transform.prompt_frame);
        Tensor<T> x = preprocess_image<T>(hwc, H, W, model_.transform);  // self.model.transform(image)
        features_ = model_.encode(x);                                    // self.model.image_encoder(...)
        prepared_.push_back(prepare(features_));
    }
    void set_image(const Image& img, ImageFormat format = ImageFormat::RGB) {
        set_image(img.data.data(), img.height, img.width, format);
    }
    // set_image_batch: x is (N, 3, R, R), already preprocessed. As upstream, the "original size"
    // is then the tensor's own (R, R); pick an image with predict_torch's image_index.
    void set_image_batch(const Tensor<T>& x) {
        reset_image();
        EVSAM_CHECK(x.dim() == 4 && x.size(1) == 3,
                    "set_image_batch: expected (N, 3, R, R), got " + shape_str(x.shape()));
        original_size_ = {x.size(2), x.size(3)};
        input_size_ = get_preprocess_shape(x.size(2), x.size(3), model_.transform.prompt_frame);
        features_ = model_.encode(x);
        for (int64_t i = 0; i < x.size(0); ++i) prepared_.push_back(prepare(fn::narrow<B>(features_, 0, i, 1)));
    }
    // set_image_embedding: an embedding computed earlier (e.g. `evsam embed`) for an image of H x W,
    // instead of running the encoder: (1, 256, e, e), e the prompt encoder's image_embedding_size.
    // As set_image, but the caller vouches that it is this model's embedding of such an image.
    void set_image_embedding(const Tensor<T>& features, int64_t H, int64_t W) {
        EVSAM_CHECK(H > 0 && W > 0, "set_image_embedding: empty image");
        const int64_t e = model_.prompt_encoder.image_embedding_size;
        const Shape want{1, model_.prompt_encoder.embed_dim, e, e};
        EVSAM_CHECK(features.shape() == want, "set_image_embedding: expected an embedding of shape " + shape_str(want) +
                                                  ", got " + shape_str(features.shape()));
        reset_image();
        original_size_ = {H, W};
        input_size_ = get_preprocess_shape(H, W, model_.transform.prompt_frame);
        features_ = features;
        prepared_.push_back(prepare(features_));
    }
    void reset_image() {
        features_ = Tensor<T>();
        prepared_.clear();
        original_size_ = input_size_ = {0, 0};
    }
    bool is_image_set() const { return !features_.empty(); }
    const Tensor<T>& features() const { return features_; }  // (N, 256, 64, 64) image embedding
    std::pair<int64_t, int64_t> original_size() const { return original_size_; }
    std::pair<int64_t, int64_t> input_size() const { return input_size_; }

    // apply_coords: original-image (x, y) -> the 1024 frame, in double as upstream's numpy, then to T.
    std::array<T, 2> apply_coords(double x, double y) const {
        const double old_h = static_cast<double>(original_size_.first),
                     old_w = static_cast<double>(original_size_.second);
        const double new_h = static_cast<double>(input_size_.first), new_w = static_cast<double>(input_size_.second);
        return {static_cast<T>(x * (new_w / old_w)), static_cast<T>(y * (new_h / old_h))};
    }

    // predict: one prompt set in original-image pixels.
    // tr, if given, records the prompt encoder's and mask decoder's intermediate outputs.
    Prediction<T> predict(const Prompt<T>& p, bool multimask_output = true, bool return_logits = false,
                          Trace<T>* tr = nullptr) const {
        BatchPrediction<T> r = predict_batch({p}, multimask_output, return_logits, tr);
        // masks[0], iou_predictions[0], low_res_masks[0]
        auto drop_batch = [](Tensor<T> t) {
            Shape s(t.shape().begin() + 1, t.shape().end());
            t.reshape_(s);
            return t;
        };
        return {drop_batch(std::move(r.masks)), drop_batch(std::move(r.iou_predictions)),
                drop_batch(std::move(r.low_res_logits))};
    }

    // predict_batch: B prompt sets in original-image pixels, one decoder pass (predict_torch with
    // the prompts mapped to the 1024 frame as predict does): e.g. one box per object, as upstream's
    // predict_torch(boxes=...). The sets must agree in kind: the same number of points, a box in
    // all or none, a mask input in all or none. masks (B, C, H, W), iou (B, C), low-res (B, C, 256, 256).
    BatchPrediction<T> predict_batch(const std::vector<Prompt<T>>& ps, bool multimask_output = true,
                                     bool return_logits = false, Trace<T>* tr = nullptr) const {
        return with_masks(predict_batch_low_res(ps, multimask_output, tr), return_logits);
    }
    // predict_batch without the upscaling (masks left empty), for callers that upscale only the
    // masks they keep (the evaluation keeps the best of three).
    BatchPrediction<T> predict_batch_low_res(const std::vector<Prompt<T>>& ps, bool multimask_output = true,
                                             Trace<T>* tr = nullptr) const {
        require_image();
        EVSAM_CHECK(!ps.empty(), "predict: no prompt");
        const int64_t Bn = static_cast<int64_t>(ps.size()), N = static_cast<int64_t>(ps[0].points.size());
        const bool has_box = ps[0].box.has_value(), has_mask = !ps[0].mask_input.empty();
        for (const auto& p : ps) {
            EVSAM_CHECK(p.points.size() == p.labels.size(), "predict: " + std::to_string(p.points.size()) +
                                                                " points but " + std::to_string(p.labels.size()) +
                                                                " labels");
            EVSAM_CHECK(static_cast<int64_t>(p.points.size()) == N && p.box.has_value() == has_box &&
                            p.mask_input.empty() != has_mask,
                        "predict: the prompts of a batch must have the same number of points, and a box or a "
                        "mask input in all of them or in none");
        }
        Tensor<T> coords, labels, box, mask;
        if (N > 0) {
            coords = Tensor<T>({Bn, N, 2});
            labels = Tensor<T>({Bn, N});
        }
        if (has_box) box = Tensor<T>({Bn, 4});
        const int64_t s = 4 * model_.prompt_encoder.image_embedding_size;
        if (has_mask) mask = Tensor<T>({Bn, 1, s, s});
        for (int64_t b = 0; b < Bn; ++b) {
            const Prompt<T>& p = ps[static_cast<size_t>(b)];
            for (int64_t i = 0; i < N; ++i) {
                auto c = apply_coords(p.points[i][0], p.points[i][1]);
                coords[(b * N + i) * 2] = c[0];
                coords[(b * N + i) * 2 + 1] = c[1];
                EVSAM_CHECK(p.labels[i] == 0 || p.labels[i] == 1,
                            "predict: point label must be 1 (foreground) or 0 (background), got " +
                                std::to_string(p.labels[i]));
                labels[b * N + i] = static_cast<T>(p.labels[i]);
            }
            if (has_box) {  // apply_boxes: both corners through apply_coords
                auto c0 = apply_coords((*p.box)[0], (*p.box)[1]), c1 = apply_coords((*p.box)[2], (*p.box)[3]);
                box[b * 4] = c0[0], box[b * 4 + 1] = c0[1], box[b * 4 + 2] = c1[0], box[b * 4 + 3] = c1[1];
            }
            if (has_mask) {
                EVSAM_CHECK(p.mask_input.numel() == s * s && (p.mask_input.dim() == 2 || p.mask_input.dim() == 3),
                            "predict: mask_input must be (1, " + std::to_string(s) + ", " + std::to_string(s) +
                                ") or (" + std::to_string(s) + ", " + std::to_string(s) + "), got " +
                                shape_str(p.mask_input.shape()));
                std::copy(p.mask_input.data(), p.mask_input.data() + s * s, mask.data() + b * s * s);
            }
        }
        return predict_torch_low_res(N ? &coords : nullptr, N ? &labels : nullptr, has_box ? &box : nullptr,
                                     has_mask ? &mask : nullptr, multimask_output, -1, tr);
    }

    // predict_torch: B prompts at once, already in the 1024 frame: coords (B, N, 2) with labels
    // (B, N), boxes (B, 4), mask_input (B, 1, 256, 256). image_index picks the image after
    // set_image_batch (-1: the only image).
    BatchPrediction<T> predict_torch(const Tensor<T>* coords, const Tensor<T>* labels, const Tensor<T>* boxes,
                                     const Tensor<T>* mask_input, bool multimask_output = true,
                                     bool return_logits = false, int64_t image_index = -1,
                                     Trace<T>* tr = nullptr) const {
        return with_masks(predict_torch_low_res(coords, labels, boxes, mask_input, multimask_output, image_index, tr),
                          return_logits);
    }
    // predict_torch without the upscaling to the original size (masks left empty): for callers
    // that upscale only the masks they keep (the automatic mask generator filters on the
    // predicted IoU first; postprocess_masks treats each mask on its own, so the result is the same).
    BatchPrediction<T> predict_torch_low_res(const Tensor<T>* coords, const Tensor<T>* labels, const Tensor<T>* boxes,
                                             const Tensor<T>* mask_input, bool multimask_output = true,
                                             int64_t image_index = -1, Trace<T>* tr = nullptr) const {
        require_image();
        EVSAM_CHECK((coords == nullptr) == (labels == nullptr),
                    "predict: point_labels must be supplied with point_coords");
        const int64_t nimg = features_.size(0);
        EVSAM_CHECK(
            image_index < nimg && (image_index >= 0 || nimg == 1),
            "predict: image_index " + std::to_string(image_index) + " with " + std::to_string(nimg) + " images set");
        // the prompt encoder: sparse embeddings, and dense ones only for a mask input (without one
        // every prompt has no_mask_embed, which the prepared image already holds)
        const auto& pe = model_.prompt_encoder;
        const int64_t bs = pe.get_batch_size(coords, boxes, mask_input);
        const Tensor<T> sparse = pe.embed_sparse(coords, labels, boxes, bs, tr);
        const Tensor<T> dense = mask_input ? pe.embed_masks(*mask_input, tr) : Tensor<T>();
        const auto& image = prepared_[static_cast<size_t>(std::max<int64_t>(image_index, 0))];
        auto out = model_.mask_decoder.forward(image, sparse, mask_input ? &dense : nullptr, multimask_output, tr);
        return {Tensor<T>(), std::move(out.iou_pred), std::move(out.masks)};
    }

    // EfficientViTSam.postprocess_masks: (B, C, h, w) low-res logits -> (B, C, H, W).
    Tensor<T> postprocess_masks(const Tensor<T>& low) const {
        const int64_t Bn = low.size(0), C = low.size(1), F = model_.transform.prompt_frame;
        const auto [ih, iw] = input_size_;
        const auto [H, W] = original_size_;
        // F.interpolate(masks, (1024, 1024), bilinear, align_corners=False); masks[..., :input_h, :input_w]:
        // only the kept corner of the 1024 x 1024 upscale is computed
        Tensor<T> crop({Bn, C, ih, iw}, Tensor<T>::uninitialized);
        bilinear_resize_crop_forward(crop.data(), low.data(), Bn * C, low.size(2), low.size(3), F, F, ih, iw, B{});
        Tensor<T> out({Bn, C, H, W},
                      Tensor<T>::uninitialized);  // F.interpolate(masks, original_size, bilinear, align_corners=False)
        bilinear_resize_forward(out.data(), crop.data(), Bn * C, ih, iw, H, W, B{});
        return out;
    }

private:
    const SamBase<T, B>& model_;
    Tensor<T> dense_pe_;       // prompt_encoder.get_dense_pe()
    Tensor<T> no_mask_dense_;  // the dense embedding of a prompt without a mask input
    std::vector<typename MaskDecoder<T, B>::Prepared> prepared_;  // per image set: the decoder's per-image work

    typename MaskDecoder<T, B>::Prepared prepare(const Tensor<T>& features) const {
        return model_.mask_decoder.prepare(features, dense_pe_, no_mask_dense_);
    }
    Tensor<T> features_;
    std::pair<int64_t, int64_t> original_size_{0, 0}, input_size_{0, 0};

    // The masks at the original size: the low-res logits upscaled, thresholded unless logits are asked for.
    BatchPrediction<T> with_masks(BatchPrediction<T> r, bool return_logits) const {
        r.masks = postprocess_masks(r.low_res_logits);
        if (!return_logits)  // masks = masks > mask_threshold
            threshold_forward(r.masks.data(), r.masks.numel(), static_cast<T>(mask_threshold), B{});
        return r;
    }
    void require_image() const {
        if (!is_image_set()) throw Error("An image must be set with set_image(...) before mask prediction.");
    }
};

}  // namespace evsam
