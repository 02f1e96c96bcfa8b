// The paged KV cache: fixed-size blocks of `block_size` token slots, one pool
// per layer. Which blocks belong to which sequence is the runtime's business
// (runtime/block_manager.h: allocation, sharing of prefixes). A sequence's block table (owned by the
// runtime's Sequence) maps its position p to slot
//   table[p / block_size] · block_size + p % block_size.
// What a slot holds is the layer's KvLayout: for GQA the keys and values of
// all KV heads; for MLA only the latent c (kv_lora) and the roped k_pe.
//
// Thread-safety: the forward pass writes disjoint slots from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"

namespace moelab {

struct KvLayout {
  int32_t n_layer = 0;
  int32_t k_width = 0;  // floats per token per layer in the K pool (GQA: n_kv·hd_k; MLA: kv_lora+rope)
  int32_t v_width = 0;  // floats per token per layer in the V pool (GQA: n_kv·hd_v; MLA: 0)
  int64_t bytes_per_token() const { return int64_t{n_layer} * (k_width + v_width) * 4; }
};

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

  // [k_width] floats of `slot` in layer `layer`.
  float* k(int32_t layer, int64_t slot) { return k_[layer].get() + slot * layout_.k_width; }
  const float* k(int32_t layer, int64_t slot) const { return k_[layer].get() + slot * layout_.k_width; }
  float* v(int32_t layer, int64_t slot) { return v_[layer].get() + slot * layout_.v_width; }
  const float* v(int32_t layer, int64_t slot) const { return v_[layer].get() + slot * layout_.v_width; }

 private:
  KvLayout layout_;
  int32_t block_size_;
  int32_t n_blocks_;
  // Left uninitialised: a slot is always written before it is read, and
  // untouched pages of a large budget cost address space, not memory.
  std::vector<std::unique_ptr<float[]>> k_;  // [n_layer][n_blocks·block_size, k_width]
  std::vector<std::unique_ptr<float[]>> v_;  // [n_layer][n_blocks·block_size, v_width]
};

}  // namespace moelab
