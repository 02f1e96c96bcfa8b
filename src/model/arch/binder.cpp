#include "model/arch/binder.h"

#include <cmath>

#include "kernels/quant.h"

namespace moelab {
namespace {

std::string shape_of(const std::vector<int64_t>& ne) {
  std::string s = "{";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "}";
}

}  // namespace

Result<int32_t> ConfigReader::int_key(const std::string& key, int64_t lo, int64_t hi) const {
  MOELAB_ASSIGN_OR_RETURN(int64_t v, file_.get_int(prefix_ + key));
  if (v < lo || v > hi) {
    return Status::error(file_.path() + ": key '" + prefix_ + key + "' = " + std::to_string(v) +
                         " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) +
                         "]");
  }
  return static_cast<int32_t>(v);
}

Result<int32_t> ConfigReader::int_key_or(const std::string& key, int32_t fallback, int64_t lo,
                                         int64_t hi) const {
  if (!has(key)) return fallback;
  return int_key(key, lo, hi);
}

Result<float> ConfigReader::float_key_or(const std::string& key, float fallback) const {
  MOELAB_ASSIGN_OR_RETURN(double v, file_.get_float_or(prefix_ + key, fallback));
  if (!std::isfinite(v)) {
    return Status::error(file_.path() + ": key '" + prefix_ + key + "' is not a finite number");
  }
  return static_cast<float>(v);
}

Result<bool> ConfigReader::bool_key_or(const std::string& key, bool fallback) const {
  return file_.get_bool_or(prefix_ + key, fallback);
}

Result<std::string> ConfigReader::string_key_or(const std::string& key,
                                                std::string fallback) const {
  return file_.get_string_or(prefix_ + key, std::move(fallback));
}

Status ConfigReader::read_common(ModelConfig& c, RopeStyle style) const {
  constexpr int64_t kMaxDim = 1 << 20;
  MOELAB_ASSIGN_OR_RETURN(c.name, file_.get_string_or("general.name", ""));
  MOELAB_ASSIGN_OR_RETURN(c.n_embd, int_key("embedding_length", 1, kMaxDim));
  MOELAB_ASSIGN_OR_RETURN(c.n_layer, int_key("block_count", 1, 4096));
  MOELAB_ASSIGN_OR_RETURN(c.n_ff, int_key_or("feed_forward_length", 0, 0, kMaxDim));
  MOELAB_ASSIGN_OR_RETURN(c.n_head, int_key("attention.head_count", 1, 4096));
  MOELAB_ASSIGN_OR_RETURN(c.n_head_kv, int_key_or("attention.head_count_kv", c.n_head, 1, c.n_head));
  if (c.n_head % c.n_head_kv != 0) {
    return Status::error(file_.path() + ": attention.head_count " + std::to_string(c.n_head) +
                         " is not a multiple of attention.head_count_kv " +
                         std::to_string(c.n_head_kv));
  }
  MOELAB_ASSIGN_OR_RETURN(c.n_ctx_train, int_key_or("context_length", 4096, 1, int64_t{1} << 30));
  MOELAB_ASSIGN_OR_RETURN(c.rms_eps, float_key_or("attention.layer_norm_rms_epsilon", 1e-5f));
  if (!(c.rms_eps > 0.0f && c.rms_eps < 1.0f)) {
    return Status::error(file_.path() + ": key '" + prefix_ +
                         "attention.layer_norm_rms_epsilon' must be in (0, 1)");
  }
  const int32_t default_head = c.n_embd / c.n_head;
  MOELAB_ASSIGN_OR_RETURN(c.head_dim_k, int_key_or("attention.key_length", default_head, 1, 65536));
  MOELAB_ASSIGN_OR_RETURN(c.head_dim_v,
                          int_key_or("attention.value_length", c.head_dim_k, 1, 65536));

  const GgufTensorInfo* embd = file_.find_tensor("token_embd.weight");
  if (embd == nullptr) return Status::error(file_.path() + ": tensor 'token_embd.weight' is missing");
  if (embd->n_dims != 2 || embd->ne[0] != c.n_embd) {
    return Status::error(file_.path() + ": tensor 'token_embd.weight' has shape " +
                         file_.view(*embd).shape_string() + ", expected {" +
                         std::to_string(c.n_embd) + ", n_vocab}");
  }
  c.n_vocab = static_cast<int32_t>(embd->ne[1]);

  RopeConfig& r = c.rope;
  r.style = style;
  MOELAB_ASSIGN_OR_RETURN(r.n_rot, int_key_or("rope.dimension_count", c.head_dim_k, 0, 65536));
  if (r.n_rot % 2 != 0) return Status::error(file_.path() + ": rope.dimension_count must be even");
  MOELAB_ASSIGN_OR_RETURN(r.freq_base, float_key_or("rope.freq_base", 10000.0f));
  if (!(r.freq_base > 1.0f)) return Status::error(file_.path() + ": rope.freq_base must be > 1");
  MOELAB_ASSIGN_OR_RETURN(std::string scaling, string_key_or("rope.scaling.type", "none"));
  MOELAB_ASSIGN_OR_RETURN(float factor, float_key_or("rope.scaling.factor", 0.0f));
  if (factor == 0.0f) {
    MOELAB_ASSIGN_OR_RETURN(float linear, float_key_or("rope.scale_linear", 0.0f));
    if (linear > 0.0f) {
      factor = linear;
      if (scaling == "none") scaling = "linear";
    }
  }
  if (scaling == "linear" || scaling == "yarn") {
    if (!(factor >= 1.0f)) {
      return Status::error(file_.path() + ": rope.scaling.factor must be >= 1 for " + scaling +
                           " scaling");
    }
    r.freq_scale = 1.0f / factor;
  } else if (scaling != "none") {
    return Status::error(file_.path() + ": unsupported rope.scaling.type '" + scaling + "'");
  }
  if (scaling == "yarn") {
    r.yarn = true;
    MOELAB_ASSIGN_OR_RETURN(r.yarn_orig_ctx, int_key_or("rope.scaling.original_context_length",
                                                        c.n_ctx_train, 1, int64_t{1} << 30));
    MOELAB_ASSIGN_OR_RETURN(r.yarn_beta_fast, float_key_or("rope.scaling.yarn_beta_fast", 32.0f));
    MOELAB_ASSIGN_OR_RETURN(r.yarn_beta_slow, float_key_or("rope.scaling.yarn_beta_slow", 1.0f));
    MOELAB_ASSIGN_OR_RETURN(r.yarn_log_mul, float_key_or("rope.scaling.yarn_log_multiplier", 0.0f));
  }
  return Status::ok();
}

Status ConfigReader::read_moe(ModelConfig& c) const {
  MoeConfig& m = c.moe;
  MOELAB_ASSIGN_OR_RETURN(m.n_expert, int_key_or("expert_count", 0, 0, 65536));
  if (m.n_expert == 0) return Status::ok();
  MOELAB_ASSIGN_OR_RETURN(m.n_expert_used, int_key("expert_used_count", 1, m.n_expert));
  MOELAB_ASSIGN_OR_RETURN(m.n_expert_shared, int_key_or("expert_shared_count", 0, 0, 1024));
  MOELAB_ASSIGN_OR_RETURN(m.n_ff_exp, int_key_or("expert_feed_forward_length", c.n_ff, 1, 1 << 20));
  MOELAB_ASSIGN_OR_RETURN(int32_t gating, int_key_or("expert_gating_func", 1, 1, 3));
  m.gating = static_cast<GatingFunc>(gating);
  MOELAB_ASSIGN_OR_RETURN(m.norm_weights, bool_key_or("expert_weights_norm", false));
  MOELAB_ASSIGN_OR_RETURN(m.weights_scale, float_key_or("expert_weights_scale", 1.0f));
  if (m.weights_scale == 0.0f) m.weights_scale = 1.0f;  // llama.cpp: 0 means "no scaling"
  MOELAB_ASSIGN_OR_RETURN(m.n_group, int_key_or("expert_group_count", 1, 1, m.n_expert));
  MOELAB_ASSIGN_OR_RETURN(m.n_group_used, int_key_or("expert_group_used_count", m.n_group, 1, m.n_group));
  if (m.n_expert % m.n_group != 0) {
    return Status::error(file_.path() + ": expert_count " + std::to_string(m.n_expert) +
                         " is not a multiple of expert_group_count " + std::to_string(m.n_group));
  }
  MOELAB_ASSIGN_OR_RETURN(c.n_dense_lead, int_key_or("leading_dense_block_count", 0, 0, c.n_layer));
  return Status::ok();
}

Result<TensorView> TensorBinder::optional(const std::string& name, std::vector<int64_t> ne) const {
  const GgufTensorInfo* info = file_.find_tensor(name);
  if (info == nullptr) return TensorView{};
  bool match = true;
  for (size_t i = 0; match && i < 4; ++i) {
    const int64_t want = i < ne.size() ? ne[i] : 1;
    match = info->ne[i] == want;
  }
  TensorView v = file_.view(*info);
  if (!match) {
    return Status::error(file_.path() + ": tensor '" + name + "' has shape " + v.shape_string() +
                         ", expected " + shape_of(ne));
  }
  if (!dtype_info(v.type).computable) {
    return Status::error(file_.path() + ": tensor '" + name + "' has type " +
                         std::string(dtype_info(v.type).name) + ", which moelab cannot compute with");
  }
  return v;
}

Result<TensorView> TensorBinder::require(const std::string& name, std::vector<int64_t> ne) const {
  MOELAB_ASSIGN_OR_RETURN(TensorView v, optional(name, ne));
  if (!present(v)) return Status::error(file_.path() + ": tensor '" + name + "' is missing");
  return v;
}

TensorView TensorBinder::to_f32(const TensorView& view) const {
  if (view.type == DType::kF32) return view;
  const int64_t n = view.n_elements();
  float* dst = own(n);
  for (int64_t r = 0; r < view.n_rows(); ++r) {
    dequantize_row(view.type, view.row(r), dst + r * view.ne[0], view.ne[0]);
  }
  TensorView out = view;
  out.type = DType::kF32;
  out.data = reinterpret_cast<const uint8_t*>(dst);
  return out;
}

float* TensorBinder::own(int64_t n) const {
  weights_.owned.push_back(std::make_unique<std::vector<float>>(static_cast<size_t>(n)));
  return weights_.owned.back()->data();
}

Result<TensorView> TensorBinder::optional_f32(const std::string& name, int64_t n) const {
  MOELAB_ASSIGN_OR_RETURN(TensorView v, optional(name, {n}));
  return present(v) ? to_f32(v) : v;
}

Result<TensorView> TensorBinder::require_f32(const std::string& name, int64_t n) const {
  MOELAB_ASSIGN_OR_RETURN(TensorView v, require(name, {n}));
  return to_f32(v);
}

std::string layer_tensor(int32_t layer, const char* suffix) {
  return "blk." + std::to_string(layer) + "." + suffix;
}

Status bind_common(const TensorBinder& b, const ModelConfig& c, ModelWeights& w, bool allow_tied) {
  MOELAB_ASSIGN_OR_RETURN(w.token_embd, b.require("token_embd.weight", {c.n_embd, c.n_vocab}));
  MOELAB_ASSIGN_OR_RETURN(w.output_norm, b.require_f32("output_norm.weight", c.n_embd));
  MOELAB_ASSIGN_OR_RETURN(w.output, b.optional("output.weight", {c.n_embd, c.n_vocab}));
  if (!present(w.output)) {
    if (!allow_tied) return Status::error(b.file().path() + ": tensor 'output.weight' is missing");
    w.output = w.token_embd;  // tied embeddings
  }
  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int32_t l = 0; l < c.n_layer_run(); ++l) {
    LayerWeights& L = w.layers[static_cast<size_t>(l)];
    MOELAB_ASSIGN_OR_RETURN(L.attn_norm, b.require_f32(layer_tensor(l, "attn_norm.weight"), c.n_embd));
    MOELAB_ASSIGN_OR_RETURN(L.ffn_norm, b.require_f32(layer_tensor(l, "ffn_norm.weight"), c.n_embd));
  }
  return Status::ok();
}

