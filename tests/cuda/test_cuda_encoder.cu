// The image encoder on backend::cuda, module by module:
//   * strict, tiny fixtures: against upstream's activations with the same table entry the CPU
//     meets (kTolEncoderFloat), and against the CPU trace; double against upstream fp32 like the CPU;
//   * fast: against the CPU trace with its own declared entry (kTolCudaFast);
//   * batch 2: each image of the batch equals its batch-1 CPU result;
//   * full size, every variant (formula weights): strict against the CPU, module by module.
// The first module out of tolerance is named. Without a GPU every test is skipped, saying so.
#include "cuda_test_util.cuh"

#include <evsam/efficientvit/config_json.hpp>

#include "../model/fixture_util.hpp"
#include "../model/formula_init.hpp"

namespace {

using namespace evsam_cuda_test;
using evsam::backend::cpu;
using evsam::backend::cuda;
using nlohmann::json;

std::string tiny_dir(const std::string& cfg) { return std::string(EVSAM_TEST_DATA) + "/tiny/" + cfg + "/"; }

// Compares two traces in execution order; returns the number of modules compared.
template <class T>
int compare_traces(const evsam::Trace<T>& got, const evsam::Trace<T>& ref, evsam::Tolerance tol) {
    int n = 0;
    for (auto& [name, t] : got.records) {
        const evsam::Tensor<T>* r = ref.find(name);
        if (!r) continue;
        auto c = evsam::compare(t, *r, tol, name);
        EXPECT_TRUE(c.ok) << "first module out of tolerance: " << c.message;
        if (!c.ok) return -1;
        ++n;
    }
    return n;
}

// Sets the process-wide precision for one test and restores strict, also when the test throws.
struct PrecisionGuard {
    explicit PrecisionGuard(evsam::cuda::Precision p) { evsam::cuda::context().set_precision(p); }
    ~PrecisionGuard() { evsam::cuda::context().set_precision(evsam::cuda::Precision::strict); }
};

template <class T>
void check_tiny(const std::string& cfg_name, evsam::cuda::Precision prec, bool fold_batchnorm = true) {
    const std::string dir = tiny_dir(cfg_name);
    const auto cfg = evsam::sam_config_from_json(evsam_test::read_json(dir + "config.json"));
    auto ckpt = evsam::Checkpoint::open(dir + "model.pt");
    PrecisionGuard guard(prec);
    evsam::EfficientViTSam<T, cuda> gpu(cfg);
    evsam::load_state_dict(gpu, ckpt, cfg_name, fold_batchnorm);
    evsam::EfficientViTSam<T, cpu> host(cfg);
    evsam::load_state_dict(host, ckpt, cfg_name, fold_batchnorm);
    const auto x = evsam::npy_load_as<T>(dir + "input.npy");

    evsam::Trace<T> tg, tc;
    const auto emb = gpu.image_encoder.forward(up(x), &tg).to_host();
    host.image_encoder.forward(x, &tc);

    if (prec == evsam::cuda::Precision::fast) {  // its own declared tolerance, against the CPU
        EXPECT_GE(compare_traces(tg, tc, evsam::kTolCudaFast), 20);
        return;
    }
    // strict: the CPU's own bar against upstream ...
    const evsam::Tolerance tol = std::is_same_v<T, float> ? evsam::kTolEncoderFloat : evsam::kTolFloatFixture;
    json index = evsam_test::read_json(dir + "act/index.json");
    int compared = 0;
    for (auto& [name, rec] : tg.records) {
        if (!index.contains(name) || !index[name].contains("file") || !index[name]["file"].is_string()) continue;
        auto ref = evsam::npy_load_as<double>(dir + index[name]["file"].template get<std::string>());
        auto r = evsam::compare(rec, ref, tol, name);
        ASSERT_TRUE(r.ok) << "first module out of tolerance against upstream: " << r.message;
        ++compared;
    }
    EXPECT_GE(compared, 20);
    auto r = evsam::compare(emb, evsam::npy_load_as<double>(dir + "embedding.npy"), tol, "embedding");
    EXPECT_TRUE(r.ok) << r.message;
    // ... and the CPU reference itself
    EXPECT_GE(compare_traces(tg, tc, tol), 20);
}

TEST(CudaEncoderTiny, LStrictFloat) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    check_tiny<float>("tiny_l", evsam::cuda::Precision::strict);
}
TEST(CudaEncoderTiny, XLStrictFloat) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    check_tiny<float>("tiny_xl", evsam::cuda::Precision::strict);
}
TEST(CudaEncoderTiny, LDouble) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    check_tiny<double>("tiny_l", evsam::cuda::Precision::strict);
}
TEST(CudaEncoderTiny, XLDouble) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    check_tiny<double>("tiny_xl", evsam::cuda::Precision::strict);
}
// BatchNorm kept as a separate op (the unfolded ConvLayer path and batchnorm2d_forward on CUDA).
TEST(CudaEncoderTiny, LStrictUnfoldedBatchNorm) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    check_tiny<float>("tiny_l", evsam::cuda::Precision::strict, /*fold_batchnorm=*/false);
}
TEST(CudaEncoderTiny, LFast) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    check_tiny<float>("tiny_l", evsam::cuda::Precision::fast);
}
TEST(CudaEncoderTiny, XLFast) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    check_tiny<float>("tiny_xl", evsam::cuda::Precision::fast);
}

