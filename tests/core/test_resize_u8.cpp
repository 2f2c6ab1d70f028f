// Tests for the bit-exact uint8 resizes against fixtures made by the real libraries
// (validation/make_resize_fixtures.py -> tests/data/resize):
//   Pillow Image.resize(BICUBIC / BILINEAR)      evsam/core/pil_resize.hpp
//   torchvision Resize(BICUBIC) + CenterCrop     evsam/core/tv_transforms.hpp
//   cv2.resize(INTER_CUBIC)                      evsam/core/cv_resize.hpp
// Every exact case must match to the last bit; a failure names the case, the
// first differing pixel and the number of differing bytes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "evsam/core/cv_resize.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/core/npy.hpp"
#include "evsam/core/pil_resize.hpp"
#include "evsam/core/tv_transforms.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_resize_u8 {

namespace {

using json = nlohmann::json;

const std::string kDir = std::string(EVSAM_TEST_DATA) + "/resize/";

const json& fixtures() {
    static const json j = [] {
        std::ifstream f(kDir + "cases.json");
        if (!f) throw std::runtime_error("cannot open " + kDir + "cases.json");
        return json::parse(f);
    }();
    return j;
}

std::vector<json> cases_of(const std::string& library, const std::string& filter = "") {
    std::vector<json> out;
    for (const json& e : fixtures()["cases"])
        if (e["library"] == library && (filter.empty() || e["filter"] == filter)) out.push_back(e);
    return out;
}

struct Img {
    int64_t h = 0, w = 0, c = 0;
    std::vector<uint8_t> px;  // HWC
};

// A fixture image with c channels: PNG through evsam's reader (RGB; a gray PNG
// comes back with R = G = B, of which channel 0 is kept), .npy for 2 and 4 channels.
Img load(const std::string& name, int64_t c) {
    Img im;
    if (name.size() > 4 && name.substr(name.size() - 4) == ".npy") {
        const evsam::NpyArray a = evsam::npy_load(kDir + name);
        if (a.dtype != "|u1" || a.shape.size() != 3 || a.shape[2] != c)
            throw std::runtime_error(name + ": expected a uint8 (H, W, " + std::to_string(c) + ") array");
        im = Img{a.shape[0], a.shape[1], c, a.bytes};
        return im;
    }
    const evsam::Image rgb = evsam::load_image(kDir + name);
    im.h = rgb.height;
    im.w = rgb.width;
    im.c = c;
    if (c == 3) {
        im.px = rgb.data;
    } else if (c == 1) {
        im.px.resize(static_cast<size_t>(im.h * im.w));
        for (size_t i = 0; i < im.px.size(); ++i) {
            im.px[i] = rgb.data[3 * i];
            if (rgb.data[3 * i + 1] != im.px[i] || rgb.data[3 * i + 2] != im.px[i])
                throw std::runtime_error(name + ": expected a gray PNG");
        }
    } else {
        throw std::runtime_error(name + ": a PNG fixture must have 1 or 3 channels");
    }
    return im;
}

Img input_of(const json& e) {
    Img in = load(e["input"].get<std::string>(), e["C"].get<int64_t>());
    if (in.h != e["H"].get<int64_t>() || in.w != e["W"].get<int64_t>())
        throw std::runtime_error(e["name"].get<std::string>() + ": input size differs from cases.json");
    return in;
}

// got == want byte for byte; otherwise the case, the first differing pixel and the count.
::testing::AssertionResult same_image(const std::string& name, const std::vector<uint8_t>& got, const Img& want) {
    if (got.size() != want.px.size())
        return ::testing::AssertionFailure() << name << ": " << got.size() << " bytes, want " << want.px.size();
    size_t bad = 0, first = 0;
    int max_diff = 0;
    for (size_t i = 0; i < got.size(); ++i)
        if (got[i] != want.px[i]) {
            if (bad++ == 0) first = i;
            max_diff = std::max(max_diff, std::abs(int(got[i]) - int(want.px[i])));
        }
    if (bad == 0) return ::testing::AssertionSuccess();
    const size_t pixel = first / static_cast<size_t>(want.c);
    return ::testing::AssertionFailure() << name << ": " << bad << " of " << got.size() << " bytes differ (max |diff| "
                                         << max_diff << "); first at y=" << pixel / static_cast<size_t>(want.w)
                                         << " x=" << pixel % static_cast<size_t>(want.w)
                                         << " ch=" << first % static_cast<size_t>(want.c) << ": got " << int(got[first])
                                         << ", want " << int(want.px[first]);
}

std::vector<uint8_t> ramp(size_t n, unsigned seed) {
    std::vector<uint8_t> v(n);
    uint32_t s = seed * 2654435761u + 1;
    for (auto& b : v) {
        s = s * 1664525u + 1013904223u;
        b = static_cast<uint8_t>(s >> 24);
    }
    return v;
}

constexpr int64_t kHuge = std::numeric_limits<int64_t>::max();

}  // namespace

