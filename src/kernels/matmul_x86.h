// The x86 SIMD kernels, written once over a float-vector traits type and
// compiled twice: by matmul_avx2.cpp (8 lanes) and matmul_avx512.cpp (16
// lanes), each with its own ISA flags. Everything here has internal linkage
// (anonymous namespace) so the two compilations never merge into one symbol
// with the wrong instructions. Include only from those two files.
//
// Every kernel uses the full vector width (kW lanes), quantized decoders too,
// so the fused decode dots and the panel micro-kernel accumulate alike (see
// "Batch invariance" below).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "base/check.h"
#include "kernels/matmul_kernels.h"
#include "kernels/quant_blocks.h"
#include "kernels/quant_internal.h"

#ifndef MOELAB_PREFETCH
#define MOELAB_PREFETCH 1
#endif

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
  // Integer lanes for decoding quantized weights kW at a time.
  using I = __m512i;
  static I u8(const uint8_t* p) {
    return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static I i8(const int8_t* p) {
    return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static I set1i(int v) { return _mm512_set1_epi32(v); }
  static I and_(I a, I b) { return _mm512_and_si512(a, b); }
  static I or_(I a, I b) { return _mm512_or_si512(a, b); }
  static I sub(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I srli(I a, int n) { return _mm512_srli_epi32(a, n); }
  static I slli(I a, int n) { return _mm512_slli_epi32(a, n); }
  static T cvt(I a) { return _mm512_cvtepi32_ps(a); }
  static T set1(float v) { return _mm512_set1_ps(v); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T fmsub(T a, T b, T c) { return _mm512_fmsub_ps(a, b, c); }
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
  using I = __m256i;
  static I u8(const uint8_t* p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
  static I i8(const int8_t* p) {
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
  static I set1i(int v) { return _mm256_set1_epi32(v); }
  static I and_(I a, I b) { return _mm256_and_si256(a, b); }
  static I or_(I a, I b) { return _mm256_or_si256(a, b); }
  static I sub(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I srli(I a, int n) { return _mm256_srli_epi32(a, n); }
  static I slli(I a, int n) { return _mm256_slli_epi32(a, n); }
  static T cvt(I a) { return _mm256_cvtepi32_ps(a); }
  static T set1(float v) { return _mm256_set1_ps(v); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T fmsub(T a, T b, T c) { return _mm256_fmsub_ps(a, b, c); }
};
#endif

using V = VecF::T;
constexpr int kW = VecF::kW;

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// ------------------------------------------------------------ fused decode
//
// Batch invariance: a token's dot with a weight row must be bit-identical on
// the fused path (few tokens) and the panel path (many tokens). Both paths
// therefore see the same float weights, produced by the same visit_* decoder
// (the fused path keeps them in registers, the panel path stores them to
// scratch), and accumulate them the same way: one kW-lane accumulator per
// (row, token), fma(w, x, acc) in ascending element order, then VecF::sum.
//
// Speed: the decoders walk kR rows in lockstep. A single row gives one fma
// dependency chain per token, and its 4-cycle latency, not memory, bounded
// decode; kR rows give kR independent chains and share each x load. The
// per-row arithmetic is unchanged by kR (elementwise decode, one accumulator
// per row and token), so the bits do not depend on how rows are grouped.

using I = VecF::I;

// Calls f(j, w) for every kW weights of kR rows at once (w[r] belongs to row
// r, rows row_bytes apart), j ascending.
template <int kR, typename F>
inline void visit_q8_0(const uint8_t* row, int64_t row_bytes, int64_t n_in, F&& f) {
  const BlockQ8_0* b[kR];
  for (int r = 0; r < kR; ++r) b[r] = reinterpret_cast<const BlockQ8_0*>(row + r * row_bytes);
  for (int64_t i = 0; i < n_in / kQk; ++i) {
    V d[kR];
    for (int r = 0; r < kR; ++r) d[r] = VecF::set1(h2f(b[r][i].d));
    for (int k = 0; k < kQk; k += kW) {
      V w[kR];
      for (int r = 0; r < kR; ++r) w[r] = VecF::mul(VecF::cvt(VecF::i8(b[r][i].qs + k)), d[r]);
      f(i * kQk + k, w);
    }
  }
}

// K-quant super-blocks are decoded in two steps. First, per row, with
// 256-bit byte operations: the packed quants of the whole super-block are
// unpacked into one byte per weight in element order, and its scales become
// floats (sub-block scale × super-block scale), both in small stack buffers.
// Then each kW weights cost one widening load, one convert and one
// multiply(-add) with a scale broadcast straight from memory, which keeps
// scalar scale decoding and broadcasts out of the inner loop and frees the
// registers that kept K-quant decoders at 2 rows. The floats are exactly the
// ones the scalar converter's formulas give (d * sc is one float product
// either way; Q4_K's q * d1 - m1 is one fused multiply-subtract), so both
// paths keep seeing identical weights.

// Q4_K: q[e] = 4-bit quant of element e; dm[0..8) = d * sc_g, dm[8..16) =
// dmin * m_g for the 8 groups of 32.
inline void unpack_q4_k(const BlockQ4_K& b, uint8_t* q, float* dm) {
  const __m256i nib = _mm256_set1_epi8(0x0F);
  for (int c = 0; c < 4; ++c) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * c));
    _mm256_store_si256(reinterpret_cast<__m256i*>(q + 64 * c), _mm256_and_si256(v, nib));
    _mm256_store_si256(reinterpret_cast<__m256i*>(q + 64 * c + 32),
                       _mm256_and_si256(_mm256_srli_epi16(v, 4), nib));
  }
  // The 12 scale bytes as three little-endian words; byte j of each result
  // word is group j (0-3) or j + 4 (see get_scale_min_k4).
  uint32_t a, m, h;
  __builtin_memcpy(&a, b.scales, 4);
  __builtin_memcpy(&m, b.scales + 4, 4);
  __builtin_memcpy(&h, b.scales + 8, 4);
  const uint32_t sc_lo = a & 0x3F3F3F3Fu;
  const uint32_t mn_lo = m & 0x3F3F3F3Fu;
  const uint32_t sc_hi = (h & 0x0F0F0F0Fu) | (((a >> 6) & 0x03030303u) << 4);
  const uint32_t mn_hi = ((h >> 4) & 0x0F0F0F0Fu) | (((m >> 6) & 0x03030303u) << 4);
  const __m128i sc = _mm_set_epi32(0, 0, static_cast<int>(sc_hi), static_cast<int>(sc_lo));
  const __m128i mn = _mm_set_epi32(0, 0, static_cast<int>(mn_hi), static_cast<int>(mn_lo));
  _mm256_store_ps(
      dm, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sc)), _mm256_set1_ps(h2f(b.d))));
  _mm256_store_ps(dm + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(mn)),
                                        _mm256_set1_ps(h2f(b.dmin))));
}

