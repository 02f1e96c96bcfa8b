// The tiled online-softmax attention kernel against a plain double-precision
// attention (scores, max-subtracted softmax, weighted sum of values), for
// every kernel family the host runs and the three ways the model calls it
// (GQA, MLA absorbed, MLA decompressed), over a paged cache with a shuffled
// block table, with float32 or half (f16 cache) rows. Then the invariants the
// engine relies on: the split-context (many threads) path gives the same bits
// as the single-thread path, a head gives the same bits whatever other heads
// share its call, and reruns agree.
#include "kernels/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "base/fp16.h"
#include "kernels/matmul.h"  // isa_supported

namespace moelab {
namespace {

constexpr Isa kIsas[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvx512};

// A problem: n_heads query heads over a paged cache and dense buffers.
struct Problem {
  int32_t n_heads, w0, w1, vw, n_ctx;
  int32_t block_size = 16;
  std::vector<int32_t> table;   // [n_blocks] shuffled block ids
  std::vector<float> cache;     // [slots, row] row = [k0 | k1 | v | pad] (paged rows)
  std::vector<float> dense_k0;  // [n_ctx, w0 + 3] (position-indexed k0 when not paged)
  std::vector<float> queries;   // [n_heads, w0 + w1]
  int32_t row = 0;
  bool k0_paged = true, v_is_k0 = false;
  float scale = 0.125f;

  Problem(int32_t heads, int32_t k0w, int32_t k1w, int32_t vwidth, int32_t ctx, uint32_t seed,
          float sd = 1.0f)
      : n_heads(heads), w0(k0w), w1(k1w), vw(vwidth), n_ctx(ctx) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, sd);
    const int32_t n_blocks = (ctx + block_size - 1) / block_size + 3;
    table.resize(n_blocks);
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), rng);
    row = w0 + w1 + vw + 5;
    cache.resize(int64_t{n_blocks} * block_size * row);
    for (float& x : cache) x = dist(rng);
    dense_k0.resize(int64_t{ctx} * (w0 + 3));
    for (float& x : dense_k0) x = dist(rng);
    queries.resize(int64_t{heads} * (w0 + w1));
    for (float& x : queries) x = dist(rng);
  }

  int64_t slot(int32_t p) const { return int64_t{table[p / block_size]} * block_size + p % block_size; }
  const float* k0(int32_t p) const {
    return k0_paged ? cache.data() + slot(p) * row : dense_k0.data() + int64_t{p} * (w0 + 3);
  }
  const float* k1(int32_t p) const { return cache.data() + slot(p) * row + w0; }
  const float* v(int32_t p) const {
    return v_is_k0 ? k0(p) : cache.data() + slot(p) * row + w0 + w1;
  }

  AttnUnit unit(float* out) const {
    AttnUnit u;
    u.n_ctx = n_ctx;
    u.q.n_heads = n_heads;
    u.q.q0 = queries.data();
    u.q.q0_stride = w0 + w1;
    u.q.q1 = queries.data() + w0;
    u.q.q1_stride = w0 + w1;
    u.q.scale = scale;
    u.q.out = out;
    u.q.out_stride = vw;
    u.kv.k0 = k0_paged ? AttnRows{cache.data(), row, w0, true}
                       : AttnRows{dense_k0.data(), w0 + 3, w0, false};
    u.kv.k1 = {cache.data() + w0, row, w1, true};
    u.kv.v = v_is_k0 ? u.kv.k0 : AttnRows{cache.data() + w0 + w1, row, vw, true};
    u.kv.block_table = table.data();
    u.kv.block_size = block_size;
    return u;
  }

  // [n_heads, vw] in double.
  std::vector<double> reference() const {
    std::vector<double> out(int64_t{n_heads} * vw, 0.0);
    std::vector<double> s(n_ctx);
    for (int32_t h = 0; h < n_heads; ++h) {
      const float* q = queries.data() + int64_t{h} * (w0 + w1);
      for (int32_t p = 0; p < n_ctx; ++p) {
        double dot = 0.0;
        for (int32_t i = 0; i < w0; ++i) dot += double(q[i]) * k0(p)[i];
        for (int32_t i = 0; i < w1; ++i) dot += double(q[w0 + i]) * k1(p)[i];
        s[p] = dot * scale;
      }
      const double mx = *std::max_element(s.begin(), s.end());
      double sum = 0.0;
      for (double& x : s) sum += (x = std::exp(x - mx));
      for (int32_t p = 0; p < n_ctx; ++p)
        for (int32_t d = 0; d < vw; ++d) out[int64_t{h} * vw + d] += s[p] / sum * v(p)[d];
    }
    return out;
  }
};

