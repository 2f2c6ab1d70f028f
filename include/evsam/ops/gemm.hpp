// evsam: the matrix product every CPU op computes with, Y = A B, with the reduction over the depth K
// cut into fixed chunks of kGemmDepthChunk (blocked summation).
//
// A single running sum per output over a deep product (a 1x1 conv over 512 channels, attention over
// 4096 keys) has a rounding error that grows with K. Accumulating each chunk of 64 from zero and
// adding the chunk sums makes it grow with 64 + K / 64 instead. Measured against fp64 on a
// (64 x 512) x (512 x 16384) product (a 1x1 conv of stage 1 of L0): relative L2 4.1e-7 with one
// running sum, 1.6e-7 in chunks of 64 (PyTorch's oneDNN conv: 1.9e-7).
//
// gemm() runs float products on evsam's own kernels (ops/gemm_kernels.hpp: AVX-512, AVX2 or
// portable, chosen at run time; bf16 under the `fast` precision) and double products (the fp64
// oracle) on Eigen. gemm_reference() is the same chunked product on Eigen's GEMM, the reference the
// kernels are tested against. The chunks are fixed, so no result depends on the thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "evsam/backend/cpu_precision.hpp"
#include "evsam/core/error.hpp"
#include "evsam/ops/gemm_kernels.hpp"
#include "evsam/ops/simd.hpp"  // Eigen, with the intrinsics