template <int kR, typename F>
inline void visit_q4_k(const uint8_t* row, int64_t row_bytes, int64_t n_in, F&& f) {
  const BlockQ4_K* b[kR];
  for (int r = 0; r < kR; ++r) b[r] = reinterpret_cast<const BlockQ4_K*>(row + r * row_bytes);
  alignas(64) uint8_t q[kR][kQkK];
  alignas(64) float dm[kR][16];
  for (int64_t i = 0; i < n_in / kQkK; ++i) {
    for (int r = 0; r < kR; ++r) unpack_q4_k(b[r][i], q[r], dm[r]);
    for (int g = 0; g < 8; ++g) {
      V d[kR], m[kR];
      for (int r = 0; r < kR; ++r) {
        d[r] = VecF::set1(dm[r][g]);
        m[r] = VecF::set1(dm[r][8 + g]);
      }
      for (int k = 0; k < 32; k += kW) {
        V w[kR];
        for (int r = 0; r < kR; ++r) {
          w[r] = VecF::fmsub(VecF::cvt(VecF::u8(q[r] + 32 * g + k)), d[r], m[r]);
        }
        f(i * kQkK + 32 * g + k, w);
      }
    }
  }
}

// Q6_K: q[e] = signed 6-bit quant of element e (q - 32); s[g] = d * scales[g]
// for the 16 groups of 16.
inline void unpack_q6_k(const BlockQ6_K& b, int8_t* q, float* s) {
  const __m256i nib = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8(0x30);
  const __m256i off = _mm256_set1_epi8(32);
  for (int h = 0; h < 2; ++h) {
    // ql bytes l hold elements l (low nibble) and l + 64 (high) of the half,
    // bytes 32 + l elements l + 32 and l + 96; qh byte l bits 2g..2g+1 are
    // the top bits of element 32g + l. Shifting the qh bits to 4-5 crosses
    // bytes within 16-bit lanes, which the mask discards.
    const __m256i la = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h));
    const __m256i lb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h + 32));
    const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
    const __m256i e[4] = {
        _mm256_or_si256(_mm256_and_si256(la, nib), _mm256_and_si256(_mm256_slli_epi16(hb, 4), top)),
        _mm256_or_si256(_mm256_and_si256(lb, nib), _mm256_and_si256(_mm256_slli_epi16(hb, 2), top)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), nib), _mm256_and_si256(hb, top)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), nib),
                        _mm256_and_si256(_mm256_srli_epi16(hb, 2), top)),
    };
    for (int g = 0; g < 4; ++g) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(q + 128 * h + 32 * g),
                         _mm256_sub_epi8(e[g], off));
    }
  }
  const __m256 d = _mm256_set1_ps(h2f(b.d));
  for (int k = 0; k < 16; k += 8) {
    const __m128i sc = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.scales + k));
    _mm256_store_ps(s + k, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)), d));
  }
}