TEST(ResizeFixtures, Versions) {
    // Informational: which libraries (and which CPU, for IPP) made the fixtures.
    const json& v = fixtures()["versions"];
    std::printf("fixtures from Pillow %s, torchvision %s, OpenCV %s (%s), %s\n", v["pillow"].get<std::string>().c_str(),
                v["torchvision"].get<std::string>().c_str(), v["opencv"].get<std::string>().c_str(),
                v["ipp"].get<std::string>().c_str(), v["cpu_features"].get<std::string>().c_str());
    EXPECT_GT(fixtures()["cases"].size(), 40u);
}

// ------------------------------------------------------------------ Pillow

// Pillow 13.0 (the fixtures) against PilPassOrder::pillow_13, and the same sizes
// against the other releases' pass orders: where the horizontal-first result differs
// the fixture holds it ("expected_hv", made as two one-axis resizes by Pillow 13);
// Pillow 12.3's rule (H > 100 W) picks the vertical-first result for the 2000x5 image.
static void check_pillow_cases(const std::string& filter, size_t min_cases) {
    const std::vector<json> cs = cases_of("pillow", filter);
    ASSERT_GE(cs.size(), min_cases);
    const evsam::PilFilter f = filter == "bicubic" ? evsam::PilFilter::bicubic : evsam::PilFilter::bilinear;
    size_t order_matters = 0;
    for (const json& e : cs) {
        const std::string name = e["name"];
        const Img in = input_of(e);
        const Img want = load(e["expected"], in.c);
        const int64_t nh = e["new_h"], nw = e["new_w"];
        ASSERT_EQ(want.h, nh) << name;
        ASSERT_EQ(want.w, nw) << name;
        using evsam::PilPassOrder;
        const auto run = [&](PilPassOrder o) {
            return evsam::pil_resize_u8(in.px.data(), in.h, in.w, in.c, nh, nw, f, o);
        };
        EXPECT_TRUE(same_image(name + " (Pillow 13)", run(PilPassOrder::pillow_13), want));
        const Img want_hv = e.contains("expected_hv") ? load(e["expected_hv"], in.c) : want;
        order_matters += e.contains("expected_hv");
        EXPECT_TRUE(same_image(name + " (horizontal first)", run(PilPassOrder::horizontal_first), want_hv));
        const bool tall_rule = in.h > 100 * in.w && nh < in.h && nw != in.w;
        if (!tall_rule) {
            EXPECT_TRUE(same_image(name + " (Pillow 12.3)", run(PilPassOrder::pillow_12_3), want_hv));
        } else {
            ASSERT_TRUE(e["vertical_first_13"].get<bool>()) << name;
            EXPECT_TRUE(same_image(name + " (Pillow 12.3)", run(PilPassOrder::pillow_12_3), want));
        }
        if (filter == "bicubic") {  // the named wrapper is the default order
            EXPECT_EQ(evsam::pil_resize_bicubic_u8(in.px.data(), in.h, in.w, in.c, nh, nw),
                      run(PilPassOrder::horizontal_first));
        } else {
            EXPECT_EQ(evsam::pil_resize_bilinear_u8(in.px.data(), in.h, in.w, in.c, nh, nw),
                      run(PilPassOrder::horizontal_first));
        }
    }
    EXPECT_GE(order_matters, 2u) << "no case where Pillow's pass order changes the bits";
}

TEST(PilResize, BicubicBitExactVsPillow) { check_pillow_cases("bicubic", 20); }

// The bilinear filter through the generalised code (the existing PilResize tests in
// test_preprocess.cpp check the SAM sizes, made by Pillow 9.4): large factors, the
// 2000x5 image and the vertical-first cases.
TEST(PilResize, BilinearBitExactVsPillow) { check_pillow_cases("bilinear", 6); }

