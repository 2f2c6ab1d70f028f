// Issue 7, end to end through build/bin/evsam: every class of bad input (checkpoints, images, .npy,
// prompts) gives a non-zero exit without a signal, exactly one stderr line naming the problem, and
// no output file (each run writes into its own empty folder, which must still be empty afterwards,
// temp files included); and the storage and image variants upstream accepts are accepted.
// Fixtures: tests/data/ckpt (validation/make_fixtures.py ckpt), tests/data/io (make_io_fixtures.py),
// tests/data/preprocess, tests/data/tiny/tiny_l and its variants/ (make_tiny_variants.py).
#include <gtest/gtest.h>

#include <filesystem>

#include <cmath>
#include <cstdio>
#include <evsam/backend/tolerance.hpp>
#include <evsam/evsam.hpp>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../core/temp_dir.hpp"
#include "cli_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_robustness_cli {

namespace {

using evsam_test::is_clean_error;
using evsam_test::run_evsam;
using evsam_test::slurp;
using evsam_test::TempDir;

const std::string kData = std::string(EVSAM_TEST_DATA);
const std::string kCkpt = kData + "/ckpt/";
const std::string kImg = kData + "/io/img/";
const std::string kNpy = kData + "/io/npy/";
const std::string kPre = kData + "/preprocess/";
const std::string kTiny = kData + "/tiny/tiny_l/";
const std::string kTinyArgs = " --weights " + kTiny + "model.pt --config " + kTiny + "config.json";
const std::string kGoodImg = kPre + "in_small_45x61_r512.png";

// Runs `evsam <cmd(out)>`, where every output path the command names is inside the fresh folder
// `out`, and checks the refusal contract; every string of `mentions` must be in the message.
void expect_refused(const std::function<std::string(const std::string& out)>& cmd,
                    const std::vector<std::string>& mentions) {
    TempDir out;
    const std::string args = cmd(out.path);
    SCOPED_TRACE("evsam " + args);
    auto r = run_evsam(args);
    EXPECT_TRUE(is_clean_error(r));
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err.rfind("evsam: error: ", 0), 0u) << r.err;
    for (const auto& m : mentions) EXPECT_NE(r.err.find(m), std::string::npos) << "'" << m << "' not in: " << r.err;
    EXPECT_EQ(out.count(), 0u) << "a failed run left files in its output folder";
}

// The three commands that read a checkpoint and write a file.
std::vector<std::function<std::string(const std::string&)>> checkpoint_commands(const std::string& weights,
                                                                                const std::string& extra = "") {
    return {
        [=](const std::string& o) {
            return "embed --weights " + weights + extra + " --input " + kTiny + "input.npy --out " + o + "/e.npy";
        },
        [=](const std::string& o) {
            return "predict --weights " + weights + extra + " --image " + kGoodImg + " --point 10,10 --out-masks " + o +
                   "/m.npy --out-iou " + o + "/q.npy --overlay " + o + "/o.png";
        },
        [=](const std::string& o) {
            return "everything --weights " + weights + extra + " --image " + kGoodImg + " --points-per-side 2 --out " +
                   o + "/recs --output-mode coco_rle";
        },
    };
}

// A .npy v1.0 file with the given header fields and zero data bytes for the shape.
std::string write_npy(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
                      size_t itemsize, const std::string& data = "") {
    std::string sh;
    int64_t n = 1;
    for (int64_t d : shape) {
        sh += (sh.empty() ? "" : ", ") + std::to_string(d);
        n *= d;
    }
    sh = "(" + sh + (shape.size() == 1 ? ",)" : ")");
    std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + sh + ", }";
    while ((10 + header.size() + 1) % 64) header += ' ';
    header += '\n';
    std::string f = std::string("\x93NUMPY\x01\x00", 8);
    f += static_cast<char>(header.size() & 0xff);
    f += static_cast<char>(header.size() >> 8);
    f += header;
    f += data.empty() ? std::string(static_cast<size_t>(n) * itemsize, '\0') : data;
    std::ofstream(path, std::ios::binary).write(f.data(), static_cast<std::streamsize>(f.size()));
    return path;
}

