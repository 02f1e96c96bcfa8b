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
            int32_t n, float* out, Model::Workspace& w, ThreadPool& pool, Activations act) {
  const int64_t ff = gate.ne[1];
  float* g = grow(w.gate, n * ff);
  float* u = grow(w.up, n * ff);
  matmul(gate, x, n, g, pool, act);
  matmul(up, x, n, u, pool, act);
  silu_mul(g, u, g, n * ff);
  matmul(down, g, n, out, pool, act);
}

// Quantizes the n_rows rows of x (n_in wide, row stride n_in) once for the
// integer kernels of `weight_type` into buf, in parallel. Returns the
// activation type, or kF32 (nothing written) where the float path runs.
DType quantize_rows(DType weight_type, Activations act, const float* x, int64_t n_rows,
                    int64_t n_in, std::vector<uint8_t>& buf, int64_t* row_bytes, ThreadPool& pool) {
  if (act != Activations::kQuantized) return DType::kF32;
  const DType qt = quantized_activation_type(weight_type);
  if (qt == DType::kF32) return qt;
  *row_bytes = quantized_activation_bytes(qt, n_in);
  uint8_t* dst = grow(buf, static_cast<size_t>(n_rows * *row_bytes));
  const int64_t rb = *row_bytes;
  pool.parallel_for(n_rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) quantize_activation(qt, x + r * n_in, n_in, dst + r * rb);
  });
  return qt;
}

}  // namespace