TEST(PilResize, BicubicOverloadsAgree) {
    const std::vector<uint8_t> src = ramp(20 * 30 * 3, 1);
    const std::vector<uint8_t> v = evsam::pil_resize_bicubic_u8(src.data(), 20, 30, 3, 7, 45);
    std::vector<uint8_t> d(v.size());
    evsam::pil_resize_bicubic_u8(d.data(), src.data(), 20, 30, 3, 7, 45);
    EXPECT_EQ(d, v);
    evsam::Tensor<uint8_t> t({20, 30, 3});
    std::copy(src.begin(), src.end(), t.data());
    const evsam::Tensor<uint8_t> r = evsam::pil_resize_bicubic_u8(t, 7, 45);
    ASSERT_EQ(r.shape(), (evsam::Shape{7, 45, 3}));
    EXPECT_TRUE(std::equal(v.begin(), v.end(), r.data()));
    EXPECT_EQ(evsam::pil_resize_u8(src.data(), 20, 30, 3, 7, 45, evsam::PilFilter::bicubic), v);
    // The two filters must differ on this image (else the filter argument is ignored).
    EXPECT_NE(evsam::pil_resize_bilinear_u8(src.data(), 20, 30, 3, 7, 45), v);
}

TEST(PilResize, IdentityReturnsInputAndConstantsStayConstant) {
    const std::vector<uint8_t> src = ramp(13 * 17 * 4, 2);
    for (auto f : {evsam::PilFilter::bilinear, evsam::PilFilter::bicubic}) {
        EXPECT_EQ(evsam::pil_resize_u8(src.data(), 13, 17, 4, 13, 17, f), src);
        // Pillow normalises each output pixel's weights to sum 1, so a flat image stays flat
        // (the overshoot of the cubic needs an edge) -- for every value, both directions.
        for (int value : {0, 1, 128, 254, 255}) {
            const std::vector<uint8_t> flat(11 * 9, static_cast<uint8_t>(value));
            for (auto hw : {std::make_pair(3, 40), std::make_pair(29, 2), std::make_pair(1, 1)}) {
                const std::vector<uint8_t> r = evsam::pil_resize_u8(flat.data(), 11, 9, 1, hw.first, hw.second, f);
                for (uint8_t b : r) ASSERT_EQ(b, value) << hw.first << "x" << hw.second;
            }
        }
    }
}

TEST(PilResize, BadSizesThrow) {
    const std::vector<uint8_t> src = ramp(6 * 5 * 3, 3);
    std::vector<uint8_t> dst(1000);
    using evsam::pil_resize_bicubic_u8;
    EXPECT_THROW(pil_resize_bicubic_u8(dst.data(), src.data(), 6, 5, 5, 2, 2), evsam::Error);  // C = 5
    EXPECT_THROW(pil_resize_bicubic_u8(dst.data(), src.data(), 6, 5, 0, 2, 2), evsam::Error);  // C = 0
    EXPECT_THROW(pil_resize_bicubic_u8(src.data(), 6, 5, 3, 0, 4), evsam::Error);
    EXPECT_THROW(pil_resize_bicubic_u8(src.data(), 6, 5, 3, 4, -1), evsam::Error);
    EXPECT_THROW(pil_resize_bicubic_u8(src.data(), 0, 5, 3, 4, 4), evsam::Error);
    EXPECT_THROW(pil_resize_bicubic_u8(src.data(), 6, -5, 3, 4, 4), evsam::Error);
    EXPECT_THROW(pil_resize_bicubic_u8(src.data(), 6, 5, 3, kHuge, kHuge), evsam::Error);
    EXPECT_THROW(pil_resize_bicubic_u8(src.data(), 6, 5, 3, int64_t(1) << 31, 2), evsam::Error);
    EXPECT_THROW(pil_resize_bicubic_u8(src.data(), 6, 5, 3, int64_t(1) << 30, int64_t(1) << 30), evsam::Error);
    EXPECT_THROW(evsam::pil_resize_bilinear_u8(src.data(), kHuge, 5, 3, 4, 4), evsam::Error);
    try {
        pil_resize_bicubic_u8(src.data(), 6, 5, 3, 0, 4);
    } catch (const evsam::Error& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("0x4"), std::string::npos) << e.what();
    }
}

// ------------------------------------------------------------------ torchvision

