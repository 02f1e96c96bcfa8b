// Decode kernels fed from memory, not from cache: one token times a matrix
// drawn in turn from a set of matrices larger than any cache, as a model's
// decode step reads its weights. Each result's pct_of_probe compares the
// weight bytes/s with the STREAM-style read probe of `moelab bench` run on
// the same threads, so kernel overhead shows apart from the model's other
// work. (The in-cache rates are matmul_bench's decode rows.)
#include <benchmark/benchmark.h>

#include <cstring>
#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "base/timer.h"
#include "bench/bandwidth.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "tensor/dtype.h"

namespace moelab {
namespace {

// Shapes of the bench presets' decode reads: the FFN projections
// (2048 → 5632 and back), the 129,280-row output head, an attention
// projection, a small expert's gate (where splitting rows over threads
// costs the most) and down projection (short rows), and MLA's per-head
// W_UK for all 16 heads (128-element rows; Q5_0 is what the Q4_K_M mix
// gives it, since K-quants need 256).
struct Shape {
  int64_t n_in, n_out;
};
constexpr Shape kShapes[] = {{2048, 5632}, {5632, 2048}, {2048, 129280}, {2048, 2048},
                             {2048, 512},  {512, 2048},  {128, 8192}};
constexpr int64_t kNumShapes = sizeof(kShapes) / sizeof(kShapes[0]);
constexpr int64_t kSetBytes = int64_t{768} << 20;  // > the largest L3 we run on

struct MatrixSet {
  std::vector<uint8_t> bytes;  // n_mats × matrix_bytes, one matrix after another
  int64_t matrix_bytes = 0;
  int64_t n_mats = 0;
};

// Rows are quantized once from normal values and repeated: the kernels' speed
// does not depend on the values. Only the latest set is kept (the runs of one
// type and shape are consecutive): one set per shape and type would hold
// 28 × 768 MiB.
const MatrixSet& matrix_set(DType type, Shape s) {
  static std::tuple<int, int64_t, int64_t> key{-1, 0, 0};
  static MatrixSet set;
  const std::tuple<int, int64_t, int64_t> want{static_cast<int>(type), s.n_in, s.n_out};
  if (want == key) return set;
  key = want;
  set = MatrixSet{};
  const int64_t rb = dtype_row_bytes(type, s.n_in);
  constexpr int kDistinctRows = 64;
  std::vector<uint8_t> rows(rb * kDistinctRows);
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> row(s.n_in);
  for (int r = 0; r < kDistinctRows; ++r) {
    for (auto& v : row) v = dist(rng);
    quantize_row(type, row.data(), rows.data() + r * rb, s.n_in);
  }
  set.matrix_bytes = rb * s.n_out;
  set.n_mats = std::max<int64_t>(2, (kSetBytes + set.matrix_bytes - 1) / set.matrix_bytes);
  set.bytes.resize(set.matrix_bytes * set.n_mats);
  for (int64_t r = 0; r < s.n_out * set.n_mats; ++r) {
    std::memcpy(set.bytes.data() + r * rb, rows.data() + (r % kDistinctRows) * rb, rb);
  }
  return set;
}

double probe_gbs(ThreadPool& pool) {
  static std::map<int, double> by_threads;
  auto [it, fresh] = by_threads.try_emplace(pool.size(), 0.0);
  if (fresh) it->second = measure_read_bandwidth(pool).read_gbs;
  return it->second;
}

void BM_DecodeFromMemory(benchmark::State& state) {
  const auto type = static_cast<DType>(state.range(0));
  const Shape shape = kShapes[state.range(1)];
  const int threads = static_cast<int>(state.range(2));
  const auto act = static_cast<Activations>(state.range(3));
  const MatrixSet& set = matrix_set(type, shape);
  ThreadPool pool(threads);
  const double probe = probe_gbs(pool);
  TensorView view;
  view.type = type;
  view.n_dims = 2;
  view.ne = {shape.n_in, shape.n_out, 1, 1};
  std::vector<float> x(shape.n_in, 0.5f), y(shape.n_out);
  int64_t next = 0;
  Timer timer;
  for (auto _ : state) {
    view.data = set.bytes.data() + next * set.matrix_bytes;
    next = (next + 1) % set.n_mats;
    matmul(view, x.data(), 1, y.data(), pool, act);
    benchmark::DoNotOptimize(y.data());
  }
  const double bytes = static_cast<double>(set.matrix_bytes) * static_cast<double>(state.iterations());
  state.counters["weight_B/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsRate);
  state.counters["pct_of_probe"] = 100.0 * bytes / timer.seconds() / (probe * 1e9);
  state.counters["probe_GB/s"] = probe;
  state.SetLabel(std::string(dtype_info(type).name) + " " + std::to_string(shape.n_in) + "x" +
                 std::to_string(shape.n_out));
}

void stream_args(benchmark::internal::Benchmark* b) {
  for (DType t : {DType::kQ8_0, DType::kQ5_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    for (int64_t shape = 0; shape < kNumShapes; ++shape) {
      // K-quant rows are whole 256-element super-blocks: no 128-element rows.
      if (kShapes[shape].n_in % dtype_info(t).block_elems != 0) continue;
      for (int threads : {1, 2}) {
        b->Args({static_cast<int64_t>(t), shape, threads,
                 static_cast<int64_t>(Activations::kQuantized)});
      }
    }
  }
}
BENCHMARK(BM_DecodeFromMemory)
    ->ArgNames({"type", "shape", "threads", "act"})
    ->Apply(stream_args)
    ->UseRealTime();

}  // namespace
}  // namespace moelab
