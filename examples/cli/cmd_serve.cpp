// evsam serve: click-to-segment over HTTP. The encoder runs once per image (its embedding is
// cached, keyed by the image's content); every click runs only the prompt encoder and the mask
// decoder. A JSON API (examples/cli/serve/openapi.json), a web page at /, and /metrics.
//
//   POST /v1/images                    image bytes -> {image_id, width, height, encode_ms, cached}
//   POST /v1/images/{id}/predict       prompts -> masks (base64 PNG or COCO RLE), IoUs, low_res_id
//   POST /v1/images/{id}/everything    the generator's knobs -> records (as `evsam everything`)
//   GET  /v1/models  /healthz  /metrics  /openapi.json  /sample.png  /
//
// Concurrency: one model, shared read-only. A cached image holds a Predictor on which the image is
// set; predicting only reads it, so concurrent clicks on one image could share it safely. Model
// work runs on the main thread, one job at a time with all --threads threads (serve::ComputeQueue
// says why); the HTTP workers parse requests and encode answers around it. They are a fixed pool
// with a bounded queue; bodies, reads and keep-alive are bounded.
// Nothing a request sends is written to or read from the file system. SIGINT/SIGTERM stop
// accepting, finish the requests in flight and exit 0.
#include <omp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <random>
#include <thread>

#include "amg_args.hpp"
#include "command.hpp"
#include "evsam/amg.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/nn/state_dict.hpp"
#include "evsam/predictor.hpp"
#include "evsam/sam/amg_utils.hpp"
#include "model_args.hpp"
#include <serve_assets.hpp>  // generated (build dir): index.html, openapi.json and the sample image, as byte arrays
#include "serve_util.hpp"
// last: <httplib.h> brings <resolv.h>, whose `_res` macro breaks Eigen's headers if they follow it
#include <httplib.h>

namespace evsam::tool {

// Named, not anonymous: the tool is a unity build (examples/CMakeLists.txt).
namespace cmd_serve {

using serve::HttpError;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// A fixed pool of HTTP workers with a bounded queue: when it is full, the accept loop waits (the
// kernel's backlog holds further connections) instead of queueing without limit.
class BoundedPool : public httplib::TaskQueue {
public:
    BoundedPool(size_t workers, size_t max_queue) : max_queue_(max_queue) {
        for (size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
    }
    void enqueue(std::function<void()> fn) override {
        std::unique_lock<std::mutex> lock(m_);
        space_.wait(lock, [&] { return jobs_.size() < max_queue_ || stop_; });
        if (stop_) return;  // shutting down: the connection is closed unanswered
        jobs_.push_back(std::move(fn));
        ready_.notify_one();
    }
    void shutdown() override {  // finishes every queued and running job, then joins
        {
            std::lock_guard<std::mutex> lock(m_);
            stop_ = true;
        }
        ready_.notify_all();
        space_.notify_all();
        for (auto& t : threads_) t.join();
    }

private:
    const size_t max_queue_;
    std::mutex m_;
    std::condition_variable ready_, space_;
    std::deque<std::function<void()>> jobs_;
    std::vector<std::thread> threads_;
    bool stop_ = false;
    void work() {
        for (;;) {
            std::function<void()> fn;
            {
                std::unique_lock<std::mutex> lock(m_);
                ready_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
                if (jobs_.empty()) return;
                fn = std::move(jobs_.front());
                jobs_.pop_front();
            }
            space_.notify_one();
            fn();
        }
    }
};

// A cached image: its size, the time its encode took, and a Predictor with the image set (only
// read from then on). The pixels stay for /everything's crop layers.
struct ImageEntry {
    Image image;
    double encode_ms = 0;
    std::unique_ptr<Predictor<float>> predictor;
};

// The low-res logits of one predict answer, for a later mask_input.
struct LowRes {
    std::string image_id;
    Tensor<float> logits;  // (N, 256, 256): every mask of the answer, prompt-major
    std::vector<float> iou;
};

struct Options {
    int threads = 1;
    size_t cache_images = 8, max_upload_bytes = 32u << 20, workers = 32;
    int64_t max_pixels = 16777216;
};

class App {
public:
    App(const SamBase<float, backend::cpu>& model, std::string model_name, const Options& o)
        : model_(model),
          model_name_(std::move(model_name)),
          opt_(o),
          images_(o.cache_images),
          results_(std::max<size_t>(16, 2 * o.cache_images)),
          rng_(std::random_device{}()) {}

