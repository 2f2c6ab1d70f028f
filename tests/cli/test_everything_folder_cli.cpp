// `evsam everything --image DIR|LIST.txt --out DIR`: one output per image, named as upstream's
// scripts/amg.py names them, each the same bytes as a single-image run; a broken image listed in
// failures.txt with a non-zero exit while the others are written; a rerun resumes (finished images
// untouched); two shards into one folder give the unsharded folder; bad flags are one line.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "cli_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_everything_folder_cli {

namespace {

namespace fs = std::filesystem;
using evsam_test::is_clean_error;
using evsam_test::run_evsam;
using evsam_test::slurp;

const std::string kTiny = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";
std::string tmp(const std::string& n) { return ::testing::TempDir() + "evsam_folder_" + n; }
const char* kImages[] = {"image_a.png", "image_c.png"};

std::string base() {
    return "everything --weights " + kTiny + "model.pt --config " + kTiny +
           "config.json --points-per-side 4 --points-per-batch 5 --pred-iou-thresh 0 --stability-score-thresh 0.5 "
           "--stability-score-offset 0.005 --box-nms-thresh 0.7 --threads 2";
}

// A folder with the two amg images and one file that is not an image.
std::string make_input(const std::string& name, bool broken) {
    const std::string d = tmp(name);
    fs::remove_all(d);
    fs::create_directories(d);
    for (const char* i : kImages) fs::copy_file(kTiny + "amg/" + i, d + "/" + i);
    if (broken) std::ofstream(d + "/broken.png") << "not a png";
    return d;
}

std::string listing(const std::string& dir) {  // name and bytes of every file, in name order
    std::vector<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(dir)) names.push_back(fs::relative(e.path(), dir).string());
    std::sort(names.begin(), names.end());
    std::string s;
    for (const auto& n : names) s += n + "\n" + (fs::is_directory(dir + "/" + n) ? "" : slurp(dir + "/" + n)) + "\n";
    return s;
}

TEST(CliEverythingFolder, EachOutputIsTheSingleImageRunsBytes) {
    const std::string in = make_input("in", false), out = tmp("out");
    fs::remove_all(out);
    auto r = run_evsam(base() + " --output-mode coco_rle --image " + in + " --out " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("2 images: 2 segmented, 0 already done, 0 failed"), std::string::npos) << r.err;
    for (const char* i : kImages) {
        const std::string stem = fs::path(i).stem().string(), single = tmp(stem + ".json");
        auto s = run_evsam(base() + " --output-mode coco_rle --image " + kTiny + "amg/" + i + " --out " + single);
        ASSERT_EQ(s.code, 0) << s.err;
        EXPECT_EQ(slurp(out + "/" + stem + ".json"), slurp(single)) << i;
        fs::remove(single);
    }
    EXPECT_FALSE(fs::exists(out + "/failures.txt"));
    // binary_mask: a folder per image, as amg.py's write_masks_to_folder
    const std::string bin = tmp("bin");
    fs::remove_all(bin);
    r = run_evsam(base() + " --image " + in + " --out " + bin);
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* i : kImages) {
        const std::string stem = fs::path(i).stem().string();
        EXPECT_TRUE(fs::exists(bin + "/" + stem + "/metadata.csv")) << i;
        EXPECT_TRUE(fs::exists(bin + "/" + stem + "/0.png")) << i;
    }
    // a list file names the same images
    const std::string list = tmp("list.txt"), out2 = tmp("out_list");
    fs::remove_all(out2);
    std::ofstream(list) << "# two images\n" << in << "/image_a.png\n\n" << in << "/image_c.png\r\n";
    r = run_evsam(base() + " --output-mode coco_rle --image " + list + " --out " + out2);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(listing(out2), listing(out));
    for (const auto& d : {in, out, bin, out2, list}) fs::remove_all(d);
}

