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
// up to 16 heads × one vector (MLA's 16 heads then read the tile's values
// once); 1.2-1.5x faster than 4 × 1 and 2 × 4 on BM_Attention. AVX2 (16
// registers) keeps 4 rows × 1 head and 2 heads × 4 vectors, which measured
// faster there than the wider blocks.
constexpr int kScoreHeads = kW == 16 ? 4 : 1;
constexpr int kPvAccRegs = kW == 16 ? 16 : 8;
constexpr int kPvMaxHeads = kW == 16 ? 16 : 2;

// Scores of H heads against R key rows:
// out[h][r] = (q0_h·k0[r] + q1_h·k1[r])·scale, with out[h] at s + h·s_stride.
// Each key vector loaded serves all H heads and each query vector all R
// rows, so an R×H block does R·H fmas per R + H loads.
template <int R, int H>
inline void score_block(const float* q0, int64_t q0_stride, const float* q1, int64_t q1_stride,
                        const float* const* k0, const float* const* k1, int32_t w0, int32_t w1,
                        float scale, float* s, int64_t s_stride) {
  V acc[H][R];
  for (int h = 0; h < H; ++h)
    for (int r = 0; r < R; ++r) acc[h][r] = Vec::zero();
  auto segment = [&](const float* q, int64_t q_stride, const float* const* k, int32_t w) {
    int32_t i = 0;
    for (; i + kW <= w; i += kW) {
      V kv[R];
      for (int r = 0; r < R; ++r) kv[r] = Vec::load(k[r] + i);
      for (int h = 0; h < H; ++h) {
        const V qv = Vec::load(q + h * q_stride + i);
        for (int r = 0; r < R; ++r) acc[h][r] = Vec::fma(qv, kv[r], acc[h][r]);
      }
    }
    if (i < w) {
      V kv[R];
      for (int r = 0; r < R; ++r) kv[r] = Vec::load_n(k[r] + i, w - i);
      for (int h = 0; h < H; ++h) {
        const V qv = Vec::load_n(q + h * q_stride + i, w - i);
        for (int r = 0; r < R; ++r) acc[h][r] = Vec::fma(qv, kv[r], acc[h][r]);
      }
    }
  };
  segment(q0, q0_stride, k0, w0);
  if (w1 > 0) segment(q1, q1_stride, k1, w1);
  for (int h = 0; h < H; ++h)
    for (int r = 0; r < R; ++r) s[h * s_stride + r] = Vec::hsum(acc[h][r]) * scale;
}

// Scores of heads [h0, h0 + H) against key rows [j, j + R) of the tile.
template <int R, int H>
inline void score_heads(const AttnQuery& q, int32_t h0, const float* const* k0r,
                        const float* const* k1r, int32_t j, int32_t w0, int32_t w1, float* s) {
  score_block<R, H>(q.q0 + h0 * q.q0_stride, q.q0_stride,
                    w1 > 0 ? q.q1 + h0 * q.q1_stride : nullptr, q.q1_stride, k0r + j,
                    w1 > 0 ? k1r + j : nullptr, w0, w1, q.scale, s + int64_t{h0} * kAttnTile + j,
                    kAttnTile);
}

// acc[h] = acc[h]·corr[h] (or 0 on the first tile), then += Σ_j p[h][j]·v_j,
// for H heads and NV vectors of kW lanes at element offset d (the last vector
// may be partial: `rem` lanes, or kW). Each value vector loaded serves all H
// heads: with H = 16 (MLA's heads) the tile's values are read once.
template <int H, int NV>
inline void pv_block(float* const* acc, const float* const* p, const float* corr, bool first,
                     const float* const* v, int32_t nt, int32_t d, int32_t rem) {
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
      vv[k] = n == kW ? Vec::load(v[j] + d + k * kW) : Vec::load_n(v[j] + d + k * kW, n);
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
template <int H, int NV>
inline void pv_heads(float* const* acc, const float* const* p, const float* corr, bool first,
                     const float* const* v, int32_t nt, int32_t vw) {
  int32_t d = 0;
  for (; d + NV * kW <= vw; d += NV * kW) pv_block<H, NV>(acc, p, corr, first, v, nt, d, kW);
  for (; d < vw; d += kW)
    pv_block<H, 1>(acc, p, corr, first, v, nt, d, std::min<int32_t>(kW, vw - d));
}

// The tile's P·V for heads [h, nh): groups of H heads, with as many value
// vectors per pass as the accumulator registers allow, then smaller groups.
template <int H>
inline void pv_groups(float* acc, int64_t acc_stride, const float* s, const float* corr, bool first,
                      const float* const* v, int32_t nt, int32_t vw, int32_t h, int32_t nh) {
  for (; h + H <= nh; h += H) {
    float* a[H];
    const float* p[H];
    for (int i = 0; i < H; ++i) {
      a[i] = acc + (h + i) * acc_stride;
      p[i] = s + int64_t{h + i} * kAttnTile;
    }
    pv_heads<H, kPvAccRegs / H>(a, p, corr + h, first, v, nt, vw);
  }
  if constexpr (H > 1) pv_groups<H / 2>(acc, acc_stride, s, corr, first, v, nt, vw, h, nh);
}

inline const float* row_of(const AttnRows& rows, const AttnStream& kv, int32_t pos) {
  int64_t index = pos;
  if (rows.paged) {
    index = int64_t{kv.block_table[pos / kv.block_size]} * kv.block_size + pos % kv.block_size;
  }
  return rows.base + index * rows.stride;
}

void attention_chunk_simd(const AttnQuery& q, const AttnStream& kv, int32_t p0, int32_t p1,
                          float* m, float* l, float* acc, int64_t acc_stride) {
  const int32_t nh = q.n_heads;
  const int32_t w0 = kv.k0.width, w1 = kv.k1.width, vw = kv.v.width;
  thread_local std::vector<float> scratch;
  if (static_cast<int64_t>(scratch.size()) < int64_t{nh} * (kAttnTile + 1)) {
    scratch.resize(int64_t{nh} * (kAttnTile + 1));
  }
  float* s = scratch.data();                  // [nh, kAttnTile] scores, then weights
  float* corr = s + int64_t{nh} * kAttnTile;  // [nh] this tile's rescale factors
  const float* k0r[kAttnTile];
  const float* k1r[kAttnTile];
  const float* vr[kAttnTile];
  for (int32_t h = 0; h < nh; ++h) {
    m[h] = -INFINITY;
    l[h] = 0.0f;
  }
  for (int32_t t0 = p0; t0 < p1; t0 += kAttnTile) {
    const int32_t nt = std::min(kAttnTile, p1 - t0);
    const bool first = t0 == p0;
    for (int32_t j = 0; j < nt; ++j) {
      k0r[j] = row_of(kv.k0, kv, t0 + j);
      k1r[j] = w1 > 0 ? row_of(kv.k1, kv, t0 + j) : nullptr;
      vr[j] = row_of(kv.v, kv, t0 + j);
    }
    // Scores in blocks of 4 key rows × kScoreHeads heads, tails one by one.
    for (int32_t j = 0; j < nt; j += 4) {
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

}  // namespace
}  // namespace moelab::ops_internal