Status bind_ffn(const TensorBinder& b, const ModelConfig& c, int32_t l, FfnWeights& f) {
  const int64_t d = c.n_embd;
  if (c.ffn_kind(l) == FfnKind::kDense) {
    MOELAB_ASSIGN_OR_RETURN(f.gate, b.require(layer_tensor(l, "ffn_gate.weight"), {d, c.n_ff}));
    MOELAB_ASSIGN_OR_RETURN(f.up, b.require(layer_tensor(l, "ffn_up.weight"), {d, c.n_ff}));
    MOELAB_ASSIGN_OR_RETURN(f.down, b.require(layer_tensor(l, "ffn_down.weight"), {c.n_ff, d}));
    return Status::ok();
  }
  const MoeConfig& m = c.moe;
  const int64_t e = m.n_expert, ff = m.n_ff_exp;
  MOELAB_ASSIGN_OR_RETURN(f.router, b.require(layer_tensor(l, "ffn_gate_inp.weight"), {d, e}));
  MOELAB_ASSIGN_OR_RETURN(f.gate_exps, b.require(layer_tensor(l, "ffn_gate_exps.weight"), {d, ff, e}));
  MOELAB_ASSIGN_OR_RETURN(f.up_exps, b.require(layer_tensor(l, "ffn_up_exps.weight"), {d, ff, e}));
  MOELAB_ASSIGN_OR_RETURN(f.down_exps, b.require(layer_tensor(l, "ffn_down_exps.weight"), {ff, d, e}));
  if (m.has_selection_bias) {
    MOELAB_ASSIGN_OR_RETURN(f.selection_bias, b.require_f32(layer_tensor(l, "exp_probs_b.bias"), e));
  }
  if (m.n_ff_shexp > 0) {
    const int64_t sf = m.n_ff_shexp;
    MOELAB_ASSIGN_OR_RETURN(f.gate_shexp, b.require(layer_tensor(l, "ffn_gate_shexp.weight"), {d, sf}));
    MOELAB_ASSIGN_OR_RETURN(f.up_shexp, b.require(layer_tensor(l, "ffn_up_shexp.weight"), {d, sf}));
    MOELAB_ASSIGN_OR_RETURN(f.down_shexp, b.require(layer_tensor(l, "ffn_down_shexp.weight"), {sf, d}));
    if (m.shared_gate) {
      MOELAB_ASSIGN_OR_RETURN(f.shexp_gate, b.require(layer_tensor(l, "ffn_gate_inp_shexp.weight"), {d}));
      f.shexp_gate = b.to_f32(f.shexp_gate);
    }
  }
  return Status::ok();
}

}  // namespace moelab

