// Element-wise and row-wise operations of the forward pass (everything that is
// not a matrix product). All float32, all in place where the name says so.
// Each has a scalar reference and AVX2 / AVX-512 variants; the plain names
// use the variant chosen once from the CPU (like matmul), the *_with_isa
// forms run a given one (tests compare every variant with scalar). A variant
// gives the same bits for the same inputs every time.
//
// Thread-safety: all functions are pure over their arguments (reentrant).
#pragma once

#include <cstdint>

#include "base/cpu_features.h"

namespace moelab {

// y = x / sqrt(mean(x²) + eps) * w over one row of n values. w may be null (no weight).
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

// In-place softmax over n values, computed in float32 with the max subtracted.
void softmax_inplace(float* x, int64_t n);

// out[i] = silu(gate[i]) * up[i]. out may alias gate or up.
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// Rotates value pairs of n_heads heads by per-pair angles (RoPE), in place:
// (a, b) -> (a·cos - b·sin, a·sin + b·cos). Pair i of a head is (2i, 2i+1)
// (neox false: adjacent) or (i, i + n_pairs) (neox true: half split).
//   x: [n_heads, head_stride] (only the first 2·n_pairs of each head change)
//   cs, sn: [n_pairs] cos and sin of each pair's angle
void rope_rotate(float* x, int32_t n_heads, int64_t head_stride, const float* cs, const float* sn,
                 int32_t n_pairs, bool neox);

// y[i] = e^x[i]. SIMD variants: a polynomial with max relative error about
// 2 ulp (see ops_x86.h); scalar: std::exp. Softmax and SiLU use the same exp.
void exp_f32(const float* x, float* y, int64_t n);

// y[i] += a * x[i]
void axpy(float a, const float* x, float* y, int64_t n);

// Σ a[i]·b[i] in float32. The attention's inner loops: SIMD variants are
// chosen once from the CPU (like matmul); the summation order is fixed per
// variant, so a result never depends on anything but its inputs.
float dot_f32(const float* a, const float* b, int64_t n);

// The same with an explicit kernel family (tests compare them to scalar).
float dot_f32_with_isa(Isa isa, const float* a, const float* b, int64_t n);
void axpy_with_isa(Isa isa, float a, const float* x, float* y, int64_t n);
void rms_norm_with_isa(Isa isa, const float* x, const float* w, float* y, int64_t n, float eps);
void softmax_inplace_with_isa(Isa isa, float* x, int64_t n);
void silu_mul_with_isa(Isa isa, const float* gate, const float* up, float* out, int64_t n);
void rope_rotate_with_isa(Isa isa, float* x, int32_t n_heads, int64_t head_stride, const float* cs,
                          const float* sn, int32_t n_pairs, bool neox);
void exp_f32_with_isa(Isa isa, const float* x, float* y, int64_t n);

inline float sigmoid(float x) { return 1.0f / (1.0f + __builtin_expf(-x)); }

}  // namespace moelab
