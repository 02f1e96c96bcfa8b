// AVX2+FMA variants of the vector kernels in ops.h (compiled with -mavx2 -mfma).
#include <immintrin.h>

#include "kernels/ops_variants.h"

namespace moelab::ops_internal {

float dot_f32_avx2(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  const __m256 s = _mm256_add_ps(s0, s1);
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_shuffle_ps(r, r, 1));
  float sum = _mm_cvtss_f32(r);
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void axpy_avx2(float a, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

}  // namespace moelab::ops_internal

#include "kernels/ops_x86.h"

namespace moelab::ops_internal {

const ElementwiseKernels& avx2_elementwise() {
  static const ElementwiseKernels k{exp_array_simd, rms_norm_simd, softmax_simd, silu_mul_simd,
                                    rope_rotate_simd};
  return k;
}

}  // namespace moelab::ops_internal