void Model::ffn_dense(const FfnWeights& f, int32_t n, ThreadPool& pool) {
  Workspace& w = *ws_;
  float* proj = grow(w.proj, int64_t{n} * config_.n_embd);
  swiglu(f.gate, f.up, f.down, w.h.data(), n, proj, w, pool, act_);
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
  matmul(f.router, w.h.data(), n, logits, pool, act_);
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
  // however many tokens chose it. All active experts run in one parallel
  // region per phase (gate+up+SiLU, then down), each thread taking a
  // contiguous run of 16-row chunks across the experts' matrices, instead of
  // splitting every small matrix over the threads with a barrier each.
  // Every output row is a dot of one weight row with one token (matmul_rows
  // gives the same bits however the rows are split), and the scatter-add
  // runs in expert order for every token, so a token's sum does not depend
  // on its batch-mates.
  const int64_t ff = moe.n_ff_exp;
  std::vector<int32_t>& act = w.active_experts;
  std::vector<int64_t>& off = w.expert_offset;
  act.clear();
  off.clear();
  int64_t total = 0;
  for (int32_t e = 0; e < moe.n_expert; ++e) {
    if (w.expert_rows[e].empty()) continue;
    act.push_back(e);
    off.push_back(total);
    total += static_cast<int64_t>(w.expert_rows[e].size());
  }
  off.push_back(total);
  const int64_t n_act = static_cast<int64_t>(act.size());
  if (n_act > 0) {
    float* g = grow(w.gate, total * ff);         // [total, ff]
    float* u = grow(w.up, total * ff);           // [total, ff]
    float* eo = grow(w.expert_out, total * d);   // [total, n_embd]
    const float** xs = grow(w.expert_in, total);
    const float** gs = grow(w.expert_act, total);
    for (int64_t a = 0; a < n_act; ++a) {
      const std::vector<int32_t>& rows = w.expert_rows[act[a]];
      for (size_t i = 0; i < rows.size(); ++i) xs[off[a] + i] = w.h.data() + int64_t{rows[i]} * d;
    }
    for (int64_t i = 0; i < total; ++i) gs[i] = g + i * ff;
    // Integer kernels: each token row of h is quantized once for the gate
    // (and once more for up only if its weights pair with another format),
    // then every routed copy points at it.
    const TensorView gate0 = f.gate_exps.matrix(act[0]), up0 = f.up_exps.matrix(act[0]);
    int64_t rb[3] = {0, 0, 0};
    const DType qg = quantize_rows(gate0.type, act_, w.h.data(), n, d, w.act_q[0], &rb[0], pool);
    DType qu = qg;
    const uint8_t* up_base = w.act_q[0].data();
    int64_t up_rb = rb[0];
    if (qg == DType::kF32 || quantized_activation_type(up0.type) != qg) {
      qu = quantize_rows(up0.type, act_, w.h.data(), n, d, w.act_q[1], &rb[1], pool);
      up_base = w.act_q[1].data();
      up_rb = rb[1];
    }
    const uint8_t** xqg = grow(w.act_q_rows[0], total);
    const uint8_t** xqu = grow(w.act_q_rows[1], total);
    for (int64_t a = 0; a < n_act; ++a) {
      const std::vector<int32_t>& rows = w.expert_rows[act[a]];
      for (size_t i = 0; i < rows.size(); ++i) {
        if (qg != DType::kF32) xqg[off[a] + i] = w.act_q[0].data() + int64_t{rows[i]} * rb[0];
        if (qu != DType::kF32) xqu[off[a] + i] = up_base + int64_t{rows[i]} * up_rb;
      }
    }

    constexpr int64_t kChunk = 16;
    // Phase 1: chunk c of expert a computes gate and up rows [16c, 16c + 16)
    // for the expert's tokens, then SiLU-gates those columns.
    const int64_t ff_chunks = (ff + kChunk - 1) / kChunk;
    pool.parallel_for(n_act * ff_chunks, [&](int64_t c0, int64_t c1, int) {
      for (int64_t c = c0; c < c1;) {
        const int64_t a = c / ff_chunks;
        const int64_t last = std::min(c1, (a + 1) * ff_chunks);  // this expert's chunks
        const int64_t r0 = (c - a * ff_chunks) * kChunk;
        const int64_t r1 = std::min(ff, (last - a * ff_chunks) * kChunk);
        const int64_t m = off[a + 1] - off[a];
        float* ga = g + off[a] * ff;
        float* ua = u + off[a] * ff;
        if (qg != DType::kF32) {
          matmul_rows_quantized(f.gate_exps.matrix(act[a]), xqg + off[a], m, ga, ff, r0, r1);
        } else {
          matmul_rows(f.gate_exps.matrix(act[a]), xs + off[a], m, ga, ff, r0, r1);
        }
        if (qu != DType::kF32) {
          matmul_rows_quantized(f.up_exps.matrix(act[a]), xqu + off[a], m, ua, ff, r0, r1);
        } else {
          matmul_rows(f.up_exps.matrix(act[a]), xs + off[a], m, ua, ff, r0, r1);
        }
        for (int64_t i = 0; i < m; ++i) {
          silu_mul(ga + i * ff + r0, ua + i * ff + r0, ga + i * ff + r0, r1 - r0);
        }
        c = last;
      }
    });
    // Phase 2: down rows [16c, 16c + 16) of expert a, on the gated rows
    // quantized once (they are complete only after phase 1).
    const DType qd = quantize_rows(f.down_exps.matrix(act[0]).type, act_, g, total, ff, w.act_q[2],
                                   &rb[2], pool);
    const uint8_t** gq = grow(w.act_q_rows[2], total);
    if (qd != DType::kF32) {
      for (int64_t i = 0; i < total; ++i) gq[i] = w.act_q[2].data() + i * rb[2];
    }
    const int64_t d_chunks = (d + kChunk - 1) / kChunk;
    pool.parallel_for(n_act * d_chunks, [&](int64_t c0, int64_t c1, int) {
      for (int64_t c = c0; c < c1;) {
        const int64_t a = c / d_chunks;
        const int64_t last = std::min(c1, (a + 1) * d_chunks);
        const int64_t r0 = (c - a * d_chunks) * kChunk;
        const int64_t r1 = std::min(d, (last - a * d_chunks) * kChunk);
        if (qd != DType::kF32) {
          matmul_rows_quantized(f.down_exps.matrix(act[a]), gq + off[a], off[a + 1] - off[a],
                                eo + off[a] * d, d, r0, r1);
        } else {
          matmul_rows(f.down_exps.matrix(act[a]), gs + off[a], off[a + 1] - off[a], eo + off[a] * d,
                      d, r0, r1);
        }
        c = last;
      }
    });
    // Phase 3: weighted scatter-add, split by columns, experts in order.
    const int64_t col_chunks = (d + 63) / 64;
    pool.parallel_for(col_chunks, [&](int64_t c0, int64_t c1, int) {
      const int64_t j0 = c0 * 64, j1 = std::min(d, c1 * 64);
      for (int64_t a = 0; a < n_act; ++a) {
        const std::vector<int32_t>& rows = w.expert_rows[act[a]];
        const std::vector<float>& wts = w.expert_weights[act[a]];
        for (size_t i = 0; i < rows.size(); ++i) {
          const float* src = eo + (off[a] + static_cast<int64_t>(i)) * d;
          axpy(wts[i], src + j0, proj + int64_t{rows[i]} * d + j0, j1 - j0);
        }
      }
    });
  }

  // Shared experts always run, for every token.
  if (present(f.gate_shexp)) {
    float* so = grow(w.expert_out, int64_t{n} * d);
    swiglu(f.gate_shexp, f.up_shexp, f.down_shexp, w.h.data(), n, so, w, pool, act_);
    const float* sg = present(f.shexp_gate) ? reinterpret_cast<const float*>(f.shexp_gate.data) : nullptr;
    for (int32_t t = 0; t < n; ++t) {
      const float scale = sg != nullptr ? sigmoid(dot_f32(sg, w.h.data() + int64_t{t} * d, d)) : 1.0f;
      axpy(scale, so + int64_t{t} * d, proj + int64_t{t} * d, d);
    }
  }
}

}  // namespace moelab
