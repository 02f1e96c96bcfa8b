// llama-bench-style measurements of one model, driven through the Engine
// (the same scheduler, cache and sampler the server uses), so a figure
// measured here holds in the server.
//
// A test is prefill (n_prompt > 0, n_gen = 0: tokens/s of the prompt pass) or
// decode (n_gen > 0: tokens/s of n_gen single-token steps), after n_depth
// tokens of context already in the cache. Each test runs once to warm up,
// then `reps` times; prompts are seeded random token ids.
//
// Thread-safety: one run at a time per model and pool.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "model/batch.h"
#include "model/model.h"

namespace moelab {

struct BenchTest {
  int32_t n_prompt = 0;
  int32_t n_gen = 0;
  int32_t n_depth = 0;
  // "pp512", "tg128", "tg128 @ d512" (llama-bench's names).
  std::string name() const;
};

struct BenchSettings {
  int32_t reps = 5;
  RouterKnobs knobs;
  int32_t max_batch_tokens = 512;  // prefill chunk (llama-bench's n_ubatch)
  uint64_t seed = 1;
  DType kv_type = DType::kF32;  // KV cache elements
  MlaMode mla_mode = MlaMode::kAuto;
  // Called with a short status line while a test runs (for a terminal).
  std::function<void(const std::string&)> progress;
  // Called after each timed repetition, outside the timing (the CLI probes
  // the read bandwidth there).
  std::function<void()> after_rep;
};

struct BenchMeasurement {
  BenchTest test;
  std::vector<double> samples_ts;  // tokens/s of each repetition
  std::vector<double> samples_ns;  // wall time of each repetition
  double avg_ts = 0, stddev_ts = 0;
  double avg_ns = 0, stddev_ns = 0;
  double avg_active_experts = 0;  // MoE: experts per token per layer (0 for dense)
};

// Runs one test. Errors come from the engine (e.g. a token budget too small).
Result<BenchMeasurement> run_bench_test(Model& model, ThreadPool& pool, const BenchTest& test,
                                        const BenchSettings& settings);

// Mean and sample standard deviation (0 for fewer than two samples).
void mean_and_stddev(const std::vector<double>& v, double* mean, double* stddev);

}  // namespace moelab
