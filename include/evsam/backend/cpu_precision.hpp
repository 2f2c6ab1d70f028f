// evsam: what this CPU can run (checked at run time: the headers may be built without -march), and
// the precision policy (Precision: strict or fast) the CPU GEMMs follow.
//
//   strict (default): fp32, the reference: every GEMM in fp32, accumulated in fixed depth chunks;
//   fast            : every GEMM and convolution GEMM rounds its operands to bfloat16 and accumulates
//                     in fp32 (AMX tiles where the CPU has them, else AVX512_BF16's VDPBF16PS);
//                     LayerNorm, softmax, the linear-attention normaliser, depthwise convolutions and
//                     the residual sums stay fp32. Held to its own entry of the tolerance table
//                     (kMaxRelL2CpuFastEmbedding, kMinMaskIoUCpuFast).
// `fast` needs AVX512_BF16 (AMD Zen 4 and later, Intel Cooper Lake, Sapphire Rapids and later): on a CPU
// without it set_cpu_precision refuses with an Error (no emulation: it would be slower than strict).
//
// The policy is process-wide (the ops read it on every GEMM, from any thread); CpuPrecisionScope sets
// it for a scope and puts the previous one back.
#pragma once
#include <atomic>
#include <cstdlib>
#include <string>

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "evsam/core/error.hpp"

namespace evsam {

enum class CpuIsa { portable, avx2, avx512 };

inline const char* cpu_isa_name(CpuIsa i) {
    return i == CpuIsa::avx512 ? "avx512" : i == CpuIsa::avx2 ? "avx2" : "portable";
}

// The widest fp32 GEMM kernel this CPU runs.
inline CpuIsa cpu_best_isa() {
#if defined(__x86_64__) && defined(__GNUC__)
    static const CpuIsa isa = [] {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) return CpuIsa::avx512;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CpuIsa::avx2;
        return CpuIsa::portable;
    }();
    return isa;
#else
    return CpuIsa::portable;
#endif
}

// EVSAM_BF16=0 in the environment hides AVX512_BF16 (and so AMX) from the process: a CPU that has
// them then runs as one without (fast refused, the bf16 tests skipped), as on CI's machines.
inline bool cpu_has_avx512_bf16() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    static const bool has = [] {
        const char* e = std::getenv("EVSAM_BF16");
        if (e && std::string(e) == "0") return false;
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512bf16");
    }();
    return has;
#else
    return false;
#endif
}

// AMX-BF16 tiles, usable by this process: the CPU has them (CPUID.7.0:EDX bits 22 and 24), and
// Linux granted the tile data state (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA: asked once,
// for the whole process).
inline bool cpu_has_amx_bf16() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
    static const bool has = [] {
        if (!cpu_has_avx512_bf16()) return false;
        unsigned a = 0, b = 0, c = 0, d = 0;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
        if (!(d & (1u << 22)) || !(d & (1u << 24))) return false;
        constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
        return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
    }();
    return has;
#else
    return false;
#endif
}

namespace detail {
inline std::atomic<bool>& cpu_amx_allowed_state() {
    static std::atomic<bool> allowed{[] {
        const char* e = std::getenv("EVSAM_AMX");
        return !(e && std::string(e) == "0");
    }()};
    return allowed;
}
}  // namespace detail

// Whether `fast` runs on AMX where the CPU has it (default; EVSAM_AMX=0 in the environment starts
// with it off): off, fast runs on AVX512_BF16, so both kernels can be compared on one machine.
inline void set_cpu_amx_allowed(bool allowed) { detail::cpu_amx_allowed_state().store(allowed); }
inline bool cpu_uses_amx() {
    return detail::cpu_amx_allowed_state().load(std::memory_order_relaxed) && cpu_has_amx_bf16();
}

// The policy, one for both backends (cuda::Precision is this type; on CUDA, fast means TF32).
enum class Precision { strict, fast };

inline const char* precision_name(Precision p) { return p == Precision::strict ? "strict" : "fast"; }

inline Precision precision_from_name(const std::string& s) {
    if (s == "strict") return Precision::strict;
    if (s == "fast") return Precision::fast;
    throw Error("unknown --precision '" + s + "' (expected strict or fast)");
}

namespace detail {
inline std::atomic<Precision>& cpu_precision_state() {
    static std::atomic<Precision> p{Precision::strict};
    return p;
}
}  // namespace detail

inline Precision cpu_precision() { return detail::cpu_precision_state().load(std::memory_order_relaxed); }

// Throws when this CPU cannot run p (fast needs AVX512_BF16).
inline void require_cpu_precision(Precision p) {
    if (p == Precision::fast && !cpu_has_avx512_bf16())
        throw Error("precision fast needs a CPU with AVX512_BF16 (this one has none); use strict");
}

inline void set_cpu_precision(Precision p) {
    require_cpu_precision(p);
    detail::cpu_precision_state().store(p, std::memory_order_relaxed);
}

class CpuPrecisionScope {
public:
    explicit CpuPrecisionScope(Precision p) : prev_(cpu_precision()) { set_cpu_precision(p); }
    ~CpuPrecisionScope() { detail::cpu_precision_state().store(prev_, std::memory_order_relaxed); }
    CpuPrecisionScope(const CpuPrecisionScope&) = delete;
    CpuPrecisionScope& operator=(const CpuPrecisionScope&) = delete;

private:
    Precision prev_;
};

}  // namespace evsam
