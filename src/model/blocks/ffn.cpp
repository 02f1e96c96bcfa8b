// Feed-forward blocks: the dense SwiGLU FFN, and the MoE FFN (router, routed
// experts run grouped, shared experts). E(x) = W_down·(silu(W_gate·x) ⊙ W_up·x).
#include <algorithm>

#include "base/check.h"

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
  const MatmulPart gate_up[] = {{&gate, g}, {&up, u}};
  matmul_parts(gate_up, x, n, pool, act);
  silu_mul(g, u, g, n * ff);
  matmul(down, g, n, out, pool, act);
}

// The activation format the integer kernels of `w` need in this mode, or
// kF32 for the float path.
DType input_format(const TensorView& w, Activations act) {
  return act == Activations::kQuantized ? quantized_activation_type(w.type) : DType::kF32;
}

// Runs fn(r) for r < n_rows of `width` values each, in parallel only when
// that pays for waking the pool (see parallel_for_if_large).
template <typename Fn>
void for_rows(ThreadPool& pool, int64_t n_rows, int64_t width, const Fn& fn) {
  pool.parallel_for_if_large(n_rows, n_rows * width, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) fn(r);
  });
}

// y rows [r0, r1) of `w` for a job's rows: integer kernels on quantized
// inputs where `format` has them, else float.
void job_rows(const TensorView& w, DType format, const uint8_t* const* xq, const float* const* xs,
              int64_t m, float* y, int64_t ldy, int64_t r0, int64_t r1) {
  if (format != DType::kF32) {
    matmul_rows_quantized(w, xq, m, y, ldy, r0, r1);
  } else {
    matmul_rows(w, xs, m, y, ldy, r0, r1);
  }
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

  // The experts of this step as jobs: every routed expert some token chose
  // (each expert's weights are read once per step however many tokens chose
  // it), then the shared expert over every token. All jobs run in one
  // parallel region per phase (gate+up+SiLU, then down), threads claiming
  // runs of 16-row chunks across the jobs' matrices, instead of splitting
  // every small matrix over the threads with a barrier each.
  // Every output row is a dot of one weight row with one token (matmul_rows
  // gives the same bits however the rows are split), and the scatter-add
  // runs in job order for every token, so a token's sum does not depend on
  // its batch-mates.
  constexpr int64_t kChunk = 16;
  std::vector<MoeJob>& jobs = w.moe_jobs;
  jobs.clear();
  w.job_token.clear();
  w.job_weight.clear();
  auto add_job = [&](const TensorView& gate, const TensorView& up, const TensorView& down) {
    MoeJob j;
    j.gate = gate;
    j.up = up;
    j.down = down;
    j.ff = gate.ne[1];
    j.row0 = static_cast<int64_t>(w.job_token.size());
    j.in_format[0] = input_format(gate, act_);
    j.in_format[1] = input_format(up, act_);
    j.act_format = input_format(down, act_);
    jobs.push_back(j);
  };
  for (int32_t e = 0; e < moe.n_expert; ++e) {
    if (w.expert_rows[e].empty()) continue;
    add_job(f.gate_exps.matrix(e), f.up_exps.matrix(e), f.down_exps.matrix(e));
    w.job_token.insert(w.job_token.end(), w.expert_rows[e].begin(), w.expert_rows[e].end());
    w.job_weight.insert(w.job_weight.end(), w.expert_weights[e].begin(), w.expert_weights[e].end());
  }
  if (present(f.gate_shexp)) {
    add_job(f.gate_shexp, f.up_shexp, f.down_shexp);
    const float* sg = present(f.shexp_gate) ? reinterpret_cast<const float*>(f.shexp_gate.data) : nullptr;
    for (int32_t t = 0; t < n; ++t) {
      w.job_token.push_back(t);
      w.job_weight.push_back(sg != nullptr ? sigmoid(dot_f32(sg, w.h.data() + int64_t{t} * d, d)) : 1.0f);
    }
  }
  const int64_t total = static_cast<int64_t>(w.job_token.size());
  if (total == 0) return;

  // Lay the jobs out: rows, gate/up offsets, chunk ranges, quantized rows.
  int64_t act_floats = 0, ff_chunks = 0, act_q_bytes = 0;
  const int64_t d_chunks_per_job = (d + kChunk - 1) / kChunk;
  for (size_t k = 0; k < jobs.size(); ++k) {
    MoeJob& j = jobs[k];
    j.rows = (k + 1 < jobs.size() ? jobs[k + 1].row0 : total) - j.row0;
    j.act0 = act_floats;
    act_floats += j.rows * j.ff;
    j.ff_chunk0 = ff_chunks;
    ff_chunks += (j.ff + kChunk - 1) / kChunk;
    j.d_chunk0 = static_cast<int64_t>(k) * d_chunks_per_job;
    if (j.act_format != DType::kF32) {
      j.act_q0 = act_q_bytes;
      j.act_q_bytes = quantized_activation_bytes(j.act_format, j.ff);
      act_q_bytes += j.rows * j.act_q_bytes;
    }
  }
  const int64_t d_chunks = static_cast<int64_t>(jobs.size()) * d_chunks_per_job;

  float* g = grow(w.gate, act_floats);       // each job: [rows, ff]
  float* u = grow(w.up, act_floats);         // each job: [rows, ff]
  float* eo = grow(w.expert_out, total * d);  // [total, n_embd]
  const float** xs = grow(w.job_in, total);
  const float** gs = grow(w.job_act, total);
  for (const MoeJob& j : jobs) {
    for (int64_t r = j.row0; r < j.row0 + j.rows; ++r) {
      xs[r] = w.h.data() + int64_t{w.job_token[r]} * d;
      gs[r] = g + j.act0 + (r - j.row0) * j.ff;
    }
  }

  // Integer kernels: each token row of h is quantized once per format the
  // jobs need (at most Q8_0 and Q8_K), then every job row points at it.
  DType formats[2] = {DType::kF32, DType::kF32};
  int64_t format_bytes[2] = {0, 0};
  auto format_slot = [&](DType fmt) {
    for (int k = 0; k < 2; ++k) {
      if (formats[k] == fmt) return k;
      if (formats[k] == DType::kF32) {
        formats[k] = fmt;
        format_bytes[k] = quantized_activation_bytes(fmt, d);
        return k;
      }
    }
    MOELAB_CHECK_MSG(false, "MoE: more than two activation formats");
    return 0;
  };
  for (const MoeJob& j : jobs)
    for (DType fmt : j.in_format)
      if (fmt != DType::kF32) format_slot(fmt);
  for (int k = 0; k < 2 && formats[k] != DType::kF32; ++k) {
    uint8_t* buf = grow(w.h_q[k], static_cast<size_t>(n * format_bytes[k]));
    for_rows(pool, n, d, [&](int64_t t) {
      quantize_activation(formats[k], w.h.data() + t * d, d, buf + t * format_bytes[k]);
    });
  }
  const uint8_t** xq[2] = {grow(w.job_in_q[0], total), grow(w.job_in_q[1], total)};
  for (const MoeJob& j : jobs) {
    for (int side = 0; side < 2; ++side) {
      if (j.in_format[side] == DType::kF32) continue;
      const int k = format_slot(j.in_format[side]);
      for (int64_t r = j.row0; r < j.row0 + j.rows; ++r)
        xq[side][r] = w.h_q[k].data() + int64_t{w.job_token[r]} * format_bytes[k];
    }
  }

  // The job a chunk belongs to, given the first chunk of each job; threads
  // walk their contiguous chunk range forward from a binary search.
  auto job_of = [&](int64_t c, int64_t MoeJob::*first) {
    const auto it = std::upper_bound(jobs.begin(), jobs.end(), c,
                                     [&](int64_t v, const MoeJob& j) { return v < j.*first; });
    return static_cast<size_t>(it - jobs.begin()) - 1;
  };

  // Phase 1: chunk c of job k computes gate and up rows [16c, 16c + 16) for
  // the job's tokens, then SiLU-gates those columns. Each thread walks its
  // own run of chunks across the jobs, taking over part of another's when
  // it is done (one core of a shared machine is often slower).
  pool.parallel_for_stealing(ff_chunks, 1, [&](int64_t c0, int64_t c1, int) {
    for (size_t k = job_of(c0, &MoeJob::ff_chunk0); c0 < c1; ++k) {
      const MoeJob& j = jobs[k];
      const int64_t job_end = j.ff_chunk0 + (j.ff + kChunk - 1) / kChunk;
      const int64_t last = std::min(c1, job_end);
      const int64_t r0 = (c0 - j.ff_chunk0) * kChunk;
      const int64_t r1 = std::min(j.ff, (last - j.ff_chunk0) * kChunk);
      float* ga = g + j.act0;
      float* ua = u + j.act0;
      job_rows(j.gate, j.in_format[0], xq[0] + j.row0, xs + j.row0, j.rows, ga, j.ff, r0, r1);
      job_rows(j.up, j.in_format[1], xq[1] + j.row0, xs + j.row0, j.rows, ua, j.ff, r0, r1);
      for (int64_t i = 0; i < j.rows; ++i) {
        silu_mul(ga + i * j.ff + r0, ua + i * j.ff + r0, ga + i * j.ff + r0, r1 - r0);
      }
      c0 = last;
    }
  });

  // Phase 2: down rows [16c, 16c + 16) of job k, on the gated rows quantized
  // once (they are complete only after phase 1).
  const uint8_t** gq = grow(w.job_act_q, total);
  if (act_q_bytes > 0) {
    uint8_t* buf = grow(w.act_q, static_cast<size_t>(act_q_bytes));
    for (const MoeJob& j : jobs) {
      if (j.act_format == DType::kF32) continue;
      for (int64_t r = j.row0; r < j.row0 + j.rows; ++r)
        gq[r] = buf + j.act_q0 + (r - j.row0) * j.act_q_bytes;
    }
    for_rows(pool, total, jobs.front().ff, [&](int64_t r) {
      const size_t k = job_of(r, &MoeJob::row0);
      const MoeJob& j = jobs[k];
      if (j.act_format != DType::kF32)
        quantize_activation(j.act_format, gs[r], j.ff, const_cast<uint8_t*>(gq[r]));
    });
  }
  pool.parallel_for_stealing(d_chunks, 1, [&](int64_t c0, int64_t c1, int) {
    for (size_t k = job_of(c0, &MoeJob::d_chunk0); c0 < c1; ++k) {
      const MoeJob& j = jobs[k];
      const int64_t last = std::min(c1, j.d_chunk0 + d_chunks_per_job);
      const int64_t r0 = (c0 - j.d_chunk0) * kChunk;
      const int64_t r1 = std::min(d, (last - j.d_chunk0) * kChunk);
      job_rows(j.down, j.act_format, gq + j.row0, gs + j.row0, j.rows, eo + j.row0 * d, d, r0, r1);
      c0 = last;
    }
  });

  // Phase 3: weighted scatter-add, split by columns, jobs in order (routed
  // experts ascending, then the shared expert).
  const int64_t col_chunks = (d + 63) / 64;
  auto scatter = [&](int64_t c0, int64_t c1, int) {
    const int64_t j0 = c0 * 64, j1 = std::min(d, c1 * 64);
    for (int64_t r = 0; r < total; ++r) {
      axpy(w.job_weight[r], eo + r * d + j0, proj + int64_t{w.job_token[r]} * d + j0, j1 - j0);
    }
  };
  pool.parallel_for_if_large(col_chunks, total * d, scatter);
}

}  // namespace moelab
