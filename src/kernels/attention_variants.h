// The chunk kernels of attention.h, one per ISA (private to src/kernels).
#pragma once

#include <cstdint>

#include "kernels/attention.h"

namespace moelab::ops_internal {

// Partial attention of every head of q over positions [p0, p1) (non-empty):
// m[h] the max score, l[h] = Σ e^(s - m[h]), acc[h·acc_stride + d] =
// Σ e^(s - m[h])·v[d] (not normalised).
using AttnChunkFn = void (*)(const AttnQuery& q, const AttnStream& kv, int32_t p0, int32_t p1,
                             float* m, float* l, float* acc, int64_t acc_stride);

void attention_chunk_scalar(const AttnQuery& q, const AttnStream& kv, int32_t p0, int32_t p1,
                            float* m, float* l, float* acc, int64_t acc_stride);
void attention_chunk_avx2(const AttnQuery& q, const AttnStream& kv, int32_t p0, int32_t p1,
                          float* m, float* l, float* acc, int64_t acc_stride);
void attention_chunk_avx512(const AttnQuery& q, const AttnStream& kv, int32_t p0, int32_t p1,
                            float* m, float* l, float* acc, int64_t acc_stride);

}  // namespace moelab::ops_internal
