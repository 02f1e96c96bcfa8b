// How subcommands plug into the command line: each file registers its
// CLI11 subcommand and the action to run when it was chosen.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/status.h"
#include "model/batch.h"
#include "model/model.h"

namespace moelab {

struct Command {
  CLI::App* app;
  std::function<int()> run;  // exit code
};
using CommandList = std::vector<Command>;

void register_run(CLI::App& app, CommandList& commands);
void register_logits(CLI::App& app, CommandList& commands);
void register_tokenize(CLI::App& app, CommandList& commands);
void register_info(CLI::App& app, CommandList& commands);
void register_make_model(CLI::App& app, CommandList& commands);
void register_template(CLI::App& app, CommandList& commands);
void register_compare(CLI::App& app, CommandList& commands);
void register_advise(CLI::App& app, CommandList& commands);
void register_serve(CLI::App& app, CommandList& commands);
void register_bench_serve(CLI::App& app, CommandList& commands);
void register_bench(CLI::App& app, CommandList& commands);
void register_quantize(CLI::App& app, CommandList& commands);

// Prints "moelab: error: <message>" on stderr and returns the exit code 1.
int fail(const Status& status);
int fail(const std::string& message);

// --mla-mode, as every command that runs a model offers it.
CLI::Option* add_mla_mode_option(CLI::App* app, std::string& mla_mode);
// "auto", "absorbed" or "decompressed" (checked by add_mla_mode_option).
MlaMode mla_mode_of(const std::string& name);

// --kv-type, as every command that builds a KV cache offers it.
CLI::Option* add_kv_type_option(CLI::App* app, std::string& kv_type);
// "f32" or "f16" (checked by add_kv_type_option) → the element type.
DType kv_type_of(const std::string& name);

// Options every subcommand that runs a model shares.
struct RunOptions {
  int threads = 0;                // 0: physical cores
  int max_active_experts = 0;     // 0: the model's count
  float expert_threshold = 1.0f;  // 1: off
  std::string mla_mode = "auto";
  std::string activations = "q8";  // "q8" (integer dots) or "f32"
  int kv_cache_mib = 0;           // 0: enough for the request
  std::string kv_type = "f32";    // KV cache elements: "f32" or "f16"
  void add_to(CLI::App* app);
  RouterKnobs knobs() const { return RouterKnobs{max_active_experts, expert_threshold}; }
  // The parsed --mla-mode (CLI11 has already checked it is one of the names).
  MlaMode mla() const { return mla_mode_of(mla_mode); }
  int thread_count() const;
  // The parsed --kv-type (CLI11 has already checked the name).
  DType kv() const { return kv_type_of(kv_type); }
};

// "1,2,3" → {1, 2, 3}; an error names the bad element.
Result<std::vector<int32_t>> parse_int_list(const std::string& text, const std::string& what);

}  // namespace moelab
