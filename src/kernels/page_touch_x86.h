// Touching memory pages ahead of a decode kernel's far prefetch. Include only
// from a kernel header that is itself included from one *_avx2.cpp /
// *_avx512.cpp file: internal linkage, so each translation unit keeps a copy
// compiled with its own flags.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace moelab::kernels_internal {
namespace {

// How far past the far prefetch a page is touched: two 4 KiB pages.
constexpr int64_t kPageTouchAhead = 8192;

// One line of each 4 KiB page, kPageTouchAhead bytes past the far prefetch,
// asked for as the walk (steps of step_bytes from `far`) passes the page's
// start: the far prefetches then find the page already mapped (our reading:
// its address translation is looked up early) and the hardware prefetcher
// already streaming it. Measured on the K-quant decode kernels by
// alternating decode steps between variants in one process: with AVX-512,
// Q4_K_M deepseek 3.3% and qwen3moe 3.5% faster, dense 1-1.5%; with AVX2,
// deepseek 3.0% and qwen3moe 4.5%. The legacy kernels (Q8_0 models) were
// 3-5% slower with it on both ISAs, and do without.
inline void touch_page_ahead(const uint8_t* far, int64_t step_bytes) {
  const uint8_t* p = far + kPageTouchAhead;
  if (static_cast<int64_t>(reinterpret_cast<uintptr_t>(p) & 4095) < step_bytes) {
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T2);
  }
}

}  // namespace
}  // namespace moelab::kernels_internal
