// The report's rows, the terminal table and report.md.
#include <cmath>
#include <cstdio>
#include <limits>

#include "bench/report.h"

namespace moelab {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMiB = 1024.0 * 1024.0;

std::string number(double v) {
  if (std::isnan(v)) return "-";
  char buf[32];
  const double a = std::fabs(v);
  if (a >= 1000 || a == 0) std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (a >= 100) std::snprintf(buf, sizeof buf, "%.1f", v);
  else if (a >= 1) std::snprintf(buf, sizeof buf, "%.2f", v);
  else std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

const ConcurrencyPoint* at_concurrency(const ModelProfile& p, int32_t c) {
  for (const ConcurrencyPoint& x : p.throughput)
    if (x.concurrency == c) return &x;
  return nullptr;
}
const ContextPoint* at_context(const ModelProfile& p, int32_t c) {
  for (const ContextPoint& x : p.context)
    if (x.context == c) return &x;
  return nullptr;
}

}  // namespace

std::string ratio_text(double a, double b) {
  if (std::isnan(a) || std::isnan(b) || a == 0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%", (b / a - 1.0) * 100.0);
  return buf;
}

std::vector<ReportRow> report_rows(const CompareReport& r) {
  std::vector<ReportRow> rows;
  const auto& ps = r.profiles;
  const auto row = [&](std::string name, std::string unit, bool lower, auto value) {
    ReportRow x{std::move(name), std::move(unit), {}, lower, ""};
    for (const ModelProfile& p : ps) x.values.push_back(value(p));
    rows.push_back(std::move(x));
  };
  const int32_t gen = ps.empty() ? r.options.gen : ps[0].latency_gen;
  const int32_t prompt = ps.empty() ? r.options.prompt_len : ps[0].latency_prompt;
  row("parameters, total", "M", true, [](const ModelProfile& p) { return p.n_params_total / 1e6; });
  row("parameters, active per token", "M", true, [](const ModelProfile& p) { return p.n_params_active / 1e6; });
  row("time to first token (prompt " + std::to_string(prompt) + ")", "ms", true,
      [](const ModelProfile& p) { return p.ttft_ms; });
  row("time per output token, mean", "ms", true, [](const ModelProfile& p) { return p.tpot_ms; });
  row("time per output token, p95", "ms", true, [](const ModelProfile& p) { return p.tpot_p95_ms; });
  row("latency to generate " + std::to_string(gen) + " tokens, p50", "ms", true,
      [](const ModelProfile& p) { return p.latency_p50_ms; });
  row("latency to generate " + std::to_string(gen) + " tokens, p95", "ms", true,
      [](const ModelProfile& p) { return p.latency_p95_ms; });
  row("decode speed, 1 sequence", "tok/s", false, [](const ModelProfile& p) { return p.decode_tokens_per_s; });
  for (int32_t c : r.options.concurrency) {
    row("output throughput, concurrency " + std::to_string(c), "tok/s", false, [c](const ModelProfile& p) {
      const ConcurrencyPoint* x = at_concurrency(p, c);
      return x ? x->output_tokens_per_s : kNaN;
    });
  }
  for (int32_t c : r.options.concurrency) {
    row("weights read per decoded token, concurrency " + std::to_string(c), "MiB", true,
        [c](const ModelProfile& p) {
          const ConcurrencyPoint* x = at_concurrency(p, c);
          return x ? x->bytes_per_token / kMiB : kNaN;
        });
  }
  for (int32_t c : r.options.concurrency) {
    row("weights read per decode step, concurrency " + std::to_string(c), "MiB", true,
        [c](const ModelProfile& p) {
          const ConcurrencyPoint* x = at_concurrency(p, c);
          return x ? x->bytes_per_step / kMiB : kNaN;
        });
  }
  for (int32_t c : r.options.concurrency) {
    row("distinct experts per MoE layer per step, concurrency " + std::to_string(c), "", true,
        [c](const ModelProfile& p) {
          const ConcurrencyPoint* x = at_concurrency(p, c);
          return x && p.moe ? x->distinct_experts : kNaN;
        });
  }
  row("peak resident memory", "MiB", true, [](const ModelProfile& p) { return p.memory.peak_rss / kMiB; });
  row("  of which weights", "MiB", true, [](const ModelProfile& p) { return p.memory.weights / kMiB; });
  row("  of which KV cache", "MiB", true, [](const ModelProfile& p) { return p.memory.kv / kMiB; });
  row("  of which the rest", "MiB", true, [](const ModelProfile& p) { return p.memory.rest / kMiB; });
  row("KV cache per token", "KiB", true, [](const ModelProfile& p) { return p.kv_bytes_per_token / 1024.0; });
  row("active experts per token (per MoE layer)", "", true,
      [](const ModelProfile& p) { return p.moe ? p.avg_active_experts : kNaN; });
  row("expert load, busiest / mean", "", true,
      [](const ModelProfile& p) { return p.moe ? p.expert_imbalance : kNaN; });
  for (int32_t c : r.options.contexts) {
    row("time per output token at context " + std::to_string(c), "ms", true, [c](const ModelProfile& p) {
      const ContextPoint* x = at_context(p, c);
      return x ? x->tpot_ms : kNaN;
    });
  }
  const std::string budget = ps.empty() ? "" : binary_bytes(static_cast<double>(ps[0].budget_bytes));
  row("longest context in " + budget, "tokens", false,
      [](const ModelProfile& p) { return static_cast<double>(p.max_context); });
  row("largest batch in " + budget + " (" + std::to_string(prompt + gen) + " tokens each)", "seqs", false,
      [](const ModelProfile& p) { return static_cast<double>(p.max_batch); });
  for (const char* name : {"long-context recall", "accuracy"}) {
    row(name, "", false, [](const ModelProfile&) { return kNaN; });
    rows.back().note = "not measured (arrives with the evaluation work)";
  }
  return rows;
}

std::string report_table(const CompareReport& r) {
  const std::vector<ReportRow> rows = report_rows(r);
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-58s", "");
  out += buf;
  for (size_t i = 0; i < r.profiles.size(); ++i) {
    std::snprintf(buf, sizeof buf, " %20.20s", r.profiles[i].label.c_str());
    out += buf;
    if (i > 0) {
      std::snprintf(buf, sizeof buf, " %8s", (std::string(1, static_cast<char>('A' + i)) + "/A").c_str());
      out += buf;
    }
  }
  out += "\n";
  for (const ReportRow& row : rows) {
    const std::string name = row.unit.empty() ? row.name : row.name + " (" + row.unit + ")";
    std::snprintf(buf, sizeof buf, "%-58.58s", name.c_str());
    out += buf;
    if (!row.note.empty()) {
      out += " " + row.note + "\n";
      continue;
    }
    for (size_t i = 0; i < row.values.size(); ++i) {
      std::snprintf(buf, sizeof buf, " %20s", number(row.values[i]).c_str());
      out += buf;
      if (i > 0) {
        std::snprintf(buf, sizeof buf, " %8s", ratio_text(row.values[0], row.values[i]).c_str());
        out += buf;
      }
    }
    out += "\n";
  }
  return out;
}

std::string report_markdown(const CompareReport& r) {
  std::string out = "# moelab compare\n\n";
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "Measured on this machine: %d threads, %s of memory, read bandwidth %.1f GB/s.\n\n",
                r.machine.threads, binary_bytes(static_cast<double>(r.machine.memory_bytes)).c_str(),
                r.machine.bandwidth_gbs);
  out += buf;
  for (size_t i = 0; i < r.profiles.size(); ++i) {
    const ModelProfile& p = r.profiles[i];
    std::snprintf(buf, sizeof buf, "- **%c: %s** — %s, %s, %s%s\n", static_cast<char>('A' + i), p.label.c_str(),
                  p.path.c_str(), p.arch.c_str(), p.weight_type.c_str(),
                  p.moe ? (", " + std::to_string(p.n_expert) + " experts, top-" + std::to_string(p.n_expert_used) +
                           (p.max_active_experts > 0 ? ", capped at " + std::to_string(p.max_active_experts) : ""))
                              .c_str()
                        : ", dense");
    out += buf;
  }
  out += "\n| metric |";
  for (size_t i = 0; i < r.profiles.size(); ++i) {
    out += " " + r.profiles[i].label + " |";
    if (i > 0) out += std::string(" ") + static_cast<char>('A' + i) + "/A |";
  }
  out += "\n|---|";
  for (size_t i = 0; i < r.profiles.size(); ++i) out += i > 0 ? "---:|---:|" : "---:|";
  out += "\n";
  for (const ReportRow& row : report_rows(r)) {
    out += "| " + row.name + (row.unit.empty() ? "" : " (" + row.unit + ")") + " |";
    for (size_t i = 0; i < row.values.size(); ++i) {
      out += " " + (row.note.empty() ? number(row.values[i]) : row.note) + " |";
      if (i > 0) out += " " + (row.note.empty() ? ratio_text(row.values[0], row.values[i]) : "") + " |";
    }
    out += "\n";
  }
  const CompareOptions& o = r.options;
  std::snprintf(buf, sizeof buf,
                "\nWhat was measured: the latency rows are %d run(s) of one sequence with a %d-token prompt "
                "generating %d tokens (p50/p95 over runs; token-gap percentiles over every gap). Throughput: "
                "N sequences of %d prompt tokens generating %d tokens each, continuous batching, counted over "
                "decode-only steps. Weights read are computed from the experts the router chose in each step. "
                "Context rows: one sequence, %d tokens decoded after the prompt. The budget rows subtract "
                "measured weights and runtime memory from the budget and divide by KV bytes per token.\n",
                o.repeats, o.prompt_len, o.gen, o.concurrency_prompt_len, o.concurrency_gen, o.context_gen);
  out += buf;
  return out;
}

}  // namespace moelab
