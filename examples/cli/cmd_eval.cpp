// evsam eval-cls / eval-seg: upstream's evaluation scripts (applications/efficientvit_cls/
// eval_efficientvit_cls_model.py, applications/efficientvit_seg/eval_efficientvit_seg_model.py) over
// a dataset in upstream's layout: ImageNet top-1 / top-5, Cityscapes / ADE20K mIoU and per-class IoU.
//
// --shard I/N evaluates the samples whose index (in the sorted file list) is I mod N and writes its
// sums with --out; `--merge S1.json S2.json ...` adds the shards' sums into the numbers one run gives.
// A progress bar with the rate and ETA goes to stderr (a line per 10% when stderr is not a terminal).
#include <unistd.h>

#include <cstring>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "evsam/class_tables.hpp"
#include "evsam/cls_seg.hpp"
#include "evsam/core/file_io.hpp"
#include "dataset_util.hpp"
#include "model_args.hpp"

namespace evsam::tool {

// Named, not anonymous: the tool is a unity build (examples/CMakeLists.txt).
namespace cmd_eval {

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// The shards of one evaluation: the same model, data and N, every index 0..N-1 exactly once.
std::vector<nlohmann::json> read_shards(const Args& a, const std::string& kind) {
    std::vector<nlohmann::json> shards;
    std::vector<bool> seen;
    for (const std::string& p : a.all("merge")) {
        nlohmann::json j = read_json_file(p);
        try {
            if (j.at("kind").get<std::string>() != kind)
                throw Error(p + ": a " + j.at("kind").get<std::string>() + " shard, not " + kind);
            const int64_t i = j.at("shard").at(0), n = j.at("shard").at(1);
            if (seen.empty()) seen.assign(static_cast<size_t>(n), false);
            if (n != static_cast<int64_t>(seen.size()) || i < 0 || i >= n)
                throw Error(p + ": shard " + std::to_string(i) + "/" + std::to_string(n) +
                            " does not belong with the others");
            if (seen[static_cast<size_t>(i)]) throw Error(p + ": shard " + std::to_string(i) + " given twice");
            seen[static_cast<size_t>(i)] = true;
            if (!shards.empty() && (j.at("model") != shards[0].at("model") || j.at("data") != shards[0].at("data")))
                throw Error(p + ": another model or dataset than " + a.all("merge")[0]);
        } catch (const nlohmann::json::exception& e) {
            throw Error(p + ": not an evsam " + kind + " shard (" + e.what() + ")");
        }
        shards.push_back(std::move(j));
    }
    for (size_t i = 0; i < seen.size(); ++i)
        if (!seen[i])
            throw Error("--merge: shard " + std::to_string(i) + "/" + std::to_string(seen.size()) + " missing");
    return shards;
}

// ------------------------------------------------------------------ eval-cls

void report_cls(const Args& a, const nlohmann::ordered_json& j) {
    if (a.has("json")) {
        std::cout << j.dump() << "\n";
        return;
    }
    char line[128];
    std::snprintf(line, sizeof line, "Top1 Acc=%.3f, Top5 Acc=%.3f\n", j["top1"].get<double>(),
                  j["top5"].get<double>());
    std::cout << line;
}

nlohmann::ordered_json cls_result(const nlohmann::ordered_json& base, int64_t n, int64_t c1, int64_t c5) {
    nlohmann::ordered_json j = base;
    j["images"] = n;
    j["correct1"] = c1;
    j["correct5"] = c5;
    j["top1"] = n ? 100.0 * static_cast<double>(c1) / static_cast<double>(n) : 0.0;
    j["top5"] = n ? 100.0 * static_cast<double>(c5) / static_cast<double>(n) : 0.0;
    return j;
}

int run_eval_cls(const Args& a) {
    if (a.has("merge")) {
        if (a.has("data") || a.has("weights")) throw Error("eval-cls: --merge takes shard files only");
        int64_t n = 0, c1 = 0, c5 = 0;
        const auto shards = read_shards(a, "eval-cls");
        for (const auto& s : shards) {
            n += s.at("images").get<int64_t>();
            c1 += s.at("correct1").get<int64_t>();
            c5 += s.at("correct5").get<int64_t>();
        }
        nlohmann::ordered_json base;
        base["kind"] = "eval-cls";
        base["model"] = shards[0]["model"];
        base["data"] = shards[0]["data"];
        base["shard"] = {0, 1};
        const auto j = cls_result(base, n, c1, c5);
        if (a.has("out")) write_json_atomic(a.str("out"), j);
        report_cls(a, j);
        return 0;
    }
    if (!a.has("weights") || !a.has("data")) throw Error("eval-cls: give --weights and --data (or --merge)");
    const auto [shard, nshard] = parse_shard(a);
    set_threads(a);
    const auto lc = open_zoo_checkpoint(a.str("weights"), a.str("model"), a.str("config"), ModelKind::cls, "eval-cls");
    int64_t R = lc.model.resolution ? lc.model.resolution : lc.cls->resolutions.front();
    if (a.has("resolution")) R = a.integer("resolution", R, 32, 4096);
    const double crop = a.has("crop-ratio") ? a.real("crop-ratio", lc.cls->crop_ratio, 0.05, 1.0) : lc.cls->crop_ratio;
    // datasets.ImageFolder(DIR/val or DIR): classes = sorted sub-directories, samples = their image files
    fs::path root = a.str("data");
    if (fs::is_directory(root / "val")) root /= "val";
    if (!fs::is_directory(root)) throw Error("eval-cls: --data " + a.str("data") + " is not a directory");
    std::vector<std::string> classes;
    for (const auto& e : fs::directory_iterator(root))
        if (e.is_directory()) classes.push_back(e.path().filename().string());
    std::sort(classes.begin(), classes.end());
    const char* exts[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"};
    std::vector<std::pair<std::string, int64_t>> samples;
    for (size_t c = 0; c < classes.size(); ++c)
        for (const std::string& f : walk(root / classes[c])) {
            const std::string l = lower(f);
            for (const char* e : exts)
                if (l.size() >= std::strlen(e) && l.compare(l.size() - std::strlen(e), std::string::npos, e) == 0) {
                    samples.emplace_back(f, static_cast<int64_t>(c));
                    break;
                }
        }
    if (samples.empty())
        throw Error("eval-cls: no images under " + root.string() + " (ImageFolder layout: <class>/<image>)");
    if (static_cast<int64_t>(classes.size()) != lc.cls->head.n_classes)
        throw Error("eval-cls: " + root.string() + " has " + std::to_string(classes.size()) +
                    " class directories, the model " + std::to_string(lc.cls->head.n_classes) + " classes");
    auto model = create_cls<float>(*lc.cls);
    load_state_dict(*model, lc.ckpt, lc.title);
    int64_t mine = 0;
    for (size_t i = 0; i < samples.size(); ++i) mine += static_cast<int64_t>(i) % nshard == shard;
    Progress bar{mine, "eval-cls"};
    int64_t n = 0, c1 = 0, c5 = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
        if (static_cast<int64_t>(i) % nshard != shard) continue;
        const Image img = load_image(samples[i].first);
        const Tensor<float> logits =
            model->forward(classify_preprocess<float>(img.data.data(), img.height, img.width, R, crop));
        c1 += in_top_k(logits, 0, samples[i].second, 1);
        c5 += in_top_k(logits, 0, samples[i].second, 5);
        ++n;
        char status[64];
        std::snprintf(status, sizeof status, "top1 %.2f top5 %.2f", 100.0 * c1 / n, 100.0 * c5 / n);
        bar.update(n, status);
    }
    nlohmann::ordered_json base;
    base["kind"] = "eval-cls";
    base["model"] = lc.model.name == "custom" ? lc.title : lc.model.name;
    base["data"] = fs::absolute(root).lexically_normal().string();
    base["resolution"] = R;
    base["crop_ratio"] = crop;
    base["shard"] = {shard, nshard};
    const auto j = cls_result(base, n, c1, c5);
    if (a.has("out")) write_json_atomic(a.str("out"), j);
    report_cls(a, j);
    return 0;
}

// ------------------------------------------------------------------ eval-seg

// The sample list of upstream's CityscapesDataset / ADE20KDataset: (image, label) paths.
std::vector<std::pair<std::string, std::string>> seg_samples(const std::string& dataset, fs::path root) {
    auto replace_all = [](std::string s, const std::string& from, const std::string& to) {
        for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
            s.replace(p, from.size(), to);
        return s;
    };
    auto with_png = [](std::string s) {
        if (s.size() < 4 || s.compare(s.size() - 4, 4, ".png") != 0) s = fs::path(s).replace_extension(".png").string();
        return s;
    };
    root = fs::absolute(root).lexically_normal();  // the label paths are found by replacing "/leftImg8bit/" etc.
    std::vector<std::pair<std::string, std::string>> out;
    if (dataset == "cityscapes") {
        if (fs::is_directory(root / "leftImg8bit" / "val")) root = root / "leftImg8bit" / "val";
        for (const std::string& f : walk(root))
            if (fs::path(f).extension() == ".png")
                out.emplace_back(f, with_png(replace_all(replace_all(f, "/leftImg8bit/", "/gtFine/"), "_leftImg8bit.",
                                                         "_gtFine_labelIds.")));
    } else {
        if (fs::is_directory(root / "images" / "validation")) root = root / "images" / "validation";
        for (const std::string& f : walk(root))
            if (fs::path(f).extension() == ".jpg")
                out.emplace_back(f, with_png(replace_all(f, "/images/", "/annotations/")));
    }
    return out;
}

// The label map of one sample: Cityscapes' labelIds through label_map, ADE20K's values - 1.
std::vector<int32_t> load_target(const std::string& dataset, const std::string& path, int64_t* H, int64_t* W) {
    const ImageInfo info = image_info(path);
    if (info.channels != 1 || info.format != "PNG")
        throw Error(path + ": a label map must be an 8-bit grayscale PNG (this is " + info.format + " with " +
                    std::to_string(info.channels) + " channels)");
    const Image lab = load_image(path);
    *H = lab.height;
    *W = lab.width;
    std::vector<int32_t> t(static_cast<size_t>(lab.height * lab.width));
    for (size_t i = 0; i < t.size(); ++i) {
        const int v = lab.data[i * 3];
        if (dataset == "cityscapes") {
            if (v >= 34) throw Error(path + ": labelId " + std::to_string(v) + " is not a Cityscapes labelId (0..33)");
            t[i] = cityscapes_label_map()[static_cast<size_t>(v)];
        } else {
            t[i] = v - 1;
        }
    }
    return t;
}

void report_seg(const Args& a, const nlohmann::ordered_json& j) {
    if (a.has("json")) {
        std::cout << j.dump() << "\n";
        return;
    }
    const auto& names = j["dataset"] == "cityscapes" ? cityscapes_classes() : ade20k_classes();
    for (size_t c = 0; c < j["iou"].size(); ++c) {
        char line[128];
        if (j["iou"][c].is_null())
            std::snprintf(line, sizeof line, "%3zu %-24s      -\n", c, names[c].c_str());
        else
            std::snprintf(line, sizeof line, "%3zu %-24s %6.2f\n", c, names[c].c_str(),
                          100 * j["iou"][c].get<double>());
        std::cout << line;
    }
    char line[160];
    if (j["miou"].is_null())
        std::snprintf(line, sizeof line, "mIoU = nan (%lld of %zu classes never occur; over the others %.3f)\n",
                      static_cast<long long>(j["iou"].size() - j["classes_present"].get<size_t>()), j["iou"].size(),
                      j["miou_present"].get<double>());
    else
        std::snprintf(line, sizeof line, "mIoU = %.3f\n", j["miou"].get<double>());
    std::cout << line;
}

// mIoU as upstream prints it: (interaction.sum / union.sum).mean() * 100, nan (null) when a class
// never occurs; and the mean over the classes that do.
nlohmann::ordered_json seg_result(nlohmann::ordered_json j, const std::vector<int64_t>& inter,
                                  const std::vector<int64_t>& uni) {
    j["intersection"] = inter;
    j["union"] = uni;
    nlohmann::ordered_json iou = nlohmann::ordered_json::array();
    double sum = 0;
    int64_t present = 0;
    for (size_t c = 0; c < inter.size(); ++c) {
        if (uni[c] == 0) {
            iou.push_back(nullptr);
            continue;
        }
        const double v = static_cast<double>(inter[c]) / static_cast<double>(uni[c]);
        iou.push_back(v);
        sum += v;
        ++present;
    }
    j["iou"] = iou;
    j["classes_present"] = present;
    j["miou"] = present == static_cast<int64_t>(inter.size()) ? nlohmann::ordered_json(100 * sum / present)
                                                              : nlohmann::ordered_json(nullptr);
    j["miou_present"] = present ? 100 * sum / present : 0.0;
    return j;
}

int run_eval_seg(const Args& a) {
    if (a.has("merge")) {
        if (a.has("data") || a.has("weights")) throw Error("eval-seg: --merge takes shard files only");
        const auto shards = read_shards(a, "eval-seg");
        std::vector<int64_t> inter, uni;
        int64_t n = 0;
        for (const auto& s : shards) {
            const auto i = s.at("intersection").get<std::vector<int64_t>>(),
                       u = s.at("union").get<std::vector<int64_t>>();
            if (inter.empty()) inter.assign(i.size(), 0), uni.assign(u.size(), 0);
            if (i.size() != inter.size() || u.size() != uni.size())
                throw Error("--merge: shards differ in class count");
            for (size_t c = 0; c < i.size(); ++c) inter[c] += i[c], uni[c] += u[c];
            n += s.at("images").get<int64_t>();
        }
        nlohmann::ordered_json base;
        base["kind"] = "eval-seg";
        base["model"] = shards[0]["model"];
        base["dataset"] = shards[0]["dataset"];
        base["data"] = shards[0]["data"];
        base["shard"] = {0, 1};
        base["images"] = n;
        const auto j = seg_result(base, inter, uni);
        if (a.has("out")) write_json_atomic(a.str("out"), j);
        report_seg(a, j);
        return 0;
    }
    if (!a.has("weights") || !a.has("data") || !a.has("dataset"))
        throw Error("eval-seg: give --weights, --dataset and --data (or --merge)");
    const std::string dataset = a.choice("dataset", "", {"cityscapes", "ade20k"});
    const int64_t crop = a.integer("crop-size", 0, 32, 8192);
    const auto [shard, nshard] = parse_shard(a);
    set_threads(a);
    const auto lc = open_zoo_checkpoint(a.str("weights"), a.str("model"), a.str("config"), ModelKind::seg, "eval-seg");
    const int64_t C = dataset == "cityscapes" ? 19 : 150;
    if (lc.seg->head.n_classes != C)
        throw Error("eval-seg: the model has " + std::to_string(lc.seg->head.n_classes) + " classes, " + dataset + " " +
                    std::to_string(C));
    if (!fs::is_directory(a.str("data"))) throw Error("eval-seg: --data " + a.str("data") + " is not a directory");
    const auto samples = seg_samples(dataset, a.str("data"));
    if (samples.empty())
        throw Error("eval-seg: no " + std::string(dataset == "cityscapes" ? ".png" : ".jpg") + " images under " +
                    a.str("data"));
    auto model = create_seg<float>(*lc.seg);
    load_state_dict(*model, lc.ckpt, lc.title);
    int64_t mine = 0;
    for (size_t i = 0; i < samples.size(); ++i) mine += static_cast<int64_t>(i) % nshard == shard;
    Progress bar{mine, "eval-seg"};
    std::vector<int64_t> inter(static_cast<size_t>(C), 0), uni(static_cast<size_t>(C), 0);
    int64_t n = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
        if (static_cast<int64_t>(i) % nshard != shard) continue;
        int64_t H = 0, W = 0;
        const std::vector<int32_t> target = load_target(dataset, samples[i].second, &H, &W);
        const Image img = load_image(samples[i].first);
        const Tensor<float> logits =
            model->forward(segment_preprocess<float>(img.data.data(), img.height, img.width, dataset, crop));
        const std::vector<int32_t> pred = segment_labels(logits, H, W);  // resize(output, size=mask.shape[-2:])
        seg_iou_update(inter, uni, pred.data(), target.data(), H * W, C);
        ++n;
        double s = 0, k = 0;
        for (size_t c = 0; c < inter.size(); ++c)
            if (uni[c]) s += static_cast<double>(inter[c]) / static_cast<double>(uni[c]), k += 1;
        char status[64];
        std::snprintf(status, sizeof status, "mIoU %.2f", k ? 100 * s / k : 0.0);
        bar.update(n, status);
    }
    nlohmann::ordered_json base;
    base["kind"] = "eval-seg";
    base["model"] = lc.model.name == "custom" ? lc.title : lc.model.name;
    base["dataset"] = dataset;
    base["data"] = fs::absolute(a.str("data")).lexically_normal().string();
    base["crop_size"] = crop ? crop : (dataset == "cityscapes" ? 1024 : 512);
    base["shard"] = {shard, nshard};
    base["images"] = n;
    const auto j = seg_result(base, inter, uni);
    if (a.has("out")) write_json_atomic(a.str("out"), j);
    report_seg(a, j);
    return 0;
}

std::vector<FlagSpec> eval_common_flags(const char* kind) {
    return {weights_flag(false),
            value("model", "NAME", std::string("zoo key of the ") + kind + " (default: detected)"),
            value("config", "JSON", "a model described in JSON (as validation/make_cls_seg_fixtures.py writes)"),
            value("shard", "I/N", "evaluate the samples whose index is I mod N (default 0/1: all)"),
            value("out", "STATS.json", "the run's sums and results (a shard's, for --merge)"),
            repeated("merge", "STATS.json", "add the shards' sums (every I of 0..N-1 once) instead of evaluating"),
            toggle("json", "print the result as one JSON object"),
            threads_flag()};
}

}  // namespace cmd_eval