namespace moelab {

Status bind_gqa(const TensorBinder& b, const ModelConfig& c, int32_t l, bool biases, bool qk_norm,
                AttentionWeights& a) {
  const int64_t d = c.n_embd;
  const int64_t nq = int64_t{c.n_head} * c.head_dim_k;
  const int64_t nk = int64_t{c.n_head_kv} * c.head_dim_k;
  const int64_t nv = int64_t{c.n_head_kv} * c.head_dim_v;
  MOELAB_ASSIGN_OR_RETURN(a.q, b.require(layer_tensor(l, "attn_q.weight"), {d, nq}));
  MOELAB_ASSIGN_OR_RETURN(a.k, b.require(layer_tensor(l, "attn_k.weight"), {d, nk}));
  MOELAB_ASSIGN_OR_RETURN(a.v, b.require(layer_tensor(l, "attn_v.weight"), {d, nv}));
  MOELAB_ASSIGN_OR_RETURN(a.output, b.require(layer_tensor(l, "attn_output.weight"),
                                              {int64_t{c.n_head} * c.head_dim_v, d}));
  if (biases) {
    MOELAB_ASSIGN_OR_RETURN(a.q_bias, b.require_f32(layer_tensor(l, "attn_q.bias"), nq));
    MOELAB_ASSIGN_OR_RETURN(a.k_bias, b.require_f32(layer_tensor(l, "attn_k.bias"), nk));
    MOELAB_ASSIGN_OR_RETURN(a.v_bias, b.require_f32(layer_tensor(l, "attn_v.bias"), nv));
  } else {  // llama allows optional biases
    MOELAB_ASSIGN_OR_RETURN(a.q_bias, b.optional_f32(layer_tensor(l, "attn_q.bias"), nq));
    MOELAB_ASSIGN_OR_RETURN(a.k_bias, b.optional_f32(layer_tensor(l, "attn_k.bias"), nk));
    MOELAB_ASSIGN_OR_RETURN(a.v_bias, b.optional_f32(layer_tensor(l, "attn_v.bias"), nv));
  }
  if (qk_norm) {
    MOELAB_ASSIGN_OR_RETURN(a.q_norm, b.require_f32(layer_tensor(l, "attn_q_norm.weight"), c.head_dim_k));
    MOELAB_ASSIGN_OR_RETURN(a.k_norm, b.require_f32(layer_tensor(l, "attn_k_norm.weight"), c.head_dim_k));
  }
  return Status::ok();
}

}  // namespace moelab

namespace moelab {

Status bind_gqa_model(const GgufFile& file, const ModelConfig& c, ModelWeights& w, bool biases,
                      bool qk_norm) {
  TensorBinder b(file, w);
  MOELAB_TRY(bind_common(b, c, w, /*allow_tied=*/true));
  for (int32_t l = 0; l < c.n_layer; ++l) {
    LayerWeights& L = w.layers[static_cast<size_t>(l)];
    MOELAB_TRY(bind_gqa(b, c, l, biases, qk_norm, L.attn));
    MOELAB_TRY(bind_ffn(b, c, l, L.ffn));
  }
  return Status::ok();
}

}  // namespace moelab
