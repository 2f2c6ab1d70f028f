// Tests for evsam/core/npy.hpp and evsam/core/file_io.hpp.
// Fixtures: tests/data/io/npy/, made by validation/make_io_fixtures.py (numpy 1.24).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "evsam/core/file_io.hpp"
#include "evsam/core/npy.hpp"
#include "temp_dir.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_npy {

namespace {

namespace fs = std::filesystem;
using evsam::Shape;
using evsam::Tensor;

const std::string kNpy = std::string(EVSAM_TEST_DATA) + "/io/npy/";

// Runs f, which must throw evsam::Error whose one-line message contains every `parts` string.
template <class F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
    try {
        f();
    } catch (const evsam::Error& e) {
        std::string msg = e.what();
        EXPECT_EQ(msg.find('\n'), std::string::npos) << "multi-line message: " << msg;
        for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
        return;
    } catch (const std::exception& e) {
        ADD_FAILURE() << "expected evsam::Error, got another exception: " << e.what();
        return;
    }
    ADD_FAILURE() << "expected evsam::Error, nothing was thrown";
}

using evsam_test::TempDir;

uint32_t f32_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// Builds an .npy buffer with the given header dict text (padded like numpy) and data bytes.
std::vector<uint8_t> make_npy(const std::string& dict, size_t data_bytes, int major = 1) {
    std::string h = dict;
    size_t prefix = major == 1 ? 10 : 12;
    while ((prefix + h.size() + 1) % 64) h += ' ';
    h += '\n';
    std::vector<uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
    uint32_t n = static_cast<uint32_t>(h.size());
    for (size_t i = 0; i < prefix - 8; ++i) b.push_back(static_cast<uint8_t>(n >> (8 * i)));
    b.insert(b.end(), h.begin(), h.end());
    for (size_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<uint8_t>(i * 7 + 1));
    return b;
}

evsam::NpyArray parse(const std::vector<uint8_t>& b) { return evsam::npy_parse(b.data(), b.size(), "mem.npy"); }

// ------------------------------------------------------------------ numpy-written files
TEST(Npy, Float32SpecialValues) {
    Shape want_shape{2, 3};
    Tensor<float> t = evsam::npy_load_exact<float>(kNpy + "f32_2x3.npy", &want_shape);
    ASSERT_EQ(t.shape(), want_shape);
    EXPECT_EQ(f32_bits(t[0]), 0u);
    EXPECT_EQ(f32_bits(t[1]), 0x80000000u);  // -0.0 keeps its sign bit
    EXPECT_EQ(t[2], 1.5f);
    EXPECT_EQ(f32_bits(t[3]), 1u);  // smallest subnormal, 1e-45
    EXPECT_EQ(t[4], std::numeric_limits<float>::max());
    EXPECT_EQ(t[5], -std::numeric_limits<float>::infinity());
    Tensor<float> n = evsam::npy_load_exact<float>(kNpy + "f32_nan.npy");
    ASSERT_EQ(n.shape(), Shape{2});
    EXPECT_TRUE(std::isnan(n[0]));
    EXPECT_EQ(n[1], 1.0f);
}

TEST(Npy, Float64FourD) {
    Tensor<double> t = evsam::npy_load_exact<double>(kNpy + "f64_1x2x3x4.npy");
    ASSERT_EQ(t.shape(), (Shape{1, 2, 3, 4}));
    for (int i = 0; i < 24; ++i) EXPECT_EQ(t[i], static_cast<double>(i) / 7.0 - 1.0) << i;
    EXPECT_EQ(t.at(0, 1, 2, 3), 23.0 / 7.0 - 1.0);
}

