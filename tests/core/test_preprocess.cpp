// Tests for evsam/core/pil_resize.hpp and evsam/core/preprocess.hpp against
// fixtures from validation/make_preprocess_fixtures.py (tests/data/preprocess):
// Pillow's bilinear resize bit for bit, upstream EfficientViT-SAM's
// SamResize -> ToTensor -> Normalize -> SamPad bit for bit, and
// get_preprocess_shape on a table of upstream values.
//
// PNGs are decoded with stb directly and .npy files with a tiny local reader so
// that this test does not depend on evsam's own image/npy loaders.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "evsam/backend/tolerance.hpp"
#include "evsam/core/pil_resize.hpp"
#include "evsam/core/preprocess.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_preprocess {

namespace {

using json = nlohmann::json;

const std::string kDir = std::string(EVSAM_TEST_DATA) + "/preprocess/";

const json& cases() {
    static const json j = [] {
        std::ifstream f(kDir + "cases.json");
        if (!f) throw std::runtime_error("cannot open " + kDir + "cases.json");
        return json::parse(f);
    }();
    return j;
}

struct Image {
    int64_t h = 0, w = 0, c = 0;
    std::vector<uint8_t> px;  // HWC
};

// A PNG with its own channel count (stb does not convert when req_comp is 0).
Image load_png(const std::string& name) {
    int w = 0, h = 0, c = 0;
    std::unique_ptr<stbi_uc, void (*)(void*)> p(stbi_load((kDir + name).c_str(), &w, &h, &c, 0), stbi_image_free);
    if (!p) throw std::runtime_error("cannot decode " + name + ": " + stbi_failure_reason());
    Image im{h, w, c, {}};
    im.px.assign(p.get(), p.get() + static_cast<size_t>(h) * w * c);
    return im;
}

// Minimal .npy reader: little-endian float32, C order, format version 1 or 2.
std::vector<float> load_npy_f32(const std::string& name, std::vector<int64_t>& shape) {
    std::ifstream f(kDir + name, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open " + name);
    char magic[8];
    f.read(magic, 8);
    if (std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error(name + ": not a .npy file");
    uint32_t hlen = 0;
    if (magic[6] == 1) {
        unsigned char b[2];
        f.read(reinterpret_cast<char*>(b), 2);
        hlen = b[0] | (b[1] << 8);
    } else {
        unsigned char b[4];
        f.read(reinterpret_cast<char*>(b), 4);
        hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
    }
    std::string header(hlen, '\0');
    f.read(&header[0], hlen);
    if (header.find("'descr': '<f4'") == std::string::npos ||
        header.find("'fortran_order': False") == std::string::npos)
        throw std::runtime_error(name + ": expected little-endian float32 in C order, header " + header);
    const size_t lp = header.find('(', header.find("'shape'")), rp = header.find(')', lp);
    std::stringstream ss(header.substr(lp + 1, rp - lp - 1));
    shape.clear();
    int64_t n = 1;
    for (std::string tok; std::getline(ss, tok, ',');) {
        if (tok.find_first_not_of(' ') == std::string::npos) continue;
        shape.push_back(std::stoll(tok));
        n *= shape.back();
    }
    std::vector<float> data(static_cast<size_t>(n));
    f.read(reinterpret_cast<char*>(data.data()), n * 4);
    if (!f) throw std::runtime_error(name + ": truncated");
    return data;
}

// Mirror of procedural() in validation/make_preprocess_fixtures.py.
Image procedural_image(int64_t h, int64_t w, int64_t c, int64_t seed) {
    Image im{h, w, c, std::vector<uint8_t>(static_cast<size_t>(h * w * c))};
    for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
            const uint32_t gx = static_cast<uint32_t>(x * 255 / std::max<int64_t>(w - 1, 1));
            const uint32_t gy = static_cast<uint32_t>(y * 255 / std::max<int64_t>(h - 1, 1));
            const uint32_t grads[4] = {gx, gy, (gx + gy) / 2, 255 - gx};
            const uint32_t edge = ((x / 37 + y / 23) % 2 == 0) ? 255 : 0;
            for (int64_t ch = 0; ch < c; ++ch) {
                uint32_t v = static_cast<uint32_t>(x) * 0x9E3779B1u + static_cast<uint32_t>(y) * 0x85EBCA77u +
                             static_cast<uint32_t>(ch + 4 * seed) * 0xC2B2AE3Du;
                v ^= v >> 15;
                v *= 0x2C1B3C6Du;
                v ^= v >> 12;
                im.px[static_cast<size_t>((y * w + x) * c + ch)] =
                    static_cast<uint8_t>((2 * grads[ch] + edge + (v & 255u)) / 4);
            }
        }
    return im;
}

std::string fnv1a64(const uint8_t* p, size_t n) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 0x100000001B3ull;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

uint32_t float_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// The input image of a pipeline case (PNG or procedural).
Image pipeline_input(const json& e) {
    if (e.contains("input_png")) return load_png(e["input_png"].get<std::string>());
    return procedural_image(e["H"].get<int64_t>(), e["W"].get<int64_t>(), 3, e["procedural_seed"].get<int64_t>());
}

// Compare two uint8 images, reporting the first differing element.
::testing::AssertionResult same_bytes(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, int64_t w,
                                      int64_t c) {
    if (got.size() != want.size())
        return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < got.size(); ++i)
        if (got[i] != want[i] && bad++ == 0) first = i;
    if (bad == 0) return ::testing::AssertionSuccess();
    const size_t px = first / static_cast<size_t>(c);
    return ::testing::AssertionFailure() << bad << " bytes differ; first at y=" << px / static_cast<size_t>(w)
                                         << " x=" << px % static_cast<size_t>(w) << " ch=" << first % c << ": got "
                                         << int(got[first]) << ", want " << int(want[first]);
}

}  // namespace

