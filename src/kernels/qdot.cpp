// Activation quantizers (ggml's reference formulas, step by step) and the
// scalar reference integer dots every SIMD variant is tested against. Each
// block's integer sum is exact; the float part is one multiply-add per block
// (per super-block for the K-quants), in block order, as ggml's scalar
// vec_dot_*_q8_* do.
#include "kernels/qdot.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/fp16.h"
#include "kernels/matmul.h"
#include "kernels/matmul_kernels.h"
#include "kernels/quant_blocks.h"
#include "kernels/quant_internal.h"

namespace moelab::kernels_internal {
namespace {


int64_t pad64(int64_t n) { return (n + 63) / 64 * 64; }

void quantize_q8_0(const float* x, int64_t n_in, uint8_t* dst) {
  const ActRow a = act_row(ActFormat::kQ8_0, dst, n_in);
  auto* qs = const_cast<int8_t*>(a.qs);
  auto* d = const_cast<float*>(a.d);
  auto* sum = const_cast<int32_t*>(a.sum);
  for (int64_t i = 0; i < n_in / kQk; ++i) {
    const float* xb = x + i * kQk;
    float amax = 0.0f;
    for (int j = 0; j < kQk; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float db = amax / 127;
    const float id = db ? 1.0f / db : 0.0f;
    d[i] = fp16_to_fp32(fp32_to_fp16(db));  // block_q8_0 keeps d as fp16
    int32_t s = 0;
    for (int j = 0; j < kQk; ++j) {
      const auto q = static_cast<int8_t>(std::roundf(xb[j] * id));
      qs[i * kQk + j] = q;
      s += q;
    }
    sum[i] = s;
  }
}

void quantize_q8_k(const float* x, int64_t n_in, uint8_t* dst) {
  const ActRow a = act_row(ActFormat::kQ8_K, dst, n_in);
  auto* qs = const_cast<int8_t*>(a.qs);
  auto* d = const_cast<float*>(a.d);
  auto* bsums = const_cast<int16_t*>(a.bsums);
  for (int64_t i = 0; i < n_in / kQkK; ++i) {
    const float* xb = x + i * kQkK;
    int8_t* q = qs + i * kQkK;
    float max = 0, amax = 0;
    for (int j = 0; j < kQkK; ++j) {
      const float ax = std::fabs(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    if (!amax) {
      d[i] = 0;
      std::memset(q, 0, kQkK);
      for (int j = 0; j < kQkK / 16; ++j) bsums[i * 16 + j] = 0;
      continue;
    }
    // ggml's current scale (-127/max; it was -128/max before IQ2_XXS), so the
    // clamp to 127 only guards rounding.
    const float iscale = -127.f / max;
    for (int j = 0; j < kQkK; ++j) q[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * xb[j])));
    for (int j = 0; j < kQkK / 16; ++j) {
      int s = 0;
      for (int k = 0; k < 16; ++k) s += q[16 * j + k];
      bsums[i * 16 + j] = static_cast<int16_t>(s);
    }
    d[i] = 1 / iscale;
  }
}

// ------------------------------------------------------------ scalar dots

float dot_q8_0(const uint8_t* w, int64_t n_in, const ActRow& a) {
  const auto* b = reinterpret_cast<const BlockQ8_0*>(w);
  float acc = 0;
  for (int64_t i = 0; i < n_in / kQk; ++i) {
    int32_t s = 0;
    for (int j = 0; j < kQk; ++j) s += b[i].qs[j] * a.qs[i * kQk + j];
    acc += fp16_to_fp32(b[i].d) * a.d[i] * static_cast<float>(s);
  }
  return acc;
}

float dot_q4_0(const uint8_t* w, int64_t n_in, const ActRow& a) {
  const auto* b = reinterpret_cast<const BlockQ4_0*>(w);
  float acc = 0;
  for (int64_t i = 0; i < n_in / kQk; ++i) {
    const int8_t* q8 = a.qs + i * kQk;
    int32_t s = 0;
    for (int j = 0; j < kQk / 2; ++j) {
      s += ((b[i].qs[j] & 0x0F) - 8) * q8[j];
      s += ((b[i].qs[j] >> 4) - 8) * q8[j + kQk / 2];
    }
    acc += fp16_to_fp32(b[i].d) * a.d[i] * static_cast<float>(s);
  }
  return acc;
}

float dot_q5_0(const uint8_t* w, int64_t n_in, const ActRow& a) {
  const auto* b = reinterpret_cast<const BlockQ5_0*>(w);
  float acc = 0;
  for (int64_t i = 0; i < n_in / kQk; ++i) {
    const int8_t* q8 = a.qs + i * kQk;
    uint32_t qh;
    std::memcpy(&qh, b[i].qh, 4);
    int32_t s = 0;
    for (int j = 0; j < kQk / 2; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10;
      const int h1 = (qh >> (j + 12)) & 0x10;
      s += (((b[i].qs[j] & 0x0F) | h0) - 16) * q8[j];
      s += (((b[i].qs[j] >> 4) | h1) - 16) * q8[j + kQk / 2];
    }
    acc += fp16_to_fp32(b[i].d) * a.d[i] * static_cast<float>(s);
  }
  return acc;
}

// Q4_K and Q5_K: per super-block, Σ_g sc_g Σ q·a and the min term
// Σ_g m_g (bsum_2g + bsum_2g+1), then d·da·sumi − dmin·da·summ.
template <bool kFive>
float dot_q45_k(const uint8_t* w, int64_t n_in, const ActRow& a) {
  float acc = 0;
  for (int64_t i = 0; i < n_in / kQkK; ++i) {
    const uint8_t* scales;
    const uint8_t* qs;
    const uint8_t* qh = nullptr;
    uint16_t d, dmin;
    if constexpr (kFive) {
      const auto& b = reinterpret_cast<const BlockQ5_K*>(w)[i];
      scales = b.scales, qs = b.qs, qh = b.qh, d = b.d, dmin = b.dmin;
    } else {
      const auto& b = reinterpret_cast<const BlockQ4_K*>(w)[i];
      scales = b.scales, qs = b.qs, d = b.d, dmin = b.dmin;
    }
    const int8_t* q8 = a.qs + i * kQkK;
    int32_t sumi = 0, summ = 0;
    for (int g = 0; g < 8; ++g) {
      uint8_t sc, m;
      get_scale_min_k4(g, scales, &sc, &m);
      const int c = g / 2;
      int32_t s = 0;
      for (int l = 0; l < 32; ++l) {
        int q = (g % 2 == 0) ? (qs[32 * c + l] & 0x0F) : (qs[32 * c + l] >> 4);
        if constexpr (kFive) q |= ((qh[l] >> g) & 1) << 4;
        s += q * q8[32 * g + l];
      }
      sumi += sc * s;
      summ += m * (a.bsums[i * 16 + 2 * g] + a.bsums[i * 16 + 2 * g + 1]);
    }
    const float da = a.d[i];
    acc += fp16_to_fp32(d) * da * static_cast<float>(sumi) -
           fp16_to_fp32(dmin) * da * static_cast<float>(summ);
  }
  return acc;
}

float dot_q6_k(const uint8_t* w, int64_t n_in, const ActRow& a) {
  const auto* blocks = reinterpret_cast<const BlockQ6_K*>(w);
  float acc = 0;
  for (int64_t i = 0; i < n_in / kQkK; ++i) {
    const BlockQ6_K& b = blocks[i];
    const int8_t* q8 = a.qs + i * kQkK;
    int q[kQkK];
    for (int h = 0; h < 2; ++h) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t* ql = b.ql + 64 * h;
        const int hb = b.qh[32 * h + l];
        q[128 * h + l] = ((ql[l] & 0xF) | ((hb & 3) << 4)) - 32;
        q[128 * h + l + 32] = ((ql[l + 32] & 0xF) | (((hb >> 2) & 3) << 4)) - 32;
        q[128 * h + l + 64] = ((ql[l] >> 4) | (((hb >> 4) & 3) << 4)) - 32;
        q[128 * h + l + 96] = ((ql[l + 32] >> 4) | (((hb >> 6) & 3) << 4)) - 32;
      }
    }
    int32_t sumi = 0;
    for (int g = 0; g < 16; ++g) {
      int32_t s = 0;
      for (int l = 0; l < 16; ++l) s += q[16 * g + l] * q8[16 * g + l];
      sumi += b.scales[g] * s;
    }
    acc += fp16_to_fp32(b.d) * a.d[i] * static_cast<float>(sumi);
  }
  return acc;
}

template <float (*kDot)(const uint8_t*, int64_t, const ActRow&), ActFormat kFmt>
void scalar_rows(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in,
                 const uint8_t* const* xq, int n_tok, float* y, int64_t ldy) {
  for (int t = 0; t < n_tok; ++t) {
    const ActRow a = act_row(kFmt, xq[t], n_in);
    for (int64_t r = 0; r < n_rows; ++r) y[t * ldy + r] = kDot(w + r * row_bytes, n_in, a);
  }
}

}  // namespace

