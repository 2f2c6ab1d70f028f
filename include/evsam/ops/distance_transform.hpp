// evsam: cv2.distanceTransform(src, cv2.DIST_L2, 0) (DIST_MASK_PRECISE: OpenCV's trueDistTrans,
// Felzenszwalb and Huttenlocher's exact Euclidean distance transform), as the evaluation's Clicker
// calls it (efficientvit applications/efficientvit_sam/sam_eval_utils.py).
//
// out[y, x] = the distance from pixel (y, x) to the nearest pixel whose in value is 0, as float.
// The squared distance is found exactly in integers (a column pass, then the lower envelope of
// parabolas along each row); out is float's sqrt of it, as OpenCV computes sqrt(float(d2)), so the
// two agree bit for bit while d2 < 2^24 (distances under 4096 px), where float holds d2 exactly.
// Where the image has no 0 pixel at all, out is +inf (OpenCV then returns a large finite value).
//
// distance_transform_l2_naive is the reference: the minimum over every 0 pixel, O((H W)^2).
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "evsam/backend/backend.hpp"

namespace evsam {

inline void distance_transform_l2_naive(float* out, const uint8_t* in, int64_t H, int64_t W) {
    for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
            int64_t best = -1;
            for (int64_t v = 0; v < H; ++v)
                for (int64_t u = 0; u < W; ++u)
                    if (in[v * W + u] == 0) {
                        const int64_t d2 = (y - v) * (y - v) + (x - u) * (x - u);
                        if (best < 0 || d2 < best) best = d2;
                    }
            out[y * W + x] = best < 0 ? std::numeric_limits<float>::infinity() : std::sqrt(static_cast<float>(best));
        }
}

inline void distance_transform_l2_forward(float* out, const uint8_t* in, int64_t H, int64_t W, backend::cpu) {
    constexpr int64_t kInf = std::numeric_limits<int64_t>::max() / 4;
    // column pass: g[y, x] = (distance along column x to the nearest 0)^2, kInf where the column has none
    std::vector<int64_t> g(static_cast<size_t>(H * W));
#pragma omp parallel for schedule(static) if (H * W > (1 << 16))
    for (int64_t x = 0; x < W; ++x) {
        int64_t last = -1;  // row of the nearest 0 above (or at) y
        for (int64_t y = 0; y < H; ++y) {
            if (in[y * W + x] == 0) last = y;
            g[y * W + x] = last < 0 ? kInf : (y - last) * (y - last);
        }
        last = -1;
        for (int64_t y = H - 1; y >= 0; --y) {
            if (in[y * W + x] == 0) last = y;
            if (last >= 0) g[y * W + x] = std::min(g[y * W + x], (last - y) * (last - y));
        }
    }
    // row pass: d2(x) = min_u (x - u)^2 + g(u), over the lower envelope of the parabolas rooted at the
    // u with a finite g. The envelope boundaries are rationals with denominators <= 2W: comparing them
    // in double cannot swap two parabolas at an integer x unless both give the same value there.
#pragma omp parallel for schedule(static) if (H * W > (1 << 16))
    for (int64_t y = 0; y < H; ++y) {
        const int64_t* f = g.data() + y * W;
        std::vector<int64_t> v(static_cast<size_t>(W));
        std::vector<double> z(static_cast<size_t>(W) + 1);
        int64_t k = -1;
        for (int64_t q = 0; q < W; ++q) {
            if (f[q] >= kInf) continue;
            while (k >= 0) {
                const int64_t p = v[static_cast<size_t>(k)];
                const double s =
                    static_cast<double>((f[q] + q * q) - (f[p] + p * p)) / static_cast<double>(2 * (q - p));
                if (s > z[static_cast<size_t>(k)]) {
                    z[static_cast<size_t>(k) + 1] = s;
                    break;
                }
                --k;
            }
            if (k < 0) z[0] = -std::numeric_limits<double>::infinity();
            v[static_cast<size_t>(++k)] = q;
        }
        float* o = out + y * W;
        if (k < 0) {  // no 0 pixel in any column
            for (int64_t q = 0; q < W; ++q) o[q] = std::numeric_limits<float>::infinity();
            continue;
        }
        z[static_cast<size_t>(k) + 1] = std::numeric_limits<double>::infinity();
        for (int64_t q = 0, j = 0; q < W; ++q) {
            while (z[static_cast<size_t>(j) + 1] < static_cast<double>(q)) ++j;
            const int64_t p = v[static_cast<size_t>(j)];
            o[q] = std::sqrt(static_cast<float>((q - p) * (q - p) + f[p]));
        }
    }
}

}  // namespace evsam
