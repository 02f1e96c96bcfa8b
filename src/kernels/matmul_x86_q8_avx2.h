// The AVX2 integer kernels: weight rows × 8-bit activations (see qdot.h) on
// hosts with AVX2 + FMA + F16C and no AVX-512 VNNI. Include only from
// matmul_avx2.cpp (internal linkage, compiled with that file's flags: no
// AVX-512 and no AVX-VNNI instruction may appear here). Stateless functions
// plus per-call stack buffers; safe from any thread.
//
// Layout: row-major, like the AVX-512 decode kernels. A slab of 8 rows is
// walked a chunk of blocks (super-blocks) at a time; each block of a row is
// decoded once into unsigned bytes (32 per ymm), vpmaddubsw multiplies them
// with the signed activation bytes of up to 4 tokens, and vpmaddwd with ones
// (legacy types) or with the sub-block scales (K-quants) widens to 8 int32
// lanes per (row, token, block). After the chunk, reduce8 turns the 8 rows'
// lanes into the exact block totals, one row per lane, and the float steps
// run on 8 rows at once. More than 4 tokens run the same kernel on groups of
// up to 4 tokens, over passes of 64 rows so the weights stay in L2.
//
// Saturation: vpmaddubsw adds two byte products into a signed 16-bit lane.
// Activations are in [-127, 127] (both quantizers), so unsigned weights up to
// 128 are safe (2 · 128 · 127 = 32512). Q4_0 / Q5_0 / Q4_K / Q5_K / Q6_K use
// their unsigned codes (at most 63; the offset is removed with the block's
// activation sums), Q8_0 the sign trick (|w| against a · sign(w)). The 16-bit
// sub-block scales then multiply into 32-bit lanes: no overflow either.
//
// Batch invariance (and equality with the scalar reference of qdot.cpp):
// integer totals are exact whatever the order, and the float steps are the
// reference's, one rounding each, in block order (fmul keeps GCC from
// contracting them into FMAs). So a (row, token) result depends on nothing
// else: not the token count or group, the slab, the lane, or the row split.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/k_scales_x86.h"
#include "kernels/matmul_kernels.h"
#include "kernels/page_touch_x86.h"
#include "kernels/qdot.h"
#include "kernels/quant_blocks.h"

namespace moelab::kernels_internal {
namespace {
namespace q8avx2 {

constexpr int kSlab = 8;        // rows per slab (ymm lanes of the float steps)
constexpr int kMaxTok = 4;      // tokens per kernel call (accumulators per row)
constexpr int64_t kPassRows = 64;  // rows per pass when tokens come in groups
// Prefetch distances in rows of the walk: near into L1 (one block per block
// read), far into L2 (keeps more lines in flight than one core's demand
// misses; the AVX-512 kernels measured 32 as the best far distance).
constexpr int64_t kNearRows = 4;
constexpr int64_t kFarRows = 32;

// Float steps of the reference, one rounding each. The asm makes the product
// opaque, so GCC (which contracts vector intrinsics like plain arithmetic
// under -mfma) cannot fuse it with the following add into an FMA.
inline __m256 fmul(__m256 a, __m256 b) {
  __m256 p = _mm256_mul_ps(a, b);
  asm("" : "+x"(p));
  return p;
}

// Out lane j = the sum of the 8 int32 lanes of v[j] (exact).
inline __m256i reduce8(const __m256i* v) {
  const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]);
  const __m256i h23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]);
  const __m256i h67 = _mm256_hadd_epi32(v[6], v[7]);
  // Rows 0-3 (q0) / 4-7 (q1): 128-bit lane 0 the sums of their low halves,
  // lane 1 of their high halves.
  const __m256i q0 = _mm256_hadd_epi32(h01, h23);
  const __m256i q1 = _mm256_hadd_epi32(h45, h67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(q0, q1, 0x20),
                          _mm256_permute2x128_si256(q0, q1, 0x31));
}

