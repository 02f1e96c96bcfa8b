// Kernel microbenchmarks: the matrix product for each weight type and kernel
// family, at decode (1 token: bound by reading the weights) and prefill
// (64 and 512 tokens: bound by arithmetic) sizes, with float32 and 8-bit quantized
// activations (the integer dots). Counters: weight bytes/s and FLOP/s.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/quant.h"

namespace moelab {
namespace {

constexpr int64_t kIn = 2048, kOut = 2048;

struct Weights {
  std::vector<uint8_t> bytes;
  TensorView view;
};

const Weights& weights(DType type) {
  static std::vector<std::pair<DType, Weights>> cache;
  for (auto& [t, w] : cache)
    if (t == type) return w;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> row(kIn);
  Weights w;
  const int64_t rb = dtype_row_bytes(type, kIn);
  w.bytes.resize(rb * kOut);
  for (int64_t r = 0; r < kOut; ++r) {
    for (auto& v : row) v = dist(rng);
    quantize_row(type, row.data(), w.bytes.data() + r * rb, kIn);
  }
  w.view.type = type;
  w.view.n_dims = 2;
  w.view.ne = {kIn, kOut, 1, 1};
  cache.emplace_back(type, std::move(w));
  w.view.data = nullptr;
  Weights& stored = cache.back().second;
  stored.view.data = stored.bytes.data();
  return stored;
}

void BM_Matmul(benchmark::State& state) {
  const auto type = static_cast<DType>(state.range(0));
  const auto isa = static_cast<Isa>(state.range(1));
  const int64_t n_tok = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  const auto act = static_cast<Activations>(state.range(4));
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not supported");
    return;
  }
  const Weights& w = weights(type);
  ThreadPool pool(threads);
  std::vector<float> x(n_tok * kIn, 0.5f), y(n_tok * kOut);
  for (auto _ : state) {
    matmul_with_isa(isa, w.view, x.data(), n_tok, y.data(), pool, act);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["weight_B/s"] = benchmark::Counter(
      static_cast<double>(w.bytes.size()) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * kIn * kOut * n_tok * state.iterations(),
                                                benchmark::Counter::kIsRate);
  const bool integer = act == Activations::kQuantized && has_integer_kernel(isa, type);
  state.SetLabel(std::string(dtype_info(type).name) + " " + isa_name(isa) + " " +
                 (integer ? "q8" : "f32"));
}

void matmul_args(benchmark::internal::Benchmark* b) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ5_0,
                  DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
      for (int64_t n_tok : {1, 4, 64, 512}) {
        for (int threads : {1, 2}) {
          for (Activations act : {Activations::kFloat32, Activations::kQuantized}) {
            b->Args({static_cast<int64_t>(t), static_cast<int64_t>(isa), n_tok, threads,
                     static_cast<int64_t>(act)});
          }
        }
      }
    }
  }
}
BENCHMARK(BM_Matmul)->Apply(matmul_args)->UseRealTime();

// Quantizing one activation row for the integer kernels (per matmul call).
void BM_QuantizeActivation(benchmark::State& state) {
  const auto act_type = static_cast<DType>(state.range(0));
  std::vector<float> x(kIn);
  std::mt19937 rng(2);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (auto& v : x) v = dist(rng);
  std::vector<uint8_t> q(quantized_activation_bytes(act_type, kIn));
  for (auto _ : state) {
    quantize_activation(act_type, x.data(), kIn, q.data());
    benchmark::DoNotOptimize(q.data());
  }
  state.counters["B/s"] =
      benchmark::Counter(4.0 * kIn * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_QuantizeActivation)
    ->Arg(static_cast<int64_t>(DType::kQ8_0))
    ->Arg(static_cast<int64_t>(DType::kQ8_K));

void BM_RmsNorm(benchmark::State& state) {
  std::vector<float> x(kIn, 0.3f), w(kIn, 1.0f), y(kIn);
  for (auto _ : state) {
    rms_norm(x.data(), w.data(), y.data(), kIn, 1e-5f);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["B/s"] =
      benchmark::Counter(12.0 * kIn * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RmsNorm);

void BM_SiluMul(benchmark::State& state) {
  std::vector<float> g(5632, 0.3f), u(5632, 0.7f), o(5632);
  for (auto _ : state) {
    silu_mul(g.data(), u.data(), o.data(), 5632);
    benchmark::DoNotOptimize(o.data());
  }
  state.counters["B/s"] =
      benchmark::Counter(12.0 * 5632 * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SiluMul);

void BM_Softmax(benchmark::State& state) {
  std::vector<float> x(state.range(0), 0.1f);
  for (auto _ : state) {
    softmax_inplace(x.data(), state.range(0));
    benchmark::DoNotOptimize(x.data());
  }
}
BENCHMARK(BM_Softmax)->Arg(512)->Arg(4096);

}  // namespace
}  // namespace moelab
