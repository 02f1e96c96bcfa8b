#include "cli/cli.h"

#include <cstdio>

#include "base/check.h"
#include "base/thread_pool.h"
#include "cli/command.h"
#include "model/kv_cache.h"

namespace moelab {

int fail(const Status& status) { return fail(status.message()); }

int fail(const std::string& message) {
  std::fprintf(stderr, "moelab: error: %s\n", message.c_str());
  return 1;
}

void RunOptions::add_to(CLI::App* app) {
  app->add_option("-t,--threads", threads, "Threads (default: physical cores)")->check(CLI::Range(0, 1024));
  app->add_option("--max-active-experts", max_active_experts,
                  "MoE: each token uses at most K experts (default: the model's count)")
      ->check(CLI::Range(0, 1 << 16));
  app->add_option("--expert-threshold", expert_threshold,
                  "MoE: each token uses the fewest ranked experts whose routing weight reaches P (0 < P <= 1)");
  add_mla_mode_option(app, mla_mode);
  app->add_option("--activations", activations,
                  "Token rows against quantized weights: q8 (8-bit integer dots, as llama.cpp) or f32")
      ->check(CLI::IsMember({"q8", "f32"}));
  app->add_option("--kv-cache-mib", kv_cache_mib, "KV cache size in MiB (default: what the request needs)")
      ->check(CLI::Range(0, 1 << 22));
  add_kv_type_option(app, kv_type);
}

CLI::Option* add_mla_mode_option(CLI::App* app, std::string& mla_mode) {
  return app
      ->add_option("--mla-mode", mla_mode,
                   "DeepSeek MLA form: auto (the absorbed form), absorbed or decompressed")
      ->check(CLI::IsMember({"auto", "absorbed", "decompressed"}));
}

MlaMode mla_mode_of(const std::string& name) {
  return name == "absorbed"       ? MlaMode::kAbsorbed
         : name == "decompressed" ? MlaMode::kDecompressed
                                  : MlaMode::kAuto;
}

CLI::Option* add_kv_type_option(CLI::App* app, std::string& kv_type) {
  return app
      ->add_option("--kv-type", kv_type,
                   "KV cache elements: f32 (default, exact) or f16 (half the memory and the "
                   "cache reads; rounds K and V as llama.cpp's default cache does)")
      ->check(CLI::IsMember({"f32", "f16"}));
}

DType kv_type_of(const std::string& name) {
  const Result<DType> type = parse_kv_type(name);
  MOELAB_CHECK_MSG(type.is_ok(), "--kv-type was not checked");
  return *type;
}

int RunOptions::thread_count() const { return threads > 0 ? threads : physical_core_count(); }

Result<std::vector<int32_t>> parse_int_list(const std::string& text, const std::string& what) {
  std::vector<int32_t> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (...) {
      used = 0;
    }
    if (item.empty() || used != item.size() || v < INT32_MIN || v > INT32_MAX) {
      return Status::error(what + ": '" + item + "' is not an integer");
    }
    out.push_back(static_cast<int32_t>(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

int cli_main(int argc, char** argv) {
  CLI::App app{"moelab: run, serve, benchmark and compare Mixture-of-Experts and dense LLMs on CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "moelab 0.1.0");
  CommandList commands;
  register_run(app, commands);
  register_logits(app, commands);
  register_tokenize(app, commands);
  register_info(app, commands);
  register_make_model(app, commands);
  register_template(app, commands);
  register_compare(app, commands);
  register_advise(app, commands);
  register_serve(app, commands);
  register_bench_serve(app, commands);
  register_bench(app, commands);
  register_quantize(app, commands);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (const Command& c : commands) {
    if (c.app->parsed()) return c.run();
  }
  return fail("no subcommand given (see moelab --help)");
}

}  // namespace moelab