template <int kR, typename F>
inline void visit_q6_k(const uint8_t* row, int64_t row_bytes, int64_t n_in, F&& f) {
  const BlockQ6_K* b[kR];
  for (int r = 0; r < kR; ++r) b[r] = reinterpret_cast<const BlockQ6_K*>(row + r * row_bytes);
  alignas(64) int8_t q[kR][kQkK];
  alignas(64) float s[kR][16];
  for (int64_t i = 0; i < n_in / kQkK; ++i) {
    for (int r = 0; r < kR; ++r) unpack_q6_k(b[r][i], q[r], s[r]);
    for (int g = 0; g < 16; ++g) {
      V sv[kR];
      for (int r = 0; r < kR; ++r) sv[r] = VecF::set1(s[r][g]);
      for (int k = 0; k < 16; k += kW) {
        V w[kR];
        for (int r = 0; r < kR; ++r)
          w[r] = VecF::mul(VecF::cvt(VecF::i8(q[r] + 16 * g + k)), sv[r]);
        f(i * kQkK + 16 * g + k, w);
      }
    }
  }
}

#define MOELAB_VISITOR(name, visit_fn, max_rows)                             \
  struct name {                                                              \
    static constexpr int kMaxRows = max_rows;                                \
    template <int kR, typename F>                                            \
    static void run(const uint8_t* w, int64_t row_bytes, int64_t n, F&& f) { \
      visit_fn<kR>(w, row_bytes, n, static_cast<F&&>(f));                    \
    }                                                                        \
  };
MOELAB_VISITOR(VisitQ8_0, visit_q8_0, 4)
MOELAB_VISITOR(VisitQ4_K, visit_q4_k, 4)
MOELAB_VISITOR(VisitQ6_K, visit_q6_k, 4)
#undef MOELAB_VISITOR

// Plain float rows (F32, F16, BF16): Load::vec(p, j) converts kW values at
// element j of a row, Load::one(p, k) one value (for the tail).
struct LoadF32 {
  static V vec(const uint8_t* p, int64_t j) {
    return VecF::load(reinterpret_cast<const float*>(p) + j);
  }
  static float one(const uint8_t* p, int64_t k) { return reinterpret_cast<const float*>(p)[k]; }
};
struct LoadF16 {
  static V vec(const uint8_t* p, int64_t j) {
    return VecF::load_f16(reinterpret_cast<const uint16_t*>(p) + j);
  }
  static float one(const uint8_t* p, int64_t k) {
    return h2f(reinterpret_cast<const uint16_t*>(p)[k]);
  }
};
struct LoadBF16 {
  static V vec(const uint8_t* p, int64_t j) {
    return VecF::load_bf16(reinterpret_cast<const uint16_t*>(p) + j);
  }
  static float one(const uint8_t* p, int64_t k) {
    const uint32_t bits = static_cast<uint32_t>(reinterpret_cast<const uint16_t*>(p)[k]) << 16;
    float f;
    __builtin_memcpy(&f, &bits, 4);
    return f;
  }
};

// The tail of a plain row (n_in not a multiple of kW) as one more
// zero-padded vector step, as the panel micro-kernel does, not scalar code
// the compiler may or may not contract.
template <typename Load>
struct VisitPlain {
  static constexpr int kMaxRows = 4;
  template <int kR, typename F>
  static void run(const uint8_t* row, int64_t row_bytes, int64_t n_in, F&& f) {
    int64_t j = 0;
    for (; j + kW <= n_in; j += kW) {
      V w[kR];
      for (int r = 0; r < kR; ++r) w[r] = Load::vec(row + r * row_bytes, j);
      f(j, w);
    }
    if (j < n_in) {
      V w[kR];
      for (int r = 0; r < kR; ++r) {
        alignas(64) float wpad[kW] = {};
        for (int64_t k = j; k < n_in; ++k) wpad[k - j] = Load::one(row + r * row_bytes, k);
        w[r] = VecF::load(wpad);
      }
      f(j, w);
    }
  }
};

