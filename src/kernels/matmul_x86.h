// The x86 SIMD kernels, written once over a float-vector traits type and
// compiled twice: by matmul_avx2.cpp (8 lanes) and matmul_avx512.cpp (16
// lanes), each with its own ISA flags. Everything here has internal linkage
// (anonymous namespace) so the two compilations never merge into one symbol
// with the wrong instructions. Include only from those two files.
//
// Quantized fused dots decode 8 weights at a time into a 256-bit register
// (the unpacking is byte shuffling that 512-bit lanes do not speed up, and
// decode is bound by memory bandwidth); plain float types and the prefill
// micro-kernel use the full vector width.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/matmul_kernels.h"
#include "kernels/quant_blocks.h"
#include "kernels/quant_internal.h"

namespace moelab::kernels_internal {
namespace {

inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

#if defined(MOELAB_X86_AVX512)
struct VecF {
  using T = __m512;
  static constexpr int kW = 16;
  static T zero() { return _mm512_setzero_ps(); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  // Not _mm512_reduce_add_ps: GCC 12's version trips -Wuninitialized.
  static float sum(T v) {
    const __m512 hi = _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(3, 2, 3, 2));
    return hsum256(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_castps512_ps256(hi)));
  }
  static T load_f16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static T load_bf16(const uint16_t* p) {
    const __m512i u =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
  }
};
#else
struct VecF {
  using T = __m256;
  static constexpr int kW = 8;
  static T zero() { return _mm256_setzero_ps(); }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static float sum(T v) { return hsum256(v); }
  static T load_f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static T load_bf16(const uint16_t* p) {
    const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
  }
};
#endif

using V = VecF::T;
constexpr int kW = VecF::kW;

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// 8 bytes at p, zero-extended to 8 int32 lanes.
inline __m256i load8_u8(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// ------------------------------------------------------- plain float types

// kLoad: the weight row as floats, kW at a time; tails in scalar.
template <int kNt, typename Load, typename Scalar>
void fused_plain(int64_t n_in, const float* const* xs, float* out, Load load, Scalar scalar) {
  V acc[kNt];
  for (int t = 0; t < kNt; ++t) acc[t] = VecF::zero();
  int64_t j = 0;
  for (; j + kW <= n_in; j += kW) {
    const V w = load(j);
    for (int t = 0; t < kNt; ++t) acc[t] = VecF::fma(w, VecF::load(xs[t] + j), acc[t]);
  }
  for (int t = 0; t < kNt; ++t) {
    float s = VecF::sum(acc[t]);
    for (int64_t k = j; k < n_in; ++k) s += scalar(k) * xs[t][k];
    out[t] = s;
  }
}

template <int kNt>
void fused_f32(const uint8_t* w, int64_t n_in, const float* const* xs, float* out) {
  const auto* wf = reinterpret_cast<const float*>(w);
  fused_plain<kNt>(
      n_in, xs, out, [&](int64_t j) { return VecF::load(wf + j); },
      [&](int64_t k) { return wf[k]; });
}

template <int kNt>
void fused_f16(const uint8_t* w, int64_t n_in, const float* const* xs, float* out) {
  const auto* wh = reinterpret_cast<const uint16_t*>(w);
  fused_plain<kNt>(
      n_in, xs, out, [&](int64_t j) { return VecF::load_f16(wh + j); },
      [&](int64_t k) { return h2f(wh[k]); });
}

template <int kNt>
void fused_bf16(const uint8_t* w, int64_t n_in, const float* const* xs, float* out) {
  const auto* wh = reinterpret_cast<const uint16_t*>(w);
  fused_plain<kNt>(
      n_in, xs, out, [&](int64_t j) { return VecF::load_bf16(wh + j); },
      [&](int64_t k) {
        const uint32_t bits = static_cast<uint32_t>(wh[k]) << 16;
        float f;
        __builtin_memcpy(&f, &bits, 4);
        return f;
      });
}

// ------------------------------------------------------------ quantized

template <int kNt>
void fused_q8_0(const uint8_t* w, int64_t n_in, const float* const* xs, float* out) {
  const auto* b = reinterpret_cast<const BlockQ8_0*>(w);
  __m256 acc[kNt];
  for (int t = 0; t < kNt; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n_in / kQk; ++i) {
    __m256 blk[kNt];
    for (int t = 0; t < kNt; ++t) blk[t] = _mm256_setzero_ps();
    const uint8_t* qs = reinterpret_cast<const uint8_t*>(b[i].qs);
    for (int k = 0; k < 4; ++k) {
      const __m256 q = _mm256_cvtepi32_ps(
          _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(qs + 8 * k))));
      for (int t = 0; t < kNt; ++t) {
        blk[t] = _mm256_fmadd_ps(q, _mm256_loadu_ps(xs[t] + i * kQk + 8 * k), blk[t]);
      }
    }
    const __m256 d = _mm256_set1_ps(h2f(b[i].d));
    for (int t = 0; t < kNt; ++t) acc[t] = _mm256_fmadd_ps(d, blk[t], acc[t]);
  }
  for (int t = 0; t < kNt; ++t) out[t] = hsum256(acc[t]);
}

