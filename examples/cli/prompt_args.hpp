// evsam tool: the flags of `evsam predict` and the rules of its prompt flags, in one place, so the
// tool and the flag fuzzer (tests/fuzz/fuzz_args.cpp) run the same code.
//
//   --point X,Y[,LABEL]   repeatable; finite numbers; LABEL 1 (foreground, the default) or 0 (background)
//   --box X0,Y0,X1,Y1     finite, with X1 >= X0 and Y1 >= Y0
//   --mask-input L.npy    a (1, 256, 256) or (256, 256) map of finite low-res logits
//
// At least one of them must be given. Every violation is an evsam::Error with a one-line message
// naming the flag and the value. Coordinates are original-image pixels and are NOT clipped to the
// image: points outside it are used as given, as upstream's predictor does.
#pragma once
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "evsam/core/error.hpp"
#include "evsam/core/npy.hpp"
#include "evsam/predictor.hpp"
#include "args.hpp"
#include "common_flags.hpp"

namespace evsam::tool {

// The flags of `evsam predict`.
inline std::vector<FlagSpec> predict_flag_specs() {
    std::vector<FlagSpec> f = {
        weights_flag(),
        model_flag(),
        config_flag(),
        required("image", "IMG", "image: PNG, JPEG or BMP"),
        repeated("point", "X,Y[,LABEL]", "a point in image pixels; LABEL 1 = foreground (the default), 0 = background"),
        value("box", "X0,Y0,X1,Y1", "a box in image pixels"),
        value("mask-input", "L.npy", "a (1,256,256) low-res logit map, e.g. one mask of an earlier --out-lowres"),
        toggle("single-mask", "one mask instead of three (upstream's multimask_output=False)"),
        toggle("logits", "write float32 logits instead of 0/1 masks"),
        required("out-masks", "M.npy", "masks (C,H,W) at the original size: uint8 0/1, or float32 logits"),
        value("out-iou", "Q.npy", "the predicted IoU of each mask (C,)"),
        value("out-lowres", "L.npy", "the low-res logits (C,256,256)"),
        value("overlay", "OUT.png", "the image with the masks tinted and the prompts drawn"),
        dtype_flag(),
        threads_flag()};
    for (auto& b : backend_flag_specs()) f.push_back(b);
    for (auto& h : hourglass_flag_specs()) f.push_back(h);
    return f;
}

// --point and --box into p (text only: no file is read).
template <class T>
void parse_points_and_box(const Args& a, Prompt<T>& p) {
    for (const std::string& text : a.all("point")) {
        const std::vector<double> v = a.number_list(text, "--point", 2, 3);
        int label = 1;
        if (v.size() == 3) {
            if (v[2] != 0.0 && v[2] != 1.0)
                throw Error("predict: --point '" + text + "': the label must be 1 (foreground) or 0 (background)");
            label = static_cast<int>(v[2]);
        }
        p.points.push_back({v[0], v[1]});
        p.labels.push_back(label);
    }
    if (a.has("box")) {
        const std::vector<double> v = a.number_list(a.str("box"), "--box", 4, 4);
        if (v[2] < v[0] || v[3] < v[1])
            throw Error("predict: --box '" + a.str("box") + "' must be X0,Y0,X1,Y1 with X1 >= X0 and Y1 >= Y0");
        p.box = std::array<double, 4>{v[0], v[1], v[2], v[3]};
    }
}

// --mask-input: a low-res logit map of finite values, (1, 256, 256) or (256, 256).
template <class T>
Tensor<T> load_mask_input(const std::string& path) {
    Tensor<T> m = npy_load_as<T>(path);
    const Shape& s = m.shape();
    if (!(s == Shape{1, 256, 256} || s == Shape{256, 256}))
        throw Error(path + ": --mask-input must be a (1, 256, 256) or (256, 256) logit map, got " + shape_str(s));
    for (T v : m)
        if (!std::isfinite(v)) throw Error(path + ": --mask-input holds NaN or infinite values");
    return m;
}

template <class T>
void require_some_prompt(const Prompt<T>& p) {
    if (p.points.empty() && !p.box && p.mask_input.empty())
        throw Error("predict: give at least one --point, a --box or a --mask-input");
}

// All of predict's prompt flags into a Prompt.
template <class T>
Prompt<T> parse_prompt(const Args& a) {
    Prompt<T> p;
    parse_points_and_box(a, p);
    if (a.has("mask-input")) p.mask_input = load_mask_input<T>(a.str("mask-input"));
    require_some_prompt(p);
    return p;
}

}  // namespace evsam::tool
