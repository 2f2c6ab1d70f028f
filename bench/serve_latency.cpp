// evsam serve's latency targets (issue 18), on a real checkpoint:
//   click-to-mask, server side, one client:      p50 <= 40 ms
//   the same under 16 concurrent clients:        p99 <= 2 x that p50
// Printed beside two baselines measured in the same run: the decoder called in-process (the
// floor: a Predictor on the same image and prompts, no HTTP), and one `evsam predict` (what a click
// costs without the server: load the weights, encode, decode).
//
//   build/bin/serve_latency --weights W.pt [--image IMG] [--threads 2] [--requests 60] [--clients 16] [--per-client 20]
//
// "server" is the answer's server_ms: from the request's arrival to the answer built, including the
// wait for the model behind other requests; "decode" is the model's own time (decode_ms); "client"
// adds the HTTP round trip on loopback.
#include <omp.h>

#include <cstdio>
#include <cstring>

#include "serve_util.hpp"  // first: it brings Eigen, which must come before <httplib.h>
#include "serve_load.hpp"

namespace {

const char* flag(int argc, char** argv, const char* name, const char* dflt) {
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
    return dflt;
}

double median(std::vector<double> v) { return evsam_test::LoadStats::pct(std::move(v), 50); }

}  // namespace

int main(int argc, char** argv) {
    const std::string weights = flag(argc, argv, "--weights", "");
    if (weights.empty()) {
        std::fprintf(stderr,
                     "usage: serve_latency --weights W.pt [--image IMG] [--threads N] [--requests N] "
                     "[--clients N] [--per-client N]\n");
        return 2;
    }
    const std::string image = flag(argc, argv, "--image", EVSAM_SOURCE_DIR "/examples/data/chelsea.png");
    const int threads = std::atoi(flag(argc, argv, "--threads", "2"));
    const int requests = std::atoi(flag(argc, argv, "--requests", "60"));
    const int clients = std::atoi(flag(argc, argv, "--clients", "16"));
    const int per_client = std::atoi(flag(argc, argv, "--per-client", "20"));
    try {
        // baseline 1: the decoder in-process, same prompts (median over the prompts, 5 rounds)
        auto ck = evsam::Checkpoint::open(weights);
        const std::string name = evsam::detect_model(ck);
        auto model = evsam::create_sam<float, evsam::backend::cpu>(evsam::find_model(name).config());
        evsam::load_state_dict(*model, ck, name);
        const evsam::Image img = evsam::load_image(image);
        omp_set_num_threads(threads);
        evsam::Predictor<float> pred(*model);
        pred.set_image(img);
        const auto prompts = evsam_test::load_prompts(img.width, img.height);
        std::vector<double> inproc;
        for (int round = 0; round < 6; ++round)
            for (const auto& body : prompts) {
                const auto req = evsam::tool::serve::parse_predict_request(body, img.height, img.width);
                const auto t0 = std::chrono::steady_clock::now();
                auto r = pred.predict_batch(req.prompts, req.multimask, false);
                if (round > 0)
                    inproc.push_back(
                        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
            }
        // baseline 2: one evsam predict
        const auto t0 = std::chrono::steady_clock::now();
        const std::string cmd = std::string(EVSAM_BIN_DIR) + "/evsam predict --weights " + weights + " --image " +
                                image + " --point " + std::to_string(img.width / 2) + "," +
                                std::to_string(img.height / 2) + " --threads " + std::to_string(threads) +
                                " --out-masks /tmp/serve_latency_m.npy";
        if (std::system(cmd.c_str()) != 0) throw std::runtime_error("evsam predict failed");
        const double one_shot =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

        evsam_test::ServeProcess srv(std::vector<std::string>{}, weights, std::string(), threads);
        auto c = srv.client();
        const auto up = evsam_test::upload(c, evsam_test::read_bytes(image));
        const std::string id = up["image_id"];
        (void)evsam_test::run_load(srv, id, prompts, 1, 12);  // warm-up
        const auto one = evsam_test::run_load(srv, id, prompts, 1, requests);
        const auto many = evsam_test::run_load(srv, id, prompts, clients, per_client);
        srv.stop();
        std::printf("model %s, image %lldx%lld, %d threads, encode %.1f ms (server)\n", name.c_str(),
                    static_cast<long long>(img.width), static_cast<long long>(img.height), threads,
                    up["encode_ms"].get<double>());
        std::printf("baseline: decoder in-process median %.1f ms; one evsam predict (load, encode, decode) %.0f ms\n",
                    median(inproc), one_shot);
        std::printf("1 client:   %s\n", one.summary().c_str());
        std::printf("%d clients: %s\n", clients, many.summary().c_str());
        const double p50 = evsam_test::LoadStats::pct(one.server_ms, 50);
        const double p99 = evsam_test::LoadStats::pct(many.server_ms, 99);
        const double p99d = evsam_test::LoadStats::pct(many.decode_ms, 99);
        std::printf("target: server p50, 1 client %.1f ms <= 40 ms: %s\n", p50, p50 <= 40 ? "met" : "NOT met");
        std::printf(
            "target: server p99, %d clients %.1f ms <= 2 x %.1f ms: %s (the model's own time, decode p99 "
            "%.1f ms: %s)\n",
            clients, p99, p50, p99 <= 2 * p50 ? "met" : "NOT met", p99d, p99d <= 2 * p50 ? "met" : "NOT met");
        return many.errors || many.mismatches || one.errors || one.mismatches ? 1 : 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "serve_latency: error: %s\n", e.what());
        return 1;
    }
}