    void routes(httplib::Server& svr) {
        svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(reinterpret_cast<const char*>(assets::index_html), assets::index_html_size,
                            "text/html; charset=utf-8");
        });
        svr.Get("/openapi.json", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(reinterpret_cast<const char*>(assets::openapi_json), assets::openapi_json_size,
                            "application/json");
        });
        svr.Get("/sample.png", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(reinterpret_cast<const char*>(assets::sample_png), assets::sample_png_size, "image/png");
        });
        svr.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(R"({"status":"ok"})", "application/json");
        });
        svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
            Json m = {{"name", model_name_},
                      {"encoder_resolution", model_.transform.resolution},
                      {"prompt_frame", model_.transform.prompt_frame},
                      {"threads", opt_.threads},
                      {"cache_images", opt_.cache_images},
                      {"max_upload_bytes", opt_.max_upload_bytes},
                      {"max_pixels", opt_.max_pixels}};
            res.set_content(Json{{"models", Json::array({m})}}.dump(), "application/json");
        });
        svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
            const auto s = images_.stats();
            res.set_content(metrics_.text(s.hits, s.misses, s.evictions, s.size, images_.capacity()),
                            "text/plain; version=0.0.4");
        });
        svr.Post("/v1/images", guarded([this](const httplib::Request& q, httplib::Response& r) { upload(q, r); }));
        svr.Post(R"(/v1/images/([^/]+)/predict)",
                 guarded([this](const httplib::Request& q, httplib::Response& r) { predict(q, r); }));
        svr.Post(R"(/v1/images/([^/]+)/everything)",
                 guarded([this](const httplib::Request& q, httplib::Response& r) { everything(q, r); }));
    }

    // Status codes httplib sets itself (404 no route, 413 body too large, 400 bad request line):
    // the same JSON error body as ours.
    static void error_body(const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return;
        const char* why = res.status == 404 ? "no such route"
                          : res.status == 413
                              ? "the request body is too large: over --max-upload-mb, or a form-urlencoded "
                                "body over 8 KiB (send image bytes as image/png, image/jpeg, image/bmp or "
                                "application/octet-stream)"
                          : res.status == 405 ? "method not allowed"
                                              : "bad request";
        res.set_content(Json{{"error", why}}.dump(), "application/json");
    }
    void log(const httplib::Request& req, const httplib::Response& res) {
        metrics_.request(route_of(req), res.status, ms_since(request_start_) / 1000.0);
    }
    static void started(const httplib::Request&) { request_start_ = Clock::now(); }

private:
    const SamBase<float, backend::cpu>& model_;
    const std::string model_name_;
    const Options opt_;
    serve::ComputeQueue compute_;
    serve::LruCache<ImageEntry> images_;
    serve::LruCache<LowRes> results_;
    serve::Metrics metrics_;
    std::mutex rng_m_;
    std::mt19937_64 rng_;
    static thread_local Clock::time_point request_start_;  // its headers read (metrics)
    static thread_local Clock::time_point handler_start_;  // its body read too (server_ms)

    static std::string route_of(const httplib::Request& req) {
        const std::string& p = req.path;
        if (p.rfind("/v1/images/", 0) == 0) {
            if (p.size() > 8 && p.compare(p.size() - 8, 8, "/predict") == 0) return "/v1/images/{id}/predict";
            if (p.size() > 11 && p.compare(p.size() - 11, 11, "/everything") == 0) return "/v1/images/{id}/everything";
            return "other";
        }
        for (const char* known :
             {"/", "/v1/images", "/v1/models", "/healthz", "/metrics", "/openapi.json", "/sample.png"})
            if (p == known) return p;
        return "other";  // unknown paths share one label: clients cannot grow the metrics
    }

    // Every error a handler throws becomes its JSON body: HttpError with its status, evsam::Error
    // (a bad value the library refused) 400, out of memory 503, anything else 500.
    template <class F>
    httplib::Server::Handler guarded(F f) {
        return [f](const httplib::Request& req, httplib::Response& res) {
            auto fail = [&res](int status, const std::string& msg) {
                res.status = status;
                res.set_content(Json{{"error", msg}}.dump(), "application/json");
            };
            try {
                handler_start_ = Clock::now();
                f(req, res);
            } catch (const HttpError& e) {
                fail(e.status, e.what());
            } catch (const Error& e) {
                fail(400, e.what());
            } catch (const std::bad_alloc&) {
                fail(503, "out of memory");
            } catch (const std::exception& e) {
                fail(500, e.what());
            }
        };
    }

    std::string random_id() {
        std::lock_guard<std::mutex> lock(rng_m_);
        char hex[33];
        std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(rng_()),
                      static_cast<unsigned long long>(rng_()));
        return hex;
    }

    std::shared_ptr<const ImageEntry> image_of(const httplib::Request& req) {
        const std::string id = req.matches[1];
        auto e = images_.get(id);
        if (!e) throw HttpError(404, "unknown or evicted image_id '" + id.substr(0, 64) + "': upload the image again");
        return e;
    }

    // Model work, on the compute thread; its wait for a turn is timed too.
    template <class F>
    auto compute(const char* stage, F f) {
        double wait_s = 0;
        auto out = compute_.run(
            [&] {
                const auto t0 = Clock::now();
                auto r = f();
                return std::make_pair(std::move(r), ms_since(t0));
            },
            &wait_s);
        metrics_.time("compute_wait", wait_s);
        metrics_.time(stage, out.second / 1000.0);
        return out;
    }

