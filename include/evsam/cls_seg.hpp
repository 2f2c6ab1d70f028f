// evsam: EfficientViT's classifiers and segmenters as applications: upstream's evaluation
// preprocessing bit for bit, top-k, and logits to labels.
//
//   classify_preprocess  applications/efficientvit_cls/eval_efficientvit_cls_model.py:
//                        Resize(ceil(R / crop_ratio), BICUBIC) (Pillow) -> CenterCrop(R) -> ToTensor ->
//                        Normalize(ImageNet mean / std)
//   segment_input_size   applications/efficientvit_seg/eval_efficientvit_seg_model.py:
//   segment_preprocess     Cityscapes: Resize to crop_size x 2 crop_size (1024 x 2048), ADE20K: the short
//                          side to 512 and the long side up to a multiple of 32; both cv2.INTER_CUBIC,
//                          only when the size differs; then ToTensor (/ 255) and Normalize
//   segment_labels       the eval script's resize(output, size=mask.shape[-2:]) (bicubic, align_corners
//                        False) to the original size, then torch.argmax(output, dim=1)
//   segment_overlay      the eval script's get_canvas(image, pred, class_colors, opacity=0.5)
// The mean and std are ImageNet's (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225): as float32 these are
// exactly EfficientViT-SAM's 123.675 / 255, ..., so ImageTransform's unit_range table serves both.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "evsam/core/cv_resize.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/core/preprocess.hpp"
#include "evsam/core/tv_transforms.hpp"
#include "evsam/ops/resize.hpp"

namespace evsam {

// HWC uint8 RGB (h x w x 3) -> (1, 3, h, w): ToTensor, then Normalize with ImageNet's mean / std.
template <class T>
Tensor<T> imagenet_normalize(const uint8_t* rgb, int64_t h, int64_t w) {
    const NormalizeTable table = normalize_table(ImageTransform{});  // unit_range, ImageNet mean / std
    Tensor<T> out({1, 3, h, w}, Tensor<T>::uninitialized);
    for (int c = 0; c < 3; ++c) {
        const auto& tc = table[static_cast<size_t>(c)];
        T* dst = out.data() + c * h * w;
        for (int64_t i = 0; i < h * w; ++i) dst[i] = static_cast<T>(tc[rgb[i * 3 + c]]);
    }
    return out;
}

// The classifier's input tensor (1, 3, R, R) from an RGB image.
template <class T>
Tensor<T> classify_preprocess(const uint8_t* rgb, int64_t H, int64_t W, int64_t R, double crop_ratio) {
    const std::vector<uint8_t> crop = classify_resize_crop_u8(rgb, H, W, 3, R, crop_ratio);
    return imagenet_normalize<T>(crop.data(), R, R);
}

// The segmenter's input size for an H x W image (height, width); crop_size is the eval script's
// --crop_size (0: its default, 1024 for Cityscapes, 512 for ADE20K).
inline std::pair<int64_t, int64_t> segment_input_size(const std::string& dataset, int64_t H, int64_t W,
                                                      int64_t crop_size = 0) {
    if (dataset == "cityscapes") return cityscapes_eval_size(crop_size ? crop_size : 1024);
    if (dataset == "ade20k") return ade20k_eval_size(H, W, crop_size ? crop_size : 512);
    throw Error("segment: no evaluation transform for dataset '" + dataset + "' (cityscapes or ade20k)");
}

template <class T>
Tensor<T> segment_preprocess(const uint8_t* rgb, int64_t H, int64_t W, const std::string& dataset,
                             int64_t crop_size = 0) {
    const auto [h, w] = segment_input_size(dataset, H, W, crop_size);
    if (h == H && w == W) return imagenet_normalize<T>(rgb, H, W);
    const std::vector<uint8_t> resized = cv_resize_cubic_u8(rgb, H, W, 3, h, w);
    return imagenet_normalize<T>(resized.data(), h, w);
}

// (1, C, h, w) logits -> H x W class indices: each class's map resized bicubic to H x W (as
// F.interpolate, align_corners=False), then the first index of the largest value per pixel
// (torch.argmax). One class map at a time: memory is three H x W planes, not C of them.
template <class T>
std::vector<int32_t> segment_labels(const Tensor<T>& logits, int64_t H, int64_t W) {
    EVSAM_CHECK(logits.dim() == 4 && logits.size(0) == 1 && logits.size(1) >= 1,
                "segment_labels: expected (1, C, h, w) logits, got " + shape_str(logits.shape()));
    const int64_t C = logits.size(1), h = logits.size(2), w = logits.size(3);
    std::vector<int32_t> label(static_cast<size_t>(H * W), 0);
    std::vector<T> best(static_cast<size_t>(H * W)), plane(static_cast<size_t>(H * W));
    for (int64_t c = 0; c < C; ++c) {
        const T* src = logits.data() + c * h * w;
        T* dst = c == 0 ? best.data() : plane.data();
        if (h == H && w == W)
            std::copy(src, src + h * w, dst);
        else
            bicubic_resize_forward(dst, src, 1, h, w, H, W, backend::cpu{});
        if (c == 0) continue;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < H * W; ++i)
            if (plane[static_cast<size_t>(i)] > best[static_cast<size_t>(i)]) {  // strict: the first max wins
                best[static_cast<size_t>(i)] = plane[static_cast<size_t>(i)];
                label[static_cast<size_t>(i)] = static_cast<int32_t>(c);
            }
    }
    return label;
}