Command eval_cls_command() {
    using namespace cmd_eval;
    auto f = eval_common_flags("classifier");
    f.insert(f.begin() + 3,
             value("data", "DIR", "ImageNet val/ in ImageFolder layout (DIR/val/<class>/<image>, or DIR itself)"));
    f.push_back(value("resolution", "R", "input resolution (default: the name's -rNNN, else the zoo's smallest)"));
    f.push_back(
        value("crop-ratio", "F", "Resize(ceil(R / F)) then CenterCrop(R) (default: 0.95 for b1, 1.0 otherwise)"));
    return {"eval-cls", "ImageNet top-1 / top-5 of a classifier, as upstream's eval_efficientvit_cls_model.py", f,
            run_eval_cls};
}

Command eval_seg_command() {
    using namespace cmd_eval;
    auto f = eval_common_flags("segmenter");
    f.insert(f.begin() + 3, value("dataset", "cityscapes|ade20k", "the dataset's layout, labels and input size"));
    f.insert(f.begin() + 4, value("data", "DIR",
                                  "Cityscapes leftImg8bit/val (labels from gtFine/), or ADE20K images/validation "
                                  "(labels from annotations/); or the dataset's root"));
    f.push_back(
        value("crop-size", "N", "upstream's --crop_size (default 1024 Cityscapes: 1024x2048; 512 ADE20K: short side)"));
    return {"eval-seg",
            "Cityscapes / ADE20K mIoU and per-class IoU of a segmenter, as upstream's eval_efficientvit_seg_model.py",
            f, run_eval_seg};
}

}  // namespace evsam::tool