// ------------------------------------------------------------------------------ checkpoints

// Every bad checkpoint of the manifest (upstream-written by torch.save, or crafted from one: empty,
// random bytes, truncated, not a zip, zip without data.pkl, pickles naming posix.system /
// __builtin__.eval, a list payload, missing / extra / wrongly typed / wrongly shaped key, the
// pre-1.6 format), plus a missing file, through embed, predict and everything.
TEST(CliRobustness, BadCheckpoints) {
    std::ifstream f(kCkpt + "MANIFEST.json");
    auto manifest = nlohmann::json::parse(f);
    // What the message must name beyond the file: the problem.
    const std::map<std::string, std::vector<std::string>> problem = {
        {"empty.pt", {"empty"}},
        {"random.pt", {"not a checkpoint"}},
        {"notzip.pt", {"not a checkpoint"}},
        {"truncated.pt", {"truncated"}},
        {"no_datapkl.pt", {"no data.pkl"}},
        {"evil_global.pt", {"refused pickle global 'posix.system'"}},
        {"evil_builtins.pt", {"refused pickle global '__builtin__.eval'"}},
        {"nondict.pt", {"payload is a list", "expected a dict"}},
        {"legacy.pt", {"legacy (pre-1.6"}},
        {"missing_key.pt", {"missing key"}},
        {"extra_key.pt", {"unexpected key"}},
        {"wrong_dtype.pt", {"wrong dtype", "int64"}},
        {"wrong_shape.pt", {"wrong shape", "(256, 2048)", "(2048, 256)"}},
    };
    size_t n = 0;
    for (auto& [file, info] : manifest["files"].items()) {
        if (info["expect"] != "error") continue;
        ASSERT_TRUE(problem.count(file)) << file
                                         << ": a new bad checkpoint in the manifest; add what its error must say";
        std::vector<std::string> mentions = problem.at(file);
        mentions.push_back(file);
        for (auto& s : info.value("error_mentions", nlohmann::json::array())) mentions.push_back(s.get<std::string>());
        for (auto& cmd : checkpoint_commands(kCkpt + file)) expect_refused(cmd, mentions);
        ++n;
    }
    EXPECT_EQ(n, problem.size());
    for (auto& cmd : checkpoint_commands(kCkpt + "does_not_exist.pt"))
        expect_refused(cmd, {"does_not_exist.pt", "cannot open"});
    for (auto& cmd : checkpoint_commands(kCkpt)) expect_refused(cmd, {kCkpt});  // a directory
}

// A real upstream checkpoint (the tiny model) cut at the start, inside the local records, and in its
// central directory and end record: each is refused cleanly.
TEST(CliRobustness, TruncatedUpstreamCheckpoint) {
    const std::string full = slurp(kTiny + "model.pt");
    ASSERT_GT(full.size(), 100000u);
    TempDir d;
    for (size_t cut :
         {size_t(0), size_t(1), size_t(22), size_t(4096), full.size() / 2, full.size() - 22, full.size() - 1}) {
        const std::string p = d / ("cut" + std::to_string(cut) + ".pt");
        std::ofstream(p, std::ios::binary).write(full.data(), static_cast<std::streamsize>(cut));
        expect_refused(checkpoint_commands(p, " --config " + kTiny + "config.json")[0], {p});
    }
}

TEST(CliRobustness, WrongModelFlag) {
    for (auto& cmd : checkpoint_commands(kCkpt + "skeleton_l1.pt", " --model xl0"))
        expect_refused(cmd, {"skeleton_l1.pt", "is efficientvit-sam-l1", "not --model xl0"});
    for (auto& cmd : checkpoint_commands(kCkpt + "skeleton_l1.pt", " --model l7")) expect_refused(cmd, {"l7"});
    // The tiny (non-official) model given an official name.
    for (auto& cmd : checkpoint_commands(kTiny + "model.pt", " --model l0"))
        expect_refused(cmd, {"model.pt", "does not match --model l0"});
}

