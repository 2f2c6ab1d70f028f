// evsam: backend policy tags (CUTLASS-style tag types).
// Model classes are templated on <class T, class Backend>; ops overload on the tag.
// A missing op for a backend is a compile error, never a silent fallback.
//
// Lookup: a model template calls an op unqualified, conv2d_forward(..., B{}). The CPU overloads
// (namespace evsam, ops/*.hpp) are found by ordinary lookup, since every module header includes
// the ops it calls. The CUDA tag is declared in namespace evsam::cuda, where its overloads
// (ops/cuda/*.cuh) live too, so argument-dependent lookup finds them at instantiation, whatever
// order the headers were included in.
#pragma once
#include <type_traits>

#include "evsam/core/tensor.hpp"

namespace evsam::backend {
struct cpu {
    static constexpr const char* name = "cpu";
};
}  // namespace evsam::backend

namespace evsam::cuda {
struct tag {  // evsam::backend::cuda
    static constexpr const char* name = "cuda";
};
}  // namespace evsam::cuda

namespace evsam::backend {
using cuda = ::evsam::cuda::tag;

// The activation tensor of a backend: Tensor<T> (host) for cpu, cuda::DeviceTensor<T> for cuda
// (specialised in evsam/backend/cuda/device_tensor.cuh). Weights stay host Tensor<T> in every
// backend, loaded from the checkpoint; a device backend attaches a device copy to each, once.
template <class T, class B>
struct tensor_of;
template <class T>
struct tensor_of<T, cpu> {
    using type = Tensor<T>;
};

template <class B>
inline constexpr bool is_backend_v = std::is_same_v<B, cpu> || std::is_same_v<B, cuda>;

}  // namespace evsam::backend

namespace evsam {
template <class T, class B>
using TensorOf = typename backend::tensor_of<T, B>::type;

// A weight's data as backend B's ops read it: the host data for cpu (the cuda overload, in
// evsam/backend/cuda/device_tensor.cuh, returns the device copy). nullptr for an absent tensor.
template <class T>
const T* param_ptr(const Tensor<T>& w, backend::cpu) {
    return w.empty() ? nullptr : w.data();
}
// An activation on the host, for traces: the tensor itself for cpu (cuda downloads it).
template <class T>
const Tensor<T>& to_host(const Tensor<T>& t) {
    return t;
}
// Gives a weight its copy in the backend's memory (upload_weights calls it for every weight once
// loaded): nothing to do for cpu; cuda copies it to the device.
template <class T>
void upload_weight(Tensor<T>&, backend::cpu) {}
// Waits for the backend's queued work: nothing to wait for on the cpu.
inline void synchronize(backend::cpu) {}

}  // namespace evsam

// Put in every model class: rejects unknown policies and non-float scalars.
#define EVSAM_CHECK_TEMPLATE_ARGS(T, B)                                                                          \
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,                                         \
                  "evsam models are instantiated with T = float or T = double");                                 \
    static_assert(::evsam::backend::is_backend_v<B>, "unknown evsam backend policy: use evsam::backend::cpu or " \
                                                     "::cuda")
