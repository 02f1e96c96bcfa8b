#include "cli/session.h"

#include "base/progress.h"
#include "model/router.h"

namespace moelab {

Result<ModelSession> ModelSession::open(const std::string& path, const RunOptions& options,
                                        bool need_tokenizer) {
  ModelSession s;
  s.options = options;
  {
    ProgressLine progress("loading " + path);
    ModelOverrides load;
    load.activations =
        options.activations == "f32" ? Activations::kFloat32 : Activations::kQuantized;
    load.load_progress = [&progress](int64_t done, int64_t total) { progress.update(done, total); };
    MOELAB_ASSIGN_OR_RETURN(s.model, Model::load(path, load));
  }
  if (s.model->file().has("tokenizer.ggml.tokens")) {
    MOELAB_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::from_gguf(s.model->file()));
    s.tokenizer = std::make_unique<Tokenizer>(std::move(tok));
  } else if (need_tokenizer) {
    return Status::error(path + ": the file has no tokenizer (tokenizer.ggml.tokens is missing)");
  }
  MOELAB_TRY(s.validate_knobs().with_context(path));
  s.pool = std::make_unique<ThreadPool>(options.thread_count());
  return s;
}

Status ModelSession::validate_knobs() const {
  const ModelConfig& c = model->config();
  const RouterKnobs k = options.knobs();
  if (!c.is_moe()) {
    if (k.max_active_experts != 0 || k.expert_threshold != 1.0f)
      return Status::error("--max-active-experts/--expert-threshold: the model has no experts");
    return Status::ok();
  }
  Status st = validate_router_knobs(c.moe, k);
  if (st.is_ok()) return st;
  // The router names the request fields; on the command line they are flags.
  std::string message = st.message();
  for (auto [field, flag] : {std::pair<std::string, std::string>{"max_active_experts", "--max-active-experts"},
                             {"expert_threshold", "--expert-threshold"}}) {
    if (message.rfind(field, 0) == 0) message = flag + message.substr(field.size());
  }
  return Status::error(message);
}

std::unique_ptr<Engine> ModelSession::make_engine(int64_t tokens_needed, int32_t max_seqs) const {
  EngineConfig config;
  const int64_t per_token = model->kv_layout(options.kv()).bytes_per_token();
  config.kv_cache_bytes = options.kv_cache_mib > 0
                              ? int64_t{options.kv_cache_mib} << 20
                              : per_token * (tokens_needed + config.block_size) * max_seqs;
  config.max_seqs = max_seqs;
  config.mla_mode = options.mla();
  config.kv_type = options.kv();
  return std::make_unique<Engine>(*model, config, *pool, eog_tokens());
}

std::vector<int32_t> ModelSession::eog_tokens() const {
  std::vector<int32_t> out;
  if (tokenizer == nullptr) return out;
  for (int32_t id = 0; id < tokenizer->n_vocab(); ++id) {
    if (tokenizer->is_eog(id)) out.push_back(id);
  }
  return out;
}

}  // namespace moelab
