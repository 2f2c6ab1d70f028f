// evsam: torch.nn.functional.adaptive_avg_pool2d (ATen AdaptiveAveragePooling.cpp).
// Size letters: N*C planes (NC), H x W in, OH x OW out. Output (oy, ox) averages the input bin
// rows [floor(oy*H/OH), ceil((oy+1)*H/OH)) and columns likewise. For a 1x1 output ATen takes
// input.mean((-1, -2)); the sums here run in double for float, which is at least as accurate.
#pragma once
#include <cstdint>
#include <type_traits>

#include "evsam/backend/backend.hpp"

namespace evsam {

// adaptive_avg_pool2d's bin [start, end) of output i of `out` over `in` (torch: floor, ceil).
inline int64_t adaptive_pool_start(int64_t i, int64_t in, int64_t out) { return i * in / out; }
inline int64_t adaptive_pool_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

template <class T>
void adaptive_avg_pool2d_forward(T* out, const T* in, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                 backend::cpu) {
    using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;
#pragma omp parallel for schedule(static) if (NC > 64)
    for (int64_t p = 0; p < NC; ++p)
        for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
                const int64_t y0 = adaptive_pool_start(oy, H, OH), y1 = adaptive_pool_end(oy, H, OH);
                const int64_t x0 = adaptive_pool_start(ox, W, OW), x1 = adaptive_pool_end(ox, W, OW);
                Acc s = 0;
                for (int64_t y = y0; y < y1; ++y)
                    for (int64_t x = x0; x < x1; ++x) s += in[(p * H + y) * W + x];
                out[(p * OH + oy) * OW + ox] = static_cast<T>(s / static_cast<Acc>((y1 - y0) * (x1 - x0)));
            }
}

}  // namespace evsam
