// Q4_0 / Q5_0 decode units on AVX-512 VNNI: four blocks per step.
// Include only from matmul_x86_q8.h (internal linkage, AVX-512 flags).
//
// Walked in pairs of blocks, as Q8_0 is, these types spent most of their
// instructions gathering 16-byte nibble arrays: Q4_0 decoded about 18 GB/s
// of weights per core from L2, Q8_0 28. Here one zmm gathers the qs of four
// blocks, so its low nibbles are elements 0-15 of each block and its high
// nibbles elements 16-31: two vpdpbusd per four blocks instead of two per
// two, and 4 block totals per 16-row transpose instead of 2 (21% and 15%
// more bytes/s in L2 for Q4_0 and Q5_0). The exact integer total of each
// block and the float steps after it are unchanged, so are the bits.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/lane_reduce_x86.h"
#include "kernels/qdot.h"
#include "kernels/quant_blocks.h"

namespace moelab::kernels_internal {
namespace {

// Blocks [b, b + n) (n <= 4) of one Q4_0 / Q5_0 row as unsigned quants:
// *lo byte 16k + j = element j of block b + k, *hi element 16 + j; the lanes
// of missing blocks are zero.
template <bool kFive>
inline void nibble_quad(const std::conditional_t<kFive, BlockQ5_0, BlockQ4_0>* blk, int n,
                        __m512i* lo, __m512i* hi) {
  __m512i v = _mm512_setzero_si512();
  __m512i v_hi = _mm512_setzero_si512();
  if (n == 4) {
    v = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[0].qs)));
    v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[1].qs)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[2].qs)), 2);
    v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[3].qs)), 3);
  } else {
    alignas(64) uint8_t q[64] = {};
    for (int k = 0; k < n; ++k) std::memcpy(q + 16 * k, blk[k].qs, 16);
    v = _mm512_load_si512(q);
  }
  const __m512i nib = _mm512_set1_epi8(0x0F);
  v_hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
  v = _mm512_and_si512(v, nib);
  if constexpr (kFive) {
    // Bit j of qh is the 5th bit of element j: bits 0-15 go to lo, 16-31 to
    // hi, block k's at mask bits 16k.
    // Each half of qh is one 16-bit load, shifted into place.
    auto half = [&](int k, int h) {
      uint16_t v;
      std::memcpy(&v, blk[k].qh + 2 * h, 2);
      return uint64_t{v} << (16 * k);
    };
    uint64_t m_lo = 0, m_hi = 0;
    if (n == 4) {
      m_lo = half(0, 0) | half(1, 0) | half(2, 0) | half(3, 0);
      m_hi = half(0, 1) | half(1, 1) | half(2, 1) | half(3, 1);
    } else {
      for (int k = 0; k < n; ++k) {
        m_lo |= half(k, 0);
        m_hi |= half(k, 1);
      }
    }
    const __m512i bit = _mm512_set1_epi8(0x10);
    v = _mm512_mask_add_epi8(v, m_lo, v, bit);  // bit 4 is clear: add = or
    v_hi = _mm512_mask_add_epi8(v_hi, m_hi, v_hi, bit);
  }
  *lo = v;
  *hi = v_hi;
}

// The decode unit of Q4_0 / Q5_0 (legacy_decode_slab in matmul_x86_q8.h
// walks rows in units): four blocks. load() gathers a unit's quants, dot()
// gives a token's integer lanes for them (128-bit lane k: block k), reduce()
// turns 16 rows' lanes into each block's totals, one row per lane, and
// permute_act() writes a token's activations for unit u in the layout dot()
// reads (kActBytes a unit): elements 0-15 of blocks 0-3, then 16-31.
template <bool kFive>
struct QuadUnit {
  using Block = std::conditional_t<kFive, BlockQ5_0, BlockQ4_0>;
  static constexpr int kBlocks = 4;
  static constexpr int kOffset = kFive ? 16 : 8;
  static constexpr int64_t kActBytes = 128;
  static constexpr int64_t kFarOffset = 2 * sizeof(Block);  // the unit's middle
  struct Quants {
    __m512i lo, hi;
  };
  static Quants load(const Block* b, int nb) {
    Quants q;
    nibble_quad<kFive>(b, nb, &q.lo, &q.hi);
    return q;
  }
  static __m512i dot(const Quants& q, const int8_t* av) {
    const __m512i lo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q.lo, _mm512_load_si512(av));
    return _mm512_dpbusd_epi32(lo, q.hi, _mm512_load_si512(av + 64));
  }
  static void reduce(const __m512i* lanes, __m512i* out) { reduce_quad(lanes, out); }
  static void permute_act(const int8_t* qs, int64_t n_blocks, int64_t u, uint8_t* dst) {
    // 64-bit units of the 128 bytes: block k's elements 0-15 are units 4k,
    // 4k + 1 and its elements 16-31 units 4k + 2, 4k + 3.
    const __m512i lo_idx = _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13);
    const __m512i hi_idx = _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15);
    const int64_t left = (n_blocks - 4 * u) * kQk;  // bytes of this unit present
    auto mask = [](int64_t bytes) {
      return bytes >= 64 ? ~__mmask64{0} : bytes <= 0 ? __mmask64{0} : (__mmask64{1} << bytes) - 1;
    };
    const __m512i x0 = _mm512_maskz_loadu_epi8(mask(left), qs + 128 * u);
    const __m512i x1 = _mm512_maskz_loadu_epi8(mask(left - 64), qs + 128 * u + 64);
    _mm512_store_si512(dst, _mm512_permutex2var_epi64(x0, lo_idx, x1));
    _mm512_store_si512(dst + 64, _mm512_permutex2var_epi64(x0, hi_idx, x1));
  }
};

}  // namespace
}  // namespace moelab::kernels_internal
