// The AVX-512 VNNI integer kernels: weight rows × 8-bit activations (see
// qdot.h). Include only from matmul_avx512.cpp (internal linkage, compiled
// with that file's flags; the family requires VNNI, see isa_supported).
//
// Batch invariance: every (row, token) pair gets its own integer and float
// accumulators and the same instruction sequence whatever the number of rows
// (kR) and tokens (kNt) processed together, so decode (a call over all rows)
// and prefill (a call per panel and token group) give the same bits.
//
// Lane layouts: each step covers 64 elements of the row in one zmm. Q8_0:
// two blocks (lanes 0-7 the first, 8-15 the second), vpdpbusd on the weights
// offset to unsigned (w + 128) and a per-lane −128·Σa correction. K-quants:
// unsigned quants × signed activations with vpmaddubsw (no saturation: at
// most 2·63·127), then vpdpwssd with the sub-block scales in 16-bit lanes,
// integer sums per super-block, one float multiply-add per super-block.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/matmul_kernels.h"
#include "kernels/qdot.h"
#include "kernels/quant_blocks.h"

namespace moelab::kernels_internal {
namespace {

inline float q8_hsum(__m512 v) {
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline void q8_prefetch(const uint8_t* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }

// ------------------------------------------------------------------ Q8_0

template <int kR, int kNt>
void q8_0_group(const uint8_t* w, int64_t row_bytes, int64_t n_in, const ActRow* a, float* y,
                int64_t ldy) {
  const int64_t nb = n_in / kQk;
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  const uint8_t* next = w + kR * row_bytes;
  __m512 acc[kR][kNt];
  for (int r = 0; r < kR; ++r)
    for (int t = 0; t < kNt; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb; i += 2) {
    const bool two = i + 1 < nb;
    const __mmask64 m = two ? ~__mmask64{0} : __mmask64{0xFFFFFFFFu};
    __m512i av[kNt], corr[kNt];
    __m512 da[kNt];
    for (int t = 0; t < kNt; ++t) {
      av[t] = _mm512_maskz_loadu_epi8(m, a[t].qs + i * kQk);
      corr[t] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                 _mm512_dpbusd_epi32(_mm512_setzero_si512(), k80, av[t]));
      const float d1 = two ? a[t].d[i + 1] : 0.0f;
      da[t] = _mm512_insertf32x8(_mm512_set1_ps(a[t].d[i]), _mm256_set1_ps(d1), 1);
    }
    for (int r = 0; r < kR; ++r) {
      const auto* b = reinterpret_cast<const BlockQ8_0*>(w + r * row_bytes) + i;
      const BlockQ8_0& b1 = two ? b[1] : b[0];
      if (i % 4 == 0) q8_prefetch(next + r * row_bytes + i * sizeof(BlockQ8_0));
      const __m512i wv = _mm512_xor_si512(
          _mm512_inserti64x4(
              _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[0].qs))),
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1.qs)), 1),
          k80);
      const __m256i dh = _mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_set1_epi16(static_cast<int16_t>(b[0].d))),
          _mm_set1_epi16(static_cast<int16_t>(b1.d)), 1);
      const __m512 dw = _mm512_cvtph_ps(dh);
      for (int t = 0; t < kNt; ++t) {
        const __m512i s = _mm512_dpbusd_epi32(corr[t], wv, av[t]);
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, da[t]), acc[r][t]);
      }
    }
  }
  for (int r = 0; r < kR; ++r)
    for (int t = 0; t < kNt; ++t) y[t * ldy + r] = q8_hsum(acc[r][t]);
}

// ----------------------------------------------------------------- Q4_K/Q5_K

// 16-bit lane j of step c's scale vector takes scale 2c + j / 16 (Q4_K/Q5_K,
// groups of 32) or 4c + j / 8 (Q6_K, groups of 16).
alignas(64) inline constexpr int16_t kIdx32[4][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5},
    {6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}};
alignas(64) inline constexpr int16_t kIdx16[4][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
    {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
    {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15}};
// Min m_g in 16-bit lanes 2g and 2g + 1, to pair with Q8_K's sums per 16.
alignas(32) inline constexpr int16_t kIdxDup[16] = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7};

inline __m512i load_idx(const int16_t* p) { return _mm512_load_si512(p); }

