// The synthetic model presets: hyper-parameters, and from them the metadata
// keys and tensors (names, ggml ne order) exactly as llama.cpp's converter
// writes each architecture. make_model.cpp turns a spec into a file.
//
// Thread-safety: the preset table is immutable; the functions are pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace moelab::synthetic {

struct PresetSpec {
  std::string name;
  std::string description;
  std::string arch;  // general.architecture: llama, qwen2moe, qwen3moe, deepseek2
  int64_t n_vocab = 512;
  int64_t n_ctx = 4096;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // 0: n_embd / n_head; else written as key/value_length
  int64_t n_ff = 0;      // feed_forward_length (dense FFN width)
  double rms_eps = 1e-5;
  double rope_base = 10000.0;

  bool tied_output = false;  // no output.weight: token_embd is reused
  bool qkv_bias = false;     // qwen2moe
  bool qk_norm = false;      // qwen3moe
  // llama3-style rope_freqs tensor (MODEL_MATH §5) when factor > 0.
  double llama3_factor = 0.0;
  double llama3_low = 1.0;
  double llama3_high = 4.0;
  int64_t llama3_orig_ctx = 0;

  // Mixture of experts (n_expert == 0: dense).
  int64_t n_expert = 0;
  int64_t n_expert_used = 0;
  int64_t n_ff_exp = 0;         // expert_feed_forward_length (0: not written)
  int64_t n_ff_shexp = 0;       // qwen2moe expert_shared_feed_forward_length
  int64_t n_expert_shared = 0;  // deepseek2 expert_shared_count
  int64_t n_group = 0;
  int64_t n_group_used = 0;
  int gating_func = 0;  // deepseek2 expert_gating_func: 1 softmax, 2 sigmoid
  double weights_scale = 1.0;
  bool weights_norm = false;
  int64_t n_dense_lead = 0;

  // deepseek2 MLA.
  int64_t q_lora = 0;  // 0: a single attn_q
  int64_t kv_lora = 0;
  int64_t rope_dim = 0;
  int64_t nope_dim = 0;
  int64_t v_dim = 0;
  bool legacy_kv_b = false;  // fused attn_kv_b instead of attn_k_b + attn_v_b

  // YaRN rope scaling keys, written when yarn_factor > 0.
  double yarn_factor = 0.0;
  int64_t yarn_orig_ctx = 0;
  double yarn_log_multiplier = 0.0;
  double yarn_beta_fast = 32.0;
  double yarn_beta_slow = 1.0;

  int64_t head_dim_or_default() const { return head_dim > 0 ? head_dim : n_embd / n_head; }
  bool is_moe_layer(int64_t layer) const { return n_expert > 0 && layer >= n_dense_lead; }
};

// How a tensor's values are generated.
enum class TensorInit {
  kMatrix,     // N(0, 1/ne0): unit-variance outputs for unit-variance inputs
  kNorm,       // 1 + N(0, 0.1^2), so a forgotten norm weight shows
  kBias,       // N(0, 0.1^2)
  kProbsBias,  // N(0, 0.05^2): deepseek2's expert selection bias
  kRopeFreqs,  // llama3 frequency divisors, computed
};

struct TensorSpec {
  std::string name;
  std::vector<int64_t> ne;  // ggml order: ne[0] is the row length
  TensorInit init = TensorInit::kMatrix;
  bool quantizable = false;  // takes the requested weight type
};

const std::vector<PresetSpec>& preset_specs();
const PresetSpec* find_preset(const std::string& name);

// Every tensor of the model, in the order the converter writes them.
std::vector<TensorSpec> preset_tensors(const PresetSpec& spec);

// The llama3 rope_freqs divisors (MODEL_MATH §5), [head_dim / 2].
std::vector<float> llama3_rope_divisors(const PresetSpec& spec);

}  // namespace moelab::synthetic