TEST(Npy, IntegerDtypes) {
    Tensor<uint8_t> u = evsam::npy_load_exact<uint8_t>(kNpy + "u8_7.npy");
    ASSERT_EQ(u.shape(), Shape{7});
    const uint8_t wu[] = {0, 1, 2, 127, 128, 254, 255};
    for (int i = 0; i < 7; ++i) EXPECT_EQ(u[i], wu[i]);

    Tensor<int32_t> s = evsam::npy_load_exact<int32_t>(kNpy + "i32_scalar.npy");
    EXPECT_EQ(s.shape(), Shape{});  // 0-d
    ASSERT_EQ(s.numel(), 1);
    EXPECT_EQ(s[0], -123456);

    Tensor<int32_t> i3 = evsam::npy_load_exact<int32_t>(kNpy + "i32_3.npy");
    ASSERT_EQ(i3.numel(), 3);
    EXPECT_EQ(i3[0], std::numeric_limits<int32_t>::min());
    EXPECT_EQ(i3[1], 0);
    EXPECT_EQ(i3[2], std::numeric_limits<int32_t>::max());

    Tensor<int64_t> i4 = evsam::npy_load_exact<int64_t>(kNpy + "i64_4.npy");
    ASSERT_EQ(i4.numel(), 4);
    EXPECT_EQ(i4[0], std::numeric_limits<int64_t>::min());
    EXPECT_EQ(i4[1], -1);
    EXPECT_EQ(i4[2], (int64_t(1) << 53) + 1);
    EXPECT_EQ(i4[3], std::numeric_limits<int64_t>::max());

    Tensor<int64_t> e = evsam::npy_load_exact<int64_t>(kNpy + "i64_2x0x3.npy");
    EXPECT_EQ(e.shape(), (Shape{2, 0, 3}));
    EXPECT_EQ(e.numel(), 0);
}

TEST(Npy, BoolReadsAsUint8) {
    evsam::NpyArray a = evsam::npy_load(kNpy + "b1_2x2.npy");
    EXPECT_EQ(a.dtype, "|b1");
    EXPECT_EQ(a.shape, (Shape{2, 2}));
    Tensor<uint8_t> m = evsam::npy_load_exact<uint8_t>(kNpy + "b1_2x2.npy");
    const uint8_t want[] = {1, 0, 0, 1};
    for (int i = 0; i < 4; ++i) EXPECT_EQ(m[i], want[i]);
    Tensor<float> f = evsam::npy_load_as<float>(kNpy + "b1_2x2.npy");
    for (int i = 0; i < 4; ++i) EXPECT_EQ(f[i], static_cast<float>(want[i]));
    expect_error([] { evsam::npy_load_exact<float>(kNpy + "b1_2x2.npy"); }, {"b1_2x2.npy", "got bool"});
}

TEST(Npy, Versions2And3) {
    for (const char* name : {"f32_2x3_v2.npy", "f32_2x3_v3.npy"}) {
        evsam::NpyArray a = evsam::npy_load(kNpy + name);
        EXPECT_EQ(a.dtype, "<f4");
        Tensor<float> t = evsam::npy_exact<float>(a, name);
        ASSERT_EQ(t.shape(), (Shape{2, 3})) << name;
        for (int i = 0; i < 6; ++i) EXPECT_EQ(t[i], 0.25f * static_cast<float>(i)) << name;
    }
    std::vector<uint8_t> b = evsam::read_file(kNpy + "f32_2x3_v2.npy");
    EXPECT_EQ(evsam::npy_parse_header(b.data(), b.size(), "v2").major, 2);
}

TEST(Npy, NpyArrayBytesAndHeader) {
    evsam::NpyArray a = evsam::npy_load(kNpy + "i32_3.npy");
    EXPECT_EQ(a.dtype, "<i4");
    EXPECT_EQ(a.numel(), 3);
    ASSERT_EQ(a.bytes.size(), 12u);
    int32_t v;
    std::memcpy(&v, a.bytes.data() + 8, 4);
    EXPECT_EQ(v, std::numeric_limits<int32_t>::max());
    std::vector<uint8_t> file = evsam::read_file(kNpy + "i32_3.npy");
    evsam::NpyHeader h = evsam::npy_parse_header(file.data(), file.size(), "i32_3");
    EXPECT_EQ(h.major, 1);
    EXPECT_EQ(h.data_offset % 64, 0u);  // numpy aligns the data to 64 bytes
    EXPECT_EQ(h.data_offset + h.data_bytes, file.size());
}

