// The x86 SIMD chunk kernel of attention.h, written once over ops_x86.h's
// vector traits and compiled twice: attention_avx2.cpp and
// attention_avx512.cpp (which defines MOELAB_OPS_AVX512 first). Internal
// linkage throughout, like ops_x86.h.
//
// Arithmetic per head (what makes heads, tiles and row groupings invisible in
// the bits): a score is one kW-lane accumulator, fma over k0 then k1 in
// ascending element order (masked tails), a horizontal sum, times scale; the
// tile's weights are vexp(s - max); an accumulator element is rescaled once
// per tile and then takes fma(p_j, v_j, acc) in position order. Register
// blocking (several rows or heads per pass) never changes that sequence.
//
// Keys and values are float32 or IEEE half per segment (AttnRows::type); the
// kernel is instantiated for each combination, and a half element is widened
// exactly on load, so it gives the bits of its float32 widening.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/attention.h"
#include "kernels/attention_variants.h"
#include "kernels/ops_x86.h"

namespace moelab::ops_internal {
namespace {

// Register blocking. AVX-512 (32 registers): scores 4 rows × 4 heads, P·V
// up to 8 heads × 3 vectors (MLA's 16 heads read the tile's values twice,
// from cache, for half the broadcasts of 16 heads × 1 vector). AVX2 (16
// registers) keeps 4 rows × 1 head and 2 heads × 4 vectors, which measured
// faster there than the wider blocks.
constexpr int kScoreHeads = kW == 16 ? 4 : 1;
constexpr int kPvMaxHeads = kW == 16 ? 8 : 2;
// Value vectors per P·V pass for a group of `heads` heads. AVX-512: 24
// accumulators for 4 and 8 heads (half the broadcasts per fma of 16 heads ×
// 1 vector: MLA +6-14%, GQA groups of 4 +15-20%, of 8 +5-10% in cache); 1-2
// heads keep 16, so a 128-wide head is one pass.
constexpr int pv_vectors(int heads) {
  return kW == 16 ? (heads >= 4 ? 24 : 16) / heads : 8 / heads;
}

// Element loads: float32 rows, or half rows widened to float32.
inline V load_elems(const float* p) { return Vec::load(p); }
inline V load_elems(const uint16_t* p) { return Vec::load_half(p); }
inline V load_elems_n(const float* p, int32_t n) { return Vec::load_n(p, n); }
inline V load_elems_n(const uint16_t* p, int32_t n) { return Vec::load_half_n(p, n); }

#if defined(MOELAB_OPS_AVX512)
// The horizontal sums of 16 vectors at once, each summed in Vec::hsum's own
// order (lane i + lane i+8, then +4, +2, +1), so a score reduced here has the
// bits of one reduced alone: out lane 4c + k = hsum(v[c + 4k]). About 31
// shuffles and adds for all 16 instead of 8 per sum, which was half of a GQA
// score block's work.
inline __m512 hsum16(const __m512* v) {
  __m512 t[8], u[4], w[2];
  for (int m = 0; m < 8; ++m) {  // t[m]: [v[2m] lanes k + k+8 | v[2m+1] ...]
    t[m] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * m], v[2 * m + 1], 0x44),
                         _mm512_shuffle_f32x4(v[2 * m], v[2 * m + 1], 0xEE));
  }
  for (int n = 0; n < 4; ++n) {  // u[n] 128-bit lane c: v[4n + c], lanes k + k+4
    u[n] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * n], t[2 * n + 1], 0x88),
                         _mm512_shuffle_f32x4(t[2 * n], t[2 * n + 1], 0xDD));
  }
  for (int m = 0; m < 2; ++m) {  // w[m] lane c: v[8m + c] and v[8m + 4 + c], lanes k + k+2
    const __m512d a = _mm512_castps_pd(u[2 * m]), b = _mm512_castps_pd(u[2 * m + 1]);
    w[m] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
  return _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], 0x88), _mm512_shuffle_ps(w[0], w[1], 0xDD));
}
#endif

