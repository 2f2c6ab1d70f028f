// evsam: Tensor<T>, a dense row-major (NCHW for images) host tensor.
//
// Shapes follow PyTorch: a conv weight is (C_out, C_in/groups, kH, kW), an
// activation is (N, C, H, W), a Linear weight is (out_features, in_features).
// Storage is 64-byte aligned so SIMD kernels can use aligned loads.
// T is float or double (the double build is the fp64 oracle); integer tensors
// (uint8 images, int64 labels) use the same class.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <sstream>
#include <string>
#include <utility>
#include <vector>
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

#include "evsam/core/error.hpp"

namespace evsam {

using Shape = std::vector<int64_t>;

inline std::string shape_str(const Shape& s) {
    std::ostringstream o;
    o << '(';
    for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
    if (s.size() == 1) o << ',';
    o << ')';
    return o.str();
}

// Product of the dims; throws on a negative dim or an int64 overflow.
inline int64_t shape_numel(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) {
        EVSAM_CHECK(d >= 0, "negative dimension in shape " + shape_str(s));
        if (d != 0 && n > INT64_MAX / d) throw Error("shape " + shape_str(s) + " is too large");
        n *= d;
    }
    return n;
}

// Large host blocks (tensor storage, kernel scratch) kept for reuse rather than given back to the
// C library. glibc serves a block above its mmap threshold (128 KiB, rising with use up to 32 MiB)
// with a fresh mapping, unmapped on free, and trims free memory at the top of its heap, so every
// forward's large tensors were page-faulted and zeroed by the kernel again, about 1 us a page:
// 3733 faults per L0 fast encode (14.6 MiB) and 13800 per XL0 encode (54 MiB) before this cache,
// none with it (L0 fast 5 % faster, L1 fast 7 %). A block of at least kMinBytes is rounded up to its
// size class (8 classes per doubling: at most 12.5 % more) and, when freed, kept on its class's free
// list while the cache holds no more than its limit; a request takes a kept block of its class,
// else a new one. The limit is EVSAM_HOST_CACHE_MB from the environment (default 1024; 0 keeps
// nothing) or set_limit(); release() gives every kept block back. Thread-safe, and fork-safe as
// malloc is: the forking thread holds the lock across fork() (pthread_atfork), so a child never
// inherits it held by a thread it does not have (Python's multiprocessing, a DataLoader's workers).
// Made once and never destroyed: a thread's scratch may be freed at its exit, after the static
// destructors.
class HostBlockCache {
public:
    static constexpr std::size_t kAlign = 64, kMinBytes = std::size_t{16} << 10;
    static HostBlockCache& instance() {
        static HostBlockCache* c = new HostBlockCache;  // never destroyed (see above)
        return *c;
    }
    // The bytes a block of `bytes` takes: its size class (bytes below kMinBytes: bytes).
    static std::size_t size_class(std::size_t bytes) {
        if (bytes < kMinBytes || bytes > SIZE_MAX / 2) return bytes;  // (no class for a size that large)
        std::size_t top = kMinBytes;
        while (top <= bytes / 2) top *= 2;  // top <= bytes < 2 top
        const std::size_t step = top / 8;
        return (bytes + step - 1) / step * step;
    }
    void* allocate(std::size_t bytes) {
        const std::size_t cls = size_class(bytes);
        if (cls >= kMinBytes) {
            std::lock_guard<std::mutex> lock(m_);
            auto it = free_.find(cls);
            if (it != free_.end()) {
                void* p = it->second;
                free_.erase(it);
                cached_ -= cls;
                return p;
            }
        }
        return ::operator new(cls, std::align_val_t(kAlign));
    }
    void deallocate(void* p, std::size_t bytes) noexcept {
        const std::size_t cls = size_class(bytes);
        if (cls >= kMinBytes) {
            std::lock_guard<std::mutex> lock(m_);
            if (cached_ + cls <= limit_) {
                try {
                    free_.emplace(cls, p);
                    cached_ += cls;
                    return;
                } catch (...) {  // no memory for the list's node: free the block instead
                }
            }
        }
        ::operator delete(p, std::align_val_t(kAlign));
    }
    // Gives every kept block back to the C library.
    void release() {
        std::multimap<std::size_t, void*> all;
        {
            std::lock_guard<std::mutex> lock(m_);
            all.swap(free_);
            cached_ = 0;
        }
        for (auto& [cls, p] : all) ::operator delete(p, std::align_val_t(kAlign));
    }
    // The most it keeps, in bytes (0: nothing); blocks over a lower limit are given back now.
    void set_limit(std::size_t bytes) {
        {
            std::lock_guard<std::mutex> lock(m_);
            limit_ = bytes;
            if (cached_ <= limit_) return;
        }
        release();
    }
    std::size_t limit() {
        std::lock_guard<std::mutex> lock(m_);
        return limit_;
    }
    // Writes `byte` over every kept block: for tests, so that a kernel reading memory it never wrote
    // reads that, not the zeros of a fresh page.
    void fill_cached(unsigned char byte) {
        std::lock_guard<std::mutex> lock(m_);
        for (auto& [cls, p] : free_) std::memset(p, byte, cls);
    }
    std::size_t cached_bytes() {
        std::lock_guard<std::mutex> lock(m_);
        return cached_;
    }

private:
    HostBlockCache() {
        if (const char* e = std::getenv("EVSAM_HOST_CACHE_MB"); e && *e) {
            char* end = nullptr;
            const unsigned long long mb = std::strtoull(e, &end, 10);
            if (end && *end == '\0') limit_ = static_cast<std::size_t>(mb) << 20;
        }
#if defined(__unix__) || defined(__APPLE__)
        pthread_atfork([] { instance().m_.lock(); }, [] { instance().m_.unlock(); }, [] { instance().m_.unlock(); });
#endif
    }
    std::mutex m_;
    std::multimap<std::size_t, void*> free_;  // size class -> kept block
    std::size_t cached_ = 0, limit_ = std::size_t{1024} << 20;
};

