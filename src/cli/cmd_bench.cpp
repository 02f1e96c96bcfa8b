// `moelab bench MODEL...`: llama-bench-style prefill and decode speed, set
// against the decode floor (bytes of weights per token / measured read
// bandwidth). Output: a markdown table (default) or one JSON object per line
// per test (--json) with llama-bench's field names plus moelab's own.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/cpu_features.h"
#include "base/timer.h"
#include "bench/bandwidth.h"
#include "bench/model_bench.h"
#include "bench/peer_results.h"
#include "cli/command.h"
#include "cli/session.h"

namespace moelab {
namespace {

struct BenchArgs {
  std::vector<std::string> models;
  std::string prompts = "512", gens = "128", depths = "0", threads;
  int reps = 5;
  int max_active_experts = 0;
  float expert_threshold = 1.0f;
  std::string activations = "q8";
  std::string kv_type = "f32";
  std::string mla_mode = "auto";
  int batch = 512;
  int bandwidth_mib = 512;
  double bandwidth_gbs = 0;
  bool json = false, md = false;
  std::string peer;  // llama-bench -o json/jsonl output to set beside ours
};

// llama.cpp's llama_ftype names for general.file_type.
std::string file_type_name(int64_t ftype) {
  switch (ftype) {
    case 0:
      return "F32";
    case 1:
      return "F16";
    case 2:
      return "Q4_0";
    case 3:
      return "Q4_1";
    case 7:
      return "Q8_0";
    case 8:
      return "Q5_0";
    case 9:
      return "Q5_1";
    case 10:
      return "Q2_K";
    case 11:
      return "Q3_K_S";
    case 12:
      return "Q3_K_M";
    case 13:
      return "Q3_K_L";
    case 14:
      return "Q4_K_S";
    case 15:
      return "Q4_K_M";
    case 16:
      return "Q5_K_S";
    case 17:
      return "Q5_K_M";
    case 18:
      return "Q6_K";
    case 32:
      return "BF16";
    default:
      return "ftype " + std::to_string(ftype);
  }
}

std::string human_params(int64_t n) {
  char buf[32];
  if (n >= 1000000000) {
    std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  } else {
    std::snprintf(buf, sizeof buf, "%.0fM", n / 1e6);
  }
  return buf;
}

int run_bench(const BenchArgs& a) {
  auto prompts = parse_int_list(a.prompts, "-p");
  auto gens = parse_int_list(a.gens, "-n");
  auto depths = parse_int_list(a.depths, "-d");
  if (!prompts.is_ok()) return fail(prompts.status());
  if (!gens.is_ok()) return fail(gens.status());
  if (!depths.is_ok()) return fail(depths.status());
  std::vector<int32_t> thread_counts = {physical_core_count()};
  if (!a.threads.empty()) {
    auto t = parse_int_list(a.threads, "-t");
    if (!t.is_ok()) return fail(t.status());
    thread_counts = *t;
  }
  for (int32_t v : *prompts)
    if (v < 0) return fail("bench: -p values must be >= 0");
  for (int32_t v : *gens)
    if (v < 0) return fail("bench: -n values must be >= 0");
  for (int32_t v : *depths)
    if (v < 0) return fail("bench: -d values must be >= 0");
  for (int32_t v : thread_counts)
    if (v < 1) return fail("bench: -t values must be >= 1");

  std::vector<BenchTest> tests;
  for (int32_t d : *depths) {
    for (int32_t p : *prompts)
      if (p > 0) tests.push_back({p, 0, d});
    for (int32_t n : *gens)
      if (n > 0) tests.push_back({0, n, d});
  }
  if (tests.empty()) return fail("bench: nothing to run (-p and -n are all 0)");

  std::vector<PeerResult> peer;
  if (!a.peer.empty()) {
    auto loaded = load_peer_results(a.peer);
    if (!loaded.is_ok()) return fail(loaded.status().with_context("--peer"));
    peer = std::move(*loaded);
  }
  const bool tty = isatty(STDERR_FILENO);
  const bool markdown = !a.json;
  if (markdown) {
    std::printf("| model | size | params | threads | test | t/s | B/token | floor t/s | %% floor |%s\n",
                peer.empty() ? "" : " peer t/s | vs peer |");
    std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |%s\n",
                peer.empty() ? "" : " ---: | ---: |");
  }
  for (const std::string& path : a.models) {
    for (int32_t n_threads : thread_counts) {
      RunOptions options;
      options.threads = n_threads;
      options.max_active_experts = a.max_active_experts;
      options.expert_threshold = a.expert_threshold;
      options.activations = a.activations;
      options.kv_type = a.kv_type;
      options.mla_mode = a.mla_mode;
      auto session = ModelSession::open(path, options, false);
      if (!session.is_ok()) return fail(session.status());
      Model& model = *session->model;
      ThreadPool& pool = *session->pool;
      // The bandwidth a test ran under: given, or the mean of probes right
      // before it and after each of its repetitions. On a shared machine the
      // neighbours' traffic moves the reading by a third within seconds, so
      // one probe per model (as at first) or only at the test's two ends
      // (as next) could describe other moments than the test's.
      auto probe = [&] {
        if (a.bandwidth_gbs > 0) return a.bandwidth_gbs;
        if (tty) std::fprintf(stderr, "\r\033[Kmoelab: measuring read bandwidth");
        return measure_read_bandwidth(pool, int64_t{a.bandwidth_mib} << 20).read_gbs;
      };
      double bandwidth_sum = 0;
      int n_probes = 0;
      const auto ftype_id = model.file().get_int_or("general.file_type", 0);
      const std::string ftype = file_type_name(ftype_id.is_ok() ? *ftype_id : 0);
      const auto arch_name = model.file().get_string_or("general.architecture", "?");
      const std::string arch = arch_name.is_ok() ? *arch_name : "?";
      const std::string model_type =
          arch + " " + human_params(model.n_params_total()) + " " + ftype;
      BenchSettings settings;
      settings.reps = a.reps;
      settings.knobs = options.knobs();
      settings.max_batch_tokens = a.batch;
      settings.kv_type = options.kv();
      settings.mla_mode = options.mla();
      if (tty) {
        settings.progress = [](const std::string& s) {
          std::fprintf(stderr, "\r\033[K%s", s.c_str());
        };
      }
      std::vector<double> probes;  // this test's: before it, after each repetition
      settings.after_rep = [&] { probes.push_back(probe()); };
      for (const BenchTest& test : tests) {
        probes.assign(1, probe());
        auto m = run_bench_test(model, pool, test, settings);
        if (!m.is_ok()) {
          if (tty) std::fprintf(stderr, "\r\033[K");
          return fail(m.status().with_context(path));
        }
        if (tty) std::fprintf(stderr, "\r\033[K");
        double bandwidth = 0;
        for (double b : probes) bandwidth += b;
        bandwidth /= static_cast<double>(probes.size());
        bandwidth_sum += bandwidth;
        ++n_probes;
        // Bytes read per token: the weights at the experts actually used
        // (knobs may lower it), and for decode the KV cache the attention
        // reads: token i of n_gen after n_depth attends over n_depth + i + 1
        // positions, so n_depth + (n_gen + 1) / 2 on average. At depth the
        // cache is a large part of the traffic (deepseek at 4096: a fifth).
        const int64_t kv_read =
            test.n_prompt == 0 && test.n_gen > 0
                ? static_cast<int64_t>(
                      static_cast<double>(model.kv_layout(settings.kv_type).bytes_per_token()) *
                      (test.n_depth + (test.n_gen + 1) / 2.0))
                : 0;
        const int64_t bytes = model.bytes_per_token(m->avg_active_experts) + kv_read;
        const double floor_ts = bandwidth * 1e9 / static_cast<double>(bytes);
        const double pct = 100.0 * m->avg_ts / floor_ts;
        const int64_t peak = peak_rss_bytes();
        const PeerResult* p = find_peer_result(peer, path, test.n_prompt, test.n_gen,
                                               test.n_depth, n_threads);
        if (a.json) {
          nlohmann::ordered_json j;
          j["model_filename"] = path;
          j["model_type"] = model_type;
          j["model_size"] = model.weight_bytes();
          j["model_n_params"] = model.n_params_total();
          j["n_batch"] = a.batch;
          j["n_ubatch"] = a.batch;
          j["n_threads"] = n_threads;
          j["activations"] = a.activations;
          j["type_k"] = a.kv_type;  // llama-bench's names for the cache types
          j["type_v"] = a.kv_type;
          j["mla_mode"] = a.mla_mode;
          j["cpu_info"] = std::string(isa_name(cpu_features().best_isa()));
          j["test"] = test.name();
          j["n_prompt"] = test.n_prompt;
          j["n_gen"] = test.n_gen;
          j["n_depth"] = test.n_depth;
          j["avg_ns"] = static_cast<int64_t>(m->avg_ns);
          j["stddev_ns"] = static_cast<int64_t>(m->stddev_ns);
          j["avg_ts"] = m->avg_ts;
          j["stddev_ts"] = m->stddev_ts;
          j["samples_ns"] = m->samples_ns;
          j["samples_ts"] = m->samples_ts;
          j["bytes_per_token"] = bytes;
          j["kv_read_bytes_per_token"] = kv_read;
          j["bandwidth_gbs"] = bandwidth;
          j["bandwidth_before_gbs"] = probes.front();
          j["bandwidth_after_gbs"] = probes.back();
          j["bandwidth_samples_gbs"] = probes;
          j["floor_ts"] = floor_ts;
          j["pct_of_floor"] = pct;
          j["peak_rss_bytes"] = peak;
          j["avg_active_experts"] = m->avg_active_experts;
          if (p != nullptr) {
            j["peer_ts"] = p->avg_ts;
            j["peer_stddev_ts"] = p->stddev_ts;
            j["peer_build"] = p->build;
            j["vs_peer"] = p->avg_ts > 0 ? m->avg_ts / p->avg_ts : 0.0;
          }
          std::printf("%s\n", j.dump().c_str());
        } else {
          std::printf("| %s | %.2f GiB | %s | %d | %s | %.2f ± %.2f | %.1f MB |",
                      model_type.c_str(), model.weight_bytes() / 1073741824.0,
                      human_params(model.n_params_total()).c_str(), n_threads, test.name().c_str(),
                      m->avg_ts, m->stddev_ts, bytes / 1e6);
          // The floor is decode's: prefill reads each weight once per batch
          // and is bound by arithmetic, so a share of it says nothing there.
          if (test.n_gen > 0) {
            std::printf(" %.1f | %.0f%% |", floor_ts, pct);
          } else {
            std::printf(" - | - |");
          }
          if (!peer.empty() && p != nullptr && p->avg_ts > 0) {
            std::printf(" %.2f ± %.2f | %.2fx |", p->avg_ts, p->stddev_ts, m->avg_ts / p->avg_ts);
          } else if (!peer.empty()) {
            std::printf(" - | - |");
          }
          std::printf("\n");
        }
        std::fflush(stdout);
      }
      if (markdown) {
        std::fprintf(stderr,
                     "moelab: %s: read bandwidth %.1f GB/s (mean of the probes during each test), "
                     "peak RSS %.0f MiB\n",
                     path.c_str(), n_probes > 0 ? bandwidth_sum / n_probes : 0.0,
                     peak_rss_bytes() / 1048576.0);
      }
    }
  }
  return 0;
}

}  // namespace

