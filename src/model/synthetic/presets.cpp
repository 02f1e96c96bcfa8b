#include "model/synthetic/presets.h"

#include <cmath>

namespace moelab::synthetic {
namespace {

constexpr int64_t kBenchVocab = 129280;  // DeepSeek-V3's vocabulary size

PresetSpec llama_base(std::string name, std::string description) {
  PresetSpec s;
  s.name = std::move(name);
  s.description = std::move(description);
  s.arch = "llama";
  s.rms_eps = 1e-5;
  return s;
}

// The deepseek2 settings shared by the DeepSeek-V3-like presets: sigmoid
// scores with a selection bias, group-limited routing, renormalised top-k
// scaled by 2.5, one shared expert, MLA with q_lora and split k_b/v_b.
PresetSpec deepseek_v3_base(std::string name, std::string description) {
  PresetSpec s;
  s.name = std::move(name);
  s.description = std::move(description);
  s.arch = "deepseek2";
  s.rms_eps = 1e-6;
  s.n_head_kv = 1;
  s.gating_func = 2;
  s.weights_scale = 2.5;
  s.weights_norm = true;
  s.n_expert_shared = 1;
  s.n_dense_lead = 1;
  return s;
}

std::vector<PresetSpec> build_presets() {
  std::vector<PresetSpec> presets;

  PresetSpec tiny = llama_base("tiny-llama", "llama dense: 64 wide, 2 layers, GQA 4/2 heads");
  tiny.n_embd = 64;
  tiny.n_layer = 2;
  tiny.n_head = 4;
  tiny.n_head_kv = 2;
  tiny.n_ff = 128;
  presets.push_back(tiny);

  PresetSpec tied = tiny;
  tied.name = "tiny-llama-tied";
  tied.description = "tiny-llama with tied output and llama3 rope_freqs (base 500000)";
  tied.tied_output = true;
  tied.rope_base = 500000.0;
  tied.llama3_factor = 8.0;
  tied.llama3_low = 1.0;
  tied.llama3_high = 4.0;
  tied.llama3_orig_ctx = 32;
  presets.push_back(tied);

  PresetSpec mixtral = tiny;
  mixtral.name = "tiny-mixtral";
  mixtral.description = "llama with 4 experts, top-2 (Mixtral layout)";
  mixtral.n_expert = 4;
  mixtral.n_expert_used = 2;
  presets.push_back(mixtral);

  PresetSpec qwen2;
  qwen2.name = "tiny-qwen2moe";
  qwen2.description = "qwen2moe: q/k/v biases, 4 experts top-2, gated shared expert";
  qwen2.arch = "qwen2moe";
  qwen2.rms_eps = 1e-6;
  qwen2.n_embd = 64;
  qwen2.n_layer = 2;
  qwen2.n_head = 4;
  qwen2.n_head_kv = 2;
  qwen2.n_ff = 128;
  qwen2.qkv_bias = true;
  qwen2.n_expert = 4;
  qwen2.n_expert_used = 2;
  qwen2.n_ff_exp = 64;
  qwen2.n_ff_shexp = 256;  // ffn_down_shexp rows of 256 take K-quants as they are
  presets.push_back(qwen2);

  PresetSpec qwen3;
  qwen3.name = "tiny-qwen3moe";
  qwen3.description = "qwen3moe: head_dim 24 != 64/4, q/k norms, 8 experts top-2";
  qwen3.arch = "qwen3moe";
  qwen3.rms_eps = 1e-6;
  qwen3.n_embd = 64;
  qwen3.n_layer = 2;
  qwen3.n_head = 4;
  qwen3.n_head_kv = 2;
  qwen3.head_dim = 24;
  qwen3.n_ff = 128;
  qwen3.qk_norm = true;
  qwen3.n_expert = 8;
  qwen3.n_expert_used = 2;
  qwen3.n_ff_exp = 64;
  presets.push_back(qwen3);

  // The sizes of the deepseek-v3 oracle case.
  PresetSpec ds = deepseek_v3_base(
      "tiny-deepseek2", "deepseek2 (V3-like): MLA q_lora, 16 experts, 4 groups/2, sigmoid top-4");
  ds.n_embd = 128;
  ds.n_layer = 3;
  ds.n_head = 4;
  ds.n_ff = 256;
  ds.q_lora = 64;
  ds.kv_lora = 32;
  ds.rope_dim = 16;
  ds.nope_dim = 32;
  ds.v_dim = 24;
  ds.n_expert = 16;
  ds.n_expert_used = 4;
  ds.n_ff_exp = 64;
  ds.n_group = 4;
  ds.n_group_used = 2;
  presets.push_back(ds);

  PresetSpec lite = ds;
  lite.name = "tiny-deepseek2-lite";
  lite.description = "deepseek2 (V2-Lite-like): no q_lora, fused attn_kv_b, softmax, YaRN";
  lite.n_head_kv = lite.n_head;  // the legacy (non-MLA) layout is plain MHA
  lite.q_lora = 0;
  lite.legacy_kv_b = true;
  lite.gating_func = 1;
  lite.weights_norm = false;
  lite.weights_scale = 1.0;
  lite.n_expert_shared = 2;
  lite.n_group = 0;
  lite.n_group_used = 0;
  lite.yarn_factor = 4.0;
  lite.yarn_orig_ctx = 32;
  lite.yarn_log_multiplier = 0.0707;
  presets.push_back(lite);

  // v3-demo and r1-demo: a dense model and an MoE with about twice its
  // parameters but two thirds of its active parameters per token (see the
  // ratio test); ~305 MB and ~600 MB in F32.
  PresetSpec v3 =
      llama_base("v3-demo", "dense llama, 768 wide, 12 layers: ~76M params (305 MB F32)");
  v3.n_ctx = 32768;
  v3.n_embd = 768;
  v3.n_layer = 12;
  v3.n_head = 12;
  v3.n_head_kv = 4;
  v3.n_ff = 2048;
  presets.push_back(v3);

  PresetSpec r1 = deepseek_v3_base(
      "r1-demo", "DeepSeek-V3-style MoE: ~2x v3-demo's params, ~2/3 of its active params");
  r1.n_ctx = 32768;
  r1.n_embd = 768;
  r1.n_layer = 12;
  r1.n_head = 12;
  r1.n_ff = 2048;
  r1.q_lora = 384;
  r1.kv_lora = 256;
  r1.rope_dim = 32;
  r1.nope_dim = 64;
  r1.v_dim = 64;
  r1.n_expert = 36;
  r1.n_expert_used = 6;
  r1.n_ff_exp = 128;
  r1.n_group = 6;
  r1.n_group_used = 3;
  presets.push_back(r1);

  PresetSpec bench_dense = llama_base("bench-dense", "llama 2048 wide, 16 layers, 129280 vocab");
  bench_dense.n_vocab = kBenchVocab;
  bench_dense.n_ctx = 32768;
  bench_dense.n_embd = 2048;
  bench_dense.n_layer = 16;
  bench_dense.n_head = 16;
  bench_dense.n_head_kv = 8;
  bench_dense.n_ff = 5632;
  presets.push_back(bench_dense);

  PresetSpec bench_qwen;
  bench_qwen.name = "bench-qwen3moe";
  bench_qwen.description = "qwen3moe 2048 wide, 16 layers, 64 experts top-4, 129280 vocab";
  bench_qwen.arch = "qwen3moe";
  bench_qwen.rms_eps = 1e-6;
  bench_qwen.n_vocab = kBenchVocab;
  bench_qwen.n_ctx = 32768;
  bench_qwen.n_embd = 2048;
  bench_qwen.n_layer = 16;
  bench_qwen.n_head = 32;
  bench_qwen.n_head_kv = 4;
  bench_qwen.head_dim = 128;
  bench_qwen.n_ff = 5632;
  bench_qwen.qk_norm = true;
  bench_qwen.n_expert = 64;
  bench_qwen.n_expert_used = 4;
  bench_qwen.n_ff_exp = 512;
  presets.push_back(bench_qwen);

  PresetSpec bench_ds = deepseek_v3_base(
      "bench-deepseek", "deepseek2 2048 wide, 16 layers, MLA, 64 experts top-6, 129280 vocab");
  bench_ds.n_vocab = kBenchVocab;
  bench_ds.n_ctx = 32768;
  bench_ds.n_embd = 2048;
  bench_ds.n_layer = 16;
  bench_ds.n_head = 16;
  bench_ds.n_ff = 5632;
  bench_ds.q_lora = 768;
  bench_ds.kv_lora = 512;
  bench_ds.rope_dim = 64;
  bench_ds.nope_dim = 128;
  bench_ds.v_dim = 128;
  bench_ds.n_expert = 64;
  bench_ds.n_expert_used = 6;
  bench_ds.n_ff_exp = 512;
  bench_ds.n_group = 8;
  bench_ds.n_group_used = 4;
  presets.push_back(bench_ds);

  return presets;
}

std::string blk(int64_t layer, const char* suffix) {
  return "blk." + std::to_string(layer) + "." + suffix;
}

void add(std::vector<TensorSpec>& out, std::string name, std::vector<int64_t> ne, TensorInit init) {
  // llama.cpp quantizes every weight of two or more dimensions except the
  // router (kept F32 by the converter and by llama-quantize).
  const bool quantizable = init == TensorInit::kMatrix && ne.size() >= 2 &&
                           name.find("ffn_gate_inp") == std::string::npos;
  out.push_back({std::move(name), std::move(ne), init, quantizable});
}

void add_attention(const PresetSpec& s, int64_t i, std::vector<TensorSpec>& out) {
  const int64_t n_embd = s.n_embd;
  if (s.arch == "deepseek2") {
    const int64_t qk_dim = s.nope_dim + s.rope_dim;
    if (s.q_lora > 0) {
      add(out, blk(i, "attn_q_a.weight"), {n_embd, s.q_lora}, TensorInit::kMatrix);
      add(out, blk(i, "attn_q_a_norm.weight"), {s.q_lora}, TensorInit::kNorm);
      add(out, blk(i, "attn_q_b.weight"), {s.q_lora, s.n_head * qk_dim}, TensorInit::kMatrix);
    } else {
      add(out, blk(i, "attn_q.weight"), {n_embd, s.n_head * qk_dim}, TensorInit::kMatrix);
    }
    add(out, blk(i, "attn_kv_a_mqa.weight"), {n_embd, s.kv_lora + s.rope_dim}, TensorInit::kMatrix);
    add(out, blk(i, "attn_kv_a_norm.weight"), {s.kv_lora}, TensorInit::kNorm);
    if (s.legacy_kv_b) {
      add(out, blk(i, "attn_kv_b.weight"), {s.kv_lora, s.n_head * (s.nope_dim + s.v_dim)},
          TensorInit::kMatrix);
    } else {
      add(out, blk(i, "attn_k_b.weight"), {s.nope_dim, s.kv_lora, s.n_head}, TensorInit::kMatrix);
      add(out, blk(i, "attn_v_b.weight"), {s.kv_lora, s.v_dim, s.n_head}, TensorInit::kMatrix);
    }
    add(out, blk(i, "attn_output.weight"), {s.n_head * s.v_dim, n_embd}, TensorInit::kMatrix);
    return;
  }
  const int64_t head_dim = s.head_dim_or_default();
  add(out, blk(i, "attn_q.weight"), {n_embd, s.n_head * head_dim}, TensorInit::kMatrix);
  add(out, blk(i, "attn_k.weight"), {n_embd, s.n_head_kv * head_dim}, TensorInit::kMatrix);
  add(out, blk(i, "attn_v.weight"), {n_embd, s.n_head_kv * head_dim}, TensorInit::kMatrix);
  if (s.qkv_bias) {
    add(out, blk(i, "attn_q.bias"), {s.n_head * head_dim}, TensorInit::kBias);
    add(out, blk(i, "attn_k.bias"), {s.n_head_kv * head_dim}, TensorInit::kBias);
    add(out, blk(i, "attn_v.bias"), {s.n_head_kv * head_dim}, TensorInit::kBias);
  }
  if (s.qk_norm) {
    add(out, blk(i, "attn_q_norm.weight"), {head_dim}, TensorInit::kNorm);
    add(out, blk(i, "attn_k_norm.weight"), {head_dim}, TensorInit::kNorm);
  }
  add(out, blk(i, "attn_output.weight"), {s.n_head * head_dim, n_embd}, TensorInit::kMatrix);
}

void add_ffn(const PresetSpec& s, int64_t i, std::vector<TensorSpec>& out) {
  const int64_t n_embd = s.n_embd;
  if (!s.is_moe_layer(i)) {
    add(out, blk(i, "ffn_gate.weight"), {n_embd, s.n_ff}, TensorInit::kMatrix);
    add(out, blk(i, "ffn_down.weight"), {s.n_ff, n_embd}, TensorInit::kMatrix);
    add(out, blk(i, "ffn_up.weight"), {n_embd, s.n_ff}, TensorInit::kMatrix);
    return;
  }
  // Mixtral (llama arch) has no expert_feed_forward_length: experts are n_ff wide.
  const int64_t n_ff_exp = s.n_ff_exp > 0 ? s.n_ff_exp : s.n_ff;
  add(out, blk(i, "ffn_gate_inp.weight"), {n_embd, s.n_expert}, TensorInit::kMatrix);
  if (s.gating_func == 2) {
    add(out, blk(i, "exp_probs_b.bias"), {s.n_expert}, TensorInit::kProbsBias);
  }
  add(out, blk(i, "ffn_gate_exps.weight"), {n_embd, n_ff_exp, s.n_expert}, TensorInit::kMatrix);
  add(out, blk(i, "ffn_down_exps.weight"), {n_ff_exp, n_embd, s.n_expert}, TensorInit::kMatrix);
  add(out, blk(i, "ffn_up_exps.weight"), {n_embd, n_ff_exp, s.n_expert}, TensorInit::kMatrix);
  int64_t n_ff_shexp = 0;
  if (s.arch == "qwen2moe") {
    add(out, blk(i, "ffn_gate_inp_shexp.weight"), {n_embd}, TensorInit::kMatrix);
    n_ff_shexp = s.n_ff_shexp;
  } else if (s.n_expert_shared > 0) {
    // The converter fuses deepseek2's shared experts into one FFN.
    n_ff_shexp = n_ff_exp * s.n_expert_shared;
  }
  if (n_ff_shexp > 0) {
    add(out, blk(i, "ffn_gate_shexp.weight"), {n_embd, n_ff_shexp}, TensorInit::kMatrix);
    add(out, blk(i, "ffn_down_shexp.weight"), {n_ff_shexp, n_embd}, TensorInit::kMatrix);
    add(out, blk(i, "ffn_up_shexp.weight"), {n_embd, n_ff_shexp}, TensorInit::kMatrix);
  }
}

}  // namespace

const std::vector<PresetSpec>& preset_specs() {
  static const std::vector<PresetSpec> presets = build_presets();
  return presets;
}

const PresetSpec* find_preset(const std::string& name) {
  for (const PresetSpec& spec : preset_specs()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::vector<TensorSpec> preset_tensors(const PresetSpec& s) {
  std::vector<TensorSpec> out;
  if (s.llama3_factor > 0) {
    add(out, "rope_freqs.weight", {s.head_dim_or_default() / 2}, TensorInit::kRopeFreqs);
  }
  add(out, "token_embd.weight", {s.n_embd, s.n_vocab}, TensorInit::kMatrix);
  add(out, "output_norm.weight", {s.n_embd}, TensorInit::kNorm);
  if (!s.tied_output) add(out, "output.weight", {s.n_embd, s.n_vocab}, TensorInit::kMatrix);
  for (int64_t i = 0; i < s.n_layer; ++i) {
    add(out, blk(i, "attn_norm.weight"), {s.n_embd}, TensorInit::kNorm);
    add_attention(s, i, out);
    add(out, blk(i, "ffn_norm.weight"), {s.n_embd}, TensorInit::kNorm);
    add_ffn(s, i, out);
  }
  return out;
}

std::vector<float> llama3_rope_divisors(const PresetSpec& s) {
  const int64_t n_rot = s.head_dim_or_default();
  const double low_wavelen = static_cast<double>(s.llama3_orig_ctx) / s.llama3_low;
  const double high_wavelen = static_cast<double>(s.llama3_orig_ctx) / s.llama3_high;
  std::vector<float> divisors;
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    const double inv_freq = std::pow(s.rope_base, -2.0 * static_cast<double>(i) / n_rot);
    const double wavelen = 2.0 * 3.14159265358979323846 / inv_freq;
    double divisor;
    if (wavelen < high_wavelen) {
      divisor = 1.0;
    } else if (wavelen > low_wavelen) {
      divisor = s.llama3_factor;
    } else {
      const double smooth =
          (s.llama3_orig_ctx / wavelen - s.llama3_low) / (s.llama3_high - s.llama3_low);
      divisor = 1.0 / ((1.0 - smooth) / s.llama3_factor + smooth);
    }
    divisors.push_back(static_cast<float>(divisor));
  }
  return divisors;
}

}  // namespace moelab::synthetic