// ------------------------------------------------------------------------------ images

// Empty, not an image, truncated PNG/JPEG/BMP, and headers claiming more pixels than the
// documented limit (kMaxImagePixels = 178956970, Pillow's decompression-bomb threshold), through
// every command that reads an image. The limit is checked on the header, before decoding.
TEST(CliRobustness, BadImages) {
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
        {"bad_empty.png", {"empty file"}},
        {"bad_text.png", {"not a PNG, JPEG or BMP image"}},
        {"bad_truncated.png", {"cannot decode PNG"}},
        {"bad_truncated.jpg", {"cannot decode JPEG"}},
        {"bad_truncated.bmp", {"truncated BMP"}},
        {"bad_huge_ihdr.png", {"100000x100000", "above the limit of 178956970"}},
        {"bad_huge_sof.jpg", {"20000x10000", "above the limit of 178956970"}},
        {"bad_huge.bmp", {"30000x30000", "above the limit of 178956970"}},
        {"does_not_exist.png", {"not found"}},
    };
    for (auto& [file, problem] : cases) {
        const std::string img = kImg + file;
        std::vector<std::string> mentions = problem;
        mentions.push_back(file);
        expect_refused(
            [&](const std::string& o) { return "preprocess --image " + img + " --model l0 --out " + o + "/x.npy"; },
            mentions);
        expect_refused(
            [&](const std::string& o) { return "embed" + kTinyArgs + " --image " + img + " --out " + o + "/e.npy"; },
            mentions);
        expect_refused(
            [&](const std::string& o) {
                return "predict" + kTinyArgs + " --image " + img + " --point 1,1 --out-masks " + o +
                       "/m.npy --overlay " + o + "/o.png";
            },
            mentions);
        expect_refused(
            [&](const std::string& o) {
                return "everything" + kTinyArgs + " --image " + img + " --points-per-side 2 --out " + o + "/recs";
            },
            mentions);
    }
}

// ------------------------------------------------------------------------------ .npy

