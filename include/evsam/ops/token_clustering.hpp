// evsam: Expedit-SAM's token clustering and reconstruction (Expedit-SAM,
// segment_anything/modeling/hourglass_image_encoder.py: TokenClusteringBlock.forward,
// TokenReconstructionBlock._forward), on windows of tokens.
// Size letters: N windows (batch x windows per image), S the window side, L = S * S tokens per
// window, g x g clusters per window (K = g * g), C channels.
//
// token_clustering: x (N, L, C) -> centres (N, K, C)
//   centres  = adaptive_avg_pool2d(window, (g, g))              (torch's bins: floor / ceil)
//   label(p) = nearest-interpolated arange(K) on the S x S grid  (torch's 'nearest': floor(p * g / S))
//   mask(k, p): |label(p) % g - k % g| <= r and |label(p) / g - k / g| <= r   (r = window_size / 2)
//   n_iters times:
//     D(k, p) = |x_p|^2 + |c_k|^2 - 2 c_k . x_p, + 1e16 where not mask
//     A = softmax over k of (-D * temperature)
//     c_k = sum_p A(k, p) x_p / max(sum_p A(k, p), 1e-16)
//   Upstream's 1e16 makes exp underflow to exactly 0 (in fp32 and fp64: the exponent is about
//   -1e14 below the column's max, which is an unmasked entry), so both kernels leave the masked
//   entries out and get the same values. Upstream's final hard_labels (argmin over the unmasked
//   distances) feed only its NaiveUnpooling, which the hourglass encoder does not use: not computed.
//
// token_reconstruction: x (N, K, C) clustered tokens, feat (N, L, C) the tokens before clustering,
// sfeat (N, K, C) the centres -> out (N, L, C)
//   ds(p, m) = max(|feat_p|^2 + |sfeat_m|^2 - 2 feat_p . sfeat_m, 0);  w = exp(-temperature * ds)
//   keep w(p, m) >= the k-th largest of w(p, :) (ties kept, as torch.ge(weight, min(topk)))
//   a(p, :) = kept / max(|kept|_2, 1e-12)  (F.normalize);  out_p = sum_m a(p, m) x_m
//
// The naive kernels are the references: scalar loops in upstream's order of operations. The fast
// ones do the dot products and the weighted sums as GEMMs, always in fp32 (gemm_fp32): bf16
// operands would move the near-hard assignments and the top-k thresholds themselves.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <vector>

#include "evsam/backend/backend.hpp"
#include "evsam/ops/gemm.hpp"
#include "evsam/ops/pool.hpp"

