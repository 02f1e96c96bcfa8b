// The load generator behind `moelab bench-serve`: closed-loop clients (one
// thread each) send streaming /v1/completions requests to any
// OpenAI-compatible server and time every chunk, like vLLM's
// benchmark_serving: TTFT, TPOT, ITL and end-to-end latency at
// p50/p95/p99, request and token throughput.
//
// Thread-safety: run_load is self-contained; call it from one thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "server/api.h"

namespace moelab {

struct LoadConfig {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string base_path;  // prefix before /v1/... (e.g. "" or "/api")
  std::string api_key;
  std::string model;      // "" : the first id from /v1/models
  std::vector<int32_t> concurrency = {1, 8, 32};
  int32_t requests = 0;   // per level; 0: 4 per client, at least 8
  int32_t prompt_len = 128;
  int32_t gen_len = 64;
  int32_t shared_prefix = 0;  // leading prompt tokens every request shares
  int32_t vocab = 0;          // prompt token ids from [10, vocab); 0: the server's n_vocab or 1000
  bool text_prompt = false;   // send text (one word per token, roughly) instead of ids
  uint64_t seed = 1;
  int timeout_s = 600;
};

struct LatencySummary {
  double mean = 0, p50 = 0, p95 = 0, p99 = 0;  // milliseconds
  int64_t n = 0;
};

struct LevelResult {
  int32_t concurrency = 0;
  int32_t completed = 0, failed = 0;
  std::string first_error;
  double duration_s = 0;
  int64_t prompt_tokens = 0, output_tokens = 0;
  double request_throughput = 0;  // requests/s
  double output_throughput = 0;   // generated tokens/s
  double total_throughput = 0;    // (prompt + generated) tokens/s
  LatencySummary ttft, tpot, itl, e2e;
};

Result<std::vector<LevelResult>> run_load(const LoadConfig& config);
LatencySummary summarize(std::vector<double> values_ms);
Json to_json(const LoadConfig& config, const std::vector<LevelResult>& results);
std::string format_table(const std::vector<LevelResult>& results);

}  // namespace moelab
