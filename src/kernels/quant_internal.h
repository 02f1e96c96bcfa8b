// Kernel-internal access to the per-type row converters of quant.cpp, so the
// matmul kernels can look a type's converter up once per call instead of
// switching per block. Stateless; safe from any thread.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace moelab::kernels_internal {

// dst[0..n) = the n values stored at src (n a multiple of the block size).
using DequantRowFn = void (*)(const uint8_t* src, float* dst, int64_t n);

// The converter for `type`, or nullptr where the type is not computable.
DequantRowFn dequant_row_fn(DType type);

}  // namespace moelab::kernels_internal
