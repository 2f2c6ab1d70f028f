// Tests for evsam/core/image_io.hpp against Pillow 9.4 (Debian 12, libjpeg-turbo 2.1.5).
// Fixtures: tests/data/io/img/, made by validation/make_io_fixtures.py; each image <f> has
// <f>.rgb.npy = np.asarray(Image.open(f).convert("RGB")).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "evsam/backend/tolerance.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/core/npy.hpp"
#include "temp_dir.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_image_io {

namespace {

namespace fs = std::filesystem;
using evsam::Image;
using evsam::Shape;
using evsam::Tensor;

const std::string kImg = std::string(EVSAM_TEST_DATA) + "/io/img/";

template <class F>
std::string expect_error(F&& f, std::initializer_list<std::string> parts) {
    try {
        f();
    } catch (const evsam::Error& e) {
        std::string msg = e.what();
        EXPECT_EQ(msg.find('\n'), std::string::npos) << "multi-line message: " << msg;
        for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
        return msg;
    } catch (const std::exception& e) {
        ADD_FAILURE() << "expected evsam::Error, got another exception: " << e.what();
        return "";
    }
    ADD_FAILURE() << "expected evsam::Error, nothing was thrown";
    return "";
}

using evsam_test::TempDir;

// Pillow's reference array for a fixture, checked to be (H, W, 3) uint8.
Tensor<uint8_t> reference(const std::string& name, const Image& im) {
    Shape want{im.height, im.width, 3};
    return evsam::npy_load_exact<uint8_t>(kImg + name + ".rgb.npy", &want);
}

struct Diff {
    int max = 0;
    double mean = 0;
};

// |ours - Pillow| over the pixels with x < width - skip_right_cols.
Diff diff_vs_pillow(const std::string& name, int64_t skip_right_cols = 0) {
    Image im = evsam::load_image(kImg + name);
    Tensor<uint8_t> ref = reference(name, im);
    EXPECT_EQ(im.data.size(), static_cast<size_t>(ref.numel()));
    Diff d;
    int64_t n = 0;
    for (int64_t y = 0; y < im.height; ++y)
        for (int64_t x = 0; x < im.width - skip_right_cols; ++x)
            for (int64_t c = 0; c < 3; ++c) {
                size_t i = static_cast<size_t>((y * im.width + x) * 3 + c);
                int v = std::abs(int(im.data[i]) - int(ref[static_cast<int64_t>(i)]));
                d.max = std::max(d.max, v);
                d.mean += v;
                ++n;
            }
    d.mean /= static_cast<double>(n);
    return d;
}

// ------------------------------------------------------------------ decoding vs Pillow
TEST(ImageIO, LosslessFormatsMatchPillowExactly) {
    for (const char* name :
         {"rgb.png", "gray.png", "gray_alpha.png", "rgba.png", "bilevel.png", "palette.png", "palette4.png",
          "palette_trns.png", "gray16.png", "rgb16.png", "gray_alpha16.png", "rgb.bmp", "palette.bmp", "gray.bmp"}) {
        SCOPED_TRACE(name);
        Image im = evsam::load_image(kImg + name);
        Tensor<uint8_t> ref = reference(name, im);
        ASSERT_EQ(im.data.size(), static_cast<size_t>(ref.numel()));
        for (size_t i = 0; i < im.data.size(); ++i)
            ASSERT_EQ(im.data[i], ref[static_cast<int64_t>(i)]) << "at flat index " << i;
    }
}

TEST(ImageIO, ConversionSemantics) {
    Image rgb = evsam::load_image(kImg + "rgb.png");
    EXPECT_EQ(rgb.height, 11);
    EXPECT_EQ(rgb.width, 13);
    // convert("RGB") drops alpha without compositing: rgba.png holds rgb.png's colours (row 0 fully transparent).
    EXPECT_EQ(evsam::load_image(kImg + "rgba.png").data, rgb.data);
    EXPECT_EQ(evsam::load_image(kImg + "gray_alpha.png").data, evsam::load_image(kImg + "gray.png").data);
    EXPECT_EQ(evsam::load_image(kImg + "palette_trns.png").data, evsam::load_image(kImg + "palette4.png").data);
    EXPECT_EQ(evsam::load_image(kImg + "rgb.bmp").data, rgb.data);
    Image gray = evsam::load_image(kImg + "gray.png");
    for (int64_t i = 0; i < gray.height * gray.width; ++i) {
        EXPECT_EQ(gray.data[size_t(3 * i)], gray.data[size_t(3 * i + 1)]);
        EXPECT_EQ(gray.data[size_t(3 * i)], gray.data[size_t(3 * i + 2)]);
    }
    Image bl = evsam::load_image(kImg + "bilevel.png");  // 1-bit: 0 or 255
    for (uint8_t v : bl.data) EXPECT_TRUE(v == 0 || v == 255);
}

TEST(ImageIO, SixteenBitPngs) {
    // 16-bit grayscale: Pillow opens it as mode "I" and convert("RGB") clips to 255; so do we
    // (stb alone would give v >> 8: 0, 0, 0, 1, 3, 128, 255, 255).
    Image g = evsam::load_image(kImg + "gray16.png");
    ASSERT_EQ(g.height, 2);
    ASSERT_EQ(g.width, 4);
    const uint8_t want[8] = {0, 1, 255, 255, 255, 255, 255, 255};  // samples 0 1 255 256 1000 32768 65280 65535
    for (int i = 0; i < 8; ++i)
        for (int c = 0; c < 3; ++c) EXPECT_EQ(g.data[size_t(3 * i + c)], want[i]) << i;
    // 16-bit RGB / gray+alpha: the high byte of each sample, in both stb and Pillow.
    Image c = evsam::load_image(kImg + "rgb16.png");
    for (int i = 0; i < 18; ++i) EXPECT_EQ(c.data[size_t(i)], ((i * 3851 + 77) & 0xffff) >> 8) << i;
    evsam::ImageInfo info = evsam::image_info(kImg + "rgb16.png");
    EXPECT_TRUE(info.is_16bit);
    EXPECT_EQ(info.channels, 3);
    EXPECT_EQ(info.format, "PNG");
}

// stb's JPEG decoder (IDCT, chroma upsampling, YCbCr rounding) is not libjpeg-turbo's.
// Measured max |ours - Pillow| on these fixtures: 4:2:0 = 3 (mean 0.073), 4:4:4 = 2 (mean 0.023),
// grayscale = 1 (mean 0.005); on 36 extra test JPEGs (q75/q95, 9x17..683x512) never above 3
// for 4:2:0 / 4:4:4. Bounds below = measured + 1 level of margin.
TEST(ImageIO, JpegWithinToleranceOfPillow) {
    auto expect_within = [](const Diff& d, evsam::LevelTolerance t, const char* what) {
        EXPECT_LE(d.max, t.max) << what;
        EXPECT_LE(d.mean, t.mean) << what;
    };
    expect_within(diff_vs_pillow("rgb_q95.jpg"), evsam::kTolJpeg420, "4:2:0");
    expect_within(diff_vs_pillow("rgb_q95_444.jpg"), evsam::kTolJpeg444, "4:4:4");
    expect_within(diff_vs_pillow("gray_q95.jpg"), evsam::kTolJpegGray, "grayscale");
    expect_within(diff_vs_pillow("rgb_q95_422.jpg", /*skip_right_cols=*/2), evsam::kTolJpeg422Interior,
                  "4:2:2 interior");
    expect_within(diff_vs_pillow("rgb_q95_422.jpg"), evsam::kTolJpeg422, "4:2:2");
    Image im = evsam::load_image(kImg + "rgb_q95.jpg");
    EXPECT_EQ(im.height, 37);
    EXPECT_EQ(im.width, 45);
}

// ------------------------------------------------------------------ refused images
TEST(ImageIO, BrokenFiles) {
    expect_error([] { evsam::load_image(kImg + "bad_empty.png"); }, {"bad_empty.png", "empty file"});
    expect_error([] { evsam::load_image(kImg + "bad_text.png"); },
                 {"bad_text.png", "not a PNG, JPEG or BMP image", "(unknown image type)"});
    expect_error([] { evsam::load_image(kImg + "bad_truncated.png"); },
                 {"bad_truncated.png", "cannot decode PNG (outofdata)"});
    expect_error([] { evsam::load_image(kImg + "bad_truncated.jpg"); },
                 {"bad_truncated.jpg", "cannot decode JPEG (expected marker)"});
    expect_error([] { evsam::load_image(kImg + "bad_truncated.bmp"); },
                 {"bad_truncated.bmp", "truncated BMP", "needs 494 bytes, file has 454 bytes"});
    expect_error([] { evsam::load_image(kImg + "missing.png"); }, {"file not found", "missing.png"});
    expect_error([] { evsam::load_image(kImg); }, {"is a directory"});
    expect_error([] { evsam::load_image_from_memory(nullptr, 0, "mem"); }, {"mem: empty file"});
    std::vector<uint8_t> bmp = evsam::read_file(kImg + "rgb.bmp");
    bmp[28] = 2;  // 2-bit: Pillow reads it, stb would decode it as 8-bit
    expect_error([&] { evsam::load_image_from_memory(bmp.data(), bmp.size(), "b.bmp"); },
                 {"b.bmp: unsupported BMP bit depth 2"});
    bmp[28] = 24;
    for (int k = 30; k < 34; ++k) bmp[size_t(k)] = 0xFF;  // compression -1: stb decodes it as uncompressed
    bmp[24] = 0x10;  // height (int32 at 22) 11 -> 0x0010000B = 1048587 rows, almost all missing
    expect_error([&] { evsam::load_image_from_memory(bmp.data(), bmp.size(), "c.bmp"); },
                 {"c.bmp: truncated BMP", "pixel data needs"});
    const uint8_t sig_only[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    expect_error([&] { evsam::load_image_from_memory(sig_only, sizeof sig_only, "sig"); },
                 {"sig: corrupt or unsupported PNG header"});
    // Every prefix of a valid file is refused (the last byte of a JPEG is its EOI marker). PNG:
    // stb accepts a file missing only the 4-byte CRC of IEND (Pillow accepts even no IEND).
    for (const char* name : {"rgb.png", "palette.png", "rgb_q95.jpg", "rgb.bmp", "palette.bmp", "gray_q95.jpg"}) {
        std::vector<uint8_t> full = evsam::read_file(kImg + name);
        size_t tail_ok = std::string(name).find(".png") != std::string::npos ? 4 : 0;
        for (size_t n = 0; n + tail_ok < full.size(); ++n)
            EXPECT_THROW(evsam::load_image_from_memory(full.data(), n, name), evsam::Error) << name << " cut at " << n;
    }
}

TEST(ImageIO, HugeImagesRefusedBeforeDecoding) {
    auto t0 = std::chrono::steady_clock::now();
    // PNG whose IHDR (valid CRC) claims 100000 x 100000 and which has no pixel data at all.
    expect_error([] { evsam::load_image(kImg + "bad_huge_ihdr.png"); },
                 {"bad_huge_ihdr.png", "100000x100000 = 10000000000 pixels", "above the limit of 178956970"});
    // JPEG SOF / BMP header claiming 20000x10000 and 30000x30000: the header itself is valid,
    // so image_info reports the size; decoding is refused before stb allocates anything.
    evsam::ImageInfo info = evsam::image_info(kImg + "bad_huge_sof.jpg");
    EXPECT_EQ(info.width, 20000);
    EXPECT_EQ(info.height, 10000);
    EXPECT_EQ(info.format, "JPEG");
    expect_error([] { evsam::load_image(kImg + "bad_huge_sof.jpg"); },
                 {"bad_huge_sof.jpg", "20000x10000 = 200000000 pixels", "above the limit"});
    expect_error([] { evsam::load_image(kImg + "bad_huge.bmp"); }, {"bad_huge.bmp", "30000x30000", "above the limit"});
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(secs, 1.0);  // decoding 2e8 pixels would take seconds and ~600 MB
    EXPECT_EQ(evsam::kMaxImagePixels, 178956970);
}

// Headers claiming far more pixels than the file could hold are refused before stb
// allocates the image and decodes zeros (a DoS guard; every complete file passes).
TEST(ImageIO, TooSmallForHeaderSize) {
    std::vector<uint8_t> jpg = evsam::read_file(kImg + "rgb_q95.jpg");
    size_t sof = 2;
    while (sof + 1 < jpg.size() && !(jpg[sof] == 0xFF && jpg[sof + 1] == 0xC0)) ++sof;
    ASSERT_LT(sof + 9, jpg.size());
    jpg[sof + 5] = 0x0F;  // height 4000 (0x0FA0), width 4000: 250000 blocks need >= 15625 bytes
    jpg[sof + 6] = 0xA0;
    jpg[sof + 7] = 0x0F;
    jpg[sof + 8] = 0xA0;
    EXPECT_EQ(evsam::image_info_from_memory(jpg.data(), jpg.size(), "j").width, 4000);
    expect_error([&] { evsam::load_image_from_memory(jpg.data(), jpg.size(), "big.jpg"); },
                 {"big.jpg: truncated or corrupt JPEG", "4000x4000", "at least 15625 needed"});

    std::vector<uint8_t> png = evsam::read_file(kImg + "rgb.png");
    png[18] = 0x27;  // IHDR width 10000 (0x2710), height 10000; stb does not check CRCs
    png[19] = 0x10;
    png[22] = 0x27;
    png[23] = 0x10;
    expect_error([&] { evsam::load_image_from_memory(png.data(), png.size(), "big.png"); },
                 {"big.png: truncated or corrupt PNG", "10000x10000"});
}

// A zero-length IDAT before the real one (legal, carries nothing) decodes like the original.
TEST(ImageIO, EmptyLeadingIdatChunk) {
    std::vector<uint8_t> png = evsam::read_file(kImg + "rgb.png");
    size_t idat = 8;
    while (std::string(png.begin() + static_cast<std::ptrdiff_t>(idat) + 4,
                       png.begin() + static_cast<std::ptrdiff_t>(idat) + 8) != "IDAT")
        idat +=
            12 + (size_t(png[idat]) << 24 | size_t(png[idat + 1]) << 16 | size_t(png[idat + 2]) << 8 | png[idat + 3]);
    const uint8_t empty_idat[12] = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xAF, 0x06, 0x1E};  // CRC of "IDAT"
    png.insert(png.begin() + static_cast<std::ptrdiff_t>(idat), empty_idat, empty_idat + 12);
    EXPECT_EQ(evsam::load_image_from_memory(png.data(), png.size(), "e.png").data,
              evsam::load_image(kImg + "rgb.png").data);
}

// Random corruptions of valid files: an Image or an evsam::Error, never a crash or another exception.
TEST(ImageIO, MutationsNeverCrash) {
    std::mt19937 rng(7);
    for (const char* name : {"rgb.png", "palette.png", "rgb_q95.jpg", "rgb.bmp", "palette.bmp"}) {
        const std::vector<uint8_t> full = evsam::read_file(kImg + name);
        int ok = 0;
        for (int iter = 0; iter < 400; ++iter) {
            std::vector<uint8_t> m = full;
            int flips = 1 + static_cast<int>(rng() % 8);
            for (int k = 0; k < flips; ++k) m[rng() % m.size()] = static_cast<uint8_t>(rng());
            try {
                Image im = evsam::load_image_from_memory(m.data(), m.size(), name);
                EXPECT_EQ(im.data.size(), static_cast<size_t>(im.height * im.width * 3));
                ++ok;
            } catch (const evsam::Error&) {
            }
        }
        EXPECT_GT(ok, 0) << name;  // some corruptions (e.g. in pixel data) still decode
    }
}

// ------------------------------------------------------------------ writing
TEST(ImageIO, SavePngRoundTrip) {
    TempDir dir;
    std::mt19937 rng(3);
    const int64_t H = 7, W = 9;
    for (int64_t C = 1; C <= 4; ++C) {
        std::vector<uint8_t> px(static_cast<size_t>(H * W * C));
        for (auto& v : px) v = static_cast<uint8_t>(rng());
        std::string p = dir / ("c" + std::to_string(C) + ".png");
        evsam::save_png(p, px.data(), H, W, C);
        evsam::ImageInfo info = evsam::image_info(p);
        EXPECT_EQ(info.channels, C);
        EXPECT_EQ(info.height, H);
        EXPECT_EQ(info.width, W);
        Image back = evsam::load_image(p);
        ASSERT_EQ(back.height, H);
        ASSERT_EQ(back.width, W);
        for (int64_t i = 0; i < H * W; ++i)
            for (int64_t c = 0; c < 3; ++c) {
                int64_t src = C >= 3 ? c : 0;  // gray (+alpha) is replicated, alpha dropped
                ASSERT_EQ(back.data[size_t(i * 3 + c)], px[size_t(i * C + src)]) << "C=" << C << " i=" << i;
            }
    }
    Image rgb = evsam::load_image(kImg + "rgb.png");
    evsam::save_png(dir / "copy.png", rgb);
    EXPECT_EQ(evsam::load_image(dir / "copy.png").data, rgb.data);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), {}), 5);  // no temp files left
}

