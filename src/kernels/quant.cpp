// Row conversions for every computable weight type. The quantizers follow
// ggml's reference algorithms (quantize_row_*_ref in ggml-quants.c) step by
// step, including float evaluation order and ggml's rounding helper, so a
// row we quantize is byte-identical to what llama.cpp writes for the same
// floats: files move between the two engines without drift.
#include "kernels/quant.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/quant_internal.h"

namespace moelab {
namespace {

using kernels_internal::nearest_int;


constexpr float kGroupMaxEps = 1e-15f;

inline float h2f(uint16_t h) { return fp16_to_fp32(h); }
inline uint16_t f2h(float f) { return fp32_to_fp16(f); }

// ---------------------------------------------------------------- dequantize

void dequant_f32(const uint8_t* src, float* dst, int64_t n) { std::memcpy(dst, src, n * 4); }

void dequant_f16(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = fp16_to_fp32(h);
  }
}

void dequant_bf16(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = bf16_to_fp32(h);
  }
}

void dequant_q4_0(const uint8_t* src, float* y, int64_t n) {
  const auto* x = reinterpret_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQk; ++i, y += kQk) {
    const float d = h2f(x[i].d);
    for (int j = 0; j < kQk / 2; ++j) {
      y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
      y[j + kQk / 2] = ((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequant_q4_1(const uint8_t* src, float* y, int64_t n) {
  const auto* x = reinterpret_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / kQk; ++i, y += kQk) {
    const float d = h2f(x[i].d);
    const float m = h2f(x[i].m);
    for (int j = 0; j < kQk / 2; ++j) {
      y[j] = (x[i].qs[j] & 0x0F) * d + m;
      y[j + kQk / 2] = (x[i].qs[j] >> 4) * d + m;
    }
  }
}

void dequant_q5_0(const uint8_t* src, float* y, int64_t n) {
  const auto* x = reinterpret_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / kQk; ++i, y += kQk) {
    const float d = h2f(x[i].d);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < kQk / 2; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10;
      const int h1 = (qh >> (j + 12)) & 0x10;
      y[j] = (((x[i].qs[j] & 0x0F) | h0) - 16) * d;
      y[j + kQk / 2] = (((x[i].qs[j] >> 4) | h1) - 16) * d;
    }
  }
}

void dequant_q5_1(const uint8_t* src, float* y, int64_t n) {
  const auto* x = reinterpret_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / kQk; ++i, y += kQk) {
    const float d = h2f(x[i].d);
    const float m = h2f(x[i].m);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < kQk / 2; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10;
      const int h1 = (qh >> (j + 12)) & 0x10;
      y[j] = ((x[i].qs[j] & 0x0F) | h0) * d + m;
      y[j + kQk / 2] = ((x[i].qs[j] >> 4) | h1) * d + m;
    }
  }
}

void dequant_q8_0(const uint8_t* src, float* y, int64_t n) {
  const auto* x = reinterpret_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQk; ++i, y += kQk) {
    const float d = h2f(x[i].d);
    for (int j = 0; j < kQk; ++j) y[j] = x[i].qs[j] * d;
  }
}

void dequant_q2_k(const uint8_t* src, float* y, int64_t n) {
  const auto* x = reinterpret_cast<const BlockQ2_K*>(src);
  for (int64_t i = 0; i < n / kQkK; ++i) {
    const float d = h2f(x[i].d);
    const float dmin = h2f(x[i].dmin);
    const uint8_t* q = x[i].qs;
    int is = 0;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part) {
          const uint8_t sc = x[i].scales[is++];
          const float dl = d * (sc & 0xF);
          const float ml = dmin * (sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * ((q[16 * part + l] >> shift) & 3) - ml;
        }
      }
    }
  }
}

// The signed 6-bit scale of group g (0..15) of a Q3_K block.
inline int q3_k_scale(const uint8_t* scales, int g) {
  const int low = g < 8 ? scales[g] & 0xF : scales[g - 8] >> 4;
  const int high = (scales[8 + g % 4] >> (2 * (g / 4))) & 3;
  return (low | (high << 4)) - 32;
}

