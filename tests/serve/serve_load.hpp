// The load run shared by tests/serve/test_serve_load.cpp (tiny model: correctness under 16 clients)
// and bench/bench_serve.cpp (a real model: the latency targets). Every answer is compared with the
// answer one client got for the same prompt, before the load: masks and IoUs must be identical.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "serve_fixture.hpp"

namespace evsam_test {

struct LoadStats {
    int64_t requests = 0, errors = 0, mismatches = 0;
    double seconds = 0;
    std::vector<double> client_ms, server_ms, decode_ms;  // per request
    std::string first_problem;
    double requests_per_s() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
    static double pct(std::vector<double> v, double p) {
        if (v.empty()) return 0;
        std::sort(v.begin(), v.end());
        const size_t i = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()))) - 1;
        return v[std::min(i, v.size() - 1)];
    }
    std::string summary() const {
        char buf[512];
        std::snprintf(buf, sizeof buf,
                      "%lld requests, %lld errors, %lld wrong; %.1f requests/s; client p50 %.1f ms p99 %.1f ms; "
                      "server p50 %.1f ms p99 %.1f ms; decode p50 %.1f ms p99 %.1f ms",
                      static_cast<long long>(requests), static_cast<long long>(errors),
                      static_cast<long long>(mismatches), requests_per_s(), pct(client_ms, 50), pct(client_ms, 99),
                      pct(server_ms, 50), pct(server_ms, 99), pct(decode_ms, 50), pct(decode_ms, 99));
        return buf;
    }
};

// Prompts (request bodies) spread over an image of W x H.
inline std::vector<std::string> load_prompts(int64_t W, int64_t H) {
    auto X = [&](double f) { return std::to_string(f * static_cast<double>(W)); };
    auto Y = [&](double f) { return std::to_string(f * static_cast<double>(H)); };
    return {
        "{\"points\": [[" + X(0.5) + ", " + Y(0.5) + ", 1]]}",
        "{\"points\": [[" + X(0.2) + ", " + Y(0.3) + ", 1], [" + X(0.7) + ", " + Y(0.6) + ", 0]]}",
        "{\"boxes\": [[" + X(0.1) + ", " + Y(0.1) + ", " + X(0.6) + ", " + Y(0.8) + "]]}",
        "{\"points\": [[" + X(0.4) + ", " + Y(0.4) + ", 1]], \"boxes\": [[" + X(0.2) + ", " + Y(0.2) + ", " + X(0.9) +
            ", " + Y(0.9) + "]], \"multimask\": false}",
        "{\"points\": [[" + X(0.8) + ", " + Y(0.2) + ", 1]], \"multimask\": false}",
        "{\"points\": [[" + X(0.3) + ", " + Y(0.7) + ", 1], [" + X(0.35) + ", " + Y(0.75) + ", 1], [" + X(0.9) + ", " +
            Y(0.1) + ", 0]]}",
    };
}

// The part of an answer that must not depend on the load: masks and IoUs.
inline std::string answer_key(const nlohmann::json& a) { return a["masks"].dump() + a["iou_predictions"].dump(); }

// `clients` threads, each with its own keep-alive connection, send `per_client` predicts for
// image_id, cycling through the prompts from a different start.
inline LoadStats run_load(const ServeProcess& srv, const std::string& image_id, const std::vector<std::string>& prompts,
                          int clients, int per_client) {
    const std::string path = "/v1/images/" + image_id + "/predict";
    std::vector<std::string> reference;
    {
        auto c = srv.client();
        for (const auto& p : prompts) {
            auto r = c.Post(path, p, "application/json");
            if (!r || r->status != 200) throw std::runtime_error("reference answer failed for " + p);
            reference.push_back(answer_key(nlohmann::json::parse(r->body)));
        }
    }
    LoadStats st;
    std::mutex m;
    std::vector<std::thread> threads;
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < clients; ++t)
        threads.emplace_back([&, t] {
            auto c = srv.client();
            c.set_keep_alive(true);
            for (int i = 0; i < per_client; ++i) {
                const size_t k = static_cast<size_t>(t + i) % prompts.size();
                const auto s0 = std::chrono::steady_clock::now();
                auto r = c.Post(path, prompts[k], "application/json");
                const double ms =
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s0).count();
                std::lock_guard<std::mutex> lock(m);
                ++st.requests;
                if (!r || r->status != 200) {
                    ++st.errors;
                    if (st.first_problem.empty())
                        st.first_problem = r ? r->body : "no answer: " + httplib::to_string(r.error());
                    continue;
                }
                const auto a = nlohmann::json::parse(r->body);
                if (answer_key(a) != reference[k]) {
                    ++st.mismatches;
                    if (st.first_problem.empty()) st.first_problem = "a different answer for " + prompts[k];
                }
                st.client_ms.push_back(ms);
                st.server_ms.push_back(a["server_ms"].get<double>());
                st.decode_ms.push_back(a["decode_ms"].get<double>());
            }
        });
    for (auto& th : threads) th.join();
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return st;
}

}  // namespace evsam_test
