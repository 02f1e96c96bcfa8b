// The thread pool: every index is visited exactly once, every thread runs
// run_on_all's job, and thousands of back-to-back loops (the hand-off a
// decode step makes) neither lose nor repeat work.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "base/thread_pool.h"

namespace moelab {
namespace {

TEST(ThreadPool, ParallelForVisitsEveryIndexOnce) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 3, 7, 100, 1001}) {
      std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
      pool.parallel_for(n, [&](int64_t b, int64_t e, int t) {
        EXPECT_GE(t, 0);
        EXPECT_LT(t, threads);
        for (int64_t i = b; i < e; ++i) seen[i].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen[i].load(), 1) << "n=" << n << " i=" << i;
    }
  }
}

TEST(ThreadPool, GuidedVisitsEveryIndexOnceInShrinkingChunks) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t min_chunk : {0, 1, 2, 5}) {
      for (int64_t n : {0, 1, 2, 3, 7, 100, 1001, 8080}) {
        std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
        std::atomic<int64_t> calls{0};
        pool.parallel_for_guided(n, min_chunk, [&](int64_t b, int64_t e, int t) {
          EXPECT_GE(t, 0);
          EXPECT_LT(t, threads);
          EXPECT_LT(b, e);
          // Only the range's tail may be shorter than min_chunk.
          if (e < n) {
            EXPECT_GE(e - b, min_chunk);
          }
          calls.fetch_add(1);
          for (int64_t i = b; i < e; ++i) seen[i].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen[i].load(), 1) << "n=" << n << " i=" << i;
        // Guided, not one index at a time: about 2·threads·ln(n / min) claims.
        if (threads > 1 && n == 8080 && min_chunk == 1) {
          EXPECT_LT(calls.load(), 200);
        }
      }
    }
  }
}

TEST(ThreadPool, RunOnAllRunsOnEveryThread) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(3);
  pool.run_on_all([&](int t) { hits[t].fetch_add(1); });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST(ThreadPool, ManyBackToBackLoopsAndSleepingWorkers) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  for (int round = 0; round < 5000; ++round) {
    pool.parallel_for(10, [&](int64_t b, int64_t e, int) { total.fetch_add(e - b); });
    if (round % 1000 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // workers go to sleep
  }
  EXPECT_EQ(total.load(), 50000);
}

}  // namespace
}  // namespace moelab
