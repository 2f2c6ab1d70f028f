// evsam: the command-line tool. Subcommands and flags are a contract (see README.md).
//
//   evsam info       [--weights FILE] [--model NAME] [--json]
//   evsam preprocess --image IMG --model NAME --out X.npy
//   evsam predict    --weights FILE [--model NAME] --image IMG [--point X,Y[,LABEL]]... [--box X0,Y0,X1,Y1]
//                    [--mask-input L.npy] [--single-mask] [--logits] --out-masks M.npy [--out-iou Q.npy]
//                    [--out-lowres L.npy] [--overlay OUT.png] [--dtype float|double] [--threads N]
//   evsam embed      --weights FILE [--model NAME] (--image IMG | --input X.npy) --out E.npy
//                    [--dtype float|double] [--threads N] [--backend cpu|cuda] [--precision strict|fast]
//                    [--batch N] [--trace-dir DIR]
//
// Every error is one line on stderr ("evsam: error: ...") and a non-zero exit.
// Output files are written atomically: they appear complete or not at all.
#include <evsam/evsam.hpp>
#include <evsam/backend/tolerance.hpp>
#include <evsam/efficientvit/config_json.hpp>
#include <evsam/amg.hpp>
#include <evsam/predictor.hpp>
#include <evsam/tool/args.hpp>
#include <evsam/tool/bench.hpp>
#include <evsam/tool/cuda_entry.hpp>
#include <evsam/tool/overlay.hpp>
#include <evsam/tool/prompt_args.hpp>

#include <malloc.h>
#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

using evsam::tool::Args;
using evsam::tool::FlagSpec;

const char* kUsage =
    "usage: evsam <command> [flags]\n"
    "commands:\n"
    "  info        [--weights FILE] [--model NAME] [--json]    variant, parameter count, resolution, dtype;\n"
    "                                                          with --model also the module tree (shapes, params, MACs)\n"
    "  preprocess  --image IMG --model NAME --out X.npy        upstream-exact (1,3,R,R) float32 input tensor\n"
    "  embed       --weights FILE [--model NAME] (--image IMG | --input X.npy) --out E.npy\n"
    "              [--dtype float|double] [--threads N] [--backend cpu|cuda] [--precision strict|fast]\n"
    "              [--batch N] [--trace-dir DIR] [--config JSON]\n"
    "                                                          (1,256,64,64) image embedding; --trace-dir dumps\n"
    "                                                          every module's output as <state_dict name>.npy\n"
    "  predict     --weights FILE [--model NAME] --image IMG [--point X,Y[,LABEL]]... [--box X0,Y0,X1,Y1]\n"
    "              [--mask-input L.npy] [--single-mask] [--logits] --out-masks M.npy [--out-iou Q.npy]\n"
    "              [--out-lowres L.npy] [--overlay OUT.png] [--dtype float|double] [--threads N]\n"
    "                                                          masks at the original size (uint8 0/1, or float32\n"
    "                                                          logits with --logits); 3 masks unless --single-mask\n"
    "  everything  --weights FILE [--model NAME] --image IMG --out RECORDS.json|DIR [--points-per-side N]\n"
    "              [--points-per-batch N] [--pred-iou-thresh F] [--stability-score-thresh F]\n"
    "              [--stability-score-offset F] [--box-nms-thresh F] [--crop-n-layers N] [--crop-nms-thresh F]\n"
    "              [--crop-overlap-ratio F] [--crop-n-points-downscale-factor N] [--min-mask-region-area N]\n"
    "              [--output-mode binary_mask|uncompressed_rle|coco_rle] [--overlay OUT.png] [--threads N]\n"
    "                                                          segment everything (SAM's automatic mask generator)\n"
    "  bench       --weights FILE [--model NAME] [--image IMG] [--threads N] [--repeat N] [--amg] [--json]\n"
    "              [--backend cpu|cuda] [--precision strict|fast] [--batch N]\n"
    "                                                          median encoder_s, decoder_s (1-point multimask),\n"
    "                                                          amg_s (32x32, with --amg) and peak_rss_mb; on cuda:\n"
    "                                                          encoder_s per batch, images_per_s, peak_device_mb\n"
    "  compare     --reference DIR --candidate DIR [--tolerance NAME] [--json]\n"
    "                                                          module-by-module check of two traces; names the\n"
    "                                                          first module out of tolerance (exit 1)\n"
    "backends: cpu (default); cuda in builds configured with -DEVSAM_WITH_CUDA=ON (embed and bench: the\n"
    "          image encoder; predict and everything need the decoder on CUDA, which is not there yet)\n"
    "models: l0 l1 l2 (512x512 encoder input), xl0 xl1 (1024x1024)\n"
    "run 'evsam <command> --help' for a command's flags\n";

