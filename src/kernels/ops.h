// Element-wise and row-wise operations of the forward pass (everything that is
// not a matrix product). All float32, all in place where the name says so.
#pragma once

#include <cstdint>

#include "base/cpu_features.h"

namespace moelab {

// y = x / sqrt(mean(x²) + eps) * w over one row of n values. w may be null (no weight).
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

// In-place softmax over n values, computed in float32 with the max subtracted.
void softmax_inplace(float* x, int64_t n);

// out[i] = silu(gate[i]) * up[i]
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// y[i] += a * x[i]
void axpy(float a, const float* x, float* y, int64_t n);

// Σ a[i]·b[i] in float32. The attention's inner loops: SIMD variants are
// chosen once from the CPU (like matmul); the summation order is fixed per
// variant, so a result never depends on anything but its inputs.
float dot_f32(const float* a, const float* b, int64_t n);

// The same with an explicit kernel family (tests compare them to scalar).
float dot_f32_with_isa(Isa isa, const float* a, const float* b, int64_t n);
void axpy_with_isa(Isa isa, float a, const float* x, float* y, int64_t n);

inline float sigmoid(float x) { return 1.0f / (1.0f + __builtin_expf(-x)); }

}  // namespace moelab