// A batch of two different images gives each image's batch-1 CPU embedding.
TEST(CudaEncoderTiny, BatchOfTwo) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    const std::string dir = tiny_dir("tiny_l");
    const auto cfg = evsam::sam_config_from_json(evsam_test::read_json(dir + "config.json"));
    auto ckpt = evsam::Checkpoint::open(dir + "model.pt");
    evsam::EfficientViTSam<float, cuda> gpu(cfg);
    evsam::load_state_dict(gpu, ckpt, "tiny_l");
    evsam::EfficientViTSam<float, cpu> host(cfg);
    evsam::load_state_dict(host, ckpt, "tiny_l");
    const auto x0 = evsam::npy_load_as<float>(dir + "input.npy");
    auto x1 = x0;
    for (int64_t i = 0; i < x1.numel(); ++i) x1[i] = -0.5f * x0[x0.numel() - 1 - i];  // another image
    evsam::Tensor<float> xb({2, x0.size(1), x0.size(2), x0.size(3)}, evsam::Tensor<float>::uninitialized);
    std::copy(x0.begin(), x0.end(), xb.data());
    std::copy(x1.begin(), x1.end(), xb.data() + x0.numel());
    const auto eb = gpu.image_encoder.forward(up(xb)).to_host();
    ASSERT_EQ(eb.size(0), 2);
    const int64_t per = eb.numel() / 2;
    for (int img = 0; img < 2; ++img) {
        const auto e1 = host.image_encoder.forward(img == 0 ? x0 : x1);
        evsam::Tensor<float> part(e1.shape(), evsam::Tensor<float>::uninitialized);
        std::copy(eb.data() + img * per, eb.data() + (img + 1) * per, part.data());
        auto r = evsam::compare(part, e1, evsam::kTolEncoderFloat, "batch image " + std::to_string(img));
        EXPECT_TRUE(r.ok) << r.message;
    }
}

// Every full-size variant, strict, against the CPU module by module (formula weights).
class CudaEncoderFull : public ::testing::TestWithParam<std::string> {};
TEST_P(CudaEncoderFull, StrictMatchesCpuModuleByModule) {
    EVSAM_REQUIRE_CUDA_DEVICE();
    const auto cfg = evsam::sam_config(GetParam());
    evsam::EfficientViTSam<float, cpu> host(cfg);
    evsam_test::FormulaInit<float> init;
    host.visit(init, "");
    evsam::EfficientViTSam<float, cuda> gpu(cfg);
    evsam_test::FormulaInit<float> init2;
    gpu.visit(init2, "");
    evsam::upload_weights(gpu);
    const auto x = random_tensor<float>({1, 3, cfg.transform.resolution, cfg.transform.resolution}, 42, -2, 2);
    evsam::Trace<float> tg, tc;
    gpu.image_encoder.forward(up(x), &tg);
    host.image_encoder.forward(x, &tc);
    EXPECT_GT(compare_traces(tg, tc, evsam::kTolEncoderFloat), 60);
}
INSTANTIATE_TEST_SUITE_P(AllVariants, CudaEncoderFull, ::testing::Values("l0", "l1", "l2", "xl0", "xl1"));

// Without a device the backend says so in one line, before touching any memory.
TEST(CudaRuntime, NoDeviceIsAOneLineError) {
    if (evsam::cuda::device_available()) GTEST_SKIP() << "a CUDA device is present";
    try {
        evsam::cuda::context();
        FAIL() << "context() without a device did not throw";
    } catch (const evsam::Error& e) {
        EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
    }
}

}  // namespace
