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

template <class B>
inline constexpr bool is_backend_v = std::is_same_v<B, cpu> || std::is_same_v<B, cuda>;

}  // namespace evsam::backend

// Put in every model class: rejects unknown policies and non-float scalars.
#define EVSAM_CHECK_TEMPLATE_ARGS(T, B)                                                \
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,                \
                  "evsam models are instantiated with T = float or T = double");        \
    static_assert(::evsam::backend::is_backend_v<B>,                                    \
                  "unknown evsam backend policy: use evsam::backend::cpu or ::cuda")