#ifndef EVSAM_WITH_CUDA
}  // namespace
namespace evsam::tool {  // a CPU-only build: --backend cuda is a one-line error, never a CPU run
[[noreturn]] void no_cuda() {
    throw evsam::Error("--backend cuda: this evsam was built without CUDA (configure with -DEVSAM_WITH_CUDA=ON)");
}
Tensor<float> cuda_encode(const Checkpoint&, const SamConfig&, const Tensor<float>&, const CudaOptions&, Trace<float>*) { no_cuda(); }
Tensor<double> cuda_encode(const Checkpoint&, const SamConfig&, const Tensor<double>&, const CudaOptions&, Trace<double>*) { no_cuda(); }
CudaBenchResult cuda_bench_encoder(const Checkpoint&, const SamConfig&, const Tensor<float>&, const CudaOptions&, int) { no_cuda(); }
}  // namespace evsam::tool
namespace {
#endif

// --backend cpu|cuda [--precision strict|fast] [--batch N], as every model command takes them.
struct BackendChoice {
    bool cuda = false;
    evsam::tool::CudaOptions opt;
};
BackendChoice backend_flags(const Args& a, const std::string& cmd, bool cuda_supported) {
    BackendChoice b;
    b.cuda = a.choice("backend", "cpu", {"cpu", "cuda"}) == "cuda";
    b.opt.precision = a.choice("precision", "strict", {"strict", "fast"});
    b.opt.batch = static_cast<int>(a.integer("batch", 1, 1, 4096));
    for (const char* f : {"precision", "batch"})
        if (!b.cuda && a.has(f)) throw evsam::Error(cmd + ": --" + f + " applies to --backend cuda only");
#ifndef EVSAM_WITH_CUDA
    if (b.cuda) evsam::tool::no_cuda();
#endif
    if (b.cuda && !cuda_supported)
        throw evsam::Error(cmd + " --backend cuda: the CUDA backend runs the image encoder only so far (embed, bench); "
                                 "the prompt encoder and mask decoder have no CUDA ops yet");
    return b;
}

// Opens a checkpoint and resolves its variant: --model wins, else detected from keys/shapes.
// Either way the whole state_dict is checked against that variant's schema.
struct LoadedCheckpoint {
    evsam::Checkpoint ckpt;
    std::string model;
    std::vector<evsam::SchemaEntry> schema;
    evsam::SamConfig cfg;
};

// A non-official configuration (JSON as validation/make_fixtures.py writes it), checked strictly.
LoadedCheckpoint open_with_config(const std::string& path, const std::string& config_path) {
    auto bytes = evsam::read_file(config_path);
    auto j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (j.is_discarded()) throw evsam::Error(config_path + ": not valid JSON");
    evsam::SamConfig cfg;
    try {
        cfg = evsam::sam_config_from_json(j);
    } catch (const nlohmann::json::exception& e) {
        throw evsam::Error(config_path + ": bad model configuration (" + e.what() + ")");
    }
    auto ckpt = evsam::Checkpoint::open(path);
    evsam::EfficientViTSam<float> m(cfg);
    auto schema = evsam::state_dict_schema(m);
    auto mm = evsam::compare_state_dict(schema, ckpt);
    if (mm.count()) throw evsam::Error(path + ": checkpoint does not match " + config_path + ": " + mm.describe());
    return {std::move(ckpt), cfg.name, std::move(schema), cfg};
}

LoadedCheckpoint open_checkpoint(const std::string& path, const std::string& model_flag,
                                 const std::string& config_path = "") {
    if (!config_path.empty()) {
        if (!model_flag.empty()) throw evsam::Error("give --model or --config, not both");
        return open_with_config(path, config_path);
    }
    auto ckpt = evsam::Checkpoint::open(path);
    std::string model;
    if (!model_flag.empty()) {
        model = evsam::sam_config(model_flag).name;
    } else {
        model = evsam::detect_variant(ckpt);
    }
    evsam::EfficientViTSam<float> m(evsam::sam_config(model));
    auto schema = evsam::state_dict_schema(m);
    auto mm = evsam::compare_state_dict(schema, ckpt);
    if (mm.count()) {
        std::string actual;
        if (!model_flag.empty()) try {
                actual = evsam::detect_variant(ckpt);
            } catch (const evsam::Error&) {
            }
        if (!actual.empty())
            throw evsam::Error(path + ": checkpoint is efficientvit-sam-" + actual + ", not --model " + model);
        throw evsam::Error(path + ": checkpoint does not match --model " + model + ": " + mm.describe());
    }
    return {std::move(ckpt), model, std::move(schema), evsam::sam_config(model)};
}

std::string human(int64_t v) {
    char b[32];
    if (v >= 1000000000)
        std::snprintf(b, sizeof b, "%.2fG", v / 1e9);
    else if (v >= 1000000)
        std::snprintf(b, sizeof b, "%.2fM", v / 1e6);
    else if (v >= 1000)
        std::snprintf(b, sizeof b, "%.1fK", v / 1e3);
    else
        std::snprintf(b, sizeof b, "%lld", static_cast<long long>(v));
    return b;
}

// The module tree of the image encoder at its resolution (batch 1), plus the prompt
// encoder and mask decoder (parameters only: their cost depends on the prompts).
evsam::ModuleTable module_table(const std::string& model_name) {
    evsam::EfficientViTSam<float> m(evsam::sam_config(model_name));
    evsam::assign_names(m);
    evsam::ModuleTable t;
    const int64_t R = m.cfg.resolution;
    m.image_encoder.describe({1, 3, R, R}, t, 0);
    t.close(t.open(m.prompt_encoder, "PromptEncoder", 0), {});
    t.close(t.open(m.mask_decoder, "MaskDecoder", 0), {});
    return t;
}

void print_tree(const evsam::ModuleTable& t) {
    std::printf("%-58s %-28s %-20s %10s %10s\n", "module", "type", "output", "params", "MACs");
    std::vector<std::string> parents;
    for (auto& r : t.rows) {
        parents.resize(static_cast<size_t>(r.depth));
        std::string shown = r.name;
        if (r.depth > 0 && shown.rfind(parents.back() + ".", 0) == 0) shown = shown.substr(parents.back().size() + 1);
        parents.push_back(r.name);
        std::string label = std::string(2 * static_cast<size_t>(r.depth), ' ') + shown;
        std::printf("%-58s %-28s %-20s %10s %10s\n", label.c_str(), r.type.c_str(),
                    r.out.empty() ? "-" : evsam::shape_str(r.out).c_str(), human(r.params).c_str(),
                    r.out.empty() ? "-" : human(r.macs).c_str());
    }
}

int cmd_info(const std::vector<std::string>& argv) {
    Args a("info", {{"weights", true, false, "FILE"}, {"model", true, false, "NAME"}, {"json", false, false, ""}}, argv);
    if (!a.has("weights") && !a.has("model")) throw evsam::Error("info: give --weights FILE, --model NAME, or both");
    nlohmann::ordered_json j;
    std::string model;
    int64_t params = 0, buffers = 0;
    std::unique_ptr<LoadedCheckpoint> lc;
    if (a.has("weights")) {
        lc = std::make_unique<LoadedCheckpoint>(open_checkpoint(a.str("weights"), a.str("model")));
        model = lc->model;
    } else {
        model = evsam::sam_config(a.str("model")).name;
    }
    const auto cfg = evsam::sam_config(model);
    {
        evsam::EfficientViTSam<float> m(cfg);
        auto schema = evsam::state_dict_schema(m);
        params = evsam::count_parameters(schema);
        for (auto& e : schema) buffers += e.kind == evsam::ParamKind::buffer;
    }
    j["model"] = model;
    j["params"] = params;
    j["resolution"] = cfg.resolution;
    j["prompt_frame"] = cfg.prompt_frame;
    if (lc) {
        j["dtype"] = lc->ckpt.float_dtype();
        j["format"] = lc->ckpt.format();
        j["wrapped"] = lc->ckpt.wrapped();
        j["tensors"] = lc->ckpt.tensors().size();
        j["weights"] = a.str("weights");
    }
    j["buffers"] = buffers;
    evsam::ModuleTable table;
    if (a.has("model")) {
        table = module_table(model);
        j["encoder_macs"] = table.rows[0].macs;
        nlohmann::ordered_json mods = nlohmann::ordered_json::array();
        for (auto& r : table.rows)
            mods.push_back({{"name", r.name}, {"type", r.type}, {"depth", r.depth}, {"output", r.out},
                            {"params", r.params}, {"macs", r.macs}});
        j["modules"] = mods;
    }
    if (a.has("json")) {
        std::cout << j.dump() << "\n";
        return 0;
    }
    std::cout << "model       efficientvit-sam-" << model << "\n"
              << "params      " << params << "\n"
              << "resolution  " << cfg.resolution << "x" << cfg.resolution << " (prompts in the " << cfg.prompt_frame
              << " frame)\n";
    if (lc)
        std::cout << "dtype       " << lc->ckpt.float_dtype() << "\n"
                  << "format      " << lc->ckpt.format() << (lc->ckpt.wrapped() ? " ({\"state_dict\": ...} wrapped)" : "")
                  << "\n"
                  << "tensors     " << lc->ckpt.tensors().size() << " (" << buffers << " buffers)\n";
    if (a.has("model")) {
        std::cout << "encoder     " << human(table.rows[0].macs) << " MACs at " << cfg.resolution << "x"
                  << cfg.resolution << "\n\n";
        std::cout.flush();
        print_tree(table);
    }
    return 0;
}

// SamResize -> ToTensor -> Normalize -> SamPad, bit-identical to upstream's EfficientViTSam.transform.
int cmd_preprocess(const std::vector<std::string>& argv) {
    Args a("preprocess", {{"image", true, true, "IMG"}, {"model", true, true, "NAME"}, {"out", true, true, "X.npy"}}, argv);
    const auto cfg = evsam::sam_config(a.str("model"));
    evsam::Image img = evsam::load_image(a.str("image"));
    evsam::Tensor<float> x = evsam::preprocess_image<float>(img.data.data(), img.height, img.width, cfg.resolution);
    evsam::npy_save(a.str("out"), x);
    const auto [h, w] = evsam::get_preprocess_shape(img.height, img.width, cfg.resolution);
    std::cerr << "evsam: " << a.str("image") << " " << img.width << "x" << img.height << " -> resized " << w << "x" << h
              << ", padded to " << cfg.resolution << "x" << cfg.resolution << " -> " << a.str("out") << "\n";
    return 0;
}

// Runs the image encoder in T (float, or double: the fp64 oracle) and writes the embedding.
template <class T>
int run_embed(const Args& a, const LoadedCheckpoint& lc, const BackendChoice& be) {
    const auto& cfg = lc.cfg;
    evsam::Tensor<T> x;
    if (a.has("image")) {
        evsam::Image img = evsam::load_image(a.str("image"));
        x = evsam::preprocess_image<T>(img.data.data(), img.height, img.width, cfg.resolution);
    } else {
        const evsam::Shape want{1, 3, cfg.resolution, cfg.resolution};
        x = evsam::npy_load_as<T>(a.str("input"));
        if (x.shape() != want)
            throw evsam::Error(a.str("input") + ": expected a preprocessed tensor of shape " + evsam::shape_str(want) +
                               " for " + lc.model + ", got " + evsam::shape_str(x.shape()));
    }
    evsam::Trace<T> trace;
    const bool tracing = a.has("trace-dir");
    if (tracing) {  // created up front, so a bad path fails before the network runs
        std::error_code ec;
        std::filesystem::create_directories(a.str("trace-dir"), ec);
        if (ec) throw evsam::Error("cannot create --trace-dir '" + a.str("trace-dir") + "': " + ec.message());
    }
    evsam::Tensor<T> emb;
    if (be.cuda) {
        emb = evsam::tool::cuda_encode(lc.ckpt, cfg, x, be.opt, tracing ? &trace : nullptr);
    } else {
        evsam::EfficientViTSam<T, evsam::backend::cpu> model(cfg);
        evsam::load_state_dict(model, lc.ckpt, lc.model);
        emb = model.image_encoder.forward(x, tracing ? &trace : nullptr);
    }
    if (tracing) {  // <name>.npy per module, and trace.json listing them in execution order
        nlohmann::json order = nlohmann::json::array();
        for (auto& [name, t] : trace.records) {
            evsam::npy_save(a.str("trace-dir") + "/" + name + ".npy", t);
            order.push_back(name);
        }
        const std::string text = order.dump(1) + "\n";
        evsam::write_file_atomic(a.str("trace-dir") + "/trace.json", text.data(), text.size());
    }
    evsam::npy_save(a.str("out"), emb);
    return 0;
}

// evsam embed: preprocessed input (or an image) -> (1, 256, 64, 64) image embedding.
int cmd_embed(const std::vector<std::string>& argv) {
    Args a("embed",
           {{"weights", true, true, "FILE"}, {"model", true, false, "NAME"}, {"config", true, false, "JSON"},
            {"image", true, false, "IMG"},
            {"input", true, false, "X.npy"}, {"out", true, true, "E.npy"}, {"dtype", true, false, "float|double"},
            {"threads", true, false, "N"}, {"backend", true, false, "cpu|cuda"}, {"precision", true, false, "strict|fast"},
            {"batch", true, false, "N"}, {"trace-dir", true, false, "DIR"}},
           argv);
    if (a.has("image") == a.has("input")) throw evsam::Error("embed: give exactly one of --image and --input");
    const std::string dtype = a.choice("dtype", "float", {"float", "double"});
    const BackendChoice be = backend_flags(a, "embed", true);
    if (a.has("threads")) omp_set_num_threads(static_cast<int>(a.integer("threads", 1, 1, 1024)));
    auto lc = open_checkpoint(a.str("weights"), a.str("model"), a.str("config"));
    return dtype == "double" ? run_embed<double>(a, lc, be) : run_embed<float>(a, lc, be);
}

// Module-by-module comparison of two trace folders (<name>.npy files) with the tolerance
// table: the reference is evsam's CPU trace or upstream's activations, the candidate any
// backend's. Prints one line per module and names the first one out of tolerance.
int cmd_compare(const std::vector<std::string>& argv) {
    Args a("compare",
           {{"reference", true, true, "DIR"}, {"candidate", true, true, "DIR"}, {"tolerance", true, false, "NAME"},
            {"json", false, false, ""}},
           argv);
    const evsam::Tolerance tol = evsam::tolerance_by_name(a.str("tolerance", "encoder-float"));
    const std::string ref_dir = a.str("reference"), cand_dir = a.str("candidate");
    auto read_json = [](const std::string& p) {
        auto bytes = evsam::read_file(p);
        auto j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
        if (j.is_discarded()) throw evsam::Error(p + ": not valid JSON");
        return j;
    };
    auto exists = [](const std::string& p) { return ::access(p.c_str(), R_OK) == 0; };
    // Execution order: the candidate's trace.json, else the reference's.
    std::string order_file = exists(cand_dir + "/trace.json") ? cand_dir + "/trace.json" : ref_dir + "/trace.json";
    if (!exists(order_file)) throw evsam::Error("compare: neither folder has a trace.json listing the modules in order");
    auto order = read_json(order_file);
    // Reference files: <name>.npy, or the file an index.json (validation/make_fixtures.py) maps it to.
    nlohmann::json index = exists(ref_dir + "/index.json") ? read_json(ref_dir + "/index.json") : nlohmann::json::object();
    auto ref_path = [&](const std::string& name) -> std::string {
        if (index.contains(name) && index[name].contains("file") && index[name]["file"].is_string()) {
            std::string f = index[name]["file"].get<std::string>();
            if (f.rfind("act/", 0) == 0) f = f.substr(4);
            return exists(ref_dir + "/" + f) ? ref_dir + "/" + f : ref_dir + "/../" + index[name]["file"].get<std::string>();
        }
        return ref_dir + "/" + name + ".npy";
    };
    int compared = 0, failed = 0;
    std::string first_bad;
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (auto& jn : order) {
        const std::string name = jn.get<std::string>();
        const std::string rp = ref_path(name), cp = cand_dir + "/" + name + ".npy";
        if (!exists(rp) || !exists(cp)) continue;
        auto ref = evsam::npy_load_as<double>(rp);
        auto cand = evsam::npy_load_as<double>(cp);
        auto r = evsam::compare(cand, ref, tol, name);
        ++compared;
        if (!r.ok && failed++ == 0) first_bad = name;
        rows.push_back({{"module", name}, {"ok", r.ok}, {"max_abs", r.max_abs}, {"rel_l2", r.rel_l2}, {"n_bad", r.n_bad}});
        if (!a.has("json")) std::printf("%-4s %s\n", r.ok ? "ok" : "FAIL", r.message.c_str());
    }
    if (compared == 0) throw evsam::Error("compare: no module has a .npy in both folders");
    if (a.has("json")) {
        nlohmann::ordered_json j{{"compared", compared}, {"failed", failed}, {"first_out_of_tolerance", first_bad},
                                 {"atol", tol.atol}, {"rtol", tol.rtol}, {"modules", rows}};
        std::cout << j.dump() << "\n";
    } else {
        std::printf("%d modules compared, %d out of tolerance%s\n", compared, failed,
                    failed ? (", first: " + first_bad).c_str() : "");
    }
    return failed ? 1 : 0;
}

template <class T>
int run_predict(const Args& a, const LoadedCheckpoint& lc, const evsam::Prompt<T>& prompt) {
    evsam::Image img = evsam::load_image(a.str("image"));
    evsam::EfficientViTSam<T, evsam::backend::cpu> model(lc.cfg);
    evsam::load_state_dict(model, lc.ckpt, lc.model);
    evsam::Predictor<T> predictor(model);
    predictor.set_image(img);
    const bool logits = a.has("logits");
    auto pred = predictor.predict(prompt, !a.has("single-mask"), logits);
    if (logits)
        evsam::npy_save(a.str("out-masks"), pred.masks.template cast<float>());
    else
        evsam::npy_save(a.str("out-masks"), pred.masks.template cast<uint8_t>());
    if (a.has("out-iou")) evsam::npy_save(a.str("out-iou"), pred.iou_predictions.template cast<float>());
    if (a.has("out-lowres")) evsam::npy_save(a.str("out-lowres"), pred.low_res_logits.template cast<float>());
    if (a.has("overlay"))
        evsam::save_png(a.str("overlay"), evsam::tool::make_overlay(img, pred.masks, prompt.points, prompt.labels, prompt.box));
    for (int64_t i = 0; i < pred.iou_predictions.numel(); ++i)
        std::fprintf(stderr, "evsam: mask %lld predicted IoU %.4f\n", static_cast<long long>(i),
                     static_cast<double>(pred.iou_predictions[i]));
    return 0;
}

// evsam predict: point / box / mask prompts on one image -> masks at the original size.
int cmd_predict(const std::vector<std::string>& argv) {
    Args a("predict", evsam::tool::predict_flag_specs(), argv);
    const std::string dtype = a.choice("dtype", "float", {"float", "double"});
    backend_flags(a, "predict", false);
    if (a.has("threads")) omp_set_num_threads(static_cast<int>(a.integer("threads", 1, 1, 1024)));
    for (const char* f : {"out-masks", "out-iou", "out-lowres", "overlay"})  // fail before any work
        if (a.has(f)) evsam::detail::check_write_target(a.str(f));
    if (dtype == "double") {
        auto prompt = evsam::tool::parse_prompt<double>(a);  // prompts first: a bad prompt fails before loading weights
        return run_predict<double>(a, open_checkpoint(a.str("weights"), a.str("model"), a.str("config")), prompt);
    }
    auto prompt = evsam::tool::parse_prompt<float>(a);
    return run_predict<float>(a, open_checkpoint(a.str("weights"), a.str("model"), a.str("config")), prompt);
}

// Python's repr(float): the shortest decimal that reads back as the same double.
std::string py_float(double v) {
    char buf[40];
    for (int prec = 1; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    std::string s = buf;
    if (s.find_first_of(".en") == std::string::npos) s += ".0";  // 1 -> 1.0, as Python prints floats
    return s;
}

// Renders an image with every mask painted in its own colour (largest first, so small masks stay visible).
evsam::Image amg_overlay(const evsam::Image& img, const std::vector<evsam::MaskRecord>& recs) {
    evsam::Image out = img;
    std::vector<size_t> order(recs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return recs[a].area > recs[b].area; });
    for (size_t i : order) {
        uint32_t h = static_cast<uint32_t>(i) * 2654435761u + 12345u;  // a stable colour per mask
        const uint8_t col[3] = {static_cast<uint8_t>(64 + (h & 0xbf)), static_cast<uint8_t>(64 + ((h >> 8) & 0xbf)),
                                static_cast<uint8_t>(64 + ((h >> 16) & 0xbf))};
        auto m = evsam::amg::rle_to_mask(recs[i].rle);
        for (size_t p = 0; p < m.size(); ++p)
            if (m[p])
                for (int k = 0; k < 3; ++k)
                    out.data[p * 3 + k] = static_cast<uint8_t>((out.data[p * 3 + k] * 45 + col[k] * 55) / 100);
    }
    return out;
}

// evsam everything: SamAutomaticMaskGenerator with every knob; records as JSON, or (binary_mask)
// a folder with one PNG per mask and metadata.csv, as upstream's scripts/amg.py writes them.
int cmd_everything(const std::vector<std::string>& argv) {
    Args a("everything",
           {{"weights", true, true, "FILE"}, {"model", true, false, "NAME"}, {"config", true, false, "JSON"},
            {"image", true, true, "IMG"}, {"out", true, true, "RECORDS.json|DIR"},
            {"points-per-side", true, false, "N"}, {"points-per-batch", true, false, "N"},
            {"pred-iou-thresh", true, false, "F"}, {"stability-score-thresh", true, false, "F"},
            {"stability-score-offset", true, false, "F"}, {"box-nms-thresh", true, false, "F"},
            {"crop-n-layers", true, false, "N"}, {"crop-nms-thresh", true, false, "F"},
            {"crop-overlap-ratio", true, false, "F"}, {"crop-n-points-downscale-factor", true, false, "N"},
            {"min-mask-region-area", true, false, "N"},
            {"output-mode", true, false, "binary_mask|uncompressed_rle|coco_rle"}, {"overlay", true, false, "OUT.png"},
            {"threads", true, false, "N"}, {"dtype", true, false, "float|double"}, {"backend", true, false, "cpu|cuda"},
            {"precision", true, false, "strict|fast"}, {"batch", true, false, "N"}},
           argv);
    evsam::AmgConfig cfg;
    cfg.points_per_side = a.integer("points-per-side", 32, 1, 1024);
    cfg.points_per_batch = a.integer("points-per-batch", 64, 1, 65536);
    cfg.pred_iou_thresh = a.real("pred-iou-thresh", 0.88, -1e9, 1e9);
    cfg.stability_score_thresh = a.real("stability-score-thresh", 0.95, -1e9, 1e9);
    cfg.stability_score_offset = a.real("stability-score-offset", 1.0, -1e9, 1e9);
    cfg.box_nms_thresh = a.real("box-nms-thresh", 0.7, 0, 1);
    cfg.crop_n_layers = a.integer("crop-n-layers", 0, 0, 6);
    cfg.crop_nms_thresh = a.real("crop-nms-thresh", 0.7, 0, 1);
    cfg.crop_overlap_ratio = a.real("crop-overlap-ratio", 512.0 / 1500.0, 0, 1);
    cfg.crop_n_points_downscale_factor = a.integer("crop-n-points-downscale-factor", 1, 1, 1024);
    cfg.min_mask_region_area = a.integer("min-mask-region-area", 0, 0, INT64_MAX);
    const std::string mode = a.choice("output-mode", "binary_mask", {"binary_mask", "uncompressed_rle", "coco_rle"});
    cfg.output_mode = mode == "binary_mask" ? evsam::AmgOutputMode::binary_mask
                      : mode == "coco_rle"  ? evsam::AmgOutputMode::coco_rle
                                            : evsam::AmgOutputMode::uncompressed_rle;
    a.choice("dtype", "float", {"float"});  // the generator runs the float model
    backend_flags(a, "everything", false);
    if (a.has("threads")) omp_set_num_threads(static_cast<int>(a.integer("threads", 1, 1, 1024)));
    const std::string out = a.str("out");
    if (mode != "binary_mask") evsam::detail::check_write_target(out);
    if (a.has("overlay")) evsam::detail::check_write_target(a.str("overlay"));
    if (mode == "binary_mask") {  // a new folder: refuse to mix with an existing one
        struct stat st {};
        if (::stat(out.c_str(), &st) == 0) throw evsam::Error("everything: --out folder '" + out + "' already exists");
        evsam::detail::check_write_target(out);
    }
    evsam::Image img = evsam::load_image(a.str("image"));
    auto lc = open_checkpoint(a.str("weights"), a.str("model"), a.str("config"));
    evsam::EfficientViTSam<float> model(lc.cfg);
    evsam::load_state_dict(model, lc.ckpt, lc.model);
    evsam::AutomaticMaskGenerator<float> gen(model, cfg);
    const bool tty = ::isatty(2);
    auto progress = [&](int64_t c, int64_t nc, int64_t b, int64_t nb) {
        if (!tty) return;
        const int width = 30, done = nb ? static_cast<int>(width * b / nb) : width;
        std::fprintf(stderr, "\r  crop %lld/%lld [%s%s] batch %lld/%lld", static_cast<long long>(c + 1),
                     static_cast<long long>(nc), std::string(static_cast<size_t>(done), '#').c_str(),
                     std::string(static_cast<size_t>(width - done), '.').c_str(), static_cast<long long>(b),
                     static_cast<long long>(nb));
        if (b == nb && c + 1 == nc) std::fprintf(stderr, "\n");
    };
    auto recs = gen.generate(img, progress);

    if (mode == "binary_mask") {
        const std::string tmp = out + ".tmp." + std::to_string(::getpid());
        std::error_code ec;
        std::filesystem::create_directories(tmp, ec);
        if (ec) throw evsam::Error("everything: cannot create '" + tmp + "': " + ec.message());
        try {
            std::string csv = "id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,"
                              "stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h";
            for (size_t i = 0; i < recs.size(); ++i) {
                const auto& r = recs[i];
                auto m = evsam::amg::rle_to_mask(r.rle);
                for (auto& v : m) v = v ? 255 : 0;
                evsam::save_png(tmp + "/" + std::to_string(i) + ".png", m.data(), r.rle.h, r.rle.w, 1);
                csv += "\n" + std::to_string(i) + "," + std::to_string(r.area);
                for (auto v : r.bbox) csv += "," + std::to_string(v);
                csv += "," + py_float(r.point_coords[0]) + "," + py_float(r.point_coords[1]) + "," +
                       py_float(r.predicted_iou) + "," + py_float(r.stability_score);
                for (auto v : r.crop_box) csv += "," + std::to_string(v);
            }
            evsam::write_file_atomic(tmp + "/metadata.csv", csv.data(), csv.size());
            std::filesystem::rename(tmp, out);
        } catch (...) {
            std::filesystem::remove_all(tmp, ec);
            throw;
        }
    } else {
        nlohmann::ordered_json arr = nlohmann::ordered_json::array();
        for (const auto& r : recs) {
            nlohmann::ordered_json seg;
            seg["size"] = {r.rle.h, r.rle.w};
            if (mode == "coco_rle")
                seg["counts"] = evsam::amg::coco_rle_string(r.rle);
            else
                seg["counts"] = r.rle.counts;
            arr.push_back({{"segmentation", seg}, {"area", r.area}, {"bbox", r.bbox}, {"predicted_iou", r.predicted_iou},
                           {"point_coords", {{r.point_coords[0], r.point_coords[1]}}},
                           {"stability_score", r.stability_score}, {"crop_box", r.crop_box}});
        }
        const std::string text = arr.dump() + "\n";
        evsam::write_file_atomic(out, text.data(), text.size());
    }
    if (a.has("overlay")) evsam::save_png(a.str("overlay"), amg_overlay(img, recs));
    std::fprintf(stderr, "evsam: %zu masks\n", recs.size());
    return 0;
}

// evsam bench: medians of the encoder, one decoder prompt and (--amg) segment everything.
int cmd_bench(const std::vector<std::string>& argv) {
    Args a("bench",
           {{"weights", true, true, "FILE"}, {"model", true, false, "NAME"}, {"config", true, false, "JSON"},
            {"image", true, false, "IMG"}, {"threads", true, false, "N"}, {"repeat", true, false, "N"},
            {"amg", false, false, ""}, {"json", false, false, ""}, {"backend", true, false, "cpu|cuda"},
            {"precision", true, false, "strict|fast"}, {"batch", true, false, "N"}},
           argv);
    const BackendChoice be = backend_flags(a, "bench", true);
    const int repeat = static_cast<int>(a.integer("repeat", 3, 1, 1000));
    if (a.has("threads")) omp_set_num_threads(static_cast<int>(a.integer("threads", 1, 1, 1024)));
    const evsam::Image img = a.has("image") ? evsam::load_image(a.str("image")) : evsam::tool::bench_test_image();
    auto lc = open_checkpoint(a.str("weights"), a.str("model"), a.str("config"));
    if (be.cuda) {  // the encoder on the GPU: batches of --batch copies of the image
        if (a.has("amg")) throw evsam::Error("bench --backend cuda: --amg needs the decoder on CUDA, which is not there yet");
        const auto x = evsam::preprocess_image<float>(img.data.data(), img.height, img.width, lc.cfg.resolution);
        const auto r = evsam::tool::cuda_bench_encoder(lc.ckpt, lc.cfg, x, be.opt, repeat);
        std::printf("model %s  device %s  precision %s  batch %d  repeat %d\n", lc.model.c_str(), r.device.c_str(),
                    be.opt.precision.c_str(), be.opt.batch, repeat);
        std::printf("encoder_s      %.5f\nimages_per_s   %.2f\npeak_device_mb %.1f\n", r.encoder_s, r.images_per_s,
                    r.peak_device_mb);
        if (a.has("json")) {
            nlohmann::ordered_json j{{"model", lc.model},         {"backend", "cuda"},          {"device", r.device},
                                     {"precision", be.opt.precision}, {"batch", be.opt.batch}, {"repeat", repeat},
                                     {"encoder_s", r.encoder_s},  {"images_per_s", r.images_per_s},
                                     {"peak_device_mb", r.peak_device_mb}};
            std::printf("%s\n", j.dump().c_str());
        }
        return 0;
    }
    evsam::EfficientViTSam<float> model(lc.cfg);
    evsam::load_state_dict(model, lc.ckpt, lc.model);
    const auto r = evsam::tool::run_bench(model, img, repeat, a.has("amg"));
    const int threads = omp_get_max_threads();
    std::printf("model %s  image %lldx%lld  threads %d  repeat %d\n", lc.model.c_str(),
                static_cast<long long>(img.width), static_cast<long long>(img.height), threads, repeat);
    std::printf("encoder_s   %.4f\ndecoder_s   %.4f\n", r.encoder_s, r.decoder_s);
    if (r.amg_s >= 0) std::printf("amg_s       %.4f  (%lld masks)\n", r.amg_s, static_cast<long long>(r.amg_masks));
    std::printf("peak_rss_mb %.1f\n", r.peak_rss_mb);
    if (a.has("json")) {
        nlohmann::ordered_json j{{"model", lc.model}, {"threads", threads}, {"repeat", repeat},
                                 {"image", {img.width, img.height}}, {"encoder_s", r.encoder_s},
                                 {"decoder_s", r.decoder_s}};
        if (r.amg_s >= 0) {
            j["amg_s"] = r.amg_s;
            j["amg_masks"] = r.amg_masks;
        }
        j["peak_rss_mb"] = r.peak_rss_mb;
        std::printf("%s\n", j.dump().c_str());
    }
    return 0;
}

int dispatch(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << kUsage;
        return args.empty() ? 2 : 0;
    }
    const std::string cmd = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (!rest.empty() && (rest[0] == "--help" || rest[0] == "-h")) {
        std::cout << kUsage;
        return 0;
    }
    if (cmd == "--version") {
        std::cout << "evsam 0.1.0\n";
        return 0;
    }
    if (cmd == "info") return cmd_info(rest);
    if (cmd == "preprocess") return cmd_preprocess(rest);
    if (cmd == "embed") return cmd_embed(rest);
    if (cmd == "compare") return cmd_compare(rest);
    if (cmd == "predict") return cmd_predict(rest);
    if (cmd == "everything") return cmd_everything(rest);
    if (cmd == "bench") return cmd_bench(rest);
    throw evsam::Error("unknown command '" + cmd + "' (run 'evsam --help')");
}

}  // namespace

int main(int argc, char** argv) {
    // Activations are large and short-lived: keep freed blocks in the heap for the next layer
    // instead of returning them to the kernel (glibc would mmap/munmap each one, and every
    // forward pass would pay for page faults and zeroed pages again).
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        return dispatch(args);
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "evsam: error: out of memory\n");
    } catch (const std::exception& e) {
        std::string msg = e.what();
        for (char& c : msg)
            if (c == '\n' || c == '\r') c = ' ';
        std::fprintf(stderr, "evsam: error: %s\n", msg.c_str());
    }
    return 1;
}
