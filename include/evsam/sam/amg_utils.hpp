// evsam: segment_anything/utils/amg.py — the helpers of the automatic mask generator:
// point grids, crop boxes, stability score, mask-to-box, box NMS (torchvision semantics),
// RLE (uncompressed column-major, and COCO's compressed string), small-region removal.
//
// Masks here are H x W row-major bytes (0/1). Boxes are XYXY with inclusive right/bottom
// pixel indices, as upstream's batched_mask_to_box returns them.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "evsam/core/error.hpp"

namespace evsam::amg {

using Box = std::array<int64_t, 4>;  // x0, y0, x1, y1

// build_point_grid: n x n points evenly spaced in [0, 1]^2, x fastest (numpy linspace + tile).
inline std::vector<std::array<double, 2>> build_point_grid(int64_t n) {
    // upstream divides by zero for n == 0 (a crop layer where int(n_per_side / scale**i) == 0)
    EVSAM_CHECK(n >= 1,
                "a point grid needs at least 1 point per side (points_per_side / "
                "crop_n_points_downscale_factor^layer is below 1)");
    const double offset = 1.0 / (2.0 * static_cast<double>(n));
    std::vector<double> side(static_cast<size_t>(n));
    const double start = offset, stop = 1.0 - offset;
    const double step = n > 1 ? (stop - start) / static_cast<double>(n - 1) : 0.0;
    for (int64_t i = 0; i < n; ++i) side[static_cast<size_t>(i)] = static_cast<double>(i) * step + start;
    if (n > 1) side.back() = stop;  // numpy.linspace sets the endpoint exactly
    std::vector<std::array<double, 2>> pts;
    for (int64_t y = 0; y < n; ++y)
        for (int64_t x = 0; x < n; ++x) pts.push_back({side[static_cast<size_t>(x)], side[static_cast<size_t>(y)]});
    return pts;
}

// build_all_layer_point_grids: layer i has int(n_per_side / scale_per_layer**i) points per side.
inline std::vector<std::vector<std::array<double, 2>>> build_all_layer_point_grids(int64_t n_per_side, int64_t n_layers,
                                                                                   int64_t scale_per_layer) {
    std::vector<std::vector<std::array<double, 2>>> out;
    for (int64_t i = 0; i <= n_layers; ++i) {
        const int64_t n =
            static_cast<int64_t>(static_cast<double>(n_per_side) / std::pow(static_cast<double>(scale_per_layer), i));
        out.push_back(build_point_grid(n));
    }
    return out;
}

// generate_crop_boxes: the whole image, then (2^i)^2 overlapping crops for layer i = 1..n_layers.
inline void generate_crop_boxes(int64_t im_h, int64_t im_w, int64_t n_layers, double overlap_ratio,
                                std::vector<Box>& crop_boxes, std::vector<int64_t>& layer_idxs) {
    crop_boxes.clear();
    layer_idxs.clear();
    const int64_t short_side = std::min(im_h, im_w);
    crop_boxes.push_back({0, 0, im_w, im_h});
    layer_idxs.push_back(0);
    auto crop_len = [](int64_t orig_len, int64_t n_crops, int64_t overlap) {
        return static_cast<int64_t>(
            std::ceil(static_cast<double>(overlap * (n_crops - 1) + orig_len) / static_cast<double>(n_crops)));
    };
    for (int64_t i_layer = 0; i_layer < n_layers; ++i_layer) {
        const int64_t n_crops = int64_t(1) << (i_layer + 1);
        const int64_t overlap = static_cast<int64_t>(overlap_ratio * static_cast<double>(short_side) *
                                                     (2.0 / static_cast<double>(n_crops)));
        const int64_t crop_w = crop_len(im_w, n_crops, overlap), crop_h = crop_len(im_h, n_crops, overlap);
        for (int64_t i = 0; i < n_crops; ++i)  // product(crop_box_x0, crop_box_y0): x0 outer
            for (int64_t j = 0; j < n_crops; ++j) {
                const int64_t x0 = (crop_w - overlap) * i, y0 = (crop_h - overlap) * j;
                crop_boxes.push_back({x0, y0, std::min(x0 + crop_w, im_w), std::min(y0 + crop_h, im_h)});
                layer_idxs.push_back(i_layer + 1);
            }
    }
}

// calculate_stability_score: IoU of the masks thresholded at threshold +- offset, for n logit maps
// of P pixels each: count(x > t + o) / count(x > t - o) in float (0/0 is NaN, as upstream).
template <class T>
std::vector<float> calculate_stability_score(const T* logits, int64_t n, int64_t P, double threshold, double offset) {
    std::vector<float> out(static_cast<size_t>(n));
    const T hi = static_cast<T>(threshold + offset), lo = static_cast<T>(threshold - offset);
    for (int64_t i = 0; i < n; ++i) {
        int64_t inter = 0, uni = 0;
        for (int64_t p = 0; p < P; ++p) {
            inter += logits[i * P + p] > hi;
            uni += logits[i * P + p] > lo;
        }
        out[static_cast<size_t>(i)] = static_cast<float>(inter) / static_cast<float>(uni);
    }
    return out;
}

// batched_mask_to_box for one mask: [left, top, right, bottom], [0, 0, 0, 0] when empty.
inline Box mask_to_box(const uint8_t* m, int64_t H, int64_t W) {
    int64_t left = W, top = H, right = -1, bottom = -1;
    for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x)
            if (m[y * W + x]) {
                left = std::min(left, x), right = std::max(right, x);
                top = std::min(top, y), bottom = std::max(bottom, y);
            }
    if (right < 0) return {0, 0, 0, 0};
    return {left, top, right, bottom};
}

