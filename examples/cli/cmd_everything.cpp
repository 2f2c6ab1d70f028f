// evsam everything: SamAutomaticMaskGenerator with every knob; records as JSON, or (binary_mask)
// a folder with one PNG per mask and metadata.csv, as upstream's scripts/amg.py writes them; over a
// folder or a list of images (--shard I/N, resume, failures.txt) with the model loaded once.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "evsam/amg.hpp"
#include "evsam/core/file_io.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/nn/state_dict.hpp"
#include "evsam/viz.hpp"
#include "amg_args.hpp"
#include "dataset_util.hpp"
#include "model_args.hpp"

namespace evsam::tool {

// Named, not anonymous: the tool is a unity build (examples/CMakeLists.txt).
namespace cmd_everything {

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

// The records of one image as --out names them: a JSON file (RLE modes), or a new folder of one PNG
// per mask + metadata.csv (binary_mask), assembled under a temporary name and renamed into place,
// so that a crash never leaves a half-written output.
void write_records(const std::string& out, AmgOutputMode mode, const std::vector<MaskRecord>& recs) {
    if (mode == AmgOutputMode::binary_mask) {
        const std::string tmp = out + ".tmp." + std::to_string(::getpid());
        std::error_code ec;
        std::filesystem::create_directories(tmp, ec);
        if (ec) throw Error("everything: cannot create '" + tmp + "': " + ec.message());
        try {
            std::string csv =
                "id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,"
                "stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h";
            for (size_t i = 0; i < recs.size(); ++i) {
                const auto& r = recs[i];
                auto m = amg::rle_to_mask(r.rle);
                for (auto& v : m) v = v ? 255 : 0;
                save_png(tmp + "/" + std::to_string(i) + ".png", m.data(), r.rle.h, r.rle.w, 1);
                csv += "\n" + std::to_string(i) + "," + std::to_string(r.area);
                for (auto v : r.bbox) csv += "," + std::to_string(v);
                csv += "," + py_float(r.point_coords[0]) + "," + py_float(r.point_coords[1]) + "," +
                       py_float(r.predicted_iou) + "," + py_float(r.stability_score);
                for (auto v : r.crop_box) csv += "," + std::to_string(v);
            }
            write_file_atomic(tmp + "/metadata.csv", csv.data(), csv.size());
            std::filesystem::rename(tmp, out, ec);
            if (ec) throw Error("everything: cannot rename '" + tmp + "' to '" + out + "': " + ec.message());
        } catch (...) {
            std::filesystem::remove_all(tmp, ec);
            throw;
        }
    } else {
        const nlohmann::ordered_json arr = amg_records_json(recs, mode == AmgOutputMode::coco_rle);
        const std::string text = arr.dump() + "\n";
        write_file_atomic(out, text.data(), text.size());
    }
}

// The crop / batch progress of one image's generation (a terminal only).
AutomaticMaskGenerator<float>::Progress crop_progress() {
    const bool tty = ::isatty(2);
    return [tty](int64_t c, int64_t nc, int64_t b, int64_t nb) {
        if (!tty) return;
        const int width = 30, done = nb ? static_cast<int>(width * b / nb) : width;
        std::fprintf(stderr, "\r  crop %lld/%lld [%s%s] batch %lld/%lld", static_cast<long long>(c + 1),
                     static_cast<long long>(nc), std::string(static_cast<size_t>(done), '#').c_str(),
                     std::string(static_cast<size_t>(width - done), '.').c_str(), static_cast<long long>(b),
                     static_cast<long long>(nb));
        if (b == nb && c + 1 == nc) std::fprintf(stderr, "\n");
    };
}

// The images of a folder (its files, not sub-folders, sorted by name: upstream's scripts/amg.py takes
// os.listdir's order) or of a list file (one path per line; blank lines and lines starting with '#'
// skipped; relative paths from the current directory).
std::vector<std::string> folder_targets(const std::string& input) {
    std::vector<std::string> out;
    if (std::filesystem::is_directory(input)) {
        std::error_code ec;
        for (std::filesystem::directory_iterator it(input, ec), end; !ec && it != end; it.increment(ec))
            if (!it->is_directory(ec)) out.push_back(it->path().string());
        if (ec) throw Error("everything: cannot list '" + input + "': " + ec.message());
        std::sort(out.begin(), out.end());
        return out;
    }
    const auto bytes = read_file(input);
    std::string line;
    for (size_t i = 0; i <= bytes.size(); ++i) {
        const char c = i < bytes.size() ? static_cast<char>(bytes[i]) : '\n';
        if (c != '\n') {
            line += c;
            continue;
        }
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
        if (!line.empty() && line[0] != '#') out.push_back(line);
        line.clear();
    }
    return out;
}

// evsam everything --image DIR|LIST.txt --out DIR: every image through one generator, each output
// named as scripts/amg.py names it (DIR/<stem>.json, or the folder DIR/<stem>/), written atomically;
// an output that exists is a finished image and is skipped (resume). Failing images are reported,
// listed in DIR/failures.txt (DIR/failures-I-of-N.txt for --shard I/N with N > 1, so that shards
// running side by side do not overwrite each other's), and make the exit code non-zero; the
// others are written. A run with no failure removes its stale list.
int run_folder(const Args& a, const AmgConfig& cfg, const std::string& input) {
    using clock = std::chrono::steady_clock;
    const auto t_start = clock::now();
    const std::string out = a.str("out");
    if (a.has("overlay")) throw Error("everything: --overlay takes a single --image, not a folder or list");
    const auto [shard, nshard] = parse_shard(a);
    const std::vector<std::string> all = folder_targets(input);
    if (all.empty()) throw Error("everything: no images in " + input);
    const bool folder = cfg.output_mode == AmgOutputMode::binary_mask;
    std::map<std::string, std::string> by_name;             // output name -> input: two inputs may not share one
    std::vector<std::pair<std::string, std::string>> mine;  // (input, output path)
    for (size_t i = 0; i < all.size(); ++i) {
        const std::string stem = std::filesystem::path(all[i]).stem().string();
        const auto [it, fresh] = by_name.emplace(stem, all[i]);
        if (!fresh)
            throw Error("everything: " + all[i] + " and " + it->second + " would both write " +
                        (out + "/" + stem + (folder ? "/" : ".json")));
        if (static_cast<int64_t>(i) % nshard == shard)
            mine.emplace_back(all[i], out + "/" + stem + (folder ? "" : ".json"));
    }
    std::error_code ec;
    std::filesystem::create_directories(out, ec);
    if (ec || !std::filesystem::is_directory(out))
        throw Error("everything: cannot create the folder '" + out + "'" + (ec ? ": " + ec.message() : ""));
    auto lc = open_checkpoint(a.str("weights"), a.str("model"), a.str("config"));
    apply_hourglass_flags(a, lc, "everything");
    auto model = create_sam<float, backend::cpu>(lc.cfg);
    load_state_dict(*model, lc.ckpt, lc.model);
    AutomaticMaskGenerator<float> gen(*model, cfg);
    const double t_load = std::chrono::duration<double>(clock::now() - t_start).count();

    Progress bar{static_cast<int64_t>(mine.size()), "everything"};
    std::vector<std::string> failures;
    int64_t done = 0, skipped = 0, masks = 0, segmented = 0;
    double t_decode = 0, t_generate = 0, t_write = 0;
    for (const auto& [path, dest] : mine) {
        struct stat st {};
        if (::stat(dest.c_str(), &st) == 0) {  // written atomically: present means finished
            ++skipped;
            bar.update(++done, "skipped " + std::filesystem::path(path).filename().string());
            continue;
        }
        try {
            const auto t0 = clock::now();
            const Image img = load_image(path);
            const auto t1 = clock::now();
            const auto recs = gen.generate(img);
            const auto t2 = clock::now();
            write_records(dest, cfg.output_mode, recs);
            t_write += std::chrono::duration<double>(clock::now() - t2).count();
            t_generate += std::chrono::duration<double>(t2 - t1).count();
            t_decode += std::chrono::duration<double>(t1 - t0).count();
            masks += static_cast<int64_t>(recs.size());
            ++segmented;
        } catch (const std::exception& e) {
            std::cerr << (bar.tty ? "\n" : "") << "everything: " << path << ": " << e.what() << "\n";
            failures.push_back(path + "\t" + e.what());
        }
        bar.update(++done, std::to_string(masks) + " masks");
    }
    // one list per shard (the shards of one folder run side by side); a driver merges them
    const std::string fail_list =
        out + (nshard == 1 ? std::string("/failures.txt")
                           : "/failures-" + std::to_string(shard) + "-of-" + std::to_string(nshard) + ".txt");
    if (failures.empty()) {
        std::filesystem::remove(fail_list, ec);  // a rerun that finished everything leaves no stale list
    } else {
        std::string text;
        for (const auto& f : failures) text += f + "\n";
        write_file_atomic(fail_list, text.data(), text.size());
    }
    const double total = std::chrono::duration<double>(clock::now() - t_start).count();
    const double per = segmented ? (total - t_load) / static_cast<double>(segmented) : 0;
    const double overhead = segmented ? (total - t_load - t_generate) / static_cast<double>(segmented) : 0;
    std::fprintf(stderr,
                 "evsam: everything: %zu images: %lld segmented, %lld already done, %zu failed; %lld masks; "
                 "model load %.2f s; per image %.3f s (decode %.3f, generate %.3f, write %.3f; overhead %.2f%%)\n",
                 mine.size(), static_cast<long long>(segmented), static_cast<long long>(skipped), failures.size(),
                 static_cast<long long>(masks), t_load, per, segmented ? t_decode / segmented : 0.0,
                 segmented ? t_generate / segmented : 0.0, segmented ? t_write / segmented : 0.0,
                 per > 0 ? 100 * overhead / per : 0.0);
    if (!failures.empty())
        throw Error("everything: " + std::to_string(failures.size()) + " of " + std::to_string(mine.size()) +
                    " images failed (listed in " + fail_list + ")");
    return 0;
}

int run(const Args& a) {
    AmgConfig cfg;
    for (const AmgKnob& k : amg_knobs()) {
        const std::string f = amg_flag_name(k);
        if (k.integer)
            k.whole(cfg) = a.integer(f, k.whole(cfg), k.ilo, k.ihi);
        else
            k.real(cfg) = a.real(f, k.real(cfg), k.lo, k.hi);
    }
    const std::string mode = a.choice("output-mode", "binary_mask", {"binary_mask", "uncompressed_rle", "coco_rle"});
    cfg.output_mode = mode == "binary_mask" ? AmgOutputMode::binary_mask
                      : mode == "coco_rle"  ? AmgOutputMode::coco_rle
                                            : AmgOutputMode::uncompressed_rle;
    a.choice("dtype", "float", {"float"});  // the generator runs the float model
    backend_flags(a, "everything", false);
    set_threads(a);
    const std::string input = a.str("image"), out = a.str("out");
    if (std::filesystem::is_directory(input) || std::filesystem::path(input).extension() == ".txt")
        return run_folder(a, cfg, input);
    if (a.has("shard")) throw Error("everything: --shard takes a folder or a list of images as --image");
    if (mode != "binary_mask") detail::check_write_target(out);
    if (a.has("overlay")) detail::check_write_target(a.str("overlay"));
    if (mode == "binary_mask") {  // a new folder: refuse to mix with an existing one
        struct stat st {};
        if (::stat(out.c_str(), &st) == 0) throw Error("everything: --out folder '" + out + "' already exists");
        detail::check_write_target(out);
    }
    Image img = load_image(input);
    auto lc = open_checkpoint(a.str("weights"), a.str("model"), a.str("config"));
    apply_hourglass_flags(a, lc, "everything");
    auto model = create_sam<float, backend::cpu>(lc.cfg);
    load_state_dict(*model, lc.ckpt, lc.model);
    AutomaticMaskGenerator<float> gen(*model, cfg);
    auto recs = gen.generate(img, crop_progress());
    write_records(out, cfg.output_mode, recs);
    if (a.has("overlay")) save_png(a.str("overlay"), viz::overlay(img, recs));
    std::fprintf(stderr, "evsam: %zu masks\n", recs.size());
    return 0;
}

}  // namespace cmd_everything

Command everything_command() {
    using namespace cmd_everything;
    std::vector<FlagSpec> f = {
        weights_flag(),
        model_flag(),
        config_flag(),
        required("image", "IMG|DIR|LIST.txt",
                 "image: PNG, JPEG or BMP; or a folder of them, or a .txt list of their paths (one per line)"),
        required("out", "RECORDS.json|DIR",
                 "the records as JSON (RLE modes), or a new folder of PNGs + metadata.csv; with a folder or list "
                 "of images, the folder that gets <name>.json (or <name>/) per image, and failures.txt"),
        value("shard", "I/N", "with a folder or list: the images whose index (in name order) is I mod N")};
    for (const AmgKnob& k : amg_knobs()) f.push_back(value(amg_flag_name(k), k.integer ? "N" : "F", k.doc));
    for (FlagSpec s :
         {value("output-mode", "binary_mask|uncompressed_rle|coco_rle",
                "the records' segmentation format (default binary_mask)"),
          value("overlay", "OUT.png", "the image with every mask painted in its own colour"), threads_flag(),
          value("dtype", "float|double", "compute type (the generator runs the float model)")})
        f.push_back(s);
    for (auto& b : backend_flag_specs()) f.push_back(b);
    for (auto& h : hourglass_flag_specs()) f.push_back(h);
    return {"everything", "segment everything (SAM's automatic mask generator, with upstream's defaults)", f, run};
}

}  // namespace evsam::tool
