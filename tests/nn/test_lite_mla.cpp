// nn/lite_mla.hpp: LiteMLA's forward for one image builds torch.cat in place (qkv and each aggreg's
// grouped conv write their channels straight into the concatenation); a traced forward, and a batch,
// copy each part in. Both must give the same bits, in either precision, with one scale or two, and
// on both the linear (H W > dim) and the quadratic attention.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <evsam/backend/cpu_precision.hpp>
#include <evsam/nn/lite_mla.hpp>

#include "../model/formula_init.hpp"
#include "../ops/op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_lite_mla {

namespace {

using MLA = evsam::LiteMLA<float>;

MLA make_mla(std::vector<int64_t> scales) {
    // 48 -> 40 channels, dim 8: heads 6, qkv 144 channels; proj with its BatchNorm (folded)
    MLA m(48, 40, -1, 1.0, 8, {false, false}, {evsam::Norm::none, evsam::Norm::bn2d},
          {evsam::Act::none, evsam::Act::none}, std::move(scales));
    evsam_test::FormulaInit<float> init;
    m.visit(init, "mla.");
    return m;
}

int64_t S(const MLA& m) { return 1 + static_cast<int64_t>(m.aggreg.size()); }

// Image n of a batch, as a batch of one.
evsam::Tensor<float> image(const evsam::Tensor<float>& x, int64_t n) {
    evsam::Tensor<float> y({1, x.size(1), x.size(2), x.size(3)}, evsam::Tensor<float>::uninitialized);
    const int64_t per = x.numel() / x.size(0);
    std::copy(x.data() + n * per, x.data() + (n + 1) * per, y.data());
    return y;
}

void check(const MLA& m, int64_t H, int64_t W) {
    const auto x2 = evsam_test::random_tensor<float>({2, 48, H, W}, 91);
    const auto batch = m.forward(x2);  // N = 2: the concatenation by copies
    for (int64_t n = 0; n < 2; ++n) {
        const auto x = image(x2, n);
        {  // memory the concatenation may reuse, poisoned: a part left unwritten shows
            evsam::Tensor<float> junk({1, m.total_dim * 3 * S(m), H, W}, std::nanf(""));
        }
        const auto one = m.forward(x);  // untraced, one image: in place
        ASSERT_TRUE(m.forward_one_image(x).has_value());
        evsam::Trace<float> trace;
        const auto traced = m.forward(x, &trace);  // traced: by copies
        EXPECT_TRUE(evsam_test::bitwise_equal(one, traced)) << "image " << n << " at " << H << "x" << W;
        EXPECT_TRUE(evsam_test::bitwise_equal(one, image(batch, n))) << "image " << n << " at " << H << "x" << W;
    }
}

TEST(LiteMLA, OneImageInPlaceGivesTheBitsOfTheCopies) {
    for (const auto& scales : {std::vector<int64_t>{5}, std::vector<int64_t>{3, 5}}) {
        const MLA m = make_mla(scales);
        for (auto p : {evsam::Precision::strict, evsam::Precision::fast}) {
            if (p == evsam::Precision::fast && !evsam::cpu_has_avx512_bf16()) continue;
            evsam::CpuPrecisionScope scope(p);
            check(m, 9, 13);  // linear attention
            check(m, 2, 3);   // H W <= dim: quadratic
        }
    }
}

// The in-place form needs qkv in one pass: with its BatchNorm unfolded it declines, and forward
// takes the copies.
TEST(LiteMLA, OneImageDeclinesAnUnfoldedQkv) {
    MLA m(48, 40, -1, 1.0, 8, {false, false}, {evsam::Norm::bn2d, evsam::Norm::bn2d},
          {evsam::Act::none, evsam::Act::none}, {5});
    struct NoFold : evsam_test::FormulaInit<float> {
        bool fold_batchnorm() const override { return false; }
    } init;
    m.visit(init, "mla.");
    const auto x = evsam_test::random_tensor<float>({1, 48, 9, 13}, 92);
    EXPECT_FALSE(m.forward_one_image(x).has_value());
    evsam::Trace<float> trace;
    EXPECT_TRUE(evsam_test::bitwise_equal(m.forward(x), m.forward(x, &trace)));
}

}  // namespace

}  // namespace test_lite_mla