TEST(Preprocess, FixtureVersions) {
    // Informational: which Pillow / torchvision produced the fixtures.
    const auto& v = cases()["versions"];
    std::printf("fixtures from Pillow %s, torchvision %s, torch %s\n", v["pillow"].get<std::string>().c_str(),
                v["torchvision"].get<std::string>().c_str(), v["torch"].get<std::string>().c_str());
    EXPECT_FALSE(cases()["pipeline"].empty());
    EXPECT_FALSE(cases()["resize"].empty());
}

TEST(Preprocess, ProceduralGeneratorMatchesPython) {
    int checked = 0;
    for (const auto& e : cases()["resize"]) {
        const Image in = procedural_image(e["H"], e["W"], e["C"], e["procedural_seed"]);
        EXPECT_EQ(fnv1a64(in.px.data(), in.px.size()), e["input_fnv1a64"].get<std::string>()) << e["name"];
        ++checked;
    }
    for (const auto& e : cases()["pipeline"]) {
        if (!e.contains("input_fnv1a64")) continue;
        const Image in = pipeline_input(e);
        EXPECT_EQ(fnv1a64(in.px.data(), in.px.size()), e["input_fnv1a64"].get<std::string>()) << e["name"];
        ++checked;
    }
    EXPECT_GT(checked, 10);
}

// Resize-only cases: evsam::pil_resize_bilinear_u8 == PIL Image.resize(BILINEAR), bit for bit.
TEST(PilResize, BitExactVsPillow) {
    for (const auto& e : cases()["resize"]) {
        SCOPED_TRACE(e["name"].get<std::string>());
        const int64_t C = e["C"], nh = e["new_h"], nw = e["new_w"];
        const Image in = procedural_image(e["H"], e["W"], C, e["procedural_seed"]);
        const Image want = load_png(e["expected_png"]);
        ASSERT_EQ(want.h, nh);
        ASSERT_EQ(want.w, nw);
        ASSERT_EQ(want.c, C);
        const std::vector<uint8_t> got = evsam::pil_resize_bilinear_u8(in.px.data(), in.h, in.w, C, nh, nw);
        EXPECT_TRUE(same_bytes(got, want.px, nw, C));
    }
}

