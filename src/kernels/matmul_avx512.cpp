// The AVX-512 kernel family (see matmul_x86.h): 16-lane float kernels.
// GCC 12's AVX-512 headers build some intrinsics on _mm256_undefined_*(),
// which -Wuninitialized reports once inlined; the lanes are never read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define MOELAB_X86_AVX512 1
#include "kernels/matmul_x86.h"
#include "kernels/matmul_x86_q8.h"

namespace moelab::kernels_internal {

const MatmulKernels& avx512_kernels() {
  static const MatmulKernels k = make_simd_kernels(avx512_quant_rows);
  return k;
}

}  // namespace moelab::kernels_internal