// Scores of H heads against R key rows:
// out[h][r] = (q0_h·k0[r] + q1_h·k1[r])·scale, with out[h] at s + h·s_stride.
// Each key vector loaded serves all H heads and each query vector all R
// rows, so an R×H block does R·H fmas per R + H loads.
template <int R, int H, class E0, class E1>
inline void score_block(const float* q0, int64_t q0_stride, const float* q1, int64_t q1_stride,
                        const E0* const* k0, const E1* const* k1, int32_t w0, int32_t w1,
                        float scale, float* s, int64_t s_stride) {
  V acc[H][R];
  for (int h = 0; h < H; ++h)
    for (int r = 0; r < R; ++r) acc[h][r] = Vec::zero();
  auto segment = [&]<class E>(const float* q, int64_t q_stride, const E* const* k, int32_t w) {
    int32_t i = 0;
    for (; i + kW <= w; i += kW) {
      V kv[R];
      for (int r = 0; r < R; ++r) kv[r] = load_elems(k[r] + i);
      for (int h = 0; h < H; ++h) {
        const V qv = Vec::load(q + h * q_stride + i);
        for (int r = 0; r < R; ++r) acc[h][r] = Vec::fma(qv, kv[r], acc[h][r]);
      }
    }
    if (i < w) {
      V kv[R];
      for (int r = 0; r < R; ++r) kv[r] = load_elems_n(k[r] + i, w - i);
      for (int h = 0; h < H; ++h) {
        const V qv = Vec::load_n(q + h * q_stride + i, w - i);
        for (int r = 0; r < R; ++r) acc[h][r] = Vec::fma(qv, kv[r], acc[h][r]);
      }
    }
  };
  segment(q0, q0_stride, k0, w0);
  if (w1 > 0) segment(q1, q1_stride, k1, w1);
#if defined(MOELAB_OPS_AVX512)
  if constexpr (R == 4 && H == 4) {
    V v[16];  // v[h + 4r]: lane 4h + r of the sums
    for (int h = 0; h < H; ++h)
      for (int r = 0; r < R; ++r) v[h + 4 * r] = acc[h][r];
    const __m512 z = _mm512_mul_ps(hsum16(v), _mm512_set1_ps(scale));
    _mm_storeu_ps(s, _mm512_extractf32x4_ps(z, 0));
    _mm_storeu_ps(s + s_stride, _mm512_extractf32x4_ps(z, 1));
    _mm_storeu_ps(s + 2 * s_stride, _mm512_extractf32x4_ps(z, 2));
    _mm_storeu_ps(s + 3 * s_stride, _mm512_extractf32x4_ps(z, 3));
    return;
  }
#endif
  for (int h = 0; h < H; ++h)
    for (int r = 0; r < R; ++r) s[h * s_stride + r] = Vec::hsum(acc[h][r]) * scale;
}

// Scores of heads [h0, h0 + H) against key rows [j, j + R) of the tile.
template <int R, int H, class E0, class E1>
inline void score_heads(const AttnQuery& q, int32_t h0, const E0* const* k0r, const E1* const* k1r,
                        int32_t j, int32_t w0, int32_t w1, float* s) {
  score_block<R, H>(q.q0 + h0 * q.q0_stride, q.q0_stride,
                    w1 > 0 ? q.q1 + h0 * q.q1_stride : nullptr, q.q1_stride, k0r + j,
                    w1 > 0 ? k1r + j : nullptr, w0, w1, q.scale, s + int64_t{h0} * kAttnTile + j,
                    kAttnTile);
}

// acc[h] = acc[h]·corr[h] (or 0 on the first tile), then += Σ_j p[h][j]·v_j,
// for H heads and NV vectors of kW lanes at element offset d (the last vector
// may be partial: `rem` lanes, or kW). Each value vector loaded serves all H
// heads (MLA's 16 heads: two groups of 8, so the tile's values are read twice).
template <int H, int NV, class EV>
inline void pv_block(float* const* acc, const float* const* p, const float* corr, bool first,
                     const EV* const* v, int32_t nt, int32_t d, int32_t rem) {
  V a[H][NV];
  for (int h = 0; h < H; ++h) {
    const V c = Vec::set1(corr[h]);
    for (int k = 0; k < NV; ++k) {
      const int32_t n = k == NV - 1 ? rem : kW;
      a[h][k] = first ? Vec::zero() : Vec::mul(Vec::load_n(acc[h] + d + k * kW, n), c);
    }
  }
  for (int32_t j = 0; j < nt; ++j) {
    V vv[NV];
    for (int k = 0; k < NV; ++k) {
      const int32_t n = k == NV - 1 ? rem : kW;
      vv[k] = n == kW ? load_elems(v[j] + d + k * kW) : load_elems_n(v[j] + d + k * kW, n);
    }
    for (int h = 0; h < H; ++h) {
      const V ph = Vec::set1(p[h][j]);
      for (int k = 0; k < NV; ++k) a[h][k] = Vec::fma(ph, vv[k], a[h][k]);
    }
  }
  for (int h = 0; h < H; ++h) {
    for (int k = 0; k < NV; ++k) {
      const int32_t n = k == NV - 1 ? rem : kW;
      Vec::store_n(acc[h] + d + k * kW, a[h][k], n);
    }
  }
}

