// `moelab run`: generate text from a prompt (or chat turn by turn through the
// model's template), streaming it to stdout; speed and expert statistics on stderr.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>

#include <unistd.h>

#include "base/timer.h"
#include "cli/command.h"
#include "cli/session.h"
#include "runtime/chat_source.h"
#include "template/chat_template.h"

namespace moelab {
namespace {

struct RunArgs {
  std::string model;
  std::string prompt;
  int n_predict = 128;
  float temp = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int64_t seed = -1;
  bool ignore_eos = false;
  bool chat = false;
  std::string system;
  std::string expert_stats_file;
  bool expert_stats = false;
  RunOptions options;
};

struct GenerationResult {
  std::vector<int32_t> tokens;
  int32_t n_prompt = 0;
  double prompt_seconds = 0;
  double gen_seconds = 0;
  std::string error;
};

// Runs one request to completion, streaming decoded text to stdout.
GenerationResult generate(const ModelSession& s, Engine& engine, Request req) {
  GenerationResult out;
  out.n_prompt = static_cast<int32_t>(req.prompt.size());
  auto id = engine.submit(std::move(req));
  if (!id.is_ok()) {
    out.error = id.status().message();
    return out;
  }
  StreamDecoder decoder(*s.tokenizer);
  Timer timer;
  bool first = true;
  while (!engine.idle()) {
    auto events = engine.step();
    if (!events.is_ok()) {
      out.error = events.status().message();
      return out;
    }
    for (const EngineEvent& e : *events) {
      for (const TokenOutput& t : e.tokens) {
        if (first) {
          out.prompt_seconds = timer.seconds();
          timer.reset();
          first = false;
        }
        out.tokens.push_back(t.token);
        const std::string text = decoder.push(t.token);
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
      }
      if (e.finish == FinishReason::kError) out.error = e.error;
    }
  }
  const std::string rest = decoder.flush();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  if (first) out.prompt_seconds = timer.seconds();
  else out.gen_seconds = timer.seconds();
  return out;
}

void print_speed(const GenerationResult& r) {
  const double pp = r.prompt_seconds > 0 ? r.n_prompt / r.prompt_seconds : 0.0;
  // The first token comes with the prompt's step; the rest are pure decode.
  const size_t n_decode = r.tokens.empty() ? 0 : r.tokens.size() - 1;
  const double tg = r.gen_seconds > 0 ? n_decode / r.gen_seconds : 0.0;
  std::fprintf(stderr, "\nmoelab: prompt %d tokens in %.3f s (%.1f tokens/s); generated %zu tokens, decode %.1f tokens/s\n",
               r.n_prompt, r.prompt_seconds, pp, r.tokens.size(), tg);
}

int run(RunArgs& a) {
  if (!a.chat && a.prompt.empty()) return fail("run: -p/--prompt is required (or use --chat)");
  auto session = ModelSession::open(a.model, a.options, /*need_tokenizer=*/true);
  if (!session.is_ok()) return fail(session.status());
  ModelSession& s = *session;

  Request base;
  base.max_tokens = a.n_predict;
  base.sampling.temperature = a.temp;
  base.sampling.top_k = a.top_k;
  base.sampling.top_p = a.top_p;
  base.sampling.min_p = a.min_p;
  base.sampling.repetition_penalty = a.repeat_penalty;
  base.sampling.presence_penalty = a.presence_penalty;
  base.sampling.frequency_penalty = a.frequency_penalty;
  base.sampling.seed = a.seed >= 0 ? static_cast<uint64_t>(a.seed) : std::random_device{}();
  base.knobs = a.options.knobs();
  base.ignore_eos = a.ignore_eos;
  if (Status st = base.sampling.validate(); !st.is_ok()) return fail(st);

  const int64_t ctx = s.model->config().n_ctx_train;
  auto engine = s.make_engine(std::max<int64_t>(4096, std::min<int64_t>(ctx, 32768)));
  int status = 0;

  if (!a.chat) {
    Request req = base;
    req.prompt = s.tokenizer->encode(a.prompt, s.tokenizer->add_bos(), /*parse_special=*/true);
    std::fwrite(a.prompt.data(), 1, a.prompt.size(), stdout);
    GenerationResult r = generate(s, *engine, std::move(req));
    if (!r.error.empty()) return fail(r.error);
    print_speed(r);
  } else {
    auto source = chat_template_from_gguf(s.model->file());
    if (!source.is_ok()) return fail(source.status());
    if (source->fallback) std::fprintf(stderr, "moelab: the model has no chat template; using ChatML\n");
    TemplateJson messages = TemplateJson::array();
    if (!a.system.empty()) messages.push_back({{"role", "system"}, {"content", a.system}});
    const bool interactive = isatty(STDIN_FILENO);
    std::string line = a.prompt;
    bool have = !line.empty();
    for (;;) {
      if (!have) {
        if (interactive) std::fprintf(stderr, "> ");
        if (!std::getline(std::cin, line)) break;
        if (line.empty()) continue;
      }
      have = false;
      messages.push_back({{"role", "user"}, {"content", line}});
      ChatRenderOptions opts;
      opts.add_generation_prompt = true;
      opts.bos_token = source->bos_token;
      opts.eos_token = source->eos_token;
      auto prompt = render_chat(source->text, messages, opts);
      if (!prompt.is_ok()) return fail(prompt.status());
      Request req = base;
      // The template writes BOS itself where the model wants one.
      req.prompt = s.tokenizer->encode(*prompt, /*add_bos=*/false, /*parse_special=*/true);
      GenerationResult r = generate(s, *engine, std::move(req));
      if (!r.error.empty()) return fail(r.error);
      std::fputc('\n', stdout);
      print_speed(r);
      messages.push_back({{"role", "assistant"}, {"content", s.tokenizer->decode(r.tokens, false)}});
      if (!a.prompt.empty() && !interactive) break;  // -p with --chat: one turn
    }
  }

  if (a.expert_stats) {
    const ExpertStats& stats = engine->expert_stats();
    if (stats.empty()) {
      std::fprintf(stderr, "moelab: --expert-stats: the model has no experts\n");
    } else {
      std::fputs(stats.summary().c_str(), stderr);
      if (!a.expert_stats_file.empty()) {
        std::ofstream out(a.expert_stats_file);
        out << stats.to_json() << "\n";
        if (!out) return fail(a.expert_stats_file + ": cannot write");
        std::fprintf(stderr, "moelab: expert counts written to %s\n", a.expert_stats_file.c_str());
      }
    }
  }
  return status;
}

}  // namespace

void register_run(CLI::App& app, CommandList& commands) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* sub = app.add_subcommand("run", "Generate text from a prompt, streaming it");
  sub->add_option("model", a->model, "GGUF model file")->required()->check(CLI::ExistingFile);
  sub->add_option("-p,--prompt", a->prompt, "Prompt text");
  sub->add_option("-n,--n-predict", a->n_predict, "Tokens to generate")->check(CLI::Range(0, 1 << 24));
  sub->add_option("--temp", a->temp, "Temperature (0: greedy)");
  sub->add_option("--top-k", a->top_k, "Top-k (0: off)");
  sub->add_option("--top-p", a->top_p, "Top-p (1: off)");
  sub->add_option("--min-p", a->min_p, "Min-p (0: off)");
  sub->add_option("--repeat-penalty", a->repeat_penalty, "Repetition penalty (1: off)");
  sub->add_option("--presence-penalty", a->presence_penalty, "Presence penalty");
  sub->add_option("--frequency-penalty", a->frequency_penalty, "Frequency penalty");
  sub->add_option("-s,--seed", a->seed, "Sampling seed (default: random)");
  sub->add_flag("--ignore-eos", a->ignore_eos, "Do not stop at end-of-generation tokens");
  sub->add_flag("--chat", a->chat, "Chat through the model's template (turns from -p, then stdin)");
  sub->add_option("--system", a->system, "System prompt for --chat");
  sub->add_option("--expert-stats", a->expert_stats_file,
                  "Print MoE expert statistics; write the full counts as JSON to FILE if given")
      ->expected(0, 1);
  a->options.add_to(sub);
  commands.push_back({sub, [a, sub] {
                        a->expert_stats = sub->count("--expert-stats") > 0;
                        return run(*a);
                      }});
}

}  // namespace moelab
