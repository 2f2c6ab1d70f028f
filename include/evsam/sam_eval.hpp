// evsam: the zero-shot evaluation of applications/efficientvit_sam (eval_efficientvit_sam_model.py,
// sam_eval_utils.py): the prompt logic per annotation and the metrics.
//
//   predict_mask_from_box / _from_point: multimask output, then the mask with the highest predicted
//       IoU (the first on a tie, as numpy's argmax); only that mask is upscaled to the image.
//   Clicker: RITM's click simulator. The next click goes to the pixel farthest from the error's
//       boundary: cv2.distanceTransform(DIST_L2, 0) of the false-negative and false-positive maps,
//       each padded by one background pixel, already-clicked pixels zeroed; positive when the
//       false-negative maximum is strictly larger; the first maximum in row-major order.
//   mask_iou: |a & b| / (|a | b| + 1e-7) * 100, upstream's units (percent).
//   iou_metric: get_iou_metric's means over all annotations and by area (small <= 32^2 <= medium <=
//       96^2 <= large, both bounds inclusive as upstream filters), summed in order as Python's sum().
//       An empty class is NaN (upstream divides by zero there).
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "evsam/ops/distance_transform.hpp"
#include "evsam/predictor.hpp"

namespace evsam {

struct Click {
    bool is_positive = false;
    int64_t y = 0, x = 0;  // coords (row, column), as Click.coords
};

class Clicker {
public:
    // gt: H x W row-major, nonzero = object (gt_mask == 1 for a 0/1 mask; nothing is ignored).
    Clicker(std::vector<uint8_t> gt, int64_t H, int64_t W)
        : gt_(std::move(gt)), not_clicked_(static_cast<size_t>(H * W), 1), H_(H), W_(W) {
        EVSAM_CHECK(static_cast<int64_t>(gt_.size()) == H * W, "Clicker: the mask is not H x W");
    }

    // make_next_click: pred is the current H x W prediction (nonzero = object).
    const Click& make_next_click(const uint8_t* pred) {
        const int64_t PH = H_ + 2, PW = W_ + 2;
        std::vector<uint8_t> fn(static_cast<size_t>(PH * PW), 0), fp(fn.size(), 0);
        for (int64_t y = 0; y < H_; ++y)
            for (int64_t x = 0; x < W_; ++x) {
                const bool g = gt_[y * W_ + x] != 0, p = pred[y * W_ + x] != 0;
                fn[(y + 1) * PW + x + 1] = g && !p;
                fp[(y + 1) * PW + x + 1] = !g && p;
            }
        std::vector<float> fn_dt(fn.size()), fp_dt(fp.size());
        distance_transform_l2_forward(fn_dt.data(), fn.data(), PH, PW, backend::cpu{});
        distance_transform_l2_forward(fp_dt.data(), fp.data(), PH, PW, backend::cpu{});
        // fn_mask_dt[1:-1, 1:-1] * not_clicked_map, its max and first argmax (np.where(...)[0])
        auto best = [&](const std::vector<float>& dt, float* mx) {
            *mx = 0;
            int64_t at = 0;
            bool first = true;
            for (int64_t y = 0; y < H_; ++y)
                for (int64_t x = 0; x < W_; ++x) {
                    const float d = dt[(y + 1) * PW + x + 1] * static_cast<float>(not_clicked_[y * W_ + x]);
                    if (first || d > *mx) *mx = d, at = y * W_ + x, first = false;
                }
            return at;
        };
        float fn_max = 0, fp_max = 0;
        const int64_t fn_at = best(fn_dt, &fn_max), fp_at = best(fp_dt, &fp_max);
        Click c;
        c.is_positive = fn_max > fp_max;
        const int64_t at = c.is_positive ? fn_at : fp_at;
        c.y = at / W_;
        c.x = at % W_;
        not_clicked_[static_cast<size_t>(at)] = 0;
        clicks_.push_back(c);
        return clicks_.back();
    }

    const std::vector<Click>& clicks() const { return clicks_; }

private:
    std::vector<uint8_t> gt_, not_clicked_;
    int64_t H_, W_;
    std::vector<Click> clicks_;
};

// iou(mask_a, mask_b) in percent.
inline double mask_iou(const uint8_t* a, const uint8_t* b, int64_t n) {
    int64_t inter = 0, uni = 0;
    for (int64_t i = 0; i < n; ++i) {
        const bool x = a[i] != 0, y = b[i] != 0;
        inter += x && y;
        uni += x || y;
    }
    return static_cast<double>(inter) / (static_cast<double>(uni) + 1e-7) * 100;
}

struct IouResult {
    double area = 0, iou = 0;
};

struct IouMetric {
    double all = 0, large = 0, medium = 0, small = 0;
};

inline IouMetric iou_metric(const std::vector<IouResult>& results) {
    auto mean = [&](double lo, double hi) {  // filter_results_by_area(results, lo, hi), then sum / len
        double s = 0;
        int64_t n = 0;
        for (const IouResult& r : results) {
            if (r.area < lo || r.area > hi) continue;
            s += r.iou;
            ++n;
        }
        return n ? s / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
    };
    const double inf = std::numeric_limits<double>::infinity();
    return {mean(-inf, inf), mean(96.0 * 96, inf), mean(32.0 * 32, 96.0 * 96), mean(-inf, 32.0 * 32)};
}

// The best of the multimask prediction, at the image's size, 0/1.
template <class T, class B>
std::vector<uint8_t> predict_best_mask(const Predictor<T, B>& predictor, const Prompt<T>& prompt) {
    const BatchPrediction<T> r = predictor.predict_batch_low_res({prompt}, true);
    const int64_t C = r.iou_predictions.numel();
    int64_t best = 0;  // iou_predictions.argmax()
    for (int64_t c = 1; c < C; ++c)
        if (r.iou_predictions[c] > r.iou_predictions[best]) best = c;
    const int64_t h = r.low_res_logits.size(2), w = r.low_res_logits.size(3);
    Tensor<T> low({1, 1, h, w});
    std::copy(r.low_res_logits.data() + best * h * w, r.low_res_logits.data() + (best + 1) * h * w, low.data());
    const Tensor<T> up = predictor.postprocess_masks(low);
    std::vector<uint8_t> mask(static_cast<size_t>(up.numel()));
    for (int64_t i = 0; i < up.numel(); ++i) mask[static_cast<size_t>(i)] = up[i] > T(0);  // > mask_threshold
    return mask;
}

}  // namespace evsam
