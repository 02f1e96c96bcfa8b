// The one interface every matrix product of the model goes through, so faster
// implementations (SIMD, integer dot products, batched MoE) replace its
// insides without touching the model. Weights are read in place, whatever
// their type.
//
// Thread-safety: the functions are reentrant; each call uses the pool it is
// given (one call per pool at a time, as ThreadPool requires) and per-thread
// scratch buffers that live as long as their thread.
#pragma once

#include <cstdint>
#include <span>

#include "base/cpu_features.h"
#include "base/thread_pool.h"
#include "tensor/tensor.h"

namespace moelab {

// How the token rows enter a product with quantized weights. kFloat32: as
// floats, each weight converted to float before a float multiply-add.
// kQuantized: the rows are quantized to 8 bits per block first, as llama.cpp
// does (Q8_0 blocks of 32 for Q8_0/Q4_0/Q5_0 weights, Q8_K super-blocks of
// 256 for Q4_K/Q5_K/Q6_K), and dotted in integers: faster, and within
// llama.cpp's own rounding of its results. Weights without an integer kernel
// on this machine (F32/F16/BF16, Q4_1, Q5_1, Q2_K, Q3_K) take the float path
// in either mode.
enum class Activations { kFloat32, kQuantized };

// "f32" / "q8".
const char* activations_name(Activations a);

// y = x · Wᵀ for a batch of token rows:
//   w: [n_out, n_in] weight (TensorView ne = {n_in, n_out}), any computable type
//   x: [n_tokens, n_in] float32, row stride n_in
//   y: [n_tokens, n_out] float32, row stride n_out
// kQuantized quantizes the token rows once per call.
void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            Activations act = Activations::kFloat32);

// Several weights applied to the same token rows, as one product: parts[k].y
// = x · W_kᵀ for every part (at most 4, all with x's n_in), in one parallel
// region, with the token rows quantized once per activation format; the
// same bits as one matmul per part. Attention's q/k/v projections and the
// FFN's gate and up use it: fewer hand-offs to the pool and fewer restarts
// of the weight stream than separate products.
//   parts[k].w: [n_out_k, n_in]; x: [n_tokens, n_in]; parts[k].y: [n_tokens, n_out_k]
struct MatmulPart {
  const TensorView* w = nullptr;
  float* y = nullptr;
};
void matmul_parts(std::span<const MatmulPart> parts, const float* x, int64_t n_tokens,
                  ThreadPool& pool, Activations act = Activations::kFloat32);

// The same for a subset of the tokens: y[i] = W x[rows[i]] for i < n_rows,
// written densely into y ([n_rows, n_out]). The MoE experts use this to run
// each expert once over the tokens routed to it.
void matmul_gather(const TensorView& w, const float* x, const int32_t* rows, int64_t n_rows,
                   float* y, ThreadPool& pool, Activations act = Activations::kFloat32);

// One thread's share of a product, for callers that split the work over
// threads themselves (the MoE layer runs the small matrices of many experts
// in one parallel region): y[t * ldy + r] = dot(W row r, xs[t]) for rows
// r0 <= r < r1 and t < n_tok, on the calling thread, with the kernels (and
// the bits) of matmul.
//   w: [n_out, n_in]; xs: n_tok pointers to [n_in] float rows; y: [n_tok, ldy]
void matmul_rows(const TensorView& w, const float* const* xs, int64_t n_tok, float* y, int64_t ldy,
                 int64_t r0, int64_t r1);

// Pre-quantized activations for matmul_rows_quantized, so callers that call
// matmul_rows per chunk (the MoE phases) quantize each token row once.
// The activation type weights of `weight_type` pair with in kQuantized mode
// on this machine: DType::kQ8_0 or DType::kQ8_K, or DType::kF32 where no
// integer kernel exists (then use matmul_rows with float rows).
DType quantized_activation_type(DType weight_type);
// Bytes of one quantized row of n_in values (a multiple of 64, so rows stay
// aligned in a row-major buffer) for act_type kQ8_0 / kQ8_K.
int64_t quantized_activation_bytes(DType act_type, int64_t n_in);
// Quantizes x[0..n_in) into dst (quantized_activation_bytes bytes).
void quantize_activation(DType act_type, const float* x, int64_t n_in, uint8_t* dst);
// matmul_rows on quantized rows: xq holds n_tok rows quantized as
// quantized_activation_type(w.type) (which must not be kF32); same bits as
// matmul(..., kQuantized).
void matmul_rows_quantized(const TensorView& w, const uint8_t* const* xq, int64_t n_tok, float* y,
                           int64_t ldy, int64_t r0, int64_t r1);

// The kernel family matmul uses: cpu_features().best_isa(), read once.
Isa matmul_isa();

// Whether this machine can run the kernels of `isa`.
bool isa_supported(Isa isa);

// matmul / matmul_gather with an explicit kernel family (for tests and
// benchmarks comparing variants); `isa` must be supported.
void matmul_with_isa(Isa isa, const TensorView& w, const float* x, int64_t n_tokens, float* y,
                     ThreadPool& pool, Activations act = Activations::kFloat32);
void matmul_gather_with_isa(Isa isa, const TensorView& w, const float* x, const int32_t* rows,
                            int64_t n_rows, float* y, ThreadPool& pool,
                            Activations act = Activations::kFloat32);
// Whether `isa` has an integer kernel for `weight_type` (kQuantized runs it).
bool has_integer_kernel(Isa isa, DType weight_type);

}  // namespace moelab
