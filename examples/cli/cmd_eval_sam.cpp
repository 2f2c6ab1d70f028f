// evsam eval-sam: the paper's zero-shot evaluation (applications/efficientvit_sam/
// eval_efficientvit_sam_model.py with sam_eval_utils.py) on COCO or LVIS, one process.
//
//   box                : each annotation's box (xywh -> xyxy), multimask, the mask with the highest
//                        predicted IoU; its IoU with the annotation's mask (ann_to_mask: polygons
//                        merged, RLE decoded as pycocotools does). Annotations with area < 1 skipped.
//   point              : the same with --num-click clicks placed by upstream's Clicker, each
//                        prediction from every click so far.
//   box_from_detector  : every detection of --source-json (image_id, bbox xywh, ...) gets a
//                        "segmentation" (compressed COCO RLE) from its box: upstream's results list,
//                        for examples/eval/score_ap.py (pycocotools COCOeval / lvis LVISEval).
//
// box and point report mIoU (percent) over all annotations and by area (small / medium / large);
// --json prints {"all", "large", "medium", "small"} as one object on the last line (null where a
// class has no annotation: upstream divides by zero there). --out writes the per-annotation records
// [{"id", "image_id", "area", "iou", "image_index"}] ("click" [x, y] and "clicks" [[x, y, label], ...]
// for point), or the detections with their masks. image_index is the image's place in the run's
// list: --merge sorts the shards' records by it, so merged shards give the unsharded run's records
// in its order, and the same sums bit for bit.
//
// Images: coco: every file in --image-root, sorted by name, its id the name before the first '.'
// (upstream takes os.listdir's order, which only changes the order of the sums); lvis: the
// annotation file's images, at --image-root/<coco_url's folder>/<file>. An image without
// annotations (detections) is skipped without running the encoder: its records would be empty. A
// bad or missing image or annotation is reported on stderr and counted; the run goes on.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "dataset_util.hpp"
#include "evsam/coco_mask.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/nn/state_dict.hpp"
#include "evsam/sam_eval.hpp"
#include "model_args.hpp"

