// Microbenchmarks of matmul: decode (1 token, bound by weight bandwidth) and
// prefill (64 tokens, bound by arithmetic) for model-sized shapes, per weight
// type and kernel family. Counters: weight bytes/s (compare with the
// machine's measured bandwidth) and FLOP/s.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>
#include <tuple>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

namespace moelab {
namespace {

ThreadPool& bench_pool() {
  static ThreadPool pool(physical_core_count());
  return pool;
}

// Quantized weights are built once per (type, shape) and shared by runs.
const std::vector<uint8_t>& weights(DType type, int64_t n_out, int64_t n_in) {
  static std::map<std::tuple<DType, int64_t, int64_t>, std::unique_ptr<std::vector<uint8_t>>> cache;
  auto& slot = cache[{type, n_out, n_in}];
  if (!slot) {
    std::mt19937 rng(42);
    std::normal_distribution<float> dist(0.0f, 0.02f);
    std::vector<float> row(n_in);
    const int64_t row_bytes = dtype_row_bytes(type, n_in);
    slot = std::make_unique<std::vector<uint8_t>>(row_bytes * n_out);
    for (int64_t r = 0; r < n_out; ++r) {
      for (auto& v : row) v = dist(rng);
      quantize_row(type, row.data(), slot->data() + r * row_bytes, n_in);
    }
  }
  return *slot;
}

void BM_Matmul(benchmark::State& state, DType type, Isa isa) {
  const int64_t n_out = state.range(0), n_in = state.range(1), n_tok = state.range(2);
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not supported on this host");
    return;
  }
  const std::vector<uint8_t>& w = weights(type, n_out, n_in);
  TensorView view;
  view.type = type;
  view.n_dims = 2;
  view.ne = {n_in, n_out, 1, 1};
  view.data = w.data();
  std::vector<float> x(n_tok * n_in, 0.5f), y(n_tok * n_out);
  for (auto _ : state) {
    matmul_with_isa(isa, view, x.data(), n_tok, y.data(), bench_pool());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["bytes/s"] = benchmark::Counter(static_cast<double>(w.size()) * state.iterations(),
                                                 benchmark::Counter::kIsRate);
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * n_in * n_out * n_tok * state.iterations(),
                                                benchmark::Counter::kIsRate);
}

void shapes(benchmark::internal::Benchmark* b) {
  for (int64_t n_tok : {1, 64}) {
    b->Args({2048, 2048, n_tok});
    b->Args({5632, 2048, n_tok});
  }
  b->ArgNames({"n_out", "n_in", "n_tok"})->UseRealTime()->Unit(benchmark::kMicrosecond);
}

#define MOELAB_BENCH_TYPE(type, isa) \
  BENCHMARK_CAPTURE(BM_Matmul, type##_##isa, DType::type, Isa::isa)->Apply(shapes)

MOELAB_BENCH_TYPE(kF32, kAvx512);
MOELAB_BENCH_TYPE(kF16, kAvx512);
MOELAB_BENCH_TYPE(kBF16, kAvx512);
MOELAB_BENCH_TYPE(kQ8_0, kAvx512);
MOELAB_BENCH_TYPE(kQ4_K, kAvx512);
MOELAB_BENCH_TYPE(kQ6_K, kAvx512);
MOELAB_BENCH_TYPE(kQ4_0, kAvx512);
MOELAB_BENCH_TYPE(kQ5_K, kAvx512);
MOELAB_BENCH_TYPE(kF32, kAvx2);
MOELAB_BENCH_TYPE(kQ8_0, kAvx2);
MOELAB_BENCH_TYPE(kQ4_K, kAvx2);
MOELAB_BENCH_TYPE(kQ8_0, kScalar);
MOELAB_BENCH_TYPE(kQ4_K, kScalar);

}  // namespace
}  // namespace moelab