// ------------------------------------------------------------------ conversions
TEST(Npy, LoadAsConverts) {
    Tensor<float> f = evsam::npy_load_as<float>(kNpy + "f64_1x2x3x4.npy");
    ASSERT_EQ(f.shape(), (Shape{1, 2, 3, 4}));
    for (int i = 0; i < 24; ++i) EXPECT_EQ(f[i], static_cast<float>(i / 7.0 - 1.0));
    Tensor<double> d = evsam::npy_load_as<double>(kNpy + "i64_4.npy");
    EXPECT_EQ(d[1], -1.0);
    EXPECT_EQ(d[0], -9223372036854775808.0);
    Tensor<int64_t> u = evsam::npy_load_as<int64_t>(kNpy + "u8_7.npy");
    EXPECT_EQ(u[6], 255);
    Tensor<int32_t> t = evsam::npy_load_as<int32_t>(kNpy + "f64_1x2x3x4.npy");
    EXPECT_EQ(t[0], -1);  // -1.0
    EXPECT_EQ(t[3], 0);   // 3/7 - 1 = -0.571 truncates toward zero, like numpy astype
    EXPECT_EQ(t[23], 2);  // 23/7 - 1 = 2.29
    Tensor<double> s = evsam::npy_load_as<double>(kNpy + "i32_scalar.npy");
    EXPECT_EQ(s.shape(), Shape{});
    EXPECT_EQ(s[0], -123456.0);
}

TEST(Npy, LoadAsRefusesUnrepresentableValues) {
    // Float -> int of inf / NaN / out of range would be UB in C++; it is an error instead.
    expect_error([] { evsam::npy_load_as<int32_t>(kNpy + "f32_2x3.npy"); }, {"f32_2x3.npy", "flat index 4", "int32"});
    expect_error([] { evsam::npy_load_as<int64_t>(kNpy + "f32_nan.npy"); }, {"nan", "flat index 0", "int64"});
    expect_error([] { evsam::npy_load_as<uint8_t>(kNpy + "i32_3.npy"); }, {"-2147483648", "out of range for uint8"});
    expect_error([] { evsam::npy_load_as<int32_t>(kNpy + "i64_4.npy"); }, {"flat index 0", "int32"});
}

TEST(Npy, LoadExactNamesExpectedAndActual) {
    expect_error([] { evsam::npy_load_exact<float>(kNpy + "f64_1x2x3x4.npy"); },
                 {"f64_1x2x3x4.npy", "expected dtype float32 ('<f4')", "got float64 ('<f8')"});
    expect_error([] { evsam::npy_load_exact<int64_t>(kNpy + "i32_3.npy"); }, {"expected dtype int64", "got int32"});
    Shape want{1, 3, 4};
    expect_error([&] { evsam::npy_load_exact<float>(kNpy + "f32_2x3.npy", &want); },
                 {"f32_2x3.npy", "expected shape (1, 3, 4)", "got (2, 3)"});
    Shape scalar{};
    EXPECT_NO_THROW(evsam::npy_load_exact<int32_t>(kNpy + "i32_scalar.npy", &scalar));
    Shape one{1};
    expect_error([&] { evsam::npy_load_exact<int32_t>(kNpy + "i32_scalar.npy", &one); },
                 {"expected shape (1,)", "got ()"});
}

