// evsam fuzz entry points, shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.cpp) and the
// regular GoogleTest that replays tests/fuzz/crashes/ and tests/fuzz/corpus/
// (tests/core/test_fuzz_regressions.cpp), so every finding is a regression test of the normal suite.
//
// Each entry feeds the bytes to one parser and exercises what a successful parse returns. The
// only exception it catches is evsam::Error: that is the documented way to refuse bad input.
// Anything else escaping (std::bad_alloc, std::out_of_range, nlohmann::json::exception, ...)
// is a finding, as is every ASan/UBSan report.
//
// The one deliberate bound: Checkpoint::to_tensor materialises exactly the view the file
// describes, and a stride-0 (expanded) view lets a few bytes describe a huge tensor. That is
// legitimate torch.save content (the skeleton checkpoints in tests/data/ckpt are built that way)
// and load_state_dict only materialises tensors whose shape already matched the model schema,
// so the checkpoint entry skips tensors above kMaxTensorElements (and stops after
// kMaxTotalElements per input) instead of reporting the allocation as a finding.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "evsam/coco_mask.hpp"
#include "evsam/core/checkpoint.hpp"
#include "evsam/core/error.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/core/npy.hpp"
#include "evsam/registry.hpp"
// the tool's own flag parser and prompt rules (examples/cli, on the include path of the harnesses)
#include "args.hpp"
#include "prompt_args.hpp"
#include "serve_util.hpp"