void dequant_q3_k(const uint8_t* src, float* y, int64_t n) {
  const auto* x = reinterpret_cast<const BlockQ3_K*>(src);
  for (int64_t i = 0; i < n / kQkK; ++i) {
    const float d_all = h2f(x[i].d);
    const uint8_t* q = x[i].qs;
    const uint8_t* hm = x[i].hmask;
    uint8_t m = 1;
    int is = 0;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
        for (int part = 0; part < 2; ++part) {
          const float dl = d_all * q3_k_scale(x[i].scales, is++);
          for (int l = 16 * part; l < 16 * part + 16; ++l) {
            *y++ = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
          }
        }
      }
    }
  }
}

void dequant_q4_k(const uint8_t* src, float* y, int64_t n) {
  const auto* x = reinterpret_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / kQkK; ++i) {
    const float d = h2f(x[i].d);
    const float dmin = h2f(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int is = 0; is < 8; is += 2, q += 32) {
      uint8_t sc, m;
      get_scale_min_k4(is, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

void dequant_q5_k(const uint8_t* src, float* y, int64_t n) {
  const auto* x = reinterpret_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n / kQkK; ++i) {
    const float d = h2f(x[i].d);
    const float dmin = h2f(x[i].dmin);
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    uint8_t u1 = 1, u2 = 2;
    for (int is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
      uint8_t sc, m;
      get_scale_min_k4(is, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
  }
}

void dequant_q6_k(const uint8_t* src, float* y, int64_t n) {
  const auto* x = reinterpret_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kQkK; ++i) {
    const float d = h2f(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

// ------------------------------------------------------------------ quantize

void quant_q4_0(const float* x, uint8_t* dst, int64_t n) {
  auto* y = reinterpret_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQk; ++i, x += kQk) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQk; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = f2h(d);
    for (int j = 0; j < kQk / 2; ++j) {
      const uint8_t q0 = std::min<int>(15, static_cast<int8_t>(x[j] * id + 8.5f));
      const uint8_t q1 = std::min<int>(15, static_cast<int8_t>(x[j + kQk / 2] * id + 8.5f));
      y[i].qs[j] = q0 | (q1 << 4);
    }
  }
}

void quant_q4_1(const float* x, uint8_t* dst, int64_t n) {
  auto* y = reinterpret_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n / kQk; ++i, x += kQk) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < kQk; ++j) {
      min = std::min(min, x[j]);
      max = std::max(max, x[j]);
    }
    const float d = (max - min) / 15;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = f2h(d);
    y[i].m = f2h(min);
    for (int j = 0; j < kQk / 2; ++j) {
      const uint8_t q0 = std::min<int>(15, static_cast<int8_t>((x[j] - min) * id + 0.5f));
      const uint8_t q1 = std::min<int>(15, static_cast<int8_t>((x[j + kQk / 2] - min) * id + 0.5f));
      y[i].qs[j] = q0 | (q1 << 4);
    }
  }
}

void quant_q5_0(const float* x, uint8_t* dst, int64_t n) {
  auto* y = reinterpret_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / kQk; ++i, x += kQk) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQk; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -16;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = f2h(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQk / 2; ++j) {
      const uint8_t q0 = std::min<int>(31, static_cast<int8_t>(x[j] * id + 16.5f));
      const uint8_t q1 = std::min<int>(31, static_cast<int8_t>(x[j + kQk / 2] * id + 16.5f));
      y[i].qs[j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
      qh |= ((q0 & 0x10u) >> 4) << j;
      qh |= ((q1 & 0x10u) >> 4) << (j + kQk / 2);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void quant_q5_1(const float* x, uint8_t* dst, int64_t n) {
  auto* y = reinterpret_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n / kQk; ++i, x += kQk) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < kQk; ++j) {
      min = std::min(min, x[j]);
      max = std::max(max, x[j]);
    }
    const float d = (max - min) / 31;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = f2h(d);
    y[i].m = f2h(min);
    uint32_t qh = 0;
    for (int j = 0; j < kQk / 2; ++j) {
      const uint8_t q0 = static_cast<uint8_t>((x[j] - min) * id + 0.5f);
      const uint8_t q1 = static_cast<uint8_t>((x[j + kQk / 2] - min) * id + 0.5f);
      y[i].qs[j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
      qh |= ((q0 & 0x10u) >> 4) << j;
      qh |= ((q1 & 0x10u) >> 4) << (j + kQk / 2);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void quant_q8_0(const float* x, uint8_t* dst, int64_t n) {
  auto* y = reinterpret_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQk; ++i, x += kQk) {
    float amax = 0.0f;
    for (int j = 0; j < kQk; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = f2h(d);
    for (int j = 0; j < kQk; ++j) y[i].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
  }
}

// --------------------------------------------------- K-quant level searches

// Symmetric levels in [-nmax, nmax) for a group, weighted by x² (ggml's
// make_qx_quants with rmse_type 1): tries 19 scales around nmax/max and keeps
// the one with the best weighted least-squares fit. Writes L[i] + nmax.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Symmetric 3-bit levels refined coordinate by coordinate (ggml's
// make_q3_quants with do_rmse). Writes L[i] + nmax.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  const float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        int new_l = nearest_int(x[i] * sl2 / slx);
        new_l = std::max(-nmax, std::min(nmax - 1, new_l));
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Asymmetric levels in [0, nmax] with a min <= 0 (ggml's make_qkx2_quants):
// a weighted least-squares fit of scale and min for nstep+1 candidate
// level assignments; keeps the one with the smallest weighted error.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// -------------------------------------------------------- K-quant quantizers

void quant_q2_k(const float* x, uint8_t* dst, int64_t n) {
  auto* y = reinterpret_cast<BlockQ2_K*>(dst);
  uint8_t L[kQkK], Laux[16];
  float weights[16], mins[kQkK / 16], scales[kQkK / 16];
  const float q4scale = 15.f;
  for (int64_t i = 0; i < n / kQkK; ++i, x += kQkK) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < kQkK / 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f,
                                   0.1f, 15, true);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    if (max_scale > 0) {
      const float iscale = q4scale / max_scale;
      for (int j = 0; j < kQkK / 16; ++j) {
        y[i].scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
      }
      y[i].d = f2h(max_scale / q4scale);
    } else {
      for (int j = 0; j < kQkK / 16; ++j) y[i].scales[j] = 0;
      y[i].d = f2h(0.f);
    }
    if (max_min > 0) {
      const float iscale = q4scale / max_min;
      for (int j = 0; j < kQkK / 16; ++j) y[i].scales[j] |= nearest_int(iscale * mins[j]) << 4;
      y[i].dmin = f2h(max_min / q4scale);
    } else {
      y[i].dmin = f2h(0.f);
    }
    for (int j = 0; j < kQkK / 16; ++j) {
      const float d = h2f(y[i].d) * (y[i].scales[j] & 0xF);
      if (!d) continue;
      const float dm = h2f(y[i].dmin) * (y[i].scales[j] >> 4);
      for (int ii = 0; ii < 16; ++ii) {
        const int l = nearest_int((x[16 * j + ii] + dm) / d);
        L[16 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(3, l)));
      }
    }
    for (int j = 0; j < kQkK; j += 128) {
      for (int l = 0; l < 32; ++l) {
        y[i].qs[j / 4 + l] =
            L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
      }
    }
  }
}

void quant_q3_k(const float* x, uint8_t* dst, int64_t n) {
  auto* y = reinterpret_cast<BlockQ3_K*>(dst);
  int8_t L[kQkK];
  float scales[kQkK / 16];
  for (int64_t i = 0; i < n / kQkK; ++i, x += kQkK) {
    float max_scale = 0, amax = 0;
    for (int j = 0; j < kQkK / 16; ++j) {
      scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
      const float scale = std::fabs(scales[j]);
      if (scale > amax) {
        amax = scale;
        max_scale = scales[j];
      }
    }
    std::memset(y[i].scales, 0, 12);
    if (max_scale) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < kQkK / 16; ++j) {
        int l = nearest_int(iscale * scales[j]);
        l = std::max(-32, std::min(31, l)) + 32;
        if (j < 8) {
          y[i].scales[j] = l & 0xF;
        } else {
          y[i].scales[j - 8] |= (l & 0xF) << 4;
        }
        l >>= 4;
        y[i].scales[j % 4 + 8] |= l << (2 * (j / 4));
      }
      y[i].d = f2h(1 / iscale);
    } else {
      y[i].d = f2h(0.f);
    }
    for (int j = 0; j < kQkK / 16; ++j) {
      const float d = h2f(y[i].d) * q3_k_scale(y[i].scales, j);
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = nearest_int(x[16 * j + ii] / d);
        L[16 * j + ii] = static_cast<int8_t>(std::max(-4, std::min(3, l)) + 4);
      }
    }
    std::memset(y[i].hmask, 0, kQkK / 8);
    int m = 0;
    uint8_t hm = 1;
    for (int j = 0; j < kQkK; ++j) {
      if (L[j] > 3) {
        y[i].hmask[m] |= hm;
        L[j] -= 4;
      }
      if (++m == kQkK / 8) {
        m = 0;
        hm <<= 1;
      }
    }
    for (int j = 0; j < kQkK; j += 128) {
      for (int l = 0; l < 32; ++l) {
        y[i].qs[j / 4 + l] =
            L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
      }
    }
  }
}