public:
    // The main thread's part: every model job, until stop_compute() and the queue is empty.
    void compute_loop(int threads) {
        omp_set_num_threads(threads);
        compute_.loop();
    }
    void stop_compute() { compute_.stop(); }

private:
    void upload(const httplib::Request& req, httplib::Response& res) {
        const std::string* body = &req.body;
        if (req.is_multipart_form_data()) {  // a browser form: the first file
            if (req.files.empty()) throw HttpError(400, "multipart body without a file");
            body = &req.files.begin()->second.content;
        }
        const auto* p = reinterpret_cast<const uint8_t*>(body->data());
        if (body->empty()) throw HttpError(400, "empty body: send the image bytes (PNG, JPEG or BMP)");
        if (detail::image_format_of(p, body->size()).empty())
            throw HttpError(415, "not an image: PNG, JPEG or BMP bytes expected");
        auto [w, h] = declared_image_size(p, body->size());  // PNG and BMP: before any decoder looks
        if (w == 0) {
            const ImageInfo info = image_info_from_memory(p, body->size(), "upload");
            w = info.width, h = info.height;
        }
        if (w * h > opt_.max_pixels)
            throw HttpError(413, "the image declares " + std::to_string(w) + "x" + std::to_string(h) +
                                     " pixels, more than --max-pixels " + std::to_string(opt_.max_pixels));
        Image img = load_image_from_memory(p, body->size(), "upload");
        // the id: SHA-256 of the size and the SHA-256 of the decoded pixels (the same picture as PNG
        // or BMP is one image; the pixels are hashed where they are, not copied beside the size)
        const std::string keyed = std::to_string(img.height) + "x" + std::to_string(img.width) + ":" +
                                  serve::sha256_hex(img.data.data(), img.data.size());
        const std::string id =
            serve::sha256_hex(reinterpret_cast<const uint8_t*>(keyed.data()), keyed.size()).substr(0, 32);
        bool hit = false;
        auto entry = images_.get_or_make(
            id,
            [&] {
                ImageEntry e;
                auto [ok, ms] = compute("encode", [&] {  // the Predictor too: its constructor runs the model
                    e.predictor = std::make_unique<Predictor<float>>(model_);
                    e.predictor->set_image(img);
                    return true;
                });
                (void)ok;
                e.encode_ms = ms;
                e.image = std::move(img);
                return e;
            },
            &hit);
        Json out = {{"image_id", id},
                    {"width", entry->image.width},
                    {"height", entry->image.height},
                    {"encode_ms", entry->encode_ms},
                    {"cached", hit}};
        res.set_header("Server-Timing", "encode;dur=" + std::to_string(hit ? 0.0 : entry->encode_ms));
        res.set_content(out.dump(), "application/json");
    }

    void predict(const httplib::Request& req, httplib::Response& res) {
        const auto entry = image_of(req);
        const int64_t H = entry->image.height, W = entry->image.width;
        serve::PredictRequest pr = serve::parse_predict_request(req.body, H, W);
        std::string format = req.has_param("format") ? req.get_param_value("format") : "png";
        if (format != "png" && format != "coco_rle")
            throw HttpError(400, "format must be png or coco_rle, not '" + format.substr(0, 32) + "'");
        if (!pr.mask_input_id.empty()) {
            auto low = results_.get(pr.mask_input_id);
            if (!low) throw HttpError(404, "unknown or evicted low_res_id '" + pr.mask_input_id.substr(0, 64) + "'");
            if (low->image_id != req.matches[1]) throw HttpError(400, "mask_input belongs to another image");
            const int64_t n = low->logits.size(0);
            int64_t k = pr.mask_input_index;
            if (k < 0)
                k = std::max_element(low->iou.begin(), low->iou.end()) - low->iou.begin();
            else if (k >= n)
                throw HttpError(400, "mask_input_index " + std::to_string(k) + " but that answer has " +
                                         std::to_string(n) + " masks");
            Tensor<float> m({1, 256, 256});
            std::copy(low->logits.data() + k * 256 * 256, low->logits.data() + (k + 1) * 256 * 256, m.data());
            for (auto& p : pr.prompts) p.mask_input = m;
        }
        auto [pred, decode_ms] = compute("decode", [&] {
            return entry->predictor->predict_batch(pr.prompts, pr.multimask, /*return_logits=*/false);
        });
        // masks (B, C, H, W) 0/1: each as a 0/255 PNG or a COCO RLE, outside the thread budget
        const int64_t B = pred.masks.size(0), C = pred.masks.size(1);
        Json masks = Json::array(), ious = Json::array();
        std::vector<uint8_t> m(static_cast<size_t>(H * W));
        for (int64_t b = 0; b < B; ++b) {
            Json mb = Json::array(), ib = Json::array();
            for (int64_t c = 0; c < C; ++c) {
                const float* src = pred.masks.data() + (b * C + c) * H * W;
                if (format == "png") {
                    for (int64_t i = 0; i < H * W; ++i) m[static_cast<size_t>(i)] = src[i] > 0 ? 255 : 0;
                    const std::vector<uint8_t> png = encode_png(m.data(), H, W, 1);
                    mb.push_back(serve::base64(png.data(), png.size()));
                } else {
                    for (int64_t i = 0; i < H * W; ++i) m[static_cast<size_t>(i)] = src[i] > 0 ? 1 : 0;
                    const amg::Rle rle = amg::mask_to_rle(m.data(), H, W);
                    mb.push_back({{"size", {H, W}}, {"counts", amg::coco_rle_string(rle)}});
                }
                ib.push_back(pred.iou_predictions[b * C + c]);
            }
            masks.push_back(mb), ious.push_back(ib);
        }
        LowRes low;
        low.image_id = req.matches[1];
        const int64_t lh = pred.low_res_logits.size(2), lw = pred.low_res_logits.size(3);
        low.logits = std::move(pred.low_res_logits);  // not needed after this: kept, not copied
        low.logits.reshape_({B * C, lh, lw});
        low.iou.assign(pred.iou_predictions.data(), pred.iou_predictions.data() + B * C);
        const std::string low_id = random_id();
        results_.put(low_id, std::make_shared<const LowRes>(std::move(low)));
        // one prompt set: (C) lists, as `evsam predict` writes (C, H, W); several boxes: (B, C)
        Json out = {{"masks", B == 1 ? masks[0] : masks},
                    {"iou_predictions", B == 1 ? ious[0] : ious},
                    {"low_res_id", low_id},
                    {"shape", B == 1 ? Json{C, H, W} : Json{B, C, H, W}},
                    {"format", format},
                    {"decode_ms", decode_ms},
                    {"server_ms", ms_since(handler_start_)}};
        res.set_header("Server-Timing", "decode;dur=" + std::to_string(decode_ms));
        res.set_content(out.dump(), "application/json");
    }

    void everything(const httplib::Request& req, httplib::Response& res) {
        const auto entry = image_of(req);
        const serve::EverythingRequest er = serve::parse_everything_request(req.body);
        auto [recs, ms] = compute("everything", [&] {
            AutomaticMaskGenerator<float> gen(model_, er.cfg);
            return gen.generate(entry->image, nullptr, entry->predictor.get());
        });
        res.set_header("Server-Timing", "everything;dur=" + std::to_string(ms));
        res.set_content(amg_records_json(recs, er.coco_rle).dump() + "\n", "application/json");
    }
};