// The shapes the model uses, with context lengths on and around tile and
// chunk edges.
std::vector<Problem> problems() {
  std::vector<Problem> ps;
  uint32_t seed = 1;
  for (int32_t ctx : {1, 5, 63, 64, 65, 256, 257, 700}) {
    ps.emplace_back(3, 64, 0, 64, ctx, seed++);   // GQA: 3 query heads per KV head
    ps.emplace_back(4, 48, 0, 40, ctx, seed++);   // odd widths (tails)
    Problem mla(5, 64, 16, 64, ctx, seed++);      // MLA absorbed: V is the latent c
    mla.v_is_k0 = true;
    ps.push_back(mla);
    Problem dec(1, 24, 8, 20, ctx, seed++);       // decompressed: dense k_nope
    dec.k0_paged = false;
    ps.push_back(dec);
  }
  Problem peaked(2, 32, 0, 32, 300, 99, 6.0f);  // sharp softmax: rescaling matters
  peaked.scale = 0.5f;
  ps.push_back(peaked);
  return ps;
}

TEST(Attention, EveryVariantMatchesDoubleReference) {
  for (Isa isa : kIsas) {
    if (!isa_supported(isa)) continue;
    for (const Problem& p : problems()) {
      std::vector<float> out(int64_t{p.n_heads} * p.vw, NAN);
      const AttnUnit u = p.unit(out.data());
      attention_with_isa(isa, u.q, u.kv, u.n_ctx);
      const std::vector<double> want = p.reference();
      for (size_t i = 0; i < out.size(); ++i) {
        ASSERT_NEAR(out[i], want[i], 2e-5 * (1 + std::abs(want[i])))
            << isa_name(isa) << " heads=" << p.n_heads << " w0=" << p.w0 << " w1=" << p.w1
            << " vw=" << p.vw << " ctx=" << p.n_ctx << " i=" << i;
      }
    }
  }
}

TEST(Attention, MonotoneScoresRescaleEveryTile) {
  // Keys grow with position so each tile raises the running max: the
  // accumulator is rescaled at every tile and chunk.
  Problem p(2, 16, 0, 16, 600, 5);
  for (int32_t pos = 0; pos < p.n_ctx; ++pos) {
    float* k = p.cache.data() + p.slot(pos) * p.row;
    for (int32_t i = 0; i < p.w0; ++i) k[i] = 0.02f * pos * (i % 2 ? 1.0f : 0.5f);
  }
  for (float& q : p.queries) q = std::abs(q);
  const std::vector<double> want = p.reference();
  for (Isa isa : kIsas) {
    if (!isa_supported(isa)) continue;
    std::vector<float> out(int64_t{p.n_heads} * p.vw);
    const AttnUnit u = p.unit(out.data());
    attention_with_isa(isa, u.q, u.kv, u.n_ctx);
    for (size_t i = 0; i < out.size(); ++i)
      EXPECT_NEAR(out[i], want[i], 2e-5 * (1 + std::abs(want[i]))) << isa_name(isa) << " i=" << i;
  }
}

// Split context over threads == one thread, bit for bit; and a unit alone ==
// the same unit among many (the engine's batch invariance).
TEST(Attention, SplitContextIsBitIdenticalAndDeterministic) {
  ThreadPool pool(4);
  for (Isa isa : kIsas) {
    if (!isa_supported(isa)) continue;
    for (const Problem& p : problems()) {
      const int64_t n = int64_t{p.n_heads} * p.vw;
      std::vector<float> seq(n), split(n), again(n), batched(8 * n);
      const AttnUnit u = p.unit(seq.data());
      attention_with_isa(isa, u.q, u.kv, u.n_ctx);
      // One unit on four threads: split by chunk (and by head when short).
      attention_run_with_isa(isa, 1, [&](int64_t) { return p.unit(split.data()); }, pool);
      attention_run_with_isa(isa, 1, [&](int64_t) { return p.unit(again.data()); }, pool);
      // Eight copies: no split at all.
      attention_run_with_isa(isa, 8, [&](int64_t i) { return p.unit(batched.data() + i * n); }, pool);
      EXPECT_EQ(0, std::memcmp(seq.data(), split.data(), n * sizeof(float)))
          << isa_name(isa) << " ctx=" << p.n_ctx;
      EXPECT_EQ(0, std::memcmp(split.data(), again.data(), n * sizeof(float)));
      for (int i = 0; i < 8; ++i)
        EXPECT_EQ(0, std::memcmp(seq.data(), batched.data() + i * n, n * sizeof(float)))
            << isa_name(isa) << " ctx=" << p.n_ctx << " copy " << i;
    }
  }
}

