// ops/resize.hpp: PyTorch's bicubic (the neck's UpSampleLayer) and bilinear (mask upscaling)
// interpolation. Both fast paths keep the one-output-at-a-time formula's arithmetic (separable: each
// source row's horizontal sums computed once, then blended per output row; several blocks of 64 output
// rows in the last two bicubic cases), so they equal the naive loops bit for bit; the
// crop variant of bilinear is the full resize's corner.
#include <gtest/gtest.h>

#include <evsam/ops/resize.hpp>

#include <array>
#include <cstring>
#include <vector>

#include "op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_resize {

namespace {

template <class T>
void check_bicubic() {
    for (auto [NC, H, W, OH, OW] : std::vector<std::array<int64_t, 5>>{{3, 16, 16, 64, 64},
                                                                       {2, 32, 32, 64, 64},
                                                                       {1, 5, 7, 13, 3},
                                                                       {2, 1, 1, 4, 4},
                                                                       {1, 64, 64, 64, 64},
                                                                       {1, 9, 4, 2, 7},
                                                                       {1, 40, 30, 150, 100},
                                                                       {2, 200, 7, 70, 5}}) {
        const auto x = evsam_test::random_tensor<T>({NC, H, W}, 31, -5, 5);
        evsam::Tensor<T> ref({NC, OH, OW}), fast({NC, OH, OW});
        evsam::bicubic_resize_forward_naive(ref.data(), x.data(), NC, H, W, OH, OW);
        evsam::bicubic_resize_forward(fast.data(), x.data(), NC, H, W, OH, OW, evsam::backend::cpu{});
        EXPECT_TRUE(evsam_test::bitwise_equal(fast, ref)) << H << "x" << W << " -> " << OH << "x" << OW;
    }
}
TEST(BicubicResize, FastEqualsNaiveFloat) { check_bicubic<float>(); }
TEST(BicubicResize, FastEqualsNaiveDouble) { check_bicubic<double>(); }

TEST(BilinearResize, FastEqualsNaiveAndCropIsTheCorner) {
    for (auto [NC, H, W, OH, OW] : std::vector<std::array<int64_t, 5>>{
             {3, 256, 256, 1024, 1024}, {2, 768, 1024, 480, 640}, {1, 5, 7, 13, 3}, {2, 1, 1, 4, 4}, {1, 9, 9, 9, 9}}) {
        const auto x = evsam_test::random_tensor<float>({NC, H, W}, 21, -20, 20);
        evsam::Tensor<float> ref({NC, OH, OW}), fast({NC, OH, OW});
        evsam::bilinear_resize_forward_naive(ref.data(), x.data(), NC, H, W, OH, OW);
        evsam::bilinear_resize_forward(fast.data(), x.data(), NC, H, W, OH, OW, evsam::backend::cpu{});
        ASSERT_TRUE(evsam_test::bitwise_equal(fast, ref)) << H << "x" << W << " -> " << OH << "x" << OW;
        const int64_t CH = (OH * 3 + 3) / 4, CW = OW - 1 > 0 ? OW - 1 : 1;
        evsam::Tensor<float> crop({NC, CH, CW});
        evsam::bilinear_resize_crop_forward(crop.data(), x.data(), NC, H, W, OH, OW, CH, CW, evsam::backend::cpu{});
        for (int64_t p = 0; p < NC; ++p)
            for (int64_t y = 0; y < CH; ++y)
                ASSERT_EQ(
                    0, std::memcmp(crop.data() + (p * CH + y) * CW, ref.data() + (p * OH + y) * OW, sizeof(float) * CW))
                    << "crop row " << y;
    }
}

}  // namespace

}  // namespace test_resize
