// Transpose-reduces of the integer decode kernels (AVX-512): from 16 rows'
// vectors of partial-sum lanes to vectors with one row per lane, so the
// float steps that follow run on 16 rows at once. Include only from an
// *_avx512.cpp kernel header (internal linkage).
#pragma once

#include <immintrin.h>

namespace moelab::kernels_internal {
namespace {

// The first two stages every reduce shares: b[j] 128-bit lane l, element i
// = the sum of the 4 lanes of 128-bit lane l of v[4j + i] (kN vectors in,
// kN / 4 out).
template <int kN = 16>
inline void lane_sums_by_row(const __m512i* v, __m512i* b) {
  __m512i a[kN / 2];
  for (int i = 0; i < kN / 2; ++i) {
    a[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                            _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
  }
  for (int j = 0; j < kN / 4; ++j) {
    b[j] = _mm512_add_epi32(_mm512_unpacklo_epi64(a[2 * j], a[2 * j + 1]),
                            _mm512_unpackhi_epi64(a[2 * j], a[2 * j + 1]));
  }
}

// Out lane j = the sum of the 8 lanes of m[j] (16 rows of 256 bits).
inline __m512i reduce16x8(const __m256i* m) {
  // Row k in the low half, row k + 8 in the high half.
  __m512i w[8], b[2];
  for (int k = 0; k < 8; ++k) w[k] = _mm512_inserti64x4(_mm512_castsi256_si512(m[k]), m[k + 8], 1);
  // b[j]: 128-bit lanes 0-1 rows 4j..4j+3, lanes 2-3 rows 4j+8..4j+11.
  lane_sums_by_row<8>(w, b);
  // Rows 0-3, 8-11, 4-7, 12-15, then in order.
  const __m512i s = _mm512_add_epi32(_mm512_shuffle_i32x4(b[0], b[1], 0x88),
                                     _mm512_shuffle_i32x4(b[0], b[1], 0xDD));
  return _mm512_shuffle_i32x4(s, s, 0xD8);
}

// out0 / out1 lane j = the sum of the lanes of v[j] that hold block 0 / 1
// (128-bit lanes 0-1 / 2-3).
inline void reduce_pair(const __m512i* v, __m512i* out0, __m512i* out1) {
  __m512i b[4];
  lane_sums_by_row(v, b);
  // c0: rows 0-3 block 0, rows 0-3 block 1, rows 4-7 block 0, rows 4-7
  // block 1; c1 the same for rows 8-15.
  const __m512i c0 = _mm512_add_epi32(_mm512_shuffle_i32x4(b[0], b[1], 0x88),
                                      _mm512_shuffle_i32x4(b[0], b[1], 0xDD));
  const __m512i c1 = _mm512_add_epi32(_mm512_shuffle_i32x4(b[2], b[3], 0x88),
                                      _mm512_shuffle_i32x4(b[2], b[3], 0xDD));
  *out0 = _mm512_shuffle_i32x4(c0, c1, 0x88);
  *out1 = _mm512_shuffle_i32x4(c0, c1, 0xDD);
}

// Out lane j = the sum of the 16 lanes of v[j]: both halves of reduce_pair.
inline __m512i reduce16(const __m512i* v) {
  __m512i lo, hi;
  reduce_pair(v, &lo, &hi);
  return _mm512_add_epi32(lo, hi);
}

// out[k] lane r = the sum of the 4 lanes of v[r] in 128-bit lane k: the
// exact totals of block k of each of 16 rows.
inline void reduce_quad(const __m512i* v, __m512i* out) {
  __m512i b[4];
  lane_sums_by_row(v, b);
  const __m512i t0 = _mm512_shuffle_i32x4(b[0], b[1], 0x44);  // b0.l0 b0.l1 b1.l0 b1.l1
  const __m512i t1 = _mm512_shuffle_i32x4(b[2], b[3], 0x44);
  const __m512i t2 = _mm512_shuffle_i32x4(b[0], b[1], 0xEE);  // b0.l2 b0.l3 b1.l2 b1.l3
  const __m512i t3 = _mm512_shuffle_i32x4(b[2], b[3], 0xEE);
  out[0] = _mm512_shuffle_i32x4(t0, t1, 0x88);
  out[1] = _mm512_shuffle_i32x4(t0, t1, 0xDD);
  out[2] = _mm512_shuffle_i32x4(t2, t3, 0x88);
  out[3] = _mm512_shuffle_i32x4(t2, t3, 0xDD);
}

}  // namespace
}  // namespace moelab::kernels_internal
