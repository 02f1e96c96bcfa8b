// The AVX-512 VNNI integer kernels: weight rows × 8-bit activations (see
// qdot.h). Include only from matmul_avx512.cpp (internal linkage, compiled
// with that file's flags; the family requires VNNI, see isa_supported).
//
// Layout: weight rows are unpacked, 16 at a time (a "slab": one zmm lane per
// row), into a per-thread scratch where step s of a block holds elements
// 4s..4s+3 of each of the 16 rows as unsigned bytes (64 bytes, ready for one
// vpdpbusd / vpmaddubsw), followed by the block's integer sub-block scales
// and mins (a 32-bit lane per row) and its float scales. The micro-kernel
// then walks a tile of 2 slabs × up to 4 tokens, broadcasting 4 activation
// bytes per step, so every lane accumulates one (row, token) pair and no
// horizontal sum is ever needed. Prefill unpacks a panel once per call and
// reuses it for every token. Decode (1-4 tokens) reads each weight once, so
// the 16-row transpose would cost more than it saves: it runs row-major
// kernels instead, whose integer lanes are transpose-reduced to the same
// per-block (legacy types, see "legacy decode") or per-super-block
// (K-quants, see "row-major decode") totals.
//
// Batch invariance (and equality with the scalar reference of qdot.cpp):
// each lane computes the exact integer total of each block (Q8_0, Q4_0,
// Q5_0) or super-block (K-quants), whatever the instruction order, then
// applies the float scales with exactly the scalar reference's operations,
// rounded one at a time (the *_round intrinsics keep the compiler from
// fusing them), in block order. So a (row, token) result depends on nothing else: not the
// token count, the tile, the lane, the panel, or the path.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/k_scales_x86.h"
#include "kernels/lane_reduce_x86.h"
#include "kernels/matmul_kernels.h"
#include "kernels/matmul_x86_nibble.h"
#include "kernels/page_touch_x86.h"
#include "kernels/qdot.h"
#include "kernels/quant_blocks.h"

namespace moelab::kernels_internal {
namespace {

constexpr int kSlab = 16;       // rows per slab (zmm lanes)
constexpr int kTileTokens = 4;  // tokens per micro-kernel tile
constexpr int kPanelSlabs = 2;  // slabs per tile (and per prefill panel)

// Float steps of the reference, one rounding each, never contracted.
constexpr int kRn = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
inline __m512 fmul(__m512 a, __m512 b) { return _mm512_mul_round_ps(a, b, kRn); }
inline __m512 fadd(__m512 a, __m512 b) { return _mm512_add_round_ps(a, b, kRn); }
inline __m512 fsub(__m512 a, __m512 b) { return _mm512_sub_round_ps(a, b, kRn); }

inline int32_t load32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// v[i] lane j (a 32-bit lane) ↔ v[j] lane i.
inline void transpose16(__m512i v[16]) {
  __m512i t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
  }
  // Rows 4g..4g+3: u[4g + j] 128-bit lane k holds element 4k + j of each.
  __m512i u[16];
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
    u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
  }
  for (int j = 0; j < 4; ++j) {
    const __m512i x0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44);
    const __m512i x1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
    const __m512i y0 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44);
    const __m512i y1 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
    v[0 + j] = _mm512_shuffle_i32x4(x0, y0, 0x88);
    v[4 + j] = _mm512_shuffle_i32x4(x0, y0, 0xDD);
    v[8 + j] = _mm512_shuffle_i32x4(x1, y1, 0x88);
    v[12 + j] = _mm512_shuffle_i32x4(x1, y1, 0xDD);
  }
}

inline __m512i cat256(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// The next block of a row, for the decode path (one block of many rows at a
// time: more streams than the hardware prefetcher follows). One prefetch per
// 64 bytes from p: with a block size known when compiled, a fixed run of
// prefetch instructions. Some lines are asked for twice (a 144-byte Q4_K
// super-block starts anywhere in a line); asking for exactly the lines that
// start in the block took a loop whose bookkeeping was half of the K-quant
// decode loop's instructions, and was 1-3% slower on the Q4_K_M model
// benches (decode steps alternating between variants in one process).
template <_mm_hint kHint = _MM_HINT_T0>
inline void prefetch_block(const void* p, int64_t bytes) {
  for (int64_t o = 0; o < bytes; o += 64) {
    _mm_prefetch(static_cast<const char*>(p) + o, kHint);
  }
}

// A decode call's first `bytes`, rows its far prefetch never covers, asked
// for into L2 at once: otherwise every call (a thread's claim of rows,
// often a small matrix) starts with them as serial demand misses. Skipped
// when the call continues where this thread's previous one ended (the next
// claim of a run): that call's far prefetch already asked for them. On the
// model benches (decode steps alternating between variants in one process)
// skipping them was 0.4-0.9% faster on Q4_K_M and Q8_0 models.
inline void head_start(const uint8_t* w, int64_t bytes, int64_t call_bytes) {
  thread_local const uint8_t* previous_end = nullptr;
  if (w != previous_end) prefetch_block<_MM_HINT_T1>(w, bytes);
  previous_end = w + call_bytes;
}

// ------------------------------------------------------------ unpackers
//
// Each writes units [u0, u0 + n_units) of n_r (<= 16) rows starting at w
// into dst, kUnitBytes per unit; lanes n_r..15 get zeros.

// The legacy types (Q8_0, Q4_0, Q5_0): blocks of 32 with one fp16 scale d,
// value d · (u - kOffset) for an unsigned byte u. Each traits struct reads
// blocks b[0] and (if two) b[1] of one row into a zmm of unsigned bytes in
// element order; lanes of a missing b[1] are zero.
struct LegacyQ8_0 {
  using Block = BlockQ8_0;
  static constexpr int kOffset = 128;
  static __m512i natural(const Block* b, bool two) {
    const __m256i k80 = _mm256_set1_epi8(static_cast<char>(0x80));
    const __m256i lo =
        _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[0].qs)), k80);
    const __m256i hi =
        two ? _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[1].qs)), k80)
            : _mm256_setzero_si256();
    return cat256(lo, hi);
  }
};

// Q4_0 / Q5_0: byte j of qs holds elements j (low nibble) and j + 16; Q5_0's
// 5th bit of element j is bit j of qh. (Decode reads these in block quads,
// see matmul_x86_nibble.h; this is the prefill panels' unpacker.)
template <bool kFive>
struct LegacyQ45_0 {
  using Block = std::conditional_t<kFive, BlockQ5_0, BlockQ4_0>;
  static constexpr int kOffset = kFive ? 16 : 8;
  static __m512i natural(const Block* b, bool two) {
    const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[0].qs));
    const __m128i q1 =
        two ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[1].qs)) : _mm_setzero_si128();
    // 128-bit lanes: low nibbles of b0, of b1, high nibbles of b0, of b1.
    const __m256i y = _mm256_inserti128_si256(_mm256_castsi128_si256(q0), q1, 1);
    __m512i v = _mm512_and_si512(cat256(y, _mm256_srli_epi16(y, 4)), _mm512_set1_epi8(0x0F));
    if constexpr (kFive) {
      const auto h0 = static_cast<uint32_t>(load32(b[0].qh));
      const auto h1 = two ? static_cast<uint32_t>(load32(b[1].qh)) : 0u;
      const uint64_t m = (h0 & 0xFFFFu) | (uint64_t{h1 & 0xFFFFu} << 16) |
                         (uint64_t{h0 >> 16} << 32) | (uint64_t{h1 >> 16} << 48);
      v = _mm512_mask_add_epi8(v, m, v, _mm512_set1_epi8(0x10));  // bit 4 is clear: add = or
    }
    return _mm512_shuffle_i32x4(v, v, 0xD8);  // 128-bit lanes 0, 2, 1, 3: element order
  }
};

