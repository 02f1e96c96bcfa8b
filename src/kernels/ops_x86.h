// The x86 SIMD element-wise kernels (vector exp, RMSNorm, softmax, SiLU gate,
// RoPE rotation), written once over a float-vector traits type and compiled
// twice: by ops_avx2.cpp (8 lanes) and ops_avx512.cpp (16 lanes, define
// MOELAB_OPS_AVX512 first). attention_x86.h builds on the same traits.
// Everything has internal linkage (anonymous namespace) so the two
// compilations never merge into one symbol with the wrong instructions.
//
// Tails go through masked loads and stores, so every element of a row sees the
// same vector arithmetic whatever its index.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace moelab::ops_internal {
namespace {

#if defined(MOELAB_OPS_AVX512)
struct Vec {
  using T = __m512;
  using D = __m512d;  // double lanes for sums that must stay exact
  static constexpr int kW = 16;
  static T zero() { return _mm512_setzero_ps(); }
  static T set1(float v) { return _mm512_set1_ps(v); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static __mmask16 mask(int64_t n) {
    return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1);
  }
  // The first n (< kW allowed) lanes of p; the others read as zero.
  static T load_n(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  // IEEE half elements, widened exactly (an f16 KV cache); _n: the first n.
  static T load_half(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static T load_half_n(const uint16_t* p, int64_t n) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask(n), p));
  }
  static void store_n(float* p, T v, int64_t n) { _mm512_mask_storeu_ps(p, mask(n), v); }
  // v with the lanes from n on set to zero.
  static T keep_n(T v, int64_t n) { return _mm512_maskz_mov_ps(mask(n), v); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T div(T a, T b) { return _mm512_div_ps(a, b); }
  static T max(T a, T b) { return _mm512_max_ps(a, b); }
  static T min(T a, T b) { return _mm512_min_ps(a, b); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T fnma(T a, T b, T c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a·b
  static T round(T a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // 2^n for integral n in [-126, 127] held as floats.
  static T pow2(T n) {
    const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
  // Swaps the lanes of each adjacent pair: [x1 x0 x3 x2 ...].
  static T swap_pairs(T a) { return _mm512_permute_ps(a, 0xB1); }
  static float hsum(T v) {
    const __m256 lo = _mm512_castps512_ps256(v);
    const __m256 hi = _mm512_extractf32x8_ps(v, 1);
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(T v) {
    const __m256 s8 = _mm256_max_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static D zero_d() { return _mm512_setzero_pd(); }
  // acc += lanes of v (widened to double), over two double vectors.
  static void add_d(T v, D& lo, D& hi) {
    lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
  }
  // acc += v² (widened to double first, so the squares are exact).
  static void add_sq_d(T v, D& lo, D& hi) {
    const D a = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    const D b = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
    lo = _mm512_fmadd_pd(a, a, lo);
    hi = _mm512_fmadd_pd(b, b, hi);
  }
  static double hsum_d(D lo, D hi) {
    const D s = _mm512_add_pd(lo, hi);
    const __m256d s4 = _mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1));
    __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    s2 = _mm_add_sd(s2, _mm_unpackhi_pd(s2, s2));
    return _mm_cvtsd_f64(s2);
  }
};
#else
struct Vec {
  using T = __m256;
  using D = __m256d;
  static constexpr int kW = 8;
  static T zero() { return _mm256_setzero_ps(); }
  static T set1(float v) { return _mm256_set1_ps(v); }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static __m256i mask(int64_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < 8 ? n : 8)), idx);
  }
  static T load_n(const float* p, int64_t n) { return _mm256_maskload_ps(p, mask(n)); }
  static T load_half(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  // AVX2 has no 16-bit masked load: the tail goes through a zeroed buffer.
  static T load_half_n(const uint16_t* p, int64_t n) {
    alignas(16) uint16_t tail[8] = {};
    std::memcpy(tail, p, sizeof(uint16_t) * static_cast<size_t>(n < 8 ? n : 8));
    return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(tail)));
  }
  static void store_n(float* p, T v, int64_t n) { _mm256_maskstore_ps(p, mask(n), v); }
  static T keep_n(T v, int64_t n) { return _mm256_and_ps(v, _mm256_castsi256_ps(mask(n))); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T div(T a, T b) { return _mm256_div_ps(a, b); }
  static T max(T a, T b) { return _mm256_max_ps(a, b); }
  static T min(T a, T b) { return _mm256_min_ps(a, b); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T fnma(T a, T b, T c) { return _mm256_fnmadd_ps(a, b, c); }
  static T round(T a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static T pow2(T n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
  static T swap_pairs(T a) { return _mm256_permute_ps(a, 0xB1); }
  static float hsum(T v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(T v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static D zero_d() { return _mm256_setzero_pd(); }
  static void add_d(T v, D& lo, D& hi) {
    lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
  static void add_sq_d(T v, D& lo, D& hi) {
    const D a = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    const D b = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    lo = _mm256_fmadd_pd(a, a, lo);
    hi = _mm256_fmadd_pd(b, b, hi);
  }
  static double hsum_d(D lo, D hi) {
    const D s = _mm256_add_pd(lo, hi);
    __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    s2 = _mm_add_sd(s2, _mm_unpackhi_pd(s2, s2));
    return _mm_cvtsd_f64(s2);
  }
};
#endif

using V = Vec::T;
constexpr int kW = Vec::kW;

// e^x by Cody-Waite range reduction (x = n·ln2 + r, |r| <= ln2/2, ln2 split in
// two parts so n·ln2 is exact) and a degree-6 minimax polynomial for e^r
// (Cephes' expf coefficients), then scaling by 2^n through the exponent bits.
// Max relative error about 2 ulp (below 3e-7, measured by the ops test over
// [-87, 88]). Inputs are clamped to [-87.3, 88]: anything below gives about
// 1.2e-38 instead of a denormal or 0 (softmax weights that small vanish
// anyway), anything above gives e^88 (1.65e38) instead of inf, so the
// exponent n stays in [-126, 127] and 2^n is a normal float.
inline V vexp(V x) {
  x = Vec::min(Vec::max(x, Vec::set1(-87.3365402f)), Vec::set1(88.0f));
  const V n = Vec::round(Vec::mul(x, Vec::set1(1.44269504088896341f)));
  V r = Vec::fnma(n, Vec::set1(0.693359375f), x);
  r = Vec::fnma(n, Vec::set1(-2.12194440e-4f), r);
  V p = Vec::set1(1.9875691500e-4f);
  p = Vec::fma(p, r, Vec::set1(1.3981999507e-3f));
  p = Vec::fma(p, r, Vec::set1(8.3334519073e-3f));
  p = Vec::fma(p, r, Vec::set1(4.1665795894e-2f));
  p = Vec::fma(p, r, Vec::set1(1.6666665459e-1f));
  p = Vec::fma(p, r, Vec::set1(5.0000001201e-1f));
  p = Vec::fma(p, Vec::mul(r, r), Vec::add(r, Vec::set1(1.0f)));
  return Vec::mul(p, Vec::pow2(n));
}

inline void exp_array_simd(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kW <= n; i += kW) Vec::store(y + i, vexp(Vec::load(x + i)));
  if (i < n) Vec::store_n(y + i, vexp(Vec::load_n(x + i, n - i)), n - i);
}

inline void rms_norm_simd(const float* x, const float* w, float* y, int64_t n, float eps) {
  // Squares summed in double lanes, like the scalar reference: exact to float
  // precision whatever the row's length.
  Vec::D lo = Vec::zero_d(), hi = Vec::zero_d();
  int64_t i = 0;
  for (; i + kW <= n; i += kW) Vec::add_sq_d(Vec::load(x + i), lo, hi);
  if (i < n) Vec::add_sq_d(Vec::load_n(x + i, n - i), lo, hi);
  const double sum = Vec::hsum_d(lo, hi);
  const float scale = static_cast<float>(1.0 / __builtin_sqrt(sum / static_cast<double>(n) + eps));
  const V vs = Vec::set1(scale);
  for (i = 0; i + kW <= n; i += kW) {
    V v = Vec::mul(Vec::load(x + i), vs);
    if (w != nullptr) v = Vec::mul(v, Vec::load(w + i));
    Vec::store(y + i, v);
  }
  if (i < n) {
    V v = Vec::mul(Vec::load_n(x + i, n - i), vs);
    if (w != nullptr) v = Vec::mul(v, Vec::load_n(w + i, n - i));
    Vec::store_n(y + i, v, n - i);
  }
}

inline void softmax_simd(float* x, int64_t n) {
  if (n <= 0) return;
  V vmax = Vec::set1(-__builtin_inff());
  int64_t i = 0;
  for (; i + kW <= n; i += kW) vmax = Vec::max(vmax, Vec::load(x + i));
  float max = Vec::hmax(vmax);
  for (; i < n; ++i) max = x[i] > max ? x[i] : max;
  const V vm = Vec::set1(max);
  Vec::D lo = Vec::zero_d(), hi = Vec::zero_d();
  for (i = 0; i + kW <= n; i += kW) {
    const V e = vexp(Vec::sub(Vec::load(x + i), vm));
    Vec::store(x + i, e);
    Vec::add_d(e, lo, hi);
  }
  if (i < n) {
    // Masked-off lanes load 0 and would add e^-max: zero them after exp.
    const V e = Vec::keep_n(vexp(Vec::sub(Vec::load_n(x + i, n - i), vm)), n - i);
    Vec::store_n(x + i, e, n - i);
    Vec::add_d(e, lo, hi);
  }
  const V inv = Vec::set1(static_cast<float>(1.0 / Vec::hsum_d(lo, hi)));
  for (i = 0; i + kW <= n; i += kW) Vec::store(x + i, Vec::mul(Vec::load(x + i), inv));
  if (i < n) Vec::store_n(x + i, Vec::mul(Vec::load_n(x + i, n - i), inv), n - i);
}

inline void silu_mul_simd(const float* gate, const float* up, float* out, int64_t n) {
  const V one = Vec::set1(1.0f), zero = Vec::zero();
  int64_t i = 0;
  for (; i + kW <= n; i += kW) {
    const V g = Vec::load(gate + i);
    const V s = Vec::div(g, Vec::add(one, vexp(Vec::sub(zero, g))));
    Vec::store(out + i, Vec::mul(s, Vec::load(up + i)));
  }
  if (i < n) {
    const V g = Vec::load_n(gate + i, n - i);
    const V s = Vec::div(g, Vec::add(one, vexp(Vec::sub(zero, g))));
    Vec::store_n(out + i, Vec::mul(s, Vec::load_n(up + i, n - i)), n - i);
  }
}

// Rotates pairs of n_heads heads (see ops.h rope_rotate): cs/sn hold cos and
// sin per pair.
inline void rope_rotate_simd(float* x, int32_t n_heads, int64_t head_stride, const float* cs,
                             const float* sn, int32_t n_pairs, bool neox) {
  if (neox) {
    // a = head[i], b = head[i + n_pairs]: plain contiguous vectors.
    for (int32_t h = 0; h < n_heads; ++h) {
      float* a = x + h * head_stride;
      float* b = a + n_pairs;
      for (int32_t i = 0; i < n_pairs; i += kW) {
        const int64_t m = n_pairs - i;
        const V c = Vec::load_n(cs + i, m), s = Vec::load_n(sn + i, m);
        const V x0 = Vec::load_n(a + i, m), x1 = Vec::load_n(b + i, m);
        Vec::store_n(a + i, Vec::sub(Vec::mul(x0, c), Vec::mul(x1, s)), m);
        Vec::store_n(b + i, Vec::add(Vec::mul(x0, s), Vec::mul(x1, c)), m);
      }
    }
    return;
  }
  // Adjacent pairs (x0, x1) at 2i, 2i+1: with C = [c0 c0 c1 c1 ...] and
  // S = [-s0 s0 -s1 s1 ...], the rotation is x·C + swap_pairs(x)·S.
  constexpr int32_t kMaxPairs = 512;
  alignas(64) float cc[2 * kMaxPairs], ss[2 * kMaxPairs];
  const int32_t n_pairs_fit = n_pairs < kMaxPairs ? n_pairs : kMaxPairs;
  for (int32_t i = 0; i < n_pairs_fit; ++i) {
    cc[2 * i] = cc[2 * i + 1] = cs[i];
    ss[2 * i] = -sn[i];
    ss[2 * i + 1] = sn[i];
  }
  const int32_t n_rot = 2 * n_pairs_fit;
  for (int32_t h = 0; h < n_heads; ++h) {
    float* a = x + h * head_stride;
    for (int32_t i = 0; i < n_rot; i += kW) {
      const int64_t m = n_rot - i;
      const V v = Vec::load_n(a + i, m);
      const V r = Vec::add(Vec::mul(v, Vec::load_n(cc + i, m)),
                           Vec::mul(Vec::swap_pairs(v), Vec::load_n(ss + i, m)));
      Vec::store_n(a + i, r, m);
    }
    for (int32_t i = n_pairs_fit; i < n_pairs; ++i) {  // beyond the stack table (never in practice)
      const float x0 = a[2 * i], x1 = a[2 * i + 1];
      a[2 * i] = x0 * cs[i] - x1 * sn[i];
      a[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
    }
  }
}

}  // namespace
}  // namespace moelab::ops_internal