// H heads over all vw value elements, NV vectors per pass (H·NV accumulators).
template <int H, int NV, class EV>
inline void pv_heads(float* const* acc, const float* const* p, const float* corr, bool first,
                     const EV* const* v, int32_t nt, int32_t vw) {
  int32_t d = 0;
  for (; d + NV * kW <= vw; d += NV * kW) pv_block<H, NV>(acc, p, corr, first, v, nt, d, kW);
  for (; d < vw; d += kW)
    pv_block<H, 1>(acc, p, corr, first, v, nt, d, std::min<int32_t>(kW, vw - d));
}

// The tile's P·V for heads [h, nh): groups of H heads, with as many value
// vectors per pass as the accumulator registers allow, then smaller groups.
template <int H, class EV>
inline void pv_groups(float* acc, int64_t acc_stride, const float* s, const float* corr, bool first,
                      const EV* const* v, int32_t nt, int32_t vw, int32_t h, int32_t nh) {
  for (; h + H <= nh; h += H) {
    float* a[H];
    const float* p[H];
    for (int i = 0; i < H; ++i) {
      a[i] = acc + (h + i) * acc_stride;
      p[i] = s + int64_t{h + i} * kAttnTile;
    }
    pv_heads<H, pv_vectors(H)>(a, p, corr + h, first, v, nt, vw);
  }
  if constexpr (H > 1) pv_groups<H / 2>(acc, acc_stride, s, corr, first, v, nt, vw, h, nh);
}

// The row of position pos, whose cache slot is `slot`.
template <class E>
inline const E* row_at(const AttnRows& rows, int64_t slot, int32_t pos) {
  return static_cast<const E*>(rows.base) + (rows.paged ? slot : pos) * rows.stride;
}

// The rows of one tile: where each position's k0, k1 and v rows start.
template <class E0, class E1, class EV>
struct TileRows {
  const E0* k0[kAttnTile];
  const E1* k1[kAttnTile];
  const EV* v[kAttnTile];
  int32_t n = 0;

  // Positions [t0, t0 + nt), walking the block table one block at a time
  // rather than dividing per row.
  void fill(const AttnStream& kv, int32_t t0, int32_t nt) {
    n = nt;
    for (int32_t j = 0; j < nt;) {
      const int32_t pos = t0 + j;
      const int32_t in_block = pos % kv.block_size;
      const int64_t slot0 = int64_t{kv.block_table[pos / kv.block_size]} * kv.block_size + in_block;
      const int32_t run = std::min(nt - j, kv.block_size - in_block);
      for (int32_t i = 0; i < run; ++i, ++j) {
        k0[j] = row_at<E0>(kv.k0, slot0 + i, t0 + j);
        k1[j] = kv.k1.width > 0 ? row_at<E1>(kv.k1, slot0 + i, t0 + j) : nullptr;
        v[j] = row_at<EV>(kv.v, slot0 + i, t0 + j);
      }
    }
  }
};

// Asks for the cache lines of [p, p + bytes) to be brought to L1.
inline void prefetch_span(const void* p, int64_t bytes) {
  const auto first = reinterpret_cast<uintptr_t>(p);
  for (uintptr_t a = first & ~uintptr_t{63}; a < first + bytes; a += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(a), _MM_HINT_T0);
  }
}