// The 8 scales and 8 mins of a Q4_K/Q5_K super-block as 16-bit lanes.
inline void k4_scales(const uint8_t* scales, __m128i* sc, __m128i* mn) {
  uint32_t a, m, h;
  __builtin_memcpy(&a, scales, 4);
  __builtin_memcpy(&m, scales + 4, 4);
  __builtin_memcpy(&h, scales + 8, 4);
  const uint32_t sc_lo = a & 0x3F3F3F3Fu;
  const uint32_t mn_lo = m & 0x3F3F3F3Fu;
  const uint32_t sc_hi = (h & 0x0F0F0F0Fu) | (((a >> 6) & 0x03030303u) << 4);
  const uint32_t mn_hi = ((h >> 4) & 0x0F0F0F0Fu) | (((m >> 6) & 0x03030303u) << 4);
  *sc = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, static_cast<int>(sc_hi), static_cast<int>(sc_lo)));
  *mn = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, static_cast<int>(mn_hi), static_cast<int>(mn_lo)));
}

template <bool kFive, int kR, int kNt>
void q45_k_group(const uint8_t* w, int64_t row_bytes, int64_t n_in, const ActRow* a, float* y,
                 int64_t ldy) {
  const __m512i nib = _mm512_set1_epi8(0x0F);
  const uint8_t* next = w + kR * row_bytes;
  constexpr int64_t kBlockBytes = kFive ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
  __m512 acc[kR][kNt];
  for (int r = 0; r < kR; ++r)
    for (int t = 0; t < kNt; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n_in / kQkK; ++i) {
    const uint8_t* blk[kR];
    __m512i scv[kR];
    __m256i mdup[kR];
    float dd[kR], dm[kR];
    for (int r = 0; r < kR; ++r) {
      blk[r] = w + r * row_bytes + i * kBlockBytes;
      for (int64_t o = 0; o < kBlockBytes; o += 64) q8_prefetch(next + r * row_bytes + i * kBlockBytes + o);
      uint16_t d, dmin;
      const uint8_t* scales;
      if constexpr (kFive) {
        const auto* b = reinterpret_cast<const BlockQ5_K*>(blk[r]);
        d = b->d, dmin = b->dmin, scales = b->scales;
      } else {
        const auto* b = reinterpret_cast<const BlockQ4_K*>(blk[r]);
        d = b->d, dmin = b->dmin, scales = b->scales;
      }
      dd[r] = _cvtsh_ss(d);
      dm[r] = _cvtsh_ss(dmin);
      __m128i sc, mn;
      k4_scales(scales, &sc, &mn);
      scv[r] = _mm512_zextsi128_si512(sc);
      mdup[r] = _mm256_permutexvar_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(kIdxDup)),
                                         _mm256_zextsi128_si256(mn));
    }
    __m512i isum[kR][kNt];
    for (int r = 0; r < kR; ++r)
      for (int t = 0; t < kNt; ++t) isum[r][t] = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      __m512i qv[kR], sv[kR];
      for (int r = 0; r < kR; ++r) {
        const uint8_t* qs;
        if constexpr (kFive) {
          qs = reinterpret_cast<const BlockQ5_K*>(blk[r])->qs;
        } else {
          qs = reinterpret_cast<const BlockQ4_K*>(blk[r])->qs;
        }
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
        qv[r] = _mm512_and_si512(
            _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1), nib);
        if constexpr (kFive) {
          // Bit 2c of qh[l] is the 5th bit of element 64c + l, bit 2c + 1 of
          // element 64c + 32 + l: move both to bit 4 of their byte.
          const __m256i h = _mm256_loadu_si256(
              reinterpret_cast<const __m256i*>(reinterpret_cast<const BlockQ5_K*>(blk[r])->qh));
          const __m256i bit = _mm256_set1_epi8(0x10);
          const __m256i lo = _mm256_and_si256(
              c * 2 + 0 <= 4 ? _mm256_slli_epi16(h, 4 - 2 * c) : _mm256_srli_epi16(h, 2 * c - 4), bit);
          const __m256i hi = _mm256_and_si256(
              2 * c + 1 <= 4 ? _mm256_slli_epi16(h, 3 - 2 * c) : _mm256_srli_epi16(h, 2 * c - 3), bit);
          qv[r] = _mm512_or_si512(qv[r],
                                  _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
        }
        sv[r] = _mm512_permutexvar_epi16(load_idx(kIdx32[c]), scv[r]);
      }
      for (int t = 0; t < kNt; ++t) {
        const __m512i av = _mm512_loadu_si512(a[t].qs + i * kQkK + 64 * c);
        for (int r = 0; r < kR; ++r) {
          isum[r][t] = _mm512_dpwssd_epi32(isum[r][t], _mm512_maddubs_epi16(qv[r], av), sv[r]);
        }
      }
    }
    for (int t = 0; t < kNt; ++t) {
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t].bsums + 16 * i));
      const float da = a[t].d[i];
      for (int r = 0; r < kR; ++r) {
        const __m256i mins = _mm256_madd_epi16(mdup[r], bs);
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][t]), _mm512_set1_ps(dd[r] * da),
                                    acc[r][t]);
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_zextsi256_si512(mins)),
                                    _mm512_set1_ps(-(dm[r] * da)), acc[r][t]);
      }
    }
  }
  for (int r = 0; r < kR; ++r)
    for (int t = 0; t < kNt; ++t) y[t * ldy + r] = q8_hsum(acc[r][t]);
}