template <_mm_hint kHint>
inline void prefetch(const void* p, int64_t bytes) {
  for (int64_t o = 0; o < bytes; o += 64) _mm_prefetch(static_cast<const char*>(p) + o, kHint);
}

// Bytes from the block being read (row r of the slab, chunk starting at
// block i0) to the one the walk reads kNearRows rows later: the same chunk of
// a later row, the next chunk of an earlier row, or after the last chunk the
// next slab's first chunk (rows are contiguous, row_bytes apart).
inline int64_t near_ahead(int r, int64_t i0, int64_t chunk, int64_t n_blocks, int64_t row_bytes,
                          int64_t block_bytes) {
  if (r + kNearRows < kSlab) return kNearRows * row_bytes;
  if (i0 + chunk < n_blocks) return (kNearRows - kSlab) * row_bytes + chunk * block_bytes;
  return kNearRows * row_bytes - i0 * block_bytes;
}

// Stores lanes [0, n_r) of v to y.
inline void store_rows(float* y, __m256 v, int n_r) {
  if (n_r == kSlab) {
    _mm256_storeu_ps(y, v);
    return;
  }
  alignas(32) float tmp[kSlab];
  _mm256_store_ps(tmp, v);
  std::memcpy(y, tmp, sizeof(float) * n_r);
}

inline __m256i load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// ------------------------------------------------------------ legacy types
//
// Blocks of 32 with one fp16 scale d. decode() gives the 32 weights of a
// block in element order as bytes; dot() the 8 int32 lanes of their products
// with 32 activation bytes, to which kOffset · Σa is added back after the
// reduction (the codes are stored as unsigned w + kOffset).

struct LegacyQ8_0 {
  using Block = BlockQ8_0;
  static constexpr int kOffset = 0;
  struct Dec {
    __m256i abs, sign;
  };
  static Dec decode(const Block& b) {
    const __m256i w = load256(b.qs);
    return {_mm256_sign_epi8(w, w), w};  // |-128| stays 0x80 = 128 unsigned
  }
  static __m256i dot(const Dec& w, __m256i a) {
    const __m256i p = _mm256_maddubs_epi16(w.abs, _mm256_sign_epi8(a, w.sign));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
  }
};

// Q4_0 / Q5_0: byte j of qs holds elements j (low nibble) and j + 16; Q5_0's
// 5th bit of element j is bit j of qh.
template <bool kFive>
struct LegacyQ45_0 {
  using Block = std::conditional_t<kFive, BlockQ5_0, BlockQ4_0>;
  static constexpr int kOffset = kFive ? 16 : 8;
  using Dec = __m256i;
  static Dec decode(const Block& b) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
    __m256i v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
    if constexpr (kFive) {
      uint32_t qh;
      std::memcpy(&qh, b.qh, 4);
      // Byte j takes byte j / 8 of qh, then keeps bit j % 8 of it as 0x10.
      const __m256i bytes = _mm256_shuffle_epi8(
          _mm256_set1_epi32(static_cast<int>(qh)),
          _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
      const __m256i bits = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
      const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bits), bits);
      v = _mm256_or_si256(v, _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
    }
    return v;
  }
  static __m256i dot(Dec w, __m256i a) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1));
  }
};

