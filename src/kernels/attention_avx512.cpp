// AVX-512 attention chunk kernel (see attention_x86.h).
// GCC 12's AVX-512 headers trip -Wuninitialized falsely on some intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define MOELAB_OPS_AVX512 1
#include "kernels/attention_x86.h"

namespace moelab::ops_internal {

void attention_chunk_avx512(const AttnQuery& q, const AttnStream& kv, int32_t p0, int32_t p1,
                            float* m, float* l, float* acc, int64_t acc_stride) {
  attention_chunk_simd(q, kv, p0, p1, m, l, acc, acc_stride);
}

}  // namespace moelab::ops_internal
