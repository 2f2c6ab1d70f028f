// evsam serve: the parts of the server that need no socket, each testable on its own
// (tests/serve/test_serve_util.cpp):
//   sha256_hex     content ids: the same pixels give the same image_id
//   base64         masks as base64 PNGs in JSON
//   LruCache       the embedding cache and the low-res results: bounded, locked, coalescing
//                  (two uploads of one image at once encode it once)
//   ComputeQueue   model work, one job at a time on one thread with every --threads thread
//   Metrics        Prometheus text: request counts by route and code, latency histograms, cache
//   parse_*        a predict request's JSON into prompt sets, an everything request's into the
//                  generator's config; every bad field a 400
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "evsam/core/error.hpp"
#include "amg_args.hpp"
#include "evsam/predictor.hpp"

namespace evsam::tool::serve {

// An error that becomes an HTTP status and {"error": message}.
struct HttpError : Error {
    int status;
    HttpError(int s, const std::string& m) : Error(m), status(s) {}
};

// ---------------------------------------------------------------- SHA-256 (FIPS 180-4)
inline std::string sha256_hex(const uint8_t* data, size_t n) {
    static const uint32_t K[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    auto rotr = [](uint32_t x, int r) { return (x >> r) | (x << (32 - r)); };
    auto block = [&](const uint8_t* p) {
        uint32_t w[64];
        for (int i = 0; i < 16; ++i)
            w[i] = uint32_t(p[4 * i]) << 24 | uint32_t(p[4 * i + 1]) << 16 | uint32_t(p[4 * i + 2]) << 8 | p[4 * i + 3];
        for (int i = 16; i < 64; ++i) {
            const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
        for (int i = 0; i < 64; ++i) {
            const uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
            const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
    };
    size_t i = 0;
    for (; i + 64 <= n; i += 64) block(data + i);
    uint8_t tail[128] = {};
    const size_t rest = n - i;
    std::copy(data + i, data + n, tail);
    tail[rest] = 0x80;
    const size_t len = rest + 9 <= 64 ? 64 : 128;
    const uint64_t bits = static_cast<uint64_t>(n) * 8;
    for (int b = 0; b < 8; ++b) tail[len - 1 - b] = static_cast<uint8_t>(bits >> (8 * b));
    block(tail);
    if (len == 128) block(tail + 64);
    char hex[65];
    for (int b = 0; b < 8; ++b) std::snprintf(hex + 8 * b, 9, "%08x", h[b]);
    return std::string(hex, 64);
}

// ---------------------------------------------------------------- base64 (RFC 4648, padded)
inline std::string base64(const uint8_t* p, size_t n) {
    static const char* A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string s;
    s.reserve((n + 2) / 3 * 4);
    for (size_t i = 0; i < n; i += 3) {
        const uint32_t v =
            uint32_t(p[i]) << 16 | (i + 1 < n ? uint32_t(p[i + 1]) << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        s += A[v >> 18 & 63];
        s += A[v >> 12 & 63];
        s += i + 1 < n ? A[v >> 6 & 63] : '=';
        s += i + 2 < n ? A[v & 63] : '=';
    }
    return s;
}

// ---------------------------------------------------------------- an LRU cache of shared values
// get_or_make(key, make): a hit moves the key to the front; a miss runs make() outside the lock,
// once, however many requests ask for the key meanwhile (they wait for that one result). Inserting
// past the capacity evicts the least recently used entry. A failed make() caches nothing.
template <class V>
class LruCache {
public:
    struct Stats {
        uint64_t hits = 0, misses = 0, evictions = 0;
        size_t size = 0;
    };
    explicit LruCache(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}

    template <class Make>
    std::shared_ptr<const V> get_or_make(const std::string& key, Make&& make, bool* hit = nullptr) {
        std::shared_future<std::shared_ptr<const V>> wait;
        std::promise<std::shared_ptr<const V>> mine;
        {
            std::lock_guard<std::mutex> lock(m_);
            if (auto v = find_locked(key)) {
                ++stats_.hits;
                if (hit) *hit = true;
                return v;
            }
            auto pend = pending_.find(key);
            if (pend != pending_.end()) {
                ++stats_.hits;  // another request is making it: this one is served from it
                wait = pend->second;
            } else {
                ++stats_.misses;
                pending_.emplace(key, mine.get_future().share());
            }
        }
        if (wait.valid()) {
            if (hit) *hit = true;
            return wait.get();  // rethrows the maker's error
        }
        if (hit) *hit = false;
        std::shared_ptr<const V> v;
        try {
            v = std::make_shared<const V>(make());
        } catch (...) {
            std::lock_guard<std::mutex> lock(m_);
            mine.set_exception(std::current_exception());
            pending_.erase(key);
            throw;
        }
        std::lock_guard<std::mutex> lock(m_);
        insert_locked(key, v);
        mine.set_value(v);
        pending_.erase(key);
        return v;
    }
    void put(const std::string& key, std::shared_ptr<const V> v) {
        std::lock_guard<std::mutex> lock(m_);
        insert_locked(key, std::move(v));
    }
    // nullptr when the key is unknown or was evicted.
    std::shared_ptr<const V> get(const std::string& key) {
        std::lock_guard<std::mutex> lock(m_);
        return find_locked(key);
    }
    Stats stats() const {
        std::lock_guard<std::mutex> lock(m_);
        Stats s = stats_;
        s.size = order_.size();
        return s;
    }
    size_t capacity() const { return capacity_; }

private:
    using Entry = std::pair<std::string, std::shared_ptr<const V>>;
    const size_t capacity_;
    mutable std::mutex m_;
    std::list<Entry> order_;  // most recently used first
    std::unordered_map<std::string, typename std::list<Entry>::iterator> index_;
    std::map<std::string, std::shared_future<std::shared_ptr<const V>>> pending_;
    Stats stats_;

    std::shared_ptr<const V> find_locked(const std::string& key) {
        auto it = index_.find(key);
        if (it == index_.end()) return nullptr;
        order_.splice(order_.begin(), order_, it->second);
        return it->second->second;
    }
    void insert_locked(const std::string& key, std::shared_ptr<const V> v) {
        auto it = index_.find(key);
        if (it != index_.end()) order_.erase(it->second);
        order_.emplace_front(key, std::move(v));
        index_[key] = order_.begin();
        while (order_.size() > capacity_) {
            index_.erase(order_.back().first);
            order_.pop_back();
            ++stats_.evictions;
        }
    }
};

// ---------------------------------------------------------------- the model's one thread
// Every piece of model work runs on one thread (the server's main thread), one job at a time, with
// all --threads OpenMP threads, first come first served. Why one: libgomp keeps a thread pool per
// thread that starts parallel regions, and once the pools together hold more threads than there
// are cores it stops spinning between regions (GOMP_SPINCOUNT_THROTTLED): a decode started from an
// HTTP worker took 20 ms instead of 14 on 2 cores. One job at a time on all threads also gives
// the lowest latency per click; the HTTP workers encode the answers meanwhile.
class ComputeQueue {
public:
    // Called from any thread: runs f on the compute thread and returns its result (or rethrows).
    // wait_s: how long the job waited for its turn.
    template <class F>
    auto run(F f, double* wait_s = nullptr) -> decltype(f()) {
        using R = decltype(f());
        const auto t0 = std::chrono::steady_clock::now();
        std::packaged_task<R()> task([&f, wait_s, t0] {
            if (wait_s) *wait_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            return f();
        });
        std::future<R> done = task.get_future();
        {
            std::lock_guard<std::mutex> lock(m_);
            if (stopped_) throw HttpError(503, "the server is shutting down");
            jobs_.push_back([&task] { task(); });
        }
        cv_.notify_one();
        return done.get();
    }
    // The compute thread's loop: returns after stop(), once the queue is empty.
    void loop() {
        for (;;) {
            std::function<void()> job;
            {
                std::unique_lock<std::mutex> lock(m_);
                cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
                if (jobs_.empty()) {
                    stopped_ = true;
                    return;
                }
                job = std::move(jobs_.front());
                jobs_.pop_front();
            }
            job();
        }
    }
    void stop() {
        {
            std::lock_guard<std::mutex> lock(m_);
            stopping_ = true;
        }
        cv_.notify_all();
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    bool stopping_ = false, stopped_ = false;
};

// ---------------------------------------------------------------- Prometheus metrics
class Metrics {
public:
    // Upper bounds of the latency histograms, in seconds.
    static constexpr std::array<double, 14> kBuckets = {0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075,
                                                        0.1,   0.2,  0.5,  1.0,  2.0,  5.0,  10.0};
    void request(const std::string& route, int status, double seconds) {
        std::lock_guard<std::mutex> lock(m_);
        ++counts_[{route, status}];
        observe_locked(latency_[route], seconds);
    }
    // A named timing (encode, decode, everything, compute wait): its own histogram.
    void time(const std::string& what, double seconds) {
        std::lock_guard<std::mutex> lock(m_);
        observe_locked(timings_[what], seconds);
    }
    // Every sample of a timing since start, for the load test's p50/p99 (kept: the last 100000).
    std::string text(uint64_t cache_hits, uint64_t cache_misses, uint64_t cache_evictions, size_t cache_images,
                     size_t cache_capacity) const {
        std::lock_guard<std::mutex> lock(m_);
        std::string t;
        t += "# HELP evsam_requests_total HTTP requests answered, by route and status code.\n";
        t += "# TYPE evsam_requests_total counter\n";
        for (auto& [k, n] : counts_)
            t += "evsam_requests_total{route=\"" + k.first + "\",code=\"" + std::to_string(k.second) + "\"} " +
                 std::to_string(n) + "\n";
        t += "# HELP evsam_request_duration_seconds Time from a request's headers read to its answer, by route.\n";
        t += "# TYPE evsam_request_duration_seconds histogram\n";
        for (auto& [route, h] : latency_) t += histogram("evsam_request_duration_seconds", "route", route, h);
        t += "# HELP evsam_stage_duration_seconds Server-side stages: encode, decode (one predict's model work),\n"
             "# everything, and compute_wait (time spent waiting for a free thread).\n";
        t += "# TYPE evsam_stage_duration_seconds histogram\n";
        for (auto& [what, h] : timings_) t += histogram("evsam_stage_duration_seconds", "stage", what, h);
        auto gauge = [&](const char* name, const char* type, const char* help, double v) {
            char num[64];
            std::snprintf(num, sizeof num, "%.17g", v);
            t += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
                 num + "\n";
        };
        gauge("evsam_cache_hits_total", "counter", "Image uploads served from the embedding cache.",
              static_cast<double>(cache_hits));
        gauge("evsam_cache_misses_total", "counter", "Image uploads that ran the encoder.",
              static_cast<double>(cache_misses));
        gauge("evsam_cache_evictions_total", "counter", "Embeddings evicted (least recently used).",
              static_cast<double>(cache_evictions));
        gauge("evsam_cache_images", "gauge", "Embeddings in the cache.", static_cast<double>(cache_images));
        gauge("evsam_cache_capacity_images", "gauge", "The cache's capacity (--cache-images).",
              static_cast<double>(cache_capacity));
        return t;
    }

private:
    struct Hist {
        std::array<uint64_t, kBuckets.size()> le{};
        uint64_t count = 0;
        double sum = 0;
    };
    mutable std::mutex m_;
    std::map<std::pair<std::string, int>, uint64_t> counts_;
    std::map<std::string, Hist> latency_, timings_;

    static void observe_locked(Hist& h, double s) {
        for (size_t i = 0; i < kBuckets.size(); ++i)
            if (s <= kBuckets[i]) ++h.le[i];
        ++h.count;
        h.sum += s;
    }
    static std::string histogram(const std::string& name, const std::string& label, const std::string& value,
                                 const Hist& h) {
        std::string t;
        char num[64];
        for (size_t i = 0; i < kBuckets.size(); ++i) {
            std::snprintf(num, sizeof num, "%g", kBuckets[i]);
            t += name + "_bucket{" + label + "=\"" + value + "\",le=\"" + num + "\"} " + std::to_string(h.le[i]) + "\n";
        }
        t += name + "_bucket{" + label + "=\"" + value + "\",le=\"+Inf\"} " + std::to_string(h.count) + "\n";
        std::snprintf(num, sizeof num, "%.9g", h.sum);
        t += name + "_sum{" + label + "=\"" + value + "\"} " + num + "\n";
        t += name + "_count{" + label + "=\"" + value + "\"} " + std::to_string(h.count) + "\n";
        return t;
    }
};

// ---------------------------------------------------------------- a predict request
struct PredictRequest {
    std::vector<Prompt<float>> prompts;  // one prompt set, or one per box (as evsam predict)
    bool multimask = true;
    std::string mask_input_id;      // a low_res_id, or empty
    int64_t mask_input_index = -1;  // which of its masks (-1: the highest predicted IoU)
};

// Bounds on one predict: points and boxes per request, and the masks' pixels at the image's size
// (B x C x H x W floats are computed: 2^26 of them is 256 MiB), so no request can take the memory.
inline constexpr size_t kMaxPoints = 64, kMaxBoxes = 16;
inline constexpr int64_t kMaxMaskPixels = int64_t(1) << 26;

// A finite number within [lo, hi], or a 400 naming the field.
inline double json_number(const nlohmann::json& v, const std::string& what, double lo, double hi) {
    if (!v.is_number()) throw HttpError(400, what + " must be a number");
    const double x = v.get<double>();
    if (!std::isfinite(x)) throw HttpError(400, what + " must be finite");
    if (x < lo || x > hi)
        throw HttpError(400, what + " = " + std::to_string(x) + " is outside [" + std::to_string(lo) + ", " +
                                 std::to_string(hi) + "]");
    return x;
}

// The request body of POST /v1/images/{id}/predict, for an image of H x W. Coordinates are image
// pixels; points and boxes may lie outside the image (as upstream allows), but not more than one
// image size beyond it: anything farther is a client bug, answered 400.
inline PredictRequest parse_predict_request(const std::string& body, int64_t H, int64_t W) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(body);
    } catch (const std::exception& e) {
        throw HttpError(400, std::string("malformed JSON: ") + e.what());
    }
    if (!j.is_object()) throw HttpError(400, "the body must be a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it)
        if (it.key() != "points" && it.key() != "boxes" && it.key() != "mask_input" && it.key() != "multimask" &&
            it.key() != "mask_input_index")
            throw HttpError(
                400, "unknown field '" + it.key() + "' (points, boxes, mask_input, mask_input_index, multimask)");
    const double xlo = -static_cast<double>(W), xhi = 2.0 * static_cast<double>(W);
    const double ylo = -static_cast<double>(H), yhi = 2.0 * static_cast<double>(H);
    PredictRequest r;
    Prompt<float> p;
    if (j.contains("points")) {
        const auto& pts = j["points"];
        if (!pts.is_array()) throw HttpError(400, "points must be an array of [x, y, label]");
        if (pts.size() > kMaxPoints) throw HttpError(400, "at most " + std::to_string(kMaxPoints) + " points");
        for (size_t i = 0; i < pts.size(); ++i) {
            const std::string w = "points[" + std::to_string(i) + "]";
            if (!pts[i].is_array() || (pts[i].size() != 3 && pts[i].size() != 2))
                throw HttpError(400, w + " must be [x, y, label]");
            const double x = json_number(pts[i][0], w + " x", xlo, xhi), y = json_number(pts[i][1], w + " y", ylo, yhi);
            const double label = pts[i].size() == 3 ? json_number(pts[i][2], w + " label", 0, 1) : 1.0;
            if (label != 0.0 && label != 1.0)
                throw HttpError(400, w + " label must be 1 (foreground) or 0 (background)");
            p.points.push_back({x, y});
            p.labels.push_back(static_cast<int>(label));
        }
    }
    std::vector<std::array<double, 4>> boxes;
    if (j.contains("boxes")) {
        const auto& bs = j["boxes"];
        if (!bs.is_array()) throw HttpError(400, "boxes must be an array of [x0, y0, x1, y1]");
        if (bs.size() > kMaxBoxes) throw HttpError(400, "at most " + std::to_string(kMaxBoxes) + " boxes");
        for (size_t i = 0; i < bs.size(); ++i) {
            const std::string w = "boxes[" + std::to_string(i) + "]";
            if (!bs[i].is_array() || bs[i].size() != 4) throw HttpError(400, w + " must be [x0, y0, x1, y1]");
            std::array<double, 4> b{
                json_number(bs[i][0], w + " x0", xlo, xhi), json_number(bs[i][1], w + " y0", ylo, yhi),
                json_number(bs[i][2], w + " x1", xlo, xhi), json_number(bs[i][3], w + " y1", ylo, yhi)};
            if (b[2] < b[0] || b[3] < b[1]) throw HttpError(400, w + " must have x1 >= x0 and y1 >= y0");
            boxes.push_back(b);
        }
    }
    if (j.contains("multimask")) {
        if (!j["multimask"].is_boolean()) throw HttpError(400, "multimask must be true or false");
        r.multimask = j["multimask"].get<bool>();
    }
    if (j.contains("mask_input") && !j["mask_input"].is_null()) {
        if (!j["mask_input"].is_string()) throw HttpError(400, "mask_input must be a low_res_id string");
        r.mask_input_id = j["mask_input"].get<std::string>();
        if (boxes.size() > 1)
            throw HttpError(400, "mask_input takes one prompt set, not " + std::to_string(boxes.size()) + " boxes");
    }
    if (j.contains("mask_input_index")) {
        if (r.mask_input_id.empty()) throw HttpError(400, "mask_input_index needs mask_input");
        r.mask_input_index = static_cast<int64_t>(json_number(j["mask_input_index"], "mask_input_index", 0, 1e6));
    }
    if (p.points.empty() && boxes.empty() && r.mask_input_id.empty())
        throw HttpError(400, "give at least one of points, boxes or mask_input");
    r.prompts.assign(std::max<size_t>(1, boxes.size()), p);
    for (size_t b = 0; b < boxes.size(); ++b) r.prompts[b].box = boxes[b];
    const int64_t masks = static_cast<int64_t>(r.prompts.size()) * (r.multimask ? 3 : 1);
    if (masks * H * W > kMaxMaskPixels)
        throw HttpError(400, std::to_string(masks) + " masks of " + std::to_string(W) + "x" + std::to_string(H) +
                                 " pixels is more than the server computes at once (" + std::to_string(kMaxMaskPixels) +
                                 " mask pixels): send fewer boxes, or multimask false");
    return r;
}

// ---------------------------------------------------------------- an everything request
struct EverythingRequest {
    AmgConfig cfg;
    bool coco_rle = true;  // output_mode: coco_rle (the default) or uncompressed_rle
};

// Points the generator may decode for one request, over every crop: a 64 x 64 grid on the whole
// image, or 32 x 32 with one crop layer (5120), but not 64 x 64 with crop layers.
inline constexpr int64_t kMaxEverythingPoints = 16384;

// The body of POST /v1/images/{id}/everything: the generator's knobs by their snake_case names
// (amg_knobs(), the ranges of `evsam everything`'s flags) and output_mode; empty means defaults.
inline EverythingRequest parse_everything_request(const std::string& body) {
    nlohmann::json j = nlohmann::json::object();
    if (!body.empty()) {
        try {
            j = nlohmann::json::parse(body);
        } catch (const std::exception& e) {
            throw HttpError(400, std::string("malformed JSON: ") + e.what());
        }
    }
    if (!j.is_object()) throw HttpError(400, "the body must be a JSON object of generator knobs");
    EverythingRequest r;
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key() == "output_mode") {
            if (!it.value().is_string() ||
                (it.value().get<std::string>() != "coco_rle" && it.value().get<std::string>() != "uncompressed_rle"))
                throw HttpError(400, "output_mode must be coco_rle or uncompressed_rle");
            r.coco_rle = it.value().get<std::string>() == "coco_rle";
            continue;
        }
        const AmgKnob* knob = nullptr;
        for (const AmgKnob& k : amg_knobs())
            if (it.key() == k.name) knob = &k;
        if (!knob) throw HttpError(400, "unknown field '" + it.key().substr(0, 64) + "'");
        if (knob->integer) {  // within +-1e15, so the double converts exactly
            const double v = json_number(it.value(), it.key(), static_cast<double>(knob->ilo),
                                         std::min(static_cast<double>(knob->ihi), 1e15));
            if (v != std::floor(v)) throw HttpError(400, it.key() + " must be an integer");
            knob->whole(r.cfg) = static_cast<int64_t>(v);
        } else {
            knob->real(r.cfg) = json_number(it.value(), it.key(), knob->lo, knob->hi);
        }
    }
    // bounded work per request: the grid points over every crop (crop layer l: 4^l crops of
    // (points_per_side / factor^l)^2 points)
    if (r.cfg.points_per_side > 64) throw HttpError(400, "points_per_side is at most 64 on the server");
    if (r.cfg.crop_n_layers > 2) throw HttpError(400, "crop_n_layers is at most 2 on the server");
    int64_t points = 0, crops = 1, f = 1;
    for (int64_t l = 0; l <= r.cfg.crop_n_layers; ++l, crops *= 4, f *= r.cfg.crop_n_points_downscale_factor) {
        const int64_t side = r.cfg.points_per_side / f;
        points += crops * side * side;
    }
    if (points > kMaxEverythingPoints)
        throw HttpError(400, "the grids hold " + std::to_string(points) + " points over all crops, more than " +
                                 std::to_string(kMaxEverythingPoints) + " on the server");
    return r;
}

}  // namespace evsam::tool::serve