// Rows [0, n_r) (n_r <= 8) of w, n_blocks blocks each, for kT tokens: stored
// to y[t * ldy + r].
//   w: [n_r, row_bytes] bytes; a: kT activation rows of n_blocks blocks;
//   y: [kT, ldy] (columns [0, n_r) written)
template <typename L, int kT>
void legacy_slab(const uint8_t* w, int64_t row_bytes, int n_r, int64_t n_blocks, const ActRow* a,
                 float* y, int64_t ldy) {
  using Block = typename L::Block;
  // Blocks per chunk: a row reads one sequential run, and the lanes of a
  // chunk (8 rows × kT tokens × kChunk × 32 bytes) stay within 8 KiB of L1.
  constexpr int64_t kChunk = kT <= 2 ? 16 : 8;
  constexpr int64_t kBlockBytes = sizeof(Block);
  alignas(32) __m256i is[kSlab][kT * kChunk];
  alignas(16) uint16_t d[kChunk][kSlab];
  if (n_r < kSlab) {  // lanes of missing rows: zeros, never stored
    std::memset(&is[n_r][0], 0, sizeof(is[0]) * (kSlab - n_r));
    std::memset(d, 0, sizeof(d));
  }
  __m256 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i0 = 0; i0 < n_blocks; i0 += kChunk) {
    const int64_t n = std::min(kChunk, n_blocks - i0);
    for (int r = 0; r < n_r; ++r) {
      const auto* blk = reinterpret_cast<const Block*>(w + r * row_bytes);
      const int64_t ahead = near_ahead(r, i0, kChunk, n_blocks, row_bytes, kBlockBytes);
      for (int64_t k = 0; k < n; ++k) {
        const Block& b = blk[i0 + k];
        const auto* p = reinterpret_cast<const uint8_t*>(&b);
        prefetch<_MM_HINT_T0>(p + ahead, kBlockBytes);
        prefetch<_MM_HINT_T1>(p + kFarRows * row_bytes, kBlockBytes);
        const typename L::Dec q = L::decode(b);
        for (int t = 0; t < kT; ++t) {
          is[r][t * kChunk + k] = L::dot(q, load256(a[t].qs + kQk * (i0 + k)));
        }
        d[k][r] = b.d;
      }
    }
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = i0 + k;
      const __m256 dv = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(d[k])));
      for (int t = 0; t < kT; ++t) {
        __m256i lanes[kSlab];
        for (int r = 0; r < kSlab; ++r) lanes[r] = is[r][t * kChunk + k];
        __m256i s = reduce8(lanes);
        if constexpr (L::kOffset != 0) {
          s = _mm256_add_epi32(s, _mm256_set1_epi32(-L::kOffset * a[t].sum[i]));
        }
        // Reference: acc += d_w * d_a * (float)isum.
        const __m256 da = _mm256_set1_ps(a[t].d[i]);
        acc[t] = _mm256_add_ps(acc[t], fmul(fmul(dv, da), _mm256_cvtepi32_ps(s)));
      }
    }
  }
  for (int t = 0; t < kT; ++t) store_rows(y + t * ldy, acc[t], n_r);
}

// ------------------------------------------------------------ K-quants
//
// lanes() writes, for super-block i of one row and each token t, the 8 int32
// lanes of Σ_g sc_g Σ q·a to is[t * stride] and of the min (Q4_K / Q5_K) or
// offset (Q6_K) term to mn[t * stride].

// Q4_K / Q5_K: groups of 32, group g = 2c (low nibbles of qs[32c..32c+31])
// or 2c + 1 (their high nibbles); Q5_K's 5th bit of element 32g + l is bit g
// of qh[l]. The min term is Σ_g m_g (bsum_2g + bsum_2g+1).
template <bool kFive>
struct KQ45 {
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  static constexpr bool kSix = false;
  template <int kT>
  static void lanes(const Block& b, const ActRow* a, int64_t i, __m256i* is, __m256i* mn,
                    int64_t stride) {
    const __m128i sm = k4_scale_bytes(b.scales);
    const __m256i sm2 = _mm256_broadcastsi128_si256(sm);
    const __m256i nib = _mm256_set1_epi8(0x0F);
    [[maybe_unused]] const __m256i bit = _mm256_set1_epi8(0x10);
    [[maybe_unused]] __m256i h;
    if constexpr (kFive) h = load256(b.qh);
    __m256i acc[kT];
    for (int t = 0; t < kT; ++t) acc[t] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(b.qs + 32 * c);
      __m256i lo = _mm256_and_si256(q, nib);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), nib);
      if constexpr (kFive) {
        // h is qh shifted right by 2c (in 16-bit lanes; bit 0 of each byte
        // is still that byte's bit 2c, as 2c + 1 <= 7).
        lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(h, 4), bit));
        h = _mm256_srli_epi16(h, 1);
        hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(h, 4), bit));
        h = _mm256_srli_epi16(h, 1);
      }
      // sc_g zero-extended into every 16-bit lane (index byte g, then a
      // byte with the top bit set: zero).
      const __m256i sl =
          _mm256_shuffle_epi8(sm2, _mm256_set1_epi16(static_cast<int16_t>(0xFF00 | (2 * c))));
      const __m256i sh =
          _mm256_shuffle_epi8(sm2, _mm256_set1_epi16(static_cast<int16_t>(0xFF00 | (2 * c + 1))));
      for (int t = 0; t < kT; ++t) {
        const int8_t* q8 = a[t].qs + kQkK * i + 64 * c;
        // At most 2 · 31 · 127 per 16-bit pair: no saturation.
        const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(q8)), sl);
        const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(q8 + 32)), sh);
        acc[t] = _mm256_add_epi32(acc[t], _mm256_add_epi32(pl, ph));
      }
    }
    // m_g in 16-bit lanes 2g and 2g + 1, against Q8_K's sums per 16.
    const __m256i ml = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(
        sm, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15)));
    for (int t = 0; t < kT; ++t) {
      is[t * stride] = acc[t];
      mn[t * stride] = _mm256_madd_epi16(ml, load256(a[t].bsums + 16 * i));
    }
  }
};

