#include "model/kv_cache.h"

#include <algorithm>

#include "base/check.h"
#include "base/log.h"
#include "base/timer.h"
#include "kernels/quant.h"

namespace moelab {

KvCache::KvCache(const KvLayout& layout, int32_t block_size, int32_t n_blocks)
    : layout_(layout), block_size_(block_size), n_blocks_(n_blocks) {
  MOELAB_CHECK(block_size > 0 && n_blocks > 0);
  const size_t slots = static_cast<size_t>(n_blocks) * block_size;
  k_.resize(layout.n_layer);
  v_.resize(layout.n_layer);
  MOELAB_CHECK_MSG(layout.type == DType::kF32 || layout.type == DType::kF16,
                   "KV cache elements must be f32 or f16");
  MOELAB_CHECK(layout.n_heads > 0 && layout.k_width % layout.n_heads == 0 &&
               layout.v_width % layout.n_heads == 0);
  const size_t eb = static_cast<size_t>(layout.element_bytes());
  for (int32_t l = 0; l < layout.n_layer; ++l) {
    k_[l].reset(new std::byte[slots * layout.k_width * eb]);
    v_[l].reset(new std::byte[slots * layout.v_width * eb]);
  }
}

Result<DType> parse_kv_type(const std::string& name) {
  if (name == "f32") return DType::kF32;
  if (name == "f16") return DType::kF16;
  return Status::error("KV cache type '" + name + "': expected f32 or f16");
}

const char* kv_type_name(DType type) { return type == DType::kF16 ? "f16" : "f32"; }

int64_t KvCache::element_index(int64_t slot, int32_t width, int32_t i) const {
  const int32_t head_width = width / layout_.n_heads;
  const int64_t slots = int64_t{n_blocks_} * block_size_;
  return (i / head_width * slots + slot) * head_width + i % head_width;
}

void KvCache::store(std::byte* pool, int64_t slot, int32_t width, const float* src) {
  if (width == 0) return;  // MLA has no V pool
  const int32_t hw = width / layout_.n_heads;
  const int64_t eb = layout_.element_bytes();
  for (int32_t h = 0; h < layout_.n_heads; ++h) {
    quantize_row(layout_.type, src + int64_t{h} * hw,
                 pool + element_index(slot, width, h * hw) * eb, hw);
  }
}

void KvCache::store_k(int32_t layer, int64_t slot, const float* src) {
  store(k_[layer].get(), slot, layout_.k_width, src);
}

void KvCache::store_v(int32_t layer, int64_t slot, const float* src) {
  store(v_[layer].get(), slot, layout_.v_width, src);
}

void KvCache::load_k(int32_t layer, int64_t slot, int32_t first, int32_t n, float* dst) const {
  MOELAB_CHECK(first >= 0 && n >= 0 && first + n <= layout_.k_width);
  const int32_t hw = layout_.k_width / layout_.n_heads;
  const int64_t eb = layout_.element_bytes();
  // One run per head the range touches.
  for (int32_t i = first; i < first + n;) {
    const int32_t run = std::min(first + n - i, hw - i % hw);
    dequantize_row(layout_.type, k_[layer].get() + element_index(slot, layout_.k_width, i) * eb,
                   dst + (i - first), run);
    i += run;
  }
}

AttnRows KvCache::rows(const std::byte* pool, int32_t width, int32_t head, int32_t first,
                       int32_t n) const {
  MOELAB_CHECK_MSG(width > 0, "KV cache: this layout has no such pool");
  const int32_t hw = width / layout_.n_heads;
  MOELAB_CHECK(head >= 0 && head < layout_.n_heads && first >= 0 && n >= 0 && first + n <= hw);
  return {pool + element_index(0, width, head * hw + first) * layout_.element_bytes(), hw, n, true,
          layout_.type};
}

AttnRows KvCache::k_rows(int32_t layer, int32_t head, int32_t first, int32_t width) const {
  return rows(k_[layer].get(), layout_.k_width, head, first, width);
}

AttnRows KvCache::v_rows(int32_t layer, int32_t head, int32_t first, int32_t width) const {
  return rows(v_[layer].get(), layout_.v_width, head, first, width);
}

KvCache KvCache::with_budget(const KvLayout& layout, int32_t block_size, int64_t bytes) {
  // More than the machine's memory cannot be reserved (and could not be
  // used): cap the budget so an absurd request degrades instead of failing.
  const int64_t physical = physical_memory_bytes();
  if (physical > 0 && bytes > physical * 3 / 4) {
    log_warn("KV cache budget of " + std::to_string(bytes >> 20) + " MiB exceeds 3/4 of this machine's memory; using " +
             std::to_string((physical * 3 / 4) >> 20) + " MiB");
    bytes = physical * 3 / 4;
  }
  const int64_t per_block = std::max<int64_t>(1, layout.bytes_per_token() * block_size);
  const int64_t n = std::clamp<int64_t>(bytes / per_block, 1, int64_t{1} << 24);
  return KvCache(layout, block_size, static_cast<int32_t>(n));
}

}  // namespace moelab