TEST(CliEverythingFolder, FailuresAreListedAndARerunResumes) {
    const std::string in = make_input("in_broken", true), out = tmp("out_broken");
    fs::remove_all(out);
    auto r = run_evsam(base() + " --output-mode coco_rle --image " + in + " --out " + out);
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find("broken.png"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("1 of 3 images failed"), std::string::npos) << r.err;
    const std::string failures = slurp(out + "/failures.txt");
    EXPECT_NE(failures.find(in + "/broken.png\t"), std::string::npos) << failures;
    EXPECT_EQ(std::count(failures.begin(), failures.end(), '\n'), 1);
    ASSERT_TRUE(fs::exists(out + "/image_a.json"));
    ASSERT_TRUE(fs::exists(out + "/image_c.json"));
    // rerun without the broken image: nothing is redone, the stale list goes
    fs::remove(in + "/broken.png");
    const auto before = fs::last_write_time(out + "/image_a.json");
    const std::string bytes = slurp(out + "/image_a.json");
    r = run_evsam(base() + " --output-mode coco_rle --image " + in + " --out " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("2 images: 0 segmented, 2 already done, 0 failed"), std::string::npos) << r.err;
    EXPECT_EQ(fs::last_write_time(out + "/image_a.json"), before);
    EXPECT_EQ(slurp(out + "/image_a.json"), bytes);
    EXPECT_FALSE(fs::exists(out + "/failures.txt"));
    // an interrupted image's temporary output is not taken for a finished one
    fs::remove(out + "/image_c.json");
    std::ofstream(out + "/image_c.json.tmp.12345") << "half";
    r = run_evsam(base() + " --output-mode coco_rle --image " + in + " --out " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("1 segmented, 1 already done"), std::string::npos) << r.err;
    for (const auto& d : {in, out}) fs::remove_all(d);
}

TEST(CliEverythingFolder, ShardsSideBySideGiveTheUnshardedFolder) {
    const std::string in = make_input("in_shard", true), whole = tmp("whole"), sharded = tmp("sharded");
    fs::remove_all(whole);
    fs::remove_all(sharded);
    auto r = run_evsam(base() + " --output-mode coco_rle --image " + in + " --out " + whole);
    EXPECT_NE(r.code, 0);  // broken.png
    for (int i = 0; i < 2; ++i) {
        auto s = run_evsam(base() + " --output-mode coco_rle --image " + in + " --out " + sharded + " --shard " +
                           std::to_string(i) + "/2");
        EXPECT_EQ(s.code != 0, i == 0) << s.err;  // broken.png is index 0 of (broken, image_a, image_c)
    }
    ASSERT_TRUE(fs::exists(sharded + "/failures-0-of-2.txt"));
    EXPECT_EQ(slurp(sharded + "/failures-0-of-2.txt"), slurp(whole + "/failures.txt"));
    fs::remove(sharded + "/failures-0-of-2.txt");
    fs::remove(whole + "/failures.txt");
    EXPECT_EQ(listing(sharded), listing(whole));
    for (const auto& d : {in, whole, sharded}) fs::remove_all(d);
}

TEST(CliEverythingFolder, BadFlagsAreOneLine) {
    const std::string in = make_input("in_bad", false);
    fs::copy_file(kTiny + "amg/image_a.png", in + "/image_a.bmp");  // the same output name as image_a.png
    const std::string out = tmp("out_bad");
    fs::remove_all(out);
    const std::string bad[] = {
        base() + " --image " + in + " --out " + out,
        base() + " --image " + kTiny + "amg/image_a.png --out " + out + " --shard 0/2",
        base() + " --image " + tmp("nowhere.txt") + " --out " + out,
        base() + " --image " + kTiny + "amg --out " + out + " --overlay " + tmp("o.png"),
        base() + " --image " + kTiny + "amg --out " + out + " --shard 1/1",
    };
    for (const auto& a : bad) {
        auto r = run_evsam(a);
        EXPECT_TRUE(is_clean_error(r)) << a;
        EXPECT_FALSE(fs::exists(out)) << a;
    }
    fs::remove_all(in);
}

}  // namespace

}  // namespace test_everything_folder_cli
