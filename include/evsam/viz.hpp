// evsam: overlays for looking at results (`evsam predict --overlay`, `evsam everything --overlay`).
//   overlay(image, masks, points, labels, box or boxes): the predictor's masks, each tinted in its
//     own colour, with the prompts drawn (foreground points green, background points red, boxes blue);
//   overlay(image, records): every mask of the automatic mask generator in its own colour,
//     largest first, so small masks stay visible.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "evsam/amg.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/core/tensor.hpp"
#include "evsam/sam/amg_utils.hpp"

namespace evsam::viz {

inline const std::array<std::array<uint8_t, 3>, 6>& palette() {
    static const std::array<std::array<uint8_t, 3>, 6> p = {
        {{30, 144, 255}, {255, 160, 30}, {200, 60, 220}, {40, 200, 120}, {230, 50, 50}, {240, 220, 40}}};
    return p;
}

// masks: (C, H, W), a pixel is inside where the value > 0 (binary masks or logits); every box drawn.
template <class T>
Image overlay(const Image& img, const Tensor<T>& masks, const std::vector<std::array<double, 2>>& points,
              const std::vector<int>& labels, const std::vector<std::array<double, 4>>& boxes) {
    Image out = img;
    const int64_t H = img.height, W = img.width, C = masks.dim() == 3 ? masks.size(0) : 0;
    for (int64_t c = 0; c < C; ++c) {
        const auto& col = palette()[static_cast<size_t>(c) % palette().size()];
        for (int64_t i = 0; i < H * W; ++i)
            if (masks[c * H * W + i] > T(0))
                for (int k = 0; k < 3; ++k)
                    out.data[static_cast<size_t>(i * 3 + k)] = static_cast<uint8_t>(
                        std::lround(0.55 * out.data[static_cast<size_t>(i * 3 + k)] + 0.45 * col[k]));
    }
    auto put = [&](int64_t x, int64_t y, std::array<uint8_t, 3> col) {
        if (x < 0 || y < 0 || x >= W || y >= H) return;
        for (int k = 0; k < 3; ++k) out.data[static_cast<size_t>((y * W + x) * 3 + k)] = col[k];
    };
    const int64_t r = std::max<int64_t>(3, std::min(H, W) / 80), t = std::max<int64_t>(1, r / 3);
    for (const auto& box : boxes) {
        const int64_t x0 = std::lround(box[0]), y0 = std::lround(box[1]), x1 = std::lround(box[2]),
                      y1 = std::lround(box[3]);
        // Prompt coordinates are not clipped (upstream uses them as given, up to +-1e9): walk only
        // the part of each edge that lies inside the image, not billions of invisible pixels.
        for (int64_t d = 0; d < t; ++d) {
            for (int64_t x = std::max<int64_t>(x0, 0); x <= std::min(x1, W - 1); ++x)
                put(x, y0 + d, {20, 90, 255}), put(x, y1 - d, {20, 90, 255});
            for (int64_t y = std::max<int64_t>(y0, 0); y <= std::min(y1, H - 1); ++y)
                put(x0 + d, y, {20, 90, 255}), put(x1 - d, y, {20, 90, 255});
        }
    }
    for (size_t i = 0; i < points.size(); ++i) {
        const int64_t cx = std::lround(points[i][0]), cy = std::lround(points[i][1]);
        const std::array<uint8_t, 3> col = (i < labels.size() && labels[i] == 0) ? std::array<uint8_t, 3>{230, 30, 30}
                                                                                 : std::array<uint8_t, 3>{30, 220, 60};
        for (int64_t dy = -r - 1; dy <= r + 1; ++dy)
            for (int64_t dx = -r - 1; dx <= r + 1; ++dx) {
                const int64_t d2 = dx * dx + dy * dy;
                if (d2 <= r * r)
                    put(cx + dx, cy + dy, col);
                else if (d2 <= (r + 1) * (r + 1))
                    put(cx + dx, cy + dy, {255, 255, 255});
            }
    }
    return out;
}

// ... with at most one box (a single prompt set)
template <class T>
Image overlay(const Image& img, const Tensor<T>& masks, const std::vector<std::array<double, 2>>& points,
              const std::vector<int>& labels, const std::optional<std::array<double, 4>>& box) {
    return overlay(img, masks, points, labels,
                   box ? std::vector<std::array<double, 4>>{*box} : std::vector<std::array<double, 4>>{});
}

// Every record's mask painted in its own colour (largest first, so small masks stay visible).
inline Image overlay(const Image& img, const std::vector<MaskRecord>& recs) {
    Image out = img;
    std::vector<size_t> order(recs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return recs[a].area > recs[b].area; });
    for (size_t i : order) {
        uint32_t h = static_cast<uint32_t>(i) * 2654435761u + 12345u;  // a stable colour per mask
        const uint8_t col[3] = {static_cast<uint8_t>(64 + (h & 0xbf)), static_cast<uint8_t>(64 + ((h >> 8) & 0xbf)),
                                static_cast<uint8_t>(64 + ((h >> 16) & 0xbf))};
        auto m = amg::rle_to_mask(recs[i].rle);
        for (size_t p = 0; p < m.size(); ++p)
            if (m[p])
                for (int k = 0; k < 3; ++k)
                    out.data[p * 3 + k] = static_cast<uint8_t>((out.data[p * 3 + k] * 45 + col[k] * 55) / 100);
    }
    return out;
}

}  // namespace evsam::viz