TEST(PilResize, TensorOverloadAndErrors) {
    const Image in = procedural_image(20, 30, 3, 5);
    evsam::Tensor<uint8_t> t({20, 30, 3});
    std::copy(in.px.begin(), in.px.end(), t.data());
    const evsam::Tensor<uint8_t> r = evsam::pil_resize_bilinear_u8(t, 7, 11);
    ASSERT_EQ(r.shape(), (evsam::Shape{7, 11, 3}));
    const std::vector<uint8_t> v = evsam::pil_resize_bilinear_u8(in.px.data(), 20, 30, 3, 7, 11);
    EXPECT_TRUE(std::equal(v.begin(), v.end(), r.data()));

    std::vector<uint8_t> dst(100);
    EXPECT_THROW(evsam::pil_resize_bilinear_u8(dst.data(), in.px.data(), 20, 6, 5, 2, 2), evsam::Error);  // C = 5
    EXPECT_THROW(evsam::pil_resize_bilinear_u8(in.px.data(), 20, 30, 3, 0, 4), evsam::Error);
    EXPECT_THROW(evsam::pil_resize_bilinear_u8(in.px.data(), 20, 30, 3, 4, 0), evsam::Error);
}

TEST(PilResize, Pixel1x1UpscaleIsConstant) {
    const uint8_t px[3] = {7, 128, 255};
    const std::vector<uint8_t> r = evsam::pil_resize_bilinear_u8(px, 1, 1, 3, 9, 4);
    for (size_t i = 0; i < r.size(); ++i) EXPECT_EQ(r[i], px[i % 3]);
}

// get_preprocess_shape against upstream SamResize.get_preprocess_shape (== ResizeLongestSide's).
TEST(Preprocess, GetPreprocessShapeTable) {
    const auto& table = cases()["preprocess_shape"];
    ASSERT_GT(table.size(), 300u);
    for (const auto& e : table) {
        const auto [nh, nw] = evsam::get_preprocess_shape(e["h"], e["w"], e["long_side"]);
        EXPECT_EQ(nh, e["new_h"].get<int64_t>()) << e.dump();
        EXPECT_EQ(nw, e["new_w"].get<int64_t>()) << e.dump();
        if (e["long_side"] == 1024) {
            const auto [ih, iw] = evsam::input_size_1024(e["h"], e["w"]);
            EXPECT_EQ(ih, nh);
            EXPECT_EQ(iw, nw);
        }
    }
}

// ToTensor + Normalize: our float32 table == upstream's, bit for bit.
TEST(Preprocess, NormalizeTableBitExact) {
    std::vector<int64_t> shape;
    const std::vector<float> want = load_npy_f32(cases()["norm_table"], shape);
    ASSERT_EQ(shape, (std::vector<int64_t>{3, 256}));
    const auto& table = evsam::sam_normalize_table();
    for (int c = 0; c < 3; ++c)
        for (int v = 0; v < 256; ++v) {
            EXPECT_EQ(float_bits(table[c][v]), float_bits(want[static_cast<size_t>(c * 256 + v)]))
                << "c=" << c << " v=" << v << ": " << table[c][v] << " vs " << want[static_cast<size_t>(c * 256 + v)];
            EXPECT_EQ(float_bits(evsam::sam_normalize_value(c, static_cast<uint8_t>(v))), float_bits(table[c][v]));
        }
}