namespace evsam {

// Y = A B (accumulate: Y += A B) on Eigen, in chunks of kGemmDepthChunk: the reference.
template <class Dst, class Lhs, class Rhs>
void gemm_reference(Dst&& Y, const Lhs& A, const Rhs& B, bool accumulate = false) {
    const Eigen::Index K = A.cols(), C = static_cast<Eigen::Index>(kGemmDepthChunk);
    if (K == 0) {
        if (!accumulate) Y.setZero();
        return;
    }
    for (Eigen::Index k0 = 0; k0 < K; k0 += C) {
        const Eigen::Index kc = std::min(C, K - k0);
        if (k0 == 0 && !accumulate)
            Y.noalias() = A.middleCols(k0, kc) * B.middleRows(k0, kc);
        else
            Y.noalias() += A.middleCols(k0, kc) * B.middleRows(k0, kc);
    }
}

namespace detail {
template <class X>
inline constexpr bool direct_access_v = (Eigen::internal::traits<std::remove_cv_t<std::remove_reference_t<X>>>::Flags &
                                         Eigen::DirectAccessBit) != 0;
}

// Y = A B (accumulate: Y += A B), A (M x K), B (K x N), Y (M x N): Eigen matrices, maps, blocks or
// their transposes; float products on `kind`'s kernel.
template <class Dst, class Lhs, class Rhs>
void gemm_on(gemm_kernel::Kind kind, Dst&& Y, const Lhs& A, const Rhs& B, bool accumulate = false) {
    using Scalar = typename std::remove_reference_t<Dst>::Scalar;
    if constexpr (std::is_same_v<Scalar, float> && detail::direct_access_v<Dst> && detail::direct_access_v<Lhs> &&
                  detail::direct_access_v<Rhs>) {
        using gemm_kernel::Operand;
        const int64_t M = Y.rows(), N = Y.cols(), K = A.cols();
        Operand a{A.data(), A.rowStride(), A.colStride()}, b{B.data(), B.rowStride(), B.colStride()};
        float* y = Y.data();
        int64_t ldy;
        int64_t m = M, n = N;
        if (Y.colStride() == 1 || N == 1) {
            ldy = Y.rowStride();
        } else if (Y.rowStride() == 1 || M == 1) {  // a column-major result: Y^T = B^T A^T
            ldy = Y.colStride();
            std::swap(m, n);
            const Operand at{a.p, a.cs, a.rs};
            a = {b.p, b.cs, b.rs};
            b = at;
        } else {
            return gemm_reference(Y, A, B, accumulate);
        }
        gemm_kernel::gemm(kind, m, n, K, a, b, y, ldy, accumulate);
    } else {
        gemm_reference(Y, A, B, accumulate);
    }
}

// ... under the precision in force (fp32, or bf16 operands under `fast`)
template <class Dst, class Lhs, class Rhs>
void gemm(Dst&& Y, const Lhs& A, const Rhs& B, bool accumulate = false) {
    gemm_on(gemm_kernel::current_kind(), std::forward<Dst>(Y), A, B, accumulate);
}

// ... always in fp32, whatever the precision: for the products whose results are thresholded or
// compared (Expedit's token clustering: soft k-means distances, top-k weights), where bf16
// operands would move the decisions themselves.
template <class Dst, class Lhs, class Rhs>
void gemm_fp32(Dst&& Y, const Lhs& A, const Rhs& B, bool accumulate = false) {
    gemm_on(gemm_kernel::kind_for(cpu_best_isa()), std::forward<Dst>(Y), A, B, accumulate);
}

// The left operand of many products (a layer's weights over the column blocks of an image), packed
// once for the precision in force when it is made. A double operand is kept as it is (Eigen).
template <class T>
class GemmLhs {
public:
    // element (i, k) at p[i * rs + k * cs], M x K
    GemmLhs(const T* p, int64_t M, int64_t K, int64_t rs, int64_t cs) : p_(p), M_(M), K_(K), rs_(rs), cs_(cs) {
        if constexpr (std::is_same_v<T, float>)
            packed_ = gemm_kernel::PackedLhs(gemm_kernel::current_kind(), {p, rs, cs}, M, K);
    }
    int64_t rows() const { return M_; }
    gemm_kernel::Kind kind() const { return packed_.kind(); }
    // Y = A B (accumulate: Y += A B)
    template <class Dst, class Rhs>
    void product(Dst&& Y, const Rhs& B, bool accumulate = false) const {
        product_rows(0, Y, B, accumulate);
    }
    // Y = A[i0 : i0 + Y.rows()] B, i0 a multiple of row_align(); then the epilogue ep (float, Y
    // with unit column stride), given A's rows, on each tile as it is written
    template <class Dst, class Rhs>
    void product_rows(int64_t i0, Dst&& Y, const Rhs& B, bool accumulate = false,
                      const gemm_kernel::Epilogue& ep = {}) const {
        if constexpr (std::is_same_v<T, float> && detail::direct_access_v<Rhs> && detail::direct_access_v<Dst>) {
            if (Y.colStride() == 1 || Y.cols() == 1)
                return packed_.product_rows(i0, Y.rows(), {B.data(), B.rowStride(), B.colStride()}, Y.cols(), Y.data(),
                                            Y.rowStride(), accumulate, ep);
        }
        if (ep.f) throw std::logic_error("GemmLhs: an epilogue needs a float product with direct access");
        if (!p_) throw Error("GemmLhs: the source was dropped; only direct-access products are left");
        using Stride = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
        using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        gemm(Y, Eigen::Map<const Mat, 0, Stride>(p_ + i0 * rs_, Y.rows(), K_, Stride(rs_, cs_)), B, accumulate);
    }
    // Y = A[i0 : i0 + Y.rows()] B for a right operand packed once for this kernel (float only):
    // several row tiles, on several threads, share one pack of B.
    template <class Dst>
    void product_rows(int64_t i0, Dst&& Y, const gemm_kernel::PackedRhs& B, bool accumulate = false,
                      const gemm_kernel::Epilogue& ep = {}) const {
        static_assert(std::is_same_v<T, float>, "a packed right operand is float");
        packed_.product_rows(i0, Y.rows(), B, Y.data(), Y.rowStride(), accumulate, ep);
    }
    int64_t row_align() const { return packed_.row_align(); }
    // float: the pack is all the products need (on direct-access operands), so the source may go
    bool holds_pack() const { return std::is_same_v<T, float>; }
    void drop_source() {
        if (holds_pack()) p_ = nullptr;
    }

private:
    const T* p_;
    int64_t M_, K_, rs_, cs_;
    gemm_kernel::PackedLhs packed_;
};

}  // namespace evsam
