// evsam serve's JSON API against a real server on loopback (tiny upstream-made model): answers
// equal `evsam predict`'s and `evsam everything`'s for the same prompts, the embedding cache hits
// and evicts, every bad input is a JSON 4xx and the server keeps serving, SIGTERM finishes the
// request in flight and exits 0.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmath>
#include <future>
#include <set>

#include "../cli/cli_util.hpp"
#include "serve_fixture.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_serve_api {

namespace {

using evsam_test::json_of;
using evsam_test::kSmallImage;
using evsam_test::kTinyConfig;
using evsam_test::kTinyWeights;
using evsam_test::mask_of_png_b64;
using evsam_test::read_bytes;
using evsam_test::run_evsam;
using evsam_test::ServeProcess;
using Json = nlohmann::json;

std::string tmp(const std::string& n) { return ::testing::TempDir() + "evsam_serve_" + n; }
const std::string kCli = "--weights " + kTinyWeights + " --config " + kTinyConfig;

// `evsam predict` with these flags: masks (0/1) and IoUs, and the low-res logits.
struct CliAnswer {
    evsam::Tensor<uint8_t> masks;
    evsam::Tensor<float> iou, low;
};
CliAnswer cli_predict(const std::string& prompt_flags, const std::string& image = kSmallImage) {
    auto r = run_evsam("predict " + kCli + " --image " + image + " " + prompt_flags + " --out-masks " + tmp("m.npy") +
                       " --out-iou " + tmp("q.npy") + " --out-lowres " + tmp("l.npy"));
    EXPECT_EQ(r.code, 0) << r.err;
    return {evsam::npy_load_exact<uint8_t>(tmp("m.npy")), evsam::npy_load_exact<float>(tmp("q.npy")),
            evsam::npy_load_exact<float>(tmp("l.npy"))};
}

// Each of the server's masks (in answer order) against the CLI's, pixel for pixel, and the IoUs bit for bit.
void expect_same(const Json& masks, const Json& ious, const CliAnswer& cli, bool rle = false) {
    const int64_t HW = cli.masks.size(-1) * cli.masks.size(-2);
    std::vector<Json> flat_m, flat_q;
    for (size_t i = 0; i < masks.size(); ++i) {
        if (masks[i].is_array()) {  // (B, C)
            for (size_t c = 0; c < masks[i].size(); ++c) flat_m.push_back(masks[i][c]), flat_q.push_back(ious[i][c]);
        } else {
            flat_m.push_back(masks[i]), flat_q.push_back(ious[i]);
        }
    }
    ASSERT_EQ(static_cast<int64_t>(flat_m.size()), cli.iou.numel());
    for (size_t k = 0; k < flat_m.size(); ++k) {
        std::vector<uint8_t> m;
        if (rle) {
            const auto& seg = flat_m[k];
            m = evsam::amg::rle_to_mask(
                evsam::amg::coco_rle_from_string(seg["counts"], seg["size"][0], seg["size"][1]));
        } else {
            m = mask_of_png_b64(flat_m[k].get<std::string>());
        }
        ASSERT_EQ(static_cast<int64_t>(m.size()), HW);
        int64_t differ = 0;
        for (int64_t i = 0; i < HW; ++i)
            differ += m[static_cast<size_t>(i)] != cli.masks[static_cast<int64_t>(k) * HW + i];
        EXPECT_EQ(differ, 0) << "mask " << k;
        EXPECT_EQ(flat_q[k].get<float>(), cli.iou[static_cast<int64_t>(k)]) << "iou " << k;
    }
}

TEST(Serve, PredictEqualsTheCli) {
    ServeProcess srv;
    auto c = srv.client();
    const Json up = evsam_test::upload(c, read_bytes(kSmallImage));
    ASSERT_TRUE(up.contains("image_id")) << up.dump();
    EXPECT_EQ(up["width"], 61);
    EXPECT_EQ(up["height"], 45);
    EXPECT_FALSE(up["cached"].get<bool>());
    const std::string id = up["image_id"], path = "/v1/images/" + id + "/predict";

    // points and a box, 3 masks as PNGs
    auto r = c.Post(path, R"({"points": [[30, 20, 1], [5, 5, 0]], "boxes": [[2, 3, 50, 40]]})", "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    Json a = Json::parse(r->body);
    EXPECT_EQ(a["shape"], Json({3, 45, 61}));
    EXPECT_EQ(a["format"], "png");
    const CliAnswer cli = cli_predict("--point 30,20 --point 5,5,0 --box 2,3,50,40");
    expect_same(a["masks"], a["iou_predictions"], cli);

    // the same as COCO RLE
    r = c.Post(path + "?format=coco_rle", R"({"points": [[30, 20, 1], [5, 5, 0]], "boxes": [[2, 3, 50, 40]]})",
               "application/json");
    ASSERT_EQ(r->status, 200) << r->body;
    a = Json::parse(r->body);
    expect_same(a["masks"], a["iou_predictions"], cli, /*rle=*/true);

    // one mask (multimask false), fractional coordinates
    r = c.Post(path, R"({"points": [[12.25, 30.5]], "multimask": false})", "application/json");
    ASSERT_EQ(r->status, 200) << r->body;
    a = Json::parse(r->body);
    EXPECT_EQ(a["shape"], Json({1, 45, 61}));
    expect_same(a["masks"], a["iou_predictions"], cli_predict("--point 12.25,30.5 --single-mask"));

    // several boxes: a batch (B, C), as predict with several --box
    r = c.Post(path, R"({"points": [[20, 20]], "boxes": [[2, 3, 50, 40], [10, 10, 30, 44]]})", "application/json");
    ASSERT_EQ(r->status, 200) << r->body;
    a = Json::parse(r->body);
    EXPECT_EQ(a["shape"], Json({2, 3, 45, 61}));
    expect_same(a["masks"], a["iou_predictions"], cli_predict("--point 20,20 --box 2,3,50,40 --box 10,10,30,44"));

    // refinement: low_res_id with mask_input_index k is --mask-input of the CLI's k-th low-res mask
    r = c.Post(path, R"({"points": [[30, 20, 1]]})", "application/json");
    ASSERT_EQ(r->status, 200) << r->body;
    const Json first = Json::parse(r->body);
    const CliAnswer cli1 = cli_predict("--point 30,20");
    expect_same(first["masks"], first["iou_predictions"], cli1);
    const std::vector<float> q = first["iou_predictions"];
    const int64_t best = std::max_element(q.begin(), q.end()) - q.begin();
    for (int64_t k : {int64_t(1), best}) {
        evsam::Tensor<float> one({1, 256, 256});
        std::copy(cli1.low.data() + k * 256 * 256, cli1.low.data() + (k + 1) * 256 * 256, one.data());
        evsam::npy_save(tmp("in.npy"), one);
        Json req = {{"points", {{30, 20, 1}, {40, 30, 1}}}, {"mask_input", first["low_res_id"]}};
        if (k != best) req["mask_input_index"] = k;  // without it: the best mask
        r = c.Post(path, req.dump(), "application/json");
        ASSERT_EQ(r->status, 200) << r->body;
        a = Json::parse(r->body);
        expect_same(a["masks"], a["iou_predictions"],
                    cli_predict("--point 30,20 --point 40,30 --mask-input " + tmp("in.npy")));
    }
    EXPECT_EQ(srv.stop(), 0);
}

TEST(Serve, EverythingEqualsTheCli) {
    ServeProcess srv;
    auto c = srv.client();
    const std::string id = evsam_test::upload(c, read_bytes(kSmallImage))["image_id"];
    // thresholds off, so the tiny random model keeps masks
    const std::string knobs = " --points-per-side 4 --pred-iou-thresh 0 --stability-score-thresh -100";
    for (const std::string mode : {"coco_rle", "uncompressed_rle"}) {
        auto cli = run_evsam("everything " + kCli + " --image " + kSmallImage + knobs + " --output-mode " + mode +
                             " --out " + tmp("rec.json"));
        ASSERT_EQ(cli.code, 0) << cli.err;
        const Json body = {
            {"points_per_side", 4}, {"pred_iou_thresh", 0}, {"stability_score_thresh", -100}, {"output_mode", mode}};
        auto r = c.Post("/v1/images/" + id + "/everything", body.dump(), "application/json");
        ASSERT_EQ(r->status, 200) << r->body;
        EXPECT_GT(Json::parse(r->body).size(), 0u);
        EXPECT_EQ(r->body, read_bytes(tmp("rec.json"))) << mode;  // byte for byte
    }
    // with crop layers: the crops are encoded, the whole image comes from the cache
    auto cli = run_evsam("everything " + kCli + " --image " + kSmallImage + knobs +
                         " --crop-n-layers 1 --output-mode coco_rle --out " + tmp("rec2.json"));
    ASSERT_EQ(cli.code, 0) << cli.err;
    auto r =
        c.Post("/v1/images/" + id + "/everything",
               R"({"points_per_side": 4, "pred_iou_thresh": 0, "stability_score_thresh": -100, "crop_n_layers": 1})",
               "application/json");
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->body, read_bytes(tmp("rec2.json")));
}

// The value of a metric line `name{labels} value` (or `name value`) in /metrics; -1 if absent.
double metric(const std::string& text, const std::string& key) {
    const auto at = text.find("\n" + key + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + key.size() + 2));
}

