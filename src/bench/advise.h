// `moelab advise`: which model to deploy, with which settings (weight type,
// active-expert cap, KV cache type and budget), for a memory budget, a
// context length, a concurrency and an optional p95 latency target.
// Candidates come from measured compare profiles (report.json) or, without
// one, from the file's arithmetic: weight bytes, KV bytes per token, and the
// decode floor (bytes read per step / the machine's measured bandwidth).
//
// The decision published comparisons draw as a tree, made quantitative:
//   1. a candidate must fit: weights + runtime + KV(context × concurrency) <= budget;
//      within a model the least lossy setting that fits (and meets the target) is taken
//      (file's weight type before quantized ones, no expert cap before a cap, an f32
//      KV cache before f16; an f16 cache, which moves logits ~2e-3, before either of
//      the others, which move them by 0.1 and more);
//   2. with a latency target: the lowest estimated p95 latency among those meeting it
//      (low latency → usually the MoE, which reads fewer bytes per token);
//   3. else with a context asked for: whichever fits more context in the budget;
//   4. else: the highest output throughput at the concurrency among those that fit
//      (tight memory → the one that fits, usually the dense model);
//   and a plain statement when nothing fits.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/compare.h"

namespace moelab {

class Model;

struct AdviseQuery {
  int64_t memory_budget = 0;  // bytes, required
  int64_t context = 0;        // tokens per sequence; 0: not given (kDefaultContext is checked)
  int32_t concurrency = 1;
  double p95_latency_ms = 0;  // target for a whole response of `gen` tokens; 0: none
  int32_t gen = 1024;
  static constexpr int64_t kDefaultContext = 4096;
  int64_t context_or_default() const { return context > 0 ? context : kDefaultContext; }
};

// One deployable configuration of one model.
struct AdviseCandidate {
  std::string model;  // label
  bool moe = false;
  bool measured = false;  // from a profile; false: from the file's arithmetic
  std::string weight_type;
  int32_t weight_rank = 0;        // 0: the file's own type; higher: more lossy
  int32_t max_active_experts = 0;  // 0: the model's own k
  int32_t n_expert_used = 0;
  int64_t weight_bytes = 0;
  int64_t overhead_bytes = 0;  // runtime memory besides weights and KV (measured; 0 when estimated)
  int64_t kv_bytes_per_token = 0;
  std::string kv_type = "f32";  // the cache's elements (--kv-type): "f32" or "f16"
  double ttft_ms = 0;  // measured; 0 when estimated (prefill is not estimated)
  // Per-sequence time per output token and output tokens/s at measured or
  // estimated concurrency levels, ascending.
  std::vector<int32_t> concurrency;
  std::vector<double> tpot_ms;      // mean
  std::vector<double> tpot_p95_ms;  // p95 of the gaps
  std::vector<double> tokens_per_s;
  std::string basis;  // how the speed figures were obtained
};

struct CandidateVerdict {
  AdviseCandidate candidate;
  int64_t needed_bytes = 0;  // weights + overhead + KV for context × concurrency
  bool fits = false;
  int64_t max_context = 0;   // one sequence... per sequence at the concurrency
  double latency_p95_ms = 0;  // estimated for `gen` tokens at the concurrency
  double tokens_per_s = 0;    // at the concurrency
  bool meets_latency = true;
  std::string line;  // the numbers, one line
};

struct Advice {
  bool found = false;
  std::string branch;  // "latency", "context", "throughput", or "none"
  CandidateVerdict choice;
  int64_t kv_budget_bytes = 0;  // budget - weights - overhead
  std::vector<CandidateVerdict> verdicts;  // every candidate considered
  std::vector<std::string> reasons;        // why, with numbers
};

Advice advise(const AdviseQuery& query, const std::vector<AdviseCandidate>& candidates);

// Candidates measured by compare (one per profile), and for profiles
// measured with an f32 cache the same with an f16 one: half the KV bytes, the
// speed as measured (decode reads fewer bytes with f16, so no slower).
std::vector<AdviseCandidate> candidates_from_report(const CompareReport& report);
// Candidates from a model file's arithmetic: its own weight type and the
// smaller of q8_0 / q4_K, for MoE models the model's k and half of it, and
// each with an f32 and an f16 KV cache.
std::vector<AdviseCandidate> candidates_from_model(const Model& model, const std::string& label,
                                                   double bandwidth_gbs);

std::string advice_text(const AdviseQuery& query, const Advice& advice);
nlohmann::json advice_json(const AdviseQuery& query, const Advice& advice);

}  // namespace moelab
