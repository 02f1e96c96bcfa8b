// The paged KV cache: fixed-size blocks of `block_size` token slots, one pool
// per layer. Which blocks belong to which sequence is the runtime's business
// (runtime/block_manager.h: allocation, sharing of prefixes). A sequence's block table (owned by
// the runtime's Sequence) maps its position p to slot
//   table[p / block_size] · block_size + p % block_size.
// What a slot holds is the layer's KvLayout: for GQA the keys and values of
// all KV heads; for MLA only the latent c (kv_lora) and the roped k_pe.
// A layer's pool is stored head-major, [n_heads][slots][width / n_heads]: the
// attention of one KV head then reads one contiguous run per block instead of
// a slice of every row (with a prefetch, 1.3-1.6x faster at depth 4096).
// Elements are float32 or IEEE half (KvLayout::type): half halves the cache's
// memory and the bytes decode reads per cached position, at the cost of
// rounding each cached K and V element to 11 significant bits (what
// llama.cpp's default f16 cache does). Rows are written from float32 through
// store_k/store_v, the only place that rounds, and read by the attention
// kernels through k_rows/v_rows.
//
// Thread-safety: the forward pass writes disjoint slots from several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "kernels/attention.h"
#include "tensor/dtype.h"

namespace moelab {

struct KvLayout {
  int32_t n_layer = 0;
  // Elements per token per layer in the K pool (GQA: n_kv·hd_k; MLA:
  // kv_lora + rope) and in the V pool (GQA: n_kv·hd_v; MLA: 0).
  int32_t k_width = 0;
  int32_t v_width = 0;
  int32_t n_heads = 1;       // the rows split into n_heads equal streams (GQA: n_kv; MLA: 1)
  DType type = DType::kF32;  // kF32 or kF16
  int64_t element_bytes() const { return type == DType::kF16 ? 2 : 4; }
  int64_t bytes_per_token() const {
    return int64_t{n_layer} * (k_width + v_width) * element_bytes();
  }
};

// "f32" or "f16" → the cache element type; an error names the bad value.
Result<DType> parse_kv_type(const std::string& name);
// The name parse_kv_type reads: "f32" or "f16".
const char* kv_type_name(DType type);

class KvCache {
 public:
  // A cache of n_blocks blocks of block_size slots.
  KvCache(const KvLayout& layout, int32_t block_size, int32_t n_blocks);
  // As many blocks as fit in `bytes` (at least one).
  static KvCache with_budget(const KvLayout& layout, int32_t block_size, int64_t bytes);

  const KvLayout& layout() const { return layout_; }
  int32_t block_size() const { return block_size_; }
  int32_t n_blocks() const { return n_blocks_; }
  int64_t bytes() const { return int64_t{n_blocks_} * block_size_ * layout_.bytes_per_token(); }

  // Writes the [k_width] (or [v_width]) floats of src as `slot`'s row in
  // layer `layer`, rounded to the cache's element type.
  void store_k(int32_t layer, int64_t slot, const float* src);
  void store_v(int32_t layer, int64_t slot, const float* src);
  // dst[0..n) = elements [first, first + n) of `slot`'s K row, as floats.
  void load_k(int32_t layer, int64_t slot, int32_t first, int32_t n, float* dst) const;

  // Elements [first, first + width) of head `head`'s part of every slot's K
  // (V) row in `layer`, paged, as the attention kernels read them.
  AttnRows k_rows(int32_t layer, int32_t head, int32_t first, int32_t width) const;
  AttnRows v_rows(int32_t layer, int32_t head, int32_t first, int32_t width) const;

 private:
  // Where element i of `slot`'s row (of `width` elements) lives in a pool.
  int64_t element_index(int64_t slot, int32_t width, int32_t i) const;
  void store(std::byte* pool, int64_t slot, int32_t width, const float* src);
  AttnRows rows(const std::byte* pool, int32_t width, int32_t head, int32_t first, int32_t n) const;

  KvLayout layout_;
  int32_t block_size_;
  int32_t n_blocks_;
  // Left uninitialised: a slot is always written before it is read, and
  // untouched pages of a large budget cost address space, not memory.
  // Per layer: [n_heads, slots, k_width / n_heads] and
  // [n_heads, slots, v_width / n_heads] elements.
  std::vector<std::unique_ptr<std::byte[]>> k_;
  std::vector<std::unique_ptr<std::byte[]>> v_;
};

}  // namespace moelab
