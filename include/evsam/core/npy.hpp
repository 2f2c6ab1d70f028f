// evsam: NumPy .npy files (format versions 1.0, 2.0 and 3.0), read and write.
//
// File layout (numpy/lib/format.py):
//   bytes 0-5   magic "\x93NUMPY"
//   bytes 6-7   format version major, minor: (1,0), (2,0) or (3,0)
//   then        header length HLEN: uint16 little-endian for 1.0, uint32 for 2.0/3.0
//   then        HLEN bytes of header: a Python dict literal, ASCII (latin-1 for 2.0,
//               UTF-8 for 3.0), padded with spaces and ended by '\n', e.g.
//               {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 4), }
//   then        the raw array data, C order, numel * itemsize bytes, to the end of file.
//
// The header is read by a small strict parser (no eval): exactly the three keys,
// string / True / False / tuple-of-ints values, optional trailing commas. Supported
// dtypes (little-endian only; the host must be little-endian too):
//   '<f4' float32, '<f8' float64, '|u1' uint8, '<i4' int32, '<i8' int64, '|b1' bool
//   (read as uint8 0/1). Refused with a clear evsam::Error: big-endian, fortran_order
//   True, object / structured / other dtypes, non-tuple or negative shapes, byte sizes
//   that overflow or differ from the data actually present (checked before any
//   allocation, so an absurd shape in a tiny file costs nothing).
// Every error message is one line starting with the file name given for errors.
//
// Writing produces exactly the bytes numpy 1.24's np.save writes: version 1.0,
// keys sorted, numpy's 21-digit growth padding after the shape, and spaces so the
// data starts at a multiple of 64 bytes.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "evsam/core/error.hpp"
#include "evsam/core/file_io.hpp"
#include "evsam/core/tensor.hpp"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "evsam/core/npy.hpp assumes a little-endian host"
#endif