// Rows kept in flight per token count: kR * kNt accumulators, kR decoded
// weight vectors and kNt x vectors must fit the register file (32 zmm, 16
// ymm).
template <int kNt>
constexpr int rows_in_flight() {
  if (kW == 16) return 4;
  return kNt <= 2 ? 4 : 2;
}

// Whether a group of rows prefetches the next group as it goes. Measured on
// a 1.1 GB Q8_0 model (2 threads): decode at 52% of the bandwidth floor
// without, 84% with; the hardware prefetcher alone does not keep kR short
// (about 2 KiB) row streams ahead of the kernel. One group ahead beat two
// and four.
constexpr bool kPrefetch = MOELAB_PREFETCH;

// y[t * ldy + r] = dot(row r, xs[t]) for kR rows from `w` and kNt tokens.
// The x values of a token may be shorter than kW at the tail (plain types):
// they are read through a zero-padded copy, as the panel kernel does.
template <typename Visit, int kR, int kNt>
inline void fused_group(const uint8_t* w, int64_t row_bytes, int64_t n_in, const float* const* xs,
                        float* y, int64_t ldy) {
  V acc[kR][kNt];
  for (int r = 0; r < kR; ++r)
    for (int t = 0; t < kNt; ++t) acc[r][t] = VecF::zero();
  const uint8_t* next = w + kR * row_bytes;
  // Bytes of a row per kW elements (rounded down: prefetches drift a little
  // behind on K-quants, harmless).
  const int64_t step_bytes = kW * row_bytes / n_in;
  // One prefetch per row per 64-byte line, not per step: a K-quant step
  // covers only 9-13 bytes, and prefetching every step cost a load slot per
  // row per step in decoders that are short of them. Prefetching every
  // `pf_every` steps advances at most 64 bytes at a time, so no line is missed.
  const int pf_every =
      static_cast<int>(std::max<int64_t>(1, 64 / std::max<int64_t>(1, step_bytes)));
  int pf_count = 0;
  Visit::template run<kR>(w, row_bytes, n_in, [&](int64_t j, const V* wv) {
    if constexpr (kPrefetch) {
      if (--pf_count <= 0) {
        pf_count = pf_every;
        const int64_t off = j / kW * step_bytes;
        for (int r = 0; r < kR; ++r) {
          _mm_prefetch(reinterpret_cast<const char*>(next + r * row_bytes + off), _MM_HINT_T0);
        }
      }
    }
    V xv[kNt];
    if (j + kW <= n_in) {
      for (int t = 0; t < kNt; ++t) xv[t] = VecF::load(xs[t] + j);
    } else {
      for (int t = 0; t < kNt; ++t) {
        alignas(64) float xpad[kW] = {};
        for (int64_t k = j; k < n_in; ++k) xpad[k - j] = xs[t][k];
        xv[t] = VecF::load(xpad);
      }
    }
    for (int r = 0; r < kR; ++r)
      for (int t = 0; t < kNt; ++t) acc[r][t] = VecF::fma(wv[r], xv[t], acc[r][t]);
  });
  for (int r = 0; r < kR; ++r)
    for (int t = 0; t < kNt; ++t) y[t * ldy + r] = VecF::sum(acc[r][t]);
}

template <typename Visit, int kNt>
void fused_rows_nt(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in,
                   const float* const* xs, float* y, int64_t ldy) {
  constexpr int kR = std::min(rows_in_flight<kNt>(), Visit::kMaxRows);
  int64_t r = 0;
  for (; r + kR <= n_rows; r += kR) {
    fused_group<Visit, kR, kNt>(w + r * row_bytes, row_bytes, n_in, xs, y + r, ldy);
  }
  for (; r < n_rows; ++r) {
    fused_group<Visit, 1, kNt>(w + r * row_bytes, row_bytes, n_in, xs, y + r, ldy);
  }
}

template <typename Visit>
void fused_rows(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in,
                const float* const* xs, int n_tok, float* y, int64_t ldy) {
  with_token_count(n_tok, [&](auto n) {
    fused_rows_nt<Visit, decltype(n)::value>(w, row_bytes, n_rows, n_in, xs, y, ldy);
  });
}

