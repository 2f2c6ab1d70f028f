// HostBlockCache (core/tensor.hpp): size classes, reuse of a freed block, its limit, many threads.
#include <gtest/gtest.h>

#include <evsam/core/tensor.hpp>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>
#if defined(__unix__) || defined(__APPLE__)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#endif

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_host_block_cache {

using evsam::HostBlockCache;

// The test's own limit, put back after it (the cache is the process's).
struct LimitScope {
    size_t saved = HostBlockCache::instance().limit();
    explicit LimitScope(size_t bytes) {
        HostBlockCache::instance().release();
        HostBlockCache::instance().set_limit(bytes);
    }
    ~LimitScope() { HostBlockCache::instance().set_limit(saved); }
};

TEST(HostBlockCache, SizeClassesRoundUpByAtMostAnEighth) {
    EXPECT_EQ(HostBlockCache::size_class(0), 0u);
    EXPECT_EQ(HostBlockCache::size_class(HostBlockCache::kMinBytes - 1), HostBlockCache::kMinBytes - 1);
    EXPECT_EQ(HostBlockCache::size_class(HostBlockCache::kMinBytes), HostBlockCache::kMinBytes);
    EXPECT_EQ(HostBlockCache::size_class(300 << 10), size_t{320} << 10);  // 256 KiB .. 512 KiB: steps of 32 KiB
    EXPECT_EQ(HostBlockCache::size_class(320 << 10), size_t{320} << 10);
    EXPECT_EQ(HostBlockCache::size_class((320 << 10) + 1), size_t{352} << 10);
    size_t prev = 0;
    for (size_t b = HostBlockCache::kMinBytes; b < (size_t{64} << 20); b += b / 7 + 4093) {
        const size_t c = HostBlockCache::size_class(b);
        EXPECT_GE(c, b);
        EXPECT_LE(c, b + b / 8) << b;
        EXPECT_EQ(c % 2048, 0u) << b;                      // steps of 2 KiB or more
        EXPECT_EQ(HostBlockCache::size_class(c), c) << b;  // a class is its own class
        EXPECT_GE(c, prev);
        prev = c;
    }
    EXPECT_EQ(HostBlockCache::size_class(SIZE_MAX), SIZE_MAX);  // no rounding past the top
}

TEST(HostBlockCache, AFreedBlockServesTheNextRequestOfItsClass) {
    LimitScope limit(size_t{64} << 20);
    auto& c = HostBlockCache::instance();
    void* p = c.allocate(300 << 10);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % HostBlockCache::kAlign, 0u);
    std::memset(p, 1, 320 << 10);  // the whole class is the caller's
    c.deallocate(p, 300 << 10);
    EXPECT_EQ(c.cached_bytes(), size_t{320} << 10);
    void* r = c.allocate(400 << 10);  // another class: a new block
    EXPECT_NE(r, p);
    void* q = c.allocate(310 << 10);  // the same class: the kept block
    EXPECT_EQ(q, p);
    EXPECT_EQ(c.cached_bytes(), 0u);
    c.deallocate(q, 310 << 10);
    c.deallocate(r, 400 << 10);
    EXPECT_EQ(c.cached_bytes(), (size_t{320} << 10) + (size_t{416} << 10));
    c.release();
    EXPECT_EQ(c.cached_bytes(), 0u);
    void* s = c.allocate(1000);  // below kMinBytes: the C library's, never kept
    c.deallocate(s, 1000);
    EXPECT_EQ(c.cached_bytes(), 0u);
}

TEST(HostBlockCache, KeepsNoMoreThanItsLimit) {
    LimitScope limit(size_t{1} << 20);
    auto& c = HostBlockCache::instance();
    std::vector<void*> blocks;
    for (int i = 0; i < 5; ++i) blocks.push_back(c.allocate(320 << 10));
    for (void* p : blocks) c.deallocate(p, 320 << 10);
    EXPECT_EQ(c.cached_bytes(), size_t{960} << 10);  // three fit under 1 MiB, two were freed
    c.set_limit(size_t{512} << 10);                  // lower than what it holds: all given back
    EXPECT_EQ(c.cached_bytes(), 0u);
    c.set_limit(0);
    void* p = c.allocate(320 << 10);
    c.deallocate(p, 320 << 10);
    EXPECT_EQ(c.cached_bytes(), 0u);
}

