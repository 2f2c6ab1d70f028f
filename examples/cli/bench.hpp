// evsam tool: what `evsam bench` measures (wall-clock medians over repeated runs).
//
//   encoder_s   : preprocessed (1,3,R,R) input -> (1,256,64,64) image embedding
//   decoder_s   : one foreground point at the image centre, multimask -> 3 masks at the original
//                 size (prompt encoder, mask decoder, upscaling and postprocessing; the embedding
//                 is already set)
//   amg_s       : segment everything with upstream's defaults (32x32 grid, batches of 64),
//                 image in -> records out, encoder included
//   peak_rss_mb : the process's peak resident set size (VmHWM), after everything above
//   profile     : (--profile) each encoder module's own time (ModuleTimer: from the end of the
//                 module before it to its end), median over `repeat` more encoder runs
#pragma once
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <vector>

#include "evsam/amg.hpp"
#include "evsam/predictor.hpp"

namespace evsam::tool {

struct BenchResult {
    double encoder_s = 0, decoder_s = 0, amg_s = -1;  // amg_s < 0: not measured
    int64_t amg_masks = 0;
    double peak_rss_mb = 0;
    std::vector<std::pair<std::string, double>> profile;  // (module, seconds), in the order they end
};

inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

template <class F>
double time_once(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Each module's own time over `repeat` runs of forward(), under a ModuleTimer: the median per module,
// the modules in the order they end (the same in every run).
template <class F>
std::vector<std::pair<std::string, double>> profile_modules(F&& forward, int repeat) {
    std::vector<std::vector<std::pair<std::string, double>>> runs;
    for (int i = 0; i < repeat; ++i) {
        ModuleTimer timer;
        forward();
        runs.push_back(timer.spans());
    }
    std::vector<std::pair<std::string, double>> out;
    for (size_t k = 0; !runs.empty() && k < runs.front().size(); ++k) {
        std::vector<double> v;
        for (const auto& r : runs)
            if (k < r.size() && r[k].first == runs.front()[k].first) v.push_back(r[k].second);
        out.emplace_back(runs.front()[k].first, median(v));
    }
    return out;
}

// The profile as text: one line per module, its milliseconds and share of the spans' sum.
inline void print_profile(const std::vector<std::pair<std::string, double>>& profile, int repeat) {
    double sum = 0;
    for (const auto& [name, s] : profile) sum += s;
    std::printf(
        "profile     each module's own time, median of %d runs (ms, %% of %.2f ms); a fused pair's "
        "inner modules are in it\n",
        repeat, sum * 1e3);
    for (const auto& [name, s] : profile)
        std::printf("  %9.3f %5.1f %%  %s\n", s * 1e3, sum > 0 ? 100 * s / sum : 0.0, name.c_str());
}

// VmHWM, the peak RSS of this process image (ru_maxrss would include the parent's peak from
// before exec on Linux); ru_maxrss where /proc is not there.
inline double peak_rss_mb() {
    if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
        char line[256];
        long kb = -1;
        while (std::fgets(line, sizeof line, f))
            if (std::sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
        std::fclose(f);
        if (kb >= 0) return static_cast<double>(kb) / 1024.0;
    }
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

// A deterministic 640x480 test card (smooth gradients and a few flat shapes), for runs without --image.
inline Image bench_test_image(int64_t H = 480, int64_t W = 640) {
    Image img;
    img.height = H;
    img.width = W;
    img.data.resize(static_cast<size_t>(H * W * 3));
    for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
            uint8_t* p = img.data.data() + (y * W + x) * 3;
            const bool disc = (x - W / 3) * (x - W / 3) + (y - H / 2) * (y - H / 2) < (H / 5) * (H / 5);
            const bool rect = x > 2 * W / 3 && x < 2 * W / 3 + W / 5 && y > H / 4 && y < 3 * H / 4;
            p[0] = disc ? 220 : rect ? 30 : static_cast<uint8_t>(255 * x / W);
            p[1] = disc ? 40 : rect ? 200 : static_cast<uint8_t>(255 * y / H);
            p[2] = disc ? 60 : rect ? 90 : 128;
        }
    return img;
}

// One warm-up run of each part, then `repeat` timed runs; medians.
template <class T>
BenchResult run_bench(const SamBase<T, backend::cpu>& model, const Image& img, int repeat, bool amg,
                      bool profile = false) {
    BenchResult r;
    Tensor<T> x = preprocess_image<T>(img.data.data(), img.height, img.width, model.transform);
    std::vector<double> t;
    model.encode(x);
    for (int i = 0; i < repeat; ++i) t.push_back(time_once([&] { model.encode(x); }));
    r.encoder_s = median(t);
    if (profile) r.profile = profile_modules([&] { model.encode(x); }, repeat);

    Predictor<T> predictor(model);
    predictor.set_image(img);
    Prompt<T> prompt;
    prompt.points = {{static_cast<double>(img.width) / 2, static_cast<double>(img.height) / 2}};
    prompt.labels = {1};
    predictor.predict(prompt, /*multimask_output=*/true);
    t.clear();
    for (int i = 0; i < repeat; ++i) t.push_back(time_once([&] { predictor.predict(prompt, true); }));
    r.decoder_s = median(t);

    if (amg) {
        AutomaticMaskGenerator<T> gen(model, AmgConfig{});
        t.clear();
        for (int i = 0; i < repeat; ++i)
            t.push_back(time_once([&] { r.amg_masks = static_cast<int64_t>(gen.generate(img).size()); }));
        r.amg_s = median(t);
    }
    r.peak_rss_mb = peak_rss_mb();
    return r;
}

}  // namespace evsam::tool
