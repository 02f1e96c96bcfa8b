#include "runtime/engine.h"

#include <algorithm>

#include "base/check.h"
#include "model/router.h"

namespace moelab {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kNone: return "none";
    case FinishReason::kLength: return "length";
    case FinishReason::kStop: return "stop";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "?";
}

struct Engine::Sequence {
  int64_t id = 0;
  Request req;
  std::vector<int32_t> tokens;  // prompt, then generated
  int32_t n_prompt = 0;
  int32_t n_generated = 0;
  int32_t n_computed = 0;        // tokens whose K/V are in the cache
  std::vector<int32_t> table;    // KV block table
  int32_t n_registered = 0;      // leading full blocks registered in the prefix cache
  BlockManager::ChainKey chain;  // key of the last registered block
  uint64_t salt = 0;             // prefix-cache salt (router knobs)
  Sampler sampler;
  std::vector<TokenOutput> prompt_lp;
  std::vector<float> prompt_logits;  // [rows so far, n_vocab]
  bool prompt_lp_sent = false;
  bool scheduled = false;
  bool finished = false;

  Sequence(int64_t id_, Request r) : id(id_), req(std::move(r)), sampler(req.sampling) {}
};

Engine::Engine(Model& model, const EngineConfig& config, ThreadPool& pool,
               std::vector<int32_t> eog_tokens)
    : model_(model),
      config_(config),
      pool_(pool),
      eog_(std::move(eog_tokens)),
      cache_(KvCache::with_budget(model.kv_layout(config.kv_type), config.block_size,
                                  config.kv_cache_bytes)),
      blocks_(cache_.n_blocks(), config.block_size),
      expert_stats_(model.config()) {}

Engine::~Engine() = default;

Result<int64_t> Engine::submit(Request r) {
  const ModelConfig& c = model_.config();
  if (r.prompt.empty()) return Status::error("prompt: must contain at least one token");
  for (size_t i = 0; i < r.prompt.size(); ++i) {
    if (r.prompt[i] < 0 || r.prompt[i] >= c.n_vocab) {
      return Status::error("prompt: token id " + std::to_string(r.prompt[i]) + " at index " +
                           std::to_string(i) + " is out of range [0, " + std::to_string(c.n_vocab) + ")");
    }
  }
  if (r.max_tokens < 0) return Status::error("max_tokens: must be >= 0");
  MOELAB_TRY(r.sampling.validate());
  if (c.is_moe()) {
    MOELAB_TRY(validate_router_knobs(c.moe, r.knobs));
  } else if (r.knobs.max_active_experts != 0 || r.knobs.expert_threshold != 1.0f) {
    return Status::error("max_active_experts/expert_threshold: the model has no experts");
  }
  const int64_t need = static_cast<int64_t>(r.prompt.size()) + r.max_tokens;
  if (need > max_sequence_tokens()) {
    return Status::error("prompt + max_tokens = " + std::to_string(need) +
                         " tokens exceeds the KV cache capacity of " +
                         std::to_string(max_sequence_tokens()) + " tokens");
  }
  auto s = std::make_unique<Sequence>(next_id_++, std::move(r));
  s->tokens = s->req.prompt;
  s->n_prompt = static_cast<int32_t>(s->tokens.size());
  s->salt = (static_cast<uint64_t>(static_cast<uint32_t>(s->req.knobs.max_active_experts)) << 32) ^
            static_cast<uint64_t>(static_cast<uint32_t>(s->req.knobs.expert_threshold * 1e6f));
  counters_.prompt_tokens += s->n_prompt;
  const int64_t id = s->id;
  waiting_.push_back(std::move(s));
  return id;
}

void Engine::release(Sequence& s) {
  for (int32_t b : s.table) blocks_.release(b);
  s.table.clear();
  s.n_computed = 0;
  s.n_registered = 0;
}

void Engine::cancel(int64_t id) {
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if ((*it)->id == id) {
      release(**it);
      waiting_.erase(it);
      return;
    }
  }
  for (auto it = running_.begin(); it != running_.end(); ++it) {
    if ((*it)->id == id) {
      release(**it);
      running_.erase(it);
      return;
    }
  }
}

