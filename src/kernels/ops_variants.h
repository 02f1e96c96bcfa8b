// The variants of ops.h's kernels (private to src/kernels). Each SIMD file is
// compiled with its own ISA flags; ops.cpp picks one table at start.
#pragma once

#include <cstdint>

namespace moelab::ops_internal {

float dot_f32_scalar(const float* a, const float* b, int64_t n);
float dot_f32_avx2(const float* a, const float* b, int64_t n);
float dot_f32_avx512(const float* a, const float* b, int64_t n);
void axpy_scalar(float a, const float* x, float* y, int64_t n);
void axpy_avx2(float a, const float* x, float* y, int64_t n);
void axpy_avx512(float a, const float* x, float* y, int64_t n);

// The element-wise kernels of one ISA (see ops.h for what each computes).
struct ElementwiseKernels {
  void (*exp)(const float* x, float* y, int64_t n);
  void (*rms_norm)(const float* x, const float* w, float* y, int64_t n, float eps);
  void (*softmax)(float* x, int64_t n);
  void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n);
  void (*rope_rotate)(float* x, int32_t n_heads, int64_t head_stride, const float* cs,
                      const float* sn, int32_t n_pairs, bool neox);
};

const ElementwiseKernels& scalar_elementwise();
const ElementwiseKernels& avx2_elementwise();
const ElementwiseKernels& avx512_elementwise();

}  // namespace moelab::ops_internal