// Slab unit = one block: 8 steps of unsigned bytes, then 16 float d.
template <typename L>
struct LegacyPanel {
  static constexpr int64_t kUnitElems = kQk;
  static constexpr int64_t kUnitBytes = 8 * 64 + 64;
  static void unpack(const uint8_t* w, int64_t row_bytes, int n_r, int64_t u0, int64_t n_units,
                     uint8_t* dst) {
    using Block = typename L::Block;
    __m512i v[16];
    for (int64_t u = 0; u < n_units; u += 2) {
      const bool two = u + 1 < n_units;
      for (int r = 0; r < 16; ++r) {
        v[r] = r < n_r ? L::natural(reinterpret_cast<const Block*>(w + r * row_bytes) + u0 + u, two)
                       : _mm512_setzero_si512();
      }
      transpose16(v);
      uint8_t* o = dst + u * kUnitBytes;
      for (int s = 0; s < 8; ++s) _mm512_store_si512(o + 64 * s, v[s]);
      if (two) {
        for (int s = 0; s < 8; ++s) _mm512_store_si512(o + kUnitBytes + 64 * s, v[8 + s]);
      }
      for (int k = 0; k < (two ? 2 : 1); ++k) {
        alignas(64) float d[16] = {};
        for (int r = 0; r < n_r; ++r) {
          d[r] = _cvtsh_ss(reinterpret_cast<const Block*>(w + r * row_bytes)[u0 + u + k].d);
        }
        _mm512_store_ps(reinterpret_cast<float*>(o + k * kUnitBytes + 512), _mm512_load_ps(d));
      }
    }
  }
};

// K-quant super-block unit: 64 steps of unsigned quants, then kGroups scale
// lanes (int16 pairs), 8 min lanes (int16 pairs, paired with the Q8_K sums
// per 16), d and dmin.
template <int kGroups>
struct KPanelLayout {
  static constexpr int64_t kUnitElems = kQkK;
  static constexpr int64_t kScOff = 64 * 64;
  static constexpr int64_t kMnOff = kScOff + 64 * kGroups;
  static constexpr int64_t kDOff = kMnOff + 64 * 8;
  static constexpr int64_t kDminOff = kDOff + 64;
  static constexpr int64_t kUnitBytes = kDminOff + 64;
};

// Q4_K / Q5_K: groups of 32 with scale sc_g and min m_g. The min lanes hold
// (m_g, m_g) against the sums of Q8_K's 16-element halves of group g.
template <bool kFive>
struct Q45KPanel : KPanelLayout<8> {
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  static void unpack(const uint8_t* w, int64_t row_bytes, int n_r, int64_t u0, int64_t n_units,
                     uint8_t* dst) {
    const __m256i nib = _mm256_set1_epi8(0x0F);
    const __m256i bit = _mm256_set1_epi8(0x10);
    __m512i v[16];
    for (int64_t u = 0; u < n_units; ++u) {
      uint8_t* o = dst + u * kUnitBytes;
      for (int c = 0; c < 4; ++c) {
        for (int r = 0; r < 16; ++r) {
          if (r >= n_r) {
            v[r] = _mm512_setzero_si512();
            continue;
          }
          const Block& b = reinterpret_cast<const Block*>(w + r * row_bytes)[u0 + u];
          const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * c));
          __m256i lo = _mm256_and_si256(q, nib);
          __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), nib);
          if constexpr (kFive) {
            // Bit 2c of qh[l] is the 5th bit of element 64c + l, bit 2c + 1
            // that of element 64c + 32 + l.
            const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh));
            const __m128i sl = _mm_cvtsi32_si128(4 - 2 * c), sr = _mm_cvtsi32_si128(2 * c - 4);
            const __m128i sl1 = _mm_cvtsi32_si128(3 - 2 * c), sr1 = _mm_cvtsi32_si128(2 * c - 3);
            lo = _mm256_or_si256(
                lo, _mm256_and_si256(2 * c <= 4 ? _mm256_sll_epi16(h, sl) : _mm256_srl_epi16(h, sr),
                                     bit));
            hi = _mm256_or_si256(
                hi, _mm256_and_si256(
                        2 * c + 1 <= 4 ? _mm256_sll_epi16(h, sl1) : _mm256_srl_epi16(h, sr1), bit));
          }
          v[r] = cat256(lo, hi);
        }
        transpose16(v);
        for (int s = 0; s < 16; ++s) _mm512_store_si512(o + 64 * (16 * c + s), v[s]);
      }
      // Scales and mins of each row as 32-bit (x, x) pairs, row-major, then
      // one transpose: v[g] = scale g of the 16 rows, v[8 + g] = min g.
      alignas(64) float d[16] = {}, dmin[16] = {};
      for (int r = 0; r < 16; ++r) {
        if (r >= n_r) {
          v[r] = _mm512_setzero_si512();
          continue;
        }
        const Block& b = reinterpret_cast<const Block*>(w + r * row_bytes)[u0 + u];
        const __m128i sm = k4_scale_bytes(b.scales);
        const __m256i sc32 = _mm256_cvtepu8_epi32(sm);
        const __m256i mn32 = _mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8));
        v[r] = cat256(_mm256_or_si256(sc32, _mm256_slli_epi32(sc32, 16)),
                      _mm256_or_si256(mn32, _mm256_slli_epi32(mn32, 16)));
        d[r] = _cvtsh_ss(b.d);
        dmin[r] = _cvtsh_ss(b.dmin);
        prefetch_block(&b + 1, sizeof(Block));
      }
      transpose16(v);
      for (int g = 0; g < 8; ++g) {
        _mm512_store_si512(o + kScOff + 64 * g, v[g]);
        _mm512_store_si512(o + kMnOff + 64 * g, v[8 + g]);
      }
      _mm512_store_ps(reinterpret_cast<float*>(o + kDOff), _mm512_load_ps(d));
      _mm512_store_ps(reinterpret_cast<float*>(o + kDminOff), _mm512_load_ps(dmin));
    }
  }
};

