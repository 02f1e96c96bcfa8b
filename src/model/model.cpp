#include "model/model.h"

#include <algorithm>
#include <cstring>

#include "base/log.h"
#include "base/timer.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/quant.h"
#include "model/arch/arch.h"
#include "model/workspace.h"

namespace moelab {

Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::load(const std::string& path, const ModelOverrides& overrides) {
  MOELAB_ASSIGN_OR_RETURN(GgufFile file, GgufFile::open(path));
  MOELAB_ASSIGN_OR_RETURN(std::string arch_name, file.get_string("general.architecture"));
  const Architecture* arch = find_architecture(arch_name);
  if (arch == nullptr) {
    std::string known;
    for (const Architecture* a : all_architectures()) known += (known.empty() ? "" : ", ") + std::string(a->name);
    return Status::error(path + ": unsupported architecture '" + arch_name + "' (moelab runs: " + known + ")");
  }
  std::unique_ptr<Model> model(new Model());
  model->file_ = std::move(file);
  model->config_.arch = arch_name;
  MOELAB_TRY(arch->read_config(model->file_, model->config_));
  if (overrides.expert_used_count > 0) {
    if (!model->config_.is_moe()) return Status::error(path + ": expert_used_count given for a dense model");
    RouterKnobs k;
    k.max_active_experts = overrides.expert_used_count;
    MOELAB_TRY(validate_router_knobs(model->config_.moe, k).with_context(path));
    model->config_.moe.n_expert_used = overrides.expert_used_count;
  }
  MOELAB_TRY(arch->bind_weights(model->file_, model->config_, model->weights_));
  const MappedFile& mapping = model->file_.mapping();
  const int64_t ram = physical_memory_bytes();
  if (overrides.prefault && (ram == 0 || static_cast<int64_t>(mapping.size()) <= ram / 4 * 3)) {
    mapping.prefault(overrides.load_progress);
  }
  model->ws_ = std::make_unique<Workspace>(model->config_);
  model->act_ = overrides.activations;
  return model;
}

KvLayout Model::kv_layout(DType type) const {
  KvLayout l;
  l.type = type;
  l.n_layer = config_.n_layer_run();
  if (config_.attention == AttentionKind::kMla) {
    l.k_width = config_.mla.kv_lora_rank + config_.mla.qk_rope_head_dim;
    l.v_width = 0;
  } else {
    l.k_width = config_.n_head_kv * config_.head_dim_k;
    l.v_width = config_.n_head_kv * config_.head_dim_v;
    l.n_heads = config_.n_head_kv;
  }
  return l;
}

int64_t Model::weight_bytes() const { return static_cast<int64_t>(file_.data_bytes()); }

namespace {

int64_t view_bytes(const TensorView& t) { return present(t) ? t.n_bytes() : 0; }
int64_t view_params(const TensorView& t) { return present(t) ? t.n_elements() : 0; }

// Bytes (or parameters) of one layer's tensors, with the routed experts
// counted as `expert_share` of their total (n_active / n_expert).
template <typename Measure>
double layer_total(const LayerWeights& L, double expert_share, Measure m) {
  const AttentionWeights& a = L.attn;
  const FfnWeights& f = L.ffn;
  double sum = 0;
  for (const TensorView* t : {&L.attn_norm, &L.ffn_norm, &a.q, &a.k, &a.v, &a.q_bias, &a.k_bias,
                              &a.v_bias, &a.q_norm, &a.k_norm, &a.output, &a.q_a, &a.q_a_norm,
                              &a.q_b, &a.kv_a_mqa, &a.kv_a_norm, &f.gate, &f.up, &f.down, &f.router,
                              &f.selection_bias, &f.gate_shexp, &f.up_shexp, &f.down_shexp,
                              &f.shexp_gate}) {
    sum += static_cast<double>(m(*t));
  }
  // MLA's k_b/v_b: count the file's tensors, not derived copies.
  if (present(a.k_b) && a.k_b.type != DType::kF32) sum += m(a.k_b);
  if (present(a.v_b)) sum += m(a.v_b);
  for (const TensorView* t : {&f.gate_exps, &f.up_exps, &f.down_exps}) {
    sum += expert_share * static_cast<double>(m(*t));
  }
  return sum;
}

}  // namespace

int64_t Model::n_params_total() const {
  int64_t n = 0;
  for (const GgufTensorInfo& t : file_.tensors()) n += t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3];
  return n;
}

int64_t Model::n_params_active() const {
  const double share = config_.is_moe() ? static_cast<double>(config_.moe.n_expert_used) / config_.moe.n_expert : 1.0;
  double n = view_params(weights_.token_embd) / static_cast<double>(config_.n_vocab);  // one row
  n += view_params(weights_.output_norm);
  n += view_params(weights_.output);
  for (int32_t l = 0; l < config_.n_layer_run(); ++l) n += layer_total(weights_.layers[l], share, view_params);
  return static_cast<int64_t>(n);
}

