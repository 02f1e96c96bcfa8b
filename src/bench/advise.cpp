// The advisor's decision (see advise.h for the rules).
#include "bench/advise.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <tuple>

namespace moelab {
namespace {

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string setting(const AdviseCandidate& c) {
  std::string s = c.model + " [" + c.weight_type;
  if (c.moe) s += c.max_active_experts > 0 ? ", experts <= " + std::to_string(c.max_active_experts)
                                          : ", experts " + std::to_string(c.n_expert_used) + " (model's own)";
  if (c.kv_type != "f32") s += ", KV " + c.kv_type;
  return s + (c.measured ? ", measured]" : ", estimated]");
}

// Speed at concurrency `c`: the smallest measured level >= c; beyond the
// largest, its per-token time grows linearly with c (a conservative bound)
// and throughput stays flat.
void speed_at(const AdviseCandidate& a, int32_t c, double& tpot, double& tpot_p95, double& tps, bool& extrapolated) {
  tpot = tpot_p95 = tps = 0;
  extrapolated = false;
  if (a.concurrency.empty()) return;
  for (size_t i = 0; i < a.concurrency.size(); ++i) {
    if (a.concurrency[i] >= c) {
      tpot = a.tpot_ms[i];
      tpot_p95 = a.tpot_p95_ms[i];
      tps = a.tokens_per_s[i];
      return;
    }
  }
  const size_t last = a.concurrency.size() - 1;
  const double scale = static_cast<double>(c) / a.concurrency[last];
  tpot = a.tpot_ms[last] * scale;
  tpot_p95 = a.tpot_p95_ms[last] * scale;
  tps = a.tokens_per_s[last];
  extrapolated = true;
}

CandidateVerdict judge(const AdviseQuery& q, const AdviseCandidate& a) {
  CandidateVerdict v;
  v.candidate = a;
  const int64_t ctx = q.context_or_default();
  const int64_t kv = a.kv_bytes_per_token * ctx * q.concurrency;
  v.needed_bytes = a.weight_bytes + a.overhead_bytes + kv;
  v.fits = v.needed_bytes <= q.memory_budget;
  const int64_t room = q.memory_budget - a.weight_bytes - a.overhead_bytes;
  v.max_context = room > 0 && a.kv_bytes_per_token > 0 ? room / (a.kv_bytes_per_token * q.concurrency) : 0;
  double tpot = 0, tpot_p95 = 0;
  bool extrapolated = false;
  speed_at(a, q.concurrency, tpot, tpot_p95, v.tokens_per_s, extrapolated);
  v.latency_p95_ms = a.ttft_ms + std::max(q.gen - 1, 0) * tpot_p95;
  v.meets_latency = q.p95_latency_ms <= 0 || v.latency_p95_ms <= q.p95_latency_ms;
  v.line = setting(a) + ": needs " + binary_bytes(a.weight_bytes) + " weights + " + binary_bytes(a.overhead_bytes) +
           " runtime + " + binary_bytes(kv) + " KV (" + std::to_string(ctx) + " tokens x " +
           std::to_string(q.concurrency) + " x " + binary_bytes(a.kv_bytes_per_token) + "/token) = " +
           binary_bytes(v.needed_bytes) + (v.fits ? " <= " : " > ") + binary_bytes(q.memory_budget) +
           (v.fits ? " (fits)" : " (does not fit)") + "; longest context " + std::to_string(v.max_context) +
           " tokens per sequence; p95 latency of " + std::to_string(q.gen) + " tokens ~" +
           fmt("%.0f", v.latency_p95_ms) + " ms" + (extrapolated ? " (extrapolated)" : "") + ", " +
           fmt("%.1f", v.tokens_per_s) + " tok/s at concurrency " + std::to_string(q.concurrency) + " (" +
           a.basis + ")";
  return v;
}

bool less_lossy(const CandidateVerdict& x, const CandidateVerdict& y) {
  const auto key = [](const AdviseCandidate& c) {
    return std::make_tuple(c.weight_rank,
                           c.max_active_experts == 0 ? 0 : 1000 - c.max_active_experts,
                           c.kv_type == "f32" ? 0 : 1);
  };
  if (key(x.candidate) != key(y.candidate)) return key(x.candidate) < key(y.candidate);
  return x.candidate.measured && !y.candidate.measured;
}

}  // namespace

Advice advise(const AdviseQuery& q, const std::vector<AdviseCandidate>& candidates) {
  Advice out;
  for (const AdviseCandidate& c : candidates) out.verdicts.push_back(judge(q, c));
  // Per model: the least lossy setting that fits and meets the target.
  std::vector<std::string> models;
  for (const CandidateVerdict& v : out.verdicts)
    if (std::find(models.begin(), models.end(), v.candidate.model) == models.end()) models.push_back(v.candidate.model);
  std::vector<CandidateVerdict> best;
  for (const std::string& m : models) {
    std::vector<CandidateVerdict> ok;
    for (const CandidateVerdict& v : out.verdicts)
      if (v.candidate.model == m && v.fits && v.meets_latency) ok.push_back(v);
    if (ok.empty()) continue;
    std::stable_sort(ok.begin(), ok.end(), less_lossy);
    best.push_back(ok.front());
  }
  const int64_t ctx = q.context_or_default();
  if (best.empty()) {
    out.branch = "none";
    bool any_fits = false;
    for (const CandidateVerdict& v : out.verdicts) any_fits = any_fits || v.fits;
    if (!any_fits) {
      out.reasons.push_back("Neither model fits: no setting of any model fits " + std::to_string(ctx) +
                            " tokens x " + std::to_string(q.concurrency) + " sequences in " +
                            binary_bytes(q.memory_budget) + ".");
      const CandidateVerdict* smallest = nullptr;
      for (const CandidateVerdict& v : out.verdicts)
        if (!smallest || v.needed_bytes < smallest->needed_bytes) smallest = &v;
      if (smallest)
        out.reasons.push_back("The smallest, " + setting(smallest->candidate) + ", needs " +
                              binary_bytes(smallest->needed_bytes) + ".");
    } else {
      const CandidateVerdict* fastest = nullptr;
      for (const CandidateVerdict& v : out.verdicts)
        if (v.fits && (!fastest || v.latency_p95_ms < fastest->latency_p95_ms)) fastest = &v;
      out.reasons.push_back("Neither model meets the p95 latency target of " + fmt("%.0f", q.p95_latency_ms) +
                            " ms for " + std::to_string(q.gen) + " tokens within the budget; the fastest that fits, " +
                            setting(fastest->candidate) + ", takes ~" + fmt("%.0f", fastest->latency_p95_ms) + " ms.");
    }
    return out;
  }
  size_t pick = 0;
  if (q.p95_latency_ms > 0) {
    out.branch = "latency";
    for (size_t i = 1; i < best.size(); ++i)
      if (best[i].latency_p95_ms < best[pick].latency_p95_ms) pick = i;
    out.reasons.push_back("Latency target " + fmt("%.0f", q.p95_latency_ms) + " ms (p95, " + std::to_string(q.gen) +
                          " tokens): the lowest estimate is " + fmt("%.0f", best[pick].latency_p95_ms) + " ms.");
  } else if (q.context > 0) {
    out.branch = "context";
    for (size_t i = 1; i < best.size(); ++i)
      if (best[i].max_context > best[pick].max_context) pick = i;
    out.reasons.push_back("Long context asked for (" + std::to_string(q.context) + " tokens): " +
                          best[pick].candidate.model + " fits the most context in " +
                          binary_bytes(q.memory_budget) + ": " + std::to_string(best[pick].max_context) +
                          " tokens per sequence.");
  } else {
    out.branch = "throughput";
    for (size_t i = 1; i < best.size(); ++i)
      if (best[i].tokens_per_s > best[pick].tokens_per_s) pick = i;
    out.reasons.push_back(best.size() == 1
                              ? "Only " + best[pick].candidate.model + " fits the budget of " +
                                    binary_bytes(q.memory_budget) + "."
                              : "Both fit; " + best[pick].candidate.model + " has the higher output throughput at " +
                                    "concurrency " + std::to_string(q.concurrency) + ": " +
                                    fmt("%.1f", best[pick].tokens_per_s) + " tok/s.");
  }
  for (size_t i = 0; i < best.size(); ++i)
    if (i != pick) out.reasons.push_back("Runner-up: " + best[i].line);
  for (const std::string& m : models) {
    bool has = false;
    for (const CandidateVerdict& b : best) has = has || b.candidate.model == m;
    if (!has) out.reasons.push_back(m + " is out: no setting of it fits the budget" +
                                    (q.p95_latency_ms > 0 ? " and meets the latency target." : "."));
  }
  out.found = true;
  out.choice = best[pick];
  out.kv_budget_bytes = q.memory_budget - out.choice.candidate.weight_bytes - out.choice.candidate.overhead_bytes;
  return out;
}

std::string advice_text(const AdviseQuery& q, const Advice& a) {
  std::string s = "Budget " + binary_bytes(q.memory_budget) + ", context " + std::to_string(q.context_or_default()) +
                  (q.context > 0 ? "" : " (default)") + " tokens, concurrency " + std::to_string(q.concurrency) +
                  (q.p95_latency_ms > 0 ? ", p95 latency target " + fmt("%.0f", q.p95_latency_ms) + " ms for " +
                                              std::to_string(q.gen) + " tokens"
                                        : "") +
                  "\n\nCandidates:\n";
  for (const CandidateVerdict& v : a.verdicts) s += "  - " + v.line + "\n";
  s += "\n";
  if (a.found) {
    const AdviseCandidate& c = a.choice.candidate;
    s += "Deploy " + c.model + ": weight type " + c.weight_type + ", active-expert cap " +
         (c.moe ? (c.max_active_experts > 0
                       ? std::to_string(c.max_active_experts)
                       : "none (model's " + std::to_string(c.n_expert_used) + ")")
                : std::string("n/a (dense)")) +
         ", KV cache " + c.kv_type + " (--kv-type " + c.kv_type + "), KV budget " +
         binary_bytes(a.kv_budget_bytes) + " (" +
         std::to_string(c.kv_bytes_per_token > 0 ? a.kv_budget_bytes / c.kv_bytes_per_token : 0) +
         " tokens).\n";
  } else {
    s += "No recommendation.\n";
  }
  s += "Why:\n";
  for (const std::string& r : a.reasons) s += "  - " + r + "\n";
  return s;
}

nlohmann::json advice_json(const AdviseQuery& q, const Advice& a) {
  nlohmann::json cands = nlohmann::json::array();
  for (const CandidateVerdict& v : a.verdicts) {
    cands.push_back({{"model", v.candidate.model},
                     {"weight_type", v.candidate.weight_type},
                     {"max_active_experts", v.candidate.max_active_experts},
                     {"kv_type", v.candidate.kv_type},
                     {"measured", v.candidate.measured},
                     {"needed_bytes", v.needed_bytes},
                     {"fits", v.fits},
                     {"max_context", v.max_context},
                     {"latency_p95_ms", v.latency_p95_ms},
                     {"meets_latency", v.meets_latency},
                     {"tokens_per_s", v.tokens_per_s},
                     {"explanation", v.line}});
  }
  nlohmann::json j = {{"query",
                       {{"memory_budget_bytes", q.memory_budget},
                        {"context", q.context_or_default()},
                        {"concurrency", q.concurrency},
                        {"p95_latency_ms", q.p95_latency_ms},
                        {"gen", q.gen}}},
                      {"found", a.found},
                      {"branch", a.branch},
                      {"candidates", cands},
                      {"reasons", a.reasons}};
  if (a.found) {
    const AdviseCandidate& c = a.choice.candidate;
    j["choice"] = {{"model", c.model},
                   {"weight_type", c.weight_type},
                   {"max_active_experts", c.max_active_experts},
                   {"kv_type", c.kv_type},
                   {"kv_budget_bytes", a.kv_budget_bytes}};
  }
  return j;
}

}  // namespace moelab
