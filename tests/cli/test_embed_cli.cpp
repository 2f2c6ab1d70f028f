// `evsam embed` and `evsam compare` on the tiny upstream fixtures (tests/data/tiny).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <evsam/backend/tolerance.hpp>
#include <evsam/evsam.hpp>

#include "cli_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_embed_cli {

namespace {

using evsam_test::is_clean_error;
using evsam_test::run_evsam;
using evsam_test::slurp;

const std::string kTiny = std::string(EVSAM_TEST_DATA) + "/tiny/";

bool exists(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0;
}

std::string embed_args(const std::string& cfg, const std::string& out) {
    const std::string d = kTiny + cfg + "/";
    return "embed --weights " + d + "model.pt --config " + d + "config.json --input " + d + "input.npy --out " + out;
}

// The tool's trace of each tiny model, checked module by module against upstream's activations
// by `evsam compare` (the documented validation path), in float and double.
TEST(CliEmbed, TinyModelsMatchUpstreamModuleByModule) {
    for (std::string cfg : {"tiny_l", "tiny_xl"})
        for (std::string dtype : {"float", "double"}) {
            SCOPED_TRACE(cfg + " " + dtype);
            const std::string tmp = ::testing::TempDir() + "evsam_embed_" + cfg + "_" + dtype;
            auto r = run_evsam(embed_args(cfg, tmp + ".npy") + " --dtype " + dtype + " --trace-dir " + tmp + "_trace");
            ASSERT_EQ(r.code, 0) << r.err;
            auto e = evsam::npy_load_as<double>(tmp + ".npy");
            auto ref = evsam::npy_load_as<double>(kTiny + cfg + "/embedding.npy");
            auto c = evsam::compare(e, ref, evsam::kTolEncoderFloat, "embedding");
            EXPECT_TRUE(c.ok) << c.message;
            if (dtype == "double") {
                EXPECT_NE(slurp(tmp + ".npy").find("'descr': '<f8'"), std::string::npos);
            }
            r = run_evsam("compare --reference " + kTiny + cfg + "/act --candidate " + tmp + "_trace");
            EXPECT_EQ(r.code, 0) << r.out << r.err;
            EXPECT_NE(r.out.find(" 0 out of tolerance"), std::string::npos) << r.out;
        }
}

// compare is not vacuous: a perturbed module is named as the first one out of tolerance.
TEST(CliCompare, NamesTheFirstModuleOutOfTolerance) {
    const std::string tmp = ::testing::TempDir() + "evsam_cmp";
    ASSERT_EQ(run_evsam(embed_args("tiny_l", tmp + ".npy") + " --trace-dir " + tmp + "_trace").code, 0);
    const std::string victim = "image_encoder.backbone.stages.2.op_list.1";
    auto t = evsam::npy_load_as<float>(tmp + "_trace/" + victim + ".npy");
    t[7] += 0.01f;
    evsam::npy_save(tmp + "_trace/" + victim + ".npy", t);
    auto r = run_evsam("compare --reference " + kTiny + "tiny_l/act --candidate " + tmp + "_trace");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("first: " + victim + "\n"), std::string::npos) << r.out;
}

TEST(CliEmbed, ThreadCountDoesNotChangeTheBytes) {
    const std::string a = ::testing::TempDir() + "evsam_t1.npy", b = ::testing::TempDir() + "evsam_t2.npy";
    ASSERT_EQ(run_evsam(embed_args("tiny_xl", a) + " --threads 1").code, 0);
    ASSERT_EQ(run_evsam(embed_args("tiny_xl", b) + " --threads 2").code, 0);
    EXPECT_EQ(slurp(a), slurp(b));
}

TEST(CliEmbed, BadInputsAreOneLineErrorsAndWriteNothing) {
    const std::string out = ::testing::TempDir() + "evsam_embed_bad.npy";
    std::remove(out.c_str());
    const std::string d = kTiny + "tiny_l/", ck = std::string(EVSAM_TEST_DATA) + "/ckpt/";
    const std::string w = " --weights " + d + "model.pt --config " + d + "config.json";
    for (std::string args : {
             "embed" + w + " --input " + kTiny + "tiny_xl/input.npy --out " + out,    // wrong input shape
             "embed" + w + " --input " + d + "input.npy --image x.png --out " + out,  // both inputs
             "embed" + w + " --out " + out,                                           // no input
             "embed" + w + " --input " + d + "input.npy --dtype half --out " + out,   // bad dtype
             "embed" + w + " --input " + d + "input.npy --backend tpu --out " + out,  // bad backend
             "embed" + w + " --input " + d + "input.npy --threads 0 --out " + out,    // bad threads
             "embed --weights " + d + "model.pt --config " + kTiny + "tiny_xl/config.json --input " + d +
                 "input.npy --out " + out,                                                        // config mismatch
             "embed --weights " + ck + "skeleton_l0.pt --input " + d + "input.npy --out " + out,  // l0 wants 512
             "embed --weights " + ck + "evil_global.pt --input " + d + "input.npy --out " + out,
             "embed" + w + " --input " + ck + "notzip.pt --out " + out,  // not an npy
         }) {
        SCOPED_TRACE(args);
        auto r = run_evsam(args);
        EXPECT_TRUE(is_clean_error(r));
        EXPECT_FALSE(exists(out));
    }
}

