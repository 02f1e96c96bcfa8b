// Grouped-query attention over the paged KV cache (llama, qwen2moe, qwen3moe).
// Query head j reads KV head j / (n_head / n_head_kv). Scores and softmax in
// float32 (kernels/attention.h: tiled, online softmax, one pass over the
// cache); each (token, head) pair is independent and context chunks depend
// only on the context length, so a token's result never depends on what else
// is in the batch.
#include <cmath>

#include "kernels/attention.h"
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
  const MatmulPart qkv[] = {{&a.q, q}, {&a.k, k}, {&a.v, v}};
  matmul_parts(qkv, w.h.data(), n, pool, act_);
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
    cache.store_k(layer, w.slot[t], kt);
    cache.store_v(layer, w.slot[t], v + t * nv);
  }

  // Attention: one unit per (token, KV head) with its group of query heads,
  // so each cached K/V row is read once for all of them (attention.h splits
  // units by context chunk and head when there are fewer than threads).
  float* out = grow(w.attn, n * int64_t{c.n_head} * hdv);  // [n_tokens, n_head·hdv]
  const int32_t group = c.n_head / c.n_head_kv;
  attention_run(int64_t{n} * c.n_head_kv, [&](int64_t u) {
    const int32_t t = static_cast<int32_t>(u / c.n_head_kv);
    const int32_t kvh = static_cast<int32_t>(u % c.n_head_kv);
    const BatchSequence& seq = batch.sequences[batch.seq[t]];
    AttnUnit x;
    x.n_ctx = batch.positions[t] + 1;
    x.q.n_heads = group;
    x.q.q0 = q + t * nq + int64_t{kvh} * group * hd;
    x.q.q0_stride = hd;
    x.q.scale = c.attn_scale;
    x.q.out = out + (int64_t{t} * c.n_head + int64_t{kvh} * group) * hdv;
    x.q.out_stride = hdv;
    x.kv.k0 = cache.k_rows(layer, kvh, 0, hd);
    x.kv.v = cache.v_rows(layer, kvh, 0, hdv);
    x.kv.block_table = seq.block_table;
    x.kv.block_size = cache.block_size();
    return x;
  }, pool);

  float* proj = grow(w.proj, n * int64_t{c.n_embd});
  matmul(a.output, out, n, proj, pool, act_);
}

}  // namespace moelab