// Q6_K: groups of 16 with signed scales; quants kept as q + 32 (unsigned),
// the offset removed with 32 Σ_g sc_g bsum_g. Half h (128 elements):
// ql[64h + l] holds elements l (low nibble) and 64 + l (high), ql[64h + 32
// + l] elements 32 + l and 96 + l; bits 2j..2j+1 of qh[32h + l] are the top
// bits of element 32j + l.
struct KQ6 {
  using Block = BlockQ6_K;
  static constexpr bool kSix = true;
  template <int kT>
  static void lanes(const Block& b, const ActRow* a, int64_t i, __m256i* is, __m256i* mn,
                    int64_t stride) {
    const __m256i s16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
    // 32-bit lane k of pairs[h]: (sc_8h+k, sc_8h+k) as two int16.
    const __m256i ulo = _mm256_unpacklo_epi16(s16, s16);  // sc 0-3 | 8-11
    const __m256i uhi = _mm256_unpackhi_epi16(s16, s16);  // sc 4-7 | 12-15
    const __m256i pairs[2] = {_mm256_permute2x128_si256(ulo, uhi, 0x20),
                              _mm256_permute2x128_si256(ulo, uhi, 0x31)};
    const __m256i nib = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8(0x30);
    __m256i acc[kT];
    for (int t = 0; t < kT; ++t) acc[t] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i la = load256(b.ql + 64 * h);
      const __m256i lb = load256(b.ql + 64 * h + 32);
      const __m256i hb = load256(b.qh + 32 * h);
      __m256i e[4];
      e[0] = _mm256_or_si256(_mm256_and_si256(la, nib),
                             _mm256_and_si256(_mm256_slli_epi16(hb, 4), top));
      e[1] = _mm256_or_si256(_mm256_and_si256(lb, nib),
                             _mm256_and_si256(_mm256_slli_epi16(hb, 2), top));
      e[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), nib),
                             _mm256_and_si256(hb, top));
      e[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), nib),
                             _mm256_and_si256(_mm256_srli_epi16(hb, 2), top));
      for (int j = 0; j < 4; ++j) {
        // Elements 128h + 32j.. are groups 8h + 2j (16-bit lanes 0-7) and
        // 8h + 2j + 1 (lanes 8-15).
        const __m256i sc = _mm256_permutevar8x32_epi32(
            pairs[h], _mm256_setr_epi32(2 * j, 2 * j, 2 * j, 2 * j, 2 * j + 1, 2 * j + 1,
                                        2 * j + 1, 2 * j + 1));
        for (int t = 0; t < kT; ++t) {
          const int8_t* q8 = a[t].qs + kQkK * i + 128 * h + 32 * j;
          // At most 2 · 63 · 127 per 16-bit pair: no saturation.
          acc[t] = _mm256_add_epi32(
              acc[t], _mm256_madd_epi16(_mm256_maddubs_epi16(e[j], load256(q8)), sc));
        }
      }
    }
    for (int t = 0; t < kT; ++t) {
      is[t * stride] = acc[t];
      mn[t * stride] = _mm256_madd_epi16(s16, load256(a[t].bsums + 16 * i));
    }
  }
};