TEST(TvResizeCrop, ClassifyBitExactVsTorchvision) {
    const std::vector<json> cs = cases_of("torchvision");
    ASSERT_GE(cs.size(), 10u);
    for (const json& e : cs) {
        const std::string name = e["name"];
        const Img in = input_of(e);
        const int64_t R = e["R"];
        const double ratio = e["crop_ratio"];
        // The size torchvision resized to, before the crop.
        const auto hw = evsam::tv_resize_output_size(in.h, in.w, e["resize_to"].get<int64_t>());
        EXPECT_EQ(hw.first, e["resized_h"].get<int64_t>()) << name;
        EXPECT_EQ(hw.second, e["resized_w"].get<int64_t>()) << name;
        EXPECT_EQ(static_cast<int64_t>(std::ceil(static_cast<double>(R) / ratio)), e["resize_to"].get<int64_t>());
        const Img want = load(e["expected"], in.c);
        ASSERT_EQ(want.h, R);
        ASSERT_EQ(want.w, R);
        EXPECT_TRUE(same_image(name, evsam::classify_resize_crop_u8(in.px.data(), in.h, in.w, in.c, R, ratio), want));
    }
}

TEST(TvResizeCrop, ResizeOutputSizeTable) {
    const json& table = fixtures()["size_tables"]["tv_resize"];
    ASSERT_GE(table.size(), 10u);
    for (const json& row : table) {
        const auto hw = evsam::tv_resize_output_size(row[0], row[1], row[2]);
        EXPECT_EQ(hw.first, row[3].get<int64_t>()) << row.dump();
        EXPECT_EQ(hw.second, row[4].get<int64_t>()) << row.dump();
    }
}

TEST(TvResizeCrop, CenterCropRoundsHalfToEvenAndPads) {
    // 6 x 9 image, values = index: crop 3 x 4 -> top = round(1.5) = 2, left = round(2.5) = 2.
    std::vector<uint8_t> src(6 * 9);
    for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i);
    const std::vector<uint8_t> c = evsam::tv_center_crop_u8(src.data(), 6, 9, 1, 3, 4);
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 4; ++x) EXPECT_EQ(c[y * 4 + x], src[(y + 2) * 9 + (x + 2)]) << y << "," << x;
    // crop 2 x 2 of 5 x 5: round(1.5) = 2 on both axes.
    const std::vector<uint8_t> c2 = evsam::tv_center_crop_u8(src.data(), 5, 5, 1, 2, 2);
    EXPECT_EQ(c2[0], src[2 * 5 + 2]);
    // Larger crop: 6 x 9 -> 9 x 12 pads (1, 2) rows and (1, 2) columns with 0.
    const std::vector<uint8_t> p = evsam::tv_center_crop_u8(src.data(), 6, 9, 1, 9, 12);
    for (int y = 0; y < 9; ++y)
        for (int x = 0; x < 12; ++x) {
            const int sy = y - 1, sx = x - 1;
            const uint8_t want = (sy >= 0 && sy < 6 && sx >= 0 && sx < 9) ? src[sy * 9 + sx] : 0;
            EXPECT_EQ(p[y * 12 + x], want) << y << "," << x;
        }
    // Mixed: taller crop, narrower crop: rows padded by (1, 1), columns cropped at round(3.5) = 4.
    const std::vector<uint8_t> m = evsam::tv_center_crop_u8(src.data(), 6, 9, 1, 8, 2);
    EXPECT_EQ(m[0], 0);
    EXPECT_EQ(m[1 * 2 + 0], src[0 * 9 + 4]);
    EXPECT_EQ(m[7 * 2 + 1], 0);
    // The same size is the identity.
    EXPECT_EQ(evsam::tv_center_crop_u8(src.data(), 6, 9, 1, 6, 9), src);
}

TEST(TvResizeCrop, SquareImageOfSizeRIsUnchangedAtCropRatioOne) {
    const std::vector<uint8_t> src = ramp(32 * 32 * 3, 4);
    EXPECT_EQ(evsam::classify_resize_crop_u8(src.data(), 32, 32, 3, 32, 1.0), src);
    evsam::Tensor<uint8_t> t({32, 32, 3});
    std::copy(src.begin(), src.end(), t.data());
    const evsam::Tensor<uint8_t> r = evsam::classify_resize_crop_u8(t, 24, 0.95);
    ASSERT_EQ(r.shape(), (evsam::Shape{24, 24, 3}));
    const std::vector<uint8_t> v = evsam::classify_resize_crop_u8(src.data(), 32, 32, 3, 24, 0.95);
    EXPECT_TRUE(std::equal(v.begin(), v.end(), r.data()));
}

