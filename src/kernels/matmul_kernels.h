// The kernel table behind matmul: one MatmulKernels per ISA (scalar, AVX2,
// AVX-512), each defined in its own translation unit so only that file is
// compiled with the ISA's flags. matmul.cpp drives them (threads, panels,
// scratch); the tables hold only stateless functions, safe from any thread.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/qdot.h"
#include "tensor/dtype.h"

namespace moelab::kernels_internal {

// Token counts up to this use the fused decode path: each weight row is
// decoded once and dotted with every token while in registers.
inline constexpr int kMaxFusedTokens = 4;

// Calls f(std::integral_constant<int, N>{}) with N = n_tok for 1 <= n_tok <
// kMaxFusedTokens and N = kMaxFusedTokens otherwise: the decode kernels are
// instantiated per token count so their accumulators stay in registers.
template <typename F>
inline void with_token_count(int n_tok, F&& f) {
  switch (n_tok) {
    case 1:
      f(std::integral_constant<int, 1>{});
      break;
    case 2:
      f(std::integral_constant<int, 2>{});
      break;
    case 3:
      f(std::integral_constant<int, 3>{});
      break;
    default:
      f(std::integral_constant<int, kMaxFusedTokens>{});
      break;
  }
}

// y[t * ldy + r] = dot(weight row r, xs[t]) for r < n_rows, t < n_tok,
// 1 <= n_tok <= kMaxFusedTokens; row r starts at w + r * row_bytes and holds
// n_in values of its type. A row's result must not depend on n_rows or on
// where the row sits in the range (threads split ranges anywhere).
using FusedRowsFn = void (*)(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in,
                             const float* const* xs, int n_tok, float* y, int64_t ldy);

// Converts n values of one weight row to float32 (n a multiple of the block).
using DequantFn = void (*)(const uint8_t* src, float* dst, int64_t n);

// y[t * ldy + r] = dot(panel + r * ld_panel, xs[t]) for r < n_rows, t < n_tok:
// the prefill micro-kernel over a float32 panel of weight rows.
using PanelGemmFn = void (*)(const float* panel, int64_t ld_panel, int64_t n_rows,
                             const float* const* xs, int64_t n_tok, int64_t n_in, float* y,
                             int64_t ldy);

struct MatmulKernels {
  // Returns the fused dot for `type`, or nullptr where this family dequantizes
  // to scratch even for decode.
  FusedRowsFn (*fused_rows)(DType type);
  // Returns the row converter for `type` (never nullptr for computable types).
  DequantFn (*dequant)(DType type);
  PanelGemmFn panel_gemm;
  // Returns the integer dot for `type` on quantized activations, or nullptr
  // where this family has none (the float path runs instead).
  QuantRowsFn (*quant_rows)(DType type);
};

const MatmulKernels& scalar_kernels();
const MatmulKernels& avx2_kernels();
const MatmulKernels& avx512_kernels();

}  // namespace moelab::kernels_internal
