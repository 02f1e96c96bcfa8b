// Q4_0 / Q5_0 decode (1-4 tokens) on AVX-512 VNNI, four blocks per step.
// Include only from matmul_x86_q8.h (internal linkage, AVX-512 flags).
//
// The pair walk of the other legacy types (two blocks per zmm) spends most of
// its instructions gathering 16-byte nibble arrays: Q4_0 decoded about 18
// GB/s of weights per core from L2, Q8_0 28. Here one zmm gathers the qs of
// four blocks, so its low nibbles are elements 0-15 of each block and its
// high nibbles elements 16-31: two vpdpbusd per four blocks instead of two
// per two, and 4 block totals per 16-row transpose instead of 2. The
// activations are permuted once per call to match (per block quad: elements
// 0-15 of blocks 0-3, then 16-31). The exact integer total of each block and
// the float steps after it are the pair walk's, so the bits are the same.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

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

// out[k] lane r = the sum of the 4 lanes of v[r] in 128-bit lane k: the
// exact totals of block k of each of 16 rows.
inline void reduce_quad(const __m512i* v, __m512i* out) {
  __m512i a[8], b[4];
  for (int i = 0; i < 8; ++i) {
    a[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                            _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
  }
  // b[j] 128-bit lane k, element i: block k's total of row 4j + i.
  for (int j = 0; j < 4; ++j) {
    b[j] = _mm512_add_epi32(_mm512_unpacklo_epi64(a[2 * j], a[2 * j + 1]),
                            _mm512_unpackhi_epi64(a[2 * j], a[2 * j + 1]));
  }
  const __m512i t0 = _mm512_shuffle_i32x4(b[0], b[1], 0x44);  // b0.l0 b0.l1 b1.l0 b1.l1
  const __m512i t1 = _mm512_shuffle_i32x4(b[2], b[3], 0x44);
  const __m512i t2 = _mm512_shuffle_i32x4(b[0], b[1], 0xEE);  // b0.l2 b0.l3 b1.l2 b1.l3
  const __m512i t3 = _mm512_shuffle_i32x4(b[2], b[3], 0xEE);
  out[0] = _mm512_shuffle_i32x4(t0, t1, 0x88);
  out[1] = _mm512_shuffle_i32x4(t0, t1, 0xDD);
  out[2] = _mm512_shuffle_i32x4(t2, t3, 0x88);
  out[3] = _mm512_shuffle_i32x4(t2, t3, 0xDD);
}

// Block quads per chunk: the integer lanes of a chunk (16 rows × kT tokens ×
// quads) stay within 16 KiB of L1, as in the pair walk.
template <int kT>
constexpr int64_t nibble_chunk_quads() {
  return kT <= 2 ? 4 : 2;
}

// Rows [0, n_r) (n_r <= 16) of w for kT tokens, stored to y[t * ldy + r].
// aq[t]: token t's quants in the quad layout, 128 bytes per block quad.
template <bool kFive, int kT>
void nibble_decode_slab(const uint8_t* w, int64_t row_bytes, int n_r, int64_t n_blocks,
                        const int8_t* const* aq, const ActRow* a, float* y, int64_t ldy) {
  using Block = std::conditional_t<kFive, BlockQ5_0, BlockQ4_0>;
  constexpr int kOffset = kFive ? 16 : 8;
  constexpr int64_t kQuads = nibble_chunk_quads<kT>();
  constexpr int64_t kQuadBytes = 4 * sizeof(Block);
  alignas(64) __m512i is[kSlab][kT * kQuads];
  alignas(64) uint16_t d[4 * kQuads][kSlab] = {};
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  const int64_t n_quads = (n_blocks + 3) / 4;
  const int64_t far = legacy_far_bytes(row_bytes);
  for (int64_t q0 = 0; q0 < n_quads; q0 += kQuads) {
    const int64_t n = std::min(kQuads, n_quads - q0);
    for (int r = 0; r < kSlab; ++r) {
      if (r >= n_r) {
        for (int j = 0; j < kT * kQuads; ++j) is[r][j] = _mm512_setzero_si512();
        continue;
      }
      const auto* blk = reinterpret_cast<const Block*>(w + r * row_bytes);
      // As in the pair walk: what this walk reads kLegacyPrefetchRows rows
      // from now, then one near and one far prefetch per quad (72-88 bytes).
      const uint8_t* ahead =
          reinterpret_cast<const uint8_t*>(blk + 4 * q0) +
          (r + kLegacyPrefetchRows < kSlab || q0 + kQuads >= n_quads
               ? kLegacyPrefetchRows * row_bytes
               : (kLegacyPrefetchRows - kSlab) * row_bytes + kQuads * kQuadBytes);
      _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
      for (int64_t k = 0; k < n; ++k) {
        const int64_t b = 4 * (q0 + k);
        const int nb = static_cast<int>(std::min<int64_t>(4, n_blocks - b));
        _mm_prefetch(reinterpret_cast<const char*>(ahead + k * kQuadBytes + 64), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(blk + b) + far + kQuadBytes / 2, _MM_HINT_T1);
        __m512i lo, hi;
        nibble_quad<kFive>(blk + b, nb, &lo, &hi);
        for (int t = 0; t < kT; ++t) {
          const int8_t* av = aq[t] + 128 * (q0 + k);
          is[r][t * kQuads + k] = _mm512_dpbusd_epi32(
              _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_load_si512(av)), hi,
              _mm512_load_si512(av + 64));
        }
        for (int j = 0; j < 4; ++j) d[4 * k + j][r] = j < nb ? blk[b + j].d : 0;
      }
    }
    for (int64_t k = 0; k < n; ++k) {
      const int64_t b = 4 * (q0 + k);
      __m512i s[kT][4];
      for (int t = 0; t < kT; ++t) {
        __m512i lanes[kSlab];
        for (int r = 0; r < kSlab; ++r) lanes[r] = is[r][t * kQuads + k];
        reduce_quad(lanes, s[t]);
      }
      for (int j = 0; j < 4 && b + j < n_blocks; ++j) {
        const __m512 dv =
            _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d[4 * k + j])));
        for (int t = 0; t < kT; ++t) {
          // Reference: acc += d_w * d_a * (float)isum.
          const __m512i isum =
              _mm512_add_epi32(s[t][j], _mm512_set1_epi32(-kOffset * a[t].sum[b + j]));
          const __m512 da = _mm512_set1_ps(a[t].d[b + j]);
          acc[t] = fadd(acc[t], fmul(fmul(dv, da), _mm512_cvtepi32_ps(isum)));
        }
      }
    }
  }
  const __mmask16 m = static_cast<__mmask16>((1u << n_r) - 1);
  for (int t = 0; t < kT; ++t) _mm512_mask_storeu_ps(y + t * ldy, m, acc[t]);
}