TEST(TvResizeCrop, BadArgumentsThrow) {
    const std::vector<uint8_t> src = ramp(10 * 12 * 3, 5);
    using evsam::classify_resize_crop_u8;
    EXPECT_THROW(classify_resize_crop_u8(src.data(), 10, 12, 3, 0, 0.95), evsam::Error);
    EXPECT_THROW(classify_resize_crop_u8(src.data(), 10, 12, 3, -4, 0.95), evsam::Error);
    EXPECT_THROW(classify_resize_crop_u8(src.data(), 10, 12, 3, 8, 0.0), evsam::Error);
    EXPECT_THROW(classify_resize_crop_u8(src.data(), 10, 12, 3, 8, -1.0), evsam::Error);
    EXPECT_THROW(classify_resize_crop_u8(src.data(), 10, 12, 3, 8, std::nan("")), evsam::Error);
    EXPECT_THROW(classify_resize_crop_u8(src.data(), 10, 12, 3, 8, 1e-300), evsam::Error);
    EXPECT_THROW(classify_resize_crop_u8(src.data(), 10, 12, 3, kHuge, 1.0), evsam::Error);
    EXPECT_THROW(classify_resize_crop_u8(src.data(), 0, 12, 3, 8, 1.0), evsam::Error);
    EXPECT_THROW(classify_resize_crop_u8(src.data(), 10, 12, 7, 8, 1.0), evsam::Error);
    EXPECT_THROW(evsam::tv_resize_output_size(10, 12, 0), evsam::Error);
    EXPECT_THROW(evsam::tv_resize_output_size(1, kHuge, 3), evsam::Error);
    EXPECT_THROW(evsam::tv_center_crop_u8(src.data(), 10, 12, 3, 0, 4), evsam::Error);
    EXPECT_THROW(evsam::tv_center_crop_u8(src.data(), 10, 12, 3, kHuge, kHuge), evsam::Error);
}

// ------------------------------------------------------------------ OpenCV

TEST(CvResize, CubicBitExactVsOpenCV) {
    const std::vector<json> cs = cases_of("opencv");
    ASSERT_GE(cs.size(), 20u);
    for (const json& e : cs) {
        const std::string name = e["name"];
        const Img in = input_of(e);
        const Img want = load(e["expected"], in.c);
        const int64_t nh = e["new_h"], nw = e["new_w"];
        ASSERT_EQ(want.h, nh) << name;
        ASSERT_EQ(want.w, nw) << name;
        EXPECT_TRUE(same_image(name, evsam::cv_resize_cubic_u8(in.px.data(), in.h, in.w, in.c, nh, nw), want));
        if (e.contains("rule") && e["rule"] == "ade20k") {
            const auto hw = evsam::ade20k_eval_size(in.h, in.w, e["crop_size"]);
            EXPECT_EQ(hw, std::make_pair(nh, nw)) << name;
        }
        if (e.contains("rule") && e["rule"] == "cityscapes") {
            EXPECT_EQ(evsam::cityscapes_eval_size(e["crop_size"]), std::make_pair(nh, nw)) << name;
        }
    }
}

// Default cv2 on x86-64 goes through IPP, which is not bit-reproducible (see cv_resize.hpp):
// CvCubicBackend::ipp_like must be within one of it everywhere and equal almost everywhere.
// Cases that IPP does not take (under 4 px on a side, 2 channels) and the identity are exact.
TEST(CvResize, IppLikeMatchesDefaultCv2AlmostEverywhere) {
    size_t total = 0, differ = 0, ipp_vs_opencv = 0;
    for (const json& e : cases_of("opencv")) {
        const std::string name = e["name"];
        const Img in = input_of(e);
        const Img want = load(e.contains("expected_ipp") ? e["expected_ipp"] : e["expected"], in.c);
        const std::vector<uint8_t> got = evsam::cv_resize_cubic_u8(in.px.data(), in.h, in.w, in.c, e["new_h"],
                                                                   e["new_w"], evsam::CvCubicBackend::ipp_like);
        ASSERT_EQ(got.size(), want.px.size()) << name;
        size_t d = 0;
        for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_LE(std::abs(int(got[i]) - int(want.px[i])), 1) << name << " byte " << i;
            d += got[i] != want.px[i];
        }
        if (in.h < 4 || in.w < 4 || in.c == 2 || (in.h == e["new_h"] && in.w == e["new_w"])) {
            EXPECT_TRUE(same_image(name, got, want));
        }
        total += got.size();
        differ += d;
        ipp_vs_opencv += e["ipp_differs"].get<size_t>();
    }
    std::printf("ipp_like vs default cv2: %zu of %zu bytes differ (OpenCV's own code: %zu)\n", differ, total,
                ipp_vs_opencv);
    EXPECT_LE(differ * 10000, total);  // at most 1e-4 (measured: ~1e-5 over 3M pixels)
    EXPECT_GT(ipp_vs_opencv, 1000u);   // the fixtures really hold IPP's output
}

