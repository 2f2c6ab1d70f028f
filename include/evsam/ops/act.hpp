// evsam: activation kinds, the parameter of activation_forward and of the conv epilogues
// (upstream efficientvit/models/nn/act.py: build_act).
// EfficientViT's "gelu" is nn.GELU(approximate="tanh"); SAM's nn.GELU is the exact erf form.
#pragma once
#include <string>

#include "evsam/core/error.hpp"

namespace evsam {

// gelu_tanh_approx is not a model's choice: it is how `fast` precision computes gelu_tanh on the CPU
// (act_in_force, ops/activation.hpp), the same function to within 2e-5 relative error.
enum class Act { none, relu, relu6, hswish, silu, gelu_tanh, gelu_erf, gelu_tanh_approx };

// Upstream's registry names: "relu", "relu6", "hswish", "silu", "gelu" (tanh), or none.
inline Act act_from_name(const std::string& s) {
    if (s.empty() || s == "none") return Act::none;
    if (s == "relu") return Act::relu;
    if (s == "relu6") return Act::relu6;
    if (s == "hswish") return Act::hswish;
    if (s == "silu") return Act::silu;
    if (s == "gelu") return Act::gelu_tanh;
    throw Error("unknown activation '" + s + "'");
}

}  // namespace evsam
