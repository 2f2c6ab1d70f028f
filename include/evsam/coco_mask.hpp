// evsam: pycocotools.mask (maskApi.c and _mask.pyx) for COCO and LVIS annotations: polygons to
// RLE (rleFrPoly), frPyObjects' dispatch on the segmentation's form, merge (rleMerge), decode and
// area. RLEs are amg::Rle: column-major run lengths starting with 0s (amg_utils.hpp encodes).
//
// frPyObjects(seg, h, w), as pycocotools dispatches a segmentation:
//   a list of polygons [x0, y0, x1, y1, ...]   -> one RLE each (frPoly; an odd trailing number is
//                                                 ignored). Where the first has exactly 4 numbers,
//                                                 pycocotools takes the list for boxes and raises
//                                                 TypeError on it; evsam rasterises the 2-point polygon.
//   {"counts": [...], "size": [h, w]}          -> uncompressed RLE (its own size, not h, w)
//   {"counts": "...", "size": [h, w]}          -> compressed RLE (COCO.annToRLE takes it as is;
//                                                 the evaluation's ann_to_mask raises there)
// ann_to_mask is the evaluation's ann_to_mask: polygons merged (union), then decoded to a mask.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "evsam/core/error.hpp"
#include "evsam/sam/amg_utils.hpp"