TEST(ImageIO, SavePngErrors) {
    TempDir dir;
    std::vector<uint8_t> px(12, 7);
    expect_error([&] { evsam::save_png(dir / "nodir/x.png", px.data(), 2, 2, 3); }, {"nodir/x.png", "does not exist"});
    expect_error([&] { evsam::save_png(dir / "x.png", px.data(), 2, 2, 5); }, {"1 to 4 channels, got 5"});
    expect_error([&] { evsam::save_png(dir / "x.png", px.data(), 0, 2, 3); }, {"empty image"});
    expect_error([&] { evsam::save_png(dir / "x.png", nullptr, 2, 2, 3); }, {"null pixel data"});
    expect_error([&] { evsam::save_png(dir / "x.png", px.data(), 100000, 100000, 3); }, {"too large"});
    Image bad;
    bad.height = 2;
    bad.width = 2;
    expect_error([&] { evsam::save_png(dir / "x.png", bad); }, {"does not match"});
    EXPECT_TRUE(fs::is_empty(dir.path));
}

TEST(ImageIO, SwapRedBlue) {
    Image im = evsam::load_image(kImg + "rgb.png");
    Image bgr = evsam::rgb_bgr_swapped(im);
    for (int64_t y = 0; y < im.height; ++y)
        for (int64_t x = 0; x < im.width; ++x) {
            EXPECT_EQ(bgr.at(y, x, 0), im.at(y, x, 2));
            EXPECT_EQ(bgr.at(y, x, 1), im.at(y, x, 1));
            EXPECT_EQ(bgr.at(y, x, 2), im.at(y, x, 0));
        }
    EXPECT_EQ(evsam::rgb_bgr_swapped(bgr).data, im.data);
    uint8_t rgba[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    evsam::swap_red_blue(rgba, 2, 4);
    EXPECT_EQ(rgba[0], 3);
    EXPECT_EQ(rgba[2], 1);
    EXPECT_EQ(rgba[3], 4);
    EXPECT_EQ(rgba[4], 7);
    expect_error([&] { evsam::swap_red_blue(rgba, 2, 2); }, {"at least 3 channels"});
}

// declared_image_size: the size a header declares, before any decoder (evsam serve's upload limit)
TEST(ImageIO, DeclaredSizeOfPngAndBmpHeaders) {
    uint8_t png[24] = {0x89, 'P', 'N', 'G', 13, 10, 26,   10,   0,    0,    0,    13,
                       'I',  'H', 'D', 'R', 0,  0,  0x4e, 0x20, 0x7f, 0xff, 0xff, 0xff};
    EXPECT_EQ(evsam::declared_image_size(png, 24), std::make_pair(int64_t(20000), int64_t(0x7fffffff)));
    EXPECT_EQ(evsam::declared_image_size(png, 23), std::make_pair(int64_t(0), int64_t(0)));  // too short: not read
    uint8_t bmp[26] = {'B', 'M'};
    bmp[18] = 0x10, bmp[19] = 0x27;                                  // width 10000
    bmp[22] = 0x18, bmp[23] = 0xfc, bmp[24] = 0xff, bmp[25] = 0xff;  // height -1000: top-down
    EXPECT_EQ(evsam::declared_image_size(bmp, 26), std::make_pair(int64_t(10000), int64_t(1000)));
    const uint8_t jpeg[4] = {0xff, 0xd8, 0xff, 0xe0};
    EXPECT_EQ(evsam::declared_image_size(jpeg, 4), std::make_pair(int64_t(0), int64_t(0)));
}

}  // namespace

}  // namespace test_image_io