namespace evsam::tool {

// Named, not anonymous: the tool is a unity build (examples/CMakeLists.txt).
namespace cmd_eval_sam {

using ojson = nlohmann::ordered_json;

struct EvalImage {
    std::string path;
    int64_t id = 0;
};

// int(name.split(".")[0]), or false.
bool image_id_of(const std::string& name, int64_t* id) {
    const std::string stem = name.substr(0, name.find('.'));
    if (stem.empty() || stem.size() > 18 || stem.find_first_not_of("0123456789") != std::string::npos) return false;
    *id = std::stoll(stem);
    return true;
}

std::vector<EvalImage> dataset_images(const std::string& dataset, const fs::path& root, const nlohmann::json& ann,
                                      int64_t* bad) {
    std::vector<EvalImage> out;
    if (dataset == "coco") {
        if (!fs::is_directory(root)) throw Error("eval-sam: --image-root " + root.string() + " is not a directory");
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(root))
            if (!e.is_directory()) names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        for (const std::string& n : names) {
            EvalImage im{(root / n).string(), 0};
            if (!image_id_of(n, &im.id)) {
                std::cerr << "eval-sam: " << im.path << ": not a COCO image name (<id>.<ext>), skipped\n";
                ++*bad;
                continue;
            }
            out.push_back(im);
        }
        return out;
    }
    if (!ann.contains("images") || !ann["images"].is_array())
        throw Error("eval-sam: an LVIS annotation file needs an 'images' list");
    for (const auto& im : ann["images"]) {
        if (!im.contains("coco_url") || !im["coco_url"].is_string())
            throw Error("eval-sam: an LVIS image entry without 'coco_url'");
        const fs::path url = im["coco_url"].get<std::string>();
        EvalImage e{(root / url.parent_path().filename() / url.filename()).string(), 0};
        if (!image_id_of(url.filename().string(), &e.id))
            throw Error("eval-sam: " + url.string() + ": not a COCO image name (<id>.<ext>)");
        out.push_back(e);
    }
    return out;
}

// The entries of list (annotations or detections) per image_id, in the file's order.
std::map<int64_t, std::vector<size_t>> by_image(const nlohmann::json& list, const char* what) {
    std::map<int64_t, std::vector<size_t>> m;
    for (size_t i = 0; i < list.size(); ++i) {
        const auto& e = list[i];
        if (!e.is_object() || !e.contains("image_id") || !e["image_id"].is_number_integer())
            throw Error(std::string("eval-sam: ") + what + " " + std::to_string(i) + " has no integer image_id");
        m[e["image_id"].get<int64_t>()].push_back(i);
    }
    return m;
}

std::array<double, 4> xyxy(const nlohmann::json& bbox) {  // bbox_xywh_to_xyxy
    const auto b = coco::json_numbers(bbox, "bbox");
    EVSAM_CHECK(b.size() == 4, "bbox must be [x, y, w, h]");
    return {b[0], b[1], b[0] + b[2], b[1] + b[3]};
}

ojson metric_json(const std::vector<IouResult>& results) {
    const IouMetric m = iou_metric(results);
    auto num = [](double v) { return std::isnan(v) ? ojson(nullptr) : ojson(v); };
    return ojson{{"all", num(m.all)}, {"large", num(m.large)}, {"medium", num(m.medium)}, {"small", num(m.small)}};
}

// The summary as upstream prints it, or one JSON object.
void report(const Args& a, const std::vector<IouResult>& results) {
    const ojson j = metric_json(results);
    if (a.has("json")) {
        std::cout << j.dump() << "\n";
        return;
    }
    std::string line;
    for (const char* k : {"all", "large", "medium", "small"}) {
        char buf[64];
        if (j[k].is_null())
            std::snprintf(buf, sizeof buf, "%s=nan", k);
        else
            std::snprintf(buf, sizeof buf, "%s=%.3f", k, j[k].get<double>());
        line += (line.empty() ? "" : ", ") + std::string(buf);
    }
    std::cout << line << "\n";
}

std::vector<IouResult> iou_results(const ojson& records) {
    std::vector<IouResult> r;
    for (const auto& e : records) r.push_back({e.at("area").get<double>(), e.at("iou").get<double>()});
    return r;
}

int run_merge(const Args& a) {
    for (const char* f : {"weights", "image-root", "annotations", "source-json", "shard"})
        if (a.has(f)) throw Error(std::string("eval-sam: --merge takes shard files only, not --") + f);
    std::vector<std::pair<int64_t, ojson>> all;  // (image_index, record)
    std::map<int64_t, std::string> owner;
    for (const std::string& p : a.all("merge")) {
        auto bytes = read_file(p);
        ojson j = ojson::parse(bytes.begin(), bytes.end(), nullptr, false);
        if (j.is_discarded() || !j.is_array()) throw Error(p + ": not an eval-sam --out file (a JSON list)");
        int64_t prev = -1;
        for (auto& e : j) {
            if (!e.is_object() || !e.contains("image_index") || !e["image_index"].is_number_integer())
                throw Error(p + ": a record without image_index (not an eval-sam --out file)");
            const int64_t i = e["image_index"].get<int64_t>();
            if (i != prev) {
                const auto [it, fresh] = owner.emplace(i, p);
                if (!fresh) throw Error(p + ": image " + std::to_string(i) + " is also in " + it->second);
                prev = i;
            }
            all.emplace_back(i, std::move(e));
        }
    }
    std::stable_sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    ojson merged = ojson::array();
    for (auto& r : all) merged.push_back(std::move(r.second));
    const bool detections = !merged.empty() && merged[0].contains("segmentation");
    if (detections && !a.has("out")) throw Error("eval-sam: --merge of box_from_detector results needs --out");
    if (a.has("out")) write_json_atomic(a.str("out"), merged);
    if (detections) {
        std::fprintf(stderr, "evsam: %zu detections merged\n", merged.size());
        return 0;
    }
    if (merged.empty()) throw Error("eval-sam: --merge: the shard files hold no records");
    try {
        report(a, iou_results(merged));
    } catch (const nlohmann::json::exception& e) {
        throw Error(std::string("eval-sam: --merge: a record without area or iou (") + e.what() + ")");
    }
    return 0;
}

template <class T>
int run_eval(const Args& a, const LoadedCheckpoint& lc) {
    const std::string dataset = a.choice("dataset", "", {"coco", "lvis"});
    const std::string prompt = a.choice("prompt", "", {"box", "box_from_detector", "point"});
    const int64_t num_click = a.integer("num-click", 1, 1, 1000);
    if (a.has("num-click") && prompt != "point") throw Error("eval-sam: --num-click applies to --prompt point");
    const bool detector = prompt == "box_from_detector";
    if (detector != a.has("source-json"))
        throw Error(detector ? "eval-sam: --prompt box_from_detector needs --source-json DETS.json"
                             : "eval-sam: --source-json applies to --prompt box_from_detector");
    if (detector && !a.has("out")) throw Error("eval-sam: --prompt box_from_detector writes its results to --out");
    if (a.has("out")) detail::check_write_target(a.str("out"));
    const auto [shard, nshard] = parse_shard(a);

    const nlohmann::json ann = read_json_file(a.str("annotations"));
    if (!ann.is_object()) throw Error("eval-sam: " + a.str("annotations") + ": not a COCO/LVIS annotation file");
    int64_t bad_images = 0, bad_anns = 0;
    const std::vector<EvalImage> images = dataset_images(dataset, a.str("image-root"), ann, &bad_images);
    nlohmann::json entries;  // annotations or detections
    if (detector) {
        entries = read_json_file(a.str("source-json"));
        if (!entries.is_array()) throw Error("eval-sam: " + a.str("source-json") + ": not a list of detections");
    } else {
        if (!ann.contains("annotations") || !ann["annotations"].is_array())
            throw Error("eval-sam: " + a.str("annotations") + ": no 'annotations' list");
        entries = ann["annotations"];
    }
    const auto per_image = by_image(entries, detector ? "detection" : "annotation");

    auto model = create_sam<T, backend::cpu>(lc.cfg);
    load_state_dict(*model, lc.ckpt, lc.model);
    Predictor<T> predictor(*model);

    std::vector<size_t> mine;  // the images of this shard that have entries
    for (size_t i = 0; i < images.size(); ++i)
        if (static_cast<int64_t>(i) % nshard == shard && per_image.count(images[i].id)) mine.push_back(i);
    Progress bar{static_cast<int64_t>(mine.size()), "eval-sam"};
    ojson records = ojson::array();
    std::vector<IouResult> results;
    double iou_sum = 0;  // the progress bar's running mIoU
    int64_t done = 0;
    for (size_t i : mine) {
        const EvalImage& im = images[i];
        Image img;
        try {
            img = load_image(im.path);
        } catch (const Error& e) {
            std::cerr << (bar.tty ? "\n" : "") << "eval-sam: " << e.what() << " (image skipped)\n";
            ++bad_images;
            bar.update(++done, "");
            continue;
        }
        predictor.set_image(img);
        const int64_t H = img.height, W = img.width;
        for (size_t k : per_image.at(im.id)) {
            const auto& e = entries[k];
            try {
                if (detector) {
                    Prompt<T> p;
                    p.box = xyxy(e.at("bbox"));
                    const auto mask = predict_best_mask(predictor, p);
                    ojson det = e;
                    det["segmentation"] =
                        ojson{{"size", {H, W}}, {"counts", amg::coco_rle_string(amg::mask_to_rle(mask.data(), H, W))}};
                    det["image_index"] = i;
                    records.push_back(std::move(det));
                    continue;
                }
                if (!e.contains("area") || !e["area"].is_number())
                    throw Error("annotation " + std::to_string(k) + " has no area");
                const double area = e["area"].get<double>();
                if (area < 1) continue;
                if (!e.contains("segmentation"))
                    throw Error("annotation " + std::to_string(k) + " has no segmentation");
                const std::vector<uint8_t> gt = coco::ann_to_mask(e["segmentation"], H, W);
                ojson r{
                    {"id", e.contains("id") ? ojson(e["id"]) : ojson(nullptr)}, {"image_id", im.id}, {"area", area}};
                std::vector<uint8_t> pred;
                if (prompt == "box") {
                    Prompt<T> p;
                    p.box = xyxy(e.at("bbox"));
                    pred = predict_best_mask(predictor, p);
                } else {
                    Clicker clicker(gt, H, W);
                    pred.assign(gt.size(), 0);  // pre_mask = np.zeros_like(sam_mask)
                    Prompt<T> p;
                    ojson clicks = ojson::array();
                    for (int64_t c = 0; c < num_click; ++c) {
                        const Click& ck = clicker.make_next_click(pred.data());
                        p.points.push_back({static_cast<double>(ck.x), static_cast<double>(ck.y)});  // coords[::-1]
                        p.labels.push_back(ck.is_positive ? 1 : 0);
                        clicks.push_back({ck.x, ck.y, ck.is_positive ? 1 : 0});
                        pred = predict_best_mask(predictor, p);
                    }
                    r["click"] = {clicks[0][0], clicks[0][1]};
                    r["clicks"] = clicks;
                }
                const double iou = mask_iou(pred.data(), gt.data(), H * W);
                r["iou"] = iou;
                r["image_index"] = i;
                records.push_back(std::move(r));
                results.push_back({area, iou});
                iou_sum += iou;
            } catch (const Error& err) {
                std::cerr << (bar.tty ? "\n" : "") << "eval-sam: " << im.path << ": " << err.what()
                          << " (annotation skipped)\n";
                ++bad_anns;
            } catch (const nlohmann::json::exception& err) {
                std::cerr << (bar.tty ? "\n" : "") << "eval-sam: " << im.path << ": entry " << k << ": " << err.what()
                          << " (annotation skipped)\n";
                ++bad_anns;
            }
        }
        char status[64] = "";
        if (!results.empty()) std::snprintf(status, sizeof status, "mIoU %.2f", iou_sum / results.size());
        bar.update(++done, status);
    }
    if (a.has("out")) write_json_atomic(a.str("out"), records);
    std::fprintf(stderr, "evsam: eval-sam %s %s: %zu images, %zu %s; %lld bad images, %lld bad %s\n", dataset.c_str(),
                 prompt.c_str(), mine.size(), records.size(), detector ? "detections" : "annotations",
                 static_cast<long long>(bad_images), static_cast<long long>(bad_anns),
                 detector ? "detections" : "annotations");
    if (!detector) {
        if (results.empty()) throw Error("eval-sam: no annotation was evaluated");
        report(a, results);
    }
    return 0;
}

int run(const Args& a) {
    if (a.has("merge")) return run_merge(a);
    for (const char* f : {"weights", "dataset", "image-root", "annotations", "prompt"})
        if (!a.has(f)) throw Error(std::string("eval-sam: give --") + f + " (or --merge)");
    const std::string dtype = a.choice("dtype", "float", {"float", "double"});
    const BackendChoice be = backend_flags(a, "eval-sam", false);
    if (dtype == "double" && be.opt.precision == "fast") throw Error("eval-sam: --precision fast needs --dtype float");
    set_threads(a);
    auto lc = open_checkpoint(a.str("weights"), a.str("model"), a.str("config"));
    apply_hourglass_flags(a, lc, "eval-sam");  // Expedit-SAM's hourglass on SAM's ViT models
    return dtype == "double" ? run_eval<double>(a, lc) : run_eval<float>(a, lc);
}

}  // namespace cmd_eval_sam

