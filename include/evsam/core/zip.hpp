// evsam: a read-only ZIP reader for torch.save archives (and nothing more).
//
// torch.save (PyTorch >= 1.6, "new zipfile serialization") writes an
// uncompressed ZIP whose entries are <archive>/data.pkl, <archive>/data/<key>,
// <archive>/version and sometimes <archive>/byteorder. Its writer (miniz via
// caffe2::serialize::PyTorchStreamWriter) sets general-purpose bit 3, so the
// local headers carry zero sizes: sizes come from the central directory, and
// the local header is read only for its name/extra lengths (the extra field is
// padding that aligns each entry's data to 64 bytes). Files over 4 GiB use
// ZIP64 records, which are handled here too.
//
// Every offset and size read from the file is bounds-checked before use; a
// malformed archive is an evsam::Error naming what is wrong. Compressed
// entries are refused (torch.save never writes them).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "evsam/core/error.hpp"

namespace evsam {

struct ZipEntry {
    std::string name;
    uint64_t data_offset = 0;  // byte offset of the entry's data in the archive
    uint64_t size = 0;         // uncompressed (= stored) size
    uint16_t method = 0;       // 0 = stored
};

namespace detail {
inline uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t rd32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
           (static_cast<uint32_t>(p[3]) << 24);
}
inline uint64_t rd64(const uint8_t* p) {
    return static_cast<uint64_t>(rd32(p)) | (static_cast<uint64_t>(rd32(p + 4)) << 32);
}
}  // namespace detail

inline bool looks_like_zip(const uint8_t* data, size_t n) {
    return n >= 4 && data[0] == 'P' && data[1] == 'K' && data[2] == 3 && data[3] == 4;
}

// Parses the central directory of the archive held in [data, data+n).
// `what` names the file in error messages.
inline std::vector<ZipEntry> zip_list(const uint8_t* data, size_t n, const std::string& what) {
    using detail::rd16;
    using detail::rd32;
    using detail::rd64;
    auto fail = [&](const std::string& m) { return Error(what + ": not a valid torch.save zip archive (" + m + ")"); };
    if (n < 22) throw fail("file too short for a zip end-of-central-directory record");

    // End of central directory: the last 0x06054b50 within 64 KiB + 22 of the end.
    size_t eocd = SIZE_MAX;
    size_t lo = n > 22 + 65535 ? n - 22 - 65535 : 0;
    for (size_t i = n - 22 + 1; i-- > lo;) {
        if (rd32(data + i) == 0x06054b50u) {
            eocd = i;
            break;
        }
    }
    if (eocd == SIZE_MAX) throw fail("no end-of-central-directory record; truncated or not a zip");
    uint64_t n_entries = rd16(data + eocd + 10);
    uint64_t cd_size = rd32(data + eocd + 12);
    uint64_t cd_offset = rd32(data + eocd + 16);

    // ZIP64: a locator sits right before the EOCD and points at the ZIP64 EOCD.
    if (eocd >= 20 && rd32(data + eocd - 20) == 0x07064b50u) {
        uint64_t z64 = rd64(data + eocd - 20 + 8);
        if (z64 > n || n - z64 < 56 || rd32(data + z64) != 0x06064b50u)
            throw fail("bad ZIP64 end-of-central-directory");
        n_entries = rd64(data + z64 + 32);
        cd_size = rd64(data + z64 + 40);
        cd_offset = rd64(data + z64 + 48);
    }
    if (cd_offset > n || cd_size > n - cd_offset) throw fail("central directory lies outside the file");
    if (n_entries > cd_size / 46) throw fail("central directory entry count is inconsistent");

    std::vector<ZipEntry> out;
    out.reserve(static_cast<size_t>(n_entries));
    uint64_t p = cd_offset;
    const uint64_t cd_end = cd_offset + cd_size;
    for (uint64_t e = 0; e < n_entries; ++e) {
        if (cd_end - p < 46 || rd32(data + p) != 0x02014b50u) throw fail("bad central directory entry");
        const uint8_t* h = data + p;
        ZipEntry z;
        z.method = rd16(h + 10);
        uint64_t csize = rd32(h + 20), usize = rd32(h + 24);
        uint16_t name_len = rd16(h + 28), extra_len = rd16(h + 30), comment_len = rd16(h + 32);
        uint64_t local = rd32(h + 42);
        if (cd_end - p - 46 < static_cast<uint64_t>(name_len) + extra_len + comment_len)
            throw fail("central directory entry overruns the directory");
        z.name.assign(reinterpret_cast<const char*>(h + 46), name_len);
        // ZIP64 extended information: present fields replace the 0xFFFFFFFF ones, in this order.
        const uint8_t* x = h + 46 + name_len;
        const uint8_t* xend = x + extra_len;
        while (xend - x >= 4) {
            uint16_t id = rd16(x), len = rd16(x + 2);
            if (xend - x - 4 < len) throw fail("bad extra field in entry '" + z.name + "'");
            if (id == 0x0001) {
                const uint8_t* q = x + 4;
                const uint8_t* qend = q + len;
                auto take = [&](uint64_t& v) {
                    if (v != 0xFFFFFFFFu) return;
                    if (qend - q < 8) throw fail("short ZIP64 extra field in entry '" + z.name + "'");
                    v = rd64(q);
                    q += 8;
                };
                take(usize);
                take(csize);
                take(local);
            }
            x += 4 + len;
        }
        if (local > n || n - local < 30 || rd32(data + local) != 0x04034b50u)
            throw fail("bad local header for entry '" + z.name + "'");
        uint64_t data_start = local + 30 + rd16(data + local + 26) + rd16(data + local + 28);
        if (data_start > n || csize > n - data_start)
            throw fail("entry '" + z.name + "' runs past the end of the file (truncated?)");
        z.data_offset = data_start;
        z.size = usize;
        if (z.method == 0 && csize != usize) throw fail("stored entry '" + z.name + "' has inconsistent sizes");
        out.push_back(std::move(z));
        p += 46 + static_cast<uint64_t>(name_len) + extra_len + comment_len;
    }
    return out;
}

}  // namespace evsam
