// Measurement for `moelab compare`. Every run goes through Engine::step(),
// as the server's does; prompts are seeded random token ids (distinct per
// request, so the prefix cache cannot shorten a prefill we mean to time).
#include "bench/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <random>

#include "base/timer.h"
#include "model/model.h"
#include "runtime/engine.h"

namespace moelab {
namespace {

std::vector<int32_t> random_prompt(int32_t n, int32_t n_vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, n_vocab - 1);
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int32_t& t : out) t = pick(rng);
  return out;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS, so each
// variant's peak is its own. Linux only; false where refused.
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

// The weight bytes one step reads, from the experts the router chose in it:
// everything but routed experts once, plus each distinct chosen expert once
// per MoE layer. A step's choices are the difference of the expert counts
// before and after it.
class StepBytes {
 public:
  explicit StepBytes(const Model& m) {
    const ModelConfig& c = m.config();
    if (!c.is_moe()) {
      fixed_ = static_cast<double>(m.bytes_per_token());
      return;
    }
    double experts_per_token = 0;
    ExpertStats layout(c);
    for (const LayerExpertStats& l : layout.layers()) {
      const FfnWeights& f = m.weights().layers[l.layer].ffn;
      double bytes = 0;
      for (const TensorView* t : {&f.gate_exps, &f.up_exps, &f.down_exps})
        if (present(*t)) bytes += static_cast<double>(t->n_bytes());
      expert_bytes_.push_back(bytes / c.moe.n_expert);
      experts_per_token += c.moe.n_expert_used * expert_bytes_.back();
    }
    fixed_ = static_cast<double>(m.bytes_per_token(c.moe.n_expert_used)) - experts_per_token;
  }
  void before(const ExpertStats& s) {
    if (expert_bytes_.empty()) return;
    snapshot_.clear();
    for (const LayerExpertStats& l : s.layers()) snapshot_.push_back(l.chosen);
  }
  // {bytes read, mean distinct experts per MoE layer} of the step just run.
  std::pair<double, double> after(const ExpertStats& s) const {
    if (expert_bytes_.empty()) return {fixed_, 0.0};
    double bytes = fixed_, distinct_sum = 0;
    for (size_t i = 0; i < s.layers().size(); ++i) {
      int64_t distinct = 0;
      for (size_t e = 0; e < s.layers()[i].chosen.size(); ++e)
        distinct += s.layers()[i].chosen[e] != snapshot_[i][e] ? 1 : 0;
      bytes += static_cast<double>(distinct) * expert_bytes_[i];
      distinct_sum += static_cast<double>(distinct);
    }
    return {bytes, distinct_sum / static_cast<double>(s.layers().size())};
  }

