// The "wrong" include order: the CPU headers first (models, ops, the registry), the CUDA backend
// after them. The model templates were defined before any CUDA op was declared, so the CUDA
// overloads can only be found by argument-dependent lookup through the tag's namespace
// (evsam::cuda): that this file compiles is the first half of the test. The second half runs the
// registry-built model on the GPU against the CPU, module by module.
#include <evsam/evsam.hpp>
#include <evsam/efficientvit/config_json.hpp>

#include <evsam/evsam_cuda.cuh>

#include "../model/fixture_util.hpp"
#include "cuda_test_util.cuh"

namespace {

TEST(CudaIncludeOrder, CpuHeadersFirstThenTheCudaBackend) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    const std::string dir = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";
    const evsam::AnySamConfig cfg = evsam::sam_config_from_json(evsam_test::read_json(dir + "config.json"));
    auto ckpt = evsam::Checkpoint::open(dir + "model.pt");
    auto gpu = evsam::create_sam<float, evsam::backend::cuda>(cfg);
    auto cpu = evsam::create_sam<float, evsam::backend::cpu>(cfg);
    evsam::load_state_dict(*gpu, ckpt);
    evsam::load_state_dict(*cpu, ckpt);
    const auto x = evsam::npy_load_as<float>(dir + "input.npy");
    evsam::Trace<float> tg, tc;
    const auto emb = gpu->encode(evsam_cuda_test::up(x), &tg).to_host();
    const auto ref = cpu->encode(x, &tc);
    ASSERT_EQ(tg.records.size(), tc.records.size());
    for (size_t i = 0; i < tg.records.size(); ++i) {
        ASSERT_EQ(tg.records[i].first, tc.records[i].first);
        const auto r =
            evsam::compare(tg.records[i].second, tc.records[i].second, evsam::kTolEncoderFloat, tg.records[i].first);
        ASSERT_TRUE(r.ok) << "first module out of tolerance: " << r.message;
    }
    const auto r = evsam::compare(emb, ref, evsam::kTolEncoderFloat, "embedding");
    EXPECT_TRUE(r.ok) << r.message;
}

}  // namespace
