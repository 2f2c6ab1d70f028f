// evsam: the parts of efficientvit/models/nn/ops.py: class DAGBlock that SamNeck (sam.py) and
// SegHead (seg.py) share, both DAGBlocks with merge "add":
//   feat = [op(feature_dict[key]) for key, op in zip(self.input_keys, self.input_ops)]
//   feat = list_sum(feat)          -> dag_merge_add (utils/list.py: x[0] + list_sum(x[1:]))
//   feat = self.middle(feat)       -> head_depth blocks from dag_middle_block
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "evsam/nn/fused_mb_conv.hpp"
#include "evsam/nn/mb_conv.hpp"
#include "evsam/nn/res_block.hpp"
#include "evsam/nn/residual_block.hpp"

namespace evsam {

// The shape every input to the merge has (the last one's); an error where one differs.
template <class T, class B>
Shape dag_merge_shape(const std::vector<TensorOf<T, B>>& feat) {
    EVSAM_CHECK(!feat.empty(), "DAGBlock: no inputs to merge");
    for (size_t i = feat.size() - 1; i-- > 0;)
        EVSAM_CHECK(feat[i].shape() == feat.back().shape(),
                    "DAGBlock: merged inputs differ in shape: " + shape_str(feat[i].shape()) + " vs " +
                        shape_str(feat.back().shape()));
    return feat.back().shape();
}
// utils/list.py: list_sum(x) = x[0] if len(x) == 1 else x[0] + list_sum(x[1:]), i.e.
// x0 + (x1 + (x2 + ...)): summed from the back, in place into the last tensor, which is returned.
template <class T, class B>
TensorOf<T, B> dag_merge_add(std::vector<TensorOf<T, B>>& feat) {
    dag_merge_shape<T, B>(feat);
    TensorOf<T, B> acc = std::move(feat.back());
    for (size_t i = feat.size() - 1; i-- > 0;)
        add_forward(acc.data(), feat[i].data(), acc.data(), acc.numel(), B{});  // x[i] + list_sum(x[i+1:])
    return acc;
}

// One block of a DAGBlock's middle, before its ResidualBlock(block, IdentityLayer()):
//   "mb" / "mbconv":   MBConv(w, w, expand_ratio, norm="bn2d", act_func=(act, act, None))
//   "fmb" / "fmbconv": FusedMBConv(w, w, expand_ratio, norm="bn2d", act_func=(act, None))
//   "res":             ResBlock(w, w, expand_ratio, norm="bn2d", act_func=(act, None))
// (SamNeck spells them "mb", "fmb", "res"; SegHead "mbconv", "fmbconv".)
template <class T, class B>
std::unique_ptr<Block<T, B>> dag_middle_block(const std::string& middle_op, int64_t w, double expand_ratio, Act act,
                                              const std::string& owner) {
    if (middle_op == "mb" || middle_op == "mbconv")
        return std::make_unique<MBConv<T, B>>(w, w, 3, 1, -1, expand_ratio, std::array<bool, 3>{false, false, false},
                                              std::array<Norm, 3>{Norm::bn2d, Norm::bn2d, Norm::bn2d},
                                              std::array<Act, 3>{act, act, Act::none});
    if (middle_op == "fmb" || middle_op == "fmbconv")
        return std::make_unique<FusedMBConv<T, B>>(w, w, 3, 1, -1, expand_ratio, 1, std::array<bool, 2>{false, false},
                                                   std::array<Norm, 2>{Norm::bn2d, Norm::bn2d},
                                                   std::array<Act, 2>{act, Act::none});
    if (middle_op == "res")
        return std::make_unique<ResBlock<T, B>>(w, w, 3, 1, -1, expand_ratio, std::array<bool, 2>{false, false},
                                                std::array<Norm, 2>{Norm::bn2d, Norm::bn2d},
                                                std::array<Act, 2>{act, Act::none});
    throw Error(owner + ": unknown middle_op '" + middle_op + "'");
}

// middle = OpSequential([ResidualBlock(block, IdentityLayer()) for _ in range(head_depth)])
template <class T, class B>
OpSequential<T, B> dag_middle(const std::string& middle_op, int64_t head_depth, int64_t w, double expand_ratio, Act act,
                              const std::string& owner) {
    OpSequential<T, B> middle;
    for (int64_t d = 0; d < head_depth; ++d)
        middle.op_list.push_back(std::make_unique<ResidualBlock<T, B>>(
            dag_middle_block<T, B>(middle_op, w, expand_ratio, act, owner), true));
    return middle;
}

// "stageK" -> K: a backbone feature's index among its stage outputs.
inline size_t dag_stage_index(const std::string& fid, const std::string& owner) {
    EVSAM_CHECK(
        fid.size() > 5 && fid.rfind("stage", 0) == 0 && fid.find_first_not_of("0123456789", 5) == std::string::npos,
        owner + ": bad fid '" + fid + "' (expected stage<K>)");
    return static_cast<size_t>(std::stoul(fid.substr(5)));
}

}  // namespace evsam
