// evsam tool: the flags of `evsam predict` and the rules of its prompt flags, in one place, so the
// tool and the flag fuzzer (tests/fuzz/fuzz_args.cpp) run the same code.
//
//   --point X,Y[,LABEL]   repeatable; finite numbers; LABEL 1 (foreground, the default) or 0 (background)
//   --box X0,Y0,X1,Y1     repeatable; finite, with X1 >= X0 and Y1 >= Y0; several boxes are a batch of
//                         prompt sets (one per box, each with every --point), as predict_torch(boxes=...)
//   --mask-input L.npy    a (1, 256, 256) or (256, 256) map of finite low-res logits
//
// At least one of them must be given. Every violation is an evsam::Error with a one-line message
// naming the flag and the value. Coordinates are original-image pixels and are NOT clipped to the
// image: points outside it are used as given, as upstream's predictor does.
#pragma once
#include <algorithm>
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
        value("embedding", "E.npy",
              "the image's embedding from 'evsam embed --image' (checked against E.npy.json: same model, "
              "weights, --dtype and image size), instead of running the encoder"),
        repeated("point", "X,Y[,LABEL]", "a point in image pixels; LABEL 1 = foreground (the default), 0 = background"),
        repeated("box", "X0,Y0,X1,Y1",
                 "a box in image pixels (repeatable: each box is one prompt of a batch, with any --point; "
                 "outputs then gain a leading B)"),
        value("mask-input", "L.npy", "a (1,256,256) low-res logit map, e.g. one mask of an earlier --out-lowres"),
        toggle("single-mask", "one mask instead of three (upstream's multimask_output=False)"),
        toggle("logits", "write float32 logits instead of 0/1 masks"),
        required("out-masks", "M.npy",
                 "masks (C,H,W) at the original size (B,C,H,W with several --box): uint8 0/1, or float32 logits"),
        value("out-iou", "Q.npy", "the predicted IoU of each mask (C,), or (B,C)"),
        value("out-lowres", "L.npy", "the low-res logits (C,256,256), or (B,C,256,256)"),
        value("overlay", "OUT.png", "the image with the masks tinted and the prompts drawn"),
        dtype_flag(),
        threads_flag()};
    for (auto& b : backend_flag_specs()) f.push_back(b);
    for (auto& h : hourglass_flag_specs()) f.push_back(h);
    return f;
}

// Every --box, in command-line order (text only).
inline std::vector<std::array<double, 4>> parse_boxes(const Args& a) {
    std::vector<std::array<double, 4>> boxes;
    for (const std::string& text : a.all("box")) {
        const std::vector<double> v = a.number_list(text, "--box", 4, 4);
        if (v[2] < v[0] || v[3] < v[1])
            throw Error("predict: --box '" + text + "' must be X0,Y0,X1,Y1 with X1 >= X0 and Y1 >= Y0");
        boxes.push_back({v[0], v[1], v[2], v[3]});
    }
    return boxes;
}

// --point and the (first) --box into p (text only: no file is read).
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
    const auto boxes = parse_boxes(a);
    if (!boxes.empty()) p.box = boxes.front();
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

// All of predict's prompt flags into prompt sets: one, or one per --box when there are several
// (each with every --point; a --mask-input belongs to one prompt, so it takes a single box).
template <class T>
std::vector<Prompt<T>> parse_prompts(const Args& a) {
    Prompt<T> p;
    parse_points_and_box(a, p);
    const auto boxes = parse_boxes(a);
    if (boxes.size() > 1 && a.has("mask-input"))
        throw Error("predict: --mask-input takes one prompt set, not " + std::to_string(boxes.size()) + " --box");
    if (a.has("mask-input")) p.mask_input = load_mask_input<T>(a.str("mask-input"));
    require_some_prompt(p);
    std::vector<Prompt<T>> ps(std::max<size_t>(1, boxes.size()), p);
    for (size_t b = 0; b < boxes.size(); ++b) ps[b].box = boxes[b];
    return ps;
}

}  // namespace evsam::tool