template <typename Visit>
void dequant_visit(const uint8_t* src, float* dst, int64_t n) {
  Visit::template run<1>(src, 0, n, [&](int64_t j, const V* wv) {
    if (j + kW <= n) {
      VecF::store(dst + j, wv[0]);
    } else {  // plain-type tail: only the real values
      alignas(64) float tmp[kW];
      VecF::store(tmp, wv[0]);
      for (int64_t k = j; k < n; ++k) dst[k] = tmp[k - j];
    }
  });
}

// Every other type: decode one step (a whole number of blocks, at most 256
// values) of each row into a stack buffer with the scalar converter, then
// the same SIMD accumulation as the decoders above.
template <DType kType>
struct VisitGeneric {
  static constexpr int kMaxRows = 4;
  template <int kR, typename F>
  static void run(const uint8_t* row, int64_t row_bytes, int64_t n_in, F&& f) {
    const DequantRowFn dequant = dequant_row_fn(kType);
    const DTypeInfo& info = dtype_info(kType);
    alignas(64) float buf[kR][kQkK];
    for (int64_t i = 0; i < n_in; i += kQkK) {
      const int64_t n = std::min<int64_t>(kQkK, n_in - i);  // a multiple of 32, hence of kW
      for (int r = 0; r < kR; ++r) {
        dequant(row + r * row_bytes + i / info.block_elems * info.block_bytes, buf[r], n);
      }
      for (int64_t j = 0; j < n; j += kW) {
        V w[kR];
        for (int r = 0; r < kR; ++r) w[r] = VecF::load(buf[r] + j);
        f(i + j, w);
      }
    }
  }
};

FusedRowsFn simd_fused(DType type) {
  switch (type) {
    case DType::kF32:
      return fused_rows<VisitPlain<LoadF32>>;
    case DType::kF16:
      return fused_rows<VisitPlain<LoadF16>>;
    case DType::kBF16:
      return fused_rows<VisitPlain<LoadBF16>>;
    case DType::kQ8_0:
      return fused_rows<VisitQ8_0>;
    case DType::kQ4_K:
      return fused_rows<VisitQ4_K>;
    case DType::kQ6_K:
      return fused_rows<VisitQ6_K>;
    case DType::kQ4_0:
      return fused_rows<VisitGeneric<DType::kQ4_0>>;
    case DType::kQ4_1:
      return fused_rows<VisitGeneric<DType::kQ4_1>>;
    case DType::kQ5_0:
      return fused_rows<VisitGeneric<DType::kQ5_0>>;
    case DType::kQ5_1:
      return fused_rows<VisitGeneric<DType::kQ5_1>>;
    case DType::kQ2_K:
      return fused_rows<VisitGeneric<DType::kQ2_K>>;
    case DType::kQ3_K:
      return fused_rows<VisitGeneric<DType::kQ3_K>>;
    case DType::kQ5_K:
      return fused_rows<VisitGeneric<DType::kQ5_K>>;
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
    case DType::kQ8_0:
      return dequant_visit<VisitQ8_0>;
    case DType::kQ4_K:
      return dequant_visit<VisitQ4_K>;
    case DType::kQ6_K:
      return dequant_visit<VisitQ6_K>;
    default:
      return dequant_row_fn(type);
  }
}

// ------------------------------------------------------- prefill micro-kernel

// The prefill micro-kernel walks n_in in blocks of kPanelK elements: for one
// tile of tokens and one block, every row tile of the panel passes under the
// same kTileToks × kPanelK token values (24 KiB at most), which stay in L1,
// while the panel streams from L2. Without blocking, a tile's token rows
// (6 × n_in floats) were evicted from L1 before the next row tile reused
// them and both streams came from L2. Accumulator vectors are parked in a
// small scratch between blocks, so every lane still sees the same fmas in
// the same order as the fused path (no partial sums are added).
constexpr int64_t kPanelK = 1024;

