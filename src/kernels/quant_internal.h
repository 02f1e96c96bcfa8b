// Kernel-internal helpers shared by quant.cpp, qdot.cpp and the matmul
// kernels: the per-type row converters of quant.cpp (looked up once per call
// instead of switching per block) and ggml's rounding. Stateless; safe from
// any thread.
#pragma once

#include <cstdint>
#include <cstring>

#include "tensor/dtype.h"

namespace moelab::kernels_internal {

// ggml's nearest_int: rounds through the float mantissa (round half to even),
// for |fval| < 2^22. std::lround would round halves away from zero and pick
// different quantization levels on ties, so files and activations would
// differ from llama.cpp's.
inline int nearest_int(float fval) {
  float val = fval + 12582912.f;
  int i;
  std::memcpy(&i, &val, sizeof(int));
  return (i & 0x007fffff) - 0x00400000;
}

// dst[0..n) = the n values stored at src (n a multiple of the block size).
using DequantRowFn = void (*)(const uint8_t* src, float* dst, int64_t n);

// The converter for `type`, or nullptr where the type is not computable.
DequantRowFn dequant_row_fn(DType type);

}  // namespace moelab::kernels_internal
