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

TEST(ThreadPool, StealingVisitsEveryIndexOnceInShrinkingRuns) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t step : {0, 1, 2, 5}) {
      for (int64_t n : {0, 1, 2, 3, 7, 100, 1001, 8080}) {
        std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
        std::atomic<int64_t> calls{0};
        pool.parallel_for_stealing(n, step, [&](int64_t b, int64_t e, int t) {
          EXPECT_GE(t, 0);
          EXPECT_LT(t, threads);
          EXPECT_LT(b, e);
          calls.fetch_add(1);
          for (int64_t i = b; i < e; ++i) seen[i].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen[i].load(), 1) << "n=" << n << " i=" << i;
        // An eighth of the rest per call, not one index at a time: about
        // 8·ln(n / (8·threads)) + 8 calls per thread, plus the steals.
        if (threads > 1 && n == 8080 && step == 1) {
          EXPECT_LT(calls.load(), 1000);
        }
      }
    }
  }
}

TEST(ThreadPool, StealingMovesWorkOffABlockedThread) {
  // Thread 1 holds its first run until every other index is done, which
  // only stealing (thread 0 taking over the rest of thread 1's range) allows.
  ThreadPool pool(2);
  constexpr int64_t n = 1000;
  std::atomic<int64_t> done{0};
  std::atomic<bool> timed_out{false};
  pool.parallel_for_stealing(n, 1, [&](int64_t b, int64_t e, int t) {
    if (t == 1) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (done.load() < n - (e - b)) {
        if (std::chrono::steady_clock::now() > deadline) {
          timed_out = true;
          break;
        }
        std::this_thread::yield();
      }
    }
    done.fetch_add(e - b);
  });
  EXPECT_FALSE(timed_out.load()) << "thread 0 never took over thread 1's range";
  EXPECT_EQ(done.load(), n);
}

TEST(ThreadPool, IfLargeRunsSmallLoopsOnTheCaller) {
  ThreadPool pool(2);
  constexpr int64_t kMin = ThreadPool::kMinParallelWork;
  for (int64_t work : {int64_t{0}, kMin - 1, kMin}) {
    std::vector<std::atomic<int>> seen(100);
    std::atomic<int> calls{0};
    std::atomic<bool> off_caller{false};
    const std::thread::id caller = std::this_thread::get_id();
    pool.parallel_for_if_large(100, work, [&](int64_t b, int64_t e, int) {
      calls.fetch_add(1);
      if (std::this_thread::get_id() != caller) off_caller = true;
      for (int64_t i = b; i < e; ++i) seen[i].fetch_add(1);
    });
    for (auto& v : seen) EXPECT_EQ(v.load(), 1) << "work=" << work;
    if (work < kMin) {
      EXPECT_EQ(calls.load(), 1) << "work=" << work;
      EXPECT_FALSE(off_caller.load()) << "work=" << work;
    } else {
      EXPECT_EQ(calls.load(), 2) << "one range per thread";
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
