// Depth is served from the engine's prefix cache: the context prompt runs
// once (untimed), its full blocks stay cached, and each timed request that
// starts with the same tokens reuses them. Prefill speed is the tokens the
// engine actually computed in the timed request divided by its time.
#include "bench/model_bench.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "base/timer.h"
#include "runtime/engine.h"

namespace moelab {
namespace {

std::vector<int32_t> random_tokens(std::mt19937_64& rng, int32_t n, int32_t n_vocab) {
  std::uniform_int_distribution<int32_t> dist(0, n_vocab - 1);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = dist(rng);
  return out;
}

struct RequestTiming {
  double total_s = 0;    // submit to finish
  double decode_s = 0;   // first token to finish
  int64_t computed = 0;  // tokens the engine ran through forward
  int32_t generated = 0;
};

Result<RequestTiming> run_request(Engine& engine, Request req) {
  RequestTiming out;
  const int64_t computed0 = engine.counters().computed_tokens;
  Timer total;
  Timer decode;
  MOELAB_ASSIGN_OR_RETURN(int64_t id, engine.submit(std::move(req)));
  (void)id;
  while (!engine.idle()) {
    MOELAB_ASSIGN_OR_RETURN(std::vector<EngineEvent> events, engine.step());
    for (const EngineEvent& e : events) {
      if (e.finish == FinishReason::kError) return Status::error("bench: " + e.error);
      for (size_t i = 0; i < e.tokens.size(); ++i) {
        if (out.generated++ == 0) decode.reset();
      }
    }
  }
  out.total_s = total.seconds();
  out.decode_s = decode.seconds();
  out.computed = engine.counters().computed_tokens - computed0;
  return out;
}

}  // namespace

std::string BenchTest::name() const {
  std::string s = n_gen > 0 ? "tg" + std::to_string(n_gen) : "pp" + std::to_string(n_prompt);
  if (n_gen > 0 && n_prompt > 0) s = "pp" + std::to_string(n_prompt) + "+" + s;
  if (n_depth > 0) s += " @ d" + std::to_string(n_depth);
  return s;
}

void mean_and_stddev(const std::vector<double>& v, double* mean, double* stddev) {
  double m = 0;
  for (double x : v) m += x;
  m = v.empty() ? 0 : m / v.size();
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  *mean = m;
  *stddev = v.size() > 1 ? std::sqrt(ss / (v.size() - 1)) : 0.0;
}

Result<BenchMeasurement> run_bench_test(Model& model, ThreadPool& pool, const BenchTest& test,
                                        const BenchSettings& settings) {
  if (test.n_prompt < 0 || test.n_gen < 0 || test.n_depth < 0 || test.n_prompt + test.n_gen <= 0) {
    return Status::error("bench: a test needs n_prompt > 0 or n_gen > 0");
  }
  const int32_t n_vocab = model.config().n_vocab;
  EngineConfig config;
  config.max_seqs = 1;
  config.max_batch_tokens = std::max(1, settings.max_batch_tokens);
  // Room for the cached context and one full request besides it.
  const int64_t tokens = 2 * (int64_t{test.n_depth} + test.n_prompt + test.n_gen + 2) + 64;
  config.kv_type = settings.kv_type;
  config.mla_mode = settings.mla_mode;
  config.kv_cache_bytes =
      model.kv_layout(config.kv_type).bytes_per_token() * (tokens + 2 * config.block_size);
  Engine engine(model, config, pool);

  std::mt19937_64 rng(settings.seed);
  const std::vector<int32_t> context = random_tokens(rng, test.n_depth, n_vocab);
  auto make_request = [&](int32_t n_gen_tokens) {
    Request r;
    r.prompt = context;
    const std::vector<int32_t> fresh =
        random_tokens(rng, std::max<int32_t>(test.n_prompt, r.prompt.empty() ? 1 : 0), n_vocab);
    r.prompt.insert(r.prompt.end(), fresh.begin(), fresh.end());
    // Prefill tests generate the one token their last logits give; decode
    // tests one more than measured, since the first comes from the prefill.
    r.max_tokens = n_gen_tokens + 1;
    r.ignore_eos = true;
    r.knobs = settings.knobs;
    return r;
  };
  auto say = [&](const std::string& s) {
    if (settings.progress) settings.progress(test.name() + ": " + s);
  };

  if (test.n_depth > 0) {
    say("filling the context");
    Request r;
    r.prompt = context;
    r.max_tokens = 1;
    r.ignore_eos = true;
    r.knobs = settings.knobs;
    MOELAB_TRY(run_request(engine, std::move(r)).status());
  }
  BenchMeasurement m;
  m.test = test;
  for (int rep = -1; rep < settings.reps; ++rep) {
    say(rep < 0 ? "warm-up"
                : "run " + std::to_string(rep + 1) + "/" + std::to_string(settings.reps));
    if (rep == 0) engine.expert_stats().reset();
    // The warm-up decodes a few tokens only: it is there to fault the
    // weights in and start the threads, not to measure.
    const int32_t n_gen = rep < 0 ? std::min(test.n_gen, 4) : test.n_gen;
    MOELAB_ASSIGN_OR_RETURN(RequestTiming t, run_request(engine, make_request(n_gen)));
    if (rep < 0) continue;
    // Decode: the n_gen steps after the first token. Prefill (and pp+tg):
    // everything the engine computed, over the whole request.
    const bool decode_only = test.n_gen > 0 && test.n_prompt == 0;
    double seconds = decode_only ? t.decode_s : t.total_s;
    const double n = decode_only ? test.n_gen : static_cast<double>(t.computed);
    seconds = std::max(seconds, 1e-9);
    m.samples_ts.push_back(n / seconds);
    m.samples_ns.push_back(seconds * 1e9);
    if (settings.after_rep) settings.after_rep();
  }
  mean_and_stddev(m.samples_ts, &m.avg_ts, &m.stddev_ts);
  mean_and_stddev(m.samples_ns, &m.avg_ns, &m.stddev_ns);
  m.avg_active_experts = engine.expert_stats().avg_active_experts();
  return m;
}

}  // namespace moelab