// Garbage headers and broken files (made by numpy, then damaged: tests/data/io/npy/bad_*), wrong
// shapes and dtypes numpy can write that evsam does not read, as `embed --input` and
// `predict --mask-input`.
TEST(CliRobustness, BadNpy) {
    TempDir d;
    const std::vector<std::pair<std::string, std::vector<std::string>>> files = {
        {kNpy + "bad_magic.npy", {"not an .npy file"}},
        {kNpy + "bad_header_unclosed.npy", {"bad .npy header"}},
        {kNpy + "bad_header_len.npy", {"header length 5000"}},
        {kNpy + "bad_truncated.npy", {"truncated .npy data"}},
        {kNpy + "bad_trailing.npy", {"unexpected trailing bytes"}},
        {kNpy + "bad_absurd_shape.npy", {"needs 4398046511104 bytes"}},
        {kNpy + "bad_fortran.npy", {"fortran_order=True"}},
        {kNpy + "bad_bigendian.npy", {"big-endian dtype '>f4'"}},
        {kNpy + "bad_object.npy", {"object arrays"}},
        {kNpy + "bad_float16.npy", {"unsupported dtype '<f2'"}},
        {kCkpt + "notzip.pt", {"not an .npy file"}},
        {kNpy + "missing.npy", {"not found"}},
        // the right shapes for both flags, in dtypes evsam does not read
        {write_npy(d / "c8_embed.npy", "<c8", {1, 3, 80, 80}, 8), {"unsupported dtype '<c8'"}},
        {write_npy(d / "f2_mask.npy", "<f2", {256, 256}, 2), {"unsupported dtype '<f2'"}},
        // a header whose shape disagrees with the data that follows
        {write_npy(d / "short.npy", "<f4", {1, 256, 256}, 4, std::string(64, '\0')), {"truncated .npy data"}},
    };
    for (auto& file : files) {
        const std::string& path = file.first;  // not a structured binding: C++17 lambdas cannot capture those
        std::vector<std::string> mentions = file.second;
        mentions.push_back(path);
        expect_refused(
            [&](const std::string& o) { return "embed" + kTinyArgs + " --input " + path + " --out " + o + "/e.npy"; },
            mentions);
        expect_refused(
            [&](const std::string& o) {
                return "predict" + kTinyArgs + " --image " + kGoodImg + " --mask-input " + path + " --out-masks " + o +
                       "/m.npy";
            },
            mentions);
    }
    // Readable arrays of the wrong shape, and a mask input holding NaN / inf.
    const std::string f32 = kNpy + "f32_2x3.npy", emb = kTiny + "embedding.npy";
    for (const std::string& p : {f32, emb, kTiny + "low_res_masks.npy"})
        expect_refused(
            [&](const std::string& o) { return "embed" + kTinyArgs + " --input " + p + " --out " + o + "/e.npy"; },
            {p, "expected a preprocessed tensor of shape (1, 3, 80, 80)"});
    for (const std::string& p : {f32, emb, kTiny + "input.npy"})
        expect_refused(
            [&](const std::string& o) {
                return "predict" + kTinyArgs + " --image " + kGoodImg + " --mask-input " + p + " --out-masks " + o +
                       "/m.npy";
            },
            {p, "--mask-input must be a (1, 256, 256) or (256, 256) logit map"});
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
        evsam::Tensor<float> m({1, 256, 256});
        m[777] = bad;
        const std::string p = d / "nonfinite.npy";
        evsam::npy_save(p, m);
        expect_refused(
            [&](const std::string& o) {
                return "predict" + kTinyArgs + " --image " + kGoodImg + " --mask-input " + p + " --out-masks " + o +
                       "/m.npy";
            },
            {p, "NaN or infinite"});
    }
}

// ------------------------------------------------------------------------------ prompts

// Each kind of bad prompt is refused with a message naming the flag, the value and the rule.
TEST(CliRobustness, BadPromptsNameTheProblem) {
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
        {"--point a,b", {"--point 'a,b' expects a number, got 'a'"}},
        {"--point 1,2x", {"--point '1,2x' expects a number, got '2x'"}},
        {"--point 1e999,2", {"expects a number, got '1e999'"}},  // overflows double
        {"--point 0x,1", {"expects a number"}},
        {"--box 1,2,3,four", {"--box '1,2,3,four' expects a number, got 'four'"}},
        {"--point 1", {"--point '1' needs 2 or 3 comma-separated numbers, got 1"}},
        {"--point 1,2,1,0", {"needs 2 or 3 comma-separated numbers, got 4"}},
        {"--box 1,2,3", {"--box '1,2,3' needs 4 comma-separated numbers, got 3"}},
        {"--box 1,2,3,4,5", {"needs 4 comma-separated numbers, got 5"}},
        {"--point nan,3", {"--point 'nan,3' must be finite, got 'nan'"}},
        {"--point 3,-inf", {"must be finite, got '-inf'"}},
        {"--point 3,2,NaN", {"must be finite"}},
        {"--box 0,0,infinity,5", {"--box '0,0,infinity,5' must be finite"}},
        {"--point 1,2,2", {"--point '1,2,2'", "label must be 1 (foreground) or 0 (background)"}},
        {"--point 1,2,-1", {"label must be 1"}},
        {"--point 1,2,0.5", {"label must be 1"}},
        {"--box 10,10,5,20", {"--box '10,10,5,20' must be X0,Y0,X1,Y1 with X1 >= X0 and Y1 >= Y0"}},
        {"--box 10,10,20,5", {"with X1 >= X0 and Y1 >= Y0"}},
        {"--point 1,2 --box", {"--box needs a value"}},
        {"--point=", {"--point has an empty value"}},
        {"--point 1,2 --dtype float", {"--dtype given twice"}},  // --box repeats (a batch); --dtype does not
        {"--box 1,2,3,4 --box 1,2,3,4 --mask-input /nonexistent.npy",
         {"--mask-input takes one prompt set, not 2 --box"}},
        {"--box 1,2,3,4 --box 1,2,3", {"--box '1,2,3' needs 4 comma-separated numbers, got 3"}},
        {"", {"give at least one --point, a --box or a --mask-input"}},
    };
    for (auto& c : cases)
        for (std::string dtype : {"float", "double"}) {
            const std::string& prompt = c.first;  // not a structured binding (C++17 lambda capture)
            const auto& mentions = c.second;
            expect_refused(
                [&](const std::string& o) {
                    return "predict" + kTinyArgs + " --image " + kGoodImg + " --dtype " + dtype + " --out-masks " + o +
                           "/m.npy --out-iou " + o + "/q.npy " + prompt;
                },
                mentions);
        }
}