// Packs 8 six-bit scales and mins the way Q4_K and Q5_K store them.
void pack_scales_k4(const float* scales, const float* mins, float max_scale, float max_min,
                    uint8_t* packed) {
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; ++j) {
    // Through uint8_t first, as ggml does, so a (rare) negative fit wraps the same way.
    const uint8_t ls =
        std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    const uint8_t lm = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
      packed[j - 4] |= (ls >> 4) << 6;
      packed[j] |= (lm >> 4) << 6;
    }
  }
}

// The common part of Q4_K and Q5_K: per-group fits, packed scales, and the
// final levels L[0..256) in [0, nmax] against the rounded scales.
void quant_k4_levels(const float* x, int nmax, float rmin, int nstep, uint8_t* L, uint16_t* d_out,
                     uint16_t* dmin_out, uint8_t* packed) {
  uint8_t Laux[32];
  float weights[32], mins[8], scales[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin,
                                 0.1f, nstep, false);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  pack_scales_k4(scales, mins, max_scale, max_min, packed);
  *d_out = f2h(max_scale / 63.f);
  *dmin_out = f2h(max_min / 63.f);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    get_scale_min_k4(j, packed, &sc, &m);
    const float d = h2f(*d_out) * sc;
    if (!d) continue;
    const float dm = h2f(*dmin_out) * m;
    for (int ii = 0; ii < 32; ++ii) {
      const int l = nearest_int((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    }
  }
}

void quant_q4_k(const float* x, uint8_t* dst, int64_t n) {
  auto* y = reinterpret_cast<BlockQ4_K*>(dst);
  uint8_t L[kQkK];
  for (int64_t i = 0; i < n / kQkK; ++i, x += kQkK) {
    quant_k4_levels(x, 15, -1.f, 20, L, &y[i].d, &y[i].dmin, y[i].scales);
    uint8_t* q = y[i].qs;
    for (int j = 0; j < kQkK; j += 64, q += 32) {
      for (int l = 0; l < 32; ++l) q[l] = L[j + l] | (L[j + l + 32] << 4);
    }
  }
}

void quant_q5_k(const float* x, uint8_t* dst, int64_t n) {
  auto* y = reinterpret_cast<BlockQ5_K*>(dst);
  uint8_t L[kQkK];
  for (int64_t i = 0; i < n / kQkK; ++i, x += kQkK) {
    quant_k4_levels(x, 31, -0.5f, 15, L, &y[i].d, &y[i].dmin, y[i].scales);
    uint8_t* qh = y[i].qh;
    uint8_t* ql = y[i].qs;
    std::memset(qh, 0, kQkK / 8);
    uint8_t m1 = 1, m2 = 2;
    for (int base = 0; base < kQkK; base += 64, ql += 32, m1 <<= 2, m2 <<= 2) {
      for (int j = 0; j < 32; ++j) {
        int l1 = L[base + j];
        if (l1 > 15) {
          l1 -= 16;
          qh[j] |= m1;
        }
        int l2 = L[base + j + 32];
        if (l2 > 15) {
          l2 -= 16;
          qh[j] |= m2;
        }
        ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
    }
  }
}

void quant_q6_k(const float* x, uint8_t* dst, int64_t n) {
  auto* y = reinterpret_cast<BlockQ6_K*>(dst);
  int8_t L[kQkK];
  float scales[kQkK / 16];
  for (int64_t i = 0; i < n / kQkK; ++i, x += kQkK) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < kQkK / 16; ++ib) {
      const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
      scales[ib] = scale;
      if (std::fabs(scale) > max_abs_scale) {
        max_abs_scale = std::fabs(scale);
        max_scale = scale;
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y[i], 0, sizeof(BlockQ6_K));
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = f2h(1 / iscale);
    for (int ib = 0; ib < kQkK / 16; ++ib) {
      y[i].scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    }
    for (int j = 0; j < kQkK / 16; ++j) {
      const float d = h2f(y[i].d) * y[i].scales[j];
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = nearest_int(x[16 * j + ii] / d);
        L[16 * j + ii] = static_cast<int8_t>(std::max(-32, std::min(31, l)) + 32);
      }
    }
    uint8_t* ql = y[i].ql;
    uint8_t* qh = y[i].qh;
    for (int j = 0; j < kQkK; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t q1 = L[j + l] & 0xF;
        const uint8_t q2 = L[j + l + 32] & 0xF;
        const uint8_t q3 = L[j + l + 64] & 0xF;
        const uint8_t q4 = L[j + l + 96] & 0xF;
        ql[l] = q1 | (q3 << 4);
        ql[l + 32] = q2 | (q4 << 4);
        qh[l] = (L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                ((L[j + l + 96] >> 4) << 6);
      }
    }
  }
}

}  // namespace