// --backend cuda on a machine that cannot run it (a CPU-only build, or no GPU): one line that says
// why, exit 1, no output; --batch without cuda is refused; predict and everything
// refuse cuda until the decoder has CUDA ops.
TEST(CliBackend, CudaUnavailableIsAOneLineErrorAndWritesNothing) {
    const std::string out = ::testing::TempDir() + "evsam_embed_cuda.npy";
    std::remove(out.c_str());
    const std::string d = kTiny + "tiny_l/";
    const std::string w = " --weights " + d + "model.pt --config " + d + "config.json";
#ifdef EVSAM_WITH_CUDA
    const std::string why = "no CUDA device";  // this test does not run the GPU; test_cuda does
    auto probe = run_evsam("embed" + w + " --input " + d + "input.npy --backend cuda --out " + out);
    if (probe.code == 0) GTEST_SKIP() << "a CUDA device is present (the cuda suite covers it)";
#else
    const std::string why = "built without CUDA";
#endif
    for (std::string args :
         {"embed" + w + " --input " + d + "input.npy --backend cuda --out " + out,
          "embed" + w + " --input " + d + "input.npy --backend cuda --precision fast --batch 2 --out " + out,
          "bench" + w + " --backend cuda --batch 16"}) {
        SCOPED_TRACE(args);
        auto r = run_evsam(args);
        EXPECT_TRUE(is_clean_error(r));
        EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
        EXPECT_FALSE(exists(out));
    }
    for (std::string args : {"embed" + w + " --input " + d + "input.npy --batch 2 --out " + out,
                             "embed" + w + " --input " + d + "input.npy --precision fast --dtype double --out " + out,
                             "embed" + w + " --input " + d + "input.npy --backend cuda --precision half --out " + out,
                             "embed" + w + " --input " + d + "input.npy --backend cuda --batch 0 --out " + out}) {
        SCOPED_TRACE(args);
        auto r = run_evsam(args);
        EXPECT_TRUE(is_clean_error(r));
        EXPECT_FALSE(exists(out));
    }
    const std::string img = std::string(EVSAM_TEST_DATA) + "/../../examples/data/chelsea.png";
    for (std::string args : {"predict" + w + " --image " + img + " --point 10,10 --backend cuda --out-masks " + out,
                             "everything" + w + " --image " + img + " --backend cuda --out " + out}) {
        SCOPED_TRACE(args);
        auto r = run_evsam(args);
        EXPECT_TRUE(is_clean_error(r));
#ifndef EVSAM_WITH_CUDA
        EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
#else
        EXPECT_NE(r.err.find("no CUDA ops yet"), std::string::npos) << r.err;
#endif
        EXPECT_FALSE(exists(out));
    }
}

// --precision fast on the CPU: every GEMM in bf16 where the CPU has AVX512_BF16. The embedding moves
// away from strict's by bf16's rounding (more than fp32 noise, within the table's entry for fast);
// on a CPU without AVX512_BF16, a one-line error and no output.
TEST(CliPrecision, FastOnTheCpuIsBf16WithinItsTolerance) {
    const std::string strict = ::testing::TempDir() + "evsam_strict.npy",
                      fast = ::testing::TempDir() + "evsam_fast.npy";
    std::remove(fast.c_str());
    for (std::string cfg : {"tiny_l", "tiny_xl"}) {
        SCOPED_TRACE(cfg);
        ASSERT_EQ(run_evsam(embed_args(cfg, strict)).code, 0);
        auto r = run_evsam(embed_args(cfg, fast) + " --precision fast");
        if (!evsam::cpu_has_avx512_bf16()) {
            EXPECT_TRUE(is_clean_error(r));
            EXPECT_NE(r.err.find("AVX512_BF16"), std::string::npos) << r.err;
            EXPECT_FALSE(exists(fast));
            continue;
        }
        ASSERT_EQ(r.code, 0) << r.err;
        const auto ref = evsam::npy_load_as<double>(kTiny + cfg + "/embedding.npy");
        const auto s = evsam::npy_load_as<double>(strict);
        const auto cs = evsam::compare(s, ref, evsam::kTolEncoderFloat, "strict vs upstream");
        std::cout << cs.message << "\n";
        // the kernel fast runs on here, then (on an AMX CPU) AVX512_BF16's, through EVSAM_AMX=0
        for (bool amx_off : {false, true}) {
            if (amx_off) {
                if (!evsam::cpu_has_amx_bf16()) break;
                std::remove(fast.c_str());
                r = run_evsam("EVSAM_AMX=0", embed_args(cfg, fast) + " --precision fast");
                ASSERT_EQ(r.code, 0) << r.err;
            }
            const auto f = evsam::npy_load_as<double>(fast);
            const auto cf = evsam::compare(f, ref, evsam::kTolEncoderFloat,
                                           std::string("fast vs upstream") + (amx_off ? " (AVX512_BF16)" : ""));
            std::cout << cf.message << "\n";
            EXPECT_LT(cf.rel_l2, evsam::kMaxRelL2CpuFastEmbedding) << cf.message;
            EXPECT_GT(cf.rel_l2, 10 * cs.rel_l2) << "fast should differ from strict by bf16 rounding: " << cf.message;
        }
    }
}

}  // namespace

}  // namespace test_embed_cli
