// evsam: image files, decoded with stb_image and encoded with stb_image_write
// (Debian libstb-dev, <stb/stb_image.h>).
//
// load_image(path) decodes PNG, JPEG or BMP into an Image: HWC, RGB, uint8, the
// array np.asarray(Image.open(path).convert("RGB")) gives in Pillow:
//   - grayscale is replicated into R, G, B; 1/2/4-bit grayscale is scaled to 0..255;
//   - gray+alpha and RGBA drop the alpha channel (convert("RGB") ignores alpha,
//     it does not composite onto a background); palettes are expanded (tRNS ignored);
//   - 16-bit PNGs: RGB, RGBA and gray+alpha keep the high byte of each sample
//     (v >> 8), which is what both stb and Pillow do. 16-bit grayscale differs:
//     Pillow opens it as mode "I" and convert("RGB") clips (v > 255 -> 255), while
//     stb would give v >> 8; we follow Pillow (clip), so a typical 16-bit
//     grayscale photo comes out almost white, exactly as in the Python reference;
//   - PNG, BMP: bit-exact with Pillow. JPEG: stb's IDCT, chroma upsampling and
//     YCbCr->RGB rounding differ from libjpeg-turbo's (Pillow, Debian 12), so pixels
//     differ by a few levels. Measured max |diff|: <= 3 for 4:2:0 (Pillow's default)
//     and 4:4:4 (24 test JPEGs, quality 75/95, 9x17 to 683x512), 1 for a grayscale
//     one; 4:2:2 (12 JPEGs): <= 4, except in the two rightmost columns, which differ
//     by up to 41 (stb and libjpeg-turbo extend the last chroma column differently);
//   - neither applies EXIF orientation; CMYK JPEGs are not matched to Pillow.
// Only PNG, JPEG and BMP decoders are compiled in (smaller attack surface; TGA has
// no magic bytes, so stb would otherwise "decode" random files as TGA).
//
// Bad input always gives a one-line evsam::Error naming the file: empty, not an
// image, truncated, corrupt (with stbi_failure_reason() in parentheses), or too big.
// The size is read from the header (stbi_info_from_memory; for PNG also our own IHDR
// read) and images above kMaxImagePixels are refused before any pixel memory is
// allocated; every allocation stb makes while decoding is also capped relative to the
// image size, so a small file cannot make it allocate gigabytes (zlib bombs).
// Truncation: stb refuses cut JPEGs (even one missing only its final EOI marker, which
// Pillow also refuses) and cut PNGs; a PNG is accepted once its IEND chunk type is
// present (only the IEND CRC missing), while Pillow is more lenient and accepts a
// PNG that ends right after its last IDAT. For BMPs, where stb would pad with zeros,
// the header and pixel-array sizes are checked here.
//
// Debian 12's stb_image is 2.27. Its memory-safety bugs reachable from PNG/JPEG/BMP
// input that stb 2.28 fixed are worked around here: uninitialised decoder state (stb
// allocations are zeroed), JPEG Huffman tables with more than 256 codes (refused before
// stb parses them), empty leading IDAT chunks (memcpy(NULL, .., 0)). Left: arithmetic
// UB in stb's JPEG entropy decoder on corrupt data (shift exponent >= 32 in
// stbi__grow_buffer_unsafe; signed overflow of the DC predictor), fixed upstream in
// 2.28; harmless on the compilers we use, ASan is silent, but UBSan reports it, so the
// UBSan builds suppress it in exactly those functions (tests/fuzz/ubsan_ignorelist.txt).
//
// stb is compiled into every translation unit that includes this header, as static
// functions (STB_IMAGE_STATIC / STB_IMAGE_WRITE_STATIC), so there is nothing to link
// and no clash between TUs. Do not include <stb/stb_image.h> or
// <stb/stb_image_write.h> yourself before this header in the same TU (that is an
// #error); including them after it is a no-op, and the stbi_* functions of this TU's
// copy (PNG/JPEG/BMP, from memory only: STBI_NO_STDIO) remain usable.
#pragma once
#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <memory>
#include <string>
#include <vector>

#include "evsam/core/error.hpp"
#include "evsam/core/file_io.hpp"

#if defined(STBI_INCLUDE_STB_IMAGE_H) && !defined(EVSAM_STB_IMAGE_INCLUDED)
#error "include evsam/core/image_io.hpp before <stb/stb_image.h> (it compiles its own static copy of stb_image)"
#endif
#if defined(INCLUDE_STB_IMAGE_WRITE_H) && !defined(EVSAM_STB_IMAGE_INCLUDED)
#error "include evsam/core/image_io.hpp before <stb/stb_image_write.h> (it compiles its own static copy)"
#endif

