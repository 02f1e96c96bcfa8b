#include "server/engine_loop.h"

#include "base/log.h"

namespace moelab {

using Clock = std::chrono::steady_clock;

std::optional<EngineEvent> RequestStream::next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
  EngineEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

void RequestStream::push(EngineEvent e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }
  cv_.notify_all();
}

EngineLoop::EngineLoop(Engine& engine, int32_t max_in_flight)
    : engine_(engine),
      max_in_flight_(max_in_flight),
      ttft_(latency_buckets()),
      tpot_(latency_buckets()),
      step_tokens_({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192}) {
  thread_ = std::thread([this] { run(); });
}

EngineLoop::~EngineLoop() { stop(); }

std::vector<std::shared_ptr<RequestStream>> EngineLoop::submit(std::vector<Request> requests) {
  const int32_t n = static_cast<int32_t>(requests.size());
  int32_t current = in_flight_.load();
  do {
    if (current + n > max_in_flight_) return {};
  } while (!in_flight_.compare_exchange_weak(current, current + n));
  std::vector<std::shared_ptr<RequestStream>> out;
  const auto now = Clock::now();
  for (Request& r : requests) {
    auto s = std::make_shared<RequestStream>();
    s->request_ = std::move(r);
    s->arrival_ = now;
    out.push_back(s);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      in_flight_ -= n;
      return {};
    }
    for (auto& s : out) submits_.push_back(s);
  }
  cv_.notify_all();
  return out;
}

void EngineLoop::cancel(const std::shared_ptr<RequestStream>& stream) {
  if (!stream || stream->cancelled_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancels_.push_back(stream);
  }
  cv_.notify_all();
}

LoopSnapshot EngineLoop::snapshot() {
  std::future<LoopSnapshot> f;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stop_) {
      snapshot_requests_.emplace_back();
      f = snapshot_requests_.back().get_future();
    }
  }
  if (!f.valid()) return LoopSnapshot{};
  cv_.notify_all();
  return f.get();
}

void EngineLoop::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EngineLoop::finish(int64_t engine_id, FinishReason reason) {
  auto it = active_.find(engine_id);
  if (it == active_.end()) return;
  RequestStream& s = *it->second;
  if (reason == FinishReason::kCancelled) {
    ++cancelled_;
  } else if (reason == FinishReason::kError) {
    ++failed_;
  } else {
    ++finished_;
    const auto now = Clock::now();
    if (s.n_tokens_ == 0) ttft_.observe(std::chrono::duration<double>(now - s.arrival_).count());
    if (s.n_tokens_ >= 2) {
      tpot_.observe(std::chrono::duration<double>(now - s.first_token_).count() /
                    static_cast<double>(s.n_tokens_ - 1));
    }
  }
  active_.erase(it);
  --in_flight_;
}

void EngineLoop::deliver(std::vector<EngineEvent>& events) {
  const auto now = Clock::now();
  for (EngineEvent& e : events) {
    auto it = active_.find(e.request_id);
    if (it == active_.end()) continue;
    RequestStream& s = *it->second;
    if (!e.tokens.empty()) {
      if (s.n_tokens_ == 0) {
        s.first_token_ = now;
        ttft_.observe(std::chrono::duration<double>(now - s.arrival_).count());
      }
      s.n_tokens_ += static_cast<int64_t>(e.tokens.size());
    }
    const FinishReason reason = e.finish;
    if (!s.cancelled()) s.push(std::move(e));
    if (reason != FinishReason::kNone) finish(it->first, reason);
  }
}

void EngineLoop::run() {
  for (;;) {
    std::deque<std::shared_ptr<RequestStream>> submits;
    std::vector<std::shared_ptr<RequestStream>> cancels;
    std::vector<std::promise<LoopSnapshot>> snapshots;
    bool stopping = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stop_ || !submits_.empty() || !cancels_.empty() || !snapshot_requests_.empty() ||
               !engine_.idle();
      });
      submits.swap(submits_);
      cancels.swap(cancels_);
      snapshots.swap(snapshot_requests_);
      stopping = stop_;
    }
    for (auto& s : submits) {
      Result<int64_t> id = engine_.submit(std::move(s->request_));
      if (!id.is_ok()) {
        // The HTTP layer validates first, so this is rare: report it on the stream.
        EngineEvent e;
        e.finish = FinishReason::kError;
        e.error = id.status().message();
        s->push(std::move(e));
        ++failed_;
        --in_flight_;
        continue;
      }
      s->engine_id_ = *id;
      active_.emplace(*id, s);
    }
    for (auto& s : cancels) {
      if (s->engine_id_ == 0 || !active_.count(s->engine_id_)) continue;
      engine_.cancel(s->engine_id_);
      finish(s->engine_id_, FinishReason::kCancelled);
    }
    for (auto& p : snapshots) {
      LoopSnapshot snap;
      snap.counters = engine_.counters();
      snap.running = engine_.n_running();
      snap.waiting = engine_.n_waiting();
      {
        std::lock_guard<std::mutex> lock(mu_);
        snap.waiting += static_cast<int32_t>(submits_.size());
      }
      const BlockManager& b = engine_.blocks();
      snap.kv_blocks_total = b.n_blocks();
      snap.kv_blocks_used = b.n_used();
      snap.kv_blocks_free = b.n_free();
      snap.kv_blocks_cached = b.n_cached();
      snap.kv_block_size = b.block_size();
      snap.prefix_hits = b.hits();
      snap.prefix_lookups = b.lookups();
      snap.finished = finished_;
      snap.cancelled = cancelled_;
      snap.failed = failed_;
      snap.ttft = ttft_;
      snap.tpot = tpot_;
      snap.step_tokens = step_tokens_;
      snap.experts = engine_.expert_stats();
      p.set_value(std::move(snap));
    }
    if (stopping) break;
    if (engine_.idle()) continue;
    Result<std::vector<EngineEvent>> events = engine_.step();
    if (!events.is_ok()) {
      // A failed forward pass: fail every request rather than retry forever.
      log_line("error", "engine step failed: " + events.status().message());
      std::vector<int64_t> ids;
      for (auto& [id, s] : active_) ids.push_back(id);
      for (int64_t id : ids) {
        EngineEvent e;
        e.request_id = id;
        e.finish = FinishReason::kError;
        e.error = events.status().message();
        engine_.cancel(id);
        active_[id]->push(std::move(e));
        finish(id, FinishReason::kError);
      }
      continue;
    }
    step_tokens_.observe(static_cast<double>(engine_.counters().last_batch_tokens));
    deliver(*events);
  }
  // Stopping: cancel what is left so every block is released.
  for (auto& [id, s] : active_) {
    engine_.cancel(id);
    EngineEvent e;
    e.request_id = id;
    e.finish = FinishReason::kCancelled;
    s->push(std::move(e));
  }
  in_flight_ -= static_cast<int32_t>(active_.size());
  active_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& s : submits_) {
    EngineEvent e;
    e.finish = FinishReason::kCancelled;
    s->push(std::move(e));
    --in_flight_;
  }
  submits_.clear();
  for (auto& p : snapshot_requests_) p.set_value(LoopSnapshot{});
  snapshot_requests_.clear();
}

}  // namespace moelab
