// evsam: CachingArena, the reusable device arena of the CUDA backend (host-only logic).
//
// Activations come and go once per layer; cudaMalloc/cudaFree per tensor would synchronise the
// device and dominate small layers. Like PyTorch's caching allocator, a freed block goes to a
// free list and is handed out again to the next request it fits, so after the first image the
// device sees no allocation at all. Blocks are only reused in stream order (one stream per
// context), so a block freed by one kernel's output may be written by the next kernel safely.
//
// Raw is the underlying allocator: void* allocate(size_t) (nullptr when out of memory) and
// void release(void*). The CUDA backend passes cudaMalloc/cudaFree; tests pass malloc/free.
#pragma once
#include <algorithm>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "evsam/core/error.hpp"

namespace evsam::cuda {

template <class Raw>
class CachingArena {
public:
    explicit CachingArena(Raw raw = Raw{}) : raw_(std::move(raw)) {}
    CachingArena(const CachingArena&) = delete;
    CachingArena& operator=(const CachingArena&) = delete;
    ~CachingArena() { release_all(); }

    // Requests are rounded up to 512 bytes below 1 MiB and to whole MiB above, so that blocks of
    // nearly equal sizes (the same layer at another batch, say) can be reused.
    static size_t round_size(size_t bytes) {
        constexpr size_t kSmall = 512, kLarge = size_t(1) << 20;
        if (bytes == 0) bytes = 1;
        const size_t q = bytes < kLarge ? kSmall : kLarge;
        return (bytes + q - 1) / q * q;
    }

    // A block of at least `bytes` bytes: the smallest free block that fits without wasting more
    // than half of it, else a new one. When the device is full, the free blocks are returned
    // to it and the request retried once.
    void* allocate(size_t bytes) {
        std::lock_guard<std::mutex> lock(mu_);
        const size_t size = round_size(bytes);
        auto it = free_.lower_bound(size);
        if (it != free_.end() && it->first <= 2 * size) {
            void* p = it->second;
            live_[p] = it->first;
            in_use_ += it->first;
            free_.erase(it);
            peak_ = std::max(peak_, in_use_);
            ++reuses_;
            return p;
        }
        void* p = raw_.allocate(size);
        if (!p) {  // (cudaFree synchronises the device: no queued kernel still uses a released block)
            release_free_locked();
            p = raw_.allocate(size);
        }
        if (!p)
            throw Error("device out of memory allocating " + std::to_string(size) + " bytes (" +
                        std::to_string(in_use_) + " bytes in use)");
        live_[p] = size;
        reserved_ += size;
        in_use_ += size;
        peak_ = std::max(peak_, in_use_);
        return p;
    }

    // Back to the free list (never to the device; see release_free).
    void deallocate(void* p) noexcept {
        if (!p) return;
        std::lock_guard<std::mutex> lock(mu_);
        auto it = live_.find(p);
        if (it == live_.end()) return;  // not ours: ignored rather than corrupting the lists
        in_use_ -= it->second;
        free_.emplace(it->second, p);
        live_.erase(it);
    }

    // Returns every free block to the device (torch.cuda.empty_cache()).
    void release_free() {
        std::lock_guard<std::mutex> lock(mu_);
        release_free_locked();
    }

    size_t reserved_bytes() const {
        std::lock_guard<std::mutex> l(mu_);
        return reserved_;
    }
    size_t in_use_bytes() const {
        std::lock_guard<std::mutex> l(mu_);
        return in_use_;
    }
    size_t peak_in_use_bytes() const {
        std::lock_guard<std::mutex> l(mu_);
        return peak_;
    }
    size_t reuses() const {
        std::lock_guard<std::mutex> l(mu_);
        return reuses_;
    }
    size_t free_blocks() const {
        std::lock_guard<std::mutex> l(mu_);
        return free_.size();
    }

private:
    void release_free_locked() {
        for (auto& [size, p] : free_) {
            raw_.release(p);
            reserved_ -= size;
        }
        free_.clear();
    }
    void release_all() {
        release_free_locked();
        for (auto& [p, size] : live_) raw_.release(p);
        live_.clear();
    }

    Raw raw_;
    mutable std::mutex mu_;
    std::multimap<size_t, void*> free_;       // size -> block
    std::unordered_map<void*, size_t> live_;  // block -> size
    size_t reserved_ = 0, in_use_ = 0, peak_ = 0, reuses_ = 0;
};

}  // namespace evsam::cuda