// Q6_K: groups of 16 with signed scales; quants kept as q + 32 (unsigned),
// the offset removed with 32 Σ_g sc_g Σa_g: the "min" lanes hold
// (sc_2g, sc_2g+1) against Q8_K's sums of groups 2g and 2g + 1.
struct Q6KPanel : KPanelLayout<16> {
  static void unpack(const uint8_t* w, int64_t row_bytes, int n_r, int64_t u0, int64_t n_units,
                     uint8_t* dst) {
    const __m256i nib = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8(0x30);
    __m512i v[16];
    for (int64_t u = 0; u < n_units; ++u) {
      uint8_t* o = dst + u * kUnitBytes;
      for (int c = 0; c < 4; ++c) {
        const int h = c / 2;
        for (int r = 0; r < 16; ++r) {
          if (r >= n_r) {
            v[r] = _mm512_setzero_si512();
            continue;
          }
          const BlockQ6_K& b = reinterpret_cast<const BlockQ6_K*>(w + r * row_bytes)[u0 + u];
          const __m256i la = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h));
          const __m256i lb =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h + 32));
          const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
          if (c % 2 == 0) {
            const __m256i e0 = _mm256_or_si256(_mm256_and_si256(la, nib),
                                               _mm256_and_si256(_mm256_slli_epi16(hb, 4), top));
            const __m256i e1 = _mm256_or_si256(_mm256_and_si256(lb, nib),
                                               _mm256_and_si256(_mm256_slli_epi16(hb, 2), top));
            v[r] = cat256(e0, e1);
          } else {
            const __m256i e2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), nib),
                                               _mm256_and_si256(hb, top));
            const __m256i e3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), nib),
                                               _mm256_and_si256(_mm256_srli_epi16(hb, 2), top));
            v[r] = cat256(e2, e3);
          }
        }
        transpose16(v);
        for (int s = 0; s < 16; ++s) _mm512_store_si512(o + 64 * (16 * c + s), v[s]);
      }
      // Scales as (s, s) pairs (v[g]) and as (s_2g, s_2g+1) pairs (the
      // int16 scales read as 32-bit lanes, m[g]), by row, then transposed.
      alignas(64) float d[16] = {}, dmin[16] = {};
      __m512i m[16];
      for (int r = 0; r < 16; ++r) {
        if (r >= n_r) {
          v[r] = m[r] = _mm512_setzero_si512();
          continue;
        }
        const BlockQ6_K& b = reinterpret_cast<const BlockQ6_K*>(w + r * row_bytes)[u0 + u];
        const __m256i s16 =
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
        const __m512i s32 = _mm512_cvtepi16_epi32(s16);
        v[r] = _mm512_or_si512(_mm512_and_si512(s32, _mm512_set1_epi32(0xFFFF)),
                               _mm512_slli_epi32(s32, 16));
        m[r] = _mm512_zextsi256_si512(s16);
        d[r] = _cvtsh_ss(b.d);
        prefetch_block(&b + 1, sizeof(BlockQ6_K));
      }
      transpose16(v);
      transpose16(m);
      for (int g = 0; g < 16; ++g) _mm512_store_si512(o + kScOff + 64 * g, v[g]);
      for (int g = 0; g < 8; ++g) _mm512_store_si512(o + kMnOff + 64 * g, m[g]);
      _mm512_store_ps(reinterpret_cast<float*>(o + kDOff), _mm512_load_ps(d));
      _mm512_store_ps(reinterpret_cast<float*>(o + kDminOff), _mm512_load_ps(dmin));
    }
  }
};

// ------------------------------------------------------------ micro-kernels
//
// acc[v][t] (lane = row of slab v, token t) += the units [u0, u0 + n_units)
// of each slab, whose unpacked data starts at slab[v] (unit u0 first).

template <typename L, int kRv, int kT>
void legacy_tile(const uint8_t* const* slab, int64_t u0, int64_t n_units, const ActRow* a,
                 __m512 (&acc)[kPanelSlabs][kTileTokens]) {
  constexpr int64_t kUb = LegacyPanel<L>::kUnitBytes;
  for (int64_t u = 0; u < n_units; ++u) {
    const int64_t b = u0 + u;
    __m512i is[kRv][kT];
    for (int t = 0; t < kT; ++t) {
      const __m512i corr = _mm512_set1_epi32(-L::kOffset * a[t].sum[b]);
      for (int v = 0; v < kRv; ++v) is[v][t] = corr;
    }
    for (int s = 0; s < 8; ++s) {
      __m512i wv[kRv];
      for (int v = 0; v < kRv; ++v) wv[v] = _mm512_load_si512(slab[v] + u * kUb + 64 * s);
      for (int t = 0; t < kT; ++t) {
        const __m512i av = _mm512_set1_epi32(load32(a[t].qs + kQk * b + 4 * s));
        for (int v = 0; v < kRv; ++v) is[v][t] = _mm512_dpbusd_epi32(is[v][t], wv[v], av);
      }
    }
    for (int t = 0; t < kT; ++t) {
      const __m512 da = _mm512_set1_ps(a[t].d[b]);
      for (int v = 0; v < kRv; ++v) {
        // Reference: acc += d_w * d_a * (float)isum.
        const __m512 dw = _mm512_load_ps(reinterpret_cast<const float*>(slab[v] + u * kUb + 512));
        acc[v][t] = fadd(acc[v][t], fmul(fmul(dw, da), _mm512_cvtepi32_ps(is[v][t])));
      }
    }
  }
}

template <typename P, bool kSix, int kRv, int kT>
void k_tile(const uint8_t* const* slab, int64_t u0, int64_t n_units, const ActRow* a,
            __m512 (&acc)[kPanelSlabs][kTileTokens]) {
  constexpr int64_t kUb = P::kUnitBytes;
  constexpr int kGroups = kSix ? 16 : 8;
  constexpr int kSteps = 64 / kGroups;
  for (int64_t u = 0; u < n_units; ++u) {
    const int64_t sb = u0 + u;
    __m512i is[kRv][kT];
    for (int v = 0; v < kRv; ++v)
      for (int t = 0; t < kT; ++t) is[v][t] = _mm512_setzero_si512();
    for (int g = 0; g < kGroups; ++g) {
      __m512i sc[kRv];
      for (int v = 0; v < kRv; ++v)
        sc[v] = _mm512_load_si512(slab[v] + u * kUb + P::kScOff + 64 * g);
      for (int k = 0; k < kSteps; ++k) {
        const int s = g * kSteps + k;
        __m512i wv[kRv];
        for (int v = 0; v < kRv; ++v) wv[v] = _mm512_load_si512(slab[v] + u * kUb + 64 * s);
        for (int t = 0; t < kT; ++t) {
          const __m512i av = _mm512_set1_epi32(load32(a[t].qs + kQkK * sb + 4 * s));
          for (int v = 0; v < kRv; ++v) {
            // At most 2 · 63 · 127 per 16-bit pair: no saturation.
            is[v][t] = _mm512_dpwssd_epi32(is[v][t], _mm512_maddubs_epi16(wv[v], av), sc[v]);
          }
        }
      }
    }
    __m512i mi[kRv][kT];
    for (int v = 0; v < kRv; ++v)
      for (int t = 0; t < kT; ++t) mi[v][t] = _mm512_setzero_si512();
    for (int g = 0; g < 8; ++g) {
      __m512i mn[kRv];
      for (int v = 0; v < kRv; ++v)
        mn[v] = _mm512_load_si512(slab[v] + u * kUb + P::kMnOff + 64 * g);
      for (int t = 0; t < kT; ++t) {
        const __m512i bs = _mm512_set1_epi32(load32(a[t].bsums + 16 * sb + 2 * g));
        for (int v = 0; v < kRv; ++v) mi[v][t] = _mm512_dpwssd_epi32(mi[v][t], mn[v], bs);
      }
    }
    for (int t = 0; t < kT; ++t) {
      const __m512 da = _mm512_set1_ps(a[t].d[sb]);
      for (int v = 0; v < kRv; ++v) {
        const __m512 d =
            _mm512_load_ps(reinterpret_cast<const float*>(slab[v] + u * kUb + P::kDOff));
        if constexpr (kSix) {
          // Reference: acc += d * da * (float)(Σ_g sc_g Σ (q - 32) a).
          const __m512i s = _mm512_sub_epi32(is[v][t], _mm512_slli_epi32(mi[v][t], 5));
          acc[v][t] = fadd(acc[v][t], fmul(fmul(d, da), _mm512_cvtepi32_ps(s)));
        } else {
          // Reference: acc += d * da * (float)sumi - dmin * da * (float)summ.
          const __m512 dm =
              _mm512_load_ps(reinterpret_cast<const float*>(slab[v] + u * kUb + P::kDminOff));
          const __m512 x = fmul(fmul(d, da), _mm512_cvtepi32_ps(is[v][t]));
          const __m512 y = fmul(fmul(dm, da), _mm512_cvtepi32_ps(mi[v][t]));
          acc[v][t] = fadd(acc[v][t], fsub(x, y));
        }
      }
    }
  }
}

