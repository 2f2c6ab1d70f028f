// `evsam predict` on a tiny upstream-made model (--config), and its prompt validation.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>

#include <evsam/evsam.hpp>

#include "cli_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_predict_cli {

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

// Several --box: one prompt set per box (each with every --point), outputs with a leading B, each
// slice the single-box run's bit for bit; a --mask-input cannot go with several boxes.
TEST(CliPredict, SeveralBoxesAreABatch) {
    auto r =
        run_evsam(base() + " --point 30,20 --box 2,3,50,40 --box 10,5,30,30 --out-masks " + tmp("mb.npy") +
                  " --out-iou " + tmp("qb.npy") + " --out-lowres " + tmp("lb.npy") + " --overlay " + tmp("ob.png"));
    ASSERT_EQ(r.code, 0) << r.err;
    auto mb = evsam::npy_load_exact<uint8_t>(tmp("mb.npy"));
    auto qb = evsam::npy_load_exact<float>(tmp("qb.npy"));
    auto lb = evsam::npy_load_exact<float>(tmp("lb.npy"));
    ASSERT_EQ(mb.shape(), (evsam::Shape{2, 3, 45, 61}));
    ASSERT_EQ(qb.shape(), (evsam::Shape{2, 3}));
    ASSERT_EQ(lb.shape(), (evsam::Shape{2, 3, 256, 256}));
    EXPECT_EQ(evsam::load_image(tmp("ob.png")).width, 61);
    const char* boxes[] = {"2,3,50,40", "10,5,30,30"};
    for (int64_t b = 0; b < 2; ++b) {
        SCOPED_TRACE(boxes[b]);
        r = run_evsam(base() + " --point 30,20 --box " + boxes[b] + " --out-masks " + tmp("m1.npy") + " --out-iou " +
                      tmp("q1.npy") + " --out-lowres " + tmp("l1.npy"));
        ASSERT_EQ(r.code, 0) << r.err;
        auto m = evsam::npy_load_exact<uint8_t>(tmp("m1.npy"));
        auto q = evsam::npy_load_exact<float>(tmp("q1.npy"));
        auto l = evsam::npy_load_exact<float>(tmp("l1.npy"));
        ASSERT_EQ(m.shape(), (evsam::Shape{3, 45, 61}));
        EXPECT_TRUE(std::equal(m.begin(), m.end(), mb.data() + b * m.numel()));
        EXPECT_TRUE(std::equal(q.begin(), q.end(), qb.data() + b * 3));
        EXPECT_TRUE(std::equal(l.begin(), l.end(), lb.data() + b * l.numel()));
    }
    r = run_evsam(base() + " --box 2,3,50,40 --box 10,5,30,30 --single-mask --out-masks " + tmp("ms.npy"));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(evsam::npy_load_exact<uint8_t>(tmp("ms.npy")).shape(), (evsam::Shape{2, 1, 45, 61}));

    evsam::npy_save(tmp("mi.npy"), evsam::Tensor<float>({1, 256, 256}));
    const std::string out = tmp("mbad.npy");
    std::remove(out.c_str());
    for (std::string p : {"--box 2,3,50,40 --box 10,5,30,30 --mask-input " + tmp("mi.npy"),
                          std::string("--box 2,3,50,40 --box 10,5,3,30"), std::string("--box 2,3,50,40 --box 1,2")}) {
        SCOPED_TRACE(p);
        r = run_evsam(base() + " " + p + " --out-masks " + out);
        EXPECT_TRUE(is_clean_error(r));
        EXPECT_FALSE(exists(out));
    }
}

// Points outside the image are used as given (upstream behaviour), not rejected.
TEST(CliPredict, PointsOutsideTheImageAreAccepted) {
    auto r = run_evsam(base() + " --point -10,500 --point 61,45 --out-masks " + tmp("out.npy"));
    EXPECT_EQ(r.code, 0) << r.err;
}

}  // namespace

namespace {

// predict --embedding: evsam embed's output gives the same bits as encoding again, and an embedding
// of another model, weights, compute type or image size is refused with one line, writing nothing.
TEST(CliPredict, EmbeddingFromEmbedGivesTheSameMasks) {
    const std::string tiny_l = kTiny + "model.pt --config " + kTiny + "config.json";
    auto r = run_evsam("embed --weights " + tiny_l + " --image " + kImg + " --out " + tmp("e.npy"));
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_TRUE(exists(tmp("e.npy.json")));
    const std::string prompts = " --point 30,20 --point 5,5,0 --box 2,3,50,40 --logits";
    r = run_evsam(base() + prompts + " --out-masks " + tmp("enc.npy") + " --out-iou " + tmp("enc_q.npy"));
    ASSERT_EQ(r.code, 0) << r.err;
    r = run_evsam(base() + prompts + " --embedding " + tmp("e.npy") + " --out-masks " + tmp("emb.npy") + " --out-iou " +
                  tmp("emb_q.npy"));
    ASSERT_EQ(r.code, 0) << r.err;
    auto a = evsam::npy_load_exact<float>(tmp("enc.npy")), b = evsam::npy_load_exact<float>(tmp("emb.npy"));
    ASSERT_EQ(a.shape(), b.shape());
    for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a[i], b[i]) << i;
    auto qa = evsam::npy_load_exact<float>(tmp("enc_q.npy")), qb = evsam::npy_load_exact<float>(tmp("emb_q.npy"));
    for (int64_t i = 0; i < qa.numel(); ++i) ASSERT_EQ(qa[i], qb[i]) << i;

    // refusals, each naming what differs; the output is not written
    auto refused = [&](const std::string& args, const std::string& why) {
        std::remove(tmp("bad.npy").c_str());
        auto rr = run_evsam(args + " --point 30,20 --out-masks " + tmp("bad.npy"));
        EXPECT_TRUE(is_clean_error(rr)) << args;
        EXPECT_NE(rr.err.find(why), std::string::npos) << rr.err;
        EXPECT_FALSE(exists(tmp("bad.npy"))) << args;
    };
    const std::string other_img = std::string(EVSAM_TEST_DATA) + "/preprocess/in_small_48x64_r512.png";
    refused("predict --weights " + tiny_l + " --image " + other_img + " --embedding " + tmp("e.npy"),
            "an embedding of a 61x45 image, but --image is 64x48");
    refused(base() + " --dtype double --embedding " + tmp("e.npy"), "embedded in float");
    const std::string tiny_xl = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_xl/";
    refused("predict --weights " + tiny_xl + "model.pt --config " + tiny_xl + "config.json --image " + kImg +
                " --embedding " + tmp("e.npy"),
            "not of");
    std::rename(tmp("e.npy.json").c_str(), tmp("e_moved.json").c_str());
    refused(base() + " --embedding " + tmp("e.npy"), "e.npy.json: not found");
    // from a preprocessed tensor: the image size is unknown
    evsam::npy_save(tmp("x.npy"), evsam::Tensor<float>({1, 3, 80, 80}));  // tiny_l's input is 80 x 80
    r = run_evsam("embed --weights " + tiny_l + " --input " + tmp("x.npy") + " --out " + tmp("e.npy"));
    ASSERT_EQ(r.code, 0) << r.err;
    refused(base() + " --embedding " + tmp("e.npy"), "image size is unknown");
}

}  // namespace

}  // namespace test_predict_cli
