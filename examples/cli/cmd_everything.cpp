// evsam everything: SamAutomaticMaskGenerator with every knob; records as JSON, or (binary_mask)
// a folder with one PNG per mask and metadata.csv, as upstream's scripts/amg.py writes them.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "evsam/amg.hpp"
#include "evsam/core/file_io.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/nn/state_dict.hpp"
#include "evsam/viz.hpp"
#include "amg_args.hpp"
#include "model_args.hpp"

namespace evsam::tool {

namespace {

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
    const std::string out = a.str("out");
    if (mode != "binary_mask") detail::check_write_target(out);
    if (a.has("overlay")) detail::check_write_target(a.str("overlay"));
    if (mode == "binary_mask") {  // a new folder: refuse to mix with an existing one
        struct stat st {};
        if (::stat(out.c_str(), &st) == 0) throw Error("everything: --out folder '" + out + "' already exists");
        detail::check_write_target(out);
    }
    Image img = load_image(a.str("image"));
    auto lc = open_checkpoint(a.str("weights"), a.str("model"), a.str("config"));
    apply_hourglass_flags(a, lc, "everything");
    auto model = create_sam<float, backend::cpu>(lc.cfg);
    load_state_dict(*model, lc.ckpt, lc.model);
    AutomaticMaskGenerator<float> gen(*model, cfg);
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
            std::filesystem::rename(tmp, out);
        } catch (...) {
            std::filesystem::remove_all(tmp, ec);
            throw;
        }
    } else {
        const nlohmann::ordered_json arr = amg_records_json(recs, mode == "coco_rle");
        const std::string text = arr.dump() + "\n";
        write_file_atomic(out, text.data(), text.size());
    }
    if (a.has("overlay")) save_png(a.str("overlay"), viz::overlay(img, recs));
    std::fprintf(stderr, "evsam: %zu masks\n", recs.size());
    return 0;
}

}  // namespace

Command everything_command() {
    std::vector<FlagSpec> f = {
        weights_flag(), model_flag(), config_flag(), required("image", "IMG", "image: PNG, JPEG or BMP"),
        required("out", "RECORDS.json|DIR", "the records as JSON (RLE modes), or a new folder of PNGs + metadata.csv")};
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
