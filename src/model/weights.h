// Views of a model's weight tensors, bound by name from the file by each
// architecture. A view with data == nullptr is absent. Views point into the
// mapped file (or, for derived tensors, into ModelWeights::owned).
#pragma once

#include <memory>
#include <vector>

#include "tensor/tensor.h"

namespace moelab {

inline bool present(const TensorView& t) { return t.data != nullptr; }

struct AttentionWeights {
  // GQA
  TensorView q, k, v;              // [n_head·hd_k | n_head_kv·hd_k | n_head_kv·hd_v, n_embd]
  TensorView q_bias, k_bias, v_bias;  // [n_out] (qwen2moe)
  TensorView q_norm, k_norm;       // [head_dim] per-head RMSNorm (qwen3moe)
  TensorView output;               // [n_embd, n_head·hd_v]
  // MLA
  TensorView q_a, q_a_norm, q_b;   // [q_lora, n_embd], [q_lora], [n_head·(nope+rope), q_lora]
  TensorView kv_a_mqa, kv_a_norm;  // [kv_lora+rope, n_embd], [kv_lora]
  TensorView k_b;                  // [n_head][kv_lora, nope]: absorbs q_nope into latent space
  TensorView k_dec;                // [n_head·nope, kv_lora]: decompresses latent to k_nope
  TensorView v_b;                  // [n_head·v, kv_lora]: latent to v (per head: rows h·v..)
};

struct FfnWeights {
  TensorView gate, up, down;                 // dense: [n_ff, n_embd] ×2, [n_embd, n_ff]
  TensorView router;                         // ffn_gate_inp: [n_expert, n_embd]
  TensorView selection_bias;                 // exp_probs_b: [n_expert]
  TensorView gate_exps, up_exps, down_exps;  // [n_expert][n_ff_exp, n_embd], [n_expert][n_embd, n_ff_exp]
  TensorView gate_shexp, up_shexp, down_shexp;  // shared expert
  TensorView shexp_gate;                     // ffn_gate_inp_shexp: [n_embd] (qwen2moe)
};

struct LayerWeights {
  TensorView attn_norm, ffn_norm;  // [n_embd]
  AttentionWeights attn;
  FfnWeights ffn;
};

struct ModelWeights {
  TensorView token_embd;   // [n_vocab, n_embd]
  TensorView output_norm;  // [n_embd]
  TensorView output;       // [n_vocab, n_embd] (token_embd when tied)
  std::vector<LayerWeights> layers;
  // Tensors derived at load time (transposes for MLA), kept alive here.
  std::vector<std::unique_ptr<std::vector<float>>> owned;
};

}  // namespace moelab
