// `evsam predict` on a tiny upstream-made model (--config), and its prompt validation.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <evsam/evsam.hpp>

#include "cli_util.hpp"

namespace {

using evsam_test::is_clean_error;
using evsam_test::run_evsam;

const std::string kTiny = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";
const std::string kImg = std::string(EVSAM_TEST_DATA) + "/preprocess/in_small_45x61_r512.png";  // 61 wide, 45 high

bool exists(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0;
}
std::string base() {
    return "predict --weights " + kTiny + "model.pt --config " + kTiny + "config.json --image " + kImg;
}
std::string tmp(const std::string& n) { return ::testing::TempDir() + "evsam_pred_" + n; }

TEST(CliPredict, OutputsHaveTheContractedShapesAndTypes) {
    auto r = run_evsam(base() + " --point 30,20 --point 5,5,0 --box 2,3,50,40 --out-masks " + tmp("m.npy") +
                       " --out-iou " + tmp("q.npy") + " --out-lowres " + tmp("l.npy") + " --overlay " + tmp("o.png"));
    ASSERT_EQ(r.code, 0) << r.err;
    auto m = evsam::npy_load_exact<uint8_t>(tmp("m.npy"));
    EXPECT_EQ(m.shape(), (evsam::Shape{3, 45, 61}));
    for (uint8_t v : m) ASSERT_LE(v, 1);
    EXPECT_EQ(evsam::npy_load_exact<float>(tmp("q.npy")).shape(), (evsam::Shape{3}));
    auto low = evsam::npy_load_exact<float>(tmp("l.npy"));
    EXPECT_EQ(low.shape(), (evsam::Shape{3, 256, 256}));
    auto ov = evsam::load_image(tmp("o.png"));
    EXPECT_EQ(ov.height, 45);
    EXPECT_EQ(ov.width, 61);

    // --logits: float32 logits whose sign is the binary mask
    r = run_evsam(base() + " --point 30,20 --point 5,5,0 --box 2,3,50,40 --logits --out-masks " + tmp("ml.npy"));
    ASSERT_EQ(r.code, 0) << r.err;
    auto ml = evsam::npy_load_exact<float>(tmp("ml.npy"));
    ASSERT_EQ(ml.shape(), m.shape());
    for (int64_t i = 0; i < m.numel(); ++i) ASSERT_EQ(m[i], ml[i] > 0 ? 1 : 0) << i;

    // --single-mask, and a low-res mask fed back as --mask-input (256, 256)
    evsam::Tensor<float> one({256, 256});
    std::copy(low.data(), low.data() + 256 * 256, one.data());
    evsam::npy_save(tmp("in.npy"), one);
    r = run_evsam(base() + " --point 30,20 --mask-input " + tmp("in.npy") + " --single-mask --out-masks " +
                  tmp("m1.npy"));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(evsam::npy_load_exact<uint8_t>(tmp("m1.npy")).shape(), (evsam::Shape{1, 45, 61}));

    // double runs and agrees with float on the binary masks
    r = run_evsam(base() + " --point 30,20 --point 5,5,0 --box 2,3,50,40 --dtype double --out-masks " + tmp("md.npy"));
    ASSERT_EQ(r.code, 0) << r.err;
    auto md = evsam::npy_load_exact<uint8_t>(tmp("md.npy"));
    int64_t differ = 0;
    for (int64_t i = 0; i < m.numel(); ++i) differ += m[i] != md[i];
    EXPECT_LE(differ, 2);
}

TEST(CliPredict, BadPromptsAreOneLineErrorsAndWriteNothing) {
    const std::string out = tmp("bad.npy");
    std::remove(out.c_str());
    evsam::npy_save(tmp("wrong_shape.npy"), evsam::Tensor<float>({2, 64, 64}));
    for (std::string p : std::vector<std::string>{
             "--point a,b", "--point 1", "--point 1,2,1,4", "--point nan,3", "--point 3,inf", "--point 1,2,2",
             "--point 1,2,-1", "--point 1,2,0.5", "--point 1,,2", "--point 1,2,", "--box 10,10,5,20",
             "--box 10,10,20,5", "--box 1,2,3", "--box 1,2,3,x", "",
             "--point 1,2 --mask-input " + tmp("wrong_shape.npy"), "--point 1,2 --mask-input /nope.npy",
             "--point 1,2 --dtype half", "--point 1,2 --overlay /nonexistent_dir/o.png"}) {
        SCOPED_TRACE(p);
        auto r = run_evsam(base() + " " + p + " --out-masks " + out);
        EXPECT_TRUE(is_clean_error(r));
        EXPECT_FALSE(exists(out));
    }
    auto r = run_evsam(base() + " --point 1,2,7 --out-masks " + out);
    EXPECT_NE(r.err.find("label"), std::string::npos) << r.err;
    r = run_evsam(base() + " --box 10,10,5,20 --out-masks " + out);
    EXPECT_NE(r.err.find("X1 >= X0"), std::string::npos) << r.err;
}

// Points outside the image are used as given (upstream behaviour), not rejected.
TEST(CliPredict, PointsOutsideTheImageAreAccepted) {
    auto r = run_evsam(base() + " --point -10,500 --point 61,45 --out-masks " + tmp("out.npy"));
    EXPECT_EQ(r.code, 0) << r.err;
}

}  // namespace
