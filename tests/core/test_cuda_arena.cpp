// The CUDA backend's activation arena (evsam/backend/cuda/arena.hpp) is host logic: tested here
// on host memory, in every build, GPU or not.
#include <gtest/gtest.h>

#include <cstdlib>
#include <evsam/backend/cuda/arena.hpp>
#include <set>

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_cuda_arena {

namespace {

struct CountingMalloc {
    int* allocs;
    int* releases;
    size_t limit = SIZE_MAX;  // total bytes the fake device holds
    size_t* held;
    void* allocate(size_t n) {
        if (*held + n > limit) return nullptr;
        ++*allocs;
        *held += n;
        void* p = std::malloc(n + sizeof(size_t));
        *static_cast<size_t*>(p) = n;
        return static_cast<char*>(p) + sizeof(size_t);
    }
    void release(void* p) {
        ++*releases;
        char* base = static_cast<char*>(p) - sizeof(size_t);
        *held -= *reinterpret_cast<size_t*>(base);
        std::free(base);
    }
};

struct ArenaTest : ::testing::Test {
    int allocs = 0, releases = 0;
    size_t held = 0;
    CountingMalloc raw() { return {&allocs, &releases, SIZE_MAX, &held}; }
};

TEST_F(ArenaTest, RoundsSizes) {
    using A = evsam::cuda::CachingArena<CountingMalloc>;
    EXPECT_EQ(A::round_size(0), 512u);
    EXPECT_EQ(A::round_size(1), 512u);
    EXPECT_EQ(A::round_size(513), 1024u);
    EXPECT_EQ(A::round_size((1u << 20) + 1), 2u << 20);
}

TEST_F(ArenaTest, ReusesFreedBlocksInsteadOfAllocating) {
    {
        evsam::cuda::CachingArena<CountingMalloc> arena(raw());
        for (int pass = 0; pass < 3; ++pass) {  // the same "layers" every pass
            void* a = arena.allocate(3000);
            void* b = arena.allocate(1 << 21);
            arena.deallocate(a);
            void* c = arena.allocate(2900);  // fits a's block
            EXPECT_EQ(c, a);
            arena.deallocate(b);
            arena.deallocate(c);
        }
        EXPECT_EQ(allocs, 2);  // the first pass only
        EXPECT_EQ(arena.in_use_bytes(), 0u);
        EXPECT_EQ(arena.reserved_bytes(), 3072u + (2u << 20));
        EXPECT_GE(arena.peak_in_use_bytes(), 3072u + (2u << 20));
        EXPECT_EQ(arena.reuses(), 7u);  // 1 in the first pass, 3 in each later one
    }
    EXPECT_EQ(releases, allocs);  // everything back to the device on destruction
    EXPECT_EQ(held, 0u);
}

TEST_F(ArenaTest, DoesNotHandOutBlocksTwiceOrWasteMoreThanHalf) {
    evsam::cuda::CachingArena<CountingMalloc> arena(raw());
    void* big = arena.allocate(1 << 22);
    arena.deallocate(big);
    void* small = arena.allocate(1000);  // a 4 MiB block would waste more than half: new block
    EXPECT_NE(small, big);
    std::set<void*> live;
    for (int i = 0; i < 8; ++i) EXPECT_TRUE(live.insert(arena.allocate(4096)).second);
    arena.deallocate(small);
    arena.deallocate(nullptr);                          // ignored
    arena.deallocate(reinterpret_cast<void*>(0x1234));  // not ours: ignored
    for (void* p : live) arena.deallocate(p);
    EXPECT_EQ(arena.in_use_bytes(), 0u);
}

TEST_F(ArenaTest, FullDeviceReleasesTheCacheThenFailsWithOneLine) {
    CountingMalloc r = raw();
    r.limit = 3u << 20;
    evsam::cuda::CachingArena<CountingMalloc> arena(r);
    void* a = arena.allocate(2u << 20);
    arena.deallocate(a);                 // cached, still held
    void* b = arena.allocate(3u << 20);  // only fits once the cached block is released
    EXPECT_NE(b, nullptr);
    EXPECT_EQ(arena.free_blocks(), 0u);
    try {
        arena.allocate(1u << 20);
        FAIL() << "allocation beyond the device did not throw";
    } catch (const evsam::Error& e) {
        EXPECT_NE(std::string(e.what()).find("device out of memory"), std::string::npos) << e.what();
    }
    arena.deallocate(b);
    arena.release_free();
    EXPECT_EQ(held, 0u);
}

}  // namespace

}  // namespace test_cuda_arena