// SamResize on every pipeline case: bit-exact vs upstream (PNG or FNV-1a hash),
// and untouched when the long side is already R.
TEST(Preprocess, SamResizeMatchesUpstream) {
    for (const auto& e : cases()["pipeline"]) {
        SCOPED_TRACE(e["name"].get<std::string>());
        const int64_t R = e["R"], H = e["H"], W = e["W"];
        const Image in = pipeline_input(e);
        ASSERT_EQ(in.h, H);
        ASSERT_EQ(in.w, W);
        ASSERT_EQ(in.c, 3);
        const evsam::Tensor<uint8_t> rs = evsam::sam_resize(in.px.data(), H, W, R);
        ASSERT_EQ(rs.shape(), (evsam::Shape{e["resized_h"], e["resized_w"], 3}));
        const std::vector<uint8_t> got(rs.begin(), rs.end());
        if (e["resize_skipped"].get<bool>()) {
            EXPECT_EQ(std::max(H, W), R);
            EXPECT_TRUE(same_bytes(got, in.px, W, 3));  // no resize at all
        }
        if (e.contains("resized_png")) {
            const Image want = load_png(e["resized_png"]);
            ASSERT_EQ(want.c, 3);
            EXPECT_TRUE(same_bytes(got, want.px, rs.size(1), 3));
        } else {
            EXPECT_EQ(fnv1a64(got.data(), got.size()), e["resized_fnv1a64"].get<std::string>());
        }
    }
}

// preprocess_image<float> on every pipeline case == upstream's tensor, which the
// fixture script verified to be norm_table[c][resized] inside and +0.0 outside.
TEST(Preprocess, TensorMatchesUpstreamAllCases) {
    std::vector<int64_t> shape;
    const std::vector<float> table = load_npy_f32(cases()["norm_table"], shape);
    for (const auto& e : cases()["pipeline"]) {
        SCOPED_TRACE(e["name"].get<std::string>());
        const int64_t R = e["R"], h = e["resized_h"], w = e["resized_w"];
        const Image in = pipeline_input(e);
        // expected resized pixels: the stored upstream PNG, or (hash-checked above) our own resize
        std::vector<uint8_t> rs;
        if (e.contains("resized_png")) {
            rs = load_png(e["resized_png"]).px;
        } else {
            const auto t = evsam::sam_resize(in.px.data(), in.h, in.w, R);
            rs.assign(t.begin(), t.end());
            ASSERT_EQ(fnv1a64(rs.data(), rs.size()), e["resized_fnv1a64"].get<std::string>());
        }
        const evsam::Tensor<float> got = evsam::preprocess_image<float>(in.px.data(), in.h, in.w, R);
        ASSERT_EQ(got.shape(), (evsam::Shape{1, 3, R, R}));
        int64_t bad = 0;
        double maxabs = 0;
        for (int64_t c = 0; c < 3; ++c)
            for (int64_t y = 0; y < R; ++y)
                for (int64_t x = 0; x < R; ++x) {
                    const float want =
                        (y < h && x < w)
                            ? table[static_cast<size_t>(c * 256 + rs[static_cast<size_t>((y * w + x) * 3 + c)])]
                            : 0.0f;  // SamPad fill=0 after Normalize
                    const float g = got.at(0, c, y, x);
                    if (float_bits(g) != float_bits(want)) {
                        ++bad;
                        maxabs = std::max(maxabs, std::fabs(double(g) - double(want)));
                    }
                }
        EXPECT_EQ(bad, 0) << "max abs diff " << maxabs;
    }
}

