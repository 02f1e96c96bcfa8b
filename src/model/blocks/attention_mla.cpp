// Multi-head Latent Attention (DeepSeek-V2/V3/R1), MODEL_MATH.md section 2.
// The cache holds one latent row per token per layer: [c (kv_lora) | k_pe (rope)].
// Two equivalent ways to attend over it:
//   decompressed: k_nope = W_UK·c and v = W_UV·c for every cached position,
//                 then ordinary multi-head attention (cheap for long prefills
//                 over a short cache: the decompression is shared by all queries);
//   absorbed:     q_abs = W_UKᵀ·q_nope, scores against c directly, the
//                 attention-weighted latent u then mapped by W_UV (cheap for
//                 decode: nothing per cached position but two dot products).
// kAuto takes the absorbed form (see MlaMode); the decompressed one stays
// for comparisons and as a second way to compute the same attention.
#include <algorithm>
#include <cmath>
#include <span>

#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/workspace.h"

namespace moelab {
namespace {

// Absorbed batches of at most this many tokens (decode) run W_UK, attention
// and W_UV per group of kFusedGroupHeads heads in one parallel region (see
// attention_mla). A group's heads share one pass over the latent cache:
// groups of 8 were 0-1.3% faster than the three regions on the bench
// DeepSeek models (alternating decode steps), groups of 4 about half that.
constexpr int32_t kFusedMaxTokens = 4;
constexpr int32_t kFusedGroupHeads = 8;

// Rows [first, first + count) of a 2-D weight, as a weight of its own.
TensorView row_range(const TensorView& m, int64_t first, int64_t count) {
  TensorView v = m;
  v.n_dims = 2;
  v.ne = {m.ne[0], count, 1, 1};
  v.data = m.data + first * m.row_bytes();
  return v;
}

// Pointers to each head's input rows, kept per thread across calls.
std::vector<const float*>& head_inputs() {
  thread_local std::vector<const float*> xs;
  return xs;
}
// The same rows quantized for the integer kernels, and pointers to them.
std::vector<uint8_t>& head_inputs_quantized() {
  thread_local std::vector<uint8_t> buf;
  return buf;
}
std::vector<const uint8_t*>& head_input_rows_quantized() {
  thread_local std::vector<const uint8_t*> rows;
  return rows;
}

// For every head h: y[i·ldy + h·n_out + row] = W_h[row] · xs[h·n_tok + i],
// one parallel region of (head, row chunk) tasks instead of one matmul per
// head. matmul_rows runs matmul's own kernels, so every row gets the bits a
// per-head matmul would give.
//   weight(h): [n_out, n_in]; xs: [n_head, n_tok] row pointers; y: [n_tok, ldy]
template <typename WeightFn>
void per_head_matmul(ThreadPool& pool, int32_t n_head, const WeightFn& weight, const float* const* xs,
                     int64_t n_tok, float* y, int64_t ldy, int64_t n_out, Activations act) {
  constexpr int64_t kRows = 64;  // a multiple of 16: threads never share a line of y
  const int64_t chunks = (n_out + kRows - 1) / kRows;
  // Integer kernels: quantize every (head, token) input row once, as matmul
  // would, so these products round exactly like the rest of the model.
  const TensorView w0 = weight(0);
  const DType qt = act == Activations::kQuantized ? quantized_activation_type(w0.type) : DType::kF32;
  const int64_t n_rows = int64_t{n_head} * n_tok;
  std::vector<uint8_t>& qbuf = head_inputs_quantized();
  std::vector<const uint8_t*>& xq = head_input_rows_quantized();
  if (qt != DType::kF32) {
    const int64_t n_in = w0.ne[0];
    const int64_t rb = quantized_activation_bytes(qt, n_in);
    if (static_cast<int64_t>(qbuf.size()) < n_rows * rb) qbuf.resize(n_rows * rb);
    xq.resize(n_rows);
    auto quantize_rows = [&](int64_t r0, int64_t r1, int) {
      for (int64_t r = r0; r < r1; ++r) {
        quantize_activation(qt, xs[r], n_in, qbuf.data() + r * rb);
        xq[r] = qbuf.data() + r * rb;
      }
    };
    // Decode's 16 short rows take about a microsecond: not worth the pool.
    pool.parallel_for_if_large(n_rows, n_rows * n_in, quantize_rows);
  }
  pool.parallel_for_stealing(int64_t{n_head} * chunks, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t task = begin; task < end; ++task) {
      const int32_t h = static_cast<int32_t>(task / chunks);
      const int64_t r0 = task % chunks * kRows, r1 = std::min(n_out, r0 + kRows);
      if (qt != DType::kF32) {
        matmul_rows_quantized(weight(h), xq.data() + h * n_tok, n_tok, y + h * n_out, ldy, r0, r1);
      } else {
        matmul_rows(weight(h), xs + h * n_tok, n_tok, y + h * n_out, ldy, r0, r1);
      }
    }
  });
}