// ------------------------------------------------------------------------------ accepted

// Prompts far outside the image are used as given (upstream does not clip them), up to the
// parser's +-1e9, also when drawn on an --overlay (which only walks the visible part of the box).
TEST(CliRobustness, PromptsFarOutsideTheImageAreUsedAsGiven) {
    TempDir d;
    auto r = run_evsam("predict" + kTinyArgs + " --image " + kGoodImg +
                       " --point=-1e9,1e9 --point 1e9,-1e9,0 --box=-1e9,-1e9,1e9,1e9 --out-masks " + d / "m.npy" +
                       " --overlay " + d / "o.png");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(evsam::npy_load_exact<uint8_t>(d / "m.npy").shape(), (evsam::Shape{3, 45, 61}));
    EXPECT_EQ(evsam::load_image(d / "o.png").width, 61);
    expect_refused(
        [&](const std::string& o) {
            return "predict" + kTinyArgs + " --image " + kGoodImg + " --point 2e9,1 --out-masks " + o + "/m.npy";
        },
        {"--point '2e9,1' must be in [-1000000000"});
}

// Checkpoint storage variants of the tiny upstream model (make_tiny_variants.py): wrapped and
// non-contiguous views of one shared storage hold the same values, so the embedding is the same
// bytes; fp16 and bf16 weights load and stay close to upstream's fp32 embedding.
TEST(CliRobustness, CheckpointStorageVariantsAreAccepted) {
    TempDir d;
    auto embed = [&](const std::string& weights) {
        const std::string out = d / ("e_" + std::to_string(d.count()) + ".npy");
        auto r = run_evsam("embed --weights " + weights + " --config " + kTiny + "config.json --input " + kTiny +
                           "input.npy --out " + out);
        EXPECT_EQ(r.code, 0) << weights << ": " << r.err;
        return out;
    };
    const std::string base = slurp(embed(kTiny + "model.pt"));
    ASSERT_GT(base.size(), 1000u);
    for (std::string v : {"wrapped", "views"})
        EXPECT_EQ(slurp(embed(kTiny + "variants/model_" + v + ".pt")), base) << v;

    const auto ref = evsam::npy_load_exact<float>(kTiny + "embedding.npy");  // upstream, fp32 weights
    for (auto [v, max_rel] : std::vector<std::pair<std::string, double>>{{"fp16", evsam::kMaxRelL2Fp16Checkpoint},
                                                                         {"bf16", evsam::kMaxRelL2Bf16Checkpoint}}) {
        const auto e = evsam::npy_load_exact<float>(embed(kTiny + "variants/model_" + v + ".pt"));
        ASSERT_EQ(e.shape(), ref.shape());
        double num = 0, den = 0;
        for (int64_t i = 0; i < ref.numel(); ++i) {
            num += (double(e[i]) - ref[i]) * (double(e[i]) - ref[i]);
            den += double(ref[i]) * ref[i];
        }
        const double rel = std::sqrt(num / den);
        EXPECT_LT(rel, max_rel) << v;
        EXPECT_GT(rel, 0.0) << v << ": weights were not read as " << v;
    }
    auto r = run_evsam("info --weights " + kCkpt + "skeleton_l0_bf16.pt --json");
    EXPECT_EQ(r.code, 0) << r.err;
}