namespace evsam::coco {

using amg::Rle;

// C's (int) of a double as x86-64 computes it (cvttsd2si): truncation toward zero, and INT_MIN
// ("integer indefinite") for NaN and values out of range, where C leaves the result undefined.
// pycocotools meets NaN on a polygon edge of length 0 (0 / 0 slope, times t = 0): its masks on
// x86-64, the platform of the fixtures, are what this gives.
inline int c_int(double v) {
    return v > -2147483649.0 && v < 2147483648.0 ? static_cast<int>(v) : std::numeric_limits<int>::min();
}

// rleFrPoly: the polygon (k points, xy interleaved) rasterised as pycocotools does it: the boundary
// upsampled 5x and walked densely, the y-boundary crossings kept at pixel centres, then runs.
inline Rle rle_from_polygon(const double* xy, int64_t k, int64_t h, int64_t w) {
    EVSAM_CHECK(k >= 1, "a polygon needs at least one point");
    const double scale = 5;
    // pycocotools converts to int unchecked and walks every upsampled boundary pixel: coordinates far
    // outside the image would overflow int or allocate without bound (it crashes or runs out of
    // memory there); refused here, with room for any real annotation.
    constexpr double kMaxCoord = 1 << 24;
    constexpr int64_t kMaxWalk = int64_t(1) << 25;
    for (int64_t j = 0; j < 2 * k; ++j)
        EVSAM_CHECK(std::isfinite(xy[j]) && std::abs(xy[j]) <= kMaxCoord,
                    "a polygon coordinate is out of range (|v| > 2^24)");
    std::vector<int> x(static_cast<size_t>(k) + 1), y(static_cast<size_t>(k) + 1);
    for (int64_t j = 0; j < k; ++j) x[j] = static_cast<int>(scale * xy[j * 2 + 0] + .5);  // (int): toward zero
    for (int64_t j = 0; j < k; ++j) y[j] = static_cast<int>(scale * xy[j * 2 + 1] + .5);
    x[k] = x[0];
    y[k] = y[0];
    int64_t walk = 0;
    for (int64_t j = 0; j < k; ++j)
        walk += std::max(std::abs(int64_t(x[j]) - x[j + 1]), std::abs(int64_t(y[j]) - y[j + 1])) + 1;
    EVSAM_CHECK(walk <= kMaxWalk,
                "a polygon is too long to rasterise (" + std::to_string(walk) + " boundary steps at 5x; at most 2^25)");
    std::vector<int> u, v;
    u.reserve(static_cast<size_t>(walk));
    v.reserve(static_cast<size_t>(walk));
    for (int64_t j = 0; j < k; ++j) {
        int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
        const int dx = std::abs(xe - xs), dy = std::abs(ys - ye);
        const bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if (flip) std::swap(xs, xe), std::swap(ys, ye);
        const double s = dx >= dy ? static_cast<double>(ye - ys) / dx : static_cast<double>(xe - xs) / dy;
        if (dx >= dy)
            for (int d = 0; d <= dx; ++d) {
                const int t = flip ? dx - d : d;
                u.push_back(t + xs);
                v.push_back(c_int(ys + s * t + .5));
            }
        else
            for (int d = 0; d <= dy; ++d) {
                const int t = flip ? dy - d : d;
                v.push_back(t + ys);
                u.push_back(c_int(xs + s * t + .5));
            }
    }
    // the points along the y-boundary, downsampled
    std::vector<uint32_t> a;
    for (size_t j = 1; j < u.size(); ++j) {
        if (u[j] == u[j - 1]) continue;
        double xd = static_cast<double>(u[j] < u[j - 1] ? u[j] : u[j] - 1);
        xd = (xd + .5) / scale - .5;
        if (std::floor(xd) != xd || xd < 0 || xd > static_cast<double>(w - 1)) continue;
        double yd = static_cast<double>(v[j] < v[j - 1] ? v[j] : v[j - 1]);
        yd = (yd + .5) / scale - .5;
        if (yd < 0)
            yd = 0;
        else if (yd > static_cast<double>(h))
            yd = static_cast<double>(h);
        yd = std::ceil(yd);
        a.push_back(static_cast<uint32_t>(static_cast<int>(xd) * static_cast<int>(h) + static_cast<int>(yd)));
    }
    // runs from the sorted boundary positions
    a.push_back(static_cast<uint32_t>(h * w));
    std::sort(a.begin(), a.end());
    uint32_t p = 0;
    for (auto& t : a) {
        const uint32_t cur = t;
        t -= p;
        p = cur;
    }
    Rle r{h, w, {}};
    size_t j = 0;
    r.counts.push_back(a[j++]);
    while (j < a.size()) {
        if (a[j] > 0) {
            r.counts.push_back(a[j++]);
        } else {
            ++j;
            if (j < a.size()) r.counts.back() += a[j++];
        }
    }
    return r;
}

// rleMerge: the union (or intersection) of RLEs of one size.
inline Rle rle_merge(const std::vector<Rle>& R, bool intersect = false) {
    if (R.empty()) return Rle{};
    if (R.size() == 1) return R[0];
    const int64_t h = R[0].h, w = R[0].w;
    for (const Rle& r : R) {  // unequal totals would stall the walk below (pycocotools loops forever)
        int64_t total = 0;
        for (uint32_t c : r.counts) total += c;
        EVSAM_CHECK(total == r.h * r.w, "merge: RLE counts do not cover the mask");
    }
    std::vector<uint32_t> cnts = R[0].counts;
    for (size_t i = 1; i < R.size(); ++i) {
        const Rle& B = R[i];
        EVSAM_CHECK(B.h == h && B.w == w, "merge: the RLEs differ in size");
        const std::vector<uint32_t> A = cnts;
        EVSAM_CHECK(!A.empty() && !B.counts.empty(), "merge: an empty RLE");
        cnts.clear();
        uint32_t ca = A[0], cb = B.counts[0], cc = 0, ct = 1;
        bool v = false, va = false, vb = false;
        size_t a = 1, b = 1;
        while (ct > 0) {
            const uint32_t c = std::min(ca, cb);
            cc += c;
            ct = 0;
            ca -= c;
            if (!ca && a < A.size()) ca = A[a++], va = !va;
            ct += ca;
            cb -= c;
            if (!cb && b < B.counts.size()) cb = B.counts[b++], vb = !vb;
            ct += cb;
            const bool vp = v;
            v = intersect ? (va && vb) : (va || vb);
            if (v != vp || ct == 0) {
                cnts.push_back(cc);
                cc = 0;
            }
        }
    }
    return Rle{h, w, std::move(cnts)};
}

// A JSON list of numbers (a polygon, a bbox, RLE counts), or a one-line Error naming what it is.
inline double json_number(const nlohmann::json& j, const char* what) {
    EVSAM_CHECK(j.is_number(), std::string(what) + " holds a non-number");
    return j.get<double>();
}

inline std::vector<double> json_numbers(const nlohmann::json& j, const char* what) {
    EVSAM_CHECK(j.is_array(), std::string(what) + " is not a list of numbers");
    std::vector<double> out;
    out.reserve(j.size());
    for (const auto& e : j) out.push_back(json_number(e, what));
    return out;
}

namespace detail {

// {"counts": ..., "size": [h, w]}: list counts (uncompressed) or a string (compressed).
inline Rle rle_from_json(const nlohmann::json& seg) {
    EVSAM_CHECK(seg.contains("counts") && seg.contains("size"), "an RLE segmentation needs 'counts' and 'size'");
    const auto size = json_numbers(seg["size"], "segmentation.size");
    EVSAM_CHECK(size.size() == 2 && size[0] >= 0 && size[1] >= 0 && size[0] <= 2147483647.0 &&
                    size[1] <= 2147483647.0 && size[0] == std::floor(size[0]) && size[1] == std::floor(size[1]),
                "segmentation.size must be [height, width]");
    const int64_t h = static_cast<int64_t>(size[0]), w = static_cast<int64_t>(size[1]);
    if (seg["counts"].is_string()) return amg::coco_rle_from_string(seg["counts"].get<std::string>(), h, w);
    Rle r{h, w, {}};
    for (double c : json_numbers(seg["counts"], "segmentation.counts")) {
        EVSAM_CHECK(c >= 0 && c <= 4294967295.0 && c == std::floor(c), "segmentation.counts holds a non-count");
        r.counts.push_back(static_cast<uint32_t>(c));
    }
    return r;
}

}  // namespace detail

// frPyObjects for one annotation's segmentation, as the RLEs pycocotools returns (a list form gives
// one RLE per element, a dict one RLE).
inline std::vector<Rle> fr_py_objects(const nlohmann::json& seg, int64_t h, int64_t w) {
    if (seg.is_object()) return {detail::rle_from_json(seg)};
    EVSAM_CHECK(seg.is_array() && !seg.empty() && seg[0].is_array() && seg[0].size() >= 4,
                "a segmentation must be a list of polygons (pycocotools: 'input type is not supported') or an "
                "RLE {counts, size}");
    std::vector<Rle> out;
    for (const auto& p : seg) {
        const std::vector<double> xy = json_numbers(p, "a polygon");
        EVSAM_CHECK(xy.size() >= 2, "a polygon needs at least one point");
        out.push_back(rle_from_polygon(xy.data(), static_cast<int64_t>(xy.size() / 2), h, w));
    }
    return out;
}

// ann_to_mask (eval_efficientvit_sam_model.py): an H x W row-major 0/1 mask of the annotation
// image. The RLE's own size must be the image's.
inline std::vector<uint8_t> ann_to_mask(const nlohmann::json& seg, int64_t h, int64_t w) {
    const Rle r = rle_merge(fr_py_objects(seg, h, w));
    EVSAM_CHECK(r.h == h && r.w == w, "the segmentation's size " + std::to_string(r.h) + "x" + std::to_string(r.w) +
                                          " is not the image's " + std::to_string(h) + "x" + std::to_string(w));
    return amg::rle_to_mask(r);
}

}  // namespace evsam::coco
