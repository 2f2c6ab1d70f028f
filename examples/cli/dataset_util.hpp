// evsam tool: what the dataset commands share (eval-cls, eval-seg, eval-sam, everything over a
// folder): listing a folder, --shard I/N, the progress bar, JSON files written atomically.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "args.hpp"
#include "evsam/core/error.hpp"
#include "evsam/core/file_io.hpp"

namespace evsam::tool {

namespace fs = std::filesystem;

// Every regular file under dir (following directory links, as os.walk(followlinks=True)), sorted.
inline std::vector<std::string> walk(const fs::path& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec), end;
         !ec && it != end; it.increment(ec))
        if (it->is_regular_file(ec)) out.push_back(it->path().string());
    if (ec) throw Error(dir.string() + ": cannot list: " + ec.message());
    std::sort(out.begin(), out.end());
    return out;
}

// --shard I/N (default 0/1).
inline std::pair<int64_t, int64_t> parse_shard(const Args& a) {
    if (!a.has("shard")) return {0, 1};
    const std::string s = a.str("shard");
    const size_t slash = s.find('/');
    long long i = -1, n = -1;
    char tail = 0;
    if (slash == std::string::npos || std::sscanf(s.c_str(), "%lld/%lld%c", &i, &n, &tail) != 2 || n < 1 || i < 0 ||
        i >= n)
        throw Error("--shard expects I/N with 0 <= I < N, got '" + s + "'");
    return {i, n};
}

// The progress bar: "[=====>    ] 123/5000  4.1 it/s  ETA 00:19:51  <status>".
struct Progress {
    int64_t total;
    std::string what;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    bool tty = ::isatty(2);
    int64_t last_decile = -1;
    void update(int64_t done, const std::string& status) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double rate = s > 0 ? done / s : 0;
        const int64_t eta = rate > 0 ? static_cast<int64_t>((total - done) / rate) : 0;
        const int64_t decile = total ? done * 10 / total : 10;
        if (!tty && decile == last_decile && done != total) return;
        last_decile = decile;
        const int width = 30, fill = static_cast<int>(total ? done * width / total : width);
        char line[256];
        std::snprintf(line, sizeof line, "%s [%s%s%s] %lld/%lld %5.2f it/s ETA %02lld:%02lld:%02lld %s", what.c_str(),
                      std::string(static_cast<size_t>(fill), '=').c_str(), fill < width ? ">" : "",
                      std::string(static_cast<size_t>(std::max(0, width - fill - 1)), ' ').c_str(),
                      static_cast<long long>(done), static_cast<long long>(total), rate,
                      static_cast<long long>(eta / 3600), static_cast<long long>(eta / 60 % 60),
                      static_cast<long long>(eta % 60), status.c_str());
        std::cerr << (tty ? "\r" : "") << line << (tty && done != total ? "" : "\n") << std::flush;
    }
};

inline void write_json_atomic(const std::string& path, const nlohmann::ordered_json& j) {
    const std::string text = j.dump(1) + "\n";
    write_file_atomic(path, text.data(), text.size());
}

inline nlohmann::json read_json_file(const std::string& path) {
    auto bytes = read_file(path);
    auto j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (j.is_discarded()) throw Error(path + ": not valid JSON");
    return j;
}

}  // namespace evsam::tool