namespace evsam {

// The numpy descr string of each supported element type.
template <class T>
struct NpyDtype;
template <>
struct NpyDtype<float> {
    static constexpr const char* descr = "<f4";
};
template <>
struct NpyDtype<double> {
    static constexpr const char* descr = "<f8";
};
template <>
struct NpyDtype<uint8_t> {
    static constexpr const char* descr = "|u1";
};
template <>
struct NpyDtype<int32_t> {
    static constexpr const char* descr = "<i4";
};
template <>
struct NpyDtype<int64_t> {
    static constexpr const char* descr = "<i8";
};

// Human name of a normalized descr: "<f4" -> "float32".
inline std::string npy_dtype_name(const std::string& descr) {
    if (descr == "<f4") return "float32";
    if (descr == "<f8") return "float64";
    if (descr == "|u1") return "uint8";
    if (descr == "<i4") return "int32";
    if (descr == "<i8") return "int64";
    if (descr == "|b1") return "bool";
    return descr;
}

// Bytes per element of a normalized descr (0 when unknown).
inline size_t npy_itemsize(const std::string& descr) {
    if (descr == "<f4" || descr == "<i4") return 4;
    if (descr == "<f8" || descr == "<i8") return 8;
    if (descr == "|u1" || descr == "|b1") return 1;
    return 0;
}

// A parsed .npy file.
struct NpyArray {
    std::string dtype;           // normalized descr: "<f4" "<f8" "|u1" "<i4" "<i8" "|b1"
    Shape shape;                 // () for a 0-d array (numel 1)
    std::vector<uint8_t> bytes;  // C-order little-endian data, numel * itemsize bytes
    int64_t numel() const { return shape_numel(shape); }
};

// What the header says, already checked against the buffer size.
struct NpyHeader {
    int major = 0, minor = 0;
    std::string dtype;  // normalized descr
    Shape shape;
    size_t data_offset = 0;  // data = buffer[data_offset, data_offset + data_bytes) = rest of the buffer
    size_t data_bytes = 0;
};

namespace detail {

// Quotes up to 40 bytes of untrusted text for a one-line message: non-printables become \xNN.
inline std::string npy_quote(const char* p, size_t n) {
    static const char* hex = "0123456789abcdef";
    std::string s = "'";
    for (size_t i = 0; i < n && i < 40; ++i) {
        unsigned char c = static_cast<unsigned char>(p[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            s += static_cast<char>(c);
        } else {
            s += "\\x";
            s += hex[c >> 4];
            s += hex[c & 15];
        }
    }
    if (n > 40) s += "...";
    return s + "'";
}

// Strict parser for the header dict. Every method throws evsam::Error("<name>: ...").
class NpyHeaderParser {
public:
    NpyHeaderParser(const char* p, size_t n, const std::string& name) : p_(p), n_(n), name_(name) {}

    void parse(std::string& descr, bool& fortran, Shape& shape) {
        bool have_descr = false, have_fortran = false, have_shape = false;
        skip_ws();
        expect('{', "header must be a Python dict starting with '{'");
        for (;;) {
            skip_ws();
            if (peek() == '}') break;
            std::string key = parse_string("a dict key");
            skip_ws();
            expect(':', "expected ':' after key '" + key + "'");
            skip_ws();
            if (key == "descr") {
                dup(have_descr, key);
                if (peek() == '[') fail("structured dtypes (a list descr) are not supported");
                descr = parse_string("the 'descr' value");
            } else if (key == "fortran_order") {
                dup(have_fortran, key);
                fortran = parse_bool();
            } else if (key == "shape") {
                dup(have_shape, key);
                shape = parse_shape();
            } else {
                fail("unexpected header key " + npy_quote(key.data(), key.size()) +
                     " (only 'descr', 'fortran_order', 'shape' are allowed)");
            }
            skip_ws();
            if (peek() == ',') {
                ++i_;
                continue;
            }
            if (peek() == '}') break;
            fail("expected ',' or '}' in header dict" + at());
        }
        ++i_;  // '}'
        skip_ws();
        if (i_ != n_) fail("unexpected text after the header dict" + at());
        if (!have_descr) fail("header has no 'descr' key");
        if (!have_fortran) fail("header has no 'fortran_order' key");
        if (!have_shape) fail("header has no 'shape' key");
    }

private:
    [[noreturn]] void fail(const std::string& what) const { throw Error(name_ + ": bad .npy header: " + what); }
    std::string at() const {
        if (i_ >= n_) return " (header ends early)";
        return " at " + npy_quote(p_ + i_, n_ - i_);
    }
    char peek() const { return i_ < n_ ? p_[i_] : '\0'; }
    void skip_ws() {
        while (i_ < n_ && (p_[i_] == ' ' || p_[i_] == '\t' || p_[i_] == '\n' || p_[i_] == '\r')) ++i_;
    }
    void expect(char c, const std::string& what) {
        if (peek() != c || i_ >= n_) fail(what + at());
        ++i_;
    }
    void dup(bool& seen, const std::string& key) {
        if (seen) fail("duplicate key '" + key + "'");
        seen = true;
    }
    // 'text' or "text" without escapes (numpy never writes any in the keys and descrs we accept).
    std::string parse_string(const std::string& what) {
        char q = peek();
        if (q != '\'' && q != '"') fail("expected a quoted string for " + what + at());
        size_t start = ++i_;
        while (i_ < n_ && p_[i_] != q) {
            unsigned char c = static_cast<unsigned char>(p_[i_]);
            if (c == '\\' || c < 0x20) fail("unsupported character in string for " + what + at());
            ++i_;
        }
        if (i_ >= n_) fail("unterminated string for " + what);
        std::string s(p_ + start, i_ - start);
        ++i_;
        return s;
    }
    bool parse_bool() {
        if (n_ - i_ >= 4 && std::memcmp(p_ + i_, "True", 4) == 0) {
            i_ += 4;
            return true;
        }
        if (n_ - i_ >= 5 && std::memcmp(p_ + i_, "False", 5) == 0) {
            i_ += 5;
            return false;
        }
        fail("'fortran_order' must be True or False" + at());
    }
    int64_t parse_dim() {
        if (peek() == '-') fail("negative dimension in 'shape'" + at());
        if (peek() < '0' || peek() > '9') fail("expected a non-negative integer in 'shape'" + at());
        int64_t v = 0;
        while (i_ < n_ && p_[i_] >= '0' && p_[i_] <= '9') {
            int d = p_[i_] - '0';
            if (v > (std::numeric_limits<int64_t>::max() - d) / 10) fail("dimension too large in 'shape'" + at());
            v = v * 10 + d;
            ++i_;
        }
        if (peek() == 'L') ++i_;  // Python 2 long suffix, as old numpy wrote it
        return v;
    }
    // A tuple of ints: (), (5,), (1, 3, 4), (1, 3, 4,). "(5)" is an int in Python, so refused.
    Shape parse_shape() {
        expect('(', "'shape' must be a tuple like (1, 3, 4)");
        Shape s;
        skip_ws();
        if (peek() == ')') {
            ++i_;
            return s;
        }
        bool trailing_comma = false;
        for (;;) {
            if (s.size() >= 64) fail("'shape' has more than 64 dimensions");
            s.push_back(parse_dim());
            skip_ws();
            trailing_comma = false;
            if (peek() == ',') {
                ++i_;
                trailing_comma = true;
                skip_ws();
                if (peek() == ')') break;
                continue;
            }
            if (peek() == ')') break;
            fail("expected ',' or ')' in 'shape'" + at());
        }
        ++i_;  // ')'
        if (s.size() == 1 && !trailing_comma) fail("'shape' must be a tuple; write (n,) not (n)");
        return s;
    }

    const char* p_;
    size_t n_;
    size_t i_ = 0;
    const std::string& name_;
};

// Maps a header descr to the normalized one, or throws naming why it is refused.
inline std::string npy_normalize_descr(const std::string& d, const std::string& name) {
    const std::string q = npy_quote(d.data(), d.size());
    if (d.size() == 3) {
        char order = d[0];
        std::string kind = d.substr(1);
        bool one_byte = kind == "u1" || kind == "b1";
        if (one_byte && (order == '|' || order == '<' || order == '>' || order == '='))
            return "|" + kind;  // byte order is meaningless for 1-byte types
        bool known = kind == "f4" || kind == "f8" || kind == "i4" || kind == "i8";
        if (known && order == '<') return d;
        if (known && order == '>')
            throw Error(name + ": big-endian dtype " + q +
                        " is not supported (save it as little-endian: arr.astype('<" + kind + "'))");
    }
    if (!d.empty() && (d.back() == 'O' || (d.size() >= 2 && d[d.size() - 2] == 'O')))
        throw Error(name + ": object arrays (dtype " + q + ") are not supported (they hold pickled Python objects)");
    if (d.size() >= 2 && d[1] == 'V') throw Error(name + ": structured/void dtype " + q + " is not supported");
    throw Error(name + ": unsupported dtype " + q +
                " (supported: '<f4' float32, '<f8' float64, '|u1' uint8, '<i4' int32, '<i8' int64, '|b1' bool)");
}

inline uint32_t npy_read_le(const uint8_t* p, int nbytes) {
    uint32_t v = 0;
    for (int i = nbytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

}  // namespace detail

// Parses and checks the header of the .npy file held in buf[0, n). `name` prefixes errors.
// On return, the data is exactly buf[data_offset, n) and its size matches dtype and shape.
inline NpyHeader npy_parse_header(const uint8_t* buf, size_t n, const std::string& name) {
    static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    EVSAM_CHECK(buf != nullptr || n == 0, name + ": null buffer");
    if (n == 0) throw Error(name + ": empty file, not an .npy file");
    if (n < 6 || std::memcmp(buf, magic, 6) != 0) throw Error(name + ": not an .npy file (bad magic bytes)");
    if (n < 10) throw Error(name + ": truncated .npy file (" + std::to_string(n) + " bytes, no complete header)");
    NpyHeader h;
    h.major = buf[6];
    h.minor = buf[7];
    if (!((h.major == 1 || h.major == 2 || h.major == 3) && h.minor == 0))
        throw Error(name + ": unsupported .npy format version " + std::to_string(h.major) + "." +
                    std::to_string(h.minor) + " (supported: 1.0, 2.0, 3.0)");
    size_t prefix = h.major == 1 ? 10 : 12;  // magic + version + header length field
    if (n < prefix) throw Error(name + ": truncated .npy file (" + std::to_string(n) + " bytes, no complete header)");
    size_t hlen = detail::npy_read_le(buf + 8, h.major == 1 ? 2 : 4);
    if (hlen > n - prefix)
        throw Error(name + ": truncated .npy file (header length " + std::to_string(hlen) + " but only " +
                    std::to_string(n - prefix) + " bytes follow)");

    std::string descr;
    bool fortran = false;
    detail::NpyHeaderParser(reinterpret_cast<const char*>(buf + prefix), hlen, name).parse(descr, fortran, h.shape);
    h.dtype = detail::npy_normalize_descr(descr, name);
    if (fortran)
        throw Error(name + ": fortran_order=True arrays are not supported (save np.ascontiguousarray(arr) instead)");

    // Byte size with overflow checks, compared to what is present before anything is allocated.
    size_t item = npy_itemsize(h.dtype);
    uint64_t numel = 1;
    for (int64_t d : h.shape) {
        uint64_t ud = static_cast<uint64_t>(d);
        if (ud != 0 && numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / ud)
            throw Error(name + ": shape " + shape_str(h.shape) + " is too large (element count overflows)");
        numel *= ud;
    }
    if (numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / item)
        throw Error(name + ": shape " + shape_str(h.shape) + " is too large (byte size overflows)");
    uint64_t need = numel * item;
    h.data_offset = prefix + hlen;
    uint64_t have = n - h.data_offset;
    if (need > have)
        throw Error(name + ": truncated .npy data: shape " + shape_str(h.shape) + " of " + npy_dtype_name(h.dtype) +
                    " needs " + std::to_string(need) + " bytes, file has " + std::to_string(have));
    if (need < have)
        throw Error(name + ": " + std::to_string(have - need) + " unexpected trailing bytes after the data of shape " +
                    shape_str(h.shape) + " " + npy_dtype_name(h.dtype));
    h.data_bytes = static_cast<size_t>(need);
    return h;
}

// Parses a whole .npy file held in memory (copies the data).
inline NpyArray npy_parse(const uint8_t* buf, size_t n, const std::string& name) {
    NpyHeader h = npy_parse_header(buf, n, name);
    NpyArray a;
    a.dtype = h.dtype;
    a.shape = h.shape;
    a.bytes.assign(buf + h.data_offset, buf + h.data_offset + h.data_bytes);
    return a;
}

inline NpyArray npy_load(const std::string& path) {
    std::vector<uint8_t> file = read_file(path);
    NpyHeader h = npy_parse_header(file.data(), file.size(), path);
    NpyArray a;
    a.dtype = h.dtype;
    a.shape = h.shape;
    file.erase(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(h.data_offset));  // reuse the buffer
    a.bytes = std::move(file);
    return a;
}

namespace detail {

inline std::string npy_fmt(double d) {
    char b[64];
    std::snprintf(b, sizeof b, "%.9g", d);
    return b;
}

template <class T>
constexpr bool npy_supported_v =
    std::is_same<T, float>::value || std::is_same<T, double>::value || std::is_same<T, uint8_t>::value ||
    std::is_same<T, int32_t>::value || std::is_same<T, int64_t>::value;

// One element S -> T. Floating targets take any value (double -> float rounds, may give inf).
// Integer targets refuse NaN and anything outside their range instead of invoking UB.
template <class T, class S>
T npy_convert_one(S v, size_t index, const std::string& name) {
    if constexpr (std::is_floating_point<T>::value) {
        return static_cast<T>(v);
    } else if constexpr (std::is_floating_point<S>::value) {
        const double hi = std::ldexp(1.0, std::numeric_limits<T>::digits);  // max + 1, exact
        const double lo = std::is_signed<T>::value ? -hi : -1.0;
        double d = static_cast<double>(v);
        bool ok = std::is_signed<T>::value ? (d >= lo && d < hi) : (d > lo && d < hi);  // NaN fails both
        if (!ok)
            throw Error(name + ": value " + npy_fmt(d) + " at flat index " + std::to_string(index) +
                        " cannot be converted to " + npy_dtype_name(NpyDtype<T>::descr));
        return static_cast<T>(d);  // truncates toward zero, like numpy's astype
    } else {
        int64_t x = static_cast<int64_t>(v);  // S is uint8, int32 or int64: exact
        if (x < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
            x > static_cast<int64_t>(std::numeric_limits<T>::max()))
            throw Error(name + ": value " + std::to_string(x) + " at flat index " + std::to_string(index) +
                        " is out of range for " + npy_dtype_name(NpyDtype<T>::descr));
        return static_cast<T>(x);
    }
}

template <class T, class S>
void npy_convert_all(const uint8_t* src, T* dst, size_t count, const std::string& name) {
    for (size_t i = 0; i < count; ++i) {
        S v;
        std::memcpy(&v, src + i * sizeof(S), sizeof(S));  // the data need not be aligned
        dst[i] = npy_convert_one<T, S>(v, i, name);
    }
}

// Data of (dtype, shape) converted into a Tensor<T>. `data` holds exactly numel * itemsize bytes.
template <class T>
Tensor<T> npy_make_tensor(const std::string& dtype, const Shape& shape, const uint8_t* data, const std::string& name) {
    static_assert(npy_supported_v<T>, "npy: T must be float, double, uint8_t, int32_t or int64_t");
    Tensor<T> t(shape);
    size_t count = static_cast<size_t>(t.numel());
    if (count == 0) return t;
    if (dtype == NpyDtype<T>::descr) {
        std::memcpy(t.data(), data, count * sizeof(T));
    } else if (dtype == "|b1") {
        for (size_t i = 0; i < count; ++i) t.data()[i] = static_cast<T>(data[i] != 0 ? 1 : 0);
    } else if (dtype == "<f4") {
        npy_convert_all<T, float>(data, t.data(), count, name);
    } else if (dtype == "<f8") {
        npy_convert_all<T, double>(data, t.data(), count, name);
    } else if (dtype == "|u1") {
        npy_convert_all<T, uint8_t>(data, t.data(), count, name);
    } else if (dtype == "<i4") {
        npy_convert_all<T, int32_t>(data, t.data(), count, name);
    } else if (dtype == "<i8") {
        npy_convert_all<T, int64_t>(data, t.data(), count, name);
    } else {
        throw Error(name + ": unsupported dtype '" + dtype + "'");
    }
    return t;
}

// dtype must be T's own ('|b1' is accepted for uint8_t and read as 0/1); shape too when given.
template <class T>
void npy_check_exact(const std::string& dtype, const Shape& shape, const std::string& name, const Shape* expected) {
    static_assert(npy_supported_v<T>, "npy: T must be float, double, uint8_t, int32_t or int64_t");
    bool ok = dtype == NpyDtype<T>::descr || (std::is_same<T, uint8_t>::value && dtype == "|b1");
    if (!ok)
        throw Error(name + ": expected dtype " + npy_dtype_name(NpyDtype<T>::descr) + " ('" + NpyDtype<T>::descr +
                    "'), got " + npy_dtype_name(dtype) + " ('" + dtype + "')");
    if (expected && *expected != shape)
        throw Error(name + ": expected shape " + shape_str(*expected) + ", got " + shape_str(shape));
}

}  // namespace detail

// Any supported dtype converted into T (see npy_convert_one for the rules).
template <class T>
Tensor<T> npy_as(const NpyArray& a, const std::string& name) {
    return detail::npy_make_tensor<T>(a.dtype, a.shape, a.bytes.data(), name);
}

// dtype must be exactly T's and, when expected_shape is given, the shape too.
template <class T>
Tensor<T> npy_exact(const NpyArray& a, const std::string& name, const Shape* expected_shape = nullptr) {
    detail::npy_check_exact<T>(a.dtype, a.shape, name, expected_shape);
    return detail::npy_make_tensor<T>(a.dtype, a.shape, a.bytes.data(), name);
}

template <class T>
Tensor<T> npy_parse_as(const uint8_t* buf, size_t n, const std::string& name) {
    NpyHeader h = npy_parse_header(buf, n, name);
    return detail::npy_make_tensor<T>(h.dtype, h.shape, buf + h.data_offset, name);
}

template <class T>
Tensor<T> npy_parse_exact(const uint8_t* buf, size_t n, const std::string& name,
                          const Shape* expected_shape = nullptr) {
    NpyHeader h = npy_parse_header(buf, n, name);
    detail::npy_check_exact<T>(h.dtype, h.shape, name, expected_shape);
    return detail::npy_make_tensor<T>(h.dtype, h.shape, buf + h.data_offset, name);
}

template <class T>
Tensor<T> npy_load_as(const std::string& path) {
    std::vector<uint8_t> file = read_file(path);
    return npy_parse_as<T>(file.data(), file.size(), path);
}

template <class T>
Tensor<T> npy_load_exact(const std::string& path, const Shape* expected_shape = nullptr) {
    std::vector<uint8_t> file = read_file(path);
    return npy_parse_exact<T>(file.data(), file.size(), path, expected_shape);
}

// The .npy header (magic through '\n') numpy 1.24 writes for this dtype and shape.
inline std::string npy_header_bytes(const std::string& descr, const Shape& shape) {
    std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_str(shape) + ", }";
    // numpy leaves room to grow the first axis in place: 21 - len(repr(shape[0])) spaces.
    if (!shape.empty()) dict.append(21 - std::min<size_t>(21, std::to_string(shape[0]).size()), ' ');
    size_t hlen = dict.size() + 1;         // + '\n'
    size_t pad = 64 - ((10 + hlen) % 64);  // numpy pads a full 64 when already aligned
    EVSAM_CHECK(hlen + pad <= 65535, "npy: header too long for shape " + shape_str(shape));
    std::string out("\x93NUMPY\x01\x00", 8);
    uint16_t total = static_cast<uint16_t>(hlen + pad);
    out += static_cast<char>(total & 0xff);
    out += static_cast<char>(total >> 8);
    out += dict;
    out.append(pad, ' ');
    out += '\n';
    return out;
}

// The complete .npy file for a tensor, in memory.
template <class T>
std::vector<uint8_t> npy_encode(const Tensor<T>& t) {
    static_assert(detail::npy_supported_v<T>, "npy: T must be float, double, uint8_t, int32_t or int64_t");
    std::string h = npy_header_bytes(NpyDtype<T>::descr, t.shape());
    std::vector<uint8_t> out(h.begin(), h.end());
    const uint8_t* d = reinterpret_cast<const uint8_t*>(t.data());
    out.insert(out.end(), d, d + static_cast<size_t>(t.numel()) * sizeof(T));
    return out;
}

// Writes t as an .npy file atomically (temp file + rename; see file_io.hpp).
template <class T>
void npy_save(const std::string& path, const Tensor<T>& t) {
    static_assert(detail::npy_supported_v<T>, "npy: T must be float, double, uint8_t, int32_t or int64_t");
    std::string h = npy_header_bytes(NpyDtype<T>::descr, t.shape());
    write_file_atomic(path, [&](std::ostream& os) {
        os.write(h.data(), static_cast<std::streamsize>(h.size()));
        os.write(reinterpret_cast<const char*>(t.data()),
                 static_cast<std::streamsize>(static_cast<size_t>(t.numel()) * sizeof(T)));
    });
}

}  // namespace evsam