namespace evsam {
namespace detail {
// Per-thread cap on a single stb allocation while one of our decodes runs (SIZE_MAX otherwise).
// Fresh blocks are zeroed: stb 2.27 can read fields of its JPEG decoder state before setting
// them (stb 2.28 added a memset for that; fuzzers found it).
inline thread_local size_t stbi_alloc_cap = SIZE_MAX;
inline void* stbi_capped_malloc(size_t n) { return n > stbi_alloc_cap ? nullptr : std::calloc(1, n); }
inline void* stbi_capped_realloc(void* p, size_t n) { return n > stbi_alloc_cap ? nullptr : std::realloc(p, n); }
}  // namespace detail
}  // namespace evsam

#ifndef EVSAM_STB_IMAGE_INCLUDED
#define EVSAM_STB_IMAGE_INCLUDED
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Weverything"
#elif defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wcast-align"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wuseless-cast"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wfloat-equal"
#pragma GCC diagnostic ignored "-Wzero-as-null-pointer-constant"
#pragma GCC diagnostic ignored "-Wduplicated-branches"
#pragma GCC diagnostic ignored "-Wnull-dereference"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wswitch-default"
#pragma GCC diagnostic ignored "-Wmissing-declarations"
#pragma GCC diagnostic ignored "-Wredundant-decls"
#pragma GCC diagnostic ignored "-Wextra"
#endif
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO  // we decode from memory; files are read by evsam::read_file
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MALLOC(sz) ::evsam::detail::stbi_capped_malloc(sz)
#define STBI_REALLOC(p, newsz) ::evsam::detail::stbi_capped_realloc(p, newsz)
#define STBI_FREE(p) std::free(p)
#include <stb/stb_image.h>
#undef STBI_MALLOC
#undef STBI_REALLOC
#undef STBI_FREE
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO  // PNGs are encoded to memory, then written by write_file_atomic
#include <stb/stb_image_write.h>
// A later #include <stb/stb_image.h> in this TU is then a harmless no-op (include guard);
// the implementation sections are not include-guarded, hence the undefs.
#undef STB_IMAGE_IMPLEMENTATION
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif  // EVSAM_STB_IMAGE_INCLUDED