// Grayscale, gray+alpha, RGBA, palette (+ transparency), 16-bit and 1-bit images are converted like
// Pillow's convert("RGB"): the tool's tensor is the preprocessing of Pillow's RGB array.
TEST(CliRobustness, NonRgbImagesAreConvertedLikePillow) {
    TempDir d;
    int n = 0;
    for (std::string f : {"gray.png", "gray_alpha.png", "rgba.png", "palette.png", "palette_trns.png", "gray16.png",
                          "gray_alpha16.png", "bilevel.png", "gray.bmp", "palette.bmp"}) {
        SCOPED_TRACE(f);
        const std::string out = d / (f + ".npy");
        auto r = run_evsam("preprocess --image " + kImg + f + " --model l0 --out " + out);
        ASSERT_EQ(r.code, 0) << r.err;
        auto rgb = evsam::npy_load_exact<uint8_t>(kImg + f + ".rgb.npy");  // Pillow's (H, W, 3)
        ASSERT_EQ(rgb.shape().size(), 3u);
        auto want = evsam::preprocess_image<float>(rgb.data(), rgb.shape()[0], rgb.shape()[1], 512);
        auto got = evsam::npy_load_exact<float>(out);
        ASSERT_EQ(got.shape(), want.shape());
        int64_t bad = 0;
        for (int64_t i = 0; i < want.numel(); ++i) bad += got[i] != want[i];
        EXPECT_EQ(bad, 0);
        ++n;
    }
    EXPECT_EQ(n, 10);
}

// 1x1 and very thin images go through the whole predictor: masks at the original size. The tiny
// model encodes at 80x80, so the thin side must survive the resize to a long side of 80; an image
// where it would not (3 wide, 1000 high -> 0 wide) is refused, as upstream's PIL resize refuses it.
TEST(CliRobustness, TinyAndThinImagesArePredicted) {
    TempDir d;
    std::vector<std::string> images = {kPre + "in_px_1x1_r512.png", kPre + "in_thin_1x7_r512.png"};
    for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{1, 80}, {200, 2}, {2, 300}}) {
        std::vector<uint8_t> px(static_cast<size_t>(h * w * 3));
        for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 37 % 251);
        images.push_back(d / ("thin_" + std::to_string(h) + "x" + std::to_string(w) + ".png"));
        evsam::save_png(images.back(), px.data(), h, w, 3);
    }
    for (const std::string& f : images) {
        SCOPED_TRACE(f);
        const evsam::Image img = evsam::load_image(f);
        const std::string base = d / std::filesystem::path(f).filename().string();  // outputs in the temp dir,
        const std::string out = base + ".masks.npy", ov = base + ".overlay.png";    // never next to a fixture
        auto r = run_evsam("predict" + kTinyArgs + " --image " + f + " --point 0,0 --box 0,0,1,1 --out-masks " + out +
                           " --overlay " + ov);
        ASSERT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(evsam::npy_load_exact<uint8_t>(out).shape(), (evsam::Shape{3, img.height, img.width}));
        const evsam::Image o = evsam::load_image(ov);
        EXPECT_EQ(o.height, img.height);
        EXPECT_EQ(o.width, img.width);
    }
    expect_refused(
        [&](const std::string& o) {
            return "predict" + kTinyArgs + " --image " + kPre + "in_tall_1000x3_r512.png --point 0,0 --out-masks " + o +
                   "/m.npy";
        },
        {"1000x3 image resizes to 80x0"});
}

}  // namespace

}  // namespace test_robustness_cli
