#include "bench/bandwidth.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "base/cpu_features.h"
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

// Prefetch distance into L2, in 64-bit words (8 KiB). The hardware
// prefetchers alone keep too few lines in flight per core to reach the
// memory's bandwidth (on our CI machine a plain loop read 24-27 GB/s, this
// one 30-33), and the decode kernels prefetch the same way: a floor read
// without it is one they can beat.
constexpr int64_t kPrefetchWords = 1024;

// The same with 256-bit loads: a scalar loop cannot issue loads fast enough
// to saturate memory (it measured about 60% of this on our CI machine).
__attribute__((target("avx2"))) uint64_t sum_words_avx2(const uint64_t* p, int64_t n) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    // Past the end of this thread's share it only warms the next one's.
    _mm_prefetch(reinterpret_cast<const char*>(p + i + kPrefetchWords), _MM_HINT_T1);
    a = _mm256_add_epi64(a, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    b = _mm256_add_epi64(b, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    c = _mm256_add_epi64(c, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
    d = _mm256_add_epi64(d, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + sum_words(p + i, n - i);
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
  const bool simd = cpu_features().best_isa() != Isa::kScalar;
  double best = 0.0;
  for (int pass = 0; pass < std::max(1, passes); ++pass) {
    Timer timer;
    pool.parallel_for(words, [&](int64_t begin, int64_t end, int thread) {
      sink[thread] += simd ? sum_words_avx2(buffer.get() + begin, end - begin)
                           : sum_words(buffer.get() + begin, end - begin);
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
