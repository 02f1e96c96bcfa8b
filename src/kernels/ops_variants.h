// The SIMD variants of ops.h's vector kernels (private to src/kernels).
// Each file is compiled with its own ISA flags; ops.cpp picks one at start.
#pragma once

#include <cstdint>

namespace moelab::ops_internal {

float dot_f32_scalar(const float* a, const float* b, int64_t n);
float dot_f32_avx2(const float* a, const float* b, int64_t n);
float dot_f32_avx512(const float* a, const float* b, int64_t n);
void axpy_scalar(float a, const float* x, float* y, int64_t n);
void axpy_avx2(float a, const float* x, float* y, int64_t n);
void axpy_avx512(float a, const float* x, float* y, int64_t n);

}  // namespace moelab::ops_internal
