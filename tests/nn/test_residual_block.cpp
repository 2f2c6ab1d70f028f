// nn/residual_block.hpp: OpSequential's channels-last runs. kMinChannelsLastRun or more
// ResidualBlocks of FusedMBConvs in a row run channels-last under fast on AMX (one transpose in, one
// out); the run gives the bits of the blocks one by one in NCHW (the traced forward runs every module
// on its own). A block that returns its input as it is (UpSampleLayer at its own size) hands
// OpSequential's intermediate on without a copy.
#include <gtest/gtest.h>

#include <evsam/backend/cpu_precision.hpp>
#include <evsam/nn/fused_mb_conv.hpp>
#include <evsam/nn/residual_block.hpp>
#include <evsam/nn/upsample_layer.hpp>

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
    // ... and from an input given channels-last (SamNeck's merge), where the whole list is one run
    EXPECT_FALSE(s.runs_channels_last(x.shape()));
    EXPECT_THROW(s.forward_from_channels_last(x, x.shape()), std::logic_error);
    Seq four = make_sequence();
    four.op_list.resize(4);
    ASSERT_TRUE(four.runs_channels_last(x.shape()));
    evsam::Tensor<float> y({2, 9, 37, 40});
    evsam::nchw_to_npc_forward(y.data(), x.data(), 2, 40, 9 * 37, evsam::backend::cpu{});
    EXPECT_TRUE(evsam_test::bitwise_equal(four.forward_from_channels_last(y, x.shape()), run));
}

// The neck's input op, [ConvLayer 1x1, UpSampleLayer(size)] at the size the map already has:
// upstream's `return x`. OpSequential gives up its own intermediate (forward_owned), so the
// upsample hands the conv's output on as it is, the same storage; given the caller's x it copies.
TEST(OpSequential, AnUpsampleAtItsSizeHandsItsInputOnUncopied) {
    using Up = evsam::UpSampleLayer<float>;
    const Up up = Up::to_size(9, 37);
    auto x = evsam_test::random_tensor<float>({2, 40, 9, 37}, 82);
    const float* storage = x.data();
    const auto kept = up.forward(x);  // x is the caller's: a copy
    EXPECT_NE(kept.data(), storage);
    EXPECT_TRUE(evsam_test::bitwise_equal(kept, x));
    const auto owned = up.forward_owned(std::move(x));  // given up: the same storage
    EXPECT_EQ(owned.data(), storage);
    EXPECT_TRUE(evsam_test::bitwise_equal(owned, kept));
    // another size: resized, as forward does
    const Up up2 = Up::to_size(18, 74);
    auto y = evsam_test::random_tensor<float>({1, 3, 9, 37}, 83);
    const auto resized = up2.forward(y);
    EXPECT_TRUE(evsam_test::bitwise_equal(up2.forward_owned(std::move(y)), resized));

    // in a sequence after a block: the sequence's output is the first block's, traced or not
    Seq s = make_sequence();
    s.op_list.resize(1);
    s.op_list.push_back(std::make_unique<Up>(Up::to_size(9, 37)));
    evsam_test::FormulaInit<float> init;
    s.visit(init, "seq.");  // (names the new op)
    const auto in = evsam_test::random_tensor<float>({2, 40, 9, 37}, 84);
    evsam::Trace<float> trace;
    const auto traced = s.forward(in, &trace);
    EXPECT_TRUE(evsam_test::bitwise_equal(s.forward(in), traced));
    EXPECT_TRUE(evsam_test::bitwise_equal(traced, *trace.find("seq.op_list.0")));
    EXPECT_TRUE(evsam_test::bitwise_equal(traced, *trace.find("seq.op_list.1")));
}

}  // namespace

}  // namespace test_residual_block
