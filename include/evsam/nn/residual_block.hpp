// evsam: efficientvit/models/nn/ops.py: class ResidualBlock, class OpSequential.
// ResidualBlock(main, IdentityLayer()) computes main(x) + x; ResidualBlock(main, None)
// is just main(x) (used for the stride-2 first block of each stage).
#pragma once
#include <memory>
#include <vector>

#include "evsam/nn/module.hpp"
#include "evsam/ops/activation.hpp"
#include "evsam/ops/layout.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct ResidualBlock : Block<T, B> {
    std::unique_ptr<Block<T, B>> main;
    bool identity_shortcut;  // shortcut = IdentityLayer() (true) or None (false)

    ResidualBlock(std::unique_ptr<Block<T, B>> main_, bool identity_shortcut_)
        : main(std::move(main_)), identity_shortcut(identity_shortcut_) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        main->visit(v, p + "main.");
    }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        if (identity_shortcut && !tr)  // main(x) + x in main's last write, where it can (the same bits)
            if (auto res = main->forward_plus_input(x)) {
                this->trace(tr, *res);
                return std::move(*res);
            }
        TensorOf<T, B> res = main->forward(x, tr);                                               // res = self.main(x)
        if (identity_shortcut) add_forward(res.data(), res.data(), x.data(), res.numel(), B{});  // + self.shortcut(x)
        this->trace(tr, res);
        return res;
    }
    bool keeps_channels_last(const Shape& x) const override {
        return identity_shortcut && main->keeps_channels_last(x);
    }
    TensorOf<T, B> forward_channels_last(const TensorOf<T, B>& x, const TensorOf<T, B>* plus) const override {
        if (plus) throw std::logic_error(this->name + ": a residual sum into a ResidualBlock");
        TensorOf<T, B> res = main->forward_channels_last(x, &x);  // self.main(x) + self.shortcut(x)
        this->trace(nullptr, res);
        return res;
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        return describe_sequence(*this, "ResidualBlock", in, t, depth, {main.get()});
    }
};

// The shortest run of blocks OpSequential runs channels-last: each saves 0.3-0.7 ms at 64x64 x 256
// (the neck's FusedMBConv: 2.9-3.1 -> 2.3-2.5 ms) but none at 128x128 x 64 (L2's stage 1), and the
// two transposes around a run cost 0.6-1.1 ms. So the necks (4 to 12 blocks) and XL1's stage 3 (4),
// not the L-series' stages 1 and 2 (2 blocks at most).
inline constexpr size_t kMinChannelsLastRun = 3;

template <class T, class B = backend::cpu>
struct OpSequential : Block<T, B> {
    std::vector<std::unique_ptr<Block<T, B>>> op_list;

    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        for (size_t i = 0; i < op_list.size(); ++i) op_list[i]->visit(v, p + "op_list." + std::to_string(i) + ".");
    }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        if (op_list.empty()) return x;
        TensorOf<T, B> y;
        for (size_t i = 0; i < op_list.size();) {  // for op in self.op_list: x = op(x)
            const TensorOf<T, B>& in = i ? y : x;  // (x itself, never a copy)
            if (const size_t j = tr ? i : channels_last_run(i, in.shape()); j > i) {
                y = forward_channels_last_run(in, i, j);
                i = j;
            } else if (i) {
                y = op_list[i++]->forward_owned(std::move(y), tr);  // (y: this loop's own)
            } else {
                y = op_list[i++]->forward(x, tr);
            }
        }
        this->trace(tr, y);
        return y;
    }
    // Ops [i, j) that keep an input of shape x channels-last (the neck's FusedMBConvs), where there are
    // at least kMinChannelsLastRun of them; j = i where not.
    size_t channels_last_run(size_t i, const Shape& x) const {
        size_t j = i;
        while (j < op_list.size() && op_list[j]->keeps_channels_last(x)) ++j;
        return j - i >= kMinChannelsLastRun ? j : i;
    }
    // Ops [i, j) on x: channels-last from the first to the last (the same bits as forward, op by op)
    TensorOf<T, B> forward_channels_last_run(const TensorOf<T, B>& x, size_t i, size_t j) const {
        if constexpr (!std::is_same_v<B, backend::cpu>) {  // (no block keeps channels-last there)
            (void)i, (void)j;
            throw std::logic_error(this->name + ": channels-last runs are the CPU's");
        } else {
            const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
            TensorOf<T, B> y({N, H, W, C}, TensorOf<T, B>::uninitialized);
            nchw_to_npc_forward(y.data(), x.data(), N, C, H * W, B{});  // x.permute(0, 2, 3, 1)
            return ops_channels_last(std::move(y), x.shape(), i, j);
        }
    }
    // Whether an untraced forward of an x of this shape is one channels-last run, op_list[0] to the end.
    bool runs_channels_last(const Shape& x) const {
        return !op_list.empty() && channels_last_run(0, x) == op_list.size();
    }
    // forward(x), untraced, given y = x.permute(0, 2, 3, 1) (N, H, W, C) of an x of shape `shape`, where
    // runs_channels_last(shape) (SamNeck makes y as it sums its inputs): the output in NCHW.
    TensorOf<T, B> forward_from_channels_last(TensorOf<T, B> y, const Shape& shape) const {
        if (!runs_channels_last(shape)) throw std::logic_error(this->name + ": not one channels-last run");
        TensorOf<T, B> out = ops_channels_last(std::move(y), shape, 0, op_list.size());
        this->trace(nullptr, out);
        return out;
    }

private:
    // Ops [i, j) on y, channels-last (N, H, W, C) of an NCHW shape; the last one's output back to NCHW.
    TensorOf<T, B> ops_channels_last(TensorOf<T, B> y, const Shape& shape, size_t i, size_t j) const {
        const int64_t N = shape[0], C = shape[1], P = shape[2] * shape[3];
        TensorOf<T, B> out(shape, TensorOf<T, B>::uninitialized);
        for (; i < j; ++i) y = op_list[i]->forward_channels_last(y);
        npc_to_nchw_forward(out.data(), y.data(), N, C, P, B{});  // .permute(0, 3, 1, 2)
        return out;
    }

public:
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        std::vector<Block<T, B>*> ops;
        for (auto& op : op_list) ops.push_back(op.get());
        return describe_sequence(*this, "OpSequential", in, t, depth, ops);
    }
};

}  // namespace evsam
