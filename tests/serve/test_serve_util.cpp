// evsam serve's socket-free parts (examples/cli/serve_util.hpp): SHA-256 and base64 against their
// standards' test vectors, the LRU cache (order, counts, one make per key
// under concurrent misses, failures not cached), the compute queue (every job on the loop's thread,
// first come first served, errors passed back), the metrics text and the predict request parser.
// .ci/sanitize.sh also runs this file under TSan.
#include <gtest/gtest.h>

#include <thread>

#include "serve_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_serve_util {

namespace {

namespace serve = evsam::tool::serve;

std::string sha(const std::string& s) {
    return serve::sha256_hex(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
std::string b64(const std::string& s) { return serve::base64(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

TEST(ServeUtil, Sha256MatchesFips180Vectors) {
    EXPECT_EQ(sha(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),  // 56 bytes: a second padding block
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(sha(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    EXPECT_EQ(sha(std::string(64, 'x')),  // 64 bytes: padding alone in the second block (Python hashlib)
              "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c");
}

TEST(ServeUtil, Base64MatchesRfc4648Vectors) {
    const std::pair<const char*, const char*> v[] = {{"", ""},
                                                     {"f", "Zg=="},
                                                     {"fo", "Zm8="},
                                                     {"foo", "Zm9v"},
                                                     {"foob", "Zm9vYg=="},
                                                     {"fooba", "Zm9vYmE="},
                                                     {"foobar", "Zm9vYmFy"}};
    for (auto& [in, out] : v) EXPECT_EQ(b64(in), out) << in;
    EXPECT_EQ(b64(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(ServeUtil, LruEvictsTheLeastRecentlyUsedAndCounts) {
    serve::LruCache<int> c(2);
    int made = 0;
    auto make = [&](int v) { return [&made, v] { return ++made, v; }; };
    bool hit = true;
    EXPECT_EQ(*c.get_or_make("a", make(1), &hit), 1);
    EXPECT_FALSE(hit);
    EXPECT_EQ(*c.get_or_make("b", make(2)), 2);
    EXPECT_EQ(*c.get_or_make("a", make(99), &hit), 1);  // a hit moves a to the front
    EXPECT_TRUE(hit);
    EXPECT_EQ(*c.get_or_make("c", make(3)), 3);  // evicts b
    EXPECT_EQ(c.get("b"), nullptr);
    EXPECT_NE(c.get("a"), nullptr);
    EXPECT_EQ(made, 3);
    const auto s = c.stats();
    EXPECT_EQ(s.hits, 1u);
    EXPECT_EQ(s.misses, 3u);
    EXPECT_EQ(s.evictions, 1u);
    EXPECT_EQ(s.size, 2u);
    // a failing make caches nothing and throws to its caller
    EXPECT_THROW(c.get_or_make("d", []() -> int { throw evsam::Error("no"); }), evsam::Error);
    EXPECT_EQ(c.get("d"), nullptr);
    EXPECT_EQ(*c.get_or_make("d", make(4)), 4);
}

TEST(ServeUtil, LruMakesOnceUnderConcurrentMisses) {
    serve::LruCache<int> c(4);
    std::atomic<int> made{0};
    std::vector<std::thread> ts;
    std::vector<int> got(8, 0);
    for (int t = 0; t < 8; ++t)
        ts.emplace_back([&, t] {
            got[static_cast<size_t>(t)] = *c.get_or_make("k", [&] {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                return ++made * 7;
            });
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(made.load(), 1);
    for (int g : got) EXPECT_EQ(g, 7);
    EXPECT_EQ(c.stats().misses, 1u);
    EXPECT_EQ(c.stats().hits, 7u);
    // concurrent waiters on a failing make all get its error, and nothing is cached
    std::atomic<int> errors{0};
    ts.clear();
    for (int t = 0; t < 4; ++t)
        ts.emplace_back([&] {
            try {
                c.get_or_make("bad", []() -> int {
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                    throw evsam::Error("decode failed");
                });
            } catch (const evsam::Error&) {
                ++errors;
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(errors.load(), 4);
    EXPECT_EQ(c.get("bad"), nullptr);
}

TEST(ServeUtil, ComputeQueueRunsEveryJobOnItsThreadInOrder) {
    serve::ComputeQueue q;
    std::thread::id loop_id;
    std::thread loop([&] {
        loop_id = std::this_thread::get_id();
        q.loop();
    });
    std::vector<std::thread> ts;
    std::atomic<int> wrong_thread{0}, sum{0};
    for (int t = 0; t < 8; ++t)
        ts.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                double wait = -1;
                const int r = q.run(
                    [&] {
                        if (std::this_thread::get_id() != loop_id) ++wrong_thread;
                        return t * 1000 + i;
                    },
                    &wait);
                sum += r;
                EXPECT_GE(wait, 0);
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(wrong_thread.load(), 0);
    int want = 0;
    for (int t = 0; t < 8; ++t)
        for (int i = 0; i < 50; ++i) want += t * 1000 + i;
    EXPECT_EQ(sum.load(), want);
    // first come, first served: jobs queued while one runs start in the order they came
    std::vector<int> order;
    std::mutex m;
    std::thread blocker([&] { q.run([] { return std::this_thread::sleep_for(std::chrono::milliseconds(200)), 0; }); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::vector<std::thread> late;
    for (int k = 0; k < 5; ++k) {
        late.emplace_back([&, k] {
            q.run([&, k] {
                std::lock_guard<std::mutex> lock(m);
                return order.push_back(k), 0;
            });
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    blocker.join();
    for (auto& t : late) t.join();
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
    // an error comes back to the caller; the loop goes on
    EXPECT_THROW(q.run([]() -> int { throw evsam::Error("bad"); }), evsam::Error);
    EXPECT_EQ(q.run([] { return 5; }), 5);
    q.stop();
    loop.join();
    try {
        q.run([] { return 1; });
        ADD_FAILURE() << "a stopped queue ran a job";
    } catch (const serve::HttpError& e) {
        EXPECT_EQ(e.status, 503);
    }
}

TEST(ServeUtil, MetricsTextIsPrometheusWithCumulativeBuckets) {
    serve::Metrics m;
    m.request("/v1/images", 200, 0.004);
    m.request("/v1/images", 200, 0.3);
    m.request("/v1/images", 413, 0.001);
    m.time("decode", 0.015);
    const std::string t = m.text(3, 2, 1, 2, 8);
    EXPECT_NE(t.find("evsam_requests_total{route=\"/v1/images\",code=\"200\"} 2\n"), std::string::npos) << t;
    EXPECT_NE(t.find("evsam_requests_total{route=\"/v1/images\",code=\"413\"} 1\n"), std::string::npos);
    EXPECT_NE(t.find("evsam_request_duration_seconds_bucket{route=\"/v1/images\",le=\"0.005\"} 2\n"),
              std::string::npos);
    EXPECT_NE(t.find("evsam_request_duration_seconds_bucket{route=\"/v1/images\",le=\"0.2\"} 2\n"), std::string::npos);
    EXPECT_NE(t.find("evsam_request_duration_seconds_bucket{route=\"/v1/images\",le=\"0.5\"} 3\n"), std::string::npos);
    EXPECT_NE(t.find("evsam_request_duration_seconds_bucket{route=\"/v1/images\",le=\"+Inf\"} 3\n"), std::string::npos);
    EXPECT_NE(t.find("evsam_request_duration_seconds_count{route=\"/v1/images\"} 3\n"), std::string::npos);
    EXPECT_NE(t.find("evsam_stage_duration_seconds_bucket{stage=\"decode\",le=\"0.02\"} 1\n"), std::string::npos);
    EXPECT_NE(t.find("evsam_stage_duration_seconds_bucket{stage=\"decode\",le=\"0.01\"} 0\n"), std::string::npos);
    EXPECT_NE(t.find("\nevsam_cache_hits_total 3\n"), std::string::npos);
    EXPECT_NE(t.find("\nevsam_cache_evictions_total 1\n"), std::string::npos);
    EXPECT_NE(t.find("# TYPE evsam_cache_images gauge\n"), std::string::npos);
}

TEST(ServeUtil, PredictRequestsParseAsTheCliDoes) {
    // several boxes: one prompt set each, every point in each (as evsam predict with several --box)
    auto r = serve::parse_predict_request(R"({"points": [[1, 2], [3, 4, 0]], "boxes": [[0, 0, 5, 5], [1, 1, 9, 9]]})",
                                          45, 61);
    ASSERT_EQ(r.prompts.size(), 2u);
    for (const auto& p : r.prompts) {
        EXPECT_EQ(p.points.size(), 2u);
        EXPECT_EQ(p.labels, (std::vector<int>{1, 0}));
    }
    EXPECT_EQ(*r.prompts[1].box, (std::array<double, 4>{1, 1, 9, 9}));
    EXPECT_TRUE(r.multimask);
    // the masks' pixels are bounded: 16 boxes x 3 masks of 1400 x 1000 is over 2^26, with one mask each it is not
    EXPECT_NO_THROW(serve::parse_predict_request(
        nlohmann::json{{"boxes", std::vector<std::vector<int>>(16, {1, 2, 3, 4})}, {"multimask", false}}.dump(), 1000,
        1400));
    try {
        serve::parse_predict_request(nlohmann::json{{"boxes", std::vector<std::vector<int>>(16, {1, 2, 3, 4})}}.dump(),
                                     1000, 1400);
        ADD_FAILURE() << "48 masks of 1400 x 1000 accepted";
    } catch (const serve::HttpError& e) {
        EXPECT_NE(std::string(e.what()).find("48 masks of 1400x1000"), std::string::npos) << e.what();
    }
    // the edges of the allowed range: one image size beyond each side
    EXPECT_NO_THROW(serve::parse_predict_request(R"({"points": [[-61, -45], [122, 90]]})", 45, 61));
    for (const char* bad :
         {R"({"points": [[-61.01, 0]]})", R"({"points": [[0, 90.5]]})", R"({"boxes": [[0, 0, 123, 5]]})",
          R"({"multimask": 1, "points": [[1, 1]]})", R"({"mask_input_index": 1, "points": [[1, 1]]})",
          R"({"mask_input": "x", "boxes": [[0, 0, 1, 1], [0, 0, 2, 2]]})"}) {
        try {
            serve::parse_predict_request(bad, 45, 61);
            ADD_FAILURE() << "accepted " << bad;
        } catch (const serve::HttpError& e) {
            EXPECT_EQ(e.status, 400) << bad;
        }
    }
}

}  // namespace

}  // namespace test_serve_util
