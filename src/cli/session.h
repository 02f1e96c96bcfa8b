// A model opened for a subcommand: the model, its tokenizer (when the file
// has one), a thread pool, and an engine configured from the run options.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "cli/command.h"
#include "model/model.h"
#include "runtime/engine.h"
#include "tokenizer/tokenizer.h"

namespace moelab {

struct ModelSession {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the file has no vocabulary
  std::unique_ptr<ThreadPool> pool;
  RunOptions options;

  // Loads MODEL; a tokenizer is required when `need_tokenizer`.
  static Result<ModelSession> open(const std::string& path, const RunOptions& options,
                                   bool need_tokenizer);
  // An engine with room for `tokens_needed` tokens per sequence (or the
  // --kv-cache-mib budget when given).
  std::unique_ptr<Engine> make_engine(int64_t tokens_needed, int32_t max_seqs = 1) const;
  std::vector<int32_t> eog_tokens() const;
  Status validate_knobs() const;
};

}  // namespace moelab