template <int kNt>
void fused_q4_k(const uint8_t* w, int64_t n_in, const float* const* xs, float* out) {
  const auto* b = reinterpret_cast<const BlockQ4_K*>(w);
  const __m256i nib = _mm256_set1_epi32(0xF);
  __m256 acc[kNt];
  for (int t = 0; t < kNt; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n_in / kQkK; ++i) {
    const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
    for (int c = 0; c < 4; ++c) {
      uint8_t sc0, m0, sc1, m1;
      get_scale_min_k4(2 * c, b[i].scales, &sc0, &m0);
      get_scale_min_k4(2 * c + 1, b[i].scales, &sc1, &m1);
      const __m256 d0 = _mm256_set1_ps(d * sc0), mm0 = _mm256_set1_ps(dmin * m0);
      const __m256 d1 = _mm256_set1_ps(d * sc1), mm1 = _mm256_set1_ps(dmin * m1);
      const uint8_t* q = b[i].qs + 32 * c;
      const int64_t base = i * kQkK + 64 * c;
      for (int k = 0; k < 4; ++k) {
        const __m256i bytes = load8_u8(q + 8 * k);
        const __m256 lo =
            _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_and_si256(bytes, nib)), d0, mm0);
        const __m256 hi = _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(bytes, 4)), d1, mm1);
        for (int t = 0; t < kNt; ++t) {
          acc[t] = _mm256_fmadd_ps(lo, _mm256_loadu_ps(xs[t] + base + 8 * k), acc[t]);
          acc[t] = _mm256_fmadd_ps(hi, _mm256_loadu_ps(xs[t] + base + 32 + 8 * k), acc[t]);
        }
      }
    }
  }
  for (int t = 0; t < kNt; ++t) out[t] = hsum256(acc[t]);
}

template <int kNt>
void fused_q6_k(const uint8_t* w, int64_t n_in, const float* const* xs, float* out) {
  const auto* b = reinterpret_cast<const BlockQ6_K*>(w);
  const __m256i m4 = _mm256_set1_epi32(0xF), m2 = _mm256_set1_epi32(3);
  const __m256i off = _mm256_set1_epi32(32);
  __m256 acc[kNt];
  for (int t = 0; t < kNt; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n_in / kQkK; ++i) {
    const float d = h2f(b[i].d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      const int8_t* sc = b[i].scales + 8 * h;
      const int64_t base = i * kQkK + 128 * h;
      for (int l0 = 0; l0 < 32; l0 += 8) {
        const int is = l0 / 16;
        const __m256i a = load8_u8(ql + l0), c = load8_u8(ql + 32 + l0), hb = load8_u8(qh + l0);
        const __m256i q1 =
            _mm256_sub_epi32(_mm256_or_si256(_mm256_and_si256(a, m4),
                                             _mm256_slli_epi32(_mm256_and_si256(hb, m2), 4)),
                             off);
        const __m256i q2 = _mm256_sub_epi32(
            _mm256_or_si256(_mm256_and_si256(c, m4),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(hb, 2), m2), 4)),
            off);
        const __m256i q3 = _mm256_sub_epi32(
            _mm256_or_si256(_mm256_srli_epi32(a, 4),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(hb, 4), m2), 4)),
            off);
        const __m256i q4 =
            _mm256_sub_epi32(_mm256_or_si256(_mm256_srli_epi32(c, 4),
                                             _mm256_slli_epi32(_mm256_srli_epi32(hb, 6), 4)),
                             off);
        const __m256 w1 = _mm256_mul_ps(_mm256_cvtepi32_ps(q1), _mm256_set1_ps(d * sc[is]));
        const __m256 w2 = _mm256_mul_ps(_mm256_cvtepi32_ps(q2), _mm256_set1_ps(d * sc[is + 2]));
        const __m256 w3 = _mm256_mul_ps(_mm256_cvtepi32_ps(q3), _mm256_set1_ps(d * sc[is + 4]));
        const __m256 w4 = _mm256_mul_ps(_mm256_cvtepi32_ps(q4), _mm256_set1_ps(d * sc[is + 6]));
        for (int t = 0; t < kNt; ++t) {
          const float* x = xs[t] + base + l0;
          acc[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x), acc[t]);
          acc[t] = _mm256_fmadd_ps(w2, _mm256_loadu_ps(x + 32), acc[t]);
          acc[t] = _mm256_fmadd_ps(w3, _mm256_loadu_ps(x + 64), acc[t]);
          acc[t] = _mm256_fmadd_ps(w4, _mm256_loadu_ps(x + 96), acc[t]);
        }
      }
    }
  }
  for (int t = 0; t < kNt; ++t) out[t] = hsum256(acc[t]);
}