// is_box_near_crop_edge: near (within atol) a crop edge that is not also an image edge.
inline bool is_box_near_crop_edge(const Box& box, const Box& crop_box, const Box& orig_box, double atol = 20.0) {
    for (int k = 0; k < 4; ++k) {
        const double b = static_cast<double>(box[k] + crop_box[k % 2]);  // uncrop_boxes_xyxy
        const bool near_crop = std::abs(b - static_cast<double>(crop_box[k])) <= atol;
        const bool near_image = std::abs(b - static_cast<double>(orig_box[k])) <= atol;
        if (near_crop && !near_image) return true;
    }
    return false;
}

// torchvision.ops.nms (batched_nms with one category): indices kept, by decreasing score.
// IoU = inter / (area_i + area_j - inter) with area = (x1 - x0) * (y1 - y0) in float; a box is
// suppressed when its IoU with a kept, higher-scoring box is > iou_threshold.
inline std::vector<int64_t> nms(const std::vector<std::array<float, 4>>& boxes, const std::vector<float>& scores,
                                double iou_threshold) {
    const size_t n = boxes.size();
    EVSAM_CHECK(scores.size() == n, "nms: boxes and scores differ in length");
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
    std::vector<float> area(n);
    for (size_t i = 0; i < n; ++i) area[i] = (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1]);
    std::vector<char> suppressed(n, 0);
    std::vector<int64_t> keep;
    for (size_t a = 0; a < n; ++a) {
        const int64_t i = order[a];
        if (suppressed[i]) continue;
        keep.push_back(i);
        for (size_t b = a + 1; b < n; ++b) {
            const int64_t j = order[b];
            if (suppressed[j]) continue;
            const float xx1 = std::max(boxes[i][0], boxes[j][0]), yy1 = std::max(boxes[i][1], boxes[j][1]);
            const float xx2 = std::min(boxes[i][2], boxes[j][2]), yy2 = std::min(boxes[i][3], boxes[j][3]);
            const float inter = std::max(0.0f, xx2 - xx1) * std::max(0.0f, yy2 - yy1);
            const float iou = inter / (area[i] + area[j] - inter);
            if (static_cast<double>(iou) > iou_threshold) suppressed[j] = 1;  // float IoU vs the double threshold
        }
    }
    return keep;
}

