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

// Scores of one head against R key rows: out[r] = (q0·k0[r] + q1·k1[r])·scale.
template <int R>
inline void score_rows(const float* q0, const float* q1, const float* const* k0, const float* const* k1,
                       int32_t w0, int32_t w1, float scale, float* out) {
  V acc[R];
  for (int r = 0; r < R; ++r) acc[r] = Vec::zero();
  int32_t i = 0;
  for (; i + kW <= w0; i += kW) {
    const V qv = Vec::load(q0 + i);
    for (int r = 0; r < R; ++r) acc[r] = Vec::fma(qv, Vec::load(k0[r] + i), acc[r]);
  }
  if (i < w0) {
    const V qv = Vec::load_n(q0 + i, w0 - i);
    for (int r = 0; r < R; ++r) acc[r] = Vec::fma(qv, Vec::load_n(k0[r] + i, w0 - i), acc[r]);
  }
  for (i = 0; i + kW <= w1; i += kW) {
    const V qv = Vec::load(q1 + i);
    for (int r = 0; r < R; ++r) acc[r] = Vec::fma(qv, Vec::load(k1[r] + i), acc[r]);
  }
  if (i < w1) {
    const V qv = Vec::load_n(q1 + i, w1 - i);
    for (int r = 0; r < R; ++r) acc[r] = Vec::fma(qv, Vec::load_n(k1[r] + i, w1 - i), acc[r]);
  }
  for (int r = 0; r < R; ++r) out[r] = Vec::hsum(acc[r]) * scale;
}

// acc[h] = acc[h]·corr[h] (or 0 on the first tile), then += Σ_j p[h][j]·v_j,
// for H heads and NV vectors of kW lanes at element offset d (the last vector
// may be partial: `rem` lanes, or kW).
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

template <int H>
inline void pv_heads(float* const* acc, const float* const* p, const float* corr, bool first,
                     const float* const* v, int32_t nt, int32_t vw) {
  int32_t d = 0;
  for (; d + 4 * kW <= vw; d += 4 * kW) pv_block<H, 4>(acc, p, corr, first, v, nt, d, kW);
  for (; d < vw; d += kW) pv_block<H, 1>(acc, p, corr, first, v, nt, d, std::min<int32_t>(kW, vw - d));
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
  float* s = scratch.data();          // [nh, kAttnTile] scores, then weights
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
    // Scores, four key rows per pass over a head's query; all heads take
    // those four rows while they sit in L1.
    for (int32_t j = 0; j < nt; j += 4) {
      const bool four = j + 4 <= nt;
      for (int32_t h = 0; h < nh; ++h) {
        const float* qh0 = q.q0 + h * q.q0_stride;
        const float* qh1 = w1 > 0 ? q.q1 + h * q.q1_stride : nullptr;
        float* sh = s + int64_t{h} * kAttnTile;
        if (four) {
          score_rows<4>(qh0, qh1, k0r + j, k1r + j, w0, w1, q.scale, sh + j);
        } else {
          for (int32_t jj = j; jj < nt; ++jj)
            score_rows<1>(qh0, qh1, k0r + jj, k1r + jj, w0, w1, q.scale, sh + jj);
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
    // P·V, two heads per pass so each value vector load serves both.
    int32_t h = 0;
    for (; h + 2 <= nh; h += 2) {
      float* a[2] = {acc + h * acc_stride, acc + (h + 1) * acc_stride};
      const float* p[2] = {s + int64_t{h} * kAttnTile, s + int64_t{h + 1} * kAttnTile};
      pv_heads<2>(a, p, corr + h, first, vr, nt, vw);
    }
    if (h < nh) {
      float* a[1] = {acc + h * acc_stride};
      const float* p[1] = {s + int64_t{h} * kAttnTile};
      pv_heads<1>(a, p, corr + h, first, vr, nt, vw);
    }
  }
}

}  // namespace
}  // namespace moelab::ops_internal
