// Starts build/bin/evsam serve on a free loopback port (--port 0; the port is read from its first
// line of output), gives clients for it, and stops it with SIGTERM, returning its exit status.
#pragma once
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <evsam/evsam.hpp>

// after Eigen: <httplib.h> brings <resolv.h>, whose `_res` macro breaks Eigen's headers
#include <httplib.h>

extern char** environ;

namespace evsam_test {

const std::string kTinyDir = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";
const std::string kTinyWeights = kTinyDir + "model.pt", kTinyConfig = kTinyDir + "config.json";
const std::string kSmallImage = std::string(EVSAM_TEST_DATA) + "/preprocess/in_small_45x61_r512.png";  // 61 x 45

inline std::string read_bytes(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

class ServeProcess {
public:
    // extra: more flags, e.g. {"--cache-images", "2"}.
    explicit ServeProcess(std::vector<std::string> extra = {}, const std::string& weights = kTinyWeights,
                          const std::string& config = kTinyConfig, int threads = 2) {
        std::vector<std::string> args = {std::string(EVSAM_BIN_DIR) + "/evsam",
                                         "serve",
                                         "--weights",
                                         weights,
                                         "--port",
                                         "0",
                                         "--threads",
                                         std::to_string(threads)};
        if (!config.empty()) args.insert(args.end(), {"--config", config});
        args.insert(args.end(), extra.begin(), extra.end());
        int out[2];
        if (pipe(out) != 0) throw std::runtime_error("pipe");
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_addclose(&fa, out[0]);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0) throw std::runtime_error("spawn");
        posix_spawn_file_actions_destroy(&fa);
        close(out[1]);
        out_ = fdopen(out[0], "r");
        char line[512] = {};
        if (!fgets(line, sizeof line, out_)) throw std::runtime_error("evsam serve printed nothing (did it fail?)");
        banner_ = line;
        const auto at = banner_.find("http://127.0.0.1:");
        if (at == std::string::npos) throw std::runtime_error("unexpected banner: " + banner_);
        port_ = std::stoi(banner_.substr(at + 17));
    }
    ~ServeProcess() {
        if (pid_ > 0) stop();
        if (out_) fclose(out_);
    }
    int port() const { return port_; }
    const std::string& banner() const { return banner_; }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(60, 0);
        c.set_tcp_nodelay(true);
        // one connection, so one server worker answers in order: its logger has counted a request
        // (just after sending the answer) before it reads the next, e.g. GET /metrics
        c.set_keep_alive(true);
        return c;
    }
    bool alive() const { return pid_ > 0 && ::kill(pid_, 0) == 0; }
    // SIGTERM (or sig), then the exit status: the exit code, or 128 + the signal that killed it.
    int stop(int sig = SIGTERM) {
        ::kill(pid_, sig);
        int st = 0;
        waitpid(pid_, &st, 0);
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    // The rest of its stdout (after stop()).
    std::string rest_of_output() {
        std::string s;
        char buf[512];
        while (fgets(buf, sizeof buf, out_)) s += buf;
        return s;
    }

private:
    pid_t pid_ = -1;
    FILE* out_ = nullptr;
    int port_ = 0;
    std::string banner_;
};

inline nlohmann::json json_of(const httplib::Result& r) {
    if (!r) throw std::runtime_error("no HTTP answer: " + httplib::to_string(r.error()));
    return nlohmann::json::parse(r->body);
}

// POST /v1/images; the answer's JSON.
inline nlohmann::json upload(httplib::Client& c, const std::string& bytes) {
    return json_of(c.Post("/v1/images", bytes, "application/octet-stream"));
}

// RFC 4648 base64 -> bytes (stops at '=' padding).
inline std::vector<uint8_t> from_base64(const std::string& b64) {
    static const std::string A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::vector<uint8_t> bytes;
    uint32_t acc = 0;
    int bits = 0;
    for (char ch : b64) {
        if (ch == '=') break;
        acc = acc << 6 | static_cast<uint32_t>(A.find(ch));
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes.push_back(static_cast<uint8_t>(acc >> bits));
        }
    }
    return bytes;
}

// A base64 PNG of 0/255 -> 0/1 bytes (H*W).
inline std::vector<uint8_t> mask_of_png_b64(const std::string& b64) {
    const std::vector<uint8_t> bytes = from_base64(b64);
    evsam::Image img = evsam::load_image_from_memory(bytes.data(), bytes.size(), "mask");
    std::vector<uint8_t> m(static_cast<size_t>(img.height * img.width));
    for (size_t i = 0; i < m.size(); ++i) m[i] = img.data[3 * i] > 127 ? 1 : 0;
    return m;
}

}  // namespace evsam_test