// Uncompressed RLE as pycocotools expects it: counts of alternating 0s and 1s over the mask in
// column-major (Fortran) order, starting with the 0s (a leading 0 count when pixel (0,0) is set).
struct Rle {
    int64_t h = 0, w = 0;
    std::vector<uint32_t> counts;
};

// mask_to_rle_pytorch for one H x W mask.
inline Rle mask_to_rle(const uint8_t* m, int64_t H, int64_t W) {
    Rle r{H, W, {}};
    uint8_t cur = 0;
    uint32_t run = 0;
    for (int64_t x = 0; x < W; ++x)
        for (int64_t y = 0; y < H; ++y) {
            const uint8_t v = m[y * W + x] ? 1 : 0;
            if (v != cur) {
                r.counts.push_back(run);
                run = 0;
                cur = v;
            }
            ++run;
        }
    r.counts.push_back(run);
    return r;
}

// rle_to_mask: back to H x W row-major 0/1.
inline std::vector<uint8_t> rle_to_mask(const Rle& r) {
    std::vector<uint8_t> m(static_cast<size_t>(r.h * r.w), 0);
    int64_t idx = 0;
    uint8_t parity = 0;
    for (uint32_t c : r.counts) {
        EVSAM_CHECK(idx + static_cast<int64_t>(c) <= r.h * r.w, "RLE counts exceed the mask size");
        for (uint32_t k = 0; k < c; ++k, ++idx) m[static_cast<size_t>((idx % r.h) * r.w + idx / r.h)] = parity;
        parity ^= 1;
    }
    EVSAM_CHECK(idx == r.h * r.w, "RLE counts do not cover the mask");
    return m;
}

// area_from_rle: the sum of the 1-runs.
inline int64_t area_from_rle(const Rle& r) {
    int64_t a = 0;
    for (size_t i = 1; i < r.counts.size(); i += 2) a += r.counts[i];
    return a;
}

// pycocotools rleToString: each count (minus the count two places back, from the 4th on) as
// little-endian 5-bit groups with a continuation bit, offset by 48 into printable ASCII.
inline std::string coco_rle_string(const Rle& r) {
    std::string s;
    for (size_t i = 0; i < r.counts.size(); ++i) {
        int64_t x = r.counts[i];
        if (i > 2) x -= static_cast<int64_t>(r.counts[i - 2]);
        bool more = true;
        while (more) {
            char c = static_cast<char>(x & 0x1f);
            x >>= 5;  // arithmetic shift, as in C
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            s.push_back(static_cast<char>(c + 48));
        }
    }
    return s;
}

// pycocotools rleFrString: the inverse of coco_rle_string.
inline Rle coco_rle_from_string(const std::string& s, int64_t h, int64_t w) {
    Rle r{h, w, {}};
    size_t p = 0;
    while (p < s.size()) {
        // A count is at most 32 bits and a difference of two 33 with its sign: 7 groups of 5 bits
        // hold it. Longer strings are refused (pycocotools shifts a C long past its width there).
        uint64_t u = 0;
        int k = 0;
        bool more = true;
        while (more) {
            EVSAM_CHECK(p < s.size() && k < 7, "malformed COCO RLE string");
            const int c = s[p] - 48;
            EVSAM_CHECK(c >= 0 && c < 64, "malformed COCO RLE string");
            u |= static_cast<uint64_t>(c & 0x1f) << (5 * k);
            more = (c & 0x20) != 0;
            ++p, ++k;
            if (!more && (c & 0x10)) u |= ~uint64_t(0) << (5 * k);  // sign-extend; 5 * k <= 35
        }
        int64_t x = static_cast<int64_t>(u);  // |x| < 2^35: no overflow below
        if (r.counts.size() > 2) x += r.counts[r.counts.size() - 2];
        EVSAM_CHECK(x >= 0 && x <= UINT32_MAX, "malformed COCO RLE string");
        r.counts.push_back(static_cast<uint32_t>(x));
    }
    return r;
}

