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

#include "base/cpu_features.h"
#include "base/thread_pool.h"
#include "tensor/tensor.h"

namespace moelab {

// y = x · Wᵀ for a batch of token rows:
//   w: [n_out, n_in] weight (TensorView ne = {n_in, n_out}), any computable type
//   x: [n_tokens, n_in] float32, row stride n_in
//   y: [n_tokens, n_out] float32, row stride n_out
// Activations stay float32 (see docs/ARCHITECTURE.md for the accuracy choice).
void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// The same for a subset of the tokens: y[i] = W x[rows[i]] for i < n_rows,
// written densely into y ([n_rows, n_out]). The MoE experts use this to run
// each expert once over the tokens routed to it.
void matmul_gather(const TensorView& w, const float* x, const int32_t* rows, int64_t n_rows,
                   float* y, ThreadPool& pool);

// One thread's share of a product, for callers that split the work over
// threads themselves (the MoE layer runs the small matrices of many experts
// in one parallel region): y[t * ldy + r] = dot(W row r, xs[t]) for rows
// r0 <= r < r1 and t < n_tok, on the calling thread, with the kernels (and
// the bits) of matmul.
//   w: [n_out, n_in]; xs: n_tok pointers to [n_in] float rows; y: [n_tok, ldy]
void matmul_rows(const TensorView& w, const float* const* xs, int64_t n_tok, float* y, int64_t ldy,
                 int64_t r0, int64_t r1);

// The kernel family matmul uses: cpu_features().best_isa(), read once.
Isa matmul_isa();

// Whether this machine can run the kernels of `isa`.
bool isa_supported(Isa isa);

// matmul / matmul_gather with an explicit kernel family (for tests and
// benchmarks comparing variants); `isa` must be supported.
void matmul_with_isa(Isa isa, const TensorView& w, const float* x, int64_t n_tokens, float* y,
                     ThreadPool& pool);
void matmul_gather_with_isa(Isa isa, const TensorView& w, const float* x, const int32_t* rows,
                            int64_t n_rows, float* y, ThreadPool& pool);

}  // namespace moelab