TEST(Attention, HeadResultDoesNotDependOnItsCallmates) {
  for (Isa isa : kIsas) {
    if (!isa_supported(isa)) continue;
    Problem p(5, 40, 8, 36, 333, 21);
    std::vector<float> all(int64_t{p.n_heads} * p.vw);
    const AttnUnit u = p.unit(all.data());
    attention_with_isa(isa, u.q, u.kv, u.n_ctx);
    for (int32_t h = 0; h < p.n_heads; ++h) {
      std::vector<float> one(p.vw);
      AttnUnit s = p.unit(one.data());
      s.q.n_heads = 1;
      s.q.q0 += h * s.q.q0_stride;
      s.q.q1 += h * s.q.q1_stride;
      attention_with_isa(isa, s.q, s.kv, s.n_ctx);
      EXPECT_EQ(0, std::memcmp(one.data(), all.data() + int64_t{h} * p.vw, p.vw * sizeof(float)))
          << isa_name(isa) << " head " << h;
    }
  }
}

// An f16 cache: the paged rows as IEEE half. Each half element is widened
// exactly on load, so attention over half rows must give the bits of
// attention over float rows holding the same (rounded) values, on every
// kernel family and on the split path. The decompressed-MLA problems mix
// types in one call: dense float k_nope and v, half k_pe from the cache.
TEST(Attention, HalfRowsGiveTheBitsOfTheirFloatWidening) {
  ThreadPool pool(4);
  for (Isa isa : kIsas) {
    if (!isa_supported(isa)) continue;
    for (Problem p : problems()) {
      std::vector<uint16_t> half(p.cache.size());
      for (size_t i = 0; i < half.size(); ++i) {
        half[i] = fp32_to_fp16(p.cache[i]);
        p.cache[i] = fp16_to_fp32(half[i]);  // the float run reads the rounded values
      }
      const int64_t n = int64_t{p.n_heads} * p.vw;
      std::vector<float> from_float(n), from_half(n), from_half_split(n);
      const AttnUnit f = p.unit(from_float.data());
      attention_with_isa(isa, f.q, f.kv, f.n_ctx);
      auto half_unit = [&](float* out) {
        AttnUnit h = p.unit(out);
        for (AttnRows* r : {&h.kv.k0, &h.kv.k1, &h.kv.v}) {
          if (!r->paged) continue;  // dense rows stay float
          const int64_t offset = static_cast<const float*>(r->base) - p.cache.data();
          r->base = half.data() + offset;
          r->type = DType::kF16;
        }
        return h;
      };
      const AttnUnit h = half_unit(from_half.data());
      attention_with_isa(isa, h.q, h.kv, h.n_ctx);
      attention_run_with_isa(
          isa, 1, [&](int64_t) { return half_unit(from_half_split.data()); }, pool);
      EXPECT_EQ(0, std::memcmp(from_float.data(), from_half.data(), n * sizeof(float)))
          << isa_name(isa) << " heads=" << p.n_heads << " w0=" << p.w0 << " ctx=" << p.n_ctx
          << (p.k0_paged ? "" : " (mixed types)");
      EXPECT_EQ(0, std::memcmp(from_half.data(), from_half_split.data(), n * sizeof(float)))
          << isa_name(isa) << " split, ctx=" << p.n_ctx;
    }
  }
}

TEST(Attention, ChunksAreWholeTiles) {
  for (int32_t ctx : {1, 100, 2048, 100000}) {
    EXPECT_GT(attention_chunk_size(ctx), 0);
    EXPECT_EQ(attention_chunk_size(ctx) % kAttnTile, 0);
  }
}

}  // namespace
}  // namespace moelab