template <int kR, int kNt>
void q4_k_group(const uint8_t* w, int64_t rb, int64_t n_in, const ActRow* a, float* y, int64_t ldy) {
  q45_k_group<false, kR, kNt>(w, rb, n_in, a, y, ldy);
}
template <int kR, int kNt>
void q5_k_group(const uint8_t* w, int64_t rb, int64_t n_in, const ActRow* a, float* y, int64_t ldy) {
  q45_k_group<true, kR, kNt>(w, rb, n_in, a, y, ldy);
}

// ------------------------------------------------------------------ Q6_K

template <int kR, int kNt>
void q6_k_group(const uint8_t* w, int64_t row_bytes, int64_t n_in, const ActRow* a, float* y,
                int64_t ldy) {
  const __m256i nib = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8(0x30);
  const uint8_t* next = w + kR * row_bytes;
  __m512 acc[kR][kNt];
  for (int r = 0; r < kR; ++r)
    for (int t = 0; t < kNt; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n_in / kQkK; ++i) {
    const BlockQ6_K* blk[kR];
    __m256i sc16[kR];
    for (int r = 0; r < kR; ++r) {
      blk[r] = reinterpret_cast<const BlockQ6_K*>(w + r * row_bytes) + i;
      const uint8_t* nb = next + r * row_bytes + i * sizeof(BlockQ6_K);
      for (int64_t o = 0; o < static_cast<int64_t>(sizeof(BlockQ6_K)); o += 64) q8_prefetch(nb + o);
      sc16[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[r]->scales)));
    }
    __m512i isum[kR][kNt];
    for (int r = 0; r < kR; ++r)
      for (int t = 0; t < kNt; ++t) isum[r][t] = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h) {
      __m512i qv[kR][2];
      for (int r = 0; r < kR; ++r) {
        const BlockQ6_K& b = *blk[r];
        const __m256i la = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h));
        const __m256i lb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h + 32));
        const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
        const __m256i e0 = _mm256_or_si256(_mm256_and_si256(la, nib),
                                           _mm256_and_si256(_mm256_slli_epi16(hb, 4), top));
        const __m256i e1 = _mm256_or_si256(_mm256_and_si256(lb, nib),
                                           _mm256_and_si256(_mm256_slli_epi16(hb, 2), top));
        const __m256i e2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), nib),
                                           _mm256_and_si256(hb, top));
        const __m256i e3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), nib),
                                           _mm256_and_si256(_mm256_srli_epi16(hb, 2), top));
        qv[r][0] = _mm512_inserti64x4(_mm512_castsi256_si512(e0), e1, 1);
        qv[r][1] = _mm512_inserti64x4(_mm512_castsi256_si512(e2), e3, 1);
      }
      for (int s = 0; s < 2; ++s) {
        const int c = 2 * h + s;
        __m512i sv[kR];
        for (int r = 0; r < kR; ++r) {
          sv[r] = _mm512_permutexvar_epi16(load_idx(kIdx16[c]), _mm512_zextsi256_si512(sc16[r]));
        }
        for (int t = 0; t < kNt; ++t) {
          const __m512i av = _mm512_loadu_si512(a[t].qs + i * kQkK + 64 * c);
          for (int r = 0; r < kR; ++r) {
            isum[r][t] = _mm512_dpwssd_epi32(isum[r][t], _mm512_maddubs_epi16(qv[r][s], av), sv[r]);
          }
        }
      }
    }
    for (int t = 0; t < kNt; ++t) {
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t].bsums + 16 * i));
      const float da = a[t].d[i];
      for (int r = 0; r < kR; ++r) {
        // The quants are stored as q + 32: subtract 32 Σ_g sc_g Σa_g.
        const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sc16[r], bs), 5);
        const __m512i s = _mm512_sub_epi32(isum[r][t], _mm512_zextsi256_si512(off));
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(_cvtsh_ss(blk[r]->d) * da),
                                    acc[r][t]);
      }
    }
  }
  for (int r = 0; r < kR; ++r)
    for (int t = 0; t < kNt; ++t) y[t * ldy + r] = q8_hsum(acc[r][t]);
}

