// The 6-bit scales and mins of a Q4_K/Q5_K super-block, unpacked with byte
// shuffles (SSSE3/AVX2 instructions only), for the integer kernels of both
// x86 families. Include only from a kernel header that is itself included
// from one *_avx2.cpp / *_avx512.cpp file: internal linkage, so each
// translation unit keeps a copy compiled with its own flags.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace moelab::kernels_internal {
namespace {

// The byte patterns of the unpacking below, per 128-bit lane: where each
// output byte's low bits come from, where its top 2 bits come from (-1:
// none), and which low bits it keeps.
alignas(16) constexpr int8_t kK4LowSource[16] = {0, 1, 2, 3, 8, 9, 10, 11,
                                                 4, 5, 6, 7, 8, 9, 10, 11};
alignas(16) constexpr int8_t kK4TopSource[16] = {-1, -1, -1, -1, 0, 1, 2, 3,
                                                 -1, -1, -1, -1, 4, 5, 6, 7};
alignas(16) constexpr int8_t kK4LowMask[16] = {0x3F, 0x3F, 0x3F, 0x3F, 0x0F, 0x0F, 0x0F, 0x0F,
                                               0x3F, 0x3F, 0x3F, 0x3F, 0x0F, 0x0F, 0x0F, 0x0F};

inline __m128i k4_pattern(const int8_t (&p)[16]) {
  return _mm_load_si128(reinterpret_cast<const __m128i*>(p));
}

// The 8 six-bit scales (bytes 0-7) and 8 mins (bytes 8-15) of a Q4_K/Q5_K
// super-block (ggml's get_scale_min_k4 for all 8 groups). scales[0..3] hold
// the low 6 bits of sc 0-3 (and in bits 6-7 the top bits of sc 4-7),
// scales[4..7] likewise for the mins, and scales[8..11] the low 4 bits of
// sc 4-7 (low nibble) and of mn 4-7 (high). Reads 16 bytes from `scales`:
// the last 4 are the block's next field.
inline __m128i k4_scale_bytes(const uint8_t* scales) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(scales));
  const __m128i low_src = _mm_shuffle_epi8(x, k4_pattern(kK4LowSource));
  const __m128i top_src = _mm_shuffle_epi8(x, k4_pattern(kK4TopSource));
  // Bytes 12-15 (mn 4-7) take the high nibble of scales[8..11].
  const __m128i low = _mm_and_si128(_mm_blend_epi32(low_src, _mm_srli_epi16(low_src, 4), 0x8),
                                    k4_pattern(kK4LowMask));
  // (v >> 6) << 4: the top 2 bits of sc/mn 0-3 as bits 4-5 of sc/mn 4-7.
  const __m128i top = _mm_and_si128(_mm_srli_epi16(top_src, 2), _mm_set1_epi8(0x30));
  return _mm_or_si128(low, top);
}

#if defined(__AVX512BW__)
// k4_scale_bytes of 4 super-blocks at once: 128-bit lane l of x holds the 16
// bytes from block l's scales, and the same lane of the result its 8 scales
// and 8 mins.
inline __m512i k4_scale_bytes_x4(__m512i x) {
  const __m512i low_src = _mm512_shuffle_epi8(x, _mm512_broadcast_i32x4(k4_pattern(kK4LowSource)));
  const __m512i top_src = _mm512_shuffle_epi8(x, _mm512_broadcast_i32x4(k4_pattern(kK4TopSource)));
  const __m512i low =
      _mm512_and_si512(_mm512_mask_blend_epi32(0x8888, low_src, _mm512_srli_epi16(low_src, 4)),
                       _mm512_broadcast_i32x4(k4_pattern(kK4LowMask)));
  // low | ((top_src >> 2) & 0x30): imm 0xF8 = A | (B & C).
  return _mm512_ternarylogic_epi32(low, _mm512_srli_epi16(top_src, 2), _mm512_set1_epi8(0x30),
                                   0xF8);
}
#endif

}  // namespace
}  // namespace moelab::kernels_internal
