// evsam: normalisation ops, NCHW. Size letters: N batch, C channels, P = H*W pixels.
#pragma once
#include <cmath>
#include <cstdint>

#include "evsam/backend/backend.hpp"
#include "evsam/ops/simd.hpp"

namespace evsam {

// torch BatchNorm2d in eval mode, in place: x = (x - mean) / sqrt(var + eps) * w + b.
// The reference: the formula as the module defines it.
template <class T>
void batchnorm2d_forward_naive(T* x, const T* weight, const T* bias, const T* mean, const T* var, double eps, int64_t N,
                               int64_t C, int64_t P) {
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < P; ++i) {
                T& v = x[(n * C + c) * P + i];
                v = (v - mean[c]) / std::sqrt(var[c] + static_cast<T>(eps)) * weight[c] + bias[c];
            }
}

// The fast path, as PyTorch's CPU kernel folds it: alpha = w / sqrt(var + eps), beta = b - mean * alpha,
// x = x * alpha + beta (another rounding than the formula, within kTolOpFloat).
template <class T>
void batchnorm2d_forward(T* x, const T* weight, const T* bias, const T* mean, const T* var, double eps, int64_t N,
                         int64_t C, int64_t P, backend::cpu) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
            const T invstd = T(1) / std::sqrt(var[c] + static_cast<T>(eps));
            const T alpha = weight[c] * invstd, beta = bias[c] - mean[c] * alpha;
            T* p = x + (n * C + c) * P;
            for (int64_t i = 0; i < P; ++i) p[i] = p[i] * alpha + beta;
        }
}

// LayerNorm over the channel dim of NCHW (efficientvit LayerNorm2d / SAM LayerNorm2d), in place:
// u = mean_c x; s = mean_c (x - u)^2; x = (x - u) / sqrt(s + eps) * w + b.
// The reference: one pixel at a time, walking down the channels (pixels [p0, p1) of image x,
// whose channel planes are P apart).
template <class T>
void layernorm2d_pixels_naive(T* x, const T* weight, const T* bias, double eps, int64_t C, int64_t P, int64_t p0,
                              int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
        T* base = x + p;
        T u = 0;
        for (int64_t c = 0; c < C; ++c) u += base[c * P];
        u /= static_cast<T>(C);
        T s = 0;
        for (int64_t c = 0; c < C; ++c) s += (base[c * P] - u) * (base[c * P] - u);
        s /= static_cast<T>(C);
        const T inv = T(1) / std::sqrt(s + static_cast<T>(eps));
        for (int64_t c = 0; c < C; ++c) base[c * P] = (base[c * P] - u) * inv * weight[c] + bias[c];
    }
}
template <class T>
void layernorm2d_forward_naive(T* x, const T* weight, const T* bias, double eps, int64_t N, int64_t C, int64_t P) {
    for (int64_t n = 0; n < N; ++n) layernorm2d_pixels_naive(x + n * C * P, weight, bias, eps, C, P, 0, P);
}

// The fast path: the same arithmetic, in the same order, on a vector of neighbouring pixels
// at a time (contiguous loads down each channel plane); the last partial vector of an image
// goes through the reference loop, which computes the same values.
template <class T>
void layernorm2d_forward(T* x, const T* weight, const T* bias, double eps, int64_t N, int64_t C, int64_t P,
                         backend::cpu) {
    using V = simd::vec<T>;
    constexpr int64_t VW = simd::width<T>;
    const int64_t nv = P / VW;
    const V vC(static_cast<T>(C)), veps(static_cast<T>(eps)), one(T(1));
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < nv; ++i) {
            T* base = x + n * C * P + i * VW;
            V u(T(0));
            for (int64_t c = 0; c < C; ++c) u += V::load_unaligned(base + c * P);
            u /= vC;
            V s(T(0));
            for (int64_t c = 0; c < C; ++c) {
                const V d = V::load_unaligned(base + c * P) - u;
                s += d * d;
            }
            s /= vC;
            const V inv = one / xsimd::sqrt(s + veps);
            for (int64_t c = 0; c < C; ++c)
                ((V::load_unaligned(base + c * P) - u) * inv * V(weight[c]) + V(bias[c])).store_unaligned(base + c * P);
        }
    if (nv * VW < P)
        for (int64_t n = 0; n < N; ++n) layernorm2d_pixels_naive(x + n * C * P, weight, bias, eps, C, P, nv * VW, P);
}

// torch.nn.LayerNorm over the last dim D of (M, D) rows, in place.
template <class T>
void layernorm_forward_naive(T* x, const T* weight, const T* bias, double eps, int64_t M, int64_t D) {
    for (int64_t m = 0; m < M; ++m) {
        T* r = x + m * D;
        T u = 0;
        for (int64_t d = 0; d < D; ++d) u += r[d];
        u /= static_cast<T>(D);
        T s = 0;
        for (int64_t d = 0; d < D; ++d) s += (r[d] - u) * (r[d] - u);
        s /= static_cast<T>(D);
        const T inv = T(1) / std::sqrt(s + static_cast<T>(eps));
        for (int64_t d = 0; d < D; ++d) r[d] = (r[d] - u) * inv * weight[d] + bias[d];
    }
}

// The fast path: the same two passes on SIMD vectors (lane-wise partial sums, then reduced: another
// summation order than the naive loop, within kTolOpFloat), rows split over threads.
template <class T>
void layernorm_forward(T* x, const T* weight, const T* bias, double eps, int64_t M, int64_t D, backend::cpu) {
    using V = simd::vec<T>;
    constexpr int64_t VW = simd::width<T>;
    const int64_t nv = D / VW * VW;
#pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < M; ++m) {
        T* r = x + m * D;
        V acc(T(0));
        for (int64_t d = 0; d < nv; d += VW) acc += V::load_unaligned(r + d);
        T u = xsimd::hadd(acc);
        for (int64_t d = nv; d < D; ++d) u += r[d];
        u /= static_cast<T>(D);
        const V vu(u);
        V acc2(T(0));
        for (int64_t d = 0; d < nv; d += VW) {
            const V c = V::load_unaligned(r + d) - vu;
            acc2 += c * c;
        }
        T s = xsimd::hadd(acc2);
        for (int64_t d = nv; d < D; ++d) s += (r[d] - u) * (r[d] - u);
        s /= static_cast<T>(D);
        const T inv = T(1) / std::sqrt(s + static_cast<T>(eps));
        const V vinv(inv);
        for (int64_t d = 0; d < nv; d += VW)
            ((V::load_unaligned(r + d) - vu) * vinv * V::load_unaligned(weight + d) + V::load_unaligned(bias + d))
                .store_unaligned(r + d);
        for (int64_t d = nv; d < D; ++d) r[d] = (r[d] - u) * inv * weight[d] + bias[d];
    }
}

}  // namespace evsam