// ------------------------------------------------------------------ writing
// np.save and npy_save must agree byte for byte (header text, 21-digit growth padding, 64-byte alignment).
TEST(Npy, SaveMatchesNumpyBytes) {
    TempDir dir;
    auto check = [&](const std::string& name, auto tag) {
        using T = decltype(tag);
        std::vector<uint8_t> ref = evsam::read_file(kNpy + name);
        Tensor<T> t = evsam::npy_load_exact<T>(kNpy + name);
        EXPECT_EQ(evsam::npy_encode(t), ref) << name;
        evsam::npy_save(dir / name, t);
        EXPECT_EQ(evsam::read_file(dir / name), ref) << name;
    };
    check("f32_2x3.npy", float{});
    check("f32_nan.npy", float{});
    check("f64_1x2x3x4.npy", double{});
    check("u8_7.npy", uint8_t{});
    check("i32_scalar.npy", int32_t{});
    check("i32_3.npy", int32_t{});
    check("i64_2x0x3.npy", int64_t{});
    check("i64_4.npy", int64_t{});
    EXPECT_EQ(dir.count(), 8u);  // no temp files left behind
}

template <class T>
void round_trip(const std::string& dir, const Shape& shape, uint32_t seed) {
    Tensor<T> t(shape);
    std::mt19937 rng(seed);
    for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(static_cast<int64_t>(rng() % 2001) - 1000) / T(4);
    std::string path = dir + "/rt_" + std::to_string(seed) + ".npy";
    evsam::npy_save(path, t);
    Tensor<T> back = evsam::npy_load_exact<T>(path, &shape);
    ASSERT_EQ(back.numel(), t.numel());
    for (int64_t i = 0; i < t.numel(); ++i) ASSERT_EQ(back[i], t[i]) << i;
    std::vector<uint8_t> file = evsam::read_file(path);
    EXPECT_EQ(evsam::npy_parse_header(file.data(), file.size(), path).data_offset % 64, 0u);
}

TEST(Npy, RoundTrip) {
    TempDir dir;
    uint32_t seed = 1;
    for (const Shape& s : {Shape{}, Shape{1}, Shape{5}, Shape{2, 3}, Shape{1, 3, 4, 5}, Shape{2, 1, 3, 1, 2},
                           Shape{3, 0}, Shape{0}, Shape{1234567890123, 0}}) {
        round_trip<float>(dir.path, s, seed++);
        round_trip<double>(dir.path, s, seed++);
        round_trip<int32_t>(dir.path, s, seed++);
        round_trip<int64_t>(dir.path, s, seed++);
        Tensor<uint8_t> u(s);
        for (int64_t i = 0; i < u.numel(); ++i) u[i] = static_cast<uint8_t>(i * 37);
        evsam::npy_save(dir / "u8.npy", u);
        Tensor<uint8_t> ub = evsam::npy_load_exact<uint8_t>(dir / "u8.npy", &s);
        for (int64_t i = 0; i < u.numel(); ++i) ASSERT_EQ(ub[i], u[i]);
    }
    // A large first dim: numpy's growth padding shrinks as the number gets longer.
    Tensor<float> big({100000, 1}, 0.5f);
    evsam::npy_save(dir / "big.npy", big);
    EXPECT_EQ(evsam::npy_load_exact<float>(dir / "big.npy")[99999], 0.5f);
}

