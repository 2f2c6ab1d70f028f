// The safe pickle subset and the safetensors header parser on hand-made inputs.
#include <gtest/gtest.h>

#include <algorithm>

#include <evsam/core/checkpoint.hpp>
#include <evsam/core/pickle.hpp>
#include <string>

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_pickle {

namespace {

// A string literal with embedded NULs kept (std::string(const char*) would stop at the first).
template <size_t N>
std::string B(const char (&s)[N]) {
    return std::string(s, N - 1);
}

evsam::PyRef unpickle(const std::string& s) {
    return evsam::unpickle_safe(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "test.pkl");
}

std::string error_of(const std::string& s) {
    try {
        unpickle(s);
    } catch (const evsam::Error& e) {
        return e.what();
    }
    return "";
}

TEST(Pickle, ContainersAndScalars) {
    // {'a': [1, -2, 300, 70000], 'b': (True, None, 'x')}  (protocol 2, hand-assembled)
    std::string p =
        B("\x80\x02}q\x00(X\x01\x00\x00\x00"
          "a"
          "](K\x01J\xfe\xff\xff\xffM\x2c\x01J\x70\x11\x01\x00"
          "e"
          "X\x01\x00\x00\x00"
          "b"
          "\x88N\x8c\x01x\x87u.");
    auto r = unpickle(p);
    ASSERT_EQ(r->kind, evsam::PyObj::Dict);
    ASSERT_EQ(r->kv.size(), 2u);
    EXPECT_EQ(r->kv[0].first->s, "a");
    const auto& l = r->kv[0].second->items;
    ASSERT_EQ(l.size(), 4u);
    EXPECT_EQ(l[0]->i, 1);
    EXPECT_EQ(l[1]->i, -2);
    EXPECT_EQ(l[2]->i, 300);
    EXPECT_EQ(l[3]->i, 70000);
    const auto& t = r->kv[1].second;
    ASSERT_EQ(t->kind, evsam::PyObj::Tuple);
    ASSERT_EQ(t->items.size(), 3u);
    EXPECT_EQ(t->items[0]->kind, evsam::PyObj::Bool);
    EXPECT_EQ(t->items[1]->kind, evsam::PyObj::None);
    EXPECT_EQ(t->items[2]->s, "x");
}

TEST(Pickle, RefusesForbiddenGlobalsByName) {
    EXPECT_NE(error_of("\x80\x02"
                       "cposix\nsystem\n"
                       "X\x02\x00\x00\x00"
                       "ls"
                       "\x85R."),
              std::string());
    EXPECT_NE(error_of("\x80\x02"
                       "cposix\nsystem\n.")
                  .find("refused pickle global 'posix.system'"),
              std::string::npos);
    EXPECT_NE(error_of("\x80\x02"
                       "c__builtin__\neval\n.")
                  .find("__builtin__.eval"),
              std::string::npos);
    // protocol 4 STACK_GLOBAL goes through the same allow-list
    EXPECT_NE(error_of("\x80\x04\x8c\x02os\x8c\x06system\x93.").find("os.system"), std::string::npos);
    // an allowed storage class may be named but not called
    EXPECT_NE(error_of("\x80\x02"
                       "ctorch\nFloatStorage\n)R.")
                  .find("refused call"),
              std::string::npos);
}

TEST(Pickle, MalformedStreamsAreErrors) {
    for (std::string bad : {std::string(""), std::string("\x80\x02"), std::string("\x80\x02}"),  // no STOP
                            std::string("\x80\x02."),                                            // empty stack
                            std::string("\x80\x02h\x05."),                                       // unknown memo id
                            std::string("\x80\x02t."),                                           // TUPLE without MARK
                            std::string("\x80\x02X\xff\xff\xff\x7f"),                            // string past the end
                            std::string("\x80\x02K\x01K\x02."),                                  // two values at STOP
                            B("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00."),          // int > 64 bits
                            std::string("\x80\x02i."),                                           // INST: not allowed
                            std::string("\x80\x02"
                                        "ccollections\nOrderedDict\n")}) {  // GLOBAL then EOF
        SCOPED_TRACE(testing::PrintToString(bad));
        EXPECT_THROW(unpickle(bad), evsam::Error);
    }
    EXPECT_NE(error_of(B("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00.")).find("wider than 64"),
              std::string::npos);
    EXPECT_NE(error_of("\x80\x02i.").find("unsupported pickle opcode 0x69"), std::string::npos);
}

std::vector<uint8_t> safetensors(const std::string& header, size_t data_bytes) {
    std::vector<uint8_t> b(8 + header.size() + data_bytes, 0);  // length, JSON header, zero data
    const uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) b[static_cast<size_t>(i)] = static_cast<uint8_t>(n >> (8 * i));
    std::copy(header.begin(), header.end(), b.begin() + 8);
    return b;
}

TEST(Safetensors, ReadsAndRejectsMalformedHeaders) {
    auto ok = evsam::Checkpoint::from_memory(
        safetensors(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"__metadata__":{"a":"b"}})", 24), "ok");
    ASSERT_EQ(ok.tensors().size(), 1u);
    EXPECT_EQ(ok.format(), "safetensors");
    EXPECT_EQ(ok.find("w")->desc.shape, (evsam::Shape{2, 3}));
    const std::pair<std::string, size_t> bad[] = {
        {R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", 20},                  // data past the end
        {R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 24},                  // size != shape
        {R"({"w":{"dtype":"Q8","shape":[2],"data_offsets":[0,2]}})", 2},                       // unknown dtype
        {R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4},                     // negative dim
        {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8},                      // reversed offsets
        {R"({"w":{"dtype":"F32"}})", 0},                                                       // missing fields
        {R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0},  // overflow
        {R"({"w": [1,2,)", 0},                                                                 // bad JSON
    };
    for (auto& [h, n] : bad) {
        SCOPED_TRACE(h);
        EXPECT_THROW(evsam::Checkpoint::from_memory(safetensors(h, n), "bad"), evsam::Error);
    }
    auto huge = safetensors("{}", 0);
    huge[7] = 0x7f;  // header length far beyond the file
    EXPECT_THROW(evsam::Checkpoint::from_memory(huge, "huge"), evsam::Error);
}

}  // namespace

}  // namespace test_pickle