template <typename L>
struct TileLegacy {
  using Panel = LegacyPanel<L>;
  template <int kRv, int kT>
  static void run(const uint8_t* const* slab, int64_t u0, int64_t n, const ActRow* a,
                  __m512 (&acc)[kPanelSlabs][kTileTokens]) {
    legacy_tile<L, kRv, kT>(slab, u0, n, a, acc);
  }
};
template <bool kFive>
struct TileQ45K {
  using Panel = Q45KPanel<kFive>;
  template <int kRv, int kT>
  static void run(const uint8_t* const* slab, int64_t u0, int64_t n, const ActRow* a,
                  __m512 (&acc)[kPanelSlabs][kTileTokens]) {
    k_tile<Panel, false, kRv, kT>(slab, u0, n, a, acc);
  }
};
struct TileQ6K {
  using Panel = Q6KPanel;
  template <int kRv, int kT>
  static void run(const uint8_t* const* slab, int64_t u0, int64_t n, const ActRow* a,
                  __m512 (&acc)[kPanelSlabs][kTileTokens]) {
    k_tile<Panel, true, kRv, kT>(slab, u0, n, a, acc);
  }
};

template <typename K, int kRv>
void tile_nt(int n_t, const uint8_t* const* slab, int64_t u0, int64_t n, const ActRow* a,
             __m512 (&acc)[kPanelSlabs][kTileTokens]) {
  switch (n_t) {
    case 1:
      K::template run<kRv, 1>(slab, u0, n, a, acc);
      break;
    case 2:
      K::template run<kRv, 2>(slab, u0, n, a, acc);
      break;
    case 3:
      K::template run<kRv, 3>(slab, u0, n, a, acc);
      break;
    default:
      K::template run<kRv, 4>(slab, u0, n, a, acc);
      break;
  }
}

template <typename K>
void tile(int n_v, int n_t, const uint8_t* const* slab, int64_t u0, int64_t n, const ActRow* a,
          __m512 (&acc)[kPanelSlabs][kTileTokens]) {
  if (n_v == 2) {
    tile_nt<K, 2>(n_t, slab, u0, n, a, acc);
  } else {
    tile_nt<K, 1>(n_t, slab, u0, n, a, acc);
  }
}

// ------------------------------------------------------------ row-major decode
//
// For 1-4 tokens the weights are read once and each element meets at most 4
// activations, so unpacking to slabs costs more than it saves. The decode
// kernel keeps the row-major layout instead (a zmm holds 64 elements of one
// row), walks a slab of 16 rows a chunk of super-blocks at a time, and keeps
// per (row, token, super-block) the integer lanes of sumi and of the min (or
// Q6_K offset) term. A transpose-reduce then turns 16 rows' lanes into the
// exact per-super-block totals with one row per lane, and from there the
// float steps are the slab kernel's, in the same super-block order: the same
// bits as prefill and the scalar reference (integer sums are exact whatever
// the order). The transpose-reduces are in lane_reduce_x86.h.

// Q6_K decode: 16-bit lane j of step c's scale vector takes scale
// 4c + j / 8 (groups of 16).
inline __m512i q6k_scale_index(int c) {
  alignas(64) int16_t idx[32];
  for (int j = 0; j < 32; ++j) idx[j] = static_cast<int16_t>(4 * c + j / 8);
  return _mm512_load_si512(idx);
}

// Q4_K/Q5_K decode reads qs 64 bytes at a time: the low nibbles of
// qs[64h, 64h + 64) are groups 4h and 4h + 2, the high nibbles groups 4h + 1
// and 4h + 3 (the activations are permuted to match, see k_matmul). 16-bit
// lane j of step s = 2h + k then takes scale 4h + k + 2 (j / 16).
// As a vpshufb control on the scale bytes broadcast to every 128-bit lane:
// 16-bit lane j (128-bit lane j / 8) takes byte 4h + k + 2 (j / 16) and a
// zero high byte, the scale zero-extended (scales are 6-bit). One in-lane
// byte shuffle per step instead of a 16-bit cross-lane permute.
inline __m512i paired_scale_shuffle(int s) {
  alignas(64) int8_t ctl[64];
  for (int j = 0; j < 32; ++j) {
    ctl[2 * j] = static_cast<int8_t>(4 * (s / 2) + s % 2 + 2 * (j / 16));
    ctl[2 * j + 1] = -1;  // high byte: zero
  }
  return _mm512_load_si512(ctl);
}

// Super-blocks per chunk: a row's chunk is read in one sequential run, and the
// integer lanes of a chunk (16 rows × kT tokens × 96 bytes each) stay within
// 12 KiB of L1.
// Decode prefetch distance in rows: one block per block read, so requests
// stay spread over the walk (a burst per row overflowed the fill buffers).
constexpr int64_t kPrefetchRows = 4;
// And into L2, further on: one core's demand misses and near prefetches
// alone keep too few lines in flight to cover memory latency. On the
// streaming microbenchmark (BM_DecodeFromMemory, two threads) 32 rows gave
// about 10% more weight bytes/s than none, 16 rows 4% more than 32, while
// 10 and 24 were no better than 16. On the model benches (decode steps
// alternating between variants in one process), none was 12% slower, 10 and
// 24 rows 1% slower than 16.
// Past that, one line of each page is touched (touch_page_ahead).
constexpr int64_t kFarPrefetchRows = 16;

template <int kT>
constexpr int64_t decode_chunk() {
  return kT == 1 ? 8 : kT == 2 ? 4 : 2;
}

// Super-blocks whose Q4_K/Q5_K scales are decoded together, one per 128-bit
// lane (k4_scale_bytes_x4), and whose min terms share one vector.
constexpr int64_t kScaleQuad = 4;

template <int kT>
constexpr int64_t decode_quads() {
  return (decode_chunk<kT>() + kScaleQuad - 1) / kScaleQuad;
}

// The prefetches of one super-block of the decode walk: `ahead` bytes on
// into L1, kFarPrefetchRows rows on into L2, and a page touch past that.
template <typename Block>
inline void k_prefetch(const Block& b, int64_t row_bytes, int64_t ahead) {
  const auto* p = reinterpret_cast<const uint8_t*>(&b);
  prefetch_block<_MM_HINT_T0>(p + ahead, sizeof(Block));
  const uint8_t* far = p + kFarPrefetchRows * row_bytes;
  prefetch_block<_MM_HINT_T1>(far, sizeof(Block));
  touch_page_ahead(far, sizeof(Block));
}

// The sumi lanes of super-block i for kT tokens: is[t * kChunk] (is points
// at token 0's slot of the super-block). qv holds the 4 steps of 64 quants,
// sv each step's 16-bit scales.
template <int kT>
inline void k_sumi_lanes(const __m512i (&qv)[4], const __m512i (&sv)[4], const ActRow* a, int64_t i,
                         __m512i* is) {
  for (int t = 0; t < kT; ++t) {
    __m512i acc = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      const __m512i av = _mm512_loadu_si512(a[t].qs + i * kQkK + 64 * c);
      // At most 2 · 63 · 127 per 16-bit pair: no saturation.
      acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(qv[c], av), sv[c]);
    }
    is[t * decode_chunk<kT>()] = acc;
  }
}

