// `moelab advise --memory BUDGET [...] [--profile report.json ...] [MODEL ...]`:
// which model to deploy, with which settings, and why (see bench/advise.h).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "bench/advise.h"
#include "bench/bandwidth.h"
#include "bench/report.h"
#include "cli/command.h"
#include "model/model.h"

namespace moelab {
namespace {

struct AdviseArgs {
  std::string memory;
  int64_t context = 0;
  int32_t concurrency = 1;
  double p95_latency_ms = 0;
  int32_t gen = 1024;
  std::vector<std::string> profiles;
  std::vector<std::string> models;
  double bandwidth_gbs = 0;
  int threads = 0;
  bool json = false;
};

Result<CompareReport> read_profile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::error(path + ": cannot open");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    return Status::error(path + ": not JSON (byte " + std::to_string(e.byte) + ")");
  }
  return report_from_json(j, path);
}

int run_advise(const AdviseArgs& a) {
  auto budget = parse_bytes(a.memory);
  if (!budget.is_ok()) return fail(budget.status().with_context("--memory"));
  if (a.profiles.empty() && a.models.empty())
    return fail("advise: give measured profiles (--profile report.json) and/or model files");
  AdviseQuery q;
  q.memory_budget = *budget;
  q.context = a.context;
  q.concurrency = a.concurrency;
  q.p95_latency_ms = a.p95_latency_ms;
  q.gen = a.gen;

  std::vector<AdviseCandidate> candidates;
  std::vector<std::string> measured_models;
  for (const std::string& path : a.profiles) {
    auto report = read_profile(path);
    if (!report.is_ok()) return fail(report.status());
    for (AdviseCandidate& c : candidates_from_report(*report)) {
      measured_models.push_back(c.model);
      candidates.push_back(std::move(c));
    }
  }
  if (!a.models.empty()) {
    double bw = a.bandwidth_gbs;
    if (bw <= 0) {
      ThreadPool pool(a.threads > 0 ? a.threads : physical_core_count());
      bw = measure_read_bandwidth(pool, int64_t{256} << 20).read_gbs;
    }
    for (const std::string& path : a.models) {
      const std::string label = std::filesystem::path(path).stem().string();
      if (std::find(measured_models.begin(), measured_models.end(), label) != measured_models.end()) continue;
      ModelOverrides load;
      load.prefault = false;  // only shapes and sizes are read
      auto model = Model::load(path, load);
      if (!model.is_ok()) return fail(model.status().with_context(path));
      for (AdviseCandidate& c : candidates_from_model(**model, label, bw)) candidates.push_back(std::move(c));
    }
  }
  const Advice advice = advise(q, candidates);
  if (a.json) std::cout << advice_json(q, advice).dump(2) << "\n";
  else std::cout << advice_text(q, advice);
  return 0;
}

}  // namespace

void register_advise(CLI::App& app, CommandList& commands) {
  auto a = std::make_shared<AdviseArgs>();
  CLI::App* sub = app.add_subcommand(
      "advise", "Which model to deploy and with which settings, for a memory budget and a workload");
  sub->add_option("--memory", a->memory, "Memory budget, e.g. 16GiB")->required();
  sub->add_option("--context", a->context, "Tokens per sequence (default: 4096, and no long-context preference)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  sub->add_option("--concurrency", a->concurrency, "Sequences served at once")->check(CLI::Range(1, 1 << 20));
  sub->add_option("--p95-latency-ms", a->p95_latency_ms, "Target p95 latency of a whole response of --gen tokens")
      ->check(CLI::PositiveNumber);
  sub->add_option("--gen", a->gen, "Tokens of a response, for the latency target")->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  sub->add_option("--profile", a->profiles, "report.json written by moelab compare (repeatable)")
      ->check(CLI::ExistingFile);
  sub->add_option("models", a->models, "GGUF model files (judged from their arithmetic)")->check(CLI::ExistingFile);
  sub->add_option("--bandwidth-gbs", a->bandwidth_gbs, "Memory bandwidth for estimates (default: measured)");
  sub->add_option("-t,--threads", a->threads, "Threads for the bandwidth probe")->check(CLI::Range(0, 1024));
  sub->add_flag("--json", a->json, "Print the advice as JSON");
  commands.push_back({sub, [a] { return run_advise(*a); }});
}

}  // namespace moelab