namespace kernels_internal {

DequantRowFn dequant_row_fn(DType type) {
  switch (type) {
    case DType::kF32:
      return dequant_f32;
    case DType::kF16:
      return dequant_f16;
    case DType::kBF16:
      return dequant_bf16;
    case DType::kQ4_0:
      return dequant_q4_0;
    case DType::kQ4_1:
      return dequant_q4_1;
    case DType::kQ5_0:
      return dequant_q5_0;
    case DType::kQ5_1:
      return dequant_q5_1;
    case DType::kQ8_0:
      return dequant_q8_0;
    case DType::kQ2_K:
      return dequant_q2_k;
    case DType::kQ3_K:
      return dequant_q3_k;
    case DType::kQ4_K:
      return dequant_q4_k;
    case DType::kQ5_K:
      return dequant_q5_k;
    case DType::kQ6_K:
      return dequant_q6_k;
    default:
      return nullptr;
  }
}

}  // namespace kernels_internal

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  const kernels_internal::DequantRowFn fn = kernels_internal::dequant_row_fn(type);
  MOELAB_CHECK_MSG(fn != nullptr, "dequantize_row: type is not computable");
  MOELAB_CHECK(n % dtype_info(type).block_elems == 0);
  fn(static_cast<const uint8_t*>(src), dst, n);
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
  MOELAB_CHECK(n % dtype_info(type).block_elems == 0);
  auto* out = static_cast<uint8_t*>(dst);
  switch (type) {
    case DType::kF32:
      std::memcpy(out, src, n * 4);
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_fp16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_bf16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case DType::kQ4_0:
      quant_q4_0(src, out, n);
      return;
    case DType::kQ4_1:
      quant_q4_1(src, out, n);
      return;
    case DType::kQ5_0:
      quant_q5_0(src, out, n);
      return;
    case DType::kQ5_1:
      quant_q5_1(src, out, n);
      return;
    case DType::kQ8_0:
      quant_q8_0(src, out, n);
      return;
    case DType::kQ2_K:
      quant_q2_k(src, out, n);
      return;
    case DType::kQ3_K:
      quant_q3_k(src, out, n);
      return;
    case DType::kQ4_K:
      quant_q4_k(src, out, n);
      return;
    case DType::kQ5_K:
      quant_q5_k(src, out, n);
      return;
    case DType::kQ6_K:
      quant_q6_k(src, out, n);
      return;
    default:
      MOELAB_CHECK_MSG(false, "quantize_row: type is not computable");
  }
}

}  // namespace moelab
