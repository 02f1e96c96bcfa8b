#include "kernels/ops.h"
#include "kernels/ops_variants.h"

#include <cmath>

namespace moelab {

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
  // Sum of squares in double: the row is short and this keeps the norm exact
  // to float precision whatever the row's length.
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
  if (w != nullptr) {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
  }
}

void softmax_inplace(float* x, int64_t n) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = x[i] > max ? x[i] : max;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

namespace ops_internal {

void axpy_scalar(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

float dot_f32_scalar(const float* a, const float* b, int64_t n) {
  // Eight independent partial sums: lets the compiler vectorise without
  // -ffast-math while keeping a fixed summation order.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

}  // namespace ops_internal

namespace {

using DotFn = float (*)(const float*, const float*, int64_t);
using AxpyFn = void (*)(float, const float*, float*, int64_t);

DotFn dot_for(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return ops_internal::dot_f32_avx512;
    case Isa::kAvx2: return ops_internal::dot_f32_avx2;
    case Isa::kScalar: break;
  }
  return ops_internal::dot_f32_scalar;
}

AxpyFn axpy_for(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return ops_internal::axpy_avx512;
    case Isa::kAvx2: return ops_internal::axpy_avx2;
    case Isa::kScalar: break;
  }
  return ops_internal::axpy_scalar;
}

const DotFn kDot = dot_for(cpu_features().best_isa());
const AxpyFn kAxpy = axpy_for(cpu_features().best_isa());

}  // namespace

float dot_f32(const float* a, const float* b, int64_t n) { return kDot(a, b, n); }
void axpy(float a, const float* x, float* y, int64_t n) { kAxpy(a, x, y, n); }
float dot_f32_with_isa(Isa isa, const float* a, const float* b, int64_t n) { return dot_for(isa)(a, b, n); }
void axpy_with_isa(Isa isa, float a, const float* x, float* y, int64_t n) { axpy_for(isa)(a, x, y, n); }

}  // namespace moelab