// A kR × kT tile of dots over elements [j0, j1): kR weight rows against kT
// tokens, kR + kT loads feeding kR * kT FMAs per vector step. `acc_io` holds
// the tile's accumulators between blocks: read unless `first`, and when
// `last` the sums go to y instead.
template <int kR, int kT>
void tile(const float* panel, int64_t ld, const float* const* xs, int64_t j0, int64_t j1,
          int64_t n_in, V* acc_io, bool first, bool last, float* y, int64_t ldy) {
  V acc[kR][kT];
  for (int r = 0; r < kR; ++r)
    for (int t = 0; t < kT; ++t) acc[r][t] = first ? VecF::zero() : acc_io[r * kT + t];
  int64_t j = j0;
  for (; j + kW <= j1; j += kW) {
    V xv[kT];
    for (int t = 0; t < kT; ++t) xv[t] = VecF::load(xs[t] + j);
    for (int r = 0; r < kR; ++r) {
      const V wv = VecF::load(panel + r * ld + j);
      for (int t = 0; t < kT; ++t) acc[r][t] = VecF::fma(wv, xv[t], acc[r][t]);
    }
  }
  if (j < j1) {  // the tail of n_in as one zero-padded vector step, as fused_plain does
    alignas(64) float xpad[kT][kW] = {};
    for (int t = 0; t < kT; ++t)
      for (int64_t k = j; k < n_in; ++k) xpad[t][k - j] = xs[t][k];
    for (int r = 0; r < kR; ++r) {
      alignas(64) float wpad[kW] = {};
      for (int64_t k = j; k < n_in; ++k) wpad[k - j] = panel[r * ld + k];
      const V wv = VecF::load(wpad);
      for (int t = 0; t < kT; ++t) acc[r][t] = VecF::fma(wv, VecF::load(xpad[t]), acc[r][t]);
    }
  }
  if (last) {
    for (int r = 0; r < kR; ++r) {
      for (int t = 0; t < kT; ++t) y[t * ldy + r] = VecF::sum(acc[r][t]);
    }
  } else {
    for (int r = 0; r < kR; ++r)
      for (int t = 0; t < kT; ++t) acc_io[r * kT + t] = acc[r][t];
  }
}

// The register tile: kTileRows weight rows × kTileToks tokens of
// accumulators. AVX-512 (32 registers) holds 4 × 6 = 24 accumulators plus
// the 6 token vectors and a weight vector (measured on 64 tokens: 4 × 6
// beat 4 × 4, 6 × 4 and 8 × 3); AVX2 (16) holds 4 × 3.
constexpr int kTileRows = 4;
constexpr int kTileToks = kW == 16 ? 6 : 3;

struct TileArgs {
  const float* panel;
  int64_t ld;
  const float* const* xs;
  int64_t j0, j1, n_in;
  V* acc_io;
  bool first, last;
  float* y;
  int64_t ldy;
};

template <int kR, int kT = kTileToks>
void tile_toks(const TileArgs& a, int64_t n_tok) {
  if constexpr (kT > 0) {
    if (n_tok == kT) {
      tile<kR, kT>(a.panel, a.ld, a.xs, a.j0, a.j1, a.n_in, a.acc_io, a.first, a.last, a.y, a.ldy);
    } else {
      tile_toks<kR, kT - 1>(a, n_tok);
    }
  }
}

template <int kR = kTileRows>
void tile_rows(const TileArgs& a, int64_t n_rows, int64_t n_tok) {
  if constexpr (kR > 0) {
    if (n_rows == kR) {
      tile_toks<kR>(a, n_tok);
    } else {
      tile_rows<kR - 1>(a, n_rows, n_tok);
    }
  }
}

void simd_panel_gemm(const float* panel, int64_t ld_panel, int64_t n_rows, const float* const* xs,
                     int64_t n_tok, int64_t n_in, float* y, int64_t ldy) {
  // Accumulators of every row tile of the panel for one token tile.
  constexpr int64_t kMaxPanelRows = 64;
  MOELAB_CHECK(n_rows <= kMaxPanelRows);
  alignas(64) V acc_io[kMaxPanelRows * kTileToks];
  for (int64_t t = 0; t < n_tok; t += kTileToks) {
    const int64_t nt = std::min<int64_t>(kTileToks, n_tok - t);
    for (int64_t j0 = 0; j0 < n_in; j0 += kPanelK) {
      const int64_t j1 = std::min(n_in, j0 + kPanelK);
      for (int64_t r = 0; r < n_rows; r += kTileRows) {
        const TileArgs a{panel + r * ld_panel,
                         ld_panel,
                         xs + t,
                         j0,
                         j1,
                         n_in,
                         acc_io + r * kTileToks,
                         j0 == 0,
                         j1 == n_in,
                         y + t * ldy + r,
                         ldy};
        tile_rows(a, std::min<int64_t>(kTileRows, n_rows - r), nt);
      }
    }
  }
}

MatmulKernels make_simd_kernels(QuantRowsFn (*quant_rows)(DType)) {
  return {simd_fused, simd_dequant, simd_panel_gemm, quant_rows};
}

}  // namespace
}  // namespace moelab::kernels_internal
