// AVX2+FMA attention chunk kernel (see attention_x86.h).
#include "kernels/attention_x86.h"

namespace moelab::ops_internal {

void attention_chunk_avx2(const AttnQuery& q, const AttnStream& kv, int32_t p0, int32_t p1,
                          float* m, float* l, float* acc, int64_t acc_stride) {
  attention_chunk_simd(q, kv, p0, p1, m, l, acc, acc_stride);
}

}  // namespace moelab::ops_internal