// ------------------------------------------------------------------ refused files
TEST(Npy, BadFixtureFiles) {
    expect_error([] { evsam::npy_load(kNpy + "bad_fortran.npy"); }, {"bad_fortran.npy", "fortran_order=True"});
    expect_error([] { evsam::npy_load(kNpy + "bad_bigendian.npy"); }, {"bad_bigendian.npy", "big-endian", "'>f4'"});
    expect_error([] { evsam::npy_load(kNpy + "bad_object.npy"); }, {"bad_object.npy", "object arrays", "'|O'"});
    expect_error([] { evsam::npy_load(kNpy + "bad_float16.npy"); }, {"bad_float16.npy", "unsupported dtype '<f2'"});
    expect_error([] { evsam::npy_load(kNpy + "bad_truncated.npy"); },
                 {"bad_truncated.npy", "truncated", "needs 48 bytes, file has 43"});
    expect_error([] { evsam::npy_load(kNpy + "bad_trailing.npy"); }, {"bad_trailing.npy", "4 unexpected trailing"});
    expect_error([] { evsam::npy_load(kNpy + "bad_magic.npy"); }, {"bad_magic.npy", "not an .npy file"});
    expect_error([] { evsam::npy_load(kNpy + "bad_header_unclosed.npy"); },
                 {"bad_header_unclosed.npy", "bad .npy header", "expected a quoted string"});
    expect_error([] { evsam::npy_load(kNpy + "bad_header_len.npy"); }, {"bad_header_len.npy", "header length 5000"});
    // 2^40 floats announced, 8 bytes present: refused from the header alone, nothing allocated.
    expect_error([] { evsam::npy_load_as<float>(kNpy + "bad_absurd_shape.npy"); },
                 {"bad_absurd_shape.npy", "needs 4398046511104 bytes, file has 8"});
    expect_error([] { evsam::npy_load(kNpy + "does_not_exist.npy"); }, {"file not found", "does_not_exist.npy"});
    expect_error([] { evsam::npy_load(kNpy); }, {"is a directory"});
}

TEST(Npy, BadHeaders) {
    const std::string ok_tail = "'fortran_order': False, 'shape': (2,), }";
    EXPECT_NO_THROW(parse(make_npy("{'descr': '<f4', " + ok_tail, 8)));
    // Accepted variants: double quotes, no trailing comma, Python 2 'L', any key order, v2.0, no spaces.
    EXPECT_EQ(parse(make_npy("{\"descr\": \"<i8\", \"fortran_order\": False, \"shape\": (2, 3)}", 48)).shape,
              (Shape{2, 3}));
    EXPECT_EQ(parse(make_npy("{'shape': (3L, 1L), 'fortran_order': False, 'descr': '|u1'}", 3)).shape, (Shape{3, 1}));
    EXPECT_EQ(parse(make_npy("{'descr':'<f8','fortran_order':False,'shape':(1,),}", 8, 2)).dtype, "<f8");
    EXPECT_EQ(parse(make_npy("{'descr': '<u1', " + ok_tail, 2)).dtype, "|u1");  // 1-byte: byte order ignored

    auto bad = [&](const std::string& dict, size_t data, std::initializer_list<std::string> parts, int major = 1) {
        SCOPED_TRACE(dict);
        std::vector<uint8_t> b = make_npy(dict, data, major);
        expect_error([&] { parse(b); }, parts);
        expect_error([&] { evsam::npy_parse_as<double>(b.data(), b.size(), "mem.npy"); }, parts);
    };
    bad("{'fortran_order': False, 'shape': (2,), }", 8, {"mem.npy", "no 'descr' key"});
    bad("{'descr': '<f4', 'shape': (2,), }", 8, {"no 'fortran_order' key"});
    bad("{'descr': '<f4', 'fortran_order': False, }", 8, {"no 'shape' key"});
    bad("{'descr': '<f4', 'descr': '<f4', " + ok_tail, 8, {"duplicate key 'descr'"});
    bad("{'descr': '<f4', 'extra': 1, " + ok_tail, 8, {"unexpected header key 'extra'"});
    bad("{'descr': '<f4', 'fortran_order': False, 'shape': (5), }", 20, {"must be a tuple"});
    bad("{'descr': '<f4', 'fortran_order': False, 'shape': [5], }", 20, {"'shape' must be a tuple"});
    bad("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 8, {"negative dimension"});
    bad("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 8, {"dimension too large"});
    bad("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", 8,
        {"too large (element count overflows)"});
    bad("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }", 8,
        {"too large (byte size overflows)"});
    bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,,), }", 8, {"expected a non-negative integer"});
    bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", 8, {"expected ',' or ')'"});
    bad("{'descr': [('a', '<f4')], " + ok_tail, 8, {"structured dtypes"});
    bad("{'descr': '|V8', " + ok_tail, 16, {"structured/void"});
    bad("{'descr': '<c8', " + ok_tail, 16, {"unsupported dtype '<c8'"});
    bad("{'descr': '>i8', " + ok_tail, 16, {"big-endian dtype '>i8'"});
    bad("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", 8, {"True or False"});
    bad("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8, {"fortran_order=True"});
    bad("{'descr' '<f4', " + ok_tail, 8, {"expected ':' after key 'descr'"});
    bad("{'descr': '<f4\\n', " + ok_tail, 8, {"unsupported character"});
    bad("{'descr': '<f4', " + ok_tail + " x", 8, {"unexpected text after the header dict"});
    bad("{'descr': '<f4' 'fortran_order': False, 'shape': (2,), }", 8, {"expected ',' or '}'"});
    bad("('descr', '<f4')", 8, {"must be a Python dict"});
    bad("{'descr': '\x7f\xff', " + ok_tail, 8, {"unsupported dtype '\\x7f\\xff'"});
    bad("{'descr': '\x01', " + ok_tail, 8, {"unsupported character"});

    std::vector<uint8_t> v = make_npy("{'descr': '<f4', " + ok_tail, 8);
    v[6] = 4;
    expect_error([&] { parse(v); }, {"unsupported .npy format version 4.0"});
    v[6] = 1;
    v[7] = 1;
    expect_error([&] { parse(v); }, {"version 1.1"});
    expect_error([] { evsam::npy_parse(nullptr, 0, "empty.npy"); }, {"empty.npy", "empty file"});
    const uint8_t short_magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 10};
    expect_error([&] { evsam::npy_parse(short_magic, sizeof short_magic, "s.npy"); }, {"truncated .npy file"});
}

