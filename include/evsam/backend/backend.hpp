// evsam: backend policy tags (CUTLASS-style tag types).
// Model classes are templated on <class T, class Backend>; ops overload on the tag.
// A missing op for a backend is a compile error, never a silent fallback.
#pragma once
#include <type_traits>

namespace evsam::backend {

struct cpu {
    static constexpr const char* name = "cpu";
};
struct cuda {
    static constexpr const char* name = "cuda";
};

// The activation tensor of a backend: Tensor<T> (host) for cpu, cuda::DeviceTensor<T> for cuda
// (specialised in evsam/backend/cuda/device_tensor.cuh). Weights stay host Tensor<T> in every
// backend, loaded from the checkpoint; a device backend attaches a device copy to each, once.
template <class T, class B>
struct tensor_of;

template <class B>
inline constexpr bool is_backend_v = std::is_same_v<B, cpu> || std::is_same_v<B, cuda>;

}  // namespace evsam::backend

namespace evsam {
template <class T, class B>
using TensorOf = typename backend::tensor_of<T, B>::type;
}  // namespace evsam

// Put in every model class: rejects unknown policies and non-float scalars.
#define EVSAM_CHECK_TEMPLATE_ARGS(T, B)                                                \
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,                \
                  "evsam models are instantiated with T = float or T = double");        \
    static_assert(::evsam::backend::is_backend_v<B>,                                    \
                  "unknown evsam backend policy: use evsam::backend::cpu or ::cuda")
