// Grouped-query attention over the paged KV cache (llama, qwen2moe, qwen3moe).
// Query head j reads KV head j / (n_head / n_head_kv). Scores and softmax in
// float32; each (token, head) pair is independent, so a token's result never
// depends on what else is in the batch.
#include <cmath>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/workspace.h"

namespace moelab {
namespace {

void add_bias(float* y, const TensorView& bias, int32_t n_tokens, int64_t width) {
  if (!present(bias)) return;
  const float* b = reinterpret_cast<const float*>(bias.data);
  for (int32_t t = 0; t < n_tokens; ++t) {
    for (int64_t i = 0; i < width; ++i) y[t * width + i] += b[i];
  }
}

}  // namespace

void Model::attention_gqa(int32_t layer, const Batch& batch, KvCache& cache, ThreadPool& pool) {
  const ModelConfig& c = config_;
  const AttentionWeights& a = weights_.layers[layer].attn;
  Workspace& w = *ws_;
  const int32_t n = batch.size();
  const int32_t hd = c.head_dim_k, hdv = c.head_dim_v;
  const int64_t nq = int64_t{c.n_head} * hd, nk = int64_t{c.n_head_kv} * hd,
                nv = int64_t{c.n_head_kv} * hdv;

  // q/k/v: [n_tokens, n_head·hd], [n_tokens, n_kv·hd], [n_tokens, n_kv·hdv]
  float* q = grow(w.q, n * nq);
  float* k = grow(w.k, n * nk);
  float* v = grow(w.v, n * nv);
  matmul(a.q, w.h.data(), n, q, pool, act_);
  matmul(a.k, w.h.data(), n, k, pool, act_);
  matmul(a.v, w.h.data(), n, v, pool, act_);
  add_bias(q, a.q_bias, n, nq);
  add_bias(k, a.k_bias, n, nk);
  add_bias(v, a.v_bias, n, nv);

  for (int32_t t = 0; t < n; ++t) {
    float* qt = q + t * nq;
    float* kt = k + t * nk;
    if (present(a.q_norm)) {
      const float* wq = reinterpret_cast<const float*>(a.q_norm.data);
      const float* wk = reinterpret_cast<const float*>(a.k_norm.data);
      for (int32_t hh = 0; hh < c.n_head; ++hh) rms_norm(qt + hh * hd, wq, qt + hh * hd, hd, c.rms_eps);
      for (int32_t hh = 0; hh < c.n_head_kv; ++hh) rms_norm(kt + hh * hd, wk, kt + hh * hd, hd, c.rms_eps);
    }
    w.rope.apply(qt, c.n_head, hd, batch.positions[t]);
    w.rope.apply(kt, c.n_head_kv, hd, batch.positions[t]);
    std::copy(kt, kt + nk, cache.k(layer, w.slot[t]));
    std::copy(v + t * nv, v + t * nv + nv, cache.v(layer, w.slot[t]));
  }

  // Attention: one task per (token, head).
  float* out = grow(w.attn, n * int64_t{c.n_head} * hdv);
  if (w.scores.size() < static_cast<size_t>(pool.size())) w.scores.resize(pool.size());
  const int32_t group = c.n_head / c.n_head_kv;
  const int32_t bs = cache.block_size();
  // One task per (token, KV head, share of its query heads): each cached K/V
  // row is read once for all the query heads that share it, while it sits in
  // L1. The query heads of a group are split only when there are fewer
  // (token, KV head) pairs than threads. Each head's arithmetic is unchanged.
  const int64_t pairs = int64_t{n} * c.n_head_kv;
  const int32_t splits = pairs >= pool.size() ? 1 : std::min<int32_t>(group, pool.size());
  const int32_t per_split = (group + splits - 1) / splits;
  pool.parallel_for(pairs * splits, [&](int64_t begin, int64_t end, int thread) {
    std::vector<float>& scores_buf = w.scores[thread];
    for (int64_t task = begin; task < end; ++task) {
      const int32_t t = static_cast<int32_t>(task / (int64_t{c.n_head_kv} * splits));
      const int32_t kvh = static_cast<int32_t>(task / splits % c.n_head_kv);
      const int32_t sub = static_cast<int32_t>(task % splits);
      const int32_t h0 = kvh * group + sub * per_split;
      const int32_t h1 = std::min(kvh * group + group, h0 + per_split);
      if (h0 >= h1) continue;
      const BatchSequence& seq = batch.sequences[batch.seq[t]];
      const int32_t n_ctx = batch.positions[t] + 1;
      float* scores = grow(scores_buf, int64_t{h1 - h0} * n_ctx);  // [heads, n_ctx]
      for (int32_t p = 0; p < n_ctx; ++p) {
        const int64_t s = int64_t{seq.block_table[p / bs]} * bs + p % bs;
        const float* k_row = cache.k(layer, s) + int64_t{kvh} * hd;
        for (int32_t hh = h0; hh < h1; ++hh) {
          scores[int64_t{hh - h0} * n_ctx + p] = dot_f32(q + t * nq + int64_t{hh} * hd, k_row, hd) * c.attn_scale;
        }
      }
      for (int32_t hh = h0; hh < h1; ++hh) {
        softmax_inplace(scores + int64_t{hh - h0} * n_ctx, n_ctx);
        float* o = out + (int64_t{t} * c.n_head + hh) * hdv;
        std::fill(o, o + hdv, 0.0f);
      }
      for (int32_t p = 0; p < n_ctx; ++p) {
        const int64_t s = int64_t{seq.block_table[p / bs]} * bs + p % bs;
        const float* v_row = cache.v(layer, s) + int64_t{kvh} * hdv;
        for (int32_t hh = h0; hh < h1; ++hh) {
          axpy(scores[int64_t{hh - h0} * n_ctx + p], v_row, out + (int64_t{t} * c.n_head + hh) * hdv, hdv);
        }
      }
    }
  });

  float* proj = grow(w.proj, n * int64_t{c.n_embd});
  matmul(a.output, out, n, proj, pool, act_);
}

}  // namespace moelab