void Engine::reuse_prefix(Sequence& s) {
  s.chain = BlockManager::root(s.salt);
  if (!config_.prefix_cache || s.req.prompt_logprobs || s.req.prompt_logits) return;
  const int32_t bs = blocks_.block_size();
  // Keep at least one token to compute: its logits start the generation.
  const int32_t n_full = (static_cast<int32_t>(s.tokens.size()) - 1) / bs;
  for (int32_t i = 0; i < n_full; ++i) {
    const int32_t b = blocks_.lookup(s.chain, s.tokens.data() + int64_t{i} * bs);
    if (b < 0) break;
    s.table.push_back(b);
    s.chain = blocks_.key_of(b);
    s.n_computed += bs;
    s.n_registered = i + 1;
    counters_.cached_prompt_tokens += bs;
  }
}

void Engine::admit() {
  while (!waiting_.empty() && static_cast<int32_t>(running_.size()) < config_.max_seqs) {
    std::unique_ptr<Sequence> s = std::move(waiting_.front());
    waiting_.pop_front();
    if (s->n_computed == 0 && s->table.empty()) reuse_prefix(*s);
    running_.push_back(std::move(s));
  }
}

void Engine::preempt(size_t index) {
  std::unique_ptr<Sequence> s = std::move(running_[index]);
  running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(index));
  release(*s);
  if (!s->prompt_lp_sent) {  // recomputed from the start: collect again
    s->prompt_lp.clear();
    s->prompt_logits.clear();
  }
  ++counters_.preemptions;
  waiting_.push_front(std::move(s));
}

bool Engine::ensure_blocks(Sequence& s, int32_t n_tokens, size_t self_index) {
  const int32_t bs = blocks_.block_size();
  while (static_cast<int64_t>(s.table.size()) * bs < int64_t{s.n_computed} + n_tokens) {
    const int32_t b = blocks_.allocate();
    if (b >= 0) {
      s.table.push_back(b);
      continue;
    }
    // Out of blocks: preempt the most recently admitted sequence, if it was
    // admitted after this one (first come, first served).
    size_t victim = running_.size();
    for (size_t i = running_.size(); i-- > self_index + 1;) {
      if (!running_[i]->scheduled) {
        victim = i;
        break;
      }
    }
    if (victim == running_.size()) return false;
    preempt(victim);
  }
  return true;
}

void Engine::register_full_blocks(Sequence& s) {
  if (!config_.prefix_cache) return;
  const int32_t bs = blocks_.block_size();
  while (int64_t{s.n_registered + 1} * bs <= s.n_computed) {
    const int32_t b = s.table[s.n_registered];
    blocks_.register_full(b, s.chain, s.tokens.data() + int64_t{s.n_registered} * bs);
    s.chain = blocks_.key_of(b);
    ++s.n_registered;
  }
}

std::optional<FinishReason> Engine::check_finish(const Sequence& s, int32_t token) const {
  if (!s.req.ignore_eos && std::find(eog_.begin(), eog_.end(), token) != eog_.end())
    return FinishReason::kStop;
  if (std::find(s.req.stop_tokens.begin(), s.req.stop_tokens.end(), token) != s.req.stop_tokens.end())
    return FinishReason::kStop;
  if (s.n_generated >= s.req.max_tokens) return FinishReason::kLength;
  if (static_cast<int64_t>(s.tokens.size()) >= max_sequence_tokens()) return FinishReason::kLength;
  return std::nullopt;
}

