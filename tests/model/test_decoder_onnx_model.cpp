// DecoderOnnxModel (sam/decoder_onnx_model.hpp) against upstream's export_decoder.py DecoderOnnxModel
// run in float64 on tiny_l (tests/data/onnx, validation/make_onnx_fixtures.py): three prompt sets of
// three points with labels -1, 0, 1 and a box's corners 2, 3, all four masks and the single mask
// chosen by argmax over all four IoU predictions. The masks fixture keeps every 4th row and column.
#include <gtest/gtest.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/efficientvit/config_json.hpp>
#include <evsam/evsam.hpp>

#include "fixture_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_decoder_onnx_model {

namespace {

const std::string kDir = std::string(EVSAM_TEST_DATA) + "/onnx/",
                  kTiny = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";

// (B, C, 256, 256) -> (B, C, 64, 64): every 4th row and column, as the fixture stores them.
template <class T>
evsam::Tensor<double> every_4th(const evsam::Tensor<T>& m) {
    const int64_t Bn = m.size(0), C = m.size(1), H = m.size(2), W = m.size(3);
    evsam::Tensor<double> r({Bn, C, (H + 3) / 4, (W + 3) / 4});
    int64_t k = 0;
    for (int64_t b = 0; b < Bn * C; ++b)
        for (int64_t y = 0; y < H; y += 4)
            for (int64_t x = 0; x < W; x += 4) r[k++] = static_cast<double>(m[(b * H + y) * W + x]);
    return r;
}

template <class T>
void check(evsam::Tolerance masks_tol, evsam::Tolerance iou_tol) {
    evsam::EfficientViTSam<T> model(evsam::sam_config_from_json(evsam_test::read_json(kTiny + "config.json")));
    evsam::load_state_dict(model, evsam::Checkpoint::open(kTiny + "model.pt"), "tiny_l");
    const auto emb = evsam::npy_load_as<T>(kTiny + "embedding.npy");
    const auto coords = evsam::npy_load_as<T>(kDir + "decoder_coords.npy");
    const auto labels = evsam::npy_load_as<T>(kDir + "decoder_labels.npy");
    for (const bool single : {false, true}) {
        const std::string tag = single ? "single" : "all";
        evsam::Trace<T> tr;
        const auto out = evsam::DecoderOnnxModel<T>(model, single).forward(emb, coords, labels, &tr);
        ASSERT_EQ(out.masks.shape(), (evsam::Shape{3, single ? 1 : 4, 256, 256}));
        const auto r_iou =
            evsam::compare(out.scores, evsam::npy_load_as<double>(kDir + "decoder_" + tag + "_iou_fp64.npy"), iou_tol,
                           tag + " iou_predictions");
        EXPECT_TRUE(r_iou.ok) << r_iou.message;
        const auto r_masks = evsam::compare(every_4th(out.masks),
                                            evsam::npy_load_as<double>(kDir + "decoder_" + tag + "_masks_fp64_s4.npy"),
                                            masks_tol, tag + " masks");
        EXPECT_TRUE(r_masks.ok) << r_masks.message;
        std::cout << r_iou.message << "\n" << r_masks.message << "\n";
        EXPECT_TRUE(tr.records.size() > 4u);  // the prompt encoder's and decoder's modules, traced
    }
}

TEST(DecoderOnnxModel, DoubleMatchesUpstreamExportInFloat64) {
    check<double>(evsam::kTolEncoderDouble, evsam::kTolEncoderDouble);
}

TEST(DecoderOnnxModel, FloatMatchesUpstreamExportInFloat64) { check<float>(evsam::kTolMaskLogits, evsam::kTolIoU); }

TEST(DecoderOnnxModel, LabelsBeyondThreeAddNoEmbedding) {
    // the export's masks (labels == i for i < 4) add nothing for any other label: the point's encoding alone
    evsam::EfficientViTSam<double> model(evsam::sam_config_from_json(evsam_test::read_json(kTiny + "config.json")));
    evsam::load_state_dict(model, evsam::Checkpoint::open(kTiny + "model.pt"), "tiny_l");
    evsam::Tensor<double> coords({1, 1, 2}), lab5({1, 1}, 5.0);
    coords[0] = 300, coords[1] = 700;
    const auto e = evsam::DecoderOnnxModel<double>(model, false).embed_points(coords, lab5);
    evsam::Tensor<double> c05({1, 1, 2});
    c05[0] = 300.5, c05[1] = 700.5;
    const auto pe = model.prompt_encoder.pe_layer.forward_with_coords(c05, 1024, 1024);
    ASSERT_EQ(e.shape(), pe.shape());
    for (int64_t i = 0; i < e.numel(); ++i) EXPECT_EQ(e[i], pe[i]) << i;
}

}  // namespace

}  // namespace test_decoder_onnx_model
