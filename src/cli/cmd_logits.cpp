// `moelab logits`: little-endian float32 logits of a token list, for checking
// a model against a reference (the oracle tests use this) and for debugging.
#include <cstdio>
#include <fstream>

#include "cli/command.h"
#include "cli/session.h"

namespace moelab {
namespace {

struct LogitsArgs {
  std::string model, tokens, prompt, output;
  bool all = false;
  bool add_bos = false;
  RunOptions options;
};

int run(const LogitsArgs& a) {
  if (a.tokens.empty() == a.prompt.empty()) return fail("logits: give exactly one of --tokens or -p/--prompt");
  auto session = ModelSession::open(a.model, a.options, /*need_tokenizer=*/!a.prompt.empty() || a.add_bos);
  if (!session.is_ok()) return fail(session.status());
  ModelSession& s = *session;
  std::vector<int32_t> tokens;
  if (!a.tokens.empty()) {
    auto parsed = parse_int_list(a.tokens, "--tokens");
    if (!parsed.is_ok()) return fail(parsed.status());
    tokens = *parsed;
    if (a.add_bos) tokens.insert(tokens.begin(), s.tokenizer->bos());
  } else {
    tokens = s.tokenizer->encode(a.prompt, a.add_bos, /*parse_special=*/true);
  }
  auto engine = s.make_engine(static_cast<int64_t>(tokens.size()));
  Request req;
  req.prompt = tokens;
  req.max_tokens = 0;
  req.prompt_logits = true;
  req.knobs = a.options.knobs();
  auto id = engine->submit(std::move(req));
  if (!id.is_ok()) return fail(id.status());
  std::vector<float> logits;
  while (!engine->idle()) {
    auto events = engine->step();
    if (!events.is_ok()) return fail(events.status());
    for (EngineEvent& e : *events) {
      if (!e.prompt_logits.empty()) logits = std::move(e.prompt_logits);
      if (e.finish == FinishReason::kError) return fail(e.error);
    }
  }
  const int64_t n_vocab = s.model->config().n_vocab;
  const float* begin = logits.data();
  int64_t count = static_cast<int64_t>(logits.size());
  if (!a.all) {  // the last position only
    begin += count - n_vocab;
    count = n_vocab;
  }
  std::ofstream out(a.output, std::ios::binary);
  out.write(reinterpret_cast<const char*>(begin), count * static_cast<int64_t>(sizeof(float)));
  if (!out) return fail(a.output + ": cannot write");
  std::fprintf(stderr, "moelab: wrote %lld x %lld logits to %s\n",
               static_cast<long long>(count / n_vocab), static_cast<long long>(n_vocab), a.output.c_str());
  return 0;
}

}  // namespace

void register_logits(CLI::App& app, CommandList& commands) {
  auto a = std::make_shared<LogitsArgs>();
  CLI::App* sub = app.add_subcommand("logits", "Write float32 logits of a token list to a file");
  sub->add_option("model", a->model, "GGUF model file")->required()->check(CLI::ExistingFile);
  sub->add_option("--tokens", a->tokens, "Comma-separated token ids");
  sub->add_option("-p,--prompt", a->prompt, "Text to tokenize instead of --tokens");
  sub->add_flag("--all", a->all, "Logits of every position ([n_tokens][n_vocab]), not just the last");
  sub->add_flag("--add-bos", a->add_bos, "Put the BOS token first");
  sub->add_option("-o,--output", a->output, "Output file")->required();
  a->options.add_to(sub);
  commands.push_back({sub, [a] { return run(*a); }});
}

}  // namespace moelab
