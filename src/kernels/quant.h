// Conversions between float32 and every weight type moelab reads, bit-exact
// with ggml's block layouts (quant_blocks.h) so files quantized by llama.cpp
// load, and files we quantize load in llama.cpp.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace moelab {

// dst[0..n) = the values of the n elements at src. n is a multiple of the
// type's block size. Defined for every type with dtype_info(type).computable.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// Writes n values as `type` into dst (dtype_row_bytes(type, n) bytes), with the
// same reference algorithm ggml uses for that type (quantize_row_*_ref), so
// our quantized files match llama.cpp's.
void quantize_row(DType type, const float* src, void* dst, int64_t n);

}  // namespace moelab
