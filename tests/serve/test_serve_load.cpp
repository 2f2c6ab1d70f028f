// 16 concurrent clients against one evsam serve (tiny model): every answer identical to the one a
// single client got for the same prompt, no errors; p50/p99 latency and requests/s printed (the
// latency targets are measured on a real model by bench/bench_serve.cpp, not asserted here).
#include <gtest/gtest.h>

#include "serve_load.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_serve_load {

namespace {

TEST(ServeLoad, SixteenClientsGetTheSequentialAnswers) {
    evsam_test::ServeProcess srv;
    auto c = srv.client();
    const auto up =
        evsam_test::upload(c, evsam_test::read_bytes(std::string(EVSAM_SOURCE_DIR) + "/examples/data/chelsea.png"));
    const auto prompts = evsam_test::load_prompts(up["width"], up["height"]);
    const evsam_test::LoadStats st = evsam_test::run_load(srv, up["image_id"], prompts, 16, 12);
    std::printf("serve load (tiny model, 16 clients): %s\n", st.summary().c_str());
    EXPECT_EQ(st.requests, 16 * 12);
    EXPECT_EQ(st.errors, 0) << st.first_problem;
    EXPECT_EQ(st.mismatches, 0) << st.first_problem;
    // the server counted them all, and is still up (its logger counts a request just after the answer
    // is sent, so the last one may take a moment to show)
    const std::string want = "evsam_requests_total{route=\"/v1/images/{id}/predict\",code=\"200\"} " +
                             std::to_string(16 * 12 + prompts.size()) + "\n";
    bool counted = false;
    for (int i = 0; i < 100 && !counted; ++i) {
        counted = c.Get("/metrics")->body.find(want) != std::string::npos;
        if (!counted) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(counted) << "the metrics never showed " << want;
    EXPECT_EQ(srv.stop(), 0);
}

}  // namespace

}  // namespace test_serve_load
