// Prompt encoder + mask decoder against upstream on the tiny fixture models
// (tests/data/tiny/tiny_l: points+box multimask, and decoder_mask: points with the
// padding point, a mask input, single mask). Prompts are already in the 1024 frame.
#include <gtest/gtest.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/efficientvit/config_json.hpp>
#include <evsam/evsam.hpp>
#include <fstream>

#include "fixture_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_decoder_tiny {

namespace {

using evsam_test::read_json;
using nlohmann::json;

template <class T>
void check_case(const std::string& cfg, const std::string& sub) {
    const std::string dir = std::string(EVSAM_TEST_DATA) + "/tiny/" + cfg + "/", cdir = dir + sub;
    evsam::EfficientViTSam<T> model(evsam::sam_config_from_json(read_json(dir + "config.json")));
    evsam::load_state_dict(model, evsam::Checkpoint::open(dir + "model.pt"), cfg);
    json p = read_json(cdir + "prompt.json");
    auto emb = evsam::npy_load_as<T>(dir + "embedding.npy");  // upstream's embedding: isolates the decoder

    const auto& pc = p["point_coords"];
    evsam::Tensor<T> coords({1, static_cast<int64_t>(pc.size()), 2}), labels({1, static_cast<int64_t>(pc.size())});
    for (size_t i = 0; i < pc.size(); ++i) {
        coords[2 * i] = pc[i][0].get<T>();
        coords[2 * i + 1] = pc[i][1].get<T>();
        labels[i] = p["point_labels"][i].get<T>();
    }
    evsam::Tensor<T> box({1, 4});
    if (!p["box"].is_null())
        for (int i = 0; i < 4; ++i) box[i] = p["box"][i].get<T>();
    evsam::Tensor<T> mask;
    if (p.contains("mask_input")) mask = evsam::npy_load_as<T>(cdir + p["mask_input"].get<std::string>());

    auto [sparse, dense] = model.prompt_encoder.forward(&coords, &labels, p["box"].is_null() ? nullptr : &box,
                                                        mask.empty() ? nullptr : &mask);
    const auto dense_pe = model.prompt_encoder.get_dense_pe();
    const bool multimask = p["multimask_output"].get<bool>();
    // upstream's predict_masks (the reference), and the fast path: the image prepared once, the
    // prompt's own dense embedding only with a mask input
    auto out = model.mask_decoder.forward(emb, dense_pe, sparse, dense, multimask);
    const auto prepared = model.mask_decoder.prepare(emb, dense_pe, model.prompt_encoder.no_mask_dense());
    auto fast = model.mask_decoder.forward(prepared, sparse, mask.empty() ? nullptr : &dense, multimask);
    const evsam::Tolerance tol = evsam::kTolEncoderFloat;
    for (auto& [name, t] : std::vector<std::pair<std::string, const evsam::Tensor<T>*>>{{"sparse", &sparse},
                                                                                        {"dense", &dense},
                                                                                        {"low_res_masks", &out.masks},
                                                                                        {"iou", &out.iou_pred},
                                                                                        {"low_res_masks", &fast.masks},
                                                                                        {"iou", &fast.iou_pred}}) {
        auto r = evsam::compare(*t, evsam::npy_load_as<double>(cdir + name + ".npy"), tol, cfg + "/" + sub + name);
        EXPECT_TRUE(r.ok) << r.message;
        std::cout << r.message << "\n";
    }
}

TEST(DecoderTiny, PointsAndBoxMultimaskFloat) { check_case<float>("tiny_l", ""); }
TEST(DecoderTiny, PointsAndBoxMultimaskDouble) { check_case<double>("tiny_l", ""); }
TEST(DecoderTiny, PaddingPointAndMaskInputFloat) { check_case<float>("tiny_l", "decoder_mask/"); }
TEST(DecoderTiny, XLPointsAndBoxFloat) { check_case<float>("tiny_xl", ""); }

}  // namespace

}  // namespace test_decoder_tiny
