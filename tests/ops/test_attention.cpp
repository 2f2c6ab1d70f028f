// ops/attention.hpp: SAM's multi-head attention (GEMM + SIMD softmax) against the scalar loops,
// and the factored cross attentions (projections folded into the few prompt tokens) against the
// unfactored composition they replace.
#include <gtest/gtest.h>

#include <evsam/ops/attention.hpp>
#include <evsam/ops/linear.hpp>

#include <array>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "op_test_util.hpp"

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_attention {

namespace {

// SAM's attention: the GEMM + SIMD softmax path against the scalar loops, for the decoder's
// shapes (tokens -> image, image -> tokens over several query blocks, self-attention) and odd ones.
TEST(Attention, FastMatchesNaive) {
    std::mt19937 rng(8);
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto [B, NQ, NK, C, H] : std::vector<std::array<int64_t, 5>>{
             {1, 7, 4096, 128, 8}, {2, 600, 7, 128, 8}, {1, 7, 7, 256, 8}, {3, 5, 33, 12, 3}, {1, 1, 1, 4, 1}}) {
        evsam::Tensor<float> q({B, NQ, C}), k({B, NK, C}), v({B, NK, C}), ref({B, NQ, C}), fast({B, NQ, C});
        for (auto* t : {&q, &k, &v})
            for (auto& x : *t) x = 3 * u(rng);
        evsam::attention_forward_naive(ref.data(), q.data(), k.data(), v.data(), B, NQ, NK, C, H);
        evsam::attention_forward(fast.data(), q.data(), k.data(), v.data(), B, NQ, NK, C, H, evsam::backend::cpu{});
        auto r = evsam::compare(fast, ref, evsam::kTolOpFloat, "attention");
        EXPECT_TRUE(r.ok) << r.message;
    }
}

// Factored cross attention (projections folded into the few tokens) against the unfactored
// composition it replaces: naive Linear projections + naive attention (+ naive out_proj).
struct CrossCase {
    int64_t B, NF, NM, E, D, H;  // batch, few rows (tokens), many rows (image positions), dims, heads
};
std::vector<CrossCase> cross_cases() {
    return {{1, 7, 4096, 256, 128, 8}, {3, 6, 300, 256, 128, 8}, {2, 5, 33, 16, 8, 2}, {1, 1, 1, 8, 4, 1}};
}

TEST(CrossAttention, FewQueriesMatchesProjectedAttention) {
    std::mt19937 rng(17);
    std::uniform_real_distribution<float> u(-1, 1);
    for (const auto& c : cross_cases()) {
        evsam::Tensor<float> q({c.B, c.NF, c.D}), k({c.B, c.NM, c.E}), v({c.B, c.NM, c.E}), Wk({c.D, c.E}), bk({c.D}),
            Wv({c.D, c.E}), bv({c.D});
        for (auto* t : {&q, &k, &v, &bk, &bv})
            for (auto& x : *t) x = 2 * u(rng);
        for (auto* t : {&Wk, &Wv})
            for (auto& x : *t) x = u(rng) / std::sqrt(static_cast<float>(c.E) / 3);
        evsam::Tensor<float> kp({c.B, c.NM, c.D}), vp({c.B, c.NM, c.D}), ref({c.B, c.NF, c.D}), fast({c.B, c.NF, c.D});
        evsam::linear_forward_naive(kp.data(), k.data(), Wk.data(), bk.data(), c.B * c.NM, c.E, c.D);
        evsam::linear_forward_naive(vp.data(), v.data(), Wv.data(), bv.data(), c.B * c.NM, c.E, c.D);
        evsam::attention_forward_naive(ref.data(), q.data(), kp.data(), vp.data(), c.B, c.NF, c.NM, c.D, c.H);
        evsam::attention_few_queries_forward(fast.data(), q.data(), k.data(), v.data(), Wk.data(), bk.data(), Wv.data(),
                                             bv.data(), c.B, c.NF, c.NM, c.E, c.D, c.H, c.NM * c.E,
                                             evsam::backend::cpu{});
        auto r = evsam::compare(fast, ref, evsam::kTolOpFloat, "few queries B" + std::to_string(c.B));
        EXPECT_TRUE(r.ok) << r.message;
    }
}

TEST(CrossAttention, FewKeysMatchesProjectedAttention) {
    std::mt19937 rng(19);
    std::uniform_real_distribution<float> u(-1, 1);
    for (const auto& c : cross_cases())
        for (bool preprojected : {false, true}) {
            evsam::Tensor<float> qin({c.B, c.NM, c.E}), kp({c.B, c.NF, c.D}), vp({c.B, c.NF, c.D}), Wq({c.D, c.E}),
                bq({c.D}), Wo({c.E, c.D}), bo({c.E});
            for (auto* t : {&qin, &kp, &vp, &bq, &bo})
                for (auto& x : *t) x = 2 * u(rng);
            for (auto* t : {&Wq, &Wo})
                for (auto& x : *t) x = u(rng) / std::sqrt(static_cast<float>(c.E) / 3);
            evsam::Tensor<float> qp({c.B, c.NM, c.D}), o({c.B, c.NM, c.D}), ref({c.B, c.NM, c.E}),
                fast({c.B, c.NM, c.E});
            evsam::linear_forward_naive(qp.data(), qin.data(), Wq.data(), bq.data(), c.B * c.NM, c.E, c.D);
            evsam::attention_forward_naive(o.data(), qp.data(), kp.data(), vp.data(), c.B, c.NM, c.NF, c.D, c.H);
            evsam::linear_forward_naive(ref.data(), o.data(), Wo.data(), bo.data(), c.B * c.NM, c.D, c.E);
            if (preprojected)  // the Predictor's per-image q projection
                evsam::attention_few_keys_forward(fast.data(), static_cast<const float*>(nullptr), qp.data(),
                                                  c.NM * c.D, kp.data(), vp.data(), Wq.data(), bq.data(), Wo.data(),
                                                  bo.data(), c.B, c.NM, c.NF, c.E, c.D, c.H, evsam::backend::cpu{});
            else
                evsam::attention_few_keys_forward(fast.data(), qin.data(), static_cast<const float*>(nullptr),
                                                  c.NM * c.E, kp.data(), vp.data(), Wq.data(), bq.data(), Wo.data(),
                                                  bo.data(), c.B, c.NM, c.NF, c.E, c.D, c.H, evsam::backend::cpu{});
            auto r = evsam::compare(
                fast, ref, evsam::kTolOpFloat,
                std::string("few keys") + (preprojected ? " (q projected)" : "") + " B" + std::to_string(c.B));
            EXPECT_TRUE(r.ok) << r.message;
        }
}

}  // namespace

}  // namespace test_attention