// The chunk kernel for k0, k1 and v elements of types E0, E1 and EV.
template <class E0, class E1, class EV>
void attention_chunk_typed(const AttnQuery& q, const AttnStream& kv, int32_t p0, int32_t p1,
                           float* m, float* l, float* acc, int64_t acc_stride) {
  const int32_t nh = q.n_heads;
  const int32_t w0 = kv.k0.width, w1 = kv.k1.width, vw = kv.v.width;
  thread_local std::vector<float> scratch;
  if (static_cast<int64_t>(scratch.size()) < int64_t{nh} * (kAttnTile + 1)) {
    scratch.resize(int64_t{nh} * (kAttnTile + 1));
  }
  float* s = scratch.data();                  // [nh, kAttnTile] scores, then weights
  float* corr = s + int64_t{nh} * kAttnTile;  // [nh] this tile's rescale factors
  // This tile's rows and the next one's: while a tile computes, the next
  // tile's rows are prefetched (a core alone keeps too few misses in flight
  // to stream the cache at the bandwidth the weights get).
  TileRows<E0, E1, EV> tiles[2];
  const int64_t k0_bytes = int64_t{w0} * sizeof(E0), k1_bytes = int64_t{w1} * sizeof(E1);
  // MLA's values are its keys' first segment: prefetched once.
  const bool v_is_k0 = kv.v.base == kv.k0.base && kv.v.stride == kv.k0.stride &&
                       kv.v.paged == kv.k0.paged && vw <= w0;
  const int64_t v_bytes = v_is_k0 ? 0 : int64_t{vw} * sizeof(EV);
  tiles[0].fill(kv, p0, std::min(kAttnTile, p1 - p0));
  for (int32_t h = 0; h < nh; ++h) {
    m[h] = -INFINITY;
    l[h] = 0.0f;
  }
  for (int32_t t0 = p0, cur = 0; t0 < p1; t0 += kAttnTile, cur ^= 1) {
    const int32_t nt = std::min(kAttnTile, p1 - t0);
    const bool first = t0 == p0;
    const TileRows<E0, E1, EV>& rows = tiles[cur];
    TileRows<E0, E1, EV>& next = tiles[cur ^ 1];
    next.n = 0;
    if (t0 + kAttnTile < p1)
      next.fill(kv, t0 + kAttnTile, std::min(kAttnTile, p1 - t0 - kAttnTile));
    const E0* const* k0r = rows.k0;
    const E1* const* k1r = rows.k1;
    const EV* const* vr = rows.v;
    // Scores in blocks of 4 key rows × kScoreHeads heads, tails one by one.
    for (int32_t j = 0; j < nt; j += 4) {
      for (int32_t jj = j; jj < std::min(j + 4, next.n); ++jj) {
        prefetch_span(next.k0[jj], k0_bytes);
        if (k1_bytes > 0) prefetch_span(next.k1[jj], k1_bytes);
        if (v_bytes > 0) prefetch_span(next.v[jj], v_bytes);
      }
      const bool four = j + 4 <= nt;
      int32_t h = 0;
      for (; h + kScoreHeads <= nh; h += kScoreHeads) {
        if (four) {
          score_heads<4, kScoreHeads>(q, h, k0r, k1r, j, w0, w1, s);
        } else {
          for (int32_t jj = j; jj < nt; ++jj) {
            score_heads<1, kScoreHeads>(q, h, k0r, k1r, jj, w0, w1, s);
          }
        }
      }
      for (; h < nh; ++h) {
        if (four) {
          score_heads<4, 1>(q, h, k0r, k1r, j, w0, w1, s);
        } else {
          for (int32_t jj = j; jj < nt; ++jj) score_heads<1, 1>(q, h, k0r, k1r, jj, w0, w1, s);
        }
      }
    }
    // Online softmax: new running max, rescale factor, weights and their sum.
    for (int32_t h = 0; h < nh; ++h) {
      float* sh = s + int64_t{h} * kAttnTile;
      V vmax = Vec::set1(-INFINITY);
      int32_t j = 0;
      for (; j + kW <= nt; j += kW) vmax = Vec::max(vmax, Vec::load(sh + j));
      float mx = Vec::hmax(vmax);
      for (; j < nt; ++j) mx = std::max(mx, sh[j]);
      const float m_new = std::max(m[h], mx);
      corr[h] = first ? 0.0f : std::exp(m[h] - m_new);
      const V vm = Vec::set1(m_new);
      V sum = Vec::zero();
      for (j = 0; j + kW <= nt; j += kW) {
        const V e = vexp(Vec::sub(Vec::load(sh + j), vm));
        Vec::store(sh + j, e);
        sum = Vec::add(sum, e);
      }
      if (j < nt) {
        const V e = Vec::keep_n(vexp(Vec::sub(Vec::load_n(sh + j, nt - j), vm)), nt - j);
        Vec::store_n(sh + j, e, nt - j);
        sum = Vec::add(sum, e);
      }
      l[h] = l[h] * corr[h] + Vec::hsum(sum);
      m[h] = m_new;
    }
    pv_groups<kPvMaxHeads>(acc, acc_stride, s, corr, first, vr, nt, vw, 0, nh);
  }
}

// Calls f with a value of the element type of rows: float or uint16_t (half).
template <class F>
inline void with_element_type(const AttnRows& rows, F&& f) {
  if (rows.type == DType::kF16) {
    f(uint16_t{});
  } else {
    f(float{});
  }
}

void attention_chunk_simd(const AttnQuery& q, const AttnStream& kv, int32_t p0, int32_t p1,
                          float* m, float* l, float* acc, int64_t acc_stride) {
  with_element_type(kv.k0, [&](auto e0) {
    with_element_type(kv.k1, [&](auto e1) {
      with_element_type(kv.v, [&](auto ev) {
        attention_chunk_typed<decltype(e0), decltype(e1), decltype(ev)>(q, kv, p0, p1, m, l, acc,
                                                                        acc_stride);
      });
    });
  });
}

}  // namespace
}  // namespace moelab::ops_internal