// Every prefix of a valid file and many random corruptions must give evsam::Error or a valid array,
// never a crash or another exception type (the same property the libFuzzer target checks).
TEST(Npy, TruncationsAndMutationsNeverCrash) {
    for (const char* name : {"f32_2x3.npy", "f32_2x3_v2.npy", "i64_4.npy"}) {
        std::vector<uint8_t> full = evsam::read_file(kNpy + name);
        for (size_t n = 0; n < full.size(); ++n) {
            std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
            EXPECT_THROW(evsam::npy_parse(cut.data(), cut.size(), name), evsam::Error) << name << " cut at " << n;
        }
        std::mt19937 rng(42);
        for (int iter = 0; iter < 3000; ++iter) {
            std::vector<uint8_t> m = full;
            int flips = 1 + static_cast<int>(rng() % 4);
            for (int k = 0; k < flips; ++k) {
                size_t pos = rng() % std::min<size_t>(m.size(), 128);  // mostly the header
                m[pos] = static_cast<uint8_t>(rng());
            }
            try {
                evsam::NpyArray a = evsam::npy_parse(m.data(), m.size(), name);
                EXPECT_EQ(a.bytes.size(), static_cast<size_t>(a.numel()) * evsam::npy_itemsize(a.dtype));
                (void)evsam::npy_as<double>(a, name);
            } catch (const evsam::Error&) {
            }
        }
    }
}

// ------------------------------------------------------------------ file_io
TEST(FileIO, ReadErrors) {
    TempDir dir;
    expect_error([&] { evsam::read_file(dir / "missing.bin"); }, {"file not found", "missing.bin"});
    expect_error([&] { evsam::read_file(dir / "missing_dir/x.bin"); }, {"file not found"});
    expect_error([&] { evsam::read_file(dir.path); }, {"is a directory", dir.path});
    expect_error([] { evsam::read_file(""); }, {"empty path"});
    if (::geteuid() != 0) {  // root reads anything
        std::string p = dir / "secret.bin";
        evsam::write_file_atomic(p, "x", 1);
        ::chmod(p.c_str(), 0);
        expect_error([&] { evsam::read_file(p); }, {"cannot open", "secret.bin", "Permission denied"});
    }
    EXPECT_TRUE(evsam::read_file("/dev/null").empty());
}