TEST(Serve, CacheHitsAndEvictsLeastRecentlyUsed) {
    ServeProcess srv({"--cache-images", "2"});
    auto c = srv.client();
    // three different images
    const std::string a = read_bytes(kSmallImage);
    const std::string b = read_bytes(std::string(EVSAM_TEST_DATA) + "/preprocess/in_small_48x64_r512.png");
    const std::string d = read_bytes(std::string(EVSAM_TEST_DATA) + "/preprocess/in_odd_301x123_r512.png");
    const Json ja = evsam_test::upload(c, a), ja2 = evsam_test::upload(c, a);
    EXPECT_EQ(ja["image_id"], ja2["image_id"]);
    EXPECT_FALSE(ja["cached"].get<bool>());
    EXPECT_TRUE(ja2["cached"].get<bool>());
    EXPECT_EQ(ja2["encode_ms"], ja["encode_ms"]);  // the cached entry's own encode time
    const Json jb = evsam_test::upload(c, b);
    auto r = c.Post("/v1/images/" + ja["image_id"].get<std::string>() + "/predict", R"({"points": [[3, 4]]})",
                    "application/json");  // a is now the most recently used
    ASSERT_EQ(r->status, 200);
    const std::string low_a = Json::parse(r->body)["low_res_id"];
    evsam_test::upload(c, d);  // evicts b, the least recently used
    r = c.Post("/v1/images/" + jb["image_id"].get<std::string>() + "/predict", R"({"points": [[3, 4]]})",
               "application/json");
    EXPECT_EQ(r->status, 404);
    EXPECT_NE(json_of(r)["error"].get<std::string>().find("unknown or evicted image_id"), std::string::npos);
    r = c.Post("/v1/images/" + ja["image_id"].get<std::string>() + "/predict",
               Json{{"points", {{3, 4}}}, {"mask_input", low_a}}.dump(), "application/json");
    EXPECT_EQ(r->status, 200) << r->body;
    const std::string m = c.Get("/metrics")->body;
    EXPECT_EQ(metric(m, "evsam_cache_hits_total"), 1);
    EXPECT_EQ(metric(m, "evsam_cache_misses_total"), 3);
    EXPECT_EQ(metric(m, "evsam_cache_evictions_total"), 1);
    EXPECT_EQ(metric(m, "evsam_cache_images"), 2);
    EXPECT_EQ(metric(m, "evsam_requests_total{route=\"/v1/images/{id}/predict\",code=\"404\"}"), 1);
    EXPECT_EQ(metric(m, "evsam_requests_total{route=\"/v1/images\",code=\"200\"}"), 4);
    EXPECT_EQ(metric(m, "evsam_stage_duration_seconds_count{stage=\"encode\"}"), 3);
}

}  // namespace