// Rows [0, n_r) (n_r <= 8) of w, n_sb super-blocks each, for kT tokens.
//   w: [n_r, row_bytes] bytes; a: kT activation rows of n_sb super-blocks;
//   y: [kT, ldy] (columns [0, n_r) written)
template <typename K, int kT>
void k_slab(const uint8_t* w, int64_t row_bytes, int n_r, int64_t n_sb, const ActRow* a, float* y,
            int64_t ldy) {
  using Block = typename K::Block;
  // Super-blocks per chunk: the lanes (8 rows × kT tokens × kChunk × 64
  // bytes) stay within 8 KiB of L1.
  constexpr int64_t kChunk = kT == 1 ? 8 : kT == 2 ? 4 : 2;
  constexpr int64_t kBlockBytes = sizeof(Block);
  alignas(32) __m256i is[kSlab][kT * kChunk];
  alignas(32) __m256i mn[kSlab][kT * kChunk];
  alignas(16) uint16_t d[kChunk][kSlab];
  alignas(16) uint16_t dmin[kChunk][kSlab];
  if (n_r < kSlab) {
    std::memset(&is[n_r][0], 0, sizeof(is[0]) * (kSlab - n_r));
    std::memset(&mn[n_r][0], 0, sizeof(mn[0]) * (kSlab - n_r));
    std::memset(d, 0, sizeof(d));
    std::memset(dmin, 0, sizeof(dmin));
  }
  __m256 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i0 = 0; i0 < n_sb; i0 += kChunk) {
    const int64_t n = std::min(kChunk, n_sb - i0);
    for (int r = 0; r < n_r; ++r) {
      const auto* blk = reinterpret_cast<const Block*>(w + r * row_bytes);
      const int64_t ahead = near_ahead(r, i0, kChunk, n_sb, row_bytes, kBlockBytes);
      for (int64_t k = 0; k < n; ++k) {
        const Block& b = blk[i0 + k];
        const auto* p = reinterpret_cast<const uint8_t*>(&b);
        prefetch<_MM_HINT_T0>(p + ahead, kBlockBytes);
        prefetch<_MM_HINT_T1>(p + kFarRows * row_bytes, kBlockBytes);
        touch_page_ahead(p + kFarRows * row_bytes, kBlockBytes);
        K::template lanes<kT>(b, a, i0 + k, &is[r][k], &mn[r][k], kChunk);
        d[k][r] = b.d;
        if constexpr (!K::kSix) dmin[k][r] = b.dmin;
      }
    }
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = i0 + k;
      const __m256 dv = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(d[k])));
      for (int t = 0; t < kT; ++t) {
        __m256i lanes[kSlab], mlanes[kSlab];
        for (int r = 0; r < kSlab; ++r) {
          lanes[r] = is[r][t * kChunk + k];
          mlanes[r] = mn[r][t * kChunk + k];
        }
        const __m256i si = reduce8(lanes);
        const __m256i mi = reduce8(mlanes);
        const __m256 da = _mm256_set1_ps(a[t].d[i]);
        if constexpr (K::kSix) {
          // Reference: acc += d * da * (float)(Σ_g sc_g Σ (q - 32) a).
          const __m256i s = _mm256_sub_epi32(si, _mm256_slli_epi32(mi, 5));
          acc[t] = _mm256_add_ps(acc[t], fmul(fmul(dv, da), _mm256_cvtepi32_ps(s)));
        } else {
          // Reference: acc += d * da * (float)sumi - dmin * da * (float)summ.
          const __m256 dmv =
              _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dmin[k])));
          const __m256 x = fmul(fmul(dv, da), _mm256_cvtepi32_ps(si));
          const __m256 z = fmul(fmul(dmv, da), _mm256_cvtepi32_ps(mi));
          acc[t] = _mm256_add_ps(acc[t], _mm256_sub_ps(x, z));
        }
      }
    }
  }
  for (int t = 0; t < kT; ++t) store_rows(y + t * ldy, acc[t], n_r);
}

