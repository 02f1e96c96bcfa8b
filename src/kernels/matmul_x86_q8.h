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
// reuses it for every token; decode unpacks one block group at a time into
// L1 and runs the same micro-kernel right away.
//
// Batch invariance (and equality with the scalar reference of qdot.cpp):
// each lane computes the exact integer total of each block (Q8_0) or
// super-block (K-quants), whatever the instruction order, then applies the
// float scales with exactly the scalar reference's operations, rounded one
// at a time (the *_round intrinsics keep the compiler from fusing them), in
// block order. So a (row, token) result depends on nothing else: not the
// token count, the tile, the lane, the panel, or the path.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/matmul_kernels.h"
#include "kernels/qdot.h"
#include "kernels/quant_blocks.h"

namespace moelab::kernels_internal {
namespace {

constexpr int kSlab = 16;        // rows per slab (zmm lanes)
constexpr int kTileTokens = 4;   // tokens per micro-kernel tile
constexpr int kPanelSlabs = 2;   // slabs per tile (and per prefill panel)

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

// The 8 scales and 8 mins of a Q4_K/Q5_K super-block as 16-bit lanes.
inline void k4_scales(const uint8_t* scales, __m128i* sc, __m128i* mn) {
  uint32_t a, m, h;
  std::memcpy(&a, scales, 4);
  std::memcpy(&m, scales + 4, 4);
  std::memcpy(&h, scales + 8, 4);
  const uint32_t sc_lo = a & 0x3F3F3F3Fu;
  const uint32_t mn_lo = m & 0x3F3F3F3Fu;
  const uint32_t sc_hi = (h & 0x0F0F0F0Fu) | (((a >> 6) & 0x03030303u) << 4);
  const uint32_t mn_hi = ((h >> 4) & 0x0F0F0F0Fu) | (((m >> 6) & 0x03030303u) << 4);
  *sc = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, static_cast<int>(sc_hi), static_cast<int>(sc_lo)));
  *mn = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, static_cast<int>(mn_hi), static_cast<int>(mn_lo)));
}

// The next block of a row, for the decode path (one block of many rows at a
// time: more streams than the hardware prefetcher follows).
inline void prefetch_block(const void* p, int64_t bytes) {
  for (int64_t o = 0; o < bytes; o += 64) {
    _mm_prefetch(static_cast<const char*>(p) + o, _MM_HINT_T0);
  }
}

// ------------------------------------------------------------ unpackers
//
// Each writes units [u0, u0 + n_units) of n_r (<= 16) rows starting at w
// into dst, kUnitBytes per unit; lanes n_r..15 get zeros.

// Q8_0: unit = one block of 32; 8 steps of (w + 128) bytes, then 16 float d.
struct Q8_0Panel {
  static constexpr int64_t kUnitElems = kQk;
  static constexpr int64_t kUnitBytes = 8 * 64 + 64;
  static void unpack(const uint8_t* w, int64_t row_bytes, int n_r, int64_t u0, int64_t n_units,
                     uint8_t* dst) {
    const __m256i k80 = _mm256_set1_epi8(static_cast<char>(0x80));
    __m512i v[16];
    for (int64_t u = 0; u < n_units; u += 2) {
      const bool two = u + 1 < n_units;
      for (int r = 0; r < 16; ++r) {
        if (r >= n_r) {
          v[r] = _mm512_setzero_si512();
          continue;
        }
        const auto* b = reinterpret_cast<const BlockQ8_0*>(w + r * row_bytes) + u0 + u;
        const __m256i lo = _mm256_xor_si256(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[0].qs)), k80);
        const __m256i hi =
            two ? _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[1].qs)),
                                   k80)
                : _mm256_setzero_si256();
        v[r] = cat256(lo, hi);
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
          d[r] = _cvtsh_ss(reinterpret_cast<const BlockQ8_0*>(w + r * row_bytes)[u0 + u + k].d);
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
            lo = _mm256_or_si256(lo, _mm256_and_si256(2 * c <= 4 ? _mm256_sll_epi16(h, sl)
                                                                 : _mm256_srl_epi16(h, sr),
                                                      bit));
            hi = _mm256_or_si256(hi, _mm256_and_si256(2 * c + 1 <= 4 ? _mm256_sll_epi16(h, sl1)
                                                                     : _mm256_srl_epi16(h, sr1),
                                                      bit));
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
        __m128i sc16, mn16;
        k4_scales(b.scales, &sc16, &mn16);
        const __m256i sc32 = _mm256_cvtepu16_epi32(sc16), mn32 = _mm256_cvtepu16_epi32(mn16);
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

