// Replays every fuzz finding (tests/fuzz/crashes/<harness>/) and every seed (tests/fuzz/corpus/<harness>/)
// through the libFuzzer harnesses' own entry functions (tests/fuzz/fuzz_targets.hpp), without libFuzzer:
// each finding stays a regression test of the normal suite, and .ci/sanitize.sh runs it under ASan/UBSan.
// An entry catches evsam::Error only; anything else escaping fails the test naming the file.
#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../fuzz/fuzz_targets.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_fuzz_regressions {

namespace {

namespace fs = std::filesystem;

const fs::path kFuzzDir = fs::path(EVSAM_TEST_DATA) / ".." / "fuzz";

const std::map<std::string, std::function<void(const uint8_t*, size_t)>>& entries() {
    static const std::map<std::string, std::function<void(const uint8_t*, size_t)>> m = {
        {"checkpoint", evsam::fuzz::checkpoint},
        {"safetensors", evsam::fuzz::safetensors},
        {"npy", evsam::fuzz::npy},
        {"image", evsam::fuzz::image},
        {"args", evsam::fuzz::args},
        {"serve", evsam::fuzz::serve},
        {"coco", evsam::fuzz::coco}};
    return m;
}

// Runs every file under <root>/<harness>/ through its entry; returns how many ran.
int replay(const fs::path& root) {
    int n = 0;
    if (!fs::is_directory(root)) return 0;
    for (const auto& dir : fs::directory_iterator(root)) {
        if (!dir.is_directory()) continue;
        const std::string harness = dir.path().filename().string();
        auto it = entries().find(harness);
        EXPECT_NE(it, entries().end()) << root << ": folder '" << harness << "' names no fuzz harness";
        if (it == entries().end()) continue;
        std::vector<fs::path> files;
        for (const auto& f : fs::directory_iterator(dir.path()))
            if (f.is_regular_file() && f.path().filename() != "README.md") files.push_back(f.path());
        std::sort(files.begin(), files.end());
        for (const fs::path& f : files) {
            SCOPED_TRACE(f.string());
            std::vector<uint8_t> bytes = evsam::read_file(f.string());
            try {
                it->second(bytes.data(), bytes.size());
            } catch (const std::exception& e) {
                ADD_FAILURE() << harness << ": " << f << " let an exception escape: " << e.what();
            } catch (...) {
                ADD_FAILURE() << harness << ": " << f << " let a non-std exception escape";
            }
            ++n;
        }
    }
    return n;
}

TEST(FuzzRegressions, CrashReproducersAreHandled) {
    ASSERT_TRUE(fs::is_directory(kFuzzDir / "crashes")) << kFuzzDir / "crashes";
    const int n = replay(kFuzzDir / "crashes");
    std::cout << "[ crashes ] " << n << " reproducers replayed\n";
}

TEST(FuzzRegressions, SeedCorporaAreHandled) {
    const int n = replay(kFuzzDir / "corpus");
    EXPECT_GE(n, 50) << "seed corpora missing under " << kFuzzDir / "corpus";
}

// The findings, fixed: each is now a one-line evsam::Error naming the problem (or, for the PNG,
// whatever stb says about the truncated file, after the empty IDAT was dropped).
TEST(FuzzRegressions, FindingsAreOneLineErrors) {
    const std::map<std::string, std::string> expected = {
        {"checkpoint/pickle_nested_1tuples_100k.pt", "pickle nests containers deeper than 1000 levels"},
        {"checkpoint/pickle_list_contains_itself.pt", "reference cycle"},
        {"checkpoint/pickle_dict_contains_itself.pt", "reference cycle"},
        {"safetensors/shape_dim_above_int64_max.safetensors", "has a bad shape"},
    };
    for (auto& [rel, what] : expected) {
        SCOPED_TRACE(rel);
        auto b = evsam::read_file((kFuzzDir / "crashes" / rel).string());
        try {
            evsam::Checkpoint::from_memory(b, rel);
            ADD_FAILURE() << "opened";
        } catch (const evsam::Error& e) {
            EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
            EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
        }
    }
    auto png = evsam::read_file((kFuzzDir / "crashes" / "image" / "png_empty_idat_without_crc.png").string());
    EXPECT_THROW(evsam::load_image_from_memory(png.data(), png.size(), "png"), evsam::Error);
}

// The entries are quiet on valid input too: the seeds that are real files open and decode.
TEST(FuzzRegressions, ValidSeedsParse) {
    auto bytes = [](const std::string& rel) { return evsam::read_file((kFuzzDir / "corpus" / rel).string()); };
    {
        auto b = bytes("checkpoint/tiny_fp32.pt");
        EXPECT_FALSE(evsam::Checkpoint::from_memory(b).tensors().empty());
    }
    {
        auto b = bytes("safetensors/alldtypes.safetensors");
        auto ck = evsam::Checkpoint::from_memory(b);
        EXPECT_EQ(ck.tensors().size(), 9u);
        EXPECT_EQ(evsam::Checkpoint::to_tensor<float>(*ck.find("i16"))[0], -1.0f);
        EXPECT_EQ(evsam::Checkpoint::to_tensor<float>(*ck.find("scalar"))[0], 3.25f);
    }
    {
        auto b = bytes("image/rgb_q95.jpg");
        EXPECT_GT(evsam::load_image_from_memory(b.data(), b.size(), "rgb_q95.jpg").data.size(), 0u);
    }
    {
        auto b = bytes("args/points_box.txt");
        evsam::tool::Args a("predict", evsam::tool::predict_flag_specs(), evsam::fuzz::split_argv(b.data(), b.size()));
        EXPECT_EQ(a.all("point").size(), 2u);
        EXPECT_EQ(a.number_list(a.str("box"), "--box", 4, 4).size(), 4u);
    }
}

}  // namespace

}  // namespace test_fuzz_regressions