// One whole upstream tensor (EfficientViTSam.transform(image).unsqueeze(0)) end to end.
TEST(Preprocess, FullTensorEndToEnd) {
    int found = 0;
    for (const auto& e : cases()["pipeline"]) {
        if (!e.contains("full_npy")) continue;
        ++found;
        SCOPED_TRACE(e["name"].get<std::string>());
        const int64_t R = e["R"];
        std::vector<int64_t> shape;
        const std::vector<float> want = load_npy_f32(e["full_npy"], shape);
        ASSERT_EQ(shape, (std::vector<int64_t>{1, 3, R, R}));
        const Image in = pipeline_input(e);
        const evsam::Tensor<float> got = evsam::preprocess_image<float>(in.px.data(), in.h, in.w, R);
        ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
        double maxabs = 0;
        int64_t nbitdiff = 0;
        for (int64_t i = 0; i < got.numel(); ++i) {
            maxabs = std::max(maxabs, std::fabs(double(got[i]) - double(want[static_cast<size_t>(i)])));
            nbitdiff += float_bits(got[i]) != float_bits(want[static_cast<size_t>(i)]);
        }
        EXPECT_LE(maxabs, evsam::kTolPreprocess.atol);
        EXPECT_EQ(nbitdiff, 0) << "max abs " << maxabs;  // expected bit-identical
        // padding really is zero, not the normalised mean
        EXPECT_EQ(got.at(0, 0, R - 1, R - 1), 0.0f);
        EXPECT_EQ(got.at(0, 2, R - 1, 0), 0.0f);
    }
    EXPECT_EQ(found, 1);
}

// preprocess_image<double> is the float32 result widened (upstream computes in float32).
TEST(Preprocess, DoubleIsFloatWidened) {
    for (const char* name : {"small_45x61_r512", "port_777x517_r512"}) {
        const json* ep = nullptr;
        for (const auto& e : cases()["pipeline"])
            if (e["name"] == name) ep = &e;
        ASSERT_NE(ep, nullptr) << name;
        const Image in = pipeline_input(*ep);
        const int64_t R = (*ep)["R"];
        const auto f = evsam::preprocess_image<float>(in.px.data(), in.h, in.w, R);
        const auto d = evsam::preprocess_image<double>(in.px.data(), in.h, in.w, R);
        ASSERT_EQ(d.shape(), f.shape());
        for (int64_t i = 0; i < f.numel(); ++i) ASSERT_EQ(d[i], static_cast<double>(f[i])) << name << " i=" << i;

        // Tensor overload gives the same
        evsam::Tensor<uint8_t> t({in.h, in.w, 3});
        std::copy(in.px.begin(), in.px.end(), t.data());
        const auto f2 = evsam::preprocess_image<float>(t, R);
        ASSERT_EQ(f2.shape(), f.shape());
        EXPECT_TRUE(std::equal(f.begin(), f.end(), f2.begin()));
    }
}

// A long side of exactly R skips the resize: the tensor is the normalised input itself.
TEST(Preprocess, NoResizeWhenLongSideIsR) {
    const Image in = procedural_image(300, 512, 3, 17);
    const auto t = evsam::preprocess_image<float>(in.px.data(), 300, 512, 512);
    const auto& tab = evsam::sam_normalize_table();
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < 512; ++y)
            for (int64_t x = 0; x < 512; ++x) {
                const float want =
                    y < 300 ? tab[static_cast<size_t>(c)][in.px[static_cast<size_t>((y * 512 + x) * 3 + c)]] : 0.0f;
                ASSERT_EQ(float_bits(t.at(0, c, y, x)), float_bits(want)) << c << " " << y << " " << x;
            }
}

// Upstream raises (PIL "height and width must be > 0") when a side rounds to 0.
TEST(Preprocess, ZeroSideRaisesLikeUpstream) {
    for (const auto& e : cases()["errors"]) {
        SCOPED_TRACE(e["name"].get<std::string>());
        const int64_t R = e["R"], H = e["H"], W = e["W"];
        const auto [nh, nw] = evsam::get_preprocess_shape(H, W, R);
        EXPECT_EQ(nh, e["preprocess_shape"][0].get<int64_t>());
        EXPECT_EQ(nw, e["preprocess_shape"][1].get<int64_t>());
        const Image in = procedural_image(H, W, 3, e["procedural_seed"]);
        EXPECT_THROW(evsam::preprocess_image<float>(in.px.data(), H, W, R), evsam::Error);
    }
    EXPECT_THROW(evsam::get_preprocess_shape(0, 5, 1024), evsam::Error);
}

}  // namespace test_preprocess
