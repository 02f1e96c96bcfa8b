// Hyper-parameters of a model, as read from its file by the architecture's
// loader (src/model/arch/). Plain data; copied freely.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace moelab {

// How RoPE pairs dimensions: kNorm rotates adjacent pairs (x[2i], x[2i+1]),
// as llama.cpp does for llama (weights pre-permuted by its converter) and
// DeepSeek; kNeox rotates (x[i], x[i + n_rot/2]) as Qwen does.
enum class RopeStyle { kNorm, kNeox };

struct RopeConfig {
  RopeStyle style = RopeStyle::kNorm;
  int32_t n_rot = 0;          // dimensions rotated per head (from the start of the head)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;    // 1/factor for linear and YaRN scaling
  bool yarn = false;
  int32_t yarn_orig_ctx = 0;
  float yarn_beta_fast = 32.0f;
  float yarn_beta_slow = 1.0f;
  float yarn_log_mul = 0.0f;  // DeepSeek's mscale: 1 + yarn_log_mul·ln(1/freq_scale)
  std::vector<float> freq_divisors;  // llama 3 `rope_freqs`: θ_i /= divisor_i; empty if absent
};

enum class AttentionKind { kGqa, kMla };
enum class FfnKind { kDense, kMoe };

// Router score function, numbered as llama.cpp's expert_gating_func.
enum class GatingFunc { kSoftmax = 1, kSigmoid = 2, kSoftmaxWeight = 3 };

struct MoeConfig {
  int32_t n_expert = 0;
  int32_t n_expert_used = 0;
  int32_t n_expert_shared = 0;  // shared experts (DeepSeek) fused into one FFN of n_ff_shexp
  int32_t n_ff_exp = 0;
  int32_t n_ff_shexp = 0;
  GatingFunc gating = GatingFunc::kSoftmax;
  bool norm_weights = false;     // renormalise the chosen experts' weights to sum 1
  float weights_scale = 1.0f;    // multiply the chosen experts' weights
  int32_t n_group = 1;           // expert groups (group-limited routing when > 1)
  int32_t n_group_used = 1;
  bool has_selection_bias = false;  // exp_probs_b: added to scores for choosing only
  bool shared_gate = false;         // qwen2moe: shared expert scaled by σ(w·x)
};

struct MlaConfig {
  int32_t q_lora_rank = 0;  // 0: no low-rank query (attn_q instead of attn_q_a/attn_q_b)
  int32_t kv_lora_rank = 0;
  int32_t qk_nope_head_dim = 0;
  int32_t qk_rope_head_dim = 0;
  int32_t v_head_dim = 0;
};

struct ModelConfig {
  std::string arch;  // general.architecture
  std::string name;  // general.name, if any
  int32_t n_vocab = 0;
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim_k = 0;  // GQA: per-head width of q and k
  int32_t head_dim_v = 0;  // GQA: per-head width of v
  int32_t n_ff = 0;        // dense FFN width
  int32_t n_ctx_train = 0;
  int32_t n_dense_lead = 0;  // leading layers with a dense FFN in a MoE model
  float rms_eps = 1e-5f;
  float attn_scale = 0.0f;  // softmax scale of q·k (set by the architecture)
  AttentionKind attention = AttentionKind::kGqa;
  RopeConfig rope;
  MoeConfig moe;
  MlaConfig mla;
  int32_t n_nextn_layers = 0;  // DeepSeek MTP layers at the end (loaded, not run)

  bool is_moe() const { return moe.n_expert > 0; }
  FfnKind ffn_kind(int32_t layer) const {
    return is_moe() && layer >= n_dense_lead ? FfnKind::kMoe : FfnKind::kDense;
  }
  // Layers the forward pass runs (MTP layers excluded).
  int32_t n_layer_run() const { return n_layer - n_nextn_layers; }
};

}  // namespace moelab
