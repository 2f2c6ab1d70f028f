// evsam: efficientvit/models/nn/ops.py: class ResidualBlock, class OpSequential.
// ResidualBlock(main, IdentityLayer()) computes main(x) + x; ResidualBlock(main, None)
// is just main(x) (used for the stride-2 first block of each stage).
#pragma once
#include <memory>
#include <vector>

#include "evsam/core/module.hpp"

namespace evsam {

template <class T, class B = backend::cpu>
struct ResidualBlock : Module<T, B> {
    std::unique_ptr<Module<T, B>> main;
    bool identity_shortcut;  // shortcut = IdentityLayer() (true) or None (false)

    ResidualBlock(std::unique_ptr<Module<T, B>> main_, bool identity_shortcut_)
        : main(std::move(main_)), identity_shortcut(identity_shortcut_) {}
    void visit(ParamVisitor<T>& v, const std::string& p) override { main->visit(v, p + "main."); }
};

template <class T, class B = backend::cpu>
struct OpSequential : Module<T, B> {
    std::vector<std::unique_ptr<Module<T, B>>> op_list;

    void visit(ParamVisitor<T>& v, const std::string& p) override {
        for (size_t i = 0; i < op_list.size(); ++i) op_list[i]->visit(v, p + "op_list." + std::to_string(i) + ".");
    }
};

}  // namespace evsam