// y[i·ldy + row] = W[row] · xs[i] for the n_tok rows, every row of W, on the
// calling thread: the kernels and activation rounding per_head_matmul uses,
// so a row gets the same bits either way.
//   w: [n_out, n_in]; xs: n_tok row pointers; y: [n_tok, ldy]
void head_matmul(const TensorView& w, const float* const* xs, int64_t n_tok, float* y, int64_t ldy,
                 Activations act) {
  const DType qt = act == Activations::kQuantized ? quantized_activation_type(w.type) : DType::kF32;
  if (qt == DType::kF32) {
    matmul_rows(w, xs, n_tok, y, ldy, 0, w.n_rows());
    return;
  }
  thread_local std::vector<uint8_t> buf;
  thread_local std::vector<const uint8_t*> rows;
  const int64_t rb = quantized_activation_bytes(qt, w.ne[0]);
  if (static_cast<int64_t>(buf.size()) < n_tok * rb) buf.resize(n_tok * rb);
  rows.resize(n_tok);
  for (int64_t i = 0; i < n_tok; ++i) {
    quantize_activation(qt, xs[i], w.ne[0], buf.data() + i * rb);
    rows[i] = buf.data() + i * rb;
  }
  matmul_rows_quantized(w, rows.data(), n_tok, y, ldy, 0, w.n_rows());
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
  // kv_a: [n, kv_lora + rope] → normalised c, roped k_pe (k_pe is not normalised).
  float* kv_a = grow(w.kv_a, int64_t{n} * lat_w);
  if (m.q_lora_rank > 0) {
    // q_a and kv_a read the same h: one product.
    float* cq = grow(w.cq, int64_t{n} * m.q_lora_rank);
    const MatmulPart down[] = {{&a.q_a, cq}, {&a.kv_a_mqa, kv_a}};
    matmul_parts(down, w.h.data(), n, pool, act_);
    const float* norm = reinterpret_cast<const float*>(a.q_a_norm.data);
    for (int32_t t = 0; t < n; ++t) rms_norm(cq + int64_t{t} * m.q_lora_rank, norm, cq + int64_t{t} * m.q_lora_rank, m.q_lora_rank, c.rms_eps);
    matmul(a.q_b, cq, n, q, pool, act_);
  } else {
    const MatmulPart q_kv[] = {{&a.q, q}, {&a.kv_a_mqa, kv_a}};
    matmul_parts(q_kv, w.h.data(), n, pool, act_);
  }
  const float* kv_norm = reinterpret_cast<const float*>(a.kv_a_norm.data);
  for (int32_t t = 0; t < n; ++t) {
    float* row = kv_a + int64_t{t} * lat_w;
    rms_norm(row, kv_norm, row, r, c.rms_eps);
    w.rope.apply(row + r, 1, rope, batch.positions[t]);
    w.rope.apply(q + int64_t{t} * nh * qk + nope, nh, qk, batch.positions[t]);
    cache.store_k(layer, w.slot[t], row);
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
  for (MlaSeqPlan& p : plans) p.absorbed = mode != MlaMode::kDecompressed;

  float* out = grow(w.attn, int64_t{n} * nh * vd);  // [n, n_head·v]
  const int32_t bs = cache.block_size();
  auto slot_of = [&](const BatchSequence& seq, int32_t p) {
    return int64_t{seq.block_table[p / bs]} * bs + p % bs;
  };
  // The cache's latent rows [slots, kv_lora + rope]: c, then k_pe.
  const AttnRows cache_c = cache.k_rows(layer, 0, 0, r);
  const AttnRows cache_k_pe = cache.k_rows(layer, 0, r, rope);

  // ---- absorbed form, for all tokens of absorbed sequences at once ----
  std::vector<int32_t>& abs_tokens = w.mla_absorbed_tokens;
  abs_tokens.clear();
  for (const MlaSeqPlan& p : plans)
    if (p.absorbed) abs_tokens.insert(abs_tokens.end(), p.tokens.begin(), p.tokens.end());
  const int32_t na = static_cast<int32_t>(abs_tokens.size());
  if (na > 0) {
    float* q_abs = grow(w.q_abs, int64_t{na} * nh * r);   // [na, n_head, kv_lora]
    float* u = grow(w.u, int64_t{na} * nh * r);           // [na, n_head, kv_lora]
    float* v_abs = grow(w.head_out, int64_t{na} * nh * vd);  // [na, n_head·v]
    std::vector<const float*>& xs = head_inputs();       // [n_head, na]
    xs.resize(int64_t{nh} * na);
    // The unit of token i for heads [h0, h1) over the latent cache.
    auto unit_of = [&](int32_t i, int32_t h0, int32_t h1) {
      const int32_t t = abs_tokens[i];
      AttnUnit x;
      x.n_ctx = batch.positions[t] + 1;
      x.q.n_heads = h1 - h0;
      x.q.q0 = q_abs + (int64_t{i} * nh + h0) * r;
      x.q.q0_stride = r;
      x.q.q1 = q + (int64_t{t} * nh + h0) * qk + nope;
      x.q.q1_stride = qk;
      x.q.scale = c.attn_scale;
      x.q.out = u + (int64_t{i} * nh + h0) * r;
      x.q.out_stride = r;
      x.kv.k0 = cache_c;
      x.kv.k1 = cache_k_pe;
      x.kv.v = cache_c;
      x.kv.block_table = batch.sequences[batch.seq[t]].block_table;
      x.kv.block_size = bs;
      return x;
    };
    // W_UK's inputs, head by head: q_nope of each token.
    for (int32_t hh = 0; hh < nh; ++hh)
      for (int32_t i = 0; i < na; ++i)
        xs[int64_t{hh} * na + i] = q + (int64_t{abs_tokens[i]} * nh + hh) * qk;
    if (na <= kFusedMaxTokens) {
      // Decode: one parallel region of head groups, each running its heads'
      // W_UK products, their attention and their W_UV products in turn
      // (heads are independent). Three regions per layer become one, and a
      // group's attention, bound by arithmetic, runs while the other thread
      // streams weights. Same kernels per row and per head as the phased
      // form below, so the same bits.
      const int32_t n_groups = (nh + kFusedGroupHeads - 1) / kFusedGroupHeads;
      pool.parallel_for_stealing(n_groups, 1, [&](int64_t g0, int64_t g1, int) {
        thread_local std::vector<const float*> rows;
        rows.resize(na);
        for (int64_t g = g0; g < g1; ++g) {
          const int32_t h0 = static_cast<int32_t>(g) * kFusedGroupHeads;
          const int32_t h1 = std::min(nh, h0 + kFusedGroupHeads);
          for (int32_t hh = h0; hh < h1; ++hh) {
            head_matmul(a.k_b.matrix(hh), xs.data() + int64_t{hh} * na, na, q_abs + int64_t{hh} * r,
                        int64_t{nh} * r, act_);
          }
          for (int32_t i = 0; i < na; ++i) {
            const AttnUnit x = unit_of(i, h0, h1);
            attention(x.q, x.kv, x.n_ctx);
          }
          for (int32_t hh = h0; hh < h1; ++hh) {
            for (int32_t i = 0; i < na; ++i) rows[i] = u + (int64_t{i} * nh + hh) * r;
            head_matmul(row_range(a.v_b, int64_t{hh} * vd, vd), rows.data(), na,
                        v_abs + int64_t{hh} * vd, int64_t{nh} * vd, act_);
          }
        }
      });
    } else {
      // q_abs[i, h] = W_UK[h] · q_nope[i, h]: every head in one parallel region.
      per_head_matmul(
          pool, nh, [&](int32_t hh) { return a.k_b.matrix(hh); }, xs.data(), na, q_abs,
          int64_t{nh} * r, r, act_);
      // One unit per token with all its heads: they share the latent stream,
      // so each cached row is read once for all of them (V is the latent c).
      attention_run(
          na, [&](int64_t i) { return unit_of(static_cast<int32_t>(i), 0, nh); }, pool);
      // out[i, h] = W_UV[h] · u[i, h], again in one parallel region.
      for (int32_t hh = 0; hh < nh; ++hh)
        for (int32_t i = 0; i < na; ++i) xs[int64_t{hh} * na + i] = u + (int64_t{i} * nh + hh) * r;
      per_head_matmul(
          pool, nh, [&](int32_t hh) { return row_range(a.v_b, int64_t{hh} * vd, vd); }, xs.data(),
          na, v_abs, int64_t{nh} * vd, vd, act_);
    }
    for (int32_t i = 0; i < na; ++i)
      std::copy(v_abs + int64_t{i} * nh * vd, v_abs + int64_t{i + 1} * nh * vd,
                out + int64_t{abs_tokens[i]} * nh * vd);
  }

  // ---- decompressed form, one sequence at a time ----
  for (const MlaSeqPlan& p : plans) {
    if (p.tokens.empty() || p.absorbed) continue;
    const BatchSequence& seq = batch.sequences[batch.seq[p.tokens[0]]];
    const int32_t ctx = p.n_ctx;
    float* latent = grow(w.latent, int64_t{ctx} * r);  // [ctx, kv_lora]
    for (int32_t pos = 0; pos < ctx; ++pos)
      cache.load_k(layer, slot_of(seq, pos), 0, r, latent + int64_t{pos} * r);
    float* k_nope = grow(w.k_nope, int64_t{ctx} * nh * nope);  // [ctx, n_head·nope]
    float* v_dec = grow(w.v_dec, int64_t{ctx} * nh * vd);      // [ctx, n_head·v]
    matmul(a.k_dec, latent, ctx, k_nope, pool, act_);
    matmul(a.v_b, latent, ctx, v_dec, pool, act_);
    // One unit per (token, head): k_nope and v by position from the dense
    // buffers, k_pe by slot from the cache.
    const int32_t nt = static_cast<int32_t>(p.tokens.size());
    attention_run(int64_t{nt} * nh, [&](int64_t task) {
      const int32_t t = p.tokens[task / nh], hh = static_cast<int32_t>(task % nh);
      AttnUnit x;
      x.n_ctx = batch.positions[t] + 1;
      x.q.n_heads = 1;
      x.q.q0 = q + (int64_t{t} * nh + hh) * qk;
      x.q.q1 = x.q.q0 + nope;
      x.q.scale = c.attn_scale;
      x.q.out = out + (int64_t{t} * nh + hh) * vd;
      x.kv.k0 = {k_nope + int64_t{hh} * nope, int64_t{nh} * nope, nope, false};
      x.kv.k1 = cache_k_pe;
      x.kv.v = {v_dec + int64_t{hh} * vd, int64_t{nh} * vd, vd, false};
      x.kv.block_table = seq.block_table;
      x.kv.block_size = bs;
      return x;
    }, pool);
  }

  float* proj = grow(w.proj, int64_t{n} * c.n_embd);
  matmul(a.output, out, n, proj, pool, act_);
}

}  // namespace moelab
