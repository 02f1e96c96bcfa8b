// The scalar reference kernels: plain loops every SIMD variant is tested
// against. The fused dot decodes one block at a time into a small stack
// buffer (never a whole row), so it stays a faithful model of the fused path.
#include <algorithm>

#include "kernels/matmul_kernels.h"
#include "kernels/quant_internal.h"

namespace moelab::kernels_internal {
namespace {

// Elements decoded per step: one K-quant super-block, eight legacy blocks,
// or 256 plain floats.
constexpr int64_t kStep = 256;

template <DType kType>
void fused_generic(const uint8_t* w, int64_t n_in, const float* const* xs, int n_tok, float* out) {
  const DequantRowFn dequant = dequant_row_fn(kType);
  const DTypeInfo& info = dtype_info(kType);
  float acc[kMaxFusedTokens] = {};
  float buf[kStep];
  for (int64_t i = 0; i < n_in; i += kStep) {
    // 256 is a whole number of blocks of every type and n_in is a whole
    // number of blocks, so every step is too.
    const int64_t n = std::min(kStep, n_in - i);
    dequant(w + i / info.block_elems * info.block_bytes, buf, n);
    for (int t = 0; t < n_tok; ++t) {
      const float* x = xs[t] + i;
      float s = 0;
      for (int64_t j = 0; j < n; ++j) s += buf[j] * x[j];
      acc[t] += s;
    }
  }
  for (int t = 0; t < n_tok; ++t) out[t] = acc[t];
}

template <DType kType>
void fused_rows(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in,
                const float* const* xs, int n_tok, float* y, int64_t ldy) {
  float out[kMaxFusedTokens];
  for (int64_t r = 0; r < n_rows; ++r) {
    fused_generic<kType>(w + r * row_bytes, n_in, xs, n_tok, out);
    for (int t = 0; t < n_tok; ++t) y[t * ldy + r] = out[t];
  }
}

FusedRowsFn scalar_fused(DType type) {
  switch (type) {
    case DType::kF32:
      return fused_rows<DType::kF32>;
    case DType::kF16:
      return fused_rows<DType::kF16>;
    case DType::kBF16:
      return fused_rows<DType::kBF16>;
    case DType::kQ4_0:
      return fused_rows<DType::kQ4_0>;
    case DType::kQ4_1:
      return fused_rows<DType::kQ4_1>;
    case DType::kQ5_0:
      return fused_rows<DType::kQ5_0>;
    case DType::kQ5_1:
      return fused_rows<DType::kQ5_1>;
    case DType::kQ8_0:
      return fused_rows<DType::kQ8_0>;
    case DType::kQ2_K:
      return fused_rows<DType::kQ2_K>;
    case DType::kQ3_K:
      return fused_rows<DType::kQ3_K>;
    case DType::kQ4_K:
      return fused_rows<DType::kQ4_K>;
    case DType::kQ5_K:
      return fused_rows<DType::kQ5_K>;
    case DType::kQ6_K:
      return fused_rows<DType::kQ6_K>;
    default:
      return nullptr;
  }
}

void scalar_panel_gemm(const float* panel, int64_t ld_panel, int64_t n_rows, const float* const* xs,
                       int64_t n_tok, int64_t n_in, float* y, int64_t ldy) {
  // The same summation order as fused_generic (partial sums over kStep
  // elements added into the total), so a token's result does not depend on
  // which path its batch size picks.
  for (int64_t t = 0; t < n_tok; ++t) {
    const float* x = xs[t];
    for (int64_t r = 0; r < n_rows; ++r) {
      const float* wr = panel + r * ld_panel;
      float acc = 0;
      for (int64_t i = 0; i < n_in; i += kStep) {
        const int64_t n = std::min(kStep, n_in - i);
        float s = 0;
        for (int64_t j = 0; j < n; ++j) s += wr[i + j] * x[i + j];
        acc += s;
      }
      y[t * ldy + r] = acc;
    }
  }
}

}  // namespace

const MatmulKernels& scalar_kernels() {
  static const MatmulKernels k = {scalar_fused, dequant_row_fn, scalar_panel_gemm,
                                       scalar_quant_rows};
  return k;
}

}  // namespace moelab::kernels_internal
