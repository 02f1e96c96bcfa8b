// The AVX2 + FMA + F16C kernel family (see matmul_x86.h).
#include "kernels/matmul_x86.h"

namespace moelab::kernels_internal {

QuantRowsFn avx2_quant_rows(DType) { return nullptr; }

const MatmulKernels& avx2_kernels() {
  static const MatmulKernels k = make_simd_kernels(avx2_quant_rows);
  return k;
}

}  // namespace moelab::kernels_internal