ActFormat act_format_for(DType weight) {
  switch (weight) {
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ5_0:
      return ActFormat::kQ8_0;
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return ActFormat::kQ8_K;
    default:
      return ActFormat::kNone;
  }
}

int64_t act_row_bytes(ActFormat f, int64_t n_in) {
  switch (f) {
    case ActFormat::kQ8_0:
      return pad64(n_in + n_in / kQk * 8);
    case ActFormat::kQ8_K:
      return pad64(n_in + n_in / kQkK * 4 + n_in / 16 * 2);
    case ActFormat::kNone:
      break;
  }
  return 0;
}

ActRow act_row(ActFormat f, const uint8_t* row, int64_t n_in) {
  ActRow a{reinterpret_cast<const int8_t*>(row), reinterpret_cast<const float*>(row + n_in),
           nullptr, nullptr};
  if (f == ActFormat::kQ8_0) {
    a.sum = reinterpret_cast<const int32_t*>(row + n_in + n_in / kQk * 4);
  } else {
    a.bsums = reinterpret_cast<const int16_t*>(row + n_in + n_in / kQkK * 4);
  }
  return a;
}

void quantize_act_row_scalar(ActFormat f, const float* x, int64_t n_in, uint8_t* dst) {
  MOELAB_CHECK(f != ActFormat::kNone);
  if (f == ActFormat::kQ8_0) {
    MOELAB_CHECK(n_in % kQk == 0);
    quantize_q8_0(x, n_in, dst);
  } else {
    MOELAB_CHECK(n_in % kQkK == 0);
    quantize_q8_k(x, n_in, dst);
  }
}

