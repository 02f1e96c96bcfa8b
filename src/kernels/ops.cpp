#include "kernels/ops.h"
#include "kernels/ops_variants.h"

#include <cmath>

namespace moelab {
namespace ops_internal {
namespace {

void rms_norm_scalar(const float* x, const float* w, float* y, int64_t n, float eps) {
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

void softmax_scalar(float* x, int64_t n) {
  if (n <= 0) return;
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

void silu_mul_scalar(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void exp_scalar(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

void rope_rotate_scalar(float* x, int32_t n_heads, int64_t head_stride, const float* cs,
                        const float* sn, int32_t n_pairs, bool neox) {
  for (int32_t h = 0; h < n_heads; ++h) {
    float* head = x + h * head_stride;
    for (int32_t i = 0; i < n_pairs; ++i) {
      float* a = neox ? head + i : head + 2 * i;
      float* b = neox ? head + i + n_pairs : head + 2 * i + 1;
      const float x0 = *a, x1 = *b;
      *a = x0 * cs[i] - x1 * sn[i];
      *b = x0 * sn[i] + x1 * cs[i];
    }
  }
}

}  // namespace

const ElementwiseKernels& scalar_elementwise() {
  static const ElementwiseKernels k{exp_scalar, rms_norm_scalar, softmax_scalar, silu_mul_scalar,
                                    rope_rotate_scalar};
  return k;
}

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

const ops_internal::ElementwiseKernels& elementwise_for(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return ops_internal::avx512_elementwise();
    case Isa::kAvx2: return ops_internal::avx2_elementwise();
    case Isa::kScalar: break;
  }
  return ops_internal::scalar_elementwise();
}

const DotFn kDot = dot_for(cpu_features().best_isa());
const AxpyFn kAxpy = axpy_for(cpu_features().best_isa());

// Read on first use, not at static initialisation: other translation units'
// static initialisers may already call these ops.
const ops_internal::ElementwiseKernels& ew() {
  static const ops_internal::ElementwiseKernels& k = elementwise_for(cpu_features().best_isa());
  return k;
}

}  // namespace

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
  ew().rms_norm(x, w, y, n, eps);
}
void softmax_inplace(float* x, int64_t n) { ew().softmax(x, n); }
void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  ew().silu_mul(gate, up, out, n);
}
void rope_rotate(float* x, int32_t n_heads, int64_t head_stride, const float* cs, const float* sn,
                 int32_t n_pairs, bool neox) {
  ew().rope_rotate(x, n_heads, head_stride, cs, sn, n_pairs, neox);
}
void exp_f32(const float* x, float* y, int64_t n) { ew().exp(x, y, n); }

void rms_norm_with_isa(Isa isa, const float* x, const float* w, float* y, int64_t n, float eps) {
  elementwise_for(isa).rms_norm(x, w, y, n, eps);
}
void softmax_inplace_with_isa(Isa isa, float* x, int64_t n) { elementwise_for(isa).softmax(x, n); }
void silu_mul_with_isa(Isa isa, const float* gate, const float* up, float* out, int64_t n) {
  elementwise_for(isa).silu_mul(gate, up, out, n);
}
void rope_rotate_with_isa(Isa isa, float* x, int32_t n_heads, int64_t head_stride, const float* cs,
                          const float* sn, int32_t n_pairs, bool neox) {
  elementwise_for(isa).rope_rotate(x, n_heads, head_stride, cs, sn, n_pairs, neox);
}
void exp_f32_with_isa(Isa isa, const float* x, float* y, int64_t n) {
  elementwise_for(isa).exp(x, y, n);
}

float dot_f32(const float* a, const float* b, int64_t n) { return kDot(a, b, n); }
void axpy(float a, const float* x, float* y, int64_t n) { kAxpy(a, x, y, n); }
float dot_f32_with_isa(Isa isa, const float* a, const float* b, int64_t n) { return dot_for(isa)(a, b, n); }
void axpy_with_isa(Isa isa, float a, const float* x, float* y, int64_t n) { axpy_for(isa)(a, x, y, n); }

}  // namespace moelab