// std::allocator with 64-byte alignment, through HostBlockCache.
template <class T>
struct AlignedAllocator {
    using value_type = T;
    static constexpr std::size_t alignment = HostBlockCache::kAlign;
    AlignedAllocator() = default;
    template <class U>
    AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) {
        if (n > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
        return static_cast<T*>(HostBlockCache::instance().allocate(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept { HostBlockCache::instance().deallocate(p, n * sizeof(T)); }
    // Default-initialise (no zeroing) when the vector grows; Tensor zero-fills explicitly unless
    // asked for an uninitialized buffer (kernel outputs that are written in full).
    template <class U>
    void construct(U* p) noexcept {
        ::new (static_cast<void*>(p)) U;
    }
    template <class U, class... A>
    void construct(U* p, A&&... a) {
        ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
    }
    template <class U>
    bool operator==(const AlignedAllocator<U>&) const noexcept {
        return true;
    }
    template <class U>
    bool operator!=(const AlignedAllocator<U>&) const noexcept {
        return false;
    }
};

template <class T>
class Tensor {
public:
    using value_type = T;

    Tensor() = default;
    // Zero-filled.
    explicit Tensor(Shape shape) : Tensor(std::move(shape), uninitialized) {
        std::fill(data_.begin(), data_.end(), T(0));
    }
    // Contents unspecified: for outputs an op writes in full.
    struct Uninitialized {};
    static constexpr Uninitialized uninitialized{};
    Tensor(Shape shape, Uninitialized) : shape_(std::move(shape)), data_(static_cast<size_t>(shape_numel(shape_))) {}
    Tensor(std::initializer_list<int64_t> shape) : Tensor(Shape(shape)) {}
    Tensor(Shape shape, T fill) : Tensor(std::move(shape), uninitialized) {
        std::fill(data_.begin(), data_.end(), fill);
    }

    const Shape& shape() const { return shape_; }
    int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
    // size(i) with Python-style negative indices.
    int64_t size(int64_t i) const {
        if (i < 0) i += dim();
        EVSAM_CHECK(i >= 0 && i < dim(),
                    "Tensor::size: dim " + std::to_string(i) + " out of range for shape " + shape_str(shape_));
        return shape_[static_cast<size_t>(i)];
    }
    int64_t numel() const { return static_cast<int64_t>(data_.size()); }
    bool empty() const { return data_.empty(); }

    T* data() { return data_.data(); }
    const T* data() const { return data_.data(); }
    T* begin() { return data_.data(); }
    T* end() { return data_.data() + data_.size(); }
    const T* begin() const { return data_.data(); }
    const T* end() const { return data_.data() + data_.size(); }
    T& operator[](int64_t i) { return data_[static_cast<size_t>(i)]; }
    const T& operator[](int64_t i) const { return data_[static_cast<size_t>(i)]; }

    // Element access for 4-D (N, C, H, W) tensors.
    T& at(int64_t n, int64_t c, int64_t h, int64_t w) {
        return data_[static_cast<size_t>(((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w)];
    }
    const T& at(int64_t n, int64_t c, int64_t h, int64_t w) const {
        return data_[static_cast<size_t>(((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w)];
    }

    // Same data, new shape with the same numel (like torch.reshape on a contiguous tensor).
    void reshape_(Shape s) {
        EVSAM_CHECK(shape_numel(s) == numel(), "cannot reshape " + shape_str(shape_) + " to " + shape_str(s));
        shape_ = std::move(s);
    }
    // Resizes the buffer (contents unspecified) only when the numel changes.
    void resize_(Shape s) {
        int64_t n = shape_numel(s);
        shape_ = std::move(s);
        if (static_cast<size_t>(n) != data_.size()) data_.resize(static_cast<size_t>(n));
        mirror_.reset();
    }
    void fill_(T v) { std::fill(data_.begin(), data_.end(), v); }

    // A copy of the data in another memory space (a device backend's copy of a weight), opaque here.
    // Set once after loading (evsam::upload_weights); copies of the tensor share it; resize_ drops it.
    // The data must not change while a mirror is attached.
    void set_mirror(std::shared_ptr<const void> m) { mirror_ = std::move(m); }
    const void* mirror() const { return mirror_.get(); }

    template <class U>
    Tensor<U> cast() const {
        Tensor<U> r(shape_);
        for (size_t i = 0; i < data_.size(); ++i) r[static_cast<int64_t>(i)] = static_cast<U>(data_[i]);
        return r;
    }

private:
    Shape shape_;
    std::vector<T, AlignedAllocator<T>> data_;
    std::shared_ptr<const void> mirror_;
};

}  // namespace evsam