namespace evsam {

// A decoded image: height x width x 3 bytes, row-major HWC, RGB order.
struct Image {
    int64_t height = 0, width = 0;
    std::vector<uint8_t> data;
    uint8_t at(int64_t y, int64_t x, int64_t c) const { return data[static_cast<size_t>((y * width + x) * 3 + c)]; }
};

// Pillow's decompression-bomb threshold (Image.MAX_IMAGE_PIXELS * 2): Pillow raises
// DecompressionBombError above it, and so do we (before decoding).
constexpr int64_t kMaxImagePixels = 2 * int64_t(89478485);  // 178956970

// What the file header says, before any decoding.
struct ImageInfo {
    int64_t height = 0, width = 0;
    int channels = 0;  // as stored: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA (palette: 3 or 4)
    bool is_16bit = false;
    std::string format;  // "PNG", "JPEG", "BMP"
};

namespace detail {

inline std::string stbi_reason() {
    const char* r = stbi_failure_reason();
    return r ? r : "unknown error";
}

// Where stb's JPEG decoder starts after the SOI marker, or 0 if stb will not treat the
// data as JPEG: one or more FF bytes, then D8.
inline size_t jpeg_soi_end(const uint8_t* p, size_t n) {
    size_t i = 0;
    while (i < n && p[i] == 0xFF) ++i;
    return i > 0 && i < n && p[i] == 0xD8 ? i + 1 : 0;
}

inline std::string image_format_of(const uint8_t* p, size_t n) {
    if (n >= 8 && std::memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return "PNG";
    if (jpeg_soi_end(p, n) > 0) return "JPEG";
    if (n >= 2 && p[0] == 'B' && p[1] == 'M') return "BMP";
    return "";
}

inline uint32_t le32(const uint8_t* p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline uint32_t le16(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8; }

// stb reads missing BMP bytes as zeros; Pillow refuses such files. So the header must be
// complete and, for uncompressed BMPs (BI_RGB / BI_BITFIELDS), the pixel array must fit:
// offset + row_stride * |height| <= file size. Called after the pixel-limit check, so the
// products below cannot overflow. Layout: "BM", file size (4), reserved (4), pixel data
// offset (4) at 10, header size (4) at 14, then width/height/planes/bpp (and compression).
inline void check_bmp_complete(const uint8_t* p, size_t n, const std::string& name) {
    auto truncated = [&](const std::string& what) {
        return Error(name + ": truncated BMP: " + what + ", file has " + std::to_string(n) + " bytes");
    };
    if (n < 18) throw truncated("no complete file header");
    uint32_t offset = le32(p + 10), hsz = le32(p + 14);
    // stb knows the 12 (OS/2 core), 40, 56, 108 and 124 byte headers; it refuses others itself.
    if (hsz != 12 && hsz != 40 && hsz != 56 && hsz != 108 && hsz != 124) return;
    if (n < 14 + size_t(hsz))
        throw truncated("the " + std::to_string(hsz) + "-byte info header needs " + std::to_string(14 + hsz) +
                        " bytes");
    int64_t w, h;
    uint32_t bpp;
    int32_t compression = 0;  // stb reads it as a signed int
    if (hsz == 12) {          // OS/2 BITMAPCOREHEADER: 16-bit width/height
        w = le16(p + 18);
        h = le16(p + 20);
        bpp = le16(p + 24);
    } else {
        w = static_cast<int32_t>(le32(p + 18));
        h = static_cast<int32_t>(le32(p + 22));  // negative = top-down rows
        bpp = le16(p + 28);
        compression = static_cast<int32_t>(le32(p + 30));
    }
    // stb refuses RLE (1, 2) and JPEG/PNG-in-BMP (>= 4) itself, but decodes every other
    // value (3 = BI_BITFIELDS, and even negative ones) as uncompressed pixels.
    if (compression == 1 || compression == 2 || compression >= 4) return;
    // stb would decode other depths (e.g. 2-bit, which Pillow supports) as if they were 8-bit.
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        throw Error(name + ": unsupported BMP bit depth " + std::to_string(bpp) + " (supported: 1, 4, 8, 16, 24, 32)");
    if (w <= 0 || w > kMaxImagePixels) return;
    int64_t rows = h < 0 ? -h : h;
    if (rows > kMaxImagePixels) return;
    int64_t stride = (w * bpp + 31) / 32 * 4;  // rows are padded to 4 bytes
    int64_t need = int64_t(offset) + stride * rows;
    if (static_cast<uint64_t>(need) > n) throw truncated("the pixel data needs " + std::to_string(need) + " bytes");
}

// Debian 12 ships stb_image 2.27, whose stbi__build_huffman writes past its 257-entry
// arrays when a DHT (Huffman table) declares more than 256 codes (fixed upstream in 2.28),
// already while reading the header for stbi_info. Walk the marker segments as stb will
// read them and refuse such tables before stb sees them.
// Segment = FF <marker> <16-bit big-endian length including itself> <body>; markers
// without a body: SOI D8, EOI D9, RST0-7 D0-D7, TEM 01; FF 00 is a stuffed data byte
// inside entropy-coded data, which is otherwise skipped byte by byte.
inline void check_jpeg_huffman_tables(const uint8_t* p, size_t n, const std::string& name) {
    auto byte = [&](size_t i) -> uint32_t { return i < n ? p[i] : 0; };  // stb reads 0 past the end
    size_t i = jpeg_soi_end(p, n);
    if (i == 0) return;
    while (i + 1 < n) {
        if (p[i] != 0xFF) {
            ++i;
            continue;
        }
        uint32_t m = p[i + 1];
        if (m == 0xFF) {  // fill byte before a marker
            ++i;
            continue;
        }
        if (m == 0x00 || m == 0x01 || m == 0xD8 || (m >= 0xD0 && m <= 0xD7)) {
            i += 2;
            continue;
        }
        if (m == 0xD9) return;  // EOI
        uint32_t len = byte(i + 2) << 8 | byte(i + 3);
        if (m == 0xC4) {
            int64_t left = int64_t(len) - 2;  // stb: L = length - 2, one table after another while L > 0
            size_t q = i + 4;
            while (left > 0) {
                uint32_t count = 0;
                for (size_t k = 1; k <= 16; ++k) count += byte(q + k);
                if (count > 256)
                    throw Error(name + ": corrupt JPEG: a Huffman table declares " + std::to_string(count) +
                                " codes (at most 256)");
                q += 17 + count;
                left -= 17 + int64_t(count);
            }
        }
        if (len < 2) return;  // stb refuses this itself
        i += 2 + size_t(len);
    }
}

// Caps each stb allocation during one decode; restores the previous cap on exit.
struct StbiAllocCap {
    size_t saved;
    explicit StbiAllocCap(size_t cap) : saved(stbi_alloc_cap) { stbi_alloc_cap = cap; }
    ~StbiAllocCap() { stbi_alloc_cap = saved; }
};

struct StbiFree {
    void operator()(void* p) const { stbi_image_free(p); }
};

}  // namespace detail

// Reads only the header. Throws for empty / unknown / corrupt-header input (no size limit here).
inline ImageInfo image_info_from_memory(const uint8_t* p, size_t n, const std::string& name) {
    EVSAM_CHECK(p != nullptr || n == 0, name + ": null image buffer");
    if (n == 0) throw Error(name + ": empty file, not an image");
    if (n > static_cast<size_t>(INT_MAX)) throw Error(name + ": image file too large for the decoder (over 2 GiB)");
    ImageInfo info;
    info.format = detail::image_format_of(p, n);
    if (info.format == "JPEG") detail::check_jpeg_huffman_tables(p, n, name);
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(p, static_cast<int>(n), &w, &h, &comp)) {
        if (info.format.empty()) throw Error(name + ": not a PNG, JPEG or BMP image (" + detail::stbi_reason() + ")");
        throw Error(name + ": corrupt or unsupported " + info.format + " header (" + detail::stbi_reason() + ")");
    }
    if (w <= 0 || h <= 0)
        throw Error(name + ": image has no pixels (" + std::to_string(w) + "x" + std::to_string(h) + ")");
    info.width = w;
    info.height = h;
    info.channels = comp;
    info.is_16bit = stbi_is_16_bit_from_memory(p, static_cast<int>(n)) != 0;
    if (info.format.empty()) info.format = "image";
    return info;
}

namespace detail {

inline void check_pixel_limit(int64_t width, int64_t height, const std::string& name) {
    // Both are in [0, 2^32) (PNG/BMP/JPEG header fields), so the product fits in uint64.
    const uint64_t pixels = static_cast<uint64_t>(width) * static_cast<uint64_t>(height);
    if (pixels > static_cast<uint64_t>(kMaxImagePixels))
        throw Error(name + ": image is " + std::to_string(width) + "x" + std::to_string(height) + " = " +
                    std::to_string(pixels) + " pixels, above the limit of " + std::to_string(kMaxImagePixels) +
                    " (Pillow's decompression-bomb threshold); refusing to decode");
}

// stb's PNG header check already fails for images over 2^30 bytes, with the unhelpful
// reason "unknown image type"; read the IHDR size ourselves first (declared_image_size) so
// huge PNGs get the pixel-limit message.
inline void check_png_ihdr_size(const uint8_t* p, size_t n, const std::string& name);

// A file far too small for the size its header claims is refused before decoding: stb
// would otherwise allocate and decode the full image from a few bytes (filling the gap
// with zeros) before noticing, which turns a tiny file into seconds of work and up to
// gigabytes of memory. The bounds hold for every complete file, with 2x slack:
//   PNG: deflate never compresses better than 1032:1, and the raw data is
//        height * (1 + ceil(width * bits_per_pixel / 8)) bytes;
//   JPEG (Huffman-coded, all stb decodes): every 8x8 block of the full-resolution
//        component starts with a DC code of at least 1 bit.
inline void check_min_file_size(const std::string& format, const uint8_t* p, size_t n, int64_t width, int64_t height,
                                const std::string& name) {
    uint64_t need = 0;
    if (format == "PNG" && n >= 26) {
        uint64_t depth = p[24], ctype = p[25];
        uint64_t channels = ctype == 2 ? 3 : ctype == 4 ? 2 : ctype == 6 ? 4 : 1;
        uint64_t raw = uint64_t(height) * (1 + (uint64_t(width) * channels * depth + 7) / 8);
        need = raw / 2064;
    } else if (format == "JPEG") {
        uint64_t blocks = uint64_t((width + 7) / 8) * uint64_t((height + 7) / 8);
        need = blocks / 16;
    }
    if (n < need)
        throw Error(name + ": truncated or corrupt " + format + ": " + std::to_string(n) + " bytes cannot hold a " +
                    std::to_string(width) + "x" + std::to_string(height) + " image (at least " + std::to_string(need) +
                    " needed)");
}

// Zero-length IDAT chunks before the first non-empty one make stb 2.27 call
// memcpy(NULL, src, 0), undefined behaviour that UBSan reports. They carry no data, so
// such a file is decoded from a copy without them (rare: no common encoder writes them).
// PNG chunk = length (4, big-endian) + type (4) + data + CRC (4), after the 8-byte signature.
// stb reads an empty IDAT as soon as its 8-byte header is present (a missing CRC reads as 0),
// so one whose CRC is cut off by the end of the file is dropped too (found by fuzz_image).
inline bool png_without_leading_empty_idats(const uint8_t* p, size_t n, std::vector<uint8_t>& out) {
    auto be32 = [](const uint8_t* q) {
        return uint32_t(q[0]) << 24 | uint32_t(q[1]) << 16 | uint32_t(q[2]) << 8 | q[3];
    };
    std::vector<size_t> drop;
    for (size_t i = 8; i + 8 <= n;) {
        uint32_t len = be32(p + i);
        if (len > n - i - 8) break;  // truncated data: stb reports it
        if (std::memcmp(p + i + 4, "IEND", 4) == 0) break;
        if (std::memcmp(p + i + 4, "IDAT", 4) == 0) {
            if (len > 0) break;
            if (i > 8) drop.push_back(i);  // the first chunk must stay (stb: "first not IHDR")
        }
        i += 12 + size_t(len);
    }
    if (drop.empty()) return false;
    out.clear();
    out.reserve(n);
    size_t from = 0;
    for (size_t d : drop) {
        out.insert(out.end(), p + from, p + d);
        from = std::min(d + 12, n);  // the last one may lack (part of) its CRC
    }
    out.insert(out.end(), p + from, p + n);
    return true;
}

}  // namespace detail

// Decodes an image held in memory into RGB (see the top of this file). `name` prefixes errors.
// The width and height a PNG or BMP header declares, read from the header bytes alone, before
// any decoder runs (stb's own PNG header check fails for images over 2^30 bytes); {0, 0} for
// other formats or a header too short to hold them. PNG: IHDR is always the first chunk, "IHDR"
// at 12, width and height big-endian at 16 and 20. BMP: width and height little-endian at 18 and
// 22 (a negative height: rows stored top-down).
inline std::pair<int64_t, int64_t> declared_image_size(const uint8_t* p, size_t n) {
    if (n >= 24 && detail::image_format_of(p, n) == "PNG" && std::memcmp(p + 12, "IHDR", 4) == 0) {
        auto be32 = [](const uint8_t* q) {
            return int64_t(q[0]) << 24 | int64_t(q[1]) << 16 | int64_t(q[2]) << 8 | int64_t(q[3]);
        };
        return {be32(p + 16), be32(p + 20)};
    }
    if (n >= 26 && detail::image_format_of(p, n) == "BMP") {
        const int64_t h = static_cast<int32_t>(detail::le32(p + 22));
        return {int64_t(detail::le32(p + 18)), h < 0 ? -h : h};
    }
    return {0, 0};
}

namespace detail {
inline void check_png_ihdr_size(const uint8_t* p, size_t n, const std::string& name) {
    const auto [w, h] = declared_image_size(p, n);  // {0, 0} for a damaged header: stb reports it
    check_pixel_limit(w, h, name);
}
}  // namespace detail

inline Image load_image_from_memory(const uint8_t* p, size_t n, const std::string& name) {
    if (n > 0 && p != nullptr && detail::image_format_of(p, n) == "PNG") detail::check_png_ihdr_size(p, n, name);
    ImageInfo info = image_info_from_memory(p, n, name);
    detail::check_pixel_limit(info.width, info.height, name);
    const int64_t pixels = info.height * info.width;
    if (info.format == "BMP") detail::check_bmp_complete(p, n, name);
    detail::check_min_file_size(info.format, p, n, info.width, info.height, name);
    std::vector<uint8_t> fixed;
    if (info.format == "PNG" && detail::png_without_leading_empty_idats(p, n, fixed)) {
        p = fixed.data();
        n = fixed.size();
    }

    // Largest legitimate stb allocation: a few bytes per pixel (16-bit RGBA, zlib output
    // doubling) plus the compressed data itself.
    detail::StbiAllocCap cap(static_cast<size_t>(pixels) * 16 + 2 * n + (size_t(64) << 20));
    const int len = static_cast<int>(n);
    int w = 0, h = 0, comp = 0;
    Image img;
    img.height = info.height;
    img.width = info.width;
    if (info.channels == 1 && info.is_16bit) {
        // 16-bit grayscale: Pillow's mode "I" -> "RGB" clips to 255 (see the top of this file).
        std::unique_ptr<stbi_us, detail::StbiFree> px(stbi_load_16_from_memory(p, len, &w, &h, &comp, 1));
        if (!px) throw Error(name + ": cannot decode " + info.format + " (" + detail::stbi_reason() + ")");
        if (w != info.width || h != info.height) throw Error(name + ": decoded size differs from the header size");
        img.data.resize(static_cast<size_t>(pixels) * 3);
        for (int64_t i = 0; i < pixels; ++i) {
            uint8_t v = static_cast<uint8_t>(std::min<stbi_us>(px.get()[i], 255));
            img.data[static_cast<size_t>(3 * i)] = img.data[static_cast<size_t>(3 * i + 1)] =
                img.data[static_cast<size_t>(3 * i + 2)] = v;
        }
        return img;
    }
    std::unique_ptr<stbi_uc, detail::StbiFree> px(stbi_load_from_memory(p, len, &w, &h, &comp, 3));
    if (!px) throw Error(name + ": cannot decode " + info.format + " (" + detail::stbi_reason() + ")");
    if (w != info.width || h != info.height) throw Error(name + ": decoded size differs from the header size");
    img.data.assign(px.get(), px.get() + static_cast<size_t>(pixels) * 3);
    return img;
}

inline Image load_image(const std::string& path) {
    std::vector<uint8_t> bytes = read_file(path);
    return load_image_from_memory(bytes.data(), bytes.size(), path);
}

inline ImageInfo image_info(const std::string& path) {
    std::vector<uint8_t> bytes = read_file(path);
    return image_info_from_memory(bytes.data(), bytes.size(), path);
}

// Encodes H x W x C bytes (row-major HWC; C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) as PNG.
inline std::vector<uint8_t> encode_png(const uint8_t* data, int64_t H, int64_t W, int64_t C,
                                       const std::string& name = "PNG") {
    EVSAM_CHECK(data != nullptr, name + ": null pixel data");
    EVSAM_CHECK(C >= 1 && C <= 4, name + ": PNG needs 1 to 4 channels, got " + std::to_string(C));
    EVSAM_CHECK(H >= 1 && W >= 1,
                name + ": cannot write an empty image (" + std::to_string(H) + "x" + std::to_string(W) + ")");
    EVSAM_CHECK(H <= (int64_t(1) << 30) / W / C,  // stb_image_write uses int sizes
                name + ": image " + std::to_string(H) + "x" + std::to_string(W) + "x" + std::to_string(C) +
                    " is too large for the PNG writer");
    std::vector<uint8_t> out;
    auto sink = [](void* ctx, void* bytes, int size) {
        auto* v = static_cast<std::vector<uint8_t>*>(ctx);
        const uint8_t* b = static_cast<const uint8_t*>(bytes);
        v->insert(v->end(), b, b + size);
    };
    int ok = stbi_write_png_to_func(sink, &out, static_cast<int>(W), static_cast<int>(H), static_cast<int>(C), data,
                                    static_cast<int>(W * C));
    EVSAM_CHECK(ok != 0 && !out.empty(), name + ": PNG encoding failed");
    return out;
}

// Writes a PNG atomically (encoded in memory, then temp file + rename).
inline void save_png(const std::string& path, const uint8_t* data, int64_t H, int64_t W, int64_t C) {
    std::vector<uint8_t> png = encode_png(data, H, W, C, path);
    write_file_atomic(path, png.data(), png.size());
}

inline void save_png(const std::string& path, const Image& img) {
    EVSAM_CHECK(img.data.size() == static_cast<size_t>(img.height * img.width * 3),
                path + ": Image data size does not match " + std::to_string(img.height) + "x" +
                    std::to_string(img.width) + "x3");
    save_png(path, img.data.data(), img.height, img.width, 3);
}

// Swaps channels 0 and 2 of each pixel in place: RGB <-> BGR (and RGBA <-> BGRA).
inline void swap_red_blue(uint8_t* data, int64_t num_pixels, int64_t channels = 3) {
    EVSAM_CHECK(channels >= 3, "swap_red_blue: needs at least 3 channels, got " + std::to_string(channels));
    for (int64_t i = 0; i < num_pixels; ++i) std::swap(data[i * channels], data[i * channels + 2]);
}

// The same image with R and B swapped (e.g. for OpenCV-style BGR buffers).
inline Image rgb_bgr_swapped(Image img) {
    swap_red_blue(img.data.data(), img.height * img.width, 3);
    return img;
}

}  // namespace evsam
