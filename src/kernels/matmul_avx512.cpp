#include "kernels/matmul_kernels.h"
namespace moelab::kernels_internal {
const MatmulKernels& avx512_kernels() { return scalar_kernels(); }
}  // namespace moelab::kernels_internal