int64_t Model::bytes_per_token(double n_active) const {
  const double k = n_active > 0 ? n_active : config_.moe.n_expert_used;
  const double share = config_.is_moe() ? k / config_.moe.n_expert : 1.0;
  double n = view_bytes(weights_.token_embd) / static_cast<double>(config_.n_vocab);
  n += view_bytes(weights_.output_norm);
  n += view_bytes(weights_.output);
  for (int32_t l = 0; l < config_.n_layer_run(); ++l) n += layer_total(weights_.layers[l], share, view_bytes);
  return static_cast<int64_t>(n);
}

Status Model::forward(const Batch& batch, KvCache& cache, ForwardOutput& out, ThreadPool& pool,
                      const ForwardOptions& options) {
  const ModelConfig& c = config_;
  const int32_t n = batch.size();
  const int64_t d = c.n_embd;
  Workspace& w = *ws_;
  out.logits.clear();
  out.rows.clear();
  out.n_vocab = c.n_vocab;
  if (n == 0) return Status::ok();

  // Validate everything before touching the cache.
  const int32_t bs = cache.block_size();
  int64_t* slot = grow(w.slot, n);
  for (int32_t t = 0; t < n; ++t) {
    if (batch.tokens[t] < 0 || batch.tokens[t] >= c.n_vocab) {
      return Status::error("token id " + std::to_string(batch.tokens[t]) + " at batch index " +
                           std::to_string(t) + " is out of range [0, " + std::to_string(c.n_vocab) + ")");
    }
    const int32_t s = batch.seq[t];
    if (s < 0 || s >= static_cast<int32_t>(batch.sequences.size())) return Status::error("batch: bad sequence index");
    const BatchSequence& seq = batch.sequences[s];
    const int32_t p = batch.positions[t];
    if (p < 0 || p / bs >= seq.n_blocks) {
      return Status::error("batch: position " + std::to_string(p) + " is not covered by its block table");
    }
    slot[t] = int64_t{seq.block_table[p / bs]} * bs + p % bs;
    if (c.is_moe()) MOELAB_TRY(validate_router_knobs(c.moe, seq.knobs));
  }

  // Embeddings: one row of token_embd per token, dequantised.
  float* x = grow(w.x, n * d);
  const TensorView& embd = weights_.token_embd;
  for (int32_t t = 0; t < n; ++t) dequantize_row(embd.type, embd.row(batch.tokens[t]), x + t * d, d);

  float* h = grow(w.h, n * d);
  for (int32_t l = 0; l < c.n_layer_run(); ++l) {
    const LayerWeights& L = weights_.layers[l];
    const float* attn_norm = reinterpret_cast<const float*>(L.attn_norm.data);
    for (int32_t t = 0; t < n; ++t) rms_norm(x + t * d, attn_norm, h + t * d, d, c.rms_eps);
    if (c.attention == AttentionKind::kMla) {
      attention_mla(l, batch, cache, pool, options.mla_mode);
    } else {
      attention_gqa(l, batch, cache, pool);
    }
    const float* proj = w.proj.data();
    for (int64_t i = 0; i < n * d; ++i) x[i] += proj[i];

    const float* ffn_norm = reinterpret_cast<const float*>(L.ffn_norm.data);
    for (int32_t t = 0; t < n; ++t) rms_norm(x + t * d, ffn_norm, h + t * d, d, c.rms_eps);
    if (c.ffn_kind(l) == FfnKind::kMoe) {
      ffn_moe(l, batch, pool, options.expert_stats);
    } else {
      ffn_dense(L.ffn, n, pool);
    }
    proj = w.proj.data();
    for (int64_t i = 0; i < n * d; ++i) x[i] += proj[i];
  }

  // Final norm and the output head, only for the rows whose logits are wanted.
  for (int32_t t = 0; t < n; ++t) {
    if (batch.want_logits[t]) out.rows.push_back(t);
  }
  const int32_t rows = static_cast<int32_t>(out.rows.size());
  float* in = grow(w.logits_in, static_cast<size_t>(rows) * d);
  const float* out_norm = reinterpret_cast<const float*>(weights_.output_norm.data);
  for (int32_t r = 0; r < rows; ++r) rms_norm(x + out.rows[r] * d, out_norm, in + r * d, d, c.rms_eps);
  out.logits.resize(static_cast<size_t>(rows) * c.n_vocab);
  matmul(weights_.output, in, rows, out.logits.data(), pool, act_);
  return Status::ok();
}

}  // namespace moelab