// Q4_0 / Q5_0 decode for 1-4 tokens: the activations permuted into the quad
// layout once, then slab after slab.
template <bool kFive>
void nibble_decode(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in,
                   const uint8_t* const* xq, int n_tok, float* y, int64_t ldy) {
  ActRow a[kTileTokens];
  const int8_t* aq[kTileTokens];
  const int64_t n_blocks = n_in / kQk, n_quads = (n_blocks + 3) / 4;
  uint8_t* buf = q8_scratch().aligned(n_tok * n_quads * 128);
  // 64-bit units of the 128 bytes of a quad: block k's elements 0-15 are
  // units 4k, 4k + 1 and its elements 16-31 units 4k + 2, 4k + 3.
  const __m512i lo_idx = _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13);
  const __m512i hi_idx = _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15);
  for (int t = 0; t < n_tok; ++t) {
    a[t] = act_row(ActFormat::kQ8_0, xq[t], n_in);
    uint8_t* dst = buf + t * n_quads * 128;
    aq[t] = reinterpret_cast<const int8_t*>(dst);
    for (int64_t q = 0; q < n_quads; ++q) {
      const int64_t left = (n_blocks - 4 * q) * kQk;  // bytes of this quad present
      const auto mask = [](int64_t bytes) {
        return bytes >= 64 ? ~__mmask64{0} : bytes <= 0 ? __mmask64{0} : (__mmask64{1} << bytes) - 1;
      };
      const __m512i x0 = _mm512_maskz_loadu_epi8(mask(left), a[t].qs + 128 * q);
      const __m512i x1 = _mm512_maskz_loadu_epi8(mask(left - 64), a[t].qs + 128 * q + 64);
      _mm512_store_si512(dst + 128 * q, _mm512_permutex2var_epi64(x0, lo_idx, x1));
      _mm512_store_si512(dst + 128 * q + 64, _mm512_permutex2var_epi64(x0, hi_idx, x1));
    }
  }
  with_token_count(n_tok, [&](auto n) {
    constexpr int kT = decltype(n)::value;
    for (int64_t r = 0; r < n_rows; r += kSlab) {
      const int n_r = static_cast<int>(std::min<int64_t>(kSlab, n_rows - r));
      nibble_decode_slab<kFive, kT>(w + r * row_bytes, row_bytes, n_r, n_blocks, aq, a, y + r, ldy);
    }
  });
}

}  // namespace
}  // namespace moelab::kernels_internal