// Q6_K: the integer lanes of one row's super-blocks [i0, i0 + n) for kT
// tokens: is[t * kChunk + k] = sumi lanes, mn[...] = offset lanes; the
// super-blocks' float scales go straight to the slab's table, d[k * kSlab],
// the row's column of it.
template <int kT>
inline void q6k_row_lanes(const BlockQ6_K* blk, int64_t row_bytes, int64_t ahead, int64_t i0,
                          int64_t n, const ActRow* a, const __m512i (&sidx)[4], __m512i* is,
                          __m256i* mn, uint16_t* d) {
  constexpr int64_t kChunk = decode_chunk<kT>();
  const __m512i nib = _mm512_set1_epi8(0x0F);
  const __m512i top = _mm512_set1_epi8(0x30);
  const __m512i shl_01 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
  const __m512i shr_23 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = i0 + k;
    const BlockQ6_K& b = blk[i];
    k_prefetch(b, row_bytes, ahead);
    // The 16 scales widened to 16 bits, permuted per step.
    const __m256i s16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
    const __m512i scv = _mm512_zextsi256_si512(s16);
    // Half h (128 elements): ql[64h + l] holds elements l (low nibble) and
    // 64 + l (high), ql[64h + 32 + l] elements 32 + l and 96 + l; bits
    // 2j..2j+1 of qh[32h + l] are the top bits of element 32j + l. A zmm
    // of ql then covers steps 2h (low nibbles) and 2h + 1 (high), and one
    // variable shift of qh (the same 32 bytes in both 256-bit halves) moves
    // both halves' top bits to bits 4-5 at once.
    __m512i qv[4];
    for (int h = 0; h < 2; ++h) {
      const __m512i l = _mm512_loadu_si512(b.ql + 64 * h);
      const __m512i hb = _mm512_broadcast_i64x4(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h)));
      // (low bits) | (shifted qh & 0x30): imm 0xF8 = A | (B & C).
      qv[2 * h] = _mm512_ternarylogic_epi32(_mm512_and_si512(l, nib), _mm512_sllv_epi16(hb, shl_01),
                                            top, 0xF8);
      qv[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(l, 4), nib),
                                                _mm512_srlv_epi16(hb, shr_23), top, 0xF8);
    }
    d[k * kSlab] = b.d;
    __m512i sv[4];
    for (int c = 0; c < 4; ++c) sv[c] = _mm512_permutexvar_epi16(sidx[c], scv);
    k_sumi_lanes<kT>(qv, sv, a, i, is + k);
    for (int t = 0; t < kT; ++t) {
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t].bsums + 16 * i));
      mn[t * kChunk + k] = _mm256_madd_epi16(s16, bs);
    }
  }
}

// Q4_K/Q5_K quants of one super-block as the 4 steps' bytes. Step 2h: the
// low nibbles of one 64-byte load of qs (groups 4h and 4h + 2), step 2h + 1
// its high nibbles (groups 4h + 1 and 4h + 3).
template <typename Block>
inline void k45_quants(const Block& b, __m512i (&qv)[4]) {
  const __m512i nib = _mm512_set1_epi8(0x0F);
  for (int h = 0; h < 2; ++h) {
    const __m512i v = _mm512_loadu_si512(b.qs + 64 * h);
    qv[2 * h] = _mm512_and_si512(v, nib);
    qv[2 * h + 1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
  }
  if constexpr (std::is_same_v<Block, BlockQ5_K>) {
    // Bit g of qh[l] is the 5th bit of element 32g + l. Shifting the
    // 16-bit lanes of qh (both 256-bit halves) left by 4 - (g mod 4) puts
    // bit g mod 4 at bit 4 of each byte; groups 4-7 read qh >> 4.
    const __m512i h0 =
        _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh)));
    const __m512i hq[2] = {h0, _mm512_srli_epi16(h0, 4)};
    const __m512i shl_02 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shl_13 = _mm512_inserti64x4(_mm512_set1_epi16(3), _mm256_set1_epi16(1), 1);
    const __m512i bit = _mm512_set1_epi8(0x10);
    for (int h = 0; h < 2; ++h) {
      // imm 0xF8 = A | (B & C).
      qv[2 * h] = _mm512_ternarylogic_epi32(qv[2 * h], _mm512_sllv_epi16(hq[h], shl_02), bit, 0xF8);
      qv[2 * h + 1] =
          _mm512_ternarylogic_epi32(qv[2 * h + 1], _mm512_sllv_epi16(hq[h], shl_13), bit, 0xF8);
    }
  }
}

// Q4_K/Q5_K: the integer lanes of one row's super-blocks [i0, i0 + n) for kT
// tokens: is[t * kChunk + k] = sumi lanes; mq[t * kQuads + k / 4] = min
// lanes of super-blocks k..k+3, 128-bit lane k mod 4 each (reduce_quad
// takes them apart); d/dmin as in q6k_row_lanes.
//
// The scales of 4 super-blocks are decoded at once, one per 128-bit lane,
// and the mins meet the activations' sums per 32 (a[t].bsums32) in one
// multiply: per super-block that is 3 vector instructions instead of 11 (a
// 128-bit decode, its broadcast and the min products each), on ports that
// bound this loop when its data is in cache.
template <typename Block, int kT>
inline void k45_row_lanes(const Block* blk, int64_t row_bytes, int64_t ahead, int64_t i0, int64_t n,
                          const ActRow* a, const __m512i (&sidx)[4], __m512i* is, __m512i* mq,
                          uint16_t* d, uint16_t* dmin) {
  constexpr int64_t kQuads = decode_quads<kT>();
  // 16-bit lane g of each 128-bit lane: min g (byte 8 + g), zero-extended.
  const __m512i min_ctl = _mm512_broadcast_i32x4(
      _mm_setr_epi8(8, -1, 9, -1, 10, -1, 11, -1, 12, -1, 13, -1, 14, -1, 15, -1));
  for (int64_t k0 = 0; k0 < n; k0 += kScaleQuad) {
    const int64_t nq = std::min(kScaleQuad, n - k0);
    const Block* q = blk + i0 + k0;
    // k4_scale_bytes_x4 reads 16 bytes from each block's scales.
    __m512i raw =
        _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q[0].scales)));
    if (nq > 1)
      raw = _mm512_inserti32x4(raw, _mm_loadu_si128(reinterpret_cast<const __m128i*>(q[1].scales)),
                               1);
    if (nq > 2)
      raw = _mm512_inserti32x4(raw, _mm_loadu_si128(reinterpret_cast<const __m128i*>(q[2].scales)),
                               2);
    if (nq > 3)
      raw = _mm512_inserti32x4(raw, _mm_loadu_si128(reinterpret_cast<const __m128i*>(q[3].scales)),
                               3);
    const __m512i sm = k4_scale_bytes_x4(raw);
    // Each super-block's 8 scale bytes are broadcast from memory below: a
    // load, where a register broadcast would take a shuffle.
    alignas(64) uint8_t scales[64];
    _mm512_store_si512(scales, sm);
    const __m512i mins = _mm512_shuffle_epi8(sm, min_ctl);
    for (int t = 0; t < kT; ++t) {
      // At most 2 · 63 · 32 · 128 per lane.
      mq[t * kQuads + k0 / kScaleQuad] =
          _mm512_madd_epi16(mins, _mm512_loadu_si512(a[t].bsums32 + 8 * (i0 + k0)));
    }
    for (int64_t j = 0; j < nq; ++j) {
      const int64_t k = k0 + j;
      const int64_t i = i0 + k;
      const Block& b = blk[i];
      k_prefetch(b, row_bytes, ahead);
      __m512i qv[4];
      k45_quants(b, qv);
      d[k * kSlab] = b.d;
      dmin[k * kSlab] = b.dmin;
      // The 8 scale bytes in every 128-bit lane, shuffled per step.
      const __m512i scv =
          _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(scales + 16 * j)));
      __m512i sv[4];
      for (int c = 0; c < 4; ++c) sv[c] = _mm512_shuffle_epi8(scv, sidx[c]);
      k_sumi_lanes<kT>(qv, sv, a, i, is + k);
    }
  }
}

