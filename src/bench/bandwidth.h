// The machine's memory read bandwidth, measured by a STREAM-style probe:
// every thread of the pool sums its share of a buffer much larger than the
// caches, several times; the best pass counts (the least disturbed one).
// The decode floor of a model is bytes_per_token / this bandwidth.
#pragma once

#include <cstdint>

#include "base/thread_pool.h"

namespace moelab {

struct BandwidthResult {
  double read_gbs = 0.0;  // 1e9 bytes per second
  int64_t buffer_bytes = 0;
  int threads = 0;
};

// Measures read bandwidth with `pool`'s threads over a buffer of
// `buffer_bytes` (default 512 MiB), taking the best of `passes` passes (a
// pass over 512 MiB takes under 20 ms: ten catch a quiet moment on a shared
// machine).
BandwidthResult measure_read_bandwidth(ThreadPool& pool, int64_t buffer_bytes = int64_t{512} << 20,
                                       int passes = 10);

}  // namespace moelab
