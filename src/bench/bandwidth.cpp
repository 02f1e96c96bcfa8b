#include "bench/bandwidth.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "base/timer.h"

namespace moelab {
namespace {

// Sums 64-bit words with four independent accumulators so the loop is bound
// by loads, not by the add chain. Returned so the compiler keeps the reads.
uint64_t sum_words(const uint64_t* p, int64_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  for (; i < n; ++i) a += p[i];
  return a + b + c + d;
}

}  // namespace

BandwidthResult measure_read_bandwidth(ThreadPool& pool, int64_t buffer_bytes, int passes) {
  const int64_t words = std::max<int64_t>(1 << 20, buffer_bytes / 8);
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[words]);
  // First touch from the threads that will read, so pages land near them.
  pool.parallel_for(words, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) buffer[i] = static_cast<uint64_t>(i);
  });
  std::vector<uint64_t> sink(pool.size(), 0);
  double best = 0.0;
  for (int pass = 0; pass < std::max(1, passes); ++pass) {
    Timer timer;
    pool.parallel_for(words, [&](int64_t begin, int64_t end, int thread) {
      sink[thread] += sum_words(buffer.get() + begin, end - begin);
    });
    const double seconds = timer.seconds();
    if (seconds > 0) best = std::max(best, static_cast<double>(words * 8) / seconds / 1e9);
  }
  volatile uint64_t keep = 0;
  for (uint64_t s : sink) keep = keep + s;
  (void)keep;
  return BandwidthResult{best, words * 8, pool.size()};
}

}  // namespace moelab
