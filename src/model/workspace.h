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

// One expert's share of an MoE step: its three matrices and the rows of the
// tokens that use it. Rows of all jobs are laid end to end, so one parallel
// region per phase covers every expert.
struct MoeJob {
  TensorView gate, up, down;  // [ff, n_embd], [ff, n_embd], [n_embd, ff]
  int64_t ff = 0;
  int64_t row0 = 0, rows = 0;  // its rows: [row0, row0 + rows) of the job-row lists
  int64_t act0 = 0;            // offset of its first row in gate/up ([rows, ff] each)
  int64_t ff_chunk0 = 0;       // its first 16-row chunk of gate/up (phase 1)
  int64_t d_chunk0 = 0;        // its first 16-row chunk of down (phase 2)
  int64_t act_q0 = 0;          // byte offset of its first quantized gated row
  int64_t act_q_bytes = 0;     // bytes of one quantized gated row (0: float path)
  DType in_format[2] = {DType::kF32, DType::kF32};  // activation format for gate, up
  DType act_format = DType::kF32;                   // ... for down
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
  std::vector<MoeJob> moe_jobs;          // this step's active experts, then the shared one
  std::vector<int32_t> job_token;        // [rows] batch index of each job row
  std::vector<float> job_weight;         // [rows] its routing weight (shared: its gate)
  std::vector<const float*> job_in;      // [rows] its input row (of h)
  std::vector<const float*> job_act;     // [rows] its gated row (of gate)
  // Activations quantized once per step for the integer kernels: h rows in
  // each format the gate/up weights need, and the gated rows for down.
  std::vector<uint8_t> h_q[2];                // [n_tokens, row bytes] per format
  std::vector<uint8_t> act_q;                 // gated rows, each in its job's down format
  std::vector<const uint8_t*> job_in_q[2];    // [rows] quantized input for gate [0], up [1]
  std::vector<const uint8_t*> job_act_q;      // [rows] quantized gated row
  std::vector<float> logits_in;          // [n_rows, n_embd] normed rows whose logits are wanted
};

}  // namespace moelab
