// `moelab compare [MODEL_A MODEL_B]`: measures two models (by default the
// built-in pair r1-demo and v3-demo, made on first use) on this machine and
// writes the side-by-side report (table on stdout, report.{json,md,html}).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "base/progress.h"
#include "bench/bandwidth.h"
#include "bench/compare.h"
#include "bench/report.h"
#include "cli/command.h"
#include "model/synthetic/make_model.h"

namespace moelab {
namespace {

struct CompareArgs {
  std::vector<std::string> models;
  std::string concurrency = "1,4,16";
  std::string contexts = "128,512,2048";
  std::string max_active_experts;
  std::string memory;
  std::string out = "moelab-compare";
  std::string builtin_type = "f32";
  bool json = false;
  int threads = 0;
  std::string activations = "q8";
  std::string kv_type = "f32";
  CompareOptions opts;
};

std::string cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0')
    return std::string(x) + "/moelab";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0')
    return std::string(home) + "/.cache/moelab";
  return ".moelab-cache";
}

// The built-in model `preset`, made (seed 0) on first use.
Result<std::string> builtin_model(const std::string& preset, const std::string& type, bool verbose) {
  const std::string dir = cache_dir();
  const std::string path = dir + "/" + preset + "-" + type + ".gguf";
  if (std::filesystem::exists(path)) return path;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::error(dir + ": cannot create the cache directory: " + ec.message());
  MakeModelOptions opts;
  opts.preset = preset;
  opts.output_path = path + ".part";
  auto t = dtype_from_name(type);
  if (!t) return Status::error("--builtin-type: unknown weight type '" + type + "'");
  opts.weight_type = *t;
  if (verbose) {
    std::fprintf(stderr, "moelab: making the built-in model %s (first use) in %s\n", preset.c_str(), dir.c_str());
  }
  ProgressLine line("writing " + path, verbose);
  opts.progress = [&line](const MakeModelProgress& p) { line.update(p.bytes_done, p.bytes_total); };
  Status st = make_model(opts);
  line.clear();
  MOELAB_TRY(st);
  std::filesystem::rename(opts.output_path, path, ec);
  if (ec) return Status::error(path + ": cannot move the new model into place: " + ec.message());
  return path;
}

std::string label_of(const std::string& path) { return std::filesystem::path(path).stem().string(); }

int run_compare(CompareArgs& a) {
  const bool verbose = isatty(STDERR_FILENO);
  if (!a.models.empty() && a.models.size() != 2) return fail("compare: give two models (or none for the built-in pair)");
  auto conc = parse_int_list(a.concurrency, "--concurrency");
  if (!conc.is_ok()) return fail(conc.status());
  auto ctx = parse_int_list(a.contexts, "--contexts");
  if (!ctx.is_ok()) return fail(ctx.status());
  for (int32_t c : *conc)
    if (c < 1 || c > 4096) return fail("--concurrency: " + std::to_string(c) + " is outside [1, 4096]");
  for (int32_t c : *ctx)
    if (c < 1) return fail("--contexts: " + std::to_string(c) + " is not positive");
  a.opts.concurrency = *conc;
  a.opts.float_activations = a.activations == "f32";
  a.opts.kv_type = kv_type_of(a.kv_type);
  a.opts.contexts = *ctx;
  if (!a.max_active_experts.empty()) {
    auto caps = parse_int_list(a.max_active_experts, "--max-active-experts");
    if (!caps.is_ok()) return fail(caps.status());
    a.opts.max_active_experts = *caps;
  }
  const int64_t machine_memory = physical_memory_bytes();
  a.opts.memory_budget = machine_memory;
  if (!a.memory.empty()) {
    auto b = parse_bytes(a.memory);
    if (!b.is_ok()) return fail(b.status().with_context("--memory"));
    a.opts.memory_budget = *b;
  }

  std::vector<std::pair<std::string, std::string>> models;  // {path, label}
  if (a.models.empty()) {
    for (const char* preset : {"r1-demo", "v3-demo"}) {
      auto path = builtin_model(preset, a.builtin_type, verbose);
      if (!path.is_ok()) return fail(path.status());
      models.push_back({*path, preset});
    }
  } else {
    for (const std::string& m : a.models) models.push_back({m, label_of(m)});
    if (models[0].second == models[1].second) {
      models[0].second += " (A)";
      models[1].second += " (B)";
    }
  }

  ThreadPool pool(a.threads > 0 ? a.threads : physical_core_count());
  CompareReport report;
  report.options = a.opts;
  report.machine.threads = pool.size();
  report.machine.memory_bytes = machine_memory;
  if (verbose) std::fprintf(stderr, "moelab: measuring memory bandwidth\n");
  report.machine.bandwidth_gbs = measure_read_bandwidth(pool, int64_t{256} << 20).read_gbs;

  CompareProgress progress;
  if (verbose) progress = [](const std::string& line) { std::fprintf(stderr, "moelab: %s\n", line.c_str()); };
  std::vector<ModelProfile> extra;  // capped MoE variants go after A and B
  for (const auto& [path, label] : models) {
    auto profiles = profile_model(path, label, a.opts, pool, progress);
    if (!profiles.is_ok()) return fail(profiles.status());
    report.profiles.push_back((*profiles)[0]);
    for (size_t i = 1; i < profiles->size(); ++i) extra.push_back((*profiles)[i]);
  }
  for (ModelProfile& p : extra) report.profiles.push_back(std::move(p));
  for (ModelProfile& p : report.profiles) fit_budget(p, a.opts.memory_budget, a.opts.prompt_len + a.opts.gen);

  if (Status st = write_report(report, a.out); !st.is_ok()) return fail(st);
  if (a.json) {
    std::cout << report_to_json(report).dump(2) << "\n";
  } else {
    std::cout << report_table(report);
    std::cout << "\nreport written to " << a.out << "/report.{md,json,html}\n";
  }
  return 0;
}

}  // namespace