// Connected components of the nonzero pixels (like cv2.connectedComponentsWithStats): labels
// 1..n in raster order of each component's first pixel, 0 for background; sizes[0] unused.
inline int64_t connected_components(const std::vector<uint8_t>& m, int64_t H, int64_t W, int connectivity,
                                    std::vector<int32_t>& labels, std::vector<int64_t>& sizes) {
    labels.assign(static_cast<size_t>(H * W), 0);
    sizes.assign(1, 0);
    std::vector<int64_t> stack;
    int32_t n = 0;
    for (int64_t s = 0; s < H * W; ++s) {
        if (!m[static_cast<size_t>(s)] || labels[static_cast<size_t>(s)]) continue;
        ++n;
        int64_t size = 0;
        stack.push_back(s);
        labels[static_cast<size_t>(s)] = n;
        while (!stack.empty()) {
            const int64_t p = stack.back();
            stack.pop_back();
            ++size;
            const int64_t y = p / W, x = p % W;
            for (int dy = -1; dy <= 1; ++dy)
                for (int dx = -1; dx <= 1; ++dx) {
                    if ((dy == 0 && dx == 0) || (connectivity == 4 && dy != 0 && dx != 0)) continue;
                    const int64_t yy = y + dy, xx = x + dx;
                    if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                    const int64_t q = yy * W + xx;
                    if (m[static_cast<size_t>(q)] && !labels[static_cast<size_t>(q)]) {
                        labels[static_cast<size_t>(q)] = n;
                        stack.push_back(q);
                    }
                }
        }
        sizes.push_back(size);
    }
    return n;
}

// remove_small_regions: fills holes (mode "holes") or drops islands (mode "islands") smaller than
// area_thresh; islands mode keeps the largest region if every region is small. Returns whether
// the mask changed. Upstream uses 8-connectivity (cv2.connectedComponentsWithStats(..., 8)).
inline bool remove_small_regions(std::vector<uint8_t>& mask, int64_t H, int64_t W, double area_thresh, bool holes,
                                 int connectivity = 8) {
    std::vector<uint8_t> working(mask.size());
    for (size_t i = 0; i < mask.size(); ++i) working[i] = holes ? !mask[i] : (mask[i] != 0);
    std::vector<int32_t> labels;
    std::vector<int64_t> sizes;
    const int64_t n = connected_components(working, H, W, connectivity, labels, sizes);
    std::vector<char> small(static_cast<size_t>(n + 1), 0);
    bool any_small = false;
    for (int64_t l = 1; l <= n; ++l)
        if (static_cast<double>(sizes[static_cast<size_t>(l)]) < area_thresh)
            small[static_cast<size_t>(l)] = 1, any_small = true;
    if (!any_small) return false;
    std::vector<char> fill(static_cast<size_t>(n + 1), 0);  // fill_labels = [0] + small_regions
    fill[0] = 1;
    for (int64_t l = 1; l <= n; ++l) fill[static_cast<size_t>(l)] = small[static_cast<size_t>(l)];
    if (!holes) {  // islands: keep the labels not in fill_labels, or the largest region
        bool none = true;
        for (int64_t l = 0; l <= n; ++l) {
            fill[static_cast<size_t>(l)] = !fill[static_cast<size_t>(l)];
            none = none && !fill[static_cast<size_t>(l)];
        }
        if (none) {
            int64_t best = 1;
            for (int64_t l = 2; l <= n; ++l)
                if (sizes[static_cast<size_t>(l)] > sizes[static_cast<size_t>(best)]) best = l;
            fill[static_cast<size_t>(best)] = 1;
        }
    }
    for (size_t i = 0; i < mask.size(); ++i) mask[i] = fill[static_cast<size_t>(labels[i])] ? 1 : 0;
    return true;
}

}  // namespace evsam::amg