namespace evsam {

// F.interpolate(mode="nearest")'s source index of output i (torch's nearest_idx, its float scale).
inline int64_t nearest_source_index(int64_t i, int64_t in, int64_t out) {
    if (out == in) return i;
    if (out == 2 * in) return i >> 1;
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    return std::min(static_cast<int64_t>(std::floor(static_cast<float>(i) * scale)), in - 1);
}

namespace detail {

// Initial centres of one window (adaptive average pooling), c (K, C).
template <class T>
void cluster_init_centres(T* c, const T* x, int64_t S, int64_t C, int64_t g) {
    for (int64_t i = 0; i < g; ++i)
        for (int64_t j = 0; j < g; ++j) {
            const int64_t y0 = adaptive_pool_start(i, S, g), y1 = adaptive_pool_end(i, S, g);
            const int64_t x0 = adaptive_pool_start(j, S, g), x1 = adaptive_pool_end(j, S, g);
            T* ck = c + (i * g + j) * C;
            std::fill(ck, ck + C, T(0));
            for (int64_t y = y0; y < y1; ++y)
                for (int64_t xx = x0; xx < x1; ++xx)
                    for (int64_t ch = 0; ch < C; ++ch) ck[ch] += x[(y * S + xx) * C + ch];
            const T n = static_cast<T>((y1 - y0) * (x1 - x0));
            for (int64_t ch = 0; ch < C; ++ch) ck[ch] /= n;
        }
}

// Whether cluster k may take token p of an S x S window: its initial label (nearest-interpolated
// arange) within r of k on the g x g grid. A K x L table, the same for every window and iteration.
struct ClusterMask {
    int64_t L;
    std::vector<unsigned char> table;  // (K, L)
    ClusterMask(int64_t S, int64_t g, int64_t r) : L(S * S), table(static_cast<size_t>(g * g * S * S)) {
        for (int64_t p = 0; p < L; ++p) {
            const int64_t l = nearest_source_index(p / S, g, S) * g + nearest_source_index(p % S, g, S);
            for (int64_t k = 0; k < g * g; ++k)
                table[static_cast<size_t>(k * L + p)] = std::abs(l % g - k % g) <= r && std::abs(l / g - k / g) <= r;
        }
    }
    bool allowed(int64_t k, int64_t p) const { return table[static_cast<size_t>(k * L + p)] != 0; }
};

// softmax over the allowed clusters of column p of A (K x L, row-major) holding -D * temperature;
// the others set to 0.
template <class T>
void cluster_softmax_column(T* A, int64_t K, int64_t L, int64_t p, const ClusterMask& m) {
    T mx = -INFINITY;
    for (int64_t k = 0; k < K; ++k)
        if (m.allowed(k, p)) mx = std::max(mx, A[k * L + p]);
    T sum = 0;
    for (int64_t k = 0; k < K; ++k) {
        T& a = A[k * L + p];
        a = m.allowed(k, p) ? std::exp(a - mx) : T(0);
        sum += a;
    }
    for (int64_t k = 0; k < K; ++k) A[k * L + p] /= sum;
}

// The k-th largest value of w[0 .. n) (torch.min(torch.topk(w, k).values)).
template <class T>
T kth_largest(const T* w, int64_t n, int64_t k, std::vector<T>& scratch) {
    scratch.assign(w, w + n);
    std::nth_element(scratch.begin(), scratch.begin() + (k - 1), scratch.end(), std::greater<T>());
    return scratch[static_cast<size_t>(k - 1)];
}

// Row p of the reconstruction weights: exp(-temperature * max(ds, 0)), top-k kept, L2-normalised.
template <class T>
void reconstruction_weights_row(T* w, int64_t K, int64_t k, T temperature, std::vector<T>& scratch) {
    for (int64_t m = 0; m < K; ++m) w[m] = std::exp(-temperature * std::max(w[m], T(0)));  // ds[ds < 0] = 0
    const T kth = kth_largest(w, K, k, scratch);
    T ss = 0;
    for (int64_t m = 0; m < K; ++m) {
        if (!(w[m] >= kth)) w[m] = 0;  // torch.where(torch.ge(weight, mink), weight, zero)
        ss += w[m] * w[m];
    }
    const T den = std::max(std::sqrt(ss), T(1e-12));  // F.normalize(attention, dim=2)
    for (int64_t m = 0; m < K; ++m) w[m] /= den;
}

}  // namespace detail

// ---------------------------------------------------------------- clustering

template <class T>
void token_clustering_forward_naive(T* out, const T* x, int64_t N, int64_t S, int64_t C, int64_t g, int64_t n_iters,
                                    double temperature, int64_t r) {
    const int64_t L = S * S, K = g * g;
    const T tau = static_cast<T>(temperature);
    const detail::ClusterMask mask(S, g, r);
    std::vector<T> A(static_cast<size_t>(K * L)), xn(static_cast<size_t>(L)), cn(static_cast<size_t>(K));
    for (int64_t n = 0; n < N; ++n) {
        const T* xw = x + n * L * C;
        T* c = out + n * K * C;
        detail::cluster_init_centres(c, xw, S, C, g);  // calc_init_centroid
        for (int64_t p = 0; p < L; ++p) {
            T s = 0;
            for (int64_t ch = 0; ch < C; ++ch) s += xw[p * C + ch] * xw[p * C + ch];
            xn[static_cast<size_t>(p)] = s;
        }
        for (int64_t it = 0; it < n_iters; ++it) {
            for (int64_t k = 0; k < K; ++k) {
                T s = 0;
                for (int64_t ch = 0; ch < C; ++ch) s += c[k * C + ch] * c[k * C + ch];
                cn[static_cast<size_t>(k)] = s;
            }
            for (int64_t k = 0; k < K; ++k)  // dist_matrix = self.pairwise_dist(pixel_features, spixel_features)
                for (int64_t p = 0; p < L; ++p) {
                    T dot = 0;
                    for (int64_t ch = 0; ch < C; ++ch) dot += c[k * C + ch] * xw[p * C + ch];
                    const T d = (xn[static_cast<size_t>(p)] + cn[static_cast<size_t>(k)]) - 2 * dot;
                    A[static_cast<size_t>(k * L + p)] = -d * tau;
                }
            for (int64_t p = 0; p < L; ++p)  // (-dist_matrix * self.temperture).softmax(1), masked
                detail::cluster_softmax_column(A.data(), K, L, p, mask);
            for (int64_t k = 0; k < K; ++k) {  // bmm(affinity, pixels) / affinity.sum(2).clamp_(min=1e-16)
                T* ck = c + k * C;
                std::fill(ck, ck + C, T(0));
                T sum = 0;
                for (int64_t p = 0; p < L; ++p) {
                    const T a = A[static_cast<size_t>(k * L + p)];
                    sum += a;
                    for (int64_t ch = 0; ch < C; ++ch) ck[ch] += a * xw[p * C + ch];
                }
                const T den = std::max(sum, T(1e-16));
                for (int64_t ch = 0; ch < C; ++ch) ck[ch] /= den;
            }
        }
    }
}

template <class T>
void token_clustering_forward(T* out, const T* x, int64_t N, int64_t S, int64_t C, int64_t g, int64_t n_iters,
                              double temperature, int64_t r, backend::cpu) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    const int64_t L = S * S, K = g * g;
    const T tau = static_cast<T>(temperature);
    const detail::ClusterMask mask(S, g, r);
#pragma omp parallel
    {
        Mat A(K, L), Cn(K, C);
        Vec xn(L), cn(K);
#pragma omp for schedule(static)
        for (int64_t n = 0; n < N; ++n) {
            Eigen::Map<const Mat> X(x + n * L * C, L, C);
            Eigen::Map<Mat> Cm(out + n * K * C, K, C);
            detail::cluster_init_centres(Cm.data(), X.data(), S, C, g);
            xn = X.rowwise().squaredNorm();
            for (int64_t it = 0; it < n_iters; ++it) {
                cn = Cm.rowwise().squaredNorm();
                gemm_fp32(A, Cm, X.transpose());  // einsum("bcm, bcn -> bmn", f2, f1)
                for (int64_t k = 0; k < K; ++k)
                    for (int64_t p = 0; p < L; ++p) A(k, p) = -((xn(p) + cn(k)) - 2 * A(k, p)) * tau;
                for (int64_t p = 0; p < L; ++p) detail::cluster_softmax_column(A.data(), K, L, p, mask);
                gemm_fp32(Cn, A, X);
                for (int64_t k = 0; k < K; ++k) Cm.row(k) = Cn.row(k) / std::max(A.row(k).sum(), T(1e-16));
            }
        }
    }
}

