// The server's engine thread: the only thread that touches the Engine (and so
// the model and its KV cache). HTTP threads hand it native Requests through a
// queue and read each request's events from a RequestStream; cancellations and
// metrics snapshots travel the same way. Continuous batching, chunked prefill,
// FCFS with preemption and the prefix cache are the Engine's; this class only
// feeds it and keeps step() running while there is work.
//
// Ownership: the loop borrows the Engine, which must outlive it; streams are
// shared between the loop and the HTTP thread that reads them.
// Thread-safety: submit, cancel, snapshot and stop are safe from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "model/expert_stats.h"
#include "runtime/engine.h"
#include "server/metrics.h"

namespace moelab {

// Events of one engine request, in order. The last has finish != kNone.
class RequestStream {
 public:
  // The next event, waiting at most `timeout`; nullopt on timeout.
  std::optional<EngineEvent> next(std::chrono::milliseconds timeout);
  bool cancelled() const { return cancelled_.load(); }

 private:
  friend class EngineLoop;
  void push(EngineEvent e);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<EngineEvent> events_;
  std::atomic<bool> cancelled_{false};
  // Engine thread only:
  Request request_;
  int64_t engine_id_ = 0;
  std::chrono::steady_clock::time_point arrival_;
  std::chrono::steady_clock::time_point first_token_;
  int64_t n_tokens_ = 0;
};

// What /metrics reports, copied on the engine thread.
struct LoopSnapshot {
  EngineCounters counters;
  int32_t running = 0;
  int32_t waiting = 0;  // queued in the engine or not yet handed to it
  int32_t kv_blocks_total = 0, kv_blocks_used = 0, kv_blocks_free = 0, kv_blocks_cached = 0;
  int32_t kv_block_size = 0;
  int64_t prefix_hits = 0, prefix_lookups = 0;
  int64_t finished = 0, cancelled = 0, failed = 0;
  Histogram ttft, tpot, step_tokens;
  ExpertStats experts;
};

class EngineLoop {
 public:
  // `max_in_flight`: requests admitted at once (running + waiting); beyond
  // that submit() refuses.
  EngineLoop(Engine& engine, int32_t max_in_flight);
  ~EngineLoop();

  // Queues the requests together, or none of them (returns empty) when
  // that would exceed max_in_flight.
  std::vector<std::shared_ptr<RequestStream>> submit(std::vector<Request> requests);
  // Stops a request; its KV blocks are released on the engine thread. No
  // further events are delivered. Safe to call twice or after it finished.
  void cancel(const std::shared_ptr<RequestStream>& stream);
  LoopSnapshot snapshot();
  int32_t in_flight() const { return in_flight_.load(); }
  // Cancels whatever is left and joins the engine thread.
  void stop();

 private:
  void run();
  void deliver(std::vector<EngineEvent>& events);
  void finish(int64_t engine_id, FinishReason reason);

  Engine& engine_;
  const int32_t max_in_flight_;
  std::atomic<int32_t> in_flight_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<RequestStream>> submits_;
  std::vector<std::shared_ptr<RequestStream>> cancels_;
  std::vector<std::promise<LoopSnapshot>> snapshot_requests_;
  bool stop_ = false;

  // Engine thread only:
  std::unordered_map<int64_t, std::shared_ptr<RequestStream>> active_;
  Histogram ttft_, tpot_, step_tokens_;
  int64_t finished_ = 0, cancelled_ = 0, failed_ = 0;

  std::thread thread_;
};

}  // namespace moelab
