// evsam serve's web page in Debian's headless Chromium, driven over WebDriver (chromium-driver's
// /usr/bin/chromedriver, spoken to with cpp-httplib): load the page, upload the sample through the
// file input, click a point on the image, wait for the mask, and check the mask layer's pixels
// against `evsam predict` for the point the page sent; a screenshot is saved. Nothing is
// downloaded: without /usr/bin/chromedriver (not installed by .ci/install-deps.sh) it is skipped.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../cli/cli_util.hpp"
#include "serve_fixture.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_serve_browser {

namespace {

using Json = nlohmann::json;
const char* kDriver = "/usr/bin/chromedriver";
const char* kChromium = "/usr/bin/chromium";
const std::string kElement = "element-6066-11e4-a52e-4f735466cecf";  // W3C WebDriver's element key

int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
}

// chromedriver as a child process, and a W3C WebDriver session on it.
class Browser {
public:
    Browser() {
        port_ = free_port();
        std::string port_flag = "--port=" + std::to_string(port_);
        std::vector<std::string> args = {kDriver, port_flag, "--silent"};
        std::vector<char*> argv;
        for (auto& s : args) argv.push_back(s.data());
        argv.push_back(nullptr);
        if (posix_spawn(&pid_, kDriver, nullptr, nullptr, argv.data(), environ) != 0)
            throw std::runtime_error("cannot start chromedriver");
        http_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
        http_->set_read_timeout(120, 0);
        for (int i = 0; i < 200; ++i) {  // until it answers /status
            auto r = http_->Get("/status");
            if (r && r->status == 200) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        const Json caps = {{"capabilities",
                            {{"alwaysMatch",
                              {{"browserName", "chrome"},
                               {"goog:chromeOptions",
                                {{"binary", kChromium},
                                 {"args",
                                  {"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                   "--window-size=900,800", "--force-device-scale-factor=1"}}}}}}}}};
        session_ = call("POST", "/session", caps)["sessionId"];
    }
    ~Browser() {
        if (!session_.empty()) http_->Delete(("/session/" + session_).c_str());
        ::kill(pid_, SIGTERM);
        int st = 0;
        waitpid(pid_, &st, 0);
    }
    // One WebDriver command; its "value".
    Json call(const std::string& method, const std::string& path, const Json& body = Json::object()) {
        auto r =
            method == "GET" ? http_->Get(path.c_str()) : http_->Post(path.c_str(), body.dump(), "application/json");
        if (!r) throw std::runtime_error("chromedriver: no answer to " + path);
        const Json j = Json::parse(r->body);
        if (r->status != 200) throw std::runtime_error("chromedriver: " + path + ": " + r->body.substr(0, 400));
        return j["value"];
    }
    Json session_call(const std::string& method, const std::string& rest, const Json& body = Json::object()) {
        return call(method, "/session/" + session_ + rest, body);
    }
    Json script(const std::string& js, const Json& args = Json::array()) {
        return session_call("POST", "/execute/sync", {{"script", js}, {"args", args}});
    }
    // Polls js (an expression) until it is true, or fails after timeout_s.
    void wait_for(const std::string& js, double timeout_s, const std::string& what) {
        const auto t0 = std::chrono::steady_clock::now();
        while (!script("return !!(" + js + ");").get<bool>()) {
            if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_s)
                throw std::runtime_error("timed out waiting for " + what + "; page status: " +
                                         script("return document.getElementById('status').textContent;").dump());
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    std::string element(const std::string& css) {
        return session_call("POST", "/element", {{"using", "css selector"}, {"value", css}})[kElement];
    }

private:
    pid_t pid_ = -1;
    int port_ = 0;
    std::unique_ptr<httplib::Client> http_;
    std::string session_;
};

// A mouse gesture at image pixels (x, y) of the page's canvas: button 0 left, 2 right; to_x/to_y
// given: a drag.
Json mouse(Browser& b, double x, double y, int button, double to_x = -1, double to_y = -1) {
    const Json rect = b.script(
        "const r = document.getElementById('image').getBoundingClientRect();"
        "return [r.left, r.top, r.width / window.evsam.width, r.height / window.evsam.height];");
    auto vx = [&](double px) {
        return static_cast<int>(std::lround(rect[0].get<double>() + px * rect[2].get<double>()));
    };
    auto vy = [&](double py) {
        return static_cast<int>(std::lround(rect[1].get<double>() + py * rect[3].get<double>()));
    };
    Json steps = {{{"type", "pointerMove"}, {"duration", 0}, {"origin", "viewport"}, {"x", vx(x)}, {"y", vy(y)}},
                  {{"type", "pointerDown"}, {"button", button}}};
    if (to_x >= 0)
        steps.push_back(
            {{"type", "pointerMove"}, {"duration", 100}, {"origin", "viewport"}, {"x", vx(to_x)}, {"y", vy(to_y)}});
    steps.push_back({{"type", "pointerUp"}, {"button", button}});
    return b.session_call(
        "POST", "/actions",
        {{"actions",
          {{{"type", "pointer"}, {"id", "mouse"}, {"parameters", {{"pointerType", "mouse"}}}, {"actions", steps}}}}});
}

// The mask layer as '0'/'1' per pixel (alpha > 0: masked).
std::string mask_layer(Browser& b) {
    return b.script(
        "const c = document.getElementById('mask'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let s = '';"
        "for (let i = 3; i < d.length; i += 4) s += d[i] > 0 ? '1' : '0'; return s;");
}

TEST(ServeBrowser, ClickAPointAndTheCanvasShowsPredictsMask) {
    if (::access(kDriver, X_OK) != 0 || ::access(kChromium, X_OK) != 0)
        GTEST_SKIP() << "skipped: no " << kDriver << " or " << kChromium
                     << " (apt-get install chromium chromium-driver)";
    evsam_test::ServeProcess srv;
    Browser b;
    const std::string sample = std::string(EVSAM_SOURCE_DIR) + "/examples/data/chelsea.png";
    // 1. load the page
    b.session_call("POST", "/url", {{"url", "http://127.0.0.1:" + std::to_string(srv.port()) + "/"}});
    EXPECT_EQ(b.session_call("GET", "/title").get<std::string>(), "evsam: click to segment");
    // 2. upload the sample through the file input; the page shows a message while it encodes
    b.session_call("POST", "/element/" + b.element("#file") + "/value", {{"text", sample}});
    b.wait_for("window.evsam.imageId !== null || window.evsam.lastError", 60, "the upload");
    ASSERT_EQ(b.script("return window.evsam.lastError;"), Json()) << "the page reported an error";
    ASSERT_EQ(b.script("return [window.evsam.width, window.evsam.height];"), Json({451, 300}));
    // 3. click a point on the cat: (200, 150) in image pixels, through the canvas's on-screen box
    const Json rect = b.script(
        "const r = document.getElementById('image').getBoundingClientRect();"
        "return [r.left, r.top, r.width, r.height];");
    const double sx = rect[2].get<double>() / 451.0, sy = rect[3].get<double>() / 300.0;
    const int vx = static_cast<int>(std::lround(rect[0].get<double>() + 200 * sx));
    const int vy = static_cast<int>(std::lround(rect[1].get<double>() + 150 * sy));
    const Json actions = {{"actions",
                           {{{"type", "pointer"},
                             {"id", "mouse"},
                             {"parameters", {{"pointerType", "mouse"}}},
                             {"actions",
                              {{{"type", "pointerMove"}, {"duration", 0}, {"origin", "viewport"}, {"x", vx}, {"y", vy}},
                               {{"type", "pointerDown"}, {"button", 0}},
                               {{"type", "pointerUp"}, {"button", 0}}}}}}}};
    b.session_call("POST", "/actions", actions);
    // 4. wait for the mask
    b.wait_for("window.evsam.predictions >= 1 && !window.evsam.busy || window.evsam.lastError", 60, "the mask");
    ASSERT_EQ(b.script("return window.evsam.lastError;"), Json());
    const Json pt = b.script("return window.evsam.points;");
    ASSERT_EQ(pt.size(), 1u);
    const double x = pt[0][0], y = pt[0][1];
    EXPECT_NEAR(x, 200, 2);  // where we clicked, in image pixels
    EXPECT_NEAR(y, 150, 2);
    EXPECT_EQ(pt[0][2], 1);
    // 5. the mask layer's pixels (alpha > 0 = masked) against `evsam predict` for that point: one
    //    point asks for 3 masks and the page shows the one with the highest predicted IoU
    const std::string drawn = mask_layer(b);
    char flag[256];
    std::snprintf(flag, sizeof flag, "--point %.17g,%.17g", x, y);
    const std::string out = ::testing::TempDir() + "evsam_browser_";
    auto r = evsam_test::run_evsam("predict --weights " + evsam_test::kTinyWeights + " --config " +
                                   evsam_test::kTinyConfig + " --image " + sample + " " + flag + " --out-masks " + out +
                                   "m.npy --out-iou " + out + "q.npy --out-lowres " + out + "l.npy");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto masks = evsam::npy_load_exact<uint8_t>(out + "m.npy");
    const auto iou = evsam::npy_load_exact<float>(out + "q.npy");
    const int64_t best = std::max_element(iou.data(), iou.data() + 3) - iou.data(), HW = 451 * 300;
    ASSERT_EQ(static_cast<int64_t>(drawn.size()), HW);
    int64_t differ = 0, ones = 0;
    for (int64_t i = 0; i < HW; ++i) {
        const uint8_t want = masks[best * HW + i];
        ones += want;
        differ += (drawn[static_cast<size_t>(i)] == '1') != (want == 1);
    }
    EXPECT_EQ(differ, 0) << "canvas pixels that differ from evsam predict's mask";
    EXPECT_GT(ones, 0);   // a real mask, neither empty ...
    EXPECT_LT(ones, HW);  // ... nor everything
    // 6. a screenshot
    const auto png = evsam_test::from_base64(b.session_call("GET", "/screenshot").get<std::string>());
    ASSERT_GT(png.size(), 1000u);
    const std::string shot = ::testing::TempDir() + "evsam_serve_browser.png";
    evsam::write_file_atomic(shot, png.data(), png.size());
    evsam::Image img = evsam::load_image(shot);
    EXPECT_GT(img.width, 451);
    std::printf("browser: screenshot %s (%lldx%lld); %lld mask pixels, %lld differ\n", shot.c_str(),
                static_cast<long long>(img.width), static_cast<long long>(img.height), static_cast<long long>(ones),
                static_cast<long long>(differ));
    // more of the page: a right click adds a background point, refined by the first answer's
    // low-res logits (as predict --mask-input with that answer's best low-res mask), one mask
    const std::string first = drawn;
    const auto low = evsam::npy_load_exact<float>(out + "l.npy");
    evsam::Tensor<float> best_low({1, 256, 256});
    std::copy(low.data() + best * 256 * 256, low.data() + (best + 1) * 256 * 256, best_low.data());
    evsam::npy_save(out + "in.npy", best_low);
    mouse(b, 100, 250, 2);
    b.wait_for("window.evsam.predictions >= 2 && !window.evsam.busy || window.evsam.lastError", 60, "the second mask");
    const Json pts = b.script("return window.evsam.points;");
    ASSERT_EQ(pts.size(), 2u);
    EXPECT_EQ(pts[1][2], 0);
    std::snprintf(flag, sizeof flag, "--point %.17g,%.17g --point %.17g,%.17g,0", x, y, pts[1][0].get<double>(),
                  pts[1][1].get<double>());
    r = evsam_test::run_evsam("predict --weights " + evsam_test::kTinyWeights + " --config " + evsam_test::kTinyConfig +
                              " --image " + sample + " " + flag + " --single-mask" + " --mask-input " + out +
                              "in.npy --out-masks " + out + "m2.npy");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto m2 = evsam::npy_load_exact<uint8_t>(out + "m2.npy");
    const std::string second = mask_layer(b);
    int64_t differ2 = 0;
    for (int64_t i = 0; i < HW; ++i) differ2 += (second[static_cast<size_t>(i)] == '1') != (m2[i] == 1);
    EXPECT_EQ(differ2, 0) << "after the right click";
    // undo: back to the first point alone, and its mask
    b.session_call("POST", "/element/" + b.element("#undo") + "/click");
    EXPECT_EQ(b.script("return window.evsam.points.length;"), 1);
    EXPECT_TRUE(mask_layer(b) == first) << "undo did not bring the first mask back";
    // a cut-out to download: a PNG data URL
    b.session_call("POST", "/element/" + b.element("#cutout") + "/click");
    const std::string href = b.script("return document.getElementById('cutout').href;");
    EXPECT_EQ(href.rfind("data:image/png;base64,", 0), 0u) << href.substr(0, 40);
    // a drag draws a box
    mouse(b, 60, 20, 0, 380, 290);
    b.wait_for("window.evsam.predictions >= 3 && !window.evsam.busy || window.evsam.lastError", 60, "the box's mask");
    const Json box = b.script("return window.evsam.box;");
    ASSERT_TRUE(box.is_array()) << box;
    EXPECT_NEAR(box[0].get<double>(), 60, 2);
    EXPECT_NEAR(box[3].get<double>(), 290, 2);
    // everything: the records drawn, their number shown
    b.session_call("POST", "/element/" + b.element("#everything") + "/click");
    b.wait_for("/^\\d+ masks\\.$/.test(document.getElementById('status').textContent) || window.evsam.lastError", 120,
               "everything");
    EXPECT_EQ(b.script("return window.evsam.lastError;"), Json());
    // clear: nothing drawn
    b.session_call("POST", "/element/" + b.element("#clear") + "/click");
    EXPECT_TRUE(mask_layer(b).find('1') == std::string::npos) << "clear left a mask";
    EXPECT_EQ(srv.stop(), 0);
}

}  // namespace

}  // namespace test_serve_browser
