// AVX-512 activation quantizers: the same values as the scalar reference
// formulas of qdot.cpp, bit for bit (per-block scales computed with the same
// scalar float steps; per-element products are the same single float
// multiplies; rounding reproduces roundf / nearest_int exactly).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "base/fp16.h"
#include "kernels/qdot.h"
#include "kernels/quant_blocks.h"

namespace moelab::kernels_internal {
namespace {

// roundf: nearest, halves away from zero. v - trunc(v) is exact, so the
// comparison with 0.5 sees the true fraction (0.49999997 stays down).
inline __m512i round_away(__m512 v) {
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_abs_ps(_mm512_sub_ps(v, t));
  const __mmask16 up = _mm512_cmp_ps_mask(f, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512i ti = _mm512_cvttps_epi32(t);
  const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512i one = _mm512_set1_epi32(1);
  __m512i r = _mm512_mask_add_epi32(ti, up & ~neg, ti, one);
  r = _mm512_mask_sub_epi32(r, up & neg, r, one);
  return r;
}

inline float hmax_abs(const float* x, int n) {
  __m512 m = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
  return _mm512_reduce_max_ps(m);
}

}  // namespace

void quantize_act_row_avx512(ActFormat f, const float* x, int64_t n_in, uint8_t* dst) {
  const ActRow a = act_row(f, dst, n_in);
  auto* qs = const_cast<int8_t*>(a.qs);
  auto* d = const_cast<float*>(a.d);
  if (f == ActFormat::kQ8_0) {
    auto* sum = const_cast<int32_t*>(a.sum);
    for (int64_t i = 0; i < n_in / kQk; ++i) {
      const float* xb = x + i * kQk;
      const float amax = hmax_abs(xb, kQk);
      const float db = amax / 127;
      const float id = db ? 1.0f / db : 0.0f;
      d[i] = fp16_to_fp32(fp32_to_fp16(db));
      const __m512 vid = _mm512_set1_ps(id);
      const __m512i q0 = round_away(_mm512_mul_ps(_mm512_loadu_ps(xb), vid));
      const __m512i q1 = round_away(_mm512_mul_ps(_mm512_loadu_ps(xb + 16), vid));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + i * kQk), _mm512_cvtepi32_epi8(q0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + i * kQk + 16), _mm512_cvtepi32_epi8(q1));
      sum[i] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    }
    return;
  }
  auto* bsums = const_cast<int16_t*>(a.bsums);
  for (int64_t i = 0; i < n_in / kQkK; ++i) {
    const float* xb = x + i * kQkK;
    int8_t* q = qs + i * kQkK;
    const float amax = hmax_abs(xb, kQkK);
    if (!amax) {
      d[i] = 0;
      std::memset(q, 0, kQkK);
      std::memset(bsums + i * 16, 0, 16 * sizeof(int16_t));
      continue;
    }
    // The first element of largest magnitude (the scalar loop keeps the
    // first on ties), with its sign.
    float max = 0;
    for (int j = 0; j < kQkK; j += 16) {
      const __m512 v = _mm512_loadu_ps(xb + j);
      const __mmask16 m = _mm512_cmp_ps_mask(_mm512_abs_ps(v), _mm512_set1_ps(amax), _CMP_EQ_OQ);
      if (m) {
        max = xb[j + __builtin_ctz(m)];
        break;
      }
    }
    const float iscale = -127.f / max;
    const __m512 vs = _mm512_set1_ps(iscale);
    const __m512i k127 = _mm512_set1_epi32(127);
    for (int g = 0; g < 16; ++g) {
      // cvtps rounds to nearest even, as nearest_int's mantissa trick.
      const __m512i v = _mm512_min_epi32(
          _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + 16 * g), vs)), k127);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16 * g), _mm512_cvtepi32_epi8(v));
      bsums[i * 16 + g] = static_cast<int16_t>(_mm512_reduce_add_epi32(v));
    }
    d[i] = 1 / iscale;
  }
}

}  // namespace moelab::kernels_internal