void register_bench(CLI::App& app, CommandList& commands) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* sub =
      app.add_subcommand("bench", "Prefill and decode speed against the bandwidth floor");
  sub->add_option("models", a->models, "GGUF model files")->required();
  sub->add_option("-p,--n-prompt", a->prompts, "Prompt lengths, comma-separated (default 512)");
  sub->add_option("-n,--n-gen", a->gens, "Generated lengths, comma-separated (default 128)");
  sub->add_option("-d,--n-depth", a->depths, "Context depths, comma-separated (default 0)");
  sub->add_option("-r,--repetitions", a->reps, "Repetitions of each test (default 5)")
      ->check(CLI::Range(1, 1000));
  sub->add_option("-t,--threads", a->threads, "Thread counts, comma-separated (default: cores)");
  sub->add_option("-b,--batch-size", a->batch, "Tokens per prefill step (default 512)")
      ->check(CLI::Range(1, 1 << 16));
  sub->add_option("--max-active-experts", a->max_active_experts,
                  "MoE: each token uses at most K experts")
      ->check(CLI::Range(0, 1 << 16));
  sub->add_option("--expert-threshold", a->expert_threshold,
                  "MoE: each token uses the fewest ranked experts whose routing weight reaches P");
  sub->add_option("--bandwidth-mib", a->bandwidth_mib,
                  "Buffer size of the bandwidth probe in MiB (default 512)")
      ->check(CLI::Range(1, 1 << 20));
  sub->add_option("--bandwidth-gbs", a->bandwidth_gbs,
                  "Use this read bandwidth (GB/s) instead of measuring it");
  sub->add_option("--activations", a->activations,
                  "Token rows against quantized weights: q8 (8-bit integer dots) or f32")
      ->check(CLI::IsMember({"q8", "f32"}));
  add_kv_type_option(sub, a->kv_type);
  add_mla_mode_option(sub, a->mla_mode);
  auto* json = sub->add_flag("--json", a->json, "One JSON object per line per test");
  sub->add_flag("--md", a->md, "A markdown table (the default)")->excludes(json);
  sub->add_option("--peer", a->peer,
                  "A peer's results for the same tests (llama-bench -o json or -o jsonl output), "
                  "printed beside ours with the ratio");
  commands.push_back({sub, [a] { return run_bench(*a); }});
}

}  // namespace moelab