// ------------------------------------------------------------ the drivers

#define MOELAB_Q8_GROUP(name, fn)                                                          \
  struct name {                                                                            \
    template <int kR, int kNt>                                                             \
    static void run(const uint8_t* w, int64_t rb, int64_t n_in, const ActRow* a, float* y, \
                    int64_t ldy) {                                                         \
      fn<kR, kNt>(w, rb, n_in, a, y, ldy);                                                 \
    }                                                                                      \
  };
MOELAB_Q8_GROUP(GroupQ8_0, q8_0_group)
MOELAB_Q8_GROUP(GroupQ4_K, q4_k_group)
MOELAB_Q8_GROUP(GroupQ5_K, q5_k_group)
MOELAB_Q8_GROUP(GroupQ6_K, q6_k_group)
#undef MOELAB_Q8_GROUP

// Rows walked together per token count: kR·kNt integer and float
// accumulators must fit 32 zmm next to the row and token vectors.
template <int kNt>
constexpr int q8_rows_in_flight() {
  return kNt <= 2 ? 4 : 2;
}

template <typename G, ActFormat kFmt, int kNt>
void q8_rows_nt(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in,
                const uint8_t* const* xq, float* y, int64_t ldy) {
  constexpr int kR = q8_rows_in_flight<kNt>();
  ActRow a[kNt];
  for (int t = 0; t < kNt; ++t) a[t] = act_row(kFmt, xq[t], n_in);
  int64_t r = 0;
  for (; r + kR <= n_rows; r += kR) {
    G::template run<kR, kNt>(w + r * row_bytes, row_bytes, n_in, a, y + r, ldy);
  }
  for (; r < n_rows; ++r) G::template run<1, kNt>(w + r * row_bytes, row_bytes, n_in, a, y + r, ldy);
}

template <typename G, ActFormat kFmt>
void q8_rows(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in,
             const uint8_t* const* xq, int n_tok, float* y, int64_t ldy) {
  switch (n_tok) {
    case 1:
      q8_rows_nt<G, kFmt, 1>(w, row_bytes, n_rows, n_in, xq, y, ldy);
      break;
    case 2:
      q8_rows_nt<G, kFmt, 2>(w, row_bytes, n_rows, n_in, xq, y, ldy);
      break;
    case 3:
      q8_rows_nt<G, kFmt, 3>(w, row_bytes, n_rows, n_in, xq, y, ldy);
      break;
    default:
      q8_rows_nt<G, kFmt, 4>(w, row_bytes, n_rows, n_in, xq, y, ldy);
      break;
  }
}

}  // namespace

QuantRowsFn avx512_quant_rows(DType type) {
  switch (type) {
    case DType::kQ8_0:
      return q8_rows<GroupQ8_0, ActFormat::kQ8_0>;
    case DType::kQ4_K:
      return q8_rows<GroupQ4_K, ActFormat::kQ8_K>;
    case DType::kQ5_K:
      return q8_rows<GroupQ5_K, ActFormat::kQ8_K>;
    case DType::kQ6_K:
      return q8_rows<GroupQ6_K, ActFormat::kQ8_K>;
    default:
      return nullptr;
  }
}

}  // namespace moelab::kernels_internal