// Every other type: decode one step (a whole number of blocks, at most 256
// values) into a stack buffer with the scalar converter, then a SIMD dot.
template <DType kType, int kNt>
void fused_generic(const uint8_t* w, int64_t n_in, const float* const* xs, float* out) {
  const DequantRowFn dequant = dequant_row_fn(kType);
  const DTypeInfo& info = dtype_info(kType);
  alignas(64) float buf[kQkK];
  V acc[kNt];
  for (int t = 0; t < kNt; ++t) acc[t] = VecF::zero();
  for (int64_t i = 0; i < n_in; i += kQkK) {
    const int64_t n = std::min<int64_t>(kQkK, n_in - i);  // a multiple of 32, hence of kW
    dequant(w + i / info.block_elems * info.block_bytes, buf, n);
    for (int64_t j = 0; j < n; j += kW) {
      const V wv = VecF::load(buf + j);
      for (int t = 0; t < kNt; ++t) acc[t] = VecF::fma(wv, VecF::load(xs[t] + i + j), acc[t]);
    }
  }
  for (int t = 0; t < kNt; ++t) out[t] = VecF::sum(acc[t]);
}

// Turns a kernel templated on the token count into a FusedDotFn.
template <template <int> class K>
void dispatch_nt(const uint8_t* w, int64_t n_in, const float* const* xs, int n_tok, float* out) {
  switch (n_tok) {
    case 1:
      K<1>::run(w, n_in, xs, out);
      break;
    case 2:
      K<2>::run(w, n_in, xs, out);
      break;
    case 3:
      K<3>::run(w, n_in, xs, out);
      break;
    default:
      K<4>::run(w, n_in, xs, out);
      break;
  }
}

#define MOELAB_FUSED_WRAP(name, fn)                                                    \
  template <int kNt>                                                                   \
  struct name {                                                                        \
    static void run(const uint8_t* w, int64_t n, const float* const* xs, float* out) { \
      fn<kNt>(w, n, xs, out);                                                          \
    }                                                                                  \
  };
MOELAB_FUSED_WRAP(KF32, fused_f32)
MOELAB_FUSED_WRAP(KF16, fused_f16)
MOELAB_FUSED_WRAP(KBF16, fused_bf16)
MOELAB_FUSED_WRAP(KQ8_0, fused_q8_0)
MOELAB_FUSED_WRAP(KQ4_K, fused_q4_k)
MOELAB_FUSED_WRAP(KQ6_K, fused_q6_k)
#undef MOELAB_FUSED_WRAP

template <DType kType>
struct KGeneric {
  template <int kNt>
  struct K {
    static void run(const uint8_t* w, int64_t n, const float* const* xs, float* out) {
      fused_generic<kType, kNt>(w, n, xs, out);
    }
  };
};

FusedDotFn simd_fused(DType type) {
  switch (type) {
    case DType::kF32:
      return dispatch_nt<KF32>;
    case DType::kF16:
      return dispatch_nt<KF16>;
    case DType::kBF16:
      return dispatch_nt<KBF16>;
    case DType::kQ8_0:
      return dispatch_nt<KQ8_0>;
    case DType::kQ4_K:
      return dispatch_nt<KQ4_K>;
    case DType::kQ6_K:
      return dispatch_nt<KQ6_K>;
    case DType::kQ4_0:
      return dispatch_nt<KGeneric<DType::kQ4_0>::K>;
    case DType::kQ4_1:
      return dispatch_nt<KGeneric<DType::kQ4_1>::K>;
    case DType::kQ5_0:
      return dispatch_nt<KGeneric<DType::kQ5_0>::K>;
    case DType::kQ5_1:
      return dispatch_nt<KGeneric<DType::kQ5_1>::K>;
    case DType::kQ2_K:
      return dispatch_nt<KGeneric<DType::kQ2_K>::K>;
    case DType::kQ3_K:
      return dispatch_nt<KGeneric<DType::kQ3_K>::K>;
    case DType::kQ5_K:
      return dispatch_nt<KGeneric<DType::kQ5_K>::K>;
    default:
      return nullptr;
  }
}