 private:
  double fixed_ = 0;
  std::vector<double> expert_bytes_;  // [n_moe_layers] bytes of one routed expert
  std::vector<std::vector<uint64_t>> snapshot_;
};

struct Trace {
  std::vector<std::vector<double>> token_s;  // [request][token] seconds after submission
  double wall_s = 0;
  double decode_s = 0;  // decode-only steps: every token run produced an output token
  int64_t decode_tokens = 0, decode_steps = 0;
  double decode_bytes = 0, decode_distinct = 0;  // sums over decode-only steps
  int32_t peak_blocks = 0;
};

Result<Trace> run_requests(Engine& engine, const std::vector<Request>& requests, StepBytes& sb) {
  Trace t;
  t.token_s.resize(requests.size());
  std::map<int64_t, size_t> index;
  Timer timer;
  for (size_t i = 0; i < requests.size(); ++i) {
    MOELAB_ASSIGN_OR_RETURN(const int64_t id, engine.submit(requests[i]));
    index[id] = i;
  }
  while (!engine.idle()) {
    sb.before(engine.expert_stats());
    const double t0 = timer.seconds();
    MOELAB_ASSIGN_OR_RETURN(std::vector<EngineEvent> events, engine.step());
    const double t1 = timer.seconds();
    int64_t produced = 0;
    for (const EngineEvent& e : events) {
      if (e.finish == FinishReason::kError) return Status::error("engine: " + e.error);
      auto it = index.find(e.request_id);
      if (it == index.end()) continue;
      for (size_t k = 0; k < e.tokens.size(); ++k) t.token_s[it->second].push_back(t1);
      produced += static_cast<int64_t>(e.tokens.size());
    }
    const BlockManager& b = engine.blocks();
    t.peak_blocks = std::max(t.peak_blocks, b.n_used() + b.n_cached());
    if (produced > 0 && produced == engine.counters().last_batch_tokens) {
      const auto [bytes, distinct] = sb.after(engine.expert_stats());
      t.decode_s += t1 - t0;
      t.decode_tokens += produced;
      ++t.decode_steps;
      t.decode_bytes += bytes;
      t.decode_distinct += distinct;
    }
  }
  t.wall_s = timer.seconds();
  return t;
}

// Mean gap between a sequence's tokens (the first comes with the prefill).
double mean_gap_s(const std::vector<double>& times) {
  return times.size() < 2 ? 0.0 : (times.back() - times.front()) / static_cast<double>(times.size() - 1);
}

struct VariantContext {
  Model& model;
  ThreadPool& pool;
  const CompareOptions& opts;
  const CompareProgress& progress;
  RouterKnobs knobs;
  uint64_t next_seed;
};

Request make_request(VariantContext& v, int32_t prompt_len, int32_t gen) {
  Request r;
  r.prompt = random_prompt(std::max(prompt_len, 1), v.model.config().n_vocab, v.next_seed++);
  r.max_tokens = gen;
  r.ignore_eos = true;
  r.knobs = v.knobs;
  return r;
}

void say(const VariantContext& v, const std::string& label, const std::string& what) {
  if (v.progress) v.progress(label + ": " + what);
}

Status measure_latency(VariantContext& v, Engine& engine, StepBytes& sb, ModelProfile& p, int32_t& peak) {
  std::vector<double> ttft, tpot, latency, gaps, tps;
  const int32_t runs = std::max(v.opts.repeats, 1);
  for (int32_t r = 0; r < runs; ++r) {
    say(v, p.label, "latency run " + std::to_string(r + 1) + "/" + std::to_string(runs) + " (prompt " +
                        std::to_string(v.opts.prompt_len) + ", generate " + std::to_string(v.opts.gen) + ")");
    MOELAB_ASSIGN_OR_RETURN(Trace t, run_requests(engine, {make_request(v, v.opts.prompt_len, v.opts.gen)}, sb));
    peak = std::max(peak, t.peak_blocks);
    const std::vector<double>& s = t.token_s[0];
    if (s.empty()) return Status::error("the latency run produced no tokens");
    ttft.push_back(s.front() * 1e3);
    latency.push_back(s.back() * 1e3);
    tpot.push_back(mean_gap_s(s) * 1e3);
    if (s.size() > 1) tps.push_back(static_cast<double>(s.size() - 1) / (s.back() - s.front()));
    for (size_t i = 1; i < s.size(); ++i) gaps.push_back((s[i] - s[i - 1]) * 1e3);
  }
  p.latency_gen = v.opts.gen;
  p.latency_prompt = v.opts.prompt_len;
  p.latency_runs = runs;
  p.ttft_ms = percentile(ttft, 0.5);
  p.tpot_ms = percentile(tpot, 0.5);
  p.tpot_p50_ms = percentile(gaps, 0.5);
  p.tpot_p95_ms = percentile(gaps, 0.95);
  p.latency_p50_ms = percentile(latency, 0.5);
  p.latency_p95_ms = percentile(latency, 0.95);
  p.decode_tokens_per_s = percentile(tps, 0.5);
  return Status::ok();
}

Status measure_concurrency(VariantContext& v, Engine& engine, StepBytes& sb, ModelProfile& p, int32_t& peak) {
  for (const int32_t c : v.opts.concurrency) {
    say(v, p.label, "concurrency " + std::to_string(c) + " (" + std::to_string(c) + " x " +
                        std::to_string(v.opts.concurrency_gen) + " tokens)");
    std::vector<Request> reqs;
    for (int32_t i = 0; i < c; ++i) reqs.push_back(make_request(v, v.opts.concurrency_prompt_len, v.opts.concurrency_gen));
    MOELAB_ASSIGN_OR_RETURN(Trace t, run_requests(engine, reqs, sb));
    peak = std::max(peak, t.peak_blocks);
    ConcurrencyPoint pt;
    pt.concurrency = c;
    int64_t total = 0;
    double gap_sum = 0;
    for (const auto& s : t.token_s) {
      total += static_cast<int64_t>(s.size());
      gap_sum += mean_gap_s(s);
    }
    if (t.decode_steps > 0 && t.decode_s > 0) {
      pt.output_tokens_per_s = static_cast<double>(t.decode_tokens) / t.decode_s;
      pt.step_ms = t.decode_s / static_cast<double>(t.decode_steps) * 1e3;
      pt.bytes_per_step = t.decode_bytes / static_cast<double>(t.decode_steps);
      pt.bytes_per_token = t.decode_bytes / static_cast<double>(t.decode_tokens);
      pt.distinct_experts = t.decode_distinct / static_cast<double>(t.decode_steps);
    }
    pt.end_to_end_tokens_per_s = t.wall_s > 0 ? static_cast<double>(total) / t.wall_s : 0.0;
    pt.tpot_ms = gap_sum / static_cast<double>(std::max(c, 1)) * 1e3;
    p.throughput.push_back(pt);
  }
  return Status::ok();
}

Status measure_context(VariantContext& v, Engine& engine, StepBytes& sb, ModelProfile& p, int32_t& peak) {
  for (const int32_t ctx : v.opts.contexts) {
    if (ctx + v.opts.context_gen > p.n_ctx_train) {
      say(v, p.label, "context " + std::to_string(ctx) + " skipped (trained context " +
                          std::to_string(p.n_ctx_train) + ")");
      continue;
    }
    say(v, p.label, "context " + std::to_string(ctx));
    MOELAB_ASSIGN_OR_RETURN(Trace t, run_requests(engine, {make_request(v, ctx, v.opts.context_gen)}, sb));
    peak = std::max(peak, t.peak_blocks);
    const std::vector<double>& s = t.token_s[0];
    if (s.empty()) return Status::error("the context run produced no tokens");
    p.context.push_back({ctx, s.front() * 1e3, mean_gap_s(s) * 1e3});
  }
  return Status::ok();
}

int64_t tokens_needed(const CompareOptions& o, int32_t block) {
  int32_t max_c = 1;
  for (int32_t c : o.concurrency) max_c = std::max(max_c, c);
  int64_t n = int64_t{o.prompt_len} + o.gen + block;
  n = std::max<int64_t>(n, int64_t{max_c} * (o.concurrency_prompt_len + o.concurrency_gen + block));
  for (int32_t c : o.contexts) n = std::max<int64_t>(n, int64_t{c} + o.context_gen + block);
  return n + block;
}

std::string dominant_weight_type(const Model& m) {
  std::map<std::string, int64_t> bytes;
  for (const GgufTensorInfo& t : m.file().tensors()) {
    bytes[std::string(dtype_info(t.type).name)] += static_cast<int64_t>(t.n_bytes);
  }
  std::string best;
  int64_t most = -1;
  for (const auto& [name, b] : bytes)
    if (b > most) most = b, best = name;
  return best;
}

Result<ModelProfile> measure_variant(VariantContext& v, ModelProfile p) {
  const Model& m = v.model;
  EngineConfig config;
  config.max_seqs = 1;
  for (int32_t c : v.opts.concurrency) config.max_seqs = std::max(config.max_seqs, c);
  config.kv_type = v.opts.kv_type;
  config.kv_cache_bytes = p.kv_bytes_per_token * tokens_needed(v.opts, config.block_size);
  auto engine = std::make_unique<Engine>(v.model, config, v.pool);
  StepBytes sb(m);
  p.memory.peak_reset = reset_peak_rss();
  // Warm-up: fault the weights in so the first timed prefill does not pay for it.
  say(v, p.label, "warm-up");
  MOELAB_TRY(run_requests(*engine, {make_request(v, 8, 4)}, sb).status());
  engine->expert_stats().reset();
  int32_t peak_blocks = 0;
  MOELAB_TRY(measure_latency(v, *engine, sb, p, peak_blocks));
  MOELAB_TRY(measure_concurrency(v, *engine, sb, p, peak_blocks));
  MOELAB_TRY(measure_context(v, *engine, sb, p, peak_blocks));

  p.memory.peak_rss = peak_rss_bytes();
  p.memory.weights = p.weight_bytes;
  p.memory.kv = int64_t{peak_blocks} * config.block_size * p.kv_bytes_per_token;
  p.memory.rest = std::max<int64_t>(0, p.memory.peak_rss - p.memory.weights - p.memory.kv);

  const ExpertStats& stats = engine->expert_stats();
  if (!stats.empty()) {
    p.avg_active_experts = stats.avg_active_experts();
    p.expert_load.assign(static_cast<size_t>(p.n_expert), 0.0);
    double total = 0;
    for (const LayerExpertStats& l : stats.layers())
      for (size_t e = 0; e < l.chosen.size() && e < p.expert_load.size(); ++e) {
        p.expert_load[e] += static_cast<double>(l.chosen[e]);
        total += static_cast<double>(l.chosen[e]);
      }
    double max_share = 0;
    for (double& x : p.expert_load) {
      x = total > 0 ? x / total : 0.0;
      max_share = std::max(max_share, x);
    }
    p.expert_imbalance = total > 0 ? max_share * static_cast<double>(p.n_expert) : 0.0;
  }
  return p;
}

}  // namespace

