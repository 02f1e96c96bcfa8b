// A fixed pool of worker threads for data-parallel loops inside one forward
// pass. The calling thread takes part, so a pool of n threads has n-1 workers.
//
// A decode step runs about a hundred short parallel loops, so the hand-off
// must be cheap: workers spin briefly on an atomic generation counter before
// they sleep on a condition variable, and the caller spins on a counter of
// unfinished workers. Spinning is bounded (about 100 µs) so an idle pool
// costs no CPU.
//
// Not reentrant: one run_on_all/parallel_for at a time per pool (the engine
// thread owns it).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace moelab {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(thread_index) once on each of the pool's threads and waits for all.
  void run_on_all(const std::function<void(int)>& fn);

  // Splits [0, n) into contiguous chunks, one per thread, and calls
  // fn(begin, end, thread_index) for each non-empty chunk.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

  // parallel_for when the loop touches at least kMinParallelWork values in
  // all (`work`), else fn(0, n, 0) on the calling thread: waking the pool
  // costs microseconds, more than a decode step's small loops (quantizing
  // a handful of rows) take.
  static constexpr int64_t kMinParallelWork = int64_t{1} << 15;
  void parallel_for_if_large(int64_t n, int64_t work,
                             const std::function<void(int64_t, int64_t, int)>& fn);

  // Splits [0, n) into one contiguous range per thread, which the thread
  // walks front to back, an eighth of what is left per call of fn but at
  // least `step` indices; a thread whose range is done takes the back half
  // of the largest range left. So each thread reads one sequential run, as
  // with a static split (a decode matmul's prefetches run on across calls,
  // where every new run costs a stream start), yet work still moves off a
  // core that runs slower, as one of a shared machine often does. fn may
  // run several times on one thread, on ranges in no set order.
  void parallel_for_stealing(int64_t n, int64_t step,
                             const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  void worker_loop(int index);

  // One thread's remaining range of parallel_for_stealing: begin << 32 | end,
  // on a line of its own.
  struct alignas(64) Range {
    std::atomic<uint64_t> bounds{0};
  };

  int n_threads_;
  std::vector<std::thread> workers_;
  std::unique_ptr<Range[]> ranges_;
  std::mutex mu_;
  std::condition_variable start_cv_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

// Physical cores of this machine (the default thread count).
int physical_core_count();

}  // namespace moelab