TEST(FileIO, WriteAndOverwrite) {
    TempDir dir;
    std::string p = dir / "a.bin";
    evsam::write_file_atomic(p, "hello", 5);
    EXPECT_EQ(evsam::read_file(p), (std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o'}));
    evsam::write_file_atomic(p, std::vector<uint8_t>{1, 2}, /*durable=*/true);
    EXPECT_EQ(evsam::read_file(p), (std::vector<uint8_t>{1, 2}));
    evsam::write_file_atomic(p, nullptr, 0);
    EXPECT_TRUE(evsam::read_file(p).empty());
    // Streaming callback, larger than the 64 KiB stream buffer, in small and large writes.
    std::vector<char> big(200000);
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31);
    evsam::write_file_atomic(p, [&](std::ostream& os) {
        os.write(big.data(), 10);
        os << 'x';
        os.write(big.data() + 11, static_cast<std::streamsize>(big.size() - 11));
    });
    std::vector<uint8_t> back = evsam::read_file(p);
    ASSERT_EQ(back.size(), big.size());
    big[10] = 'x';
    EXPECT_EQ(std::memcmp(back.data(), big.data(), big.size()), 0);
    EXPECT_EQ(dir.count(), 1u);  // only a.bin: no temp files
}

TEST(FileIO, FailedWritesLeaveNothing) {
    TempDir dir;
    // Directory missing: clear error, nothing created anywhere.
    expect_error([&] { evsam::write_file_atomic(dir / "nodir/out.bin", "x", 1); },
                 {"nodir/out.bin", "directory", "does not exist"});
    expect_error([&] { evsam::npy_save(dir / "nodir/t.npy", Tensor<float>({2}, 1.f)); }, {"does not exist"});
    EXPECT_EQ(dir.count(), 0u);
    // Target is a directory / parent is a file.
    fs::create_directory(dir / "sub");
    expect_error([&] { evsam::write_file_atomic(dir / "sub", "x", 1); }, {"existing directory"});
    evsam::write_file_atomic(dir / "file", "x", 1);
    expect_error([&] { evsam::write_file_atomic(dir / "file/out.bin", "x", 1); }, {"not a directory"});
    expect_error([&] { evsam::write_file_atomic("", "x", 1); }, {"empty path"});
    EXPECT_EQ(dir.count(), 2u);  // sub, file

    // A throwing callback: the exception passes through, the old file is untouched, no temp left.
    std::string p = dir / "keep.bin";
    evsam::write_file_atomic(p, "old", 3);
    EXPECT_THROW(evsam::write_file_atomic(p,
                                          [](std::ostream& os) {
                                              os << "partial new content";
                                              throw std::runtime_error("boom");
                                          }),
                 std::runtime_error);
    EXPECT_EQ(evsam::read_file(p), (std::vector<uint8_t>{'o', 'l', 'd'}));
    // A callback that fails the stream.
    expect_error([&] { evsam::write_file_atomic(p, [](std::ostream& os) { os.setstate(std::ios::failbit); }); },
                 {"keep.bin", "failed state"});
    EXPECT_EQ(evsam::read_file(p), (std::vector<uint8_t>{'o', 'l', 'd'}));
    EXPECT_EQ(dir.count(), 3u);
    // Write errors from the OS (disk full) are reported too; /dev/full fails every write,
    // but the temp file must live next to the target, so emulate it with a read-only directory.
    if (::geteuid() != 0) {
        fs::create_directory(dir / "ro");
        ::chmod((dir / "ro").c_str(), 0555);
        expect_error([&] { evsam::write_file_atomic(dir / "ro/x.bin", "x", 1); }, {"cannot create temp file"});
        ::chmod((dir / "ro").c_str(), 0755);
        EXPECT_EQ(fs::is_empty(dir / "ro"), true);
    }
}

}  // namespace

}  // namespace test_npy