Command eval_sam_command() {
    using namespace cmd_eval_sam;
    std::vector<FlagSpec> f = {
        weights_flag(false),
        model_flag(),
        config_flag(),
        value("dataset", "coco|lvis", "the annotation format and image layout"),
        value("image-root", "DIR",
              "coco: the folder of <id>.<ext> images; lvis: the folder holding train2017/, val2017/"),
        value("annotations", "JSON", "the COCO / LVIS instances file"),
        value("prompt", "box|box_from_detector|point", "what prompts the model (upstream's --prompt_type)"),
        value("num-click", "N", "point: clicks per annotation (default 1)"),
        value("source-json", "DETS.json", "box_from_detector: the detector's results [{image_id, bbox, ...}]"),
        value("shard", "I/N", "evaluate the images whose index is I mod N (default 0/1: all)"),
        value("out", "RESULTS.json", "the per-annotation records, or the detections with their masks"),
        repeated("merge", "RESULTS.json", "merge the shards' --out files (sorted back into one run's order)"),
        toggle("json", "print {all, large, medium, small} as one JSON object on the last line"),
        dtype_flag(),
        threads_flag()};
    for (auto& b : backend_flag_specs()) f.push_back(b);
    for (auto& h : hourglass_flag_specs()) f.push_back(h);
    return {"eval-sam",
            "zero-shot COCO / LVIS evaluation as upstream's eval_efficientvit_sam_model.py: mIoU from box or "
            "click prompts, or masks for a detector's boxes",
            f, run};
}

}  // namespace evsam::tool
