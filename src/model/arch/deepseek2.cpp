// `deepseek2`: DeepSeek-V2/V3/R1. Multi-head Latent Attention (with or without
// a low-rank query; split attn_k_b/attn_v_b or the older fused attn_kv_b),
// RoPE on adjacent pairs of the rope part only, YaRN with the mscale² softmax
// factor; leading dense layers, then DeepSeekMoE (sigmoid or softmax scores,
// selection bias, group-limited choice, shared experts). MTP layers are
// counted and skipped. Math: MODEL_MATH.md sections 1-4.
#include <cmath>

#include "kernels/quant.h"
#include "model/arch/arch.h"
#include "model/arch/binder.h"

namespace moelab {
namespace {

Status read_config(const GgufFile& file, ModelConfig& c) {
  ConfigReader r(file, "deepseek2");
  MOELAB_TRY(r.read_common(c, RopeStyle::kNorm));
  MOELAB_TRY(r.read_moe(c));
  c.attention = AttentionKind::kMla;
  MlaConfig& m = c.mla;
  MOELAB_ASSIGN_OR_RETURN(m.q_lora_rank, r.int_key_or("attention.q_lora_rank", 0, 0, 1 << 20));
  MOELAB_ASSIGN_OR_RETURN(m.kv_lora_rank, r.int_key("attention.kv_lora_rank", 1, 1 << 20));
  m.qk_rope_head_dim = c.rope.n_rot;
  // Files written for llama.cpp's MLA path say key_length = kv_lora + rope and
  // put the per-head sizes in *_mla keys; older files put them in key_length.
  MOELAB_ASSIGN_OR_RETURN(int32_t k_len, r.int_key_or("attention.key_length_mla", c.head_dim_k, 1, 65536));
  MOELAB_ASSIGN_OR_RETURN(int32_t v_len, r.int_key_or("attention.value_length_mla", c.head_dim_v, 1, 65536));
  if (k_len <= m.qk_rope_head_dim) {
    return Status::error(file.path() + ": deepseek2 key length " + std::to_string(k_len) +
                         " must exceed rope.dimension_count " + std::to_string(m.qk_rope_head_dim));
  }
  m.qk_nope_head_dim = k_len - m.qk_rope_head_dim;
  m.v_head_dim = v_len;
  c.head_dim_k = k_len;
  c.head_dim_v = v_len;
  c.n_head_kv = c.n_head;
  if (c.is_moe()) {
    c.moe.n_ff_shexp = c.moe.n_ff_exp * c.moe.n_expert_shared;
    const std::string bias = layer_tensor(c.n_dense_lead, "exp_probs_b.bias");
    c.moe.has_selection_bias = file.find_tensor(bias) != nullptr;
  }
  MOELAB_ASSIGN_OR_RETURN(c.n_nextn_layers, r.int_key_or("nextn_predict_layers", 0, 0, c.n_layer - 1));
  // llama.cpp: kq_scale = mscale² / sqrt(qk_head_dim), mscale = 1 + log_mul·ln(factor).
  const float mscale = 1.0f + c.rope.yarn_log_mul * std::log(1.0f / c.rope.freq_scale);
  c.attn_scale = mscale * mscale / std::sqrt(static_cast<float>(k_len));
  return Status::ok();
}

// k_dec[h·nope + d][c] = k_b[h][c][d]: the decompression matrix, derived once.
TensorView transpose_heads(const TensorBinder& b, const TensorView& k_b, int32_t n_head,
                           int32_t nope, int32_t kv_lora) {
  const TensorView f = b.to_f32(k_b);
  const float* src = reinterpret_cast<const float*>(f.data);
  float* dst = b.own(int64_t{n_head} * nope * kv_lora);
  for (int32_t h = 0; h < n_head; ++h)
    for (int32_t c = 0; c < kv_lora; ++c)
      for (int32_t d = 0; d < nope; ++d)
        dst[(int64_t{h} * nope + d) * kv_lora + c] = src[(int64_t{h} * kv_lora + c) * nope + d];
  TensorView out;
  out.name = k_b.name + ".dec";
  out.type = DType::kF32;
  out.n_dims = 2;
  out.ne = {kv_lora, int64_t{n_head} * nope, 1, 1};
  out.data = reinterpret_cast<const uint8_t*>(dst);
  return out;
}

TensorView f32_view(const std::string& name, const float* data, std::array<int64_t, 4> ne,
                    int n_dims) {
  TensorView v;
  v.name = name;
  v.type = DType::kF32;
  v.n_dims = n_dims;
  v.ne = ne;
  v.data = reinterpret_cast<const uint8_t*>(data);
  return v;
}

// The older fused attn_kv_b [n_head·(nope+v), kv_lora] split into k_b, k_dec, v_b.
void split_kv_b(const TensorBinder& b, const TensorView& kv_b, const MlaConfig& m, int32_t n_head,
                AttentionWeights& a) {
  const TensorView f = b.to_f32(kv_b);
  const float* src = reinterpret_cast<const float*>(f.data);
  const int64_t nope = m.qk_nope_head_dim, vd = m.v_head_dim, r = m.kv_lora_rank;
  float* kb = b.own(n_head * r * nope);
  float* kd = b.own(n_head * nope * r);
  float* vb = b.own(n_head * vd * r);
  for (int64_t h = 0; h < n_head; ++h) {
    const float* head = src + h * (nope + vd) * r;
    for (int64_t d = 0; d < nope; ++d)
      for (int64_t c = 0; c < r; ++c) {
        kd[(h * nope + d) * r + c] = head[d * r + c];
        kb[(h * r + c) * nope + d] = head[d * r + c];
      }
    for (int64_t j = 0; j < vd * r; ++j) vb[h * vd * r + j] = head[nope * r + j];
  }
  a.k_b = f32_view(kv_b.name + ".k_b", kb, {nope, r, n_head, 1}, 3);
  a.k_dec = f32_view(kv_b.name + ".k_dec", kd, {r, n_head * nope, 1, 1}, 2);
  a.v_b = f32_view(kv_b.name + ".v_b", vb, {r, n_head * vd, 1, 1}, 2);
}

Status bind_weights(const GgufFile& file, const ModelConfig& c, ModelWeights& w) {
  TensorBinder b(file, w);
  MOELAB_TRY(bind_common(b, c, w, /*allow_tied=*/false));
  const MlaConfig& m = c.mla;
  const int64_t d = c.n_embd, nh = c.n_head;
  const int64_t q_width = nh * (m.qk_nope_head_dim + m.qk_rope_head_dim);
  for (int32_t l = 0; l < c.n_layer_run(); ++l) {
    AttentionWeights& a = w.layers[static_cast<size_t>(l)].attn;
    if (m.q_lora_rank > 0) {
      MOELAB_ASSIGN_OR_RETURN(a.q_a, b.require(layer_tensor(l, "attn_q_a.weight"), {d, m.q_lora_rank}));
      MOELAB_ASSIGN_OR_RETURN(a.q_a_norm, b.require_f32(layer_tensor(l, "attn_q_a_norm.weight"), m.q_lora_rank));
      MOELAB_ASSIGN_OR_RETURN(a.q_b, b.require(layer_tensor(l, "attn_q_b.weight"), {m.q_lora_rank, q_width}));
    } else {
      MOELAB_ASSIGN_OR_RETURN(a.q, b.require(layer_tensor(l, "attn_q.weight"), {d, q_width}));
    }
    MOELAB_ASSIGN_OR_RETURN(a.kv_a_mqa, b.require(layer_tensor(l, "attn_kv_a_mqa.weight"),
                                                  {d, m.kv_lora_rank + m.qk_rope_head_dim}));
    MOELAB_ASSIGN_OR_RETURN(a.kv_a_norm, b.require_f32(layer_tensor(l, "attn_kv_a_norm.weight"), m.kv_lora_rank));
    if (b.has(layer_tensor(l, "attn_k_b.weight"))) {
      MOELAB_ASSIGN_OR_RETURN(a.k_b, b.require(layer_tensor(l, "attn_k_b.weight"),
                                               {m.qk_nope_head_dim, m.kv_lora_rank, nh}));
      MOELAB_ASSIGN_OR_RETURN(TensorView v_b, b.require(layer_tensor(l, "attn_v_b.weight"),
                                                        {m.kv_lora_rank, m.v_head_dim, nh}));
      a.v_b = v_b;  // contiguous heads: one [n_head·v, kv_lora] matrix
      a.v_b.n_dims = 2;
      a.v_b.ne = {m.kv_lora_rank, nh * m.v_head_dim, 1, 1};
      a.k_dec = transpose_heads(b, a.k_b, c.n_head, m.qk_nope_head_dim, m.kv_lora_rank);
    } else {
      MOELAB_ASSIGN_OR_RETURN(TensorView kv_b, b.require(layer_tensor(l, "attn_kv_b.weight"),
                                                         {m.kv_lora_rank, nh * (m.qk_nope_head_dim + m.v_head_dim)}));
      split_kv_b(b, kv_b, m, c.n_head, a);
    }
    MOELAB_ASSIGN_OR_RETURN(a.output, b.require(layer_tensor(l, "attn_output.weight"), {nh * m.v_head_dim, d}));
    MOELAB_TRY(bind_ffn(b, c, l, w.layers[static_cast<size_t>(l)].ffn));
  }
  return Status::ok();
}

}  // namespace

const Architecture& deepseek2_architecture() {
  static const Architecture kArch{"deepseek2", "DeepSeek-V2/V3/R1 (MLA + DeepSeekMoE)", read_config,
                                  bind_weights};
  return kArch;
}

}  // namespace moelab
