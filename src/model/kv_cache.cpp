#include "model/kv_cache.h"

#include <algorithm>

#include "base/check.h"
#include "base/log.h"
#include "base/timer.h"

namespace moelab {

KvCache::KvCache(const KvLayout& layout, int32_t block_size, int32_t n_blocks)
    : layout_(layout), block_size_(block_size), n_blocks_(n_blocks) {
  MOELAB_CHECK(block_size > 0 && n_blocks > 0);
  const size_t slots = static_cast<size_t>(n_blocks) * block_size;
  k_.resize(layout.n_layer);
  v_.resize(layout.n_layer);
  for (int32_t l = 0; l < layout.n_layer; ++l) {
    k_[l].reset(new float[slots * layout.k_width]);
    v_[l].reset(new float[slots * layout.v_width]);
  }
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