// get_canvas(image, mask, colors, opacity=0.5): seg_mask[mask == k] = colors[k];
// canvas = (seg_mask * opacity + image * (1 - opacity)).astype(np.uint8) (float64, truncated).
inline Image segment_overlay(const Image& img, const std::vector<int32_t>& label,
                             const std::vector<std::array<uint8_t, 3>>& colors, double opacity = 0.5) {
    EVSAM_CHECK(static_cast<int64_t>(label.size()) == img.height * img.width,
                "segment_overlay: labels and image differ in size");
    Image out = img;
    for (int64_t i = 0; i < img.height * img.width; ++i) {
        const int32_t k = label[static_cast<size_t>(i)];
        for (int c = 0; c < 3; ++c) {
            const double s = k >= 0 && k < static_cast<int32_t>(colors.size()) ? colors[static_cast<size_t>(k)][c] : 0;
            const double v = s * opacity + img.data[static_cast<size_t>(i * 3 + c)] * (1 - opacity);
            out.data[static_cast<size_t>(i * 3 + c)] = static_cast<uint8_t>(v);
        }
    }
    return out;
}

// One row of the classifier's output: class index, softmax probability and logit.
struct ClassScore {
    int64_t index;
    double prob, logit;
};

// The k best classes of row n of (N, C) logits, by logit (ties: the lower index first, as
// torch.topk on CPU), with softmax probabilities computed in double.
template <class T>
std::vector<ClassScore> top_k(const Tensor<T>& logits, int64_t n, int64_t k) {
    EVSAM_CHECK(logits.dim() == 2 && n >= 0 && n < logits.size(0), "top_k: expected (N, C) logits");
    const int64_t C = logits.size(1);
    const T* row = logits.data() + n * C;
    double mx = -INFINITY, sum = 0;
    for (int64_t c = 0; c < C; ++c) mx = std::max(mx, static_cast<double>(row[c]));
    for (int64_t c = 0; c < C; ++c) sum += std::exp(static_cast<double>(row[c]) - mx);
    std::vector<int64_t> idx(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) idx[static_cast<size_t>(c)] = c;
    k = std::min(k, C);
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int64_t a, int64_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
    std::vector<ClassScore> out;
    for (int64_t i = 0; i < k; ++i) {
        const int64_t c = idx[static_cast<size_t>(i)];
        out.push_back({c, std::exp(static_cast<double>(row[c]) - mx) / sum, static_cast<double>(row[c])});
    }
    return out;
}

// eval_efficientvit_seg_model.py: SegIOU(num_classes, ignore_index=-1) on one prediction, added to
// the running sums (AverageMeter.update). pred: class ids; target: class ids, -1 ignored. As upstream:
//   outputs = (pred + 1) * (target != -1); targets = (target + 1) * (target != -1)
//   intersections = outputs * (outputs == targets); each histogrammed over 1..C (others dropped)
//   unions = outputs + targets - intersections
inline void seg_iou_update(std::vector<int64_t>& inter, std::vector<int64_t>& uni, const int32_t* pred,
                           const int32_t* target, int64_t n, int64_t C) {
    inter.resize(static_cast<size_t>(C), 0);
    uni.resize(static_cast<size_t>(C), 0);
    std::vector<int64_t> out_h(static_cast<size_t>(C), 0), tgt_h(static_cast<size_t>(C), 0),
        int_h(static_cast<size_t>(C), 0);
    for (int64_t i = 0; i < n; ++i) {
        if (target[i] == -1) continue;
        const int64_t o = int64_t(pred[i]) + 1, t = int64_t(target[i]) + 1;
        if (o >= 1 && o <= C) ++out_h[static_cast<size_t>(o - 1)];
        if (t >= 1 && t <= C) ++tgt_h[static_cast<size_t>(t - 1)];
        if (o == t && o >= 1 && o <= C) ++int_h[static_cast<size_t>(o - 1)];
    }
    for (size_t c = 0; c < static_cast<size_t>(C); ++c) {
        inter[c] += int_h[c];
        uni[c] += out_h[c] + tgt_h[c] - int_h[c];
    }
}

// The Cityscapes labelId -> trainId map of eval_efficientvit_seg_model.py (CityscapesDataset.label_map):
// ids 0..33, -1 for the ids not evaluated.
inline const std::array<int32_t, 34>& cityscapes_label_map() {
    static const std::array<int32_t, 34> m = {-1, -1, -1, -1, -1, -1, -1, 0,  1,  -1, -1, 2,  3,  4,  -1, -1, -1,
                                              5,  -1, 6,  7,  8,  9,  10, 11, 12, 13, 14, 15, -1, -1, 16, 17, 18};
    return m;
}

// Whether class `label` is among the k largest logits of row n (eval_efficientvit_cls_model.py's
// accuracy(): output.topk(k) then a match with the target).
template <class T>
bool in_top_k(const Tensor<T>& logits, int64_t n, int64_t label, int64_t k) {
    for (const auto& s : top_k(logits, n, k))
        if (s.index == label) return true;
    return false;
}

}  // namespace evsam
