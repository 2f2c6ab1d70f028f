// evsam: efficientvit/models/nn/ops.py: class ResidualBlock, class OpSequential.
// ResidualBlock(main, IdentityLayer()) computes main(x) + x; ResidualBlock(main, None)
// is just main(x) (used for the stride-2 first block of each stage).
#pragma once
#include <memory>
#include <vector>

#include "evsam/nn/module.hpp"
#include "evsam/ops/activation.hpp"

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
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        return describe_sequence(*this, "ResidualBlock", in, t, depth, {main.get()});
    }
};

template <class T, class B = backend::cpu>
struct OpSequential : Block<T, B> {
    std::vector<std::unique_ptr<Block<T, B>>> op_list;

    void visit(ParamVisitor<T>& v, const std::string& p) override {
        this->set_name(p);
        for (size_t i = 0; i < op_list.size(); ++i) op_list[i]->visit(v, p + "op_list." + std::to_string(i) + ".");
    }
    TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const override {
        if (op_list.empty()) return x;
        TensorOf<T, B> y = op_list[0]->forward(x, tr);  // for op in self.op_list: x = op(x)
        for (size_t i = 1; i < op_list.size(); ++i) y = op_list[i]->forward(y, tr);
        this->trace(tr, y);
        return y;
    }
    Shape describe(const Shape& in, ModuleTable& t, int depth) override {
        std::vector<Block<T, B>*> ops;
        for (auto& op : op_list) ops.push_back(op.get());
        return describe_sequence(*this, "OpSequential", in, t, depth, ops);
    }
};

}  // namespace evsam