thread_local Clock::time_point App::request_start_;
thread_local Clock::time_point App::handler_start_;

httplib::Server* g_server = nullptr;

// cpp-httplib 0.11 listens with a backlog of 5 and keeps its socket private: 16 clients connecting
// at once overflowed it, and the kernel's SYN retransmit made some wait a full second. Linux takes
// a second listen() on a listening socket as a new backlog, so find ours (listening, this port).
void widen_listen_backlog(int port) {
    for (int fd = 3; fd < 1024; ++fd) {
        int listening = 0;
        socklen_t len = sizeof listening;
        sockaddr_storage addr{};
        socklen_t alen = sizeof addr;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
        const int p = addr.ss_family == AF_INET    ? ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port)
                      : addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                                   : -1;
        if (p == port) ::listen(fd, SOMAXCONN);
    }
}

int run(const Args& a) {
    Options o;
    o.threads = static_cast<int>(a.integer("threads", omp_get_max_threads(), 1, 1024));
    o.cache_images = static_cast<size_t>(a.integer("cache-images", 8, 1, 4096));
    o.max_upload_bytes = static_cast<size_t>(a.integer("max-upload-mb", 32, 1, 4096)) << 20;
    o.max_pixels = a.integer("max-pixels", o.max_pixels, 1, kMaxImagePixels);
    o.workers = static_cast<size_t>(a.integer("workers", 32, 1, 1024));
    const std::string host = a.has("host") ? a.str("host") : "127.0.0.1";
    const int port = static_cast<int>(a.integer("port", 8080, 0, 65535));
    const double read_timeout = a.real("read-timeout", 10, 0.1, 3600);

    std::string model_name;
    auto model = [&] {  // the checkpoint's bytes are dropped once the weights are in the model
        auto lc = open_checkpoint(a.str("weights"), a.str("model"), a.str("config"));
        apply_hourglass_flags(a, lc, "serve");
        auto m = create_sam<float, backend::cpu>(lc.cfg);
        load_state_dict(*m, lc.ckpt, lc.model);
        model_name = lc.model;
        return m;
    }();

    // SIGINT/SIGTERM are taken by one thread (blocked in every other, which inherit the mask)
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    App app(*model, model_name, o);
    httplib::Server svr;
    svr.new_task_queue = [&o] { return new BoundedPool(o.workers, 4 * o.workers); };
    svr.set_payload_max_length(o.max_upload_bytes);
    const auto rt = std::chrono::duration<double>(read_timeout);
    svr.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(rt));
    svr.set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(rt));
    svr.set_tcp_nodelay(true);  // answers go out at once (Nagle's algorithm held the last segment back 40 ms)
    // an idle keep-alive connection holds its worker, and httplib 0.11 lets it wait out this timeout
    // before a stop completes: 2 s bounds how long SIGTERM waits for idle clients
    svr.set_keep_alive_timeout(2);
    svr.set_keep_alive_max_count(100);
    svr.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
        App::started(req);
        return httplib::Server::HandlerResponse::Unhandled;
    });
    svr.set_error_handler(App::error_body);
    svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        res.status = 500;
        res.set_content(Json{{"error", "internal error"}}.dump(), "application/json");
    });
    svr.set_logger([&app](const httplib::Request& req, const httplib::Response& res) { app.log(req, res); });
    app.routes(svr);

    const int bound = port == 0 ? svr.bind_to_any_port(host) : (svr.bind_to_port(host, port) ? port : -1);
    if (bound < 0)
        throw Error("serve: cannot listen on " + host + ":" + std::to_string(port) +
                    " (the port is in use, or the address is not one of this machine's)");
    widen_listen_backlog(bound);
    std::printf("evsam: serving %s at http://%s:%d/ (threads %d, cache %zu images, %zu workers)\n", model_name.c_str(),
                host.c_str(), bound, o.threads, o.cache_images, o.workers);
    std::fflush(stdout);

    g_server = &svr;
    std::atomic<bool> signalled{false};
    std::thread waiter([sigs, &signalled] {
        int sig = 0;
        sigwait(&sigs, &sig);
        signalled = true;
        if (g_server) g_server->stop();  // stop accepting; listen returns once the requests in flight are answered
    });
    std::thread http([&] {
        svr.listen_after_bind();
        app.stop_compute();
    });
    app.compute_loop(o.threads);  // returns when the HTTP side is done and no model work is left
    http.join();
    if (!signalled) pthread_kill(waiter.native_handle(), SIGTERM);  // wake the waiter (the signal is blocked)
    waiter.join();
    g_server = nullptr;
    std::printf("evsam: stopped\n");
    std::fflush(stdout);
    return 0;
}

}  // namespace cmd_serve

Command serve_command() {
    using namespace cmd_serve;
    std::vector<FlagSpec> f = {
        weights_flag(),
        model_flag(),
        config_flag(),
        value("host", "ADDR", "the address to listen on (default 127.0.0.1: this machine only)"),
        value("port", "N", "the port (default 8080; 0: any free port, printed at start)"),
        threads_flag(),
        value("cache-images", "N", "embeddings kept, least recently used evicted (default 8)"),
        value("max-upload-mb", "N", "the largest request body, in MiB (default 32)"),
        value("max-pixels", "N", "the largest image, by the pixels its header declares (default 16777216)"),
        value("workers", "N", "HTTP worker threads (default 32; model work shares --threads)"),
        value("read-timeout", "S", "seconds to wait for a client's request bytes (default 10)")};
    for (auto& h : hourglass_flag_specs()) f.push_back(h);
    return {"serve",
            "click-to-segment in the browser and a JSON API (see examples/cli/serve/openapi.json); embeddings are "
            "cached, so each click runs only the decoder",
            f, run};
}

}  // namespace evsam::tool
