// The AVX2 + FMA + F16C kernel family (see matmul_x86.h), with the integer
// kernels for 8-bit activations of matmul_x86_q8_avx2.h.
#include "kernels/matmul_x86.h"
#include "kernels/matmul_x86_q8_avx2.h"

namespace moelab::kernels_internal {

const MatmulKernels& avx2_kernels() {
  static const MatmulKernels k = make_simd_kernels(avx2_quant_rows);
  return k;
}

}  // namespace moelab::kernels_internal