// The vector of one slot of k_decode_slab's min / offset lanes.
template <bool kSix>
struct MinLanesOf {
  using type = __m512i;
};
template <>
struct MinLanesOf<true> {
  using type = __m256i;
};

// Rows [0, n_r) (n_r <= 16) of w for kT tokens, stored to y[t * ldy + r].
template <typename Block, bool kSix, int kT>
void k_decode_slab(const uint8_t* w, int64_t row_bytes, int n_r, int64_t n_sb, const ActRow* a,
                   float* y, int64_t ldy) {
  constexpr int64_t kChunk = decode_chunk<kT>();
  constexpr int64_t kQuads = decode_quads<kT>();
  __m512i sidx[4];
  for (int c = 0; c < 4; ++c) sidx[c] = kSix ? q6k_scale_index(c) : paired_scale_shuffle(c);
  // Lanes by row: [row][t * kChunk + k]; the min / offset lanes Q6_K's per
  // super-block (256-bit, [row][t * kChunk + k]), Q4_K/Q5_K's per 4
  // super-blocks ([row][t * kQuads + k / 4]).
  using MinLanes = typename MinLanesOf<kSix>::type;
  constexpr int64_t kMinSlots = kT * (kSix ? kChunk : kQuads);
  alignas(64) __m512i is[kSlab][kT * kChunk];
  alignas(64) MinLanes mn[kSlab][kMinSlots];
  alignas(64) uint16_t d[kChunk][kSlab] = {}, dmin[kChunk][kSlab] = {};
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t i0 = 0; i0 < n_sb; i0 += kChunk) {
    const int64_t n = std::min(kChunk, n_sb - i0);
    for (int r = 0; r < kSlab; ++r) {
      if (r >= n_r) {
        for (auto& v : is[r]) v = _mm512_setzero_si512();
        for (auto& v : mn[r]) v = MinLanes{};
        continue;
      }
      const auto* blk = reinterpret_cast<const Block*>(w + r * row_bytes);
      // What this walk reads kPrefetchRows rows from now, in bytes from the
      // block it reads: the same chunk of a later row, or at the slab's end
      // the next chunk of one of its first rows.
      const int64_t ahead = r + kPrefetchRows < kSlab || i0 + kChunk >= n_sb
                                ? kPrefetchRows * row_bytes
                                : (kPrefetchRows - kSlab) * row_bytes +
                                      kChunk * static_cast<int64_t>(sizeof(Block));
      if constexpr (kSix) {
        q6k_row_lanes<kT>(blk, row_bytes, ahead, i0, n, a, sidx, is[r], mn[r], &d[0][r]);
      } else {
        k45_row_lanes<Block, kT>(blk, row_bytes, ahead, i0, n, a, sidx, is[r], mn[r], &d[0][r],
                                 &dmin[0][r]);
      }
    }
    for (int64_t k0 = 0; k0 < n; k0 += kScaleQuad) {
      // Q4_K/Q5_K: the min totals of super-blocks k0..k0+3, one row per lane.
      __m512i quad_mins[kT][kScaleQuad];
      if constexpr (!kSix) {
        for (int t = 0; t < kT; ++t) {
          __m512i m[kSlab];
          for (int r = 0; r < kSlab; ++r) m[r] = mn[r][t * kQuads + k0 / kScaleQuad];
          reduce_quad(m, quad_mins[t]);
        }
      }
      for (int64_t k = k0; k < std::min(n, k0 + kScaleQuad); ++k) {
        const __m512 dv =
            _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d[k])));
        const __m512 dmv =
            _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(dmin[k])));
        for (int t = 0; t < kT; ++t) {
          __m512i lanes[kSlab];
          for (int r = 0; r < kSlab; ++r) lanes[r] = is[r][t * kChunk + k];
          const __m512i si = reduce16(lanes);
          const __m512 da = _mm512_set1_ps(a[t].d[i0 + k]);
          if constexpr (kSix) {
            __m256i mlanes[kSlab];
            for (int r = 0; r < kSlab; ++r) mlanes[r] = mn[r][t * kChunk + k];
            const __m512i mi = reduce16x8(mlanes);
            // Reference: acc += d * da * (float)(Σ_g sc_g Σ (q - 32) a).
            const __m512i s = _mm512_sub_epi32(si, _mm512_slli_epi32(mi, 5));
            acc[t] = fadd(acc[t], fmul(fmul(dv, da), _mm512_cvtepi32_ps(s)));
          } else {
            // Reference: acc += d * da * (float)sumi - dmin * da * (float)summ.
            const __m512 x = fmul(fmul(dv, da), _mm512_cvtepi32_ps(si));
            const __m512 z = fmul(fmul(dmv, da), _mm512_cvtepi32_ps(quad_mins[t][k - k0]));
            acc[t] = fadd(acc[t], fsub(x, z));
          }
        }
      }
    }
  }
  const __mmask16 m = static_cast<__mmask16>((1u << n_r) - 1);
  for (int t = 0; t < kT; ++t) _mm512_mask_storeu_ps(y + t * ldy, m, acc[t]);
}

template <typename Block, bool kSix, int kT>
void k_decode_nt(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in, const ActRow* a,
                 float* y, int64_t ldy) {
  // Half the far distance: 16 rows were 0.3-0.9% slower on the Q4_K_M MoE
  // models, 32 rows 1.5% slower, 4 rows the same as 8 (alternating decode
  // steps); the rows between are left to the near and hardware prefetchers.
  head_start(w, std::min(n_rows, kFarPrefetchRows / 2) * row_bytes, n_rows * row_bytes);
  for (int64_t r = 0; r < n_rows; r += kSlab) {
    const int n_r = static_cast<int>(std::min<int64_t>(kSlab, n_rows - r));
    k_decode_slab<Block, kSix, kT>(w + r * row_bytes, row_bytes, n_r, n_in / kQkK, a, y + r, ldy);
  }
}

template <typename Block, bool kSix>
void k_decode(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in, const ActRow* a,
              int n_tok, float* y, int64_t ldy) {
  with_token_count(n_tok, [&](auto n) {
    k_decode_nt<Block, kSix, decltype(n)::value>(w, row_bytes, n_rows, n_in, a, y, ldy);
  });
}

// ------------------------------------------------------------ legacy decode
//
// The row-major decode kernel for Q8_0 / Q4_0 / Q5_0 (1-4 tokens): a row is
// read in units of a few blocks (Q8_0: pairs, one zmm of quants; Q4_0/Q5_0:
// quads, see matmul_x86_nibble.h), vpdpbusd leaves a few lanes per block,
// and after a slab of 16 rows the unit's reduce turns them into the exact
// per-block totals with one row per lane; the offset correction and the
// float steps are then the slab kernel's, in block order (same bits as
// prefill and the scalar reference).


