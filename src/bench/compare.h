// `moelab compare`: measures, on this machine and through the same Engine the
// server uses, the figures published sparse-versus-dense comparisons show
// (time to first token, time per output token, latency of a long generation,
// throughput under concurrency with continuous batching, bytes read per
// decoded token, memory, expert activity), for each model and, for MoE
// models, each requested cap on active experts.
//
// Every figure here is measured, except where a field says it is derived from
// the file's arithmetic (bytes of weights read per step are computed from the
// experts the router actually chose in that step; the budget fit is
// arithmetic on measured memory).
//
// Thread-safety: profile_model drives one engine from the calling thread;
// the structs are plain values.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "base/timer.h"  // physical_memory_bytes
#include "base/units.h"  // binary_bytes, used by every report writer
#include "tensor/dtype.h"

namespace moelab {

struct CompareOptions {
  std::vector<int32_t> concurrency = {1, 4, 16};
  int32_t gen = 1024;         // tokens of the single-sequence latency run
  int32_t prompt_len = 512;   // prompt tokens of the latency run
  int32_t repeats = 1;        // latency runs per variant (p50/p95 over them)
  int32_t concurrency_gen = 32;         // tokens per sequence at each concurrency level
  int32_t concurrency_prompt_len = 32;  // prompt tokens per sequence there
  std::vector<int32_t> contexts = {128, 512, 2048};  // latency against context
  int32_t context_gen = 8;    // tokens decoded after each context's prompt
  std::vector<int32_t> max_active_experts;  // MoE variants besides the model's own k
  int64_t memory_budget = 0;  // bytes; 0: this machine's physical memory
  uint64_t seed = 1;          // prompts are seeded random token ids
  bool float_activations = false;  // true: --activations f32 (default: 8-bit integer dots)
  DType kv_type = DType::kF32;     // KV cache elements (--kv-type)
};

// Throughput of `concurrency` sequences decoding together.
struct ConcurrencyPoint {
  int32_t concurrency = 0;
  double output_tokens_per_s = 0;  // all sequences, decode-only steps
  double end_to_end_tokens_per_s = 0;  // generated tokens / wall time, prefill included
  double step_ms = 0;              // mean decode-only step
  double tpot_ms = 0;              // per sequence: mean gap between its tokens
  double bytes_per_step = 0;       // weights read per decode step (from chosen experts)
  double bytes_per_token = 0;      // bytes_per_step / tokens in the step
  double distinct_experts = 0;     // per MoE layer per decode step (0 for dense)
};

// One sequence decoding after a prompt of `context` tokens.
struct ContextPoint {
  int32_t context = 0;
  double ttft_ms = 0;
  double tpot_ms = 0;
};

struct MemoryBreakdown {
  int64_t peak_rss = 0;  // measured peak resident set of the variant's runs
  int64_t weights = 0;   // the file's tensor bytes (mapped; all read while decoding)
  int64_t kv = 0;        // KV blocks in use at the peak
  int64_t rest = 0;      // peak_rss - weights - kv (scratch, runtime, binary), >= 0
  bool peak_reset = false;  // false: the peak could not be reset before this variant
};

// One model at one router setting, measured.
struct ModelProfile {
  std::string label;   // e.g. "r1-demo" or "r1-demo (k<=2)"
  std::string path;
  std::string arch;
  std::string weight_type;  // the type most weight bytes have
  bool moe = false;
  int32_t n_expert = 0;
  int32_t n_expert_used = 0;     // the model's own k
  int32_t max_active_experts = 0;  // the cap this variant ran with (0: none)
  int32_t n_ctx_train = 0;
  int64_t n_params_total = 0;
  int64_t n_params_active = 0;
  int64_t weight_bytes = 0;
  int64_t kv_bytes_per_token = 0;
  int64_t file_bytes_per_token = 0;  // the file's arithmetic for one token alone

  // Single sequence, --prompt-len prompt, --gen tokens.
  int32_t latency_gen = 0;
  int32_t latency_prompt = 0;
  int32_t latency_runs = 0;
  double ttft_ms = 0;          // median over runs
  double tpot_ms = 0;          // mean gap between tokens (median over runs)
  double tpot_p50_ms = 0;      // over every gap of every run
  double tpot_p95_ms = 0;
  double latency_p50_ms = 0;   // submit to last token
  double latency_p95_ms = 0;
  double decode_tokens_per_s = 0;  // (n - 1) / (t_last - t_first), median over runs

  std::vector<ConcurrencyPoint> throughput;
  std::vector<ContextPoint> context;
  MemoryBreakdown memory;

  double avg_active_experts = 0;   // per token per MoE layer
  std::vector<double> expert_load;  // [n_expert] share of choices, summed over layers
  double expert_imbalance = 0;      // max/mean of expert_load

  // For the memory budget: what fits besides weights and `rest`.
  int64_t budget_bytes = 0;
  int64_t max_context = 0;    // one sequence
  int32_t max_batch = 0;      // sequences of prompt_len + gen tokens
};

struct MachineInfo {
  double bandwidth_gbs = 0;  // measured read bandwidth
  int32_t threads = 0;
  int64_t memory_bytes = 0;  // physical memory
};

struct CompareReport {
  MachineInfo machine;
  CompareOptions options;
  std::vector<ModelProfile> profiles;  // [0] is A, [1] is B, then capped MoE variants
};

// Progress lines ("r1-demo: concurrency 4 ..."); may be empty.
using CompareProgress = std::function<void(const std::string& line)>;

// Loads `path` and measures it at the model's own router setting and, if it
// is an MoE model, at each of options.max_active_experts. Errors name the
// file and the failing step.
Result<std::vector<ModelProfile>> profile_model(const std::string& path, const std::string& label,
                                                const CompareOptions& options, ThreadPool& pool,
                                                const CompareProgress& progress);

// Fills the budget fields of `p` for `budget` bytes.
void fit_budget(ModelProfile& p, int64_t budget, int32_t tokens_per_sequence);

// "8GiB", "512M", "1.5G", "1000000" → bytes (powers of 1024 for K/M/G/T with or
// without "iB"/"B"); an error names the text.
Result<int64_t> parse_bytes(const std::string& text);

}  // namespace moelab