template <int kRv, int kT>
void q8_0_tile(const uint8_t* const* slab, int64_t u0, int64_t n_units, const ActRow* a,
               __m512 (&acc)[kPanelSlabs][kTileTokens]) {
  constexpr int64_t kUb = Q8_0Panel::kUnitBytes;
  for (int64_t u = 0; u < n_units; ++u) {
    const int64_t b = u0 + u;
    __m512i is[kRv][kT];
    for (int t = 0; t < kT; ++t) {
      const __m512i corr = _mm512_set1_epi32(-128 * a[t].sum[b]);
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
      for (int v = 0; v < kRv; ++v) sc[v] = _mm512_load_si512(slab[v] + u * kUb + P::kScOff + 64 * g);
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
      for (int v = 0; v < kRv; ++v) mn[v] = _mm512_load_si512(slab[v] + u * kUb + P::kMnOff + 64 * g);
      for (int t = 0; t < kT; ++t) {
        const __m512i bs = _mm512_set1_epi32(load32(a[t].bsums + 16 * sb + 2 * g));
        for (int v = 0; v < kRv; ++v) mi[v][t] = _mm512_dpwssd_epi32(mi[v][t], mn[v], bs);
      }
    }
    for (int t = 0; t < kT; ++t) {
      const __m512 da = _mm512_set1_ps(a[t].d[sb]);
      for (int v = 0; v < kRv; ++v) {
        const __m512 d = _mm512_load_ps(reinterpret_cast<const float*>(slab[v] + u * kUb + P::kDOff));
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

struct TileQ8_0 {
  using Panel = Q8_0Panel;
  template <int kRv, int kT>
  static void run(const uint8_t* const* slab, int64_t u0, int64_t n, const ActRow* a,
                  __m512 (&acc)[kPanelSlabs][kTileTokens]) {
    q8_0_tile<kRv, kT>(slab, u0, n, a, acc);
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

// Units unpacked at a time on the decode path (about 10 KiB per slab pair,
// so the unpacked block stays in L1 while the tokens pass).
template <typename P>
constexpr int64_t decode_units() {
  return P::kUnitElems == kQk ? 8 : 1;
}

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
  const bool decode = n_tok <= kTileTokens;
  const int64_t chunk = decode ? decode_units<P>() : n_units;
  const int64_t slab_bytes = chunk * P::kUnitBytes;
  uint8_t* buf = scr.aligned(kPanelSlabs * slab_bytes);
  for (int64_t p = 0; p < n_rows; p += kPanelRows) {
    const int64_t rows = std::min(kPanelRows, n_rows - p);
    const int n_v = static_cast<int>((rows + kSlab - 1) / kSlab);
    const uint8_t* slab[kPanelSlabs] = {buf, buf + slab_bytes};
    auto unpack = [&](int64_t u0, int64_t n) {
      for (int v = 0; v < n_v; ++v) {
        const int n_r = static_cast<int>(std::min<int64_t>(kSlab, rows - v * kSlab));
        P::unpack(w + (p + v * kSlab) * row_bytes, row_bytes, n_r, u0, n, buf + v * slab_bytes);
      }
    };
    auto store = [&](int t0, int n_t, __m512 (&acc)[kPanelSlabs][kTileTokens]) {
      for (int v = 0; v < n_v; ++v) {
        const int64_t n_r = std::min<int64_t>(kSlab, rows - v * kSlab);
        const __mmask16 m = static_cast<__mmask16>((1u << n_r) - 1);
        for (int t = 0; t < n_t; ++t) {
          _mm512_mask_storeu_ps(y + (t0 + t) * ldy + p + v * kSlab, m, acc[v][t]);
        }
      }
    };
    if (decode) {
      __m512 acc[kPanelSlabs][kTileTokens];
      for (auto& row : acc)
        for (auto& x : row) x = _mm512_setzero_ps();
      for (int64_t u0 = 0; u0 < n_units; u0 += chunk) {
        const int64_t n = std::min(chunk, n_units - u0);
        unpack(u0, n);
        tile<K>(n_v, n_tok, slab, u0, n, acts, acc);
      }
      store(0, n_tok, acc);
    } else {
      unpack(0, n_units);
      for (int t0 = 0; t0 < n_tok; t0 += kTileTokens) {
        const int n_t = std::min(kTileTokens, n_tok - t0);
        __m512 acc[kPanelSlabs][kTileTokens];
        for (auto& row : acc)
          for (auto& x : row) x = _mm512_setzero_ps();
        tile<K>(n_v, n_t, slab, 0, n_units, acts + t0, acc);
        store(t0, n_t, acc);
      }
    }
  }
}

}  // namespace

QuantRowsFn avx512_quant_rows(DType type) {
  switch (type) {
    case DType::kQ8_0:
      return q8_matmul<TileQ8_0, ActFormat::kQ8_0>;
    case DType::kQ4_K:
      return q8_matmul<TileQ45K<false>, ActFormat::kQ8_K>;
    case DType::kQ5_K:
      return q8_matmul<TileQ45K<true>, ActFormat::kQ8_K>;
    case DType::kQ6_K:
      return q8_matmul<TileQ6K, ActFormat::kQ8_K>;
    default:
      return nullptr;
  }
}

}  // namespace moelab::kernels_internal