// A decode unit (see QuadUnit for the interface): two Q8_0 blocks of a row
// in one zmm.
struct PairUnit {
  using Block = BlockQ8_0;
  static constexpr int kBlocks = 2;
  static constexpr int kOffset = LegacyQ8_0::kOffset;
  static constexpr int64_t kActBytes = 64;
  // Where in the unit the far prefetch points: its middle. A request for
  // every line (two per pair, or exactly the lines that start in it) was
  // 4-5% slower on the model benches, one per two pairs 12% slower.
  static constexpr int64_t kFarOffset = 32;
  using Quants = __m512i;
  static Quants load(const Block* b, int nb) { return LegacyQ8_0::natural(b, nb == 2); }
  static __m512i dot(const Quants& q, const int8_t* av) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, _mm512_load_si512(av));
  }
  static void reduce(const __m512i* lanes, __m512i* out) { reduce_pair(lanes, &out[0], &out[1]); }
  // The 64 activation bytes of unit u (an odd last block padded with zeros).
  static void permute_act(const int8_t* qs, int64_t n_blocks, int64_t u, uint8_t* dst) {
    const __mmask64 m = 2 * u + 1 < n_blocks ? ~__mmask64{0} : __mmask64{0xFFFFFFFFu};
    _mm512_store_si512(dst, _mm512_maskz_loadu_epi8(m, qs + 64 * u));
  }
};

// The unit each legacy type's decode walks in.
template <typename L>
struct DecodeUnitOf {
  using type = PairUnit;
};
template <bool kFive>
struct DecodeUnitOf<LegacyQ45_0<kFive>> {
  using type = QuadUnit<kFive>;
};

constexpr int64_t kLegacyPrefetchRows = 12;
// The legacy far prefetch looks at least this far ahead: 16 rows of short
// rows are too close to cover memory latency (MLA's per-head W_UK, 128
// elements a row: 16 KiB ahead instead of 2 KiB read 19% more bytes/s from
// memory; 32 KiB 2% less than 16). K-quants gained nothing from it.
constexpr int64_t kLegacyFarMinBytes = 16 << 10;
inline int64_t legacy_far_bytes(int64_t row_bytes) {
  return std::max(kFarPrefetchRows * row_bytes, kLegacyFarMinBytes);
}
// Units per chunk: 16 blocks (8 for 3-4 tokens), so the integer lanes of a
// chunk (16 rows × kT tokens × units) stay within 16 KiB of L1.
template <typename U, int kT>
constexpr int64_t legacy_chunk_units() {
  return (kT <= 2 ? 16 : 8) / U::kBlocks;
}

// Rows [0, n_r) (n_r <= 16) of w for kT tokens, stored to y[t * ldy + r].
// aq[t]: token t's quants in U's layout, U::kActBytes per unit.
// kFixedBlocks > 0: rows of exactly that many blocks, known when compiled.
// kWholeUnits: rows of whole units (no unit's blocks run past the row end).
template <typename U, int kT, int64_t kFixedBlocks = 0, bool kWholeUnits = false>
void legacy_decode_slab(const uint8_t* w, int64_t row_bytes, int n_r, int64_t n_blocks_arg,
                        const int8_t* const* aq, const ActRow* a, float* y, int64_t ldy) {
  const int64_t n_blocks = kFixedBlocks > 0 ? kFixedBlocks : n_blocks_arg;
  using Block = typename U::Block;
  constexpr int kB = U::kBlocks;
  constexpr int64_t kUnits = legacy_chunk_units<U, kT>();
  constexpr int64_t kUnitBytes = kB * sizeof(Block);
  alignas(64) __m512i is[kSlab][kT * kUnits];
  alignas(64) uint16_t d[kB * kUnits][kSlab] = {};
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  const int64_t n_units = (n_blocks + kB - 1) / kB;
  const int64_t far = legacy_far_bytes(row_bytes);
  for (int64_t u0 = 0; u0 < n_units; u0 += kUnits) {
    const int64_t n = std::min(kUnits, n_units - u0);
    for (int r = 0; r < kSlab; ++r) {
      if (r >= n_r) {
        for (int j = 0; j < kT * kUnits; ++j) is[r][j] = _mm512_setzero_si512();
        continue;
      }
      const auto* blk = reinterpret_cast<const Block*>(w + r * row_bytes);
      // What this walk reads kLegacyPrefetchRows rows from now: the same
      // chunk of a later row, or the next chunk of an earlier one at the
      // slab's end.
      const uint8_t* ahead =
          reinterpret_cast<const uint8_t*>(blk + kB * u0) +
          (r + kLegacyPrefetchRows < kSlab || u0 + kUnits >= n_units
               ? kLegacyPrefetchRows * row_bytes
               : (kLegacyPrefetchRows - kSlab) * row_bytes + kUnits * kUnitBytes);
      // One near and one far prefetch per unit (about one per line: a unit
      // is 36-88 bytes).
      _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
      for (int64_t k = 0; k < n; ++k) {
        const int64_t b = kB * (u0 + k);
        const int nb = kWholeUnits ? kB : static_cast<int>(std::min<int64_t>(kB, n_blocks - b));
        _mm_prefetch(reinterpret_cast<const char*>(ahead + k * kUnitBytes + 64), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(blk + b) + far + U::kFarOffset, _MM_HINT_T1);
        const typename U::Quants q = U::load(blk + b, nb);
        for (int t = 0; t < kT; ++t) {
          is[r][t * kUnits + k] = U::dot(q, aq[t] + U::kActBytes * (u0 + k));
        }
        d[kB * k][r] = blk[b].d;  // a unit holds at least one block
        for (int j = 1; j < kB; ++j) d[kB * k + j][r] = j < nb ? blk[b + j].d : 0;
      }
    }
    for (int64_t k = 0; k < n; ++k) {
      const int64_t b = kB * (u0 + k);
      __m512i s[kT][kB];
      for (int t = 0; t < kT; ++t) {
        __m512i lanes[kSlab];
        for (int r = 0; r < kSlab; ++r) lanes[r] = is[r][t * kUnits + k];
        U::reduce(lanes, s[t]);
      }
      for (int j = 0; j < kB && b + j < n_blocks; ++j) {
        const __m512 dv =
            _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d[kB * k + j])));
        for (int t = 0; t < kT; ++t) {
          // Reference: acc += d_w * d_a * (float)isum.
          const __m512i isum =
              _mm512_add_epi32(s[t][j], _mm512_set1_epi32(-U::kOffset * a[t].sum[b + j]));
          const __m512 da = _mm512_set1_ps(a[t].d[b + j]);
          acc[t] = fadd(acc[t], fmul(fmul(dv, da), _mm512_cvtepi32_ps(isum)));
        }
      }
    }
  }
  const __mmask16 m = static_cast<__mmask16>((1u << n_r) - 1);
  for (int t = 0; t < kT; ++t) _mm512_mask_storeu_ps(y + t * ldy, m, acc[t]);
}

// ------------------------------------------------------------ the driver

struct Q8Scratch {
  std::vector<uint8_t> bytes;
  std::vector<ActRow> acts;
  uint8_t* aligned(int64_t n) {
    if (static_cast<int64_t>(bytes.size()) < n + 64) bytes.resize(n + 64);
    return bytes.data() + (64 - reinterpret_cast<uintptr_t>(bytes.data()) % 64) % 64;
  }
};

inline Q8Scratch& q8_scratch() {
  thread_local Q8Scratch s;
  return s;
}

