// Multi-head Latent Attention (DeepSeek-V2/V3/R1), MODEL_MATH.md section 2.
// The cache holds one latent row per token per layer: [c (kv_lora) | k_pe (rope)].
// Two equivalent ways to attend over it:
//   decompressed: k_nope = W_UK·c and v = W_UV·c for every cached position,
//                 then ordinary multi-head attention (cheap for long prefills
//                 over a short cache: the decompression is shared by all queries);
//   absorbed:     q_abs = W_UKᵀ·q_nope, scores against c directly, the
//                 attention-weighted latent u then mapped by W_UV (cheap for
//                 decode: nothing per cached position but two dot products).
// kAuto picks, per sequence, the form with fewer multiply-adds.
#include <algorithm>
#include <cmath>
#include <span>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/workspace.h"

namespace moelab {
namespace {

// Rows [first, first + count) of a 2-D weight, as a weight of its own.
TensorView row_range(const TensorView& m, int64_t first, int64_t count) {
  TensorView v = m;
  v.n_dims = 2;
  v.ne = {m.ne[0], count, 1, 1};
  v.data = m.data + first * m.row_bytes();
  return v;
}

}  // namespace

void Model::attention_mla(int32_t layer, const Batch& batch, KvCache& cache, ThreadPool& pool,
                          MlaMode mode) {
  const ModelConfig& c = config_;
  const MlaConfig& m = c.mla;
  const AttentionWeights& a = weights_.layers[layer].attn;
  Workspace& w = *ws_;
  const int32_t n = batch.size();
  const int32_t nh = c.n_head, nope = m.qk_nope_head_dim, rope = m.qk_rope_head_dim,
                vd = m.v_head_dim, r = m.kv_lora_rank;
  const int32_t qk = nope + rope;
  const int32_t lat_w = r + rope;  // latent row width in the cache

  // q: [n, n_head·(nope+rope)], each head [nope | rope]
  float* q = grow(w.q, int64_t{n} * nh * qk);
  if (m.q_lora_rank > 0) {
    float* cq = grow(w.cq, int64_t{n} * m.q_lora_rank);
    matmul(a.q_a, w.h.data(), n, cq, pool, act_);
    const float* norm = reinterpret_cast<const float*>(a.q_a_norm.data);
    for (int32_t t = 0; t < n; ++t) rms_norm(cq + int64_t{t} * m.q_lora_rank, norm, cq + int64_t{t} * m.q_lora_rank, m.q_lora_rank, c.rms_eps);
    matmul(a.q_b, cq, n, q, pool, act_);
  } else {
    matmul(a.q, w.h.data(), n, q, pool, act_);
  }
  // kv_a: [n, kv_lora + rope] → normalised c, roped k_pe (k_pe is not normalised).
  float* kv_a = grow(w.kv_a, int64_t{n} * lat_w);
  matmul(a.kv_a_mqa, w.h.data(), n, kv_a, pool, act_);
  const float* kv_norm = reinterpret_cast<const float*>(a.kv_a_norm.data);
  for (int32_t t = 0; t < n; ++t) {
    float* row = kv_a + int64_t{t} * lat_w;
    rms_norm(row, kv_norm, row, r, c.rms_eps);
    w.rope.apply(row + r, 1, rope, batch.positions[t]);
    w.rope.apply(q + int64_t{t} * nh * qk + nope, nh, qk, batch.positions[t]);
    std::copy(row, row + lat_w, cache.k(layer, w.slot[t]));
  }

  // Plan each sequence.
  // Plans and token lists live in the workspace: no allocation per layer.
  if (w.mla_plans.size() < batch.sequences.size()) w.mla_plans.resize(batch.sequences.size());
  const std::span<MlaSeqPlan> plans(w.mla_plans.data(), batch.sequences.size());
  for (MlaSeqPlan& p : plans) {
    p.tokens.clear();
    p.n_ctx = 0;
  }
  for (int32_t t = 0; t < n; ++t) {
    MlaSeqPlan& p = plans[batch.seq[t]];
    p.tokens.push_back(t);
    p.n_ctx = std::max(p.n_ctx, batch.positions[t] + 1);
  }
  for (MlaSeqPlan& p : plans) {
    if (p.tokens.empty()) continue;
    const double nq = static_cast<double>(p.tokens.size()), ctx = p.n_ctx;
    const double decompressed = ctx * nh * r * (nope + vd) + nq * ctx * nh * (qk + vd);
    const double absorbed = nq * nh * r * (nope + vd) + nq * ctx * nh * (2.0 * r + rope);
    p.absorbed = mode == MlaMode::kAbsorbed || (mode == MlaMode::kAuto && absorbed <= decompressed);
  }

  float* out = grow(w.attn, int64_t{n} * nh * vd);  // [n, n_head·v]
  if (w.scores.size() < static_cast<size_t>(pool.size())) w.scores.resize(pool.size());
  const int32_t bs = cache.block_size();
  auto slot_of = [&](const BatchSequence& seq, int32_t p) {
    return int64_t{seq.block_table[p / bs]} * bs + p % bs;
  };

  // ---- absorbed form, for all tokens of absorbed sequences at once ----
  std::vector<int32_t>& abs_tokens = w.mla_absorbed_tokens;
  abs_tokens.clear();
  for (const MlaSeqPlan& p : plans)
    if (p.absorbed) abs_tokens.insert(abs_tokens.end(), p.tokens.begin(), p.tokens.end());
  const int32_t na = static_cast<int32_t>(abs_tokens.size());
  if (na > 0) {
    float* q_abs = grow(w.q_abs, int64_t{na} * nh * r);  // [na, n_head, kv_lora]
    float* u = grow(w.u, int64_t{na} * nh * r);          // [na, n_head, kv_lora]
    float* head_in = grow(w.head_in, int64_t{na} * std::max(nope, r));
    float* head_out = grow(w.head_out, int64_t{na} * std::max(r, vd));
    for (int32_t hh = 0; hh < nh; ++hh) {
      for (int32_t i = 0; i < na; ++i) {
        const float* src = q + (int64_t{abs_tokens[i]} * nh + hh) * qk;
        std::copy(src, src + nope, head_in + int64_t{i} * nope);
      }
      matmul(a.k_b.matrix(hh), head_in, na, head_out, pool, act_);  // [na, kv_lora]
      for (int32_t i = 0; i < na; ++i)
        std::copy(head_out + int64_t{i} * r, head_out + int64_t{i + 1} * r, q_abs + (int64_t{i} * nh + hh) * r);
    }
    // One task per (token, group of heads): each cached latent row is read
    // once per group and used by all its heads while it sits in L1, instead
    // of once per head. Groups only split heads when there are fewer tokens
    // than threads (decode). Each head's arithmetic is unchanged.
    const int32_t groups = na >= pool.size() ? 1 : std::min(nh, pool.size());
    const int32_t per_group = (nh + groups - 1) / groups;
    pool.parallel_for(int64_t{na} * groups, [&](int64_t begin, int64_t end, int thread) {
      for (int64_t task = begin; task < end; ++task) {
        const int32_t i = static_cast<int32_t>(task / groups), g = static_cast<int32_t>(task % groups);
        const int32_t h0 = g * per_group, h1 = std::min(nh, h0 + per_group);
        if (h0 >= h1) continue;
        const int32_t t = abs_tokens[i];
        const BatchSequence& seq = batch.sequences[batch.seq[t]];
        const int32_t n_ctx = batch.positions[t] + 1;
        float* scores = grow(w.scores[thread], int64_t{h1 - h0} * n_ctx);  // [heads, n_ctx]
        for (int32_t p = 0; p < n_ctx; ++p) {
          const float* lat = cache.k(layer, slot_of(seq, p));
          for (int32_t hh = h0; hh < h1; ++hh) {
            const float* qa = q_abs + (int64_t{i} * nh + hh) * r;
            const float* qpe = q + (int64_t{t} * nh + hh) * qk + nope;
            scores[int64_t{hh - h0} * n_ctx + p] =
                (dot_f32(qa, lat, r) + dot_f32(qpe, lat + r, rope)) * c.attn_scale;
          }
        }
        for (int32_t hh = h0; hh < h1; ++hh) {
          softmax_inplace(scores + int64_t{hh - h0} * n_ctx, n_ctx);
          float* ui = u + (int64_t{i} * nh + hh) * r;
          std::fill(ui, ui + r, 0.0f);
        }
        for (int32_t p = 0; p < n_ctx; ++p) {
          const float* lat = cache.k(layer, slot_of(seq, p));
          for (int32_t hh = h0; hh < h1; ++hh)
            axpy(scores[int64_t{hh - h0} * n_ctx + p], lat, u + (int64_t{i} * nh + hh) * r, r);
        }
      }
    });
    for (int32_t hh = 0; hh < nh; ++hh) {
      for (int32_t i = 0; i < na; ++i) {
        const float* src = u + (int64_t{i} * nh + hh) * r;
        std::copy(src, src + r, head_in + int64_t{i} * r);
      }
      matmul(row_range(a.v_b, int64_t{hh} * vd, vd), head_in, na, head_out, pool, act_);  // [na, v]
      for (int32_t i = 0; i < na; ++i)
        std::copy(head_out + int64_t{i} * vd, head_out + int64_t{i + 1} * vd,
                  out + (int64_t{abs_tokens[i]} * nh + hh) * vd);
    }
  }

  // ---- decompressed form, one sequence at a time ----
  for (const MlaSeqPlan& p : plans) {
    if (p.tokens.empty() || p.absorbed) continue;
    const BatchSequence& seq = batch.sequences[batch.seq[p.tokens[0]]];
    const int32_t ctx = p.n_ctx;
    float* latent = grow(w.latent, int64_t{ctx} * r);  // [ctx, kv_lora]
    for (int32_t pos = 0; pos < ctx; ++pos) {
      const float* lat = cache.k(layer, slot_of(seq, pos));
      std::copy(lat, lat + r, latent + int64_t{pos} * r);
    }
    float* k_nope = grow(w.k_nope, int64_t{ctx} * nh * nope);  // [ctx, n_head·nope]
    float* v_dec = grow(w.v_dec, int64_t{ctx} * nh * vd);      // [ctx, n_head·v]
    matmul(a.k_dec, latent, ctx, k_nope, pool, act_);
    matmul(a.v_b, latent, ctx, v_dec, pool, act_);
    const int32_t nt = static_cast<int32_t>(p.tokens.size());
    pool.parallel_for(int64_t{nt} * nh, [&](int64_t begin, int64_t end, int thread) {
      for (int64_t task = begin; task < end; ++task) {
        const int32_t t = p.tokens[task / nh], hh = static_cast<int32_t>(task % nh);
        const int32_t n_ctx = batch.positions[t] + 1;
        float* scores = grow(w.scores[thread], n_ctx);
        const float* qh = q + (int64_t{t} * nh + hh) * qk;
        for (int32_t pos = 0; pos < n_ctx; ++pos) {
          const float* kpe = cache.k(layer, slot_of(seq, pos)) + r;
          scores[pos] = (dot_f32(qh, k_nope + (int64_t{pos} * nh + hh) * nope, nope) +
                         dot_f32(qh + nope, kpe, rope)) * c.attn_scale;
        }
        softmax_inplace(scores, n_ctx);
        float* o = out + (int64_t{t} * nh + hh) * vd;
        std::fill(o, o + vd, 0.0f);
        for (int32_t pos = 0; pos < n_ctx; ++pos) axpy(scores[pos], v_dec + (int64_t{pos} * nh + hh) * vd, o, vd);
      }
    });
  }

  float* proj = grow(w.proj, int64_t{n} * c.n_embd);
  matmul(a.output, out, n, proj, pool, act_);
}

}  // namespace moelab
