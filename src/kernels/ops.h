// Element-wise and row-wise operations of the forward pass (everything that is
// not a matrix product). All float32, all in place where the name says so.
#pragma once

#include <cstdint>

namespace moelab {

// y = x / sqrt(mean(x²) + eps) * w over one row of n values. w may be null (no weight).
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

// In-place softmax over n values, computed in float32 with the max subtracted.
void softmax_inplace(float* x, int64_t n);

// out[i] = silu(gate[i]) * up[i]
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// y[i] += a * x[i]
void axpy(float a, const float* x, float* y, int64_t n);

// Σ a[i]·b[i] in float32 (vectorised by the compiler; order fixed for reproducibility).
float dot_f32(const float* a, const float* b, int64_t n);

inline float sigmoid(float x) { return 1.0f / (1.0f + __builtin_expf(-x)); }

}  // namespace moelab