Result<std::vector<EngineEvent>> Engine::step() {
  std::vector<EngineEvent> events;
  admit();
  if (running_.empty()) return events;

  struct Planned {
    Sequence* s;
    int32_t first;  // first position run
    int32_t count;
  };
  std::vector<Planned> plan;
  int32_t budget = config_.max_batch_tokens;
  for (auto& s : running_) s->scheduled = false;
  // Decodes first (one token each), then prefill chunks, in admission order.
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
      Sequence& s = *running_[i];
      if (s.scheduled) continue;
      const int32_t pending = static_cast<int32_t>(s.tokens.size()) - s.n_computed;
      if (pending <= 0 || (pass == 0) != (pending == 1)) continue;
      int32_t take = std::min(pending, budget);
      if (!ensure_blocks(s, take, i)) {
        const int64_t capacity = static_cast<int64_t>(s.table.size()) * blocks_.block_size();
        take = static_cast<int32_t>(std::max<int64_t>(0, capacity - s.n_computed));
        if (take == 0) continue;
      }
      s.scheduled = true;
      plan.push_back({&s, s.n_computed, take});
      budget -= take;
    }
  }
  if (plan.empty()) {
    // Nothing fits: the oldest sequence cannot grow even alone.
    Sequence& s = *running_.front();
    EngineEvent e;
    e.request_id = s.id;
    e.finish = FinishReason::kError;
    e.error = "the KV cache is too small for this sequence";
    release(s);
    running_.erase(running_.begin());
    events.push_back(std::move(e));
    return events;
  }

  batch_.clear();
  for (size_t k = 0; k < plan.size(); ++k) {
    const Planned& p = plan[k];
    Sequence& s = *p.s;
    const int32_t end = p.first + p.count;
    const bool samples = end == static_cast<int32_t>(s.tokens.size());
    for (int32_t pos = p.first; pos < end; ++pos) {
      const bool prompt_rows = (s.req.prompt_logprobs && pos + 1 < s.n_prompt) ||
                               (s.req.prompt_logits && pos < s.n_prompt);
      batch_.add(s.tokens[pos], pos, static_cast<int32_t>(k), prompt_rows || (samples && pos == end - 1));
    }
    BatchSequence bs;
    bs.block_table = s.table.data();
    bs.n_blocks = static_cast<int32_t>(s.table.size());
    bs.knobs = s.req.knobs;
    batch_.sequences.push_back(bs);
  }
  ForwardOptions options;
  options.mla_mode = config_.mla_mode;
  options.expert_stats = expert_stats_.empty() ? nullptr : &expert_stats_;
  MOELAB_TRY(model_.forward(batch_, cache_, output_, pool_, options));
  ++counters_.steps;
  counters_.computed_tokens += batch_.size();
  counters_.last_batch_tokens = batch_.size();

  std::vector<int32_t> row_of(batch_.size(), -1);
  for (size_t r = 0; r < output_.rows.size(); ++r) row_of[output_.rows[r]] = static_cast<int32_t>(r);
  const int32_t n_vocab = output_.n_vocab;

  int32_t batch_index = 0;
  for (const Planned& p : plan) {
    Sequence& s = *p.s;
    EngineEvent e;
    e.request_id = s.id;
    const int32_t end = p.first + p.count;
    const bool samples = end == static_cast<int32_t>(s.tokens.size());
    for (int32_t pos = p.first; pos < end; ++pos, ++batch_index) {
      if (s.req.prompt_logits && pos < s.n_prompt) {
        const float* row = output_.row(row_of[batch_index]);
        s.prompt_logits.insert(s.prompt_logits.end(), row, row + n_vocab);
      }
      if (!s.req.prompt_logprobs || pos + 1 >= s.n_prompt || row_of[batch_index] < 0) continue;
      const float* row = output_.row(row_of[batch_index]);
      TokenOutput o;
      o.token = s.tokens[pos + 1];
      o.logprob = token_logprob(row, n_vocab, o.token);
      if (s.req.top_logprobs > 0) o.top = top_logprobs(row, n_vocab, s.req.top_logprobs);
      s.prompt_lp.push_back(std::move(o));
    }
    s.n_computed = end;
    register_full_blocks(s);
    if ((s.req.prompt_logprobs || s.req.prompt_logits) && !s.prompt_lp_sent &&
        s.n_computed >= s.n_prompt) {
      e.prompt_tokens = std::move(s.prompt_lp);
      e.prompt_logits = std::move(s.prompt_logits);
      s.prompt_lp_sent = true;
    }
    std::optional<FinishReason> finish;
    if (samples && s.req.max_tokens == 0) {
      finish = FinishReason::kLength;
    } else if (samples) {
      const float* row = output_.row(row_of[batch_index - 1]);
      const int32_t token = s.sampler.sample(row, n_vocab, s.tokens);
      s.tokens.push_back(token);
      ++s.n_generated;
      ++counters_.generated_tokens;
      finish = check_finish(s, token);
      const bool hidden_stop = finish == FinishReason::kStop;  // EOS/stop ids are not output
      if (!hidden_stop) {
        TokenOutput o;
        o.token = token;
        if (s.req.top_logprobs >= 0) {
          o.logprob = token_logprob(row, n_vocab, token);
          o.top = top_logprobs(row, n_vocab, s.req.top_logprobs);
        }
        e.tokens.push_back(std::move(o));
      }
    }
    if (finish) e.finish = *finish;
    if (!e.tokens.empty() || !e.prompt_tokens.empty() || !e.prompt_logits.empty() || finish)
      events.push_back(std::move(e));
    if (finish) {
      release(s);
      s.finished = true;
    }
  }
  running_.erase(std::remove_if(running_.begin(), running_.end(),
                                [](const auto& s) { return s->finished; }),
                 running_.end());
  return events;
}

}  // namespace moelab
