// The ragged batch that Model::forward consumes: tokens of many sequences at
// once, each with its position and whether its logits are wanted. Prefill of
// one prompt, decode of 64 sequences and a mix of both are the same call.
#pragma once

#include <cstdint>
#include <vector>

namespace moelab {

// moelab's run-time control of the router, per sequence (see router.h).
struct RouterKnobs {
  int32_t max_active_experts = 0;  // 0: the model's own expert_used_count
  float expert_threshold = 1.0f;   // 1: off
};

// What the forward pass needs to know of one sequence in the batch. The block
// table is owned by the caller and must cover every position in the batch.
struct BatchSequence {
  const int32_t* block_table = nullptr;  // [n_blocks] KV block ids
  int32_t n_blocks = 0;
  RouterKnobs knobs;
};

struct Batch {
  std::vector<int32_t> tokens;       // [n_tokens] token ids
  std::vector<int32_t> positions;    // [n_tokens] position of each token in its sequence
  std::vector<int32_t> seq;          // [n_tokens] index into `sequences`
  std::vector<uint8_t> want_logits;  // [n_tokens] 1 where logits are wanted
  std::vector<BatchSequence> sequences;

  int32_t size() const { return static_cast<int32_t>(tokens.size()); }
  void clear() {
    tokens.clear();
    positions.clear();
    seq.clear();
    want_logits.clear();
    sequences.clear();
  }
  void add(int32_t token, int32_t pos, int32_t seq_index, bool logits) {
    tokens.push_back(token);
    positions.push_back(pos);
    seq.push_back(seq_index);
    want_logits.push_back(logits ? 1 : 0);
  }
};

struct ForwardOutput {
  std::vector<float> logits;  // [n_rows, n_vocab], one row per token with want_logits
  std::vector<int32_t> rows;  // [n_rows] batch index of each logits row
  int32_t n_vocab = 0;
  const float* row(int32_t i) const { return logits.data() + static_cast<int64_t>(i) * n_vocab; }
};

}  // namespace moelab
