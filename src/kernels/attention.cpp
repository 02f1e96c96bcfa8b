// attention.h: the scalar reference chunk kernel, the chunk merge, and the
// scheduler that spreads (unit, head share, chunk) tasks over the pool.
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/check.h"
#include "base/fp16.h"
#include "kernels/attention_variants.h"

namespace moelab {
namespace ops_internal {

void attention_chunk_scalar(const AttnQuery& q, const AttnStream& kv, int32_t p0, int32_t p1,
                            float* m, float* l, float* acc, int64_t acc_stride) {
  const int32_t w0 = kv.k0.width, w1 = kv.k1.width, vw = kv.v.width;
  // Element i of the row of position pos, as float32 (half widened exactly).
  struct Row {
    const AttnRows& rows;
    int64_t first;  // element index of the row's start
    float operator[](int32_t i) const {
      if (rows.type == DType::kF16) {
        return fp16_to_fp32(static_cast<const uint16_t*>(rows.base)[first + i]);
      }
      return static_cast<const float*>(rows.base)[first + i];
    }
  };
  auto row = [&](const AttnRows& rows, int32_t pos) {
    const int64_t index =
        rows.paged ? int64_t{kv.block_table[pos / kv.block_size]} * kv.block_size + pos % kv.block_size
                   : pos;
    return Row{rows, index * rows.stride};
  };
  float s[kAttnTile];
  for (int32_t h = 0; h < q.n_heads; ++h) {
    const float* q0 = q.q0 + h * q.q0_stride;
    const float* q1 = w1 > 0 ? q.q1 + h * q.q1_stride : nullptr;
    float* a = acc + h * acc_stride;
    float mh = -INFINITY, lh = 0.0f;
    for (int32_t t0 = p0; t0 < p1; t0 += kAttnTile) {
      const int32_t nt = std::min(kAttnTile, p1 - t0);
      float mx = -INFINITY;
      for (int32_t j = 0; j < nt; ++j) {
        const Row k0 = row(kv.k0, t0 + j);
        float dot = 0.0f;
        for (int32_t i = 0; i < w0; ++i) dot += q0[i] * k0[i];
        if (w1 > 0) {
          const Row k1 = row(kv.k1, t0 + j);
          for (int32_t i = 0; i < w1; ++i) dot += q1[i] * k1[i];
        }
        s[j] = dot * q.scale;
        mx = std::max(mx, s[j]);
      }
      const float m_new = std::max(mh, mx);
      const float corr = t0 == p0 ? 0.0f : std::exp(mh - m_new);
      float sum = 0.0f;
      for (int32_t j = 0; j < nt; ++j) {
        s[j] = std::exp(s[j] - m_new);
        sum += s[j];
      }
      lh = lh * corr + sum;
      mh = m_new;
      for (int32_t d = 0; d < vw; ++d) a[d] = t0 == p0 ? 0.0f : a[d] * corr;
      for (int32_t j = 0; j < nt; ++j) {
        const Row v = row(kv.v, t0 + j);
        for (int32_t d = 0; d < vw; ++d) a[d] += s[j] * v[d];
      }
    }
    m[h] = mh;
    l[h] = lh;
  }
}

}  // namespace ops_internal

namespace {

using ops_internal::AttnChunkFn;

// Chunks are long enough that merging them costs little next to computing
// them, and short enough that a 2k context gives 8 tasks per unit.
constexpr int32_t kChunk = 256;

AttnChunkFn chunk_fn_for(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return ops_internal::attention_chunk_avx512;
    case Isa::kAvx2: return ops_internal::attention_chunk_avx2;
    case Isa::kScalar: break;
  }
  return ops_internal::attention_chunk_scalar;
}

AttnChunkFn best_chunk_fn() {
  static const AttnChunkFn fn = chunk_fn_for(cpu_features().best_isa());
  return fn;
}

// The kernels read float32 and half rows only.
void check_element_types(const AttnStream& kv) {
  for (const AttnRows* r : {&kv.k0, &kv.k1, &kv.v}) {
    MOELAB_CHECK_MSG(r->type == DType::kF32 || r->type == DType::kF16,
                     "attention: rows must be float32 or half");
  }
}

int32_t n_chunks_of(int32_t n_ctx) {
  const int32_t c = attention_chunk_size(n_ctx);
  return std::max(1, (n_ctx + c - 1) / c);
}

// Folds one chunk's partial (m, l, acc) into the running (M, L, out) of
// n_heads heads. The same function, in chunk order, on every path.
void merge_step(int32_t n_heads, int32_t vw, float* M, float* L, float* out, int64_t out_stride,
                const float* m, const float* l, const float* acc, int64_t acc_stride) {
  for (int32_t h = 0; h < n_heads; ++h) {
    const float mn = std::max(M[h], m[h]);
    const float a = std::exp(M[h] - mn), b = std::exp(m[h] - mn);
    L[h] = L[h] * a + l[h] * b;
    M[h] = mn;
    float* o = out + h * out_stride;
    const float* x = acc + h * acc_stride;
    for (int32_t d = 0; d < vw; ++d) o[d] = o[d] * a + x[d] * b;
  }
}

void normalise(int32_t n_heads, int32_t vw, const float* L, float* out, int64_t out_stride) {
  for (int32_t h = 0; h < n_heads; ++h) {
    const float inv = 1.0f / L[h];
    float* o = out + h * out_stride;
    for (int32_t d = 0; d < vw; ++d) o[d] *= inv;
  }
}

// A query restricted to heads [h0, h1).
AttnQuery heads_of(const AttnQuery& q, int32_t h0, int32_t h1) {
  AttnQuery s = q;
  s.n_heads = h1 - h0;
  s.q0 = q.q0 + h0 * q.q0_stride;
  if (q.q1 != nullptr) s.q1 = q.q1 + h0 * q.q1_stride;
  s.out = q.out + h0 * q.out_stride;
  return s;
}

// All chunks of one unit on the calling thread: chunk 0 straight into out,
// the others into scratch, folded in order.
void attention_sequential(AttnChunkFn fn, const AttnQuery& q, const AttnStream& kv, int32_t n_ctx) {
  MOELAB_CHECK(n_ctx > 0);
  check_element_types(kv);
  const int32_t nh = q.n_heads, vw = kv.v.width;
  const int32_t chunk = attention_chunk_size(n_ctx);
  thread_local std::vector<float> scratch;
  const int64_t need = int64_t{nh} * (vw + 4);
  if (static_cast<int64_t>(scratch.size()) < need) scratch.resize(need);
  float* M = scratch.data();
  float* L = M + nh;
  float* m = L + nh;
  float* l = m + nh;
  float* acc = l + nh;  // [nh, vw]
  fn(q, kv, 0, std::min(chunk, n_ctx), M, L, q.out, q.out_stride);
  for (int32_t p0 = chunk; p0 < n_ctx; p0 += chunk) {
    fn(q, kv, p0, std::min(p0 + chunk, n_ctx), m, l, acc, vw);
    merge_step(nh, vw, M, L, q.out, q.out_stride, m, l, acc, vw);
  }
  normalise(nh, vw, L, q.out, q.out_stride);
}

struct SplitTask {
  int32_t unit, h0, h1, chunk;
};

void run_impl(AttnChunkFn fn, int64_t n_units, const std::function<AttnUnit(int64_t)>& unit_of,
              ThreadPool& pool) {
  if (n_units <= 0) return;
  const int threads = pool.size();
  if (n_units >= threads) {
    // Units differ in cost (a causal prefill's last query attends to every
    // position, its first to one): contiguous halves left one thread with
    // three quarters of the work. Threads take over each other's rest.
    pool.parallel_for_stealing(n_units, 1, [&](int64_t begin, int64_t end, int) {
      for (int64_t u = begin; u < end; ++u) {
        const AttnUnit x = unit_of(u);
        attention_sequential(fn, x.q, x.kv, x.n_ctx);
      }
    });
    return;
  }
  // Fewer units than threads (decode): split each unit by context chunk and,
  // if that is still too few tasks, by head. Partials go to a shared buffer
  // and are merged in chunk order afterwards.
  // The calling thread's scratch; the workers see it through these references
  // (naming a thread_local inside the lambdas would give each worker its own).
  thread_local std::vector<AttnUnit> units_tl;
  thread_local std::vector<int64_t> offset_tl;
  thread_local std::vector<SplitTask> tasks_tl;
  thread_local std::vector<float> partial_tl;
  std::vector<AttnUnit>& units = units_tl;
  std::vector<int64_t>& offset = offset_tl;  // [n_units] first float of a unit's partials
  std::vector<SplitTask>& tasks = tasks_tl;
  std::vector<float>& partial = partial_tl;
  units.resize(n_units);
  offset.resize(n_units);
  int64_t total_chunks = 0, floats = 0;
  int32_t max_heads = 1;
  for (int64_t u = 0; u < n_units; ++u) {
    units[u] = unit_of(u);
    MOELAB_CHECK(units[u].n_ctx > 0);
    check_element_types(units[u].kv);
    offset[u] = floats;
    const int32_t nc = n_chunks_of(units[u].n_ctx);
    total_chunks += nc;
    floats += int64_t{nc} * units[u].q.n_heads * (units[u].kv.v.width + 2);
    max_heads = std::max(max_heads, units[u].q.n_heads);
  }
  const int32_t parts = total_chunks >= threads
                            ? 1
                            : std::min<int32_t>(max_heads, (threads + total_chunks - 1) / total_chunks);
  tasks.clear();
  for (int32_t u = 0; u < n_units; ++u) {
    const int32_t nh = units[u].q.n_heads, nc = n_chunks_of(units[u].n_ctx);
    const int32_t per = (nh + parts - 1) / parts;
    for (int32_t h0 = 0; h0 < nh; h0 += per) {
      for (int32_t c = 0; c < nc; ++c) tasks.push_back({u, h0, std::min(nh, h0 + per), c});
    }
  }
  if (static_cast<int64_t>(partial.size()) < floats) partial.resize(floats);
  // A chunk's partial block: acc [nh, vw], then m [nh], then l [nh].
  auto block = [&](int32_t u, int32_t c) {
    const AttnUnit& x = units[u];
    return partial.data() + offset[u] + int64_t{c} * x.q.n_heads * (x.kv.v.width + 2);
  };
  pool.parallel_for(static_cast<int64_t>(tasks.size()), [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const SplitTask& t = tasks[i];
      const AttnUnit& x = units[t.unit];
      const int32_t nh = x.q.n_heads, vw = x.kv.v.width;
      const int32_t chunk = attention_chunk_size(x.n_ctx);
      const int32_t p0 = t.chunk * chunk, p1 = std::min(x.n_ctx, p0 + chunk);
      float* b = block(t.unit, t.chunk);
      fn(heads_of(x.q, t.h0, t.h1), x.kv, p0, p1, b + int64_t{nh} * vw + t.h0,
         b + int64_t{nh} * vw + nh + t.h0, b + int64_t{t.h0} * vw, vw);
    }
  });
  pool.parallel_for(n_units, [&](int64_t begin, int64_t end, int) {
    thread_local std::vector<float> ml;
    for (int64_t u = begin; u < end; ++u) {
      const AttnUnit& x = units[u];
      const int32_t nh = x.q.n_heads, vw = x.kv.v.width, nc = n_chunks_of(x.n_ctx);
      if (static_cast<int32_t>(ml.size()) < 2 * nh) ml.resize(2 * nh);
      float* M = ml.data();
      float* L = M + nh;
      const float* b0 = block(static_cast<int32_t>(u), 0);
      std::copy(b0 + int64_t{nh} * vw, b0 + int64_t{nh} * vw + 2 * nh, M);
      for (int32_t h = 0; h < nh; ++h) {
        std::copy(b0 + int64_t{h} * vw, b0 + int64_t{h + 1} * vw, x.q.out + h * x.q.out_stride);
      }
      for (int32_t c = 1; c < nc; ++c) {
        const float* b = block(static_cast<int32_t>(u), c);
        merge_step(nh, vw, M, L, x.q.out, x.q.out_stride, b + int64_t{nh} * vw,
                   b + int64_t{nh} * vw + nh, b, vw);
      }
      normalise(nh, vw, L, x.q.out, x.q.out_stride);
    }
  });
}

}  // namespace

int32_t attention_chunk_size(int32_t /*n_ctx*/) { return kChunk; }

void attention(const AttnQuery& q, const AttnStream& kv, int32_t n_ctx) {
  attention_sequential(best_chunk_fn(), q, kv, n_ctx);
}

void attention_with_isa(Isa isa, const AttnQuery& q, const AttnStream& kv, int32_t n_ctx) {
  attention_sequential(chunk_fn_for(isa), q, kv, n_ctx);
}

void attention_run(int64_t n_units, const std::function<AttnUnit(int64_t)>& unit, ThreadPool& pool) {
  run_impl(best_chunk_fn(), n_units, unit, pool);
}

void attention_run_with_isa(Isa isa, int64_t n_units, const std::function<AttnUnit(int64_t)>& unit,
                            ThreadPool& pool) {
  run_impl(chunk_fn_for(isa), n_units, unit, pool);
}

}  // namespace moelab