void register_compare(CLI::App& app, CommandList& commands) {
  auto a = std::make_shared<CompareArgs>();
  CLI::App* sub = app.add_subcommand(
      "compare",
      "Measure two models side by side on this machine (default: the built-in r1-demo and v3-demo). "
      "By default: one 1024-token generation after a 512-token prompt per model, 32-token generations "
      "at each concurrency, 8 tokens after each context length");
  sub->add_option("models", a->models, "MODEL_A MODEL_B (GGUF files); none: the built-in pair");
  sub->add_option("--concurrency", a->concurrency, "Concurrency levels, e.g. 1,4,16,32")->capture_default_str();
  sub->add_option("--activations", a->activations, "q8 (8-bit integer dots, default) or f32")
      ->check(CLI::IsMember({"q8", "f32"}));
  add_kv_type_option(sub, a->kv_type);
  sub->add_option("--gen", a->opts.gen, "Tokens of the latency run")->check(CLI::Range(2, 1 << 20))->capture_default_str();
  sub->add_option("--prompt-len", a->opts.prompt_len, "Prompt tokens of the latency run")
      ->check(CLI::Range(1, 1 << 20))->capture_default_str();
  sub->add_option("--repeats", a->opts.repeats, "Latency runs per model (p50/p95 over them)")
      ->check(CLI::Range(1, 1000))->capture_default_str();
  sub->add_option("--concurrency-gen", a->opts.concurrency_gen, "Tokens per sequence at each concurrency level")
      ->check(CLI::Range(2, 1 << 20))->capture_default_str();
  sub->add_option("--concurrency-prompt-len", a->opts.concurrency_prompt_len, "Prompt tokens per sequence there")
      ->check(CLI::Range(1, 1 << 20))->capture_default_str();
  sub->add_option("--contexts", a->contexts, "Context lengths for latency against context")->capture_default_str();
  sub->add_option("--context-gen", a->opts.context_gen, "Tokens decoded after each context")
      ->check(CLI::Range(2, 1 << 20))->capture_default_str();
  sub->add_option("--max-active-experts", a->max_active_experts, "MoE: also measure with these caps, e.g. 2,4");
  sub->add_option("--memory", a->memory, "Memory budget for the fit rows (default: this machine's memory)");
  sub->add_option("--out", a->out, "Report directory")->capture_default_str();
  sub->add_flag("--json", a->json, "Print report.json on stdout instead of the table");
  sub->add_option("-t,--threads", a->threads, "Threads (default: physical cores)")->check(CLI::Range(0, 1024));
  sub->add_option("--seed", a->opts.seed, "Seed of the random prompts");
  sub->add_option("--builtin-type", a->builtin_type, "Weight type of the built-in pair (f32, q8_0, q4_k, ...)")
      ->capture_default_str();
  commands.push_back({sub, [a] { return run_compare(*a); }});
}

}  // namespace moelab