namespace evsam::fuzz {

// Checkpoint materialisation bounds (elements of float), see the top of this file.
// Small on purpose: with coverage instrumentation the strided read costs ~0.2 us per element, and
// the reading code is the same for any size (the tiny seeds cover every dtype and stride pattern).
constexpr int64_t kMaxTensorElements = int64_t(1) << 16;  // per tensor
constexpr int64_t kMaxTotalElements = int64_t(1) << 18;   // per input

// A UBSan/ASan-visible use of a value, so the reads cannot be optimised away.
inline volatile uint64_t sink = 0;
template <class T>
inline void consume(const T* p, size_t n) {
    uint64_t h = 0;
    for (size_t i = 0; i < n; ++i) {
        uint64_t b = 0;
        std::memcpy(&b, &p[i], sizeof(T) < 8 ? sizeof(T) : 8);
        h = h * 31 + b;
    }
    sink = sink + h;
}

// .pt (torch.save zip + safe pickle) and .safetensors: open from memory, read every tensor
// (bounded as above), the dtype summary, and variant detection.
inline void checkpoint(const uint8_t* data, size_t size) {
    try {
        Checkpoint ck = Checkpoint::from_memory(std::vector<uint8_t>(data, data + size), "fuzz.pt");
        int64_t total = 0;
        for (const CheckpointTensor& t : ck.tensors()) {
            if (ck.find(t.name) == nullptr) throw std::logic_error("tensor '" + t.name + "' not found by name");
            const int64_t n = t.numel();
            if (n > kMaxTensorElements || total + n > kMaxTotalElements) continue;
            total += n;
            Tensor<float> v = Checkpoint::to_tensor<float>(t);
            consume(v.data(), static_cast<size_t>(v.numel()));
        }
        (void)ck.float_dtype();
        try {
            (void)detect_model(ck);
        } catch (const Error&) {
        }
    } catch (const Error&) {
    }
}

// Same reader; a separate entry so each harness has its own corpus and dictionary.
inline void safetensors(const uint8_t* data, size_t size) { checkpoint(data, size); }

// .npy: the generic parse and the conversion to float.
inline void npy(const uint8_t* data, size_t size) {
    try {
        NpyArray a = npy_parse(data, size, "fuzz.npy");
        if (a.bytes.size() != static_cast<size_t>(a.numel()) * npy_itemsize(a.dtype))
            throw std::logic_error("npy_parse: byte count does not match dtype and shape");
        Tensor<float> t = npy_as<float>(a, "fuzz.npy");
        consume(t.data(), static_cast<size_t>(t.numel()));
    } catch (const Error&) {
    }
    try {
        Tensor<float> t = npy_parse_as<float>(data, size, "fuzz.npy");
        consume(t.data(), static_cast<size_t>(t.numel()));
    } catch (const Error&) {
    }
    try {
        Tensor<int32_t> t = npy_parse_as<int32_t>(data, size, "fuzz.npy");  // the range-checked integer path
        consume(t.data(), static_cast<size_t>(t.numel()));
    } catch (const Error&) {
    }
}

// Images: header read, then the full decode (PNG, JPEG, BMP via stb).
inline void image(const uint8_t* data, size_t size) {
    try {
        (void)image_info_from_memory(data, size, "fuzz.img");
    } catch (const Error&) {
    }
    try {
        Image img = load_image_from_memory(data, size, "fuzz.img");
        if (img.height <= 0 || img.width <= 0 || img.data.size() != static_cast<size_t>(img.height * img.width * 3))
            throw std::logic_error("load_image_from_memory: image size does not match its data");
        consume(img.data.data(), img.data.size());
    } catch (const Error&) {
    }
}

// argv words: the input split on NUL and newline (empty words kept: "" is a word too).
inline std::vector<std::string> split_argv(const uint8_t* data, size_t size) {
    std::vector<std::string> words;
    std::string cur;
    for (size_t i = 0; i < size; ++i) {
        if (data[i] == '\0' || data[i] == '\n') {
            words.push_back(cur);
            cur.clear();
        } else {
            cur += static_cast<char>(data[i]);
        }
    }
    if (!cur.empty()) words.push_back(cur);
    return words;
}

// `evsam predict` flags and prompts: the strict parser with predict's flag specs, the value
// accessors cmd_predict uses, and the prompt rules (examples/cli/prompt_args.hpp, the code
// the tool runs; --mask-input names a file, which is not read here). What a successful parse
// returns is checked against the documented rules.
inline void args(const uint8_t* data, size_t size) {
    std::vector<std::string> argv = split_argv(data, size);
    try {
        tool::Args a("predict", tool::predict_flag_specs(), argv);
        (void)tool::command_help("predict", "summary", tool::predict_flag_specs());  // the generated --help
        try {
            (void)a.choice("dtype", "float", {"float", "double"});
        } catch (const Error&) {
        }
        try {
            (void)a.choice("backend", "cpu", {"cpu"});
        } catch (const Error&) {
        }
        try {
            (void)a.integer("threads", 1, 1, 1024);
        } catch (const Error&) {
        }
        for (const char* f : {"weights", "model", "config", "image", "mask-input", "out-masks"}) (void)a.str(f);
        Prompt<double> p;
        try {
            tool::parse_points_and_box(a, p);
            if (!a.has("mask-input")) tool::require_some_prompt(p);
        } catch (const Error&) {
            return;
        }
        if (p.points.size() != a.all("point").size() || p.labels.size() != p.points.size())
            throw std::logic_error("parse_points_and_box: not one point and label per --point");
        if (p.box.has_value() != a.has("box")) throw std::logic_error("parse_points_and_box: box without --box");
        for (size_t i = 0; i < p.points.size(); ++i) {
            for (double x : p.points[i])
                if (!(x >= -1e9 && x <= 1e9)) throw std::logic_error("point coordinate not finite or out of range");
            if (p.labels[i] != 0 && p.labels[i] != 1) throw std::logic_error("label outside {0, 1}");
        }
        if (p.box) {
            const auto& b = *p.box;
            for (double x : b)
                if (!(x >= -1e9 && x <= 1e9)) throw std::logic_error("box coordinate not finite or out of range");
            if (b[2] < b[0] || b[3] < b[1]) throw std::logic_error("box with X1 < X0 or Y1 < Y0 accepted");
        }
    } catch (const Error&) {
    }
}

// `evsam serve`'s request bodies (examples/cli/serve_util.hpp, the code the server runs): the first
// byte picks the parser (even: a predict body for a 61 x 45 image, odd: an everything body), the
// rest is the body; the header size reader sees the same bytes. What a successful parse returns
// is checked against the documented rules; a refusal must be an HttpError with a 4xx status.
inline void serve(const uint8_t* data, size_t size) {
    if (size == 0) return;
    const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
    const auto [w, h] = declared_image_size(data + 1, size - 1);
    if (w < 0 || h < 0) throw std::logic_error("declared_image_size: a negative size");
    try {
        if (data[0] % 2 == 0) {
            const int64_t H = 45, W = 61;
            const tool::serve::PredictRequest r = tool::serve::parse_predict_request(body, H, W);
            if (r.prompts.empty() || r.prompts.size() > tool::serve::kMaxBoxes)
                throw std::logic_error("parse_predict_request: no prompt set, or too many");
            for (const auto& p : r.prompts) {
                if (p.points.size() != p.labels.size() || p.points.size() > tool::serve::kMaxPoints)
                    throw std::logic_error("parse_predict_request: points and labels disagree");
                if (p.points.empty() && !p.box && r.mask_input_id.empty())
                    throw std::logic_error("parse_predict_request: an empty prompt set accepted");
                for (size_t i = 0; i < p.points.size(); ++i) {
                    if (!(p.points[i][0] >= -W && p.points[i][0] <= 2 * W && p.points[i][1] >= -H &&
                          p.points[i][1] <= 2 * H))
                        throw std::logic_error("parse_predict_request: a point out of range accepted");
                    if (p.labels[i] != 0 && p.labels[i] != 1) throw std::logic_error("a label outside {0, 1}");
                }
                if (p.box && ((*p.box)[2] < (*p.box)[0] || (*p.box)[3] < (*p.box)[1] || !((*p.box)[0] >= -W) ||
                              !((*p.box)[2] <= 2 * W) || !((*p.box)[1] >= -H) || !((*p.box)[3] <= 2 * H)))
                    throw std::logic_error("parse_predict_request: a bad box accepted");
            }
        } else {
            const tool::serve::EverythingRequest r = tool::serve::parse_everything_request(body);
            const AmgConfig& c = r.cfg;
            if (c.points_per_side < 1 || c.points_per_side > 64 || c.crop_n_layers < 0 || c.crop_n_layers > 2 ||
                c.points_per_batch < 1 || c.crop_n_points_downscale_factor < 1 || c.min_mask_region_area < 0 ||
                !(c.box_nms_thresh >= 0 && c.box_nms_thresh <= 1) || !std::isfinite(c.pred_iou_thresh) ||
                !std::isfinite(c.stability_score_thresh) || !std::isfinite(c.stability_score_offset))
                throw std::logic_error("parse_everything_request: a knob out of range accepted");
        }
    } catch (const tool::serve::HttpError& e) {
        if (e.status < 400 || e.status > 499) throw std::logic_error("a refusal that is not a 4xx");
    }
}

// COCO / LVIS segmentations (eval-sam's annotation files): the first two bytes give the image's
// height and width (1..64), the rest is the segmentation as JSON (polygons or an RLE dict). A mask
// that decodes must be the image's size, its area the RLE's, and its RLE must survive pycocotools'
// string form; a refusal must be an evsam::Error.
inline void coco(const uint8_t* data, size_t size) {
    if (size < 2) return;
    const int64_t h = 1 + data[0] % 64, w = 1 + data[1] % 64;
    const nlohmann::json seg = nlohmann::json::parse(data + 2, data + size, nullptr, false);
    if (seg.is_discarded()) return;
    try {
        const std::vector<uint8_t> m = coco::ann_to_mask(seg, h, w);
        if (static_cast<int64_t>(m.size()) != h * w) throw std::logic_error("ann_to_mask: not h x w");
        const amg::Rle r = amg::mask_to_rle(m.data(), h, w);
        int64_t ones = 0;
        for (uint8_t v : m) ones += v != 0;
        if (amg::area_from_rle(r) != ones) throw std::logic_error("the RLE's area is not the mask's");
        if (amg::coco_rle_from_string(amg::coco_rle_string(r), h, w).counts != r.counts)
            throw std::logic_error("the compressed string does not read back");
    } catch (const Error&) {
    }
}

}  // namespace evsam::fuzz