// ---------------------------------------------------------------- reconstruction

template <class T>
void token_reconstruction_forward_naive(T* out, const T* x, const T* feat, const T* sfeat, int64_t N, int64_t L,
                                        int64_t K, int64_t C, int64_t k, double temperature) {
    const T tau = static_cast<T>(temperature);
    std::vector<T> w(static_cast<size_t>(K)), sn(static_cast<size_t>(K)), scratch;
    for (int64_t n = 0; n < N; ++n) {
        const T* F = feat + n * L * C;
        const T* Sf = sfeat + n * K * C;
        const T* X = x + n * K * C;
        for (int64_t m = 0; m < K; ++m) {
            T s = 0;
            for (int64_t ch = 0; ch < C; ++ch) s += Sf[m * C + ch] * Sf[m * C + ch];
            sn[static_cast<size_t>(m)] = s;
        }
        for (int64_t p = 0; p < L; ++p) {
            T fn = 0;
            for (int64_t ch = 0; ch < C; ++ch) fn += F[p * C + ch] * F[p * C + ch];
            for (int64_t m = 0; m < K; ++m) {
                T dot = 0;
                for (int64_t ch = 0; ch < C; ++ch) dot += F[p * C + ch] * Sf[m * C + ch];
                w[static_cast<size_t>(m)] = (fn + sn[static_cast<size_t>(m)]) - 2 * dot;  // ds
            }
            detail::reconstruction_weights_row(w.data(), K, k, tau, scratch);
            T* o = out + (n * L + p) * C;
            std::fill(o, o + C, T(0));
            for (int64_t m = 0; m < K; ++m)  // einsum("bnm, bmc -> bnc", attention, x)
                for (int64_t ch = 0; ch < C; ++ch) o[ch] += w[static_cast<size_t>(m)] * X[m * C + ch];
        }
    }
}

template <class T>
void token_reconstruction_forward(T* out, const T* x, const T* feat, const T* sfeat, int64_t N, int64_t L, int64_t K,
                                  int64_t C, int64_t k, double temperature, backend::cpu) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    const T tau = static_cast<T>(temperature);
#pragma omp parallel
    {
        Mat W(L, K);
        Vec fn(L), sn(K);
        std::vector<T> scratch;
#pragma omp for schedule(static)
        for (int64_t n = 0; n < N; ++n) {
            Eigen::Map<const Mat> F(feat + n * L * C, L, C), Sf(sfeat + n * K * C, K, C), X(x + n * K * C, K, C);
            Eigen::Map<Mat> O(out + n * L * C, L, C);
            fn = F.rowwise().squaredNorm();
            sn = Sf.rowwise().squaredNorm();
            gemm_fp32(W, F, Sf.transpose());  // einsum("bnc, bmc -> bnm", feat, sfeat)
            for (int64_t p = 0; p < L; ++p) {
                for (int64_t m = 0; m < K; ++m) W(p, m) = (fn(p) + sn(m)) - 2 * W(p, m);
                detail::reconstruction_weights_row(W.data() + p * K, K, k, tau, scratch);
            }
            gemm_fp32(O, W, X);
        }
    }
}

}  // namespace evsam
