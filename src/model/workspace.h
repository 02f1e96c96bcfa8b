// Scratch memory of one Model's forward pass (private to src/model). Buffers
// grow to the largest batch seen and are reused, so the steady state
// allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "model/blocks/rope.h"
#include "model/model.h"
#include "model/router.h"

namespace moelab {

// Returns v's data with room for at least n floats.
template <typename T>
inline T* grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// How one sequence of a batch runs MLA attention in one layer.
struct MlaSeqPlan {
  std::vector<int32_t> tokens;  // batch indices of this sequence's tokens
  int32_t n_ctx = 0;            // 1 + the largest position among them
  bool absorbed = true;
};

struct Model::Workspace {
  explicit Workspace(const ModelConfig& c) : rope(c.rope) {
    if (c.is_moe()) router = std::make_unique<Router>(c.moe);
  }

  Rope rope;
  std::unique_ptr<Router> router;

  std::vector<float> x;         // [n_tokens, n_embd] residual stream
  std::vector<float> h;         // [n_tokens, n_embd] normalised input of a block
  std::vector<float> proj;      // [n_tokens, n_embd] block output before the residual add
  std::vector<float> attn;      // [n_tokens, n_head·hd_v] attention output (pre o-proj)
  std::vector<float> q, k, v;   // GQA projections; MLA: q = [n_tokens, n_head·(nope+rope)]
  std::vector<int64_t> slot;    // [n_tokens] KV cache slot of each token

  // MLA
  std::vector<float> cq;        // [n_tokens, q_lora]
  std::vector<float> kv_a;      // [n_tokens, kv_lora + rope]
  std::vector<float> head_out;  // [n_tokens, n_head·v] absorbed-MLA outputs before their scatter
  std::vector<float> q_abs;     // [n_tokens, n_head, kv_lora] absorbed queries
  std::vector<float> u;         // [n_tokens, n_head, kv_lora] attention-weighted latents
  std::vector<float> latent;    // [n_ctx, kv_lora] one sequence's cached latents
  std::vector<float> k_nope;    // [n_ctx, n_head·nope] decompressed keys
  std::vector<float> v_dec;     // [n_ctx, n_head·v] decompressed values
  std::vector<MlaSeqPlan> mla_plans;          // [n_sequences] (only the first batch.sequences.size() used)
  std::vector<int32_t> mla_absorbed_tokens;   // batch indices attended in absorbed form

  // FFN / MoE
  std::vector<float> gate, up, act;      // [rows, n_ff]
  std::vector<float> expert_out;         // [rows, n_embd]
  std::vector<float> router_logits;      // [n_tokens, n_expert]
  std::vector<int32_t> chosen_ids;       // [n_tokens, max_k]
  std::vector<float> chosen_weights;     // [n_tokens, max_k]
  std::vector<int32_t> n_chosen;         // [n_tokens]
  std::vector<std::vector<int32_t>> expert_rows;   // [n_expert] token rows routed to it
  std::vector<std::vector<float>> expert_weights;  // [n_expert] their weights
  std::vector<int32_t> active_experts;   // experts chosen by some token, ascending
  std::vector<int64_t> expert_offset;    // [n_active + 1] first row of each in gate/up/expert_out
  std::vector<const float*> expert_in;   // [rows] input rows (of h) of each active expert
  std::vector<const float*> expert_act;  // [rows] activation rows (of gate) of each
  // Activations quantized once per MoE phase for the integer kernels:
  // [0] gate input, [1] up input (when its format differs), [2] down input.
  std::vector<uint8_t> act_q[3];             // [rows, quantized row bytes]
  std::vector<const uint8_t*> act_q_rows[3];  // [rows] each routed row's quantized input
  std::vector<float> logits_in;          // [n_rows, n_embd] normed rows whose logits are wanted
};

}  // namespace moelab
