// nn/residual_block.hpp: OpSequential's channels-last runs. kMinChannelsLastRun or more
// ResidualBlocks of FusedMBConvs in a row run channels-last under fast on AMX (one transpose in, one
// out); the run gives the bits of the blocks one by one in NCHW (the traced forward runs every module
// on its own).
#include <gtest/gtest.h>

#include <evsam/backend/cpu_precision.hpp>
#include <evsam/nn/fused_mb_conv.hpp>
#include <evsam/nn/residual_block.hpp>

#include "../model/formula_init.hpp"
#include "../ops/op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_residual_block {

namespace {

using Seq = evsam::OpSequential<float>;

// ops 0-3: residual FusedMBConvs (40 -> 60 -> 40, ragged channel groups); op 4: one without its
// shortcut (it does not keep channels-last); ops 5-6: residual again, a run too short to take.
Seq make_sequence() {
    Seq s;
    auto fmb = [](bool shortcut) {
        auto main = std::make_unique<evsam::FusedMBConv<float>>(
            40, 40, 3, 1, 60, 1.0, 1, std::array<bool, 2>{false, false},
            std::array<evsam::Norm, 2>{evsam::Norm::bn2d, evsam::Norm::bn2d},
            std::array<evsam::Act, 2>{evsam::Act::gelu_tanh, evsam::Act::none});
        return std::make_unique<evsam::ResidualBlock<float>>(std::move(main), shortcut);
    };
    for (bool shortcut : {true, true, true, true, false, true, true}) s.op_list.push_back(fmb(shortcut));
    evsam_test::FormulaInit<float> init;
    s.visit(init, "seq.");
    return s;
}

TEST(OpSequential, ChannelsLastRunsGiveTheBitsOfTheBlocksInTurn) {
    const Seq s = make_sequence();
    const auto x = evsam_test::random_tensor<float>({2, 40, 9, 37}, 81);
    {
        evsam::CpuPrecisionScope strict(evsam::Precision::strict);
        EXPECT_EQ(s.channels_last_run(0, x.shape()), 0u);  // strict: no run
    }
    if (!evsam::cpu_uses_amx()) GTEST_SKIP() << "skipped: channels-last runs are fast's, on AMX";
    evsam::CpuPrecisionScope fast(evsam::Precision::fast);
    EXPECT_EQ(s.channels_last_run(0, x.shape()), 4u);  // ops 0-3
    EXPECT_EQ(s.channels_last_run(4, x.shape()), 4u);  // op 4 keeps NCHW
    EXPECT_EQ(s.channels_last_run(5, x.shape()), 5u);  // two: too short
    EXPECT_EQ(s.channels_last_run(0, {2, 40, 9, 37, 1}), 0u);
    evsam::Trace<float> trace;
    const auto traced = s.forward(x, &trace);
    const auto fused = s.forward(x);
    EXPECT_TRUE(evsam_test::bitwise_equal(fused, traced));
    // and the run alone, against the first four modules in turn
    const auto run = s.forward_channels_last_run(x, 0, 4);
    EXPECT_TRUE(evsam_test::bitwise_equal(run, *trace.find("seq.op_list.3")));
}

}  // namespace

}  // namespace test_residual_block