// Threads allocating and freeing at once never share a block: each writes its own mark over its
// block and finds it whole before freeing it.
TEST(HostBlockCache, ThreadsNeverShareABlock) {
    LimitScope limit(size_t{256} << 20);
    std::vector<std::thread> threads;
    std::vector<int> bad(4, 0);
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([t, &bad] {
            std::mt19937 g(static_cast<unsigned>(t));
            std::uniform_int_distribution<size_t> size(HostBlockCache::kMinBytes, size_t{2} << 20);
            std::vector<std::pair<unsigned char*, size_t>> held;
            for (int i = 0; i < 400; ++i) {
                const size_t n = size(g);
                auto* p = static_cast<unsigned char*>(HostBlockCache::instance().allocate(n));
                const unsigned char mark = static_cast<unsigned char>(t * 50 + i % 50);
                std::memset(p, mark, n);
                held.emplace_back(p, n);
                if (held.size() > 3 || i == 399)
                    while (!held.empty()) {
                        auto [q, m] = held.back();
                        held.pop_back();
                        for (size_t k = 0; k < m; k += 4096) bad[static_cast<size_t>(t)] += q[k] != q[0];
                        bad[static_cast<size_t>(t)] += q[m - 1] != q[0];
                        HostBlockCache::instance().deallocate(q, m);
                    }
            }
        });
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(bad[static_cast<size_t>(t)], 0) << "thread " << t;
    EXPECT_LE(HostBlockCache::instance().cached_bytes(), size_t{256} << 20);
}

#if defined(__unix__) || defined(__APPLE__)
// A process that forks while another thread is inside the cache (Python's multiprocessing, a
// DataLoader's workers): the child, which has only the forking thread, can still allocate. Without
// the cache's fork handlers the child finds the lock held by a thread it does not have, and hangs
// (the alarm ends it, and the test fails).
TEST(HostBlockCache, AForkedChildCanAllocateWhileAnotherThreadHeldTheLock) {
    LimitScope limit(size_t{64} << 20);
    std::atomic<bool> stop{false};
    std::thread busy([&stop] {  // in and out of the cache's lock as often as it can
        while (!stop.load(std::memory_order_relaxed)) {
            void* p = HostBlockCache::instance().allocate(HostBlockCache::kMinBytes);
            HostBlockCache::instance().deallocate(p, HostBlockCache::kMinBytes);
        }
    });
    int hung = 0, failed = 0;  // (no ASSERT before the join: leaving `busy` joinable would abort the suite)
    for (int i = 0; i < 200 && !hung && !failed; ++i) {
        const pid_t pid = fork();
        if (pid < 0) {
            ADD_FAILURE() << "fork failed";
            break;
        }
        if (pid == 0) {
            alarm(5);  // a child stuck on the lock is killed by SIGALRM
            void* p = HostBlockCache::instance().allocate(HostBlockCache::kMinBytes);
            HostBlockCache::instance().deallocate(p, HostBlockCache::kMinBytes);
            _exit(0);
        }
        int status = 0;
        if (waitpid(pid, &status, 0) != pid)
            ++failed;
        else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
            ++hung;
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            ++failed;
    }
    stop = true;
    busy.join();
    EXPECT_EQ(hung, 0) << "a forked child hung on the cache's lock";
    EXPECT_EQ(failed, 0);
}
#endif

// Tensors and the kernels' scratch go through it.
TEST(HostBlockCache, TensorStorageIsKept) {
    LimitScope limit(size_t{64} << 20);
    const float* first;
    {
        evsam::Tensor<float> t(evsam::Shape{1, 64, 32, 32});  // 256 KiB
        first = t.data();
    }
    EXPECT_EQ(HostBlockCache::instance().cached_bytes(), size_t{256} << 10);
    HostBlockCache::instance().fill_cached(0xFF);  // NaN in every float of the kept block
    evsam::Tensor<float> u(evsam::Shape{1, 64, 32, 32});
    EXPECT_EQ(u.data(), first);
    int64_t nonzero = 0;  // zero-filled as asked, whatever the block held
    for (int64_t i = 0; i < u.numel(); ++i) nonzero += u[i] != 0.0f;
    EXPECT_EQ(nonzero, 0);
}

}  // namespace test_host_block_cache
