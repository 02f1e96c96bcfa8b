// Feed-forward blocks: the dense SwiGLU FFN, and the MoE FFN (router, routed
// experts run grouped, shared experts). E(x) = W_down·(silu(W_gate·x) ⊙ W_up·x).
#include <algorithm>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/workspace.h"

namespace moelab {
namespace {

// out[n, n_embd] = down(silu(gate·x) ⊙ up·x) for the n rows of x.
void swiglu(const TensorView& gate, const TensorView& up, const TensorView& down, const float* x,
            int32_t n, float* out, Model::Workspace& w, ThreadPool& pool) {
  const int64_t ff = gate.ne[1];
  float* g = grow(w.gate, n * ff);
  float* u = grow(w.up, n * ff);
  matmul(gate, x, n, g, pool);
  matmul(up, x, n, u, pool);
  silu_mul(g, u, g, n * ff);
  matmul(down, g, n, out, pool);
}

}  // namespace

void Model::ffn_dense(const FfnWeights& f, int32_t n, ThreadPool& pool) {
  Workspace& w = *ws_;
  float* proj = grow(w.proj, int64_t{n} * config_.n_embd);
  swiglu(f.gate, f.up, f.down, w.h.data(), n, proj, w, pool);
}

void Model::ffn_moe(int32_t layer, const Batch& batch, ThreadPool& pool, ExpertStats* stats) {
  const ModelConfig& c = config_;
  const MoeConfig& moe = c.moe;
  const FfnWeights& f = weights_.layers[layer].ffn;
  Workspace& w = *ws_;
  const int32_t n = batch.size();
  const int64_t d = c.n_embd;
  const int32_t max_k = max_selectable_experts(moe);

  // Route every token (cheap, serial: keeps the choice independent of threads).
  float* logits = grow(w.router_logits, int64_t{n} * moe.n_expert);  // [n, n_expert]
  matmul(f.router, w.h.data(), n, logits, pool);
  const float* bias = present(f.selection_bias) ? reinterpret_cast<const float*>(f.selection_bias.data) : nullptr;
  int32_t* ids = grow(w.chosen_ids, int64_t{n} * max_k);
  float* weights = grow(w.chosen_weights, int64_t{n} * max_k);
  int32_t* n_chosen = grow(w.n_chosen, n);
  if (w.expert_rows.size() < static_cast<size_t>(moe.n_expert)) {
    w.expert_rows.resize(moe.n_expert);
    w.expert_weights.resize(moe.n_expert);
  }
  for (int32_t e = 0; e < moe.n_expert; ++e) {
    w.expert_rows[e].clear();
    w.expert_weights[e].clear();
  }
  for (int32_t t = 0; t < n; ++t) {
    const RouterKnobs& knobs = batch.sequences[batch.seq[t]].knobs;
    n_chosen[t] = w.router->route(logits + int64_t{t} * moe.n_expert, bias, knobs,
                                  ids + int64_t{t} * max_k, weights + int64_t{t} * max_k);
    for (int32_t i = 0; i < n_chosen[t]; ++i) {
      const int32_t e = ids[int64_t{t} * max_k + i];
      w.expert_rows[e].push_back(t);
      w.expert_weights[e].push_back(weights[int64_t{t} * max_k + i]);
    }
    if (stats != nullptr) stats->record(layer, ids + int64_t{t} * max_k, n_chosen[t]);
  }

  float* proj = grow(w.proj, int64_t{n} * d);
  std::fill(proj, proj + int64_t{n} * d, 0.0f);

  // Routed experts, grouped: each expert's weights are read once per step
  // however many tokens chose it. Accumulation is in expert order for every
  // token, so a token's sum does not depend on its batch-mates.
  for (int32_t e = 0; e < moe.n_expert; ++e) {
    const std::vector<int32_t>& rows = w.expert_rows[e];
    if (rows.empty()) continue;
    const int32_t m = static_cast<int32_t>(rows.size());
    const int64_t ff = moe.n_ff_exp;
    float* g = grow(w.gate, int64_t{m} * ff);
    float* u = grow(w.up, int64_t{m} * ff);
    float* eo = grow(w.expert_out, int64_t{m} * d);
    matmul_gather(f.gate_exps.matrix(e), w.h.data(), rows.data(), m, g, pool);
    matmul_gather(f.up_exps.matrix(e), w.h.data(), rows.data(), m, u, pool);
    silu_mul(g, u, g, int64_t{m} * ff);
    matmul(f.down_exps.matrix(e), g, m, eo, pool);
    for (int32_t i = 0; i < m; ++i) axpy(w.expert_weights[e][i], eo + int64_t{i} * d, proj + int64_t{rows[i]} * d, d);
  }

  // Shared experts always run, for every token.
  if (present(f.gate_shexp)) {
    float* so = grow(w.expert_out, int64_t{n} * d);
    swiglu(f.gate_shexp, f.up_shexp, f.down_shexp, w.h.data(), n, so, w, pool);
    const float* sg = present(f.shexp_gate) ? reinterpret_cast<const float*>(f.shexp_gate.data) : nullptr;
    for (int32_t t = 0; t < n; ++t) {
      const float scale = sg != nullptr ? sigmoid(dot_f32(sg, w.h.data() + int64_t{t} * d, d)) : 1.0f;
      axpy(scale, so + int64_t{t} * d, proj + int64_t{t} * d, d);
    }
  }
}

}  // namespace moelab