// ------------------------------------------------------- panel dequantize

void dequant_f16_simd(const uint8_t* src, float* dst, int64_t n) {
  const auto* h = reinterpret_cast<const uint16_t*>(src);
  int64_t j = 0;
  for (; j + kW <= n; j += kW) VecF::store(dst + j, VecF::load_f16(h + j));
  for (; j < n; ++j) dst[j] = h2f(h[j]);
}

void dequant_bf16_simd(const uint8_t* src, float* dst, int64_t n) {
  const auto* h = reinterpret_cast<const uint16_t*>(src);
  int64_t j = 0;
  for (; j + kW <= n; j += kW) VecF::store(dst + j, VecF::load_bf16(h + j));
  for (; j < n; ++j) {
    const uint32_t bits = static_cast<uint32_t>(h[j]) << 16;
    __builtin_memcpy(dst + j, &bits, 4);
  }
}

DequantFn simd_dequant(DType type) {
  switch (type) {
    case DType::kF16:
      return dequant_f16_simd;
    case DType::kBF16:
      return dequant_bf16_simd;
    default:
      return dequant_row_fn(type);
  }
}

// ------------------------------------------------------- prefill micro-kernel

// A kR × kT tile of dots along k: kR weight rows against kT tokens, kR + kT
// loads feeding kR * kT FMAs per vector step.
template <int kR, int kT>
void tile(const float* panel, int64_t ld, const float* const* xs, int64_t n_in, float* y,
          int64_t ldy) {
  V acc[kR][kT];
  for (int r = 0; r < kR; ++r)
    for (int t = 0; t < kT; ++t) acc[r][t] = VecF::zero();
  int64_t j = 0;
  for (; j + kW <= n_in; j += kW) {
    V xv[kT];
    for (int t = 0; t < kT; ++t) xv[t] = VecF::load(xs[t] + j);
    for (int r = 0; r < kR; ++r) {
      const V wv = VecF::load(panel + r * ld + j);
      for (int t = 0; t < kT; ++t) acc[r][t] = VecF::fma(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < kR; ++r) {
    for (int t = 0; t < kT; ++t) {
      float s = VecF::sum(acc[r][t]);
      for (int64_t k = j; k < n_in; ++k) s += panel[r * ld + k] * xs[t][k];
      y[t * ldy + r] = s;
    }
  }
}

template <int kR>
void tile_rows(const float* panel, int64_t ld, const float* const* xs, int64_t n_tok, int64_t n_in,
               float* y, int64_t ldy) {
  int64_t t = 0;
  for (; t + 4 <= n_tok; t += 4) tile<kR, 4>(panel, ld, xs + t, n_in, y + t * ldy, ldy);
  switch (n_tok - t) {
    case 3:
      tile<kR, 3>(panel, ld, xs + t, n_in, y + t * ldy, ldy);
      break;
    case 2:
      tile<kR, 2>(panel, ld, xs + t, n_in, y + t * ldy, ldy);
      break;
    case 1:
      tile<kR, 1>(panel, ld, xs + t, n_in, y + t * ldy, ldy);
      break;
    default:
      break;
  }
}

void simd_panel_gemm(const float* panel, int64_t ld_panel, int64_t n_rows, const float* const* xs,
                     int64_t n_tok, int64_t n_in, float* y, int64_t ldy) {
  // Token tiles outermost: 4 token rows stay in L1 while the panel streams
  // from L2 under them.
  for (int64_t t = 0; t < n_tok; t += 4) {
    const int64_t nt = std::min<int64_t>(4, n_tok - t);
    int64_t r = 0;
    for (; r + 4 <= n_rows; r += 4) {
      tile_rows<4>(panel + r * ld_panel, ld_panel, xs + t, nt, n_in, y + t * ldy + r, ldy);
    }
    switch (n_rows - r) {
      case 3:
        tile_rows<3>(panel + r * ld_panel, ld_panel, xs + t, nt, n_in, y + t * ldy + r, ldy);
        break;
      case 2:
        tile_rows<2>(panel + r * ld_panel, ld_panel, xs + t, nt, n_in, y + t * ldy + r, ldy);
        break;
      case 1:
        tile_rows<1>(panel + r * ld_panel, ld_panel, xs + t, nt, n_in, y + t * ldy + r, ldy);
        break;
      default:
        break;
    }
  }
}

MatmulKernels make_simd_kernels() { return {simd_fused, simd_dequant, simd_panel_gemm}; }

}  // namespace
}  // namespace moelab::kernels_internal