namespace {

// The page, the API description and the sample come from the binary; the description lists every route.
TEST(Serve, PageDescriptionSampleAndModels) {
    ServeProcess srv;
    auto c = srv.client();
    auto r = c.Get("/");
    ASSERT_EQ(r->status, 200);
    EXPECT_NE(r->get_header_value("Content-Type").find("text/html"), std::string::npos);
    EXPECT_EQ(r->body, read_bytes(std::string(EVSAM_SOURCE_DIR) + "/examples/cli/serve/index.html"));
    for (const char* external : {"src=\"http", "href=\"http", "src='http", "@import", "cdn"})
        EXPECT_EQ(r->body.find(external), std::string::npos) << "the page loads something from elsewhere: " << external;
    r = c.Get("/sample.png");
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(r->body, read_bytes(std::string(EVSAM_SOURCE_DIR) + "/examples/data/chelsea.png"));
    r = c.Get("/openapi.json");
    ASSERT_EQ(r->status, 200);
    const Json api = Json::parse(r->body);
    EXPECT_EQ(api["openapi"], "3.0.3");
    std::set<std::string> documented;
    for (auto it = api["paths"].begin(); it != api["paths"].end(); ++it) documented.insert(it.key());
    const std::set<std::string> served = {"/",
                                          "/openapi.json",
                                          "/sample.png",
                                          "/healthz",
                                          "/metrics",
                                          "/v1/models",
                                          "/v1/images",
                                          "/v1/images/{image_id}/predict",
                                          "/v1/images/{image_id}/everything"};
    EXPECT_EQ(documented, served);
    const Json models = json_of(c.Get("/v1/models"));
    EXPECT_EQ(models["models"][0]["name"], "tiny_l");
    EXPECT_EQ(models["models"][0]["threads"], 2);
    EXPECT_EQ(json_of(c.Get("/healthz")), Json({{"status", "ok"}}));
    // the same image from a multipart form, as a browser form posts it, is the same image
    httplib::MultipartFormDataItems form = {{"image", read_bytes(kSmallImage), "small.png", "image/png"}};
    const Json a = json_of(c.Post("/v1/images", form));
    const Json b = evsam_test::upload(c, read_bytes(kSmallImage));
    EXPECT_EQ(a["image_id"], b["image_id"]);
    EXPECT_TRUE(b["cached"].get<bool>());
    EXPECT_EQ(srv.stop(), 0);
}

}  // namespace

}  // namespace test_serve_api