void quantize_act_row(ActFormat f, const float* x, int64_t n_in, uint8_t* dst) {
  static const bool kVector = isa_supported(Isa::kAvx512);
  if (!kVector) {
    quantize_act_row_scalar(f, x, n_in, dst);
    return;
  }
  MOELAB_CHECK(f != ActFormat::kNone);
  MOELAB_CHECK(n_in % (f == ActFormat::kQ8_0 ? kQk : kQkK) == 0);
  quantize_act_row_avx512(f, x, n_in, dst);
}

QuantRowsFn scalar_quant_rows(DType type) {
  switch (type) {
    case DType::kQ8_0:
      return scalar_rows<dot_q8_0, ActFormat::kQ8_0>;
    case DType::kQ4_0:
      return scalar_rows<dot_q4_0, ActFormat::kQ8_0>;
    case DType::kQ5_0:
      return scalar_rows<dot_q5_0, ActFormat::kQ8_0>;
    case DType::kQ4_K:
      return scalar_rows<dot_q45_k<false>, ActFormat::kQ8_K>;
    case DType::kQ5_K:
      return scalar_rows<dot_q45_k<true>, ActFormat::kQ8_K>;
    case DType::kQ6_K:
      return scalar_rows<dot_q6_k, ActFormat::kQ8_K>;
    default:
      return nullptr;
  }
}

}  // namespace moelab::kernels_internal
