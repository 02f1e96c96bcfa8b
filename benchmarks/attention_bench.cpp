// Attention kernel microbenchmarks: one decoded token attending over a paged
// cache of 512 / 2048 / 8192 positions, per kernel family, in the two shapes
// the models use: a GQA KV head with 4 query heads (head dim 128) and MLA
// absorbed with 16 heads over [c 512 | k_pe 64] latent rows. Counters: cache
// bytes read per second (each row once) and FLOP/s.
#include <benchmark/benchmark.h>

#include <numeric>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/matmul.h"  // isa_supported

namespace moelab {
namespace {

constexpr int32_t kBlock = 16;

struct Setup {
  int32_t heads, w0, w1, vw, row;
  bool v_is_k0;
  std::vector<float> cache, q, out;
  std::vector<int32_t> table;
};

Setup make(bool mla, int32_t ctx) {
  Setup s;
  s.heads = mla ? 16 : 4;
  s.w0 = mla ? 512 : 128;
  s.w1 = mla ? 64 : 0;
  s.vw = mla ? 512 : 128;
  s.v_is_k0 = mla;
  s.row = mla ? 576 : 256;  // GQA: one KV head's k then v in a row
  const int32_t n_blocks = (ctx + kBlock - 1) / kBlock;
  s.table.resize(n_blocks);
  std::iota(s.table.rbegin(), s.table.rend(), 0);  // blocks in reverse: not one linear run
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  s.cache.resize(int64_t{n_blocks} * kBlock * s.row);
  for (float& x : s.cache) x = dist(rng);
  s.q.resize(int64_t{s.heads} * (s.w0 + s.w1));
  for (float& x : s.q) x = dist(rng);
  s.out.resize(int64_t{s.heads} * s.vw);
  return s;
}

void BM_Attention(benchmark::State& state) {
  const bool mla = state.range(0) != 0;
  const auto isa = static_cast<Isa>(state.range(1));
  const auto ctx = static_cast<int32_t>(state.range(2));
  const int threads = static_cast<int>(state.range(3));
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not supported");
    return;
  }
  Setup s = make(mla, ctx);
  AttnUnit u;
  u.n_ctx = ctx;
  u.q = {s.heads, s.q.data(), s.w0 + s.w1, s.q.data() + s.w0, s.w0 + s.w1, 0.05f, s.out.data(), s.vw};
  u.kv.k0 = {s.cache.data(), s.row, s.w0, true};
  u.kv.k1 = {s.cache.data() + s.w0, s.row, s.w1, true};
  u.kv.v = s.v_is_k0 ? u.kv.k0 : AttnRows{s.cache.data() + s.w0, s.row, s.vw, true};
  u.kv.block_table = s.table.data();
  u.kv.block_size = kBlock;
  ThreadPool pool(threads);
  for (auto _ : state) {
    attention_run_with_isa(isa, 1, [&](int64_t) { return u; }, pool);
    benchmark::DoNotOptimize(s.out.data());
  }
  const double bytes = double(ctx) * (mla ? s.row : s.w0 + s.vw) * 4;
  const double flops = 2.0 * ctx * s.heads * (s.w0 + s.w1 + s.vw);
  state.counters["bytes/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(mla ? "mla" : "gqa") + "/" + isa_name(isa));
}

void Args(benchmark::internal::Benchmark* b) {
  for (int mla : {0, 1})
    for (int isa : {0, 1, 2})
      for (int ctx : {512, 2048, 8192})
        for (int threads : {1, 2}) b->Args({mla, isa, ctx, threads});
}

BENCHMARK(BM_Attention)->Apply(Args)->ArgNames({"mla", "isa", "ctx", "threads"})->UseRealTime();

}  // namespace
}  // namespace moelab
