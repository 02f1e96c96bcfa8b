// Ownership of KV cache blocks: allocation with reference counts (sequences
// sharing a prefix share its blocks) and the prefix cache.
//
// Prefix cache: a full block is registered under a key chained from its
// parent block's identity (id + generation) and its own token ids, so a chain
// of lookups from the first block finds the longest cached prefix. A hit is
// confirmed by comparing the stored tokens and parent identity, so a hash
// collision can never serve wrong data. Blocks whose last owner released
// them stay cached (least recently used first out) until memory is needed.
// The root of every chain is salted with what else shapes the KV contents
// (the router knobs), so requests with different knobs never share blocks.
//
// Thread-safety: engine thread only.
#pragma once

#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace moelab {

class BlockManager {
 public:
  BlockManager(int32_t n_blocks, int32_t block_size);

  int32_t n_blocks() const { return n_blocks_; }
  int32_t block_size() const { return block_size_; }

  // A fresh block with one owner, evicting the least recently used cached
  // block if no block is free; -1 when every block is in use.
  int32_t allocate();
  void retain(int32_t block);
  void release(int32_t block);

  // Identity of a block as a parent in the prefix chain; Root(salt) for the first block.
  struct ChainKey {
    int32_t block = -1;
    uint64_t generation = 0;
  };
  static ChainKey root(uint64_t salt) { return ChainKey{-1, salt}; }
  ChainKey key_of(int32_t block) const { return ChainKey{block, generation_[block]}; }

  // Registers a full block (block_size tokens) under its parent; a no-op if
  // an identical block is already registered.
  void register_full(int32_t block, ChainKey parent, const int32_t* tokens);
  // The cached block holding `tokens` after `parent`, retained for the
  // caller, or -1.
  int32_t lookup(ChainKey parent, const int32_t* tokens);

  int32_t n_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t n_cached() const { return static_cast<int32_t>(lru_.size()); }  // unowned but cached
  int32_t n_used() const { return n_blocks_ - n_free() - n_cached(); }
  int64_t hits() const { return hits_; }      // blocks served from the cache
  int64_t lookups() const { return lookups_; }
  int32_t ref_count(int32_t block) const { return refs_[block]; }

 private:
  struct Entry {
    ChainKey parent;
    std::vector<int32_t> tokens;
  };
  uint64_t hash(ChainKey parent, const int32_t* tokens) const;
  void unregister(int32_t block);

  int32_t n_blocks_, block_size_;
  std::vector<int32_t> refs_;                    // [n_blocks]
  std::vector<uint64_t> generation_;             // [n_blocks] bumped on each reuse
  std::vector<int32_t> free_;                    // never-registered free blocks
  std::list<int32_t> lru_;                       // cached unowned blocks, oldest first
  std::vector<std::list<int32_t>::iterator> lru_pos_;  // [n_blocks]
  std::vector<uint8_t> in_lru_;                  // [n_blocks]
  std::vector<uint8_t> registered_;              // [n_blocks]
  std::vector<uint64_t> key_hash_;               // [n_blocks] hash it is registered under
  std::vector<Entry> entries_;                   // [n_blocks]
  std::unordered_multimap<uint64_t, int32_t> index_;
  int64_t hits_ = 0, lookups_ = 0;
};

}  // namespace moelab
