#include "runtime/block_manager.h"

#include <algorithm>

#include "base/check.h"

namespace moelab {
namespace {

uint64_t mix(uint64_t h, uint64_t v) {
  // splitmix64 finaliser over h ^ v: cheap and well distributed.
  uint64_t z = h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

BlockManager::BlockManager(int32_t n_blocks, int32_t block_size)
    : n_blocks_(n_blocks),
      block_size_(block_size),
      refs_(n_blocks, 0),
      generation_(n_blocks, 0),
      lru_pos_(n_blocks),
      in_lru_(n_blocks, 0),
      registered_(n_blocks, 0),
      key_hash_(n_blocks, 0),
      entries_(n_blocks) {
  free_.reserve(n_blocks);
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

uint64_t BlockManager::hash(ChainKey parent, const int32_t* tokens) const {
  uint64_t h = mix(static_cast<uint64_t>(static_cast<int64_t>(parent.block)), parent.generation);
  for (int32_t i = 0; i < block_size_; ++i) h = mix(h, static_cast<uint32_t>(tokens[i]));
  return h;
}

int32_t BlockManager::allocate() {
  int32_t b = -1;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    b = lru_.front();
    lru_.pop_front();
    in_lru_[b] = 0;
    unregister(b);
  } else {
    return -1;
  }
  ++generation_[b];  // children registered under the old contents no longer match
  refs_[b] = 1;
  return b;
}

void BlockManager::retain(int32_t b) {
  MOELAB_CHECK(b >= 0 && b < n_blocks_);
  if (refs_[b] == 0 && in_lru_[b]) {
    lru_.erase(lru_pos_[b]);
    in_lru_[b] = 0;
  }
  ++refs_[b];
}

void BlockManager::release(int32_t b) {
  MOELAB_CHECK(b >= 0 && b < n_blocks_ && refs_[b] > 0);
  if (--refs_[b] > 0) return;
  if (registered_[b]) {
    lru_pos_[b] = lru_.insert(lru_.end(), b);
    in_lru_[b] = 1;
  } else {
    free_.push_back(b);
  }
}

void BlockManager::register_full(int32_t b, ChainKey parent, const int32_t* tokens) {
  if (registered_[b]) return;
  const uint64_t h = hash(parent, tokens);
  auto [lo, hi] = index_.equal_range(h);
  for (auto it = lo; it != hi; ++it) {
    const Entry& e = entries_[it->second];
    if (e.parent.block == parent.block && e.parent.generation == parent.generation &&
        std::equal(e.tokens.begin(), e.tokens.end(), tokens))
      return;  // an identical block is already cached
  }
  registered_[b] = 1;
  key_hash_[b] = h;
  entries_[b] = Entry{parent, std::vector<int32_t>(tokens, tokens + block_size_)};
  index_.emplace(h, b);
}

int32_t BlockManager::lookup(ChainKey parent, const int32_t* tokens) {
  ++lookups_;
  const uint64_t h = hash(parent, tokens);
  auto [lo, hi] = index_.equal_range(h);
  for (auto it = lo; it != hi; ++it) {
    const int32_t b = it->second;
    const Entry& e = entries_[b];
    if (e.parent.block == parent.block && e.parent.generation == parent.generation &&
        std::equal(e.tokens.begin(), e.tokens.end(), tokens)) {
      retain(b);
      ++hits_;
      return b;
    }
  }
  return -1;
}

void BlockManager::unregister(int32_t b) {
  if (!registered_[b]) return;
  auto [lo, hi] = index_.equal_range(key_hash_[b]);
  for (auto it = lo; it != hi; ++it) {
    if (it->second == b) {
      index_.erase(it);
      break;
    }
  }
  registered_[b] = 0;
  entries_[b].tokens.clear();
}

}  // namespace moelab
