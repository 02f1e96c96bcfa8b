// Integer dot products on quantized activations (the kernels behind
// Activations::kQuantized): activation rows are quantized to 8 bits the way
// ggml does it (quantize_row_q8_0_ref / quantize_row_q8_K_ref), and each
// weight row is dotted with them in integers, one float multiply-add per
// block. Stateless functions; safe from any thread.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace moelab::kernels_internal {

// Which 8-bit activation format a weight type pairs with: blocks of 32 with
// an fp16 scale (the legacy types, as ggml's vec_dot_*_q8_0), or super-blocks
// of 256 with a float scale and sums per 16 (the K-quants, vec_dot_*_q8_K).
enum class ActFormat { kNone, kQ8_0, kQ8_K };

// The format `weight` pairs with, or kNone where no integer kernel exists
// (float, Q4_1, Q5_1: those stay on the float path).
ActFormat act_format_for(DType weight);

// One quantized activation row of n_in values, laid out as
//   Q8_0: qs[n_in] int8 | d[n_in / 32] float | sum[n_in / 32] int32
//   Q8_K: qs[n_in] int8 | d[n_in / 256] float | bsums[n_in / 16] int16
// The values are exactly ggml's (Q8_0's d is the fp16-rounded scale, as
// stored in block_q8_0); the quants sit apart from the scales so SIMD loads
// are contiguous. sum is Σ qs over the block (for the offset corrections of
// the unsigned-weight kernels). Rows are padded to 64 bytes.
int64_t act_row_bytes(ActFormat f, int64_t n_in);

struct ActRow {
  const int8_t* qs;      // [n_in]
  const float* d;        // [n_in / block]
  const int32_t* sum;    // [n_in / 32] (Q8_0)
  const int16_t* bsums;  // [n_in / 16] (Q8_K)
  // [n_in / 32] sums of bsums pairs: not in the row's bytes; a kernel that
  // wants them computes them (the AVX-512 Q4_K/Q5_K decode).
  const int16_t* bsums32 = nullptr;
};
ActRow act_row(ActFormat f, const uint8_t* row, int64_t n_in);

// Quantizes n_in floats (a multiple of the format's block) into dst
// (act_row_bytes(f, n_in) bytes), with ggml's reference formulas.
// Uses the AVX-512 version where the machine has it (same bits).
void quantize_act_row(ActFormat f, const float* x, int64_t n_in, uint8_t* dst);
// The scalar reference and the AVX-512 version (needs AVX-512 F/BW/DQ).
void quantize_act_row_scalar(ActFormat f, const float* x, int64_t n_in, uint8_t* dst);
void quantize_act_row_avx512(ActFormat f, const float* x, int64_t n_in, uint8_t* dst);

// y[t * ldy + r] = dot(weight row r, activation row xq[t]) for r < n_rows,
// t < n_tok (any n_tok >= 1; the kernel tiles rows and tokens itself); xq
// rows are in act_format_for(type). A row's result depends only on the row
// and the token (never on n_rows, n_tok or where the row sits), so decode
// and prefill give the same bits: every kernel takes the exact integer dot
// of each block (super-block) and then the reference's float steps, one
// rounding each, in block order (see dot_* in qdot.cpp).
using QuantRowsFn = void (*)(const uint8_t* w, int64_t row_bytes, int64_t n_rows, int64_t n_in,
                             const uint8_t* const* xq, int n_tok, float* y, int64_t ldy);

// The scalar reference dot for `type`, or nullptr (act_format_for == kNone).
QuantRowsFn scalar_quant_rows(DType type);
// The AVX-512 VNNI / AVX2 integer kernels, or nullptr for types they lack
// (those fall back to the float path on that ISA).
QuantRowsFn avx512_quant_rows(DType type);
QuantRowsFn avx2_quant_rows(DType type);

}  // namespace moelab::kernels_internal