void fit_budget(ModelProfile& p, int64_t budget, int32_t tokens_per_sequence) {
  p.budget_bytes = budget;
  const int64_t room = budget - p.memory.weights - p.memory.rest;
  if (room <= 0 || p.kv_bytes_per_token <= 0) {
    p.max_context = 0;
    p.max_batch = 0;
    return;
  }
  p.max_context = room / p.kv_bytes_per_token;
  p.max_batch = static_cast<int32_t>(std::min<int64_t>(
      room / (p.kv_bytes_per_token * std::max(tokens_per_sequence, 1)), INT32_MAX));
}

Result<std::vector<ModelProfile>> profile_model(const std::string& path, const std::string& label,
                                                const CompareOptions& options, ThreadPool& pool,
                                                const CompareProgress& progress) {
  if (progress) progress(label + ": loading " + path);
  ModelOverrides overrides;
  if (options.float_activations) overrides.activations = Activations::kFloat32;
  auto loaded = Model::load(path, overrides);
  if (!loaded.is_ok()) return loaded.status().with_context(path);
  std::unique_ptr<Model> model = std::move(*loaded);
  const ModelConfig& c = model->config();

  ModelProfile base;
  base.label = label;
  base.path = path;
  base.arch = c.arch;
  base.weight_type = dominant_weight_type(*model);
  base.moe = c.is_moe();
  base.n_expert = c.moe.n_expert;
  base.n_expert_used = c.moe.n_expert_used;
  base.n_ctx_train = static_cast<int32_t>(c.n_ctx_train);
  base.n_params_total = model->n_params_total();
  base.n_params_active = model->n_params_active();
  base.weight_bytes = model->weight_bytes();
  base.kv_bytes_per_token = model->kv_layout(options.kv_type).bytes_per_token();

  std::vector<int32_t> caps = {0};
  if (base.moe) {
    for (int32_t k : options.max_active_experts) {
      if (k <= 0 || k > c.moe.n_expert)
        return Status::error(path + ": --max-active-experts " + std::to_string(k) + " is outside [1, " +
                             std::to_string(c.moe.n_expert) + "]");
      if (k != c.moe.n_expert_used) caps.push_back(k);
    }
  }
  std::vector<ModelProfile> out;
  VariantContext v{*model, pool, options, progress, {}, options.seed};
  for (int32_t cap : caps) {
    ModelProfile p = base;
    p.max_active_experts = cap;
    if (cap > 0) p.label = label + " k<=" + std::to_string(cap);
    p.file_bytes_per_token = model->bytes_per_token(cap > 0 ? std::min(cap, c.moe.n_expert_used) : 0);
    v.knobs = RouterKnobs{cap, 1.0f};
    v.next_seed = options.seed * 1000003 + 17;  // the same prompts for every variant
    auto measured = measure_variant(v, std::move(p));
    if (!measured.is_ok()) return measured.status().with_context(path);
    out.push_back(std::move(*measured));
  }
  return out;
}

}  // namespace moelab