TEST(CvResize, SegSizeRuleTables) {
    for (const json& row : fixtures()["size_tables"]["ade20k"]) {
        const auto hw = evsam::ade20k_eval_size(row[0], row[1], row[2]);
        EXPECT_EQ(hw, std::make_pair(row[3].get<int64_t>(), row[4].get<int64_t>())) << row.dump();
    }
    for (const json& row : fixtures()["size_tables"]["cityscapes"])
        EXPECT_EQ(evsam::cityscapes_eval_size(row[0]), std::make_pair(row[1].get<int64_t>(), row[2].get<int64_t>()));
    EXPECT_EQ(evsam::ade20k_eval_size(375, 500), std::make_pair(int64_t(512), int64_t(704)));
}

TEST(CvResize, OverloadsIdentityAndOnePixel) {
    const std::vector<uint8_t> src = ramp(21 * 19 * 3, 6);
    const std::vector<uint8_t> v = evsam::cv_resize_cubic_u8(src.data(), 21, 19, 3, 40, 7);
    std::vector<uint8_t> d(v.size());
    evsam::cv_resize_cubic_u8(d.data(), src.data(), 21, 19, 3, 40, 7);
    EXPECT_EQ(d, v);
    evsam::Tensor<uint8_t> t({21, 19, 3});
    std::copy(src.begin(), src.end(), t.data());
    const evsam::Tensor<uint8_t> r = evsam::cv_resize_cubic_u8(t, 40, 7);
    ASSERT_EQ(r.shape(), (evsam::Shape{40, 7, 3}));
    EXPECT_TRUE(std::equal(v.begin(), v.end(), r.data()));
    for (auto b : {evsam::CvCubicBackend::opencv, evsam::CvCubicBackend::ipp_like})
        EXPECT_EQ(evsam::cv_resize_cubic_u8(src.data(), 21, 19, 3, 21, 19, b), src);
    // A 1x1 source: every output pixel is that pixel (the taps all clamp to it; the
    // coefficients' rounding error stays far below half a level).
    const uint8_t px[4] = {0, 77, 200, 255};
    const std::vector<uint8_t> one = evsam::cv_resize_cubic_u8(px, 1, 1, 4, 9, 13);
    for (size_t i = 0; i < one.size(); ++i) ASSERT_EQ(one[i], px[i % 4]) << i;
}

TEST(CvResize, BadSizesThrow) {
    const std::vector<uint8_t> src = ramp(6 * 5 * 3, 7);
    std::vector<uint8_t> dst(1000);
    using evsam::cv_resize_cubic_u8;
    EXPECT_THROW(cv_resize_cubic_u8(dst.data(), src.data(), 6, 5, 5, 2, 2), evsam::Error);
    EXPECT_THROW(cv_resize_cubic_u8(dst.data(), src.data(), 6, 5, 0, 2, 2), evsam::Error);
    EXPECT_THROW(cv_resize_cubic_u8(src.data(), 6, 5, 3, 0, 4), evsam::Error);
    EXPECT_THROW(cv_resize_cubic_u8(src.data(), 6, 5, 3, 4, -3), evsam::Error);
    EXPECT_THROW(cv_resize_cubic_u8(src.data(), -6, 5, 3, 4, 4), evsam::Error);
    EXPECT_THROW(cv_resize_cubic_u8(src.data(), 6, 5, 3, kHuge, kHuge), evsam::Error);
    EXPECT_THROW(cv_resize_cubic_u8(src.data(), 6, 5, 3, 2, int64_t(1) << 30), evsam::Error);  // newW * C > INT_MAX
    EXPECT_THROW(cv_resize_cubic_u8(src.data(), 6, 5, 3, int64_t(1) << 31, 1), evsam::Error);
    EXPECT_THROW(evsam::ade20k_eval_size(0, 5), evsam::Error);
    EXPECT_THROW(evsam::ade20k_eval_size(5, 5, -1), evsam::Error);
    EXPECT_THROW(evsam::cityscapes_eval_size(0), evsam::Error);
    try {
        cv_resize_cubic_u8(src.data(), 6, 5, 3, kHuge, kHuge);
    } catch (const evsam::Error& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
    }
}

}  // namespace test_resize_u8
