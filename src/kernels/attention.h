// Tiled attention with online softmax over a paged KV cache, for G query heads
// that share one key/value stream (a GQA KV head with its query heads; all
// heads of MLA in absorbed form; one head of decompressed MLA).
//
// One pass over K and V: the cached positions are walked in tiles of kTile;
// per tile the scores q·k·scale of every head, a running max and sum per head
// (the accumulator rescaled when the max grows), and P·V accumulated while the
// tile's rows are still in cache. Keys may come in two segments (MLA: the
// latent c and the roped k_pe of one cache row; decompressed MLA: a k_nope
// row of a dense buffer and the k_pe of the cache): the score is
// q0·k0 + q1·k1. Rows are found through the sequence's block table, or taken
// densely by position; nothing is copied.
//
// Split context (flash decoding): the positions are always cut into chunks of
// chunk_size(n_ctx) positions (a function of n_ctx only); each chunk gives a
// partial (max, sum, unnormalised accumulator) per head and the partials are
// merged in chunk order. Whether the chunks run on one thread or many, the
// arithmetic is the same, so a token's output never depends on the batch it
// is in or on the thread count. Each head's arithmetic is also independent of
// the other heads of the call.
//
// Thread-safety: the functions are reentrant; attention_run uses the pool it
// is given (one call per pool at a time). Scratch is per thread and lives as
// long as its thread.
#pragma once

#include <cstdint>
#include <functional>

#include "base/cpu_features.h"
#include "base/thread_pool.h"
#include "tensor/dtype.h"

namespace moelab {

// Where the rows of one key or value segment live, and what their elements
// are: float32, or IEEE half (an f16 KV cache). Half elements are widened
// exactly on load, so a half row gives the bits its float32 widening would.
struct AttnRows {
  const void* base = nullptr;  // row of position p: base + index(p) * stride elements
  int64_t stride = 0;          // elements between consecutive rows
  int32_t width = 0;           // elements used per row (0: segment absent)
  bool paged = true;           // index(p): the cache slot of p, or p itself
  DType type = DType::kF32;    // kF32 or kF16
};

// The keys and values of one sequence.
struct AttnStream {
  AttnRows k0, k1;                      // key segments (k1 may be absent)
  AttnRows v;                           // values: [v.width] per position
  const int32_t* block_table = nullptr;  // slot(p) = table[p / block_size]·block_size + p % block_size
  int32_t block_size = 1;
};

// G query heads and where their outputs go.
struct AttnQuery {
  int32_t n_heads = 0;
  const float* q0 = nullptr;  // head h: q0 + h·q0_stride, [k0.width]
  int64_t q0_stride = 0;
  const float* q1 = nullptr;  // head h: q1 + h·q1_stride, [k1.width] (unused without k1)
  int64_t q1_stride = 0;
  float scale = 1.0f;         // scores are (q0·k0 + q1·k1)·scale
  float* out = nullptr;       // head h: out + h·out_stride, [v.width]
  int64_t out_stride = 0;
};

// One (query heads, stream, context length) problem of a batch.
struct AttnUnit {
  AttnQuery q;
  AttnStream kv;
  int32_t n_ctx = 0;  // attends over positions [0, n_ctx)
};

constexpr int32_t kAttnTile = 64;  // positions per online-softmax step

// Positions per split-context chunk. Depends on n_ctx only (today it is a
// constant), never on the batch or the thread count.
int32_t attention_chunk_size(int32_t n_ctx);

// out = softmax((q·k)·scale) · V over positions [0, n_ctx) for every head of
// q, on the calling thread (all chunks, merged in order).
void attention(const AttnQuery& q, const AttnStream& kv, int32_t n_ctx);
void attention_with_isa(Isa isa, const AttnQuery& q, const AttnStream& kv, int32_t n_ctx);

// The same for a batch of units over the pool. Units are independent; a unit
// is split over threads (by context chunk, then by head) only when there are
// fewer units than threads, with the same arithmetic as attention().
// unit(i) is called from any thread and must be pure.
void attention_run(int64_t n_units, const std::function<AttnUnit(int64_t)>& unit, ThreadPool& pool);
void attention_run_with_isa(Isa isa, int64_t n_units, const std::function<AttnUnit(int64_t)>& unit,
                            ThreadPool& pool);

}  // namespace moelab