// ------------------------------------------------------------ the driver

template <typename L>
struct LegacySlab {
  static constexpr ActFormat kFmt = ActFormat::kQ8_0;
  static constexpr int64_t kBlockElems = kQk;
  template <int kT>
  static void run(const uint8_t* w, int64_t row_bytes, int n_r, int64_t n_blocks, const ActRow* a,
                  float* y, int64_t ldy) {
    legacy_slab<L, kT>(w, row_bytes, n_r, n_blocks, a, y, ldy);
  }
};

template <typename K>
struct KSlab {
  static constexpr ActFormat kFmt = ActFormat::kQ8_K;
  static constexpr int64_t kBlockElems = kQkK;
  template <int kT>
  static void run(const uint8_t* w, int64_t row_bytes, int n_r, int64_t n_blocks, const ActRow* a,
                  float* y, int64_t ldy) {
    k_slab<K, kT>(w, row_bytes, n_r, n_blocks, a, y, ldy);
  }
};

template <typename S, int kT>
void slabs(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_blocks, const ActRow* a,
           float* y, int64_t ldy) {
  for (int64_t r = 0; r < n_rows; r += kSlab) {
    const int n_r = static_cast<int>(std::min<int64_t>(kSlab, n_rows - r));
    S::template run<kT>(w + r * row_bytes, row_bytes, n_r, n_blocks, a, y + r, ldy);
  }
}

// The QuantRowsFn: up to 4 tokens in one walk over the rows; more in groups
// of 4, each group walking a pass of kPassRows rows while it sits in L2.
//   w: [n_rows, row_bytes] bytes; xq: n_tok rows in S::kFmt; y: [n_tok, ldy]
template <typename S>
void quant_rows(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in,
                const uint8_t* const* xq, int n_tok, float* y, int64_t ldy) {
  const int64_t n_blocks = n_in / S::kBlockElems;
  const int64_t pass = n_tok <= kMaxTok ? n_rows : kPassRows;
  for (int64_t r0 = 0; r0 < n_rows; r0 += pass) {
    const int64_t rows = std::min(pass, n_rows - r0);
    const uint8_t* wp = w + r0 * row_bytes;
    for (int t0 = 0; t0 < n_tok; t0 += kMaxTok) {
      const int nt = std::min(kMaxTok, n_tok - t0);
      ActRow a[kMaxTok];
      for (int t = 0; t < nt; ++t) a[t] = act_row(S::kFmt, xq[t0 + t], n_in);
      float* yp = y + t0 * ldy + r0;
      with_token_count(nt, [&](auto n) {
        slabs<S, decltype(n)::value>(wp, row_bytes, rows, n_blocks, a, yp, ldy);
      });
    }
  }
}

}  // namespace q8avx2
}  // namespace

QuantRowsFn avx2_quant_rows(DType type) {
  using namespace q8avx2;
  switch (type) {
    case DType::kQ8_0:
      return quant_rows<LegacySlab<LegacyQ8_0>>;
    case DType::kQ4_0:
      return quant_rows<LegacySlab<LegacyQ45_0<false>>>;
    case DType::kQ5_0:
      return quant_rows<LegacySlab<LegacyQ45_0<true>>>;
    case DType::kQ4_K:
      return quant_rows<KSlab<KQ45<false>>>;
    case DType::kQ5_K:
      return quant_rows<KSlab<KQ45<true>>>;
    case DType::kQ6_K:
      return quant_rows<KSlab<KQ6>>;
    default:
      return nullptr;
  }
}

}  // namespace moelab::kernels_internal
