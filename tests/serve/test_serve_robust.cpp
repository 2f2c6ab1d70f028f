// evsam serve under bad clients: every bad input gets a JSON 4xx naming the problem and the server
// keeps serving; a client that stalls is cut off by the read timeout; SIGINT/SIGTERM finish the
// request in flight and exit 0.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <future>

#include "serve_fixture.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_serve_robust {

namespace {

using evsam_test::kSmallImage;
using evsam_test::read_bytes;
using evsam_test::ServeProcess;
using Json = nlohmann::json;

// A PNG whose IHDR declares width x height (the rest is the small image's).
std::string png_declaring(uint32_t width, uint32_t height) {
    std::string png = read_bytes(kSmallImage);
    for (int i = 0; i < 4; ++i) {
        png[16 + i] = static_cast<char>(width >> (24 - 8 * i));
        png[20 + i] = static_cast<char>(height >> (24 - 8 * i));
    }
    return png;  // the IHDR CRC no longer matches: the size check must come first
}

TEST(ServeRobust, BadInputsAre4xxAndTheServerKeepsServing) {
    ServeProcess srv({"--max-upload-mb", "1", "--max-pixels", "100000"});
    auto c = srv.client();
    const std::string id = evsam_test::upload(c, read_bytes(kSmallImage))["image_id"];
    const std::string predict = "/v1/images/" + id + "/predict";
    const std::string png = read_bytes(kSmallImage);
    struct Case {
        std::string what, method, path, body, type;
        int status;
        std::string says;  // a piece of the error message
    };
    const std::vector<Case> cases = {
        {"not an image", "POST", "/v1/images", "hello, this is text", "application/octet-stream", 415, "not an image"},
        {"empty upload", "POST", "/v1/images", "", "application/octet-stream", 400, "empty body"},
        {"truncated PNG", "POST", "/v1/images", png.substr(0, png.size() / 2), "image/png", 400, "upload"},
        {"PNG header only", "POST", "/v1/images", png.substr(0, 40), "image/png", 400, "upload"},
        {"too many bytes", "POST", "/v1/images", std::string(2 << 20, 'x'), "application/octet-stream", 413,
         "over --max-upload-mb"},
        {"too many declared pixels", "POST", "/v1/images", png_declaring(20000, 20000), "image/png", 413,
         "more than --max-pixels"},
        {"declared pixels past any limit", "POST", "/v1/images", png_declaring(0x7fffffff, 0x7fffffff), "image/png",
         413, "more than --max-pixels"},
        {"malformed JSON", "POST", predict, "{\"points\": [[1, 2]", "application/json", 400, "malformed JSON"},
        {"JSON not an object", "POST", predict, "[1, 2]", "application/json", 400, "JSON object"},
        {"NaN", "POST", predict, "{\"points\": [[NaN, 2]]}", "application/json", 400, "malformed JSON"},
        {"overflowing number", "POST", predict, "{\"points\": [[1e999, 2]]}", "application/json", 400,
         "number overflow"},
        {"absurd coordinate", "POST", predict, "{\"points\": [[1e9, 2]]}", "application/json", 400, "outside"},
        {"string coordinate", "POST", predict, "{\"points\": [[\"1\", 2]]}", "application/json", 400, "number"},
        {"bad label", "POST", predict, "{\"points\": [[1, 2, 3]]}", "application/json", 400, "label"},
        {"inverted box", "POST", predict, "{\"boxes\": [[10, 10, 5, 5]]}", "application/json", 400, "x1 >= x0"},
        {"short box", "POST", predict, "{\"boxes\": [[1, 2, 3]]}", "application/json", 400, "boxes[0]"},
        {"no prompt", "POST", predict, "{}", "application/json", 400, "at least one"},
        {"unknown field", "POST", predict, "{\"point\": [[1, 2]]}", "application/json", 400, "unknown field"},
        {"too many points", "POST", predict, Json{{"points", std::vector<std::vector<int>>(65, {1, 2})}}.dump(),
         "application/json", 400, "at most 64"},
        {"too many boxes", "POST", predict, Json{{"boxes", std::vector<std::vector<int>>(17, {1, 2, 3, 4})}}.dump(),
         "application/json", 400, "at most 16 boxes"},
        {"bad format", "POST", predict + "?format=jpeg", "{\"points\": [[1, 2]]}", "application/json", 400, "format"},
        {"unknown image id", "POST", "/v1/images/0123456789abcdef0123456789abcdef/predict", "{\"points\": [[1, 2]]}",
         "application/json", 404, "unknown or evicted image_id"},
        {"unknown low_res_id", "POST", predict, "{\"points\": [[1, 2]], \"mask_input\": \"nope\"}", "application/json",
         404, "unknown or evicted low_res_id"},
        {"mask_input not a string", "POST", predict, "{\"mask_input\": 5}", "application/json", 400, "mask_input"},
        {"everything: unknown knob", "POST", "/v1/images/" + id + "/everything", "{\"points\": 3}", "application/json",
         400, "unknown field"},
        {"everything: knob out of range", "POST", "/v1/images/" + id + "/everything", "{\"box_nms_thresh\": 2}",
         "application/json", 400, "box_nms_thresh"},
        {"everything: grid too large", "POST", "/v1/images/" + id + "/everything", "{\"points_per_side\": 1000}",
         "application/json", 400, "points_per_side"},
        {"everything: too many points over the crops", "POST", "/v1/images/" + id + "/everything",
         "{\"points_per_side\": 64, \"crop_n_layers\": 1}", "application/json", 400, "20480 points over all crops"},
        {"everything: fractional integer", "POST", "/v1/images/" + id + "/everything", "{\"crop_n_layers\": 0.5}",
         "application/json", 400, "integer"},
        {"unknown route", "GET", "/v1/nothing", "", "", 404, "no such route"},
        {"a path out of the tree", "GET", "/../../etc/passwd", "", "", 404, ""},
        {"a file path as an id", "POST", "/v1/images/..%2F..%2Fetc%2Fpasswd/predict", "{\"points\": [[1, 2]]}",
         "application/json", 404, ""},
    };
    for (const Case& k : cases) {
        auto r = k.method == "GET" ? c.Get(k.path) : c.Post(k.path, k.body, k.type);
        ASSERT_TRUE(r) << k.what << ": no answer (" << httplib::to_string(r.error()) << ")";
        EXPECT_EQ(r->status, k.status) << k.what << ": " << r->body;
        Json j;
        ASSERT_NO_THROW(j = Json::parse(r->body)) << k.what << ": not JSON: " << r->body;
        ASSERT_TRUE(j.contains("error")) << k.what;
        EXPECT_NE(j["error"].get<std::string>().find(k.says), std::string::npos) << k.what << ": " << j["error"];
        ASSERT_EQ(c.Get("/healthz")->status, 200) << "after " << k.what;
    }
    // the good request still works, and the server is still the same process
    auto r = c.Post(predict, R"({"points": [[30, 20]]})", "application/json");
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_TRUE(srv.alive());
    EXPECT_EQ(srv.stop(SIGINT), 0);
}

// A client that sends half a request and stalls is cut off after --read-timeout; others are served meanwhile.
TEST(ServeRobust, StalledClientsTimeOut) {
    ServeProcess srv({"--read-timeout", "1"});
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(srv.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string partial = "POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc";
    ASSERT_EQ(send(fd, partial.data(), partial.size(), 0), static_cast<ssize_t>(partial.size()));
    auto c = srv.client();
    EXPECT_EQ(c.Get("/healthz")->status, 200);  // served while the other client stalls
    const auto t0 = std::chrono::steady_clock::now();
    char buf[256];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);  // the server closes the stalled connection
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LE(n, 0 + static_cast<ssize_t>(sizeof buf));
    EXPECT_LT(s, 10.0);
    close(fd);
    EXPECT_EQ(c.Get("/healthz")->status, 200);
    EXPECT_EQ(srv.stop(), 0);
}

// SIGTERM while a request runs: it is answered in full, then the server exits 0.
TEST(ServeRobust, SigtermFinishesTheRequestInFlight) {
    ServeProcess srv;
    auto c = srv.client();
    const std::string id = evsam_test::upload(c, read_bytes(kSmallImage))["image_id"];
    auto pending = std::async(std::launch::async, [&] {
        auto c2 = srv.client();
        return c2.Post("/v1/images/" + id + "/everything", R"({"points_per_side": 24, "points_per_batch": 16})",
                       "application/json");
    });
    // the request has reached the server and is being computed (it takes over a second)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ASSERT_EQ(pending.wait_for(std::chrono::seconds(0)), std::future_status::timeout) << "finished too early";
    EXPECT_EQ(srv.stop(SIGTERM), 0);
    auto r = pending.get();
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(Json::accept(r->body));
    EXPECT_NE(srv.rest_of_output().find("evsam: stopped"), std::string::npos);
}

}  // namespace

}  // namespace test_serve_robust