// The slab (prefill) path: a panel of 32 rows unpacked once, then every
// tile of 4 tokens walks it.
template <typename K, ActFormat kFmt>
void q8_matmul(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in,
               const uint8_t* const* xq, int n_tok, float* y, int64_t ldy) {
  using P = typename K::Panel;
  const int64_t n_units = n_in / P::kUnitElems;
  Q8Scratch& scr = q8_scratch();
  scr.acts.resize(n_tok);
  for (int t = 0; t < n_tok; ++t) scr.acts[t] = act_row(kFmt, xq[t], n_in);
  const ActRow* acts = scr.acts.data();
  constexpr int64_t kPanelRows = kPanelSlabs * kSlab;
  const int64_t slab_bytes = n_units * P::kUnitBytes;
  uint8_t* buf = scr.aligned(kPanelSlabs * slab_bytes);
  for (int64_t p = 0; p < n_rows; p += kPanelRows) {
    const int64_t rows = std::min(kPanelRows, n_rows - p);
    const int n_v = static_cast<int>((rows + kSlab - 1) / kSlab);
    const uint8_t* slab[kPanelSlabs] = {buf, buf + slab_bytes};
    for (int v = 0; v < n_v; ++v) {
      const int n_r = static_cast<int>(std::min<int64_t>(kSlab, rows - v * kSlab));
      P::unpack(w + (p + v * kSlab) * row_bytes, row_bytes, n_r, 0, n_units, buf + v * slab_bytes);
    }
    for (int t0 = 0; t0 < n_tok; t0 += kTileTokens) {
      const int n_t = std::min(kTileTokens, n_tok - t0);
      __m512 acc[kPanelSlabs][kTileTokens];
      for (auto& row : acc)
        for (auto& x : row) x = _mm512_setzero_ps();
      tile<K>(n_v, n_t, slab, 0, n_units, acts + t0, acc);
      for (int v = 0; v < n_v; ++v) {
        const int64_t n_r = std::min<int64_t>(kSlab, rows - v * kSlab);
        const __mmask16 m = static_cast<__mmask16>((1u << n_r) - 1);
        for (int t = 0; t < n_t; ++t) {
          _mm512_mask_storeu_ps(y + (t0 + t) * ldy + p + v * kSlab, m, acc[v][t]);
        }
      }
    }
  }
}

// Legacy types: the row-major decode kernel for 1-4 tokens, slabs beyond.
// Decode first permutes each token's quants into its unit's layout, once
// per call.
template <typename L>
void legacy_matmul(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in,
                   const uint8_t* const* xq, int n_tok, float* y, int64_t ldy) {
  if (n_tok > kTileTokens) {
    q8_matmul<TileLegacy<L>, ActFormat::kQ8_0>(w, row_bytes, n_rows, n_in, xq, n_tok, y, ldy);
    return;
  }
  using U = typename DecodeUnitOf<L>::type;
  ActRow a[kTileTokens];
  const int8_t* aq[kTileTokens];
  const int64_t n_blocks = n_in / kQk;
  const int64_t n_units = (n_blocks + U::kBlocks - 1) / U::kBlocks;
  uint8_t* buf = q8_scratch().aligned(n_tok * n_units * U::kActBytes);
  for (int t = 0; t < n_tok; ++t) {
    a[t] = act_row(ActFormat::kQ8_0, xq[t], n_in);
    uint8_t* dst = buf + t * n_units * U::kActBytes;
    aq[t] = reinterpret_cast<const int8_t*>(dst);
    for (int64_t u = 0; u < n_units; ++u) {
      U::permute_act(a[t].qs, n_blocks, u, dst + u * U::kActBytes);
    }
  }
  // Half the far distance, as for K-quants (about 0.4% faster than all of
  // it on the Q8_0 MoE models, alternating decode steps).
  head_start(w, std::min(n_rows * row_bytes, legacy_far_bytes(row_bytes) / 2), n_rows * row_bytes);
  with_token_count(n_tok, [&](auto n) {
    for (int64_t r = 0; r < n_rows; r += kSlab) {
      const int n_r = static_cast<int>(std::min<int64_t>(kSlab, n_rows - r));
      // 128-element rows (MLA's per-head W_UK: one Q5_0 quad, two Q8_0
      // pairs) with the row's unit loop and partial-unit checks compiled
      // away: on BM_DecodeFromMemory's 128x8192 shape, two threads, Q5_0
      // ran about 20% faster (it is bound by instructions, not memory).
      if (n_blocks == 4) {
        legacy_decode_slab<U, decltype(n)::value, 4>(w + r * row_bytes, row_bytes, n_r, n_blocks,
                                                     aq, a, y + r, ldy);
      } else if (n_blocks % U::kBlocks == 0) {
        // The usual rows: every unit whole, so its loads and scales need no
        // checks (1% faster on Q8_0 MoE models, alternating decode steps;
        // also compiling each chunk's unit count in was 1% slower).
        legacy_decode_slab<U, decltype(n)::value, 0, true>(w + r * row_bytes, row_bytes, n_r,
                                                           n_blocks, aq, a, y + r, ldy);
      } else {
        legacy_decode_slab<U, decltype(n)::value>(w + r * row_bytes, row_bytes, n_r, n_blocks, aq,
                                                  a, y + r, ldy);
      }
    }
  });
}

// K-quants: the row-major decode kernel for 1-4 tokens, slabs beyond.
template <typename K, typename Block, bool kSix>
void k_matmul(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in,
              const uint8_t* const* xq, int n_tok, float* y, int64_t ldy) {
  if (n_tok > kTileTokens) {
    q8_matmul<K, ActFormat::kQ8_K>(w, row_bytes, n_rows, n_in, xq, n_tok, y, ldy);
    return;
  }
  ActRow a[kTileTokens];
  for (int t = 0; t < n_tok; ++t) a[t] = act_row(ActFormat::kQ8_K, xq[t], n_in);
  if constexpr (!kSix) {
    // Each token's quants in the paired layout of k45_row_lanes (per 128
    // elements, groups 0, 2, 1, 3 of 32), then its sums per 32 (bsums32),
    // padded for k45_row_lanes' loads of 4 super-blocks' worth.
    const int64_t sums_bytes = n_in / 32 * 2 + 64;
    const int64_t stride = n_in + sums_bytes;
    uint8_t* buf = q8_scratch().aligned(n_tok * stride);
    for (int t = 0; t < n_tok; ++t) {
      auto* sums = reinterpret_cast<int16_t*>(buf + t * stride + n_in);
      for (int64_t g = 0; g < n_in / 32; ++g) {
        sums[g] = static_cast<int16_t>(a[t].bsums[2 * g] + a[t].bsums[2 * g + 1]);
      }
      std::memset(sums + n_in / 32, 0, 64);
      a[t].bsums32 = sums;
      int8_t* dst = reinterpret_cast<int8_t*>(buf + t * stride);
      for (int64_t e = 0; e < n_in; e += 128) {
        const __m512i lo = _mm512_loadu_si512(a[t].qs + e);
        const __m512i hi = _mm512_loadu_si512(a[t].qs + e + 64);
        // 256-bit halves: lo[0:32] hi[0:32] | lo[32:64] hi[32:64].
        _mm512_storeu_si512(dst + e, _mm512_shuffle_i64x2(lo, hi, 0x44));
        _mm512_storeu_si512(dst + e + 64, _mm512_shuffle_i64x2(lo, hi, 0xEE));
      }
      a[t].qs = dst;
    }
  }
  k_decode<Block, kSix>(w, row_bytes, n_rows, n_in, a, n_tok, y, ldy);
}

}  // namespace

QuantRowsFn avx512_quant_rows(DType type) {
  switch (type) {
    case DType::kQ8_0:
      return legacy_matmul<LegacyQ8_0>;
    case DType::kQ4_0:
      return legacy_matmul<LegacyQ45_0<false>>;
    case DType::kQ5_0:
      return legacy_matmul<LegacyQ45_0<true>>;
    case DType::kQ4_K:
      return k_matmul<TileQ45K<false>, BlockQ4_K, false>;
    case DType::kQ5_K:
      return k_matmul<TileQ45K<true>, BlockQ5_K, false>;
    case DType::kQ6_K:
      return k_matmul<TileQ6K, BlockQ6_K, true>;
    default:
      return nullptr;
  }
}

}  // namespace moelab::kernels_internal
