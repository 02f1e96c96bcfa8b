#include "base/thread_pool.h"

#include <algorithm>
#include <atomic>

#include <fstream>
#include <set>
#include <string>
#include <utility>

namespace moelab {

namespace {

constexpr int kSpinIterations = 4000;  // ~100 µs of pause instructions

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(n_threads < 1 ? 1 : n_threads), ranges_(std::make_unique<Range[]>(n_threads_)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    // Spin first: the next loop of a forward pass usually follows within microseconds.
    bool ready = false;
    for (int i = 0; i < kSpinIterations; ++i) {
      if (stop_.load(std::memory_order_relaxed) || generation_.load(std::memory_order_acquire) != seen) {
        ready = true;
        break;
      }
      cpu_relax();
    }
    if (!ready) {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    (*job_)(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run_on_all(const std::function<void(int)>& fn) {
  if (n_threads_ == 1) {
    fn(0);
    return;
  }
  job_ = &fn;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  {
    // Taking the lock orders this wake-up after any worker's predicate check,
    // so a worker about to sleep cannot miss it.
    std::lock_guard<std::mutex> lock(mu_);
  }
  start_cv_.notify_all();
  fn(0);
  for (int i = 0; pending_.load(std::memory_order_acquire) != 0; ++i) {
    if (i < kSpinIterations) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  job_ = nullptr;
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  const int64_t threads = n < n_threads_ ? n : n_threads_;
  if (threads == 1) {
    fn(0, n, 0);
    return;
  }
  run_on_all([&](int t) {
    if (t >= threads) return;
    const int64_t begin = n * t / threads;
    const int64_t end = n * (t + 1) / threads;
    if (begin < end) fn(begin, end, t);
  });
}

void ThreadPool::parallel_for_if_large(int64_t n, int64_t work,
                                       const std::function<void(int64_t, int64_t, int)>& fn) {
  if (work < kMinParallelWork) {
    if (n > 0) fn(0, n, 0);
    return;
  }
  parallel_for(n, fn);
}

void ThreadPool::parallel_for_stealing(int64_t n, int64_t step,
                                       const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  step = std::max<int64_t>(1, step);
  if (n_threads_ == 1 || n <= step) {
    fn(0, n, 0);
    return;
  }
  if (n > int64_t{INT32_MAX}) {  // the bounds do not fit the packed form
    parallel_for(n, fn);
    return;
  }
  auto pack = [](int64_t b, int64_t e) {
    return static_cast<uint64_t>(b) << 32 | static_cast<uint64_t>(e);
  };
  auto begin_of = [](uint64_t v) { return static_cast<int64_t>(v >> 32); };
  auto end_of = [](uint64_t v) { return static_cast<int64_t>(v & 0xFFFFFFFFu); };
  const int64_t threads = n_threads_;
  for (int64_t t = 0; t < threads; ++t) {
    ranges_[t].bounds.store(pack(n * t / threads, n * (t + 1) / threads),
                            std::memory_order_relaxed);
  }
  // Published to the workers by run_on_all's release of the generation.
  run_on_all([&](int t) {
    std::atomic<uint64_t>& mine = ranges_[t].bounds;
    for (;;) {
      uint64_t v = mine.load(std::memory_order_relaxed);
      const int64_t b = begin_of(v), e = end_of(v);
      if (b < e) {
        const int64_t claim_end = b + std::min(e - b, std::max(step, (e - b) / 8));
        if (mine.compare_exchange_weak(v, pack(claim_end, e), std::memory_order_relaxed)) {
          fn(b, claim_end, t);
        }
        continue;
      }
      // Mine is done: take the back half of the largest range left.
      int victim = -1;
      uint64_t seen = 0;
      int64_t most = 0;
      for (int u = 0; u < threads; ++u) {
        const uint64_t x = ranges_[u].bounds.load(std::memory_order_relaxed);
        if (u != t && end_of(x) - begin_of(x) > most) {
          most = end_of(x) - begin_of(x);
          victim = u;
          seen = x;
        }
      }
      if (victim < 0) return;
      const int64_t split = end_of(seen) - (most + 1) / 2;
      if (ranges_[victim].bounds.compare_exchange_weak(seen, pack(begin_of(seen), split),
                                                       std::memory_order_relaxed)) {
        mine.store(pack(split, end_of(seen)), std::memory_order_relaxed);
      }
    }
  });
}

int physical_core_count() {
  // Count distinct (physical id, core id) pairs; fall back to logical CPUs.
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> cores;
  std::string line, phys = "0";
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    const std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "physical id") phys = value;
    if (key == "core id") cores.insert({phys, value});
  }
  if (!cores.empty()) return static_cast<int>(cores.size());
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace moelab
