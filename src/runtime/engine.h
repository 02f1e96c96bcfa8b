// The engine: the only caller of Model::forward. Each step() asks the
// scheduler which sequences run (decodes first, then prefill chunks, under a
// token budget; first come, first served), builds one ragged batch, runs it,
// samples, appends, and returns events. The CLI is the engine with one
// request; the server is one engine thread plus HTTP threads; benchmarks and
// comparisons drive the same engine.
//
// KV memory is paged (BlockManager): blocks are allocated as sequences grow,
// full blocks are shared through the prefix cache, and when blocks run out
// the most recently admitted sequence is preempted (its blocks freed, its
// tokens recomputed later).
//
// Thread-safety: not thread-safe; one thread drives an engine.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "model/batch.h"
#include "model/expert_stats.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "runtime/block_manager.h"
#include "runtime/sampler.h"

namespace moelab {

struct EngineConfig {
  int64_t kv_cache_bytes = int64_t{256} << 20;
  int32_t block_size = 16;
  int32_t max_seqs = 32;           // sequences running at once
  int32_t max_batch_tokens = 512;  // tokens per step (decodes + prefill chunks)
  bool prefix_cache = true;
  MlaMode mla_mode = MlaMode::kAuto;
  DType kv_type = DType::kF32;  // KV cache elements: kF32 or kF16
};

struct Request {
  std::vector<int32_t> prompt;  // must not be empty
  int32_t max_tokens = 128;
  SamplingParams sampling;
  RouterKnobs knobs;
  bool ignore_eos = false;
  std::vector<int32_t> stop_tokens;  // besides the model's end-of-generation tokens
  int32_t top_logprobs = -1;         // -1: no logprobs; k >= 0: chosen + k alternatives
  bool prompt_logprobs = false;      // logprobs of the prompt tokens (echo)
  bool prompt_logits = false;        // raw logits of every prompt position (moelab logits)
};

enum class FinishReason { kNone, kLength, kStop, kCancelled, kError };
const char* finish_reason_name(FinishReason r);

struct TokenOutput {
  int32_t token = 0;
  float logprob = 0.0f;                          // when asked for
  std::vector<std::pair<int32_t, float>> top;    // when asked for
};

struct EngineEvent {
  int64_t request_id = 0;
  std::vector<TokenOutput> tokens;         // generated this step (0 or 1)
  std::vector<TokenOutput> prompt_tokens;  // prompt logprobs, once, when asked for
  std::vector<float> prompt_logits;        // [n_prompt, n_vocab], once, when asked for
  FinishReason finish = FinishReason::kNone;
  std::string error;
};

struct EngineCounters {
  int64_t steps = 0;
  int64_t prompt_tokens = 0;      // prompt tokens admitted
  int64_t computed_tokens = 0;    // tokens run through forward
  int64_t generated_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // prompt tokens served from the prefix cache
  int64_t preemptions = 0;
  int64_t last_batch_tokens = 0;
};

class Engine {
 public:
  // `eog_tokens`: end-of-generation ids (EOS, EOT) that finish a sequence.
  Engine(Model& model, const EngineConfig& config, ThreadPool& pool,
         std::vector<int32_t> eog_tokens = {});
  ~Engine();

  // Queues a request; returns its id, or an error naming the bad field.
  Result<int64_t> submit(Request request);
  // Cancels a queued or running request (its blocks are freed at once).
  void cancel(int64_t request_id);
  // One scheduling iteration. Returns events of this step.
  Result<std::vector<EngineEvent>> step();
  bool idle() const { return running_.empty() && waiting_.empty(); }

  int32_t n_running() const { return static_cast<int32_t>(running_.size()); }
  int32_t n_waiting() const { return static_cast<int32_t>(waiting_.size()); }
  const EngineCounters& counters() const { return counters_; }
  const BlockManager& blocks() const { return blocks_; }
  const KvCache& kv_cache() const { return cache_; }
  ExpertStats& expert_stats() { return expert_stats_; }
  const Model& model() const { return model_; }
  int64_t max_sequence_tokens() const { return int64_t{blocks_.n_blocks()} * blocks_.block_size(); }

 private:
  struct Sequence;
  void admit();
  void reuse_prefix(Sequence& s);
  bool ensure_blocks(Sequence& s, int32_t n_tokens, size_t self_index);
  void preempt(size_t index);
  void release(Sequence& s);
  void register_full_blocks(Sequence& s);
  std::optional<FinishReason> check_finish(const Sequence& s, int32_t token) const;

  Model& model_;
  EngineConfig config_;
  ThreadPool& pool_;
  std::vector<int32_t> eog_;
  KvCache cache_;
  BlockManager blocks_;
  ExpertStats expert_stats_;
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;
  int64_t next_id_ = 1;
  EngineCounters counters_;
  Batch batch_;
  ForwardOutput output_;
};

}  // namespace moelab
