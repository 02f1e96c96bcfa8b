// /v1/completions and /v1/chat/completions: parse, tokenize, queue one engine
// request per prompt and choice, then turn the engine's events into OpenAI
// responses, streamed as server-sent events or whole.
#include <chrono>
#include <ctime>
#include <random>

#include <httplib.h>

#include "server/choice.h"
#include "server/server.h"

namespace moelab {

namespace {

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json bytes_of(const std::string& s) {
  Json b = Json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

// Decrements the server's count of in-flight requests when the last holder
// (the handler, or a streaming response's provider) lets go.
struct ActiveGuard {
  std::atomic<int32_t>* counter;
  explicit ActiveGuard(std::atomic<int32_t>* c) : counter(c) { ++*counter; }
  ~ActiveGuard() { --*counter; }
};

}  // namespace

struct Server::Prepared {
  std::string id;
  int64_t created = 0;
  GenerationParams params;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<Choice> choices;  // prompt p, choice j at p * n + j
  std::shared_ptr<ActiveGuard> guard;
  bool sent_role = false;
  bool done = false;
  int64_t prompt_tokens() const {
    int64_t n = 0;
    for (const auto& p : prompts) n += static_cast<int64_t>(p.size());
    return n;
  }
  int64_t completion_tokens() const {
    int64_t n = 0;
    for (const Choice& c : choices) n += c.n_generated();
    return n;
  }
  Json usage() const {
    return Json{{"prompt_tokens", prompt_tokens()},
                {"completion_tokens", completion_tokens()},
                {"total_tokens", prompt_tokens() + completion_tokens()}};
  }
};

bool Server::submit(const GenerationParams& params, const std::vector<std::vector<int32_t>>& prompts,
                    const std::string& prompt_field, Prepared* out, httplib::Response& res) {
  if (auto e = validate_knobs(model_config_, params.knobs)) {
    send_error(res, *e);
    return false;
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::string field = prompts.size() > 1 ? prompt_field + "[" + std::to_string(i) + "]" : prompt_field;
    if (auto e = validate_tokens(prompts[i], model_config_.n_vocab, field)) {
      send_error(res, *e);
      return false;
    }
    const int64_t need = static_cast<int64_t>(prompts[i].size()) + params.max_tokens;
    if (need > max_sequence_tokens_) {
      send_error(res, field_error("max_tokens", "the prompt (" + std::to_string(prompts[i].size()) +
                                                    " tokens) plus max_tokens (" + std::to_string(params.max_tokens) +
                                                    ") exceeds the context of " +
                                                    std::to_string(max_sequence_tokens_) + " tokens"));
      return false;
    }
  }
  const uint64_t base_seed = params.seed_given ? params.sampling.seed : std::random_device{}();
  std::vector<Request> requests;
  for (const auto& prompt : prompts) {
    for (int32_t j = 0; j < params.n; ++j) {
      Request r;
      r.prompt = prompt;
      r.max_tokens = params.max_tokens;
      r.sampling = params.sampling;
      r.sampling.seed = base_seed + static_cast<uint64_t>(j);
      r.knobs = params.knobs;
      r.ignore_eos = params.ignore_eos;
      r.top_logprobs = params.logprobs;
      r.prompt_logprobs = params.echo && params.logprobs >= 0;
      requests.push_back(std::move(r));
    }
  }
  if (Status st = params.sampling.validate(); !st.is_ok()) {
    send_error(res, field_error("sampling", st.message()));
    return false;
  }
  std::vector<std::shared_ptr<RequestStream>> streams = loop_->submit(std::move(requests));
  if (streams.empty()) {
    ApiError e;
    e.status = 429;
    e.type = "rate_limit_error";
    e.code = "queue_full";
    e.message = "the server is busy: " + std::to_string(loop_->in_flight()) +
                " requests are in flight (limit " + std::to_string(max_seqs_ + config_.max_queue) + ")";
    send_error(res, e);
    return false;
  }
  out->params = params;
  out->prompts = prompts;
  for (size_t i = 0; i < streams.size(); ++i)
    out->choices.emplace_back(static_cast<int32_t>(i), tokenizer_, streams[i], params.stop);
  out->id = std::to_string(next_id_++);
  out->created = static_cast<int64_t>(std::time(nullptr));
  return true;
}

namespace {

// Completions logprobs: {tokens, token_logprobs, top_logprobs, text_offset}.
struct CompletionLogprobs {
  Json tokens = Json::array(), token_logprobs = Json::array(), top_logprobs = Json::array(),
       text_offset = Json::array();
  void add(const std::string& piece, const TokenOutput* t, size_t offset, const Tokenizer& tok) {
    tokens.push_back(piece);
    if (t == nullptr) {
      token_logprobs.push_back(nullptr);
      top_logprobs.push_back(nullptr);
    } else {
      token_logprobs.push_back(t->logprob);
      Json top = Json::object();
      for (const auto& [id, lp] : t->top) top[tok.token_to_piece(id, true)] = lp;
      top_logprobs.push_back(top);
    }
    text_offset.push_back(offset);
  }
  Json json() const {
    return Json{{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top_logprobs},
                {"text_offset", text_offset}};
  }
};

// The echoed prompt: its text (token pieces, so offsets agree) and, with
// logprobs, the prompt's entries (the first token has none).
std::string echo_prompt(const Tokenizer& tok, const std::vector<int32_t>& prompt,
                        const std::vector<TokenOutput>& prompt_lp, CompletionLogprobs* lp) {
  std::string text;
  for (size_t i = 0; i < prompt.size(); ++i) {
    const std::string piece = tok.token_to_piece(prompt[i], false);
    if (lp) lp->add(piece, i == 0 || i - 1 >= prompt_lp.size() ? nullptr : &prompt_lp[i - 1], text.size(), tok);
    text += piece;
  }
  return text;
}

Json chat_logprob_entry(const Tokenizer& tok, const TokenOutput& t) {
  const std::string piece = tok.token_to_piece(t.token, true);
  Json top = Json::array();
  for (const auto& [id, lp] : t.top) {
    const std::string p = tok.token_to_piece(id, true);
    top.push_back(Json{{"token", p}, {"logprob", lp}, {"bytes", bytes_of(p)}});
  }
  return Json{{"token", piece}, {"logprob", t.logprob}, {"bytes", bytes_of(piece)}, {"top_logprobs", top}};
}

}  // namespace

void Server::respond(std::shared_ptr<Prepared> prep, bool chat, httplib::Response& res) {
  const std::string object = chat ? "chat.completion" : "text_completion";
  const std::string id = (chat ? "chatcmpl-" : "cmpl-") + prep->id;
  const int32_t n = prep->params.n;

  if (!prep->params.stream) {
    EngineEvent e;
    while (true) {
      bool open = false;
      for (const Choice& c : prep->choices) open |= !c.finished();
      if (!open) break;
      const int i = wait_any(prep->choices, &e, std::chrono::milliseconds(200));
      if (i >= 0) prep->choices[i].apply(e, *loop_);
    }
    Json choices = Json::array();
    for (Choice& c : prep->choices) {
      if (c.finish_reason() == "error" || c.finish_reason() == "cancelled") {
        ApiError err;
        err.status = c.finish_reason() == "error" ? 500 : 503;
        err.type = "server_error";
        err.message = c.finish_reason() == "error" ? c.error() : "the request was cancelled (server shutting down)";
        for (Choice& o : prep->choices) loop_->cancel(o.stream());
        return send_error(res, err);
      }
      const auto& prompt = prep->prompts[static_cast<size_t>(c.index() / n)];
      Json choice = {{"index", c.index()}};
      if (chat) {
        choice["message"] = Json{{"role", "assistant"}, {"content", c.text()}};
        if (prep->params.logprobs >= 0) {
          Json content = Json::array();
          for (const TokenOutput& t : c.tokens()) content.push_back(chat_logprob_entry(tokenizer_, t));
          choice["logprobs"] = Json{{"content", content}};
        } else {
          choice["logprobs"] = nullptr;
        }
      } else {
        CompletionLogprobs lp;
        const bool want_lp = prep->params.logprobs >= 0;
        std::string text;
        if (prep->params.echo) text = echo_prompt(tokenizer_, prompt, c.prompt_tokens(), want_lp ? &lp : nullptr);
        const size_t base = text.size();
        text += c.text();
        if (want_lp) {
          for (size_t k = 0; k < c.tokens().size(); ++k)
            lp.add(tokenizer_.token_to_piece(c.tokens()[k].token, true), &c.tokens()[k],
                   base + c.text_offsets()[k], tokenizer_);
        }
        choice["text"] = text;
        choice["logprobs"] = want_lp ? lp.json() : Json();
      }
      choice["finish_reason"] = c.finish_reason();
      choices.push_back(std::move(choice));
    }
    Json body = {{"id", id},           {"object", object},   {"created", prep->created},
                 {"model", config_.model_name}, {"choices", choices}, {"usage", prep->usage()}};
    res.set_content(dump(body), "application/json");
    return;
  }

  // Streaming: one SSE event per engine event that carries text or logprobs.
  const std::string chunk_object = chat ? "chat.completion.chunk" : "text_completion";
  auto chunk = [this, prep, id, chunk_object](Json choices) {
    return Json{{"id", id}, {"object", chunk_object}, {"created", prep->created},
                {"model", config_.model_name}, {"choices", std::move(choices)}};
  };
  auto provider = [this, prep, chat, chunk, n](size_t, httplib::DataSink& sink) -> bool {
    auto send = [&](const Json& j) {
      const std::string s = "data: " + dump(j) + "\n\n";
      return sink.write(s.data(), s.size());
    };
    auto cancel_all = [&] {
      for (Choice& c : prep->choices) loop_->cancel(c.stream());
    };
    if (!prep->sent_role) {
      prep->sent_role = true;
      Json choices = Json::array();
      for (const Choice& c : prep->choices) {
        Json ch = {{"index", c.index()}};
        if (chat) {
          ch["delta"] = Json{{"role", "assistant"}, {"content", ""}};
          ch["logprobs"] = nullptr;
          ch["finish_reason"] = nullptr;
          choices.push_back(std::move(ch));
        }
      }
      if (chat && !send(chunk(choices))) return cancel_all(), false;
    }
    for (;;) {
      bool open = false;
      for (const Choice& c : prep->choices) open |= !c.finished();
      if (!open) {
            if (prep->params.include_usage) {
          Json u = chunk(Json::array());
          u["usage"] = prep->usage();
          if (!send(u)) return false;
        }
        const std::string done = "data: [DONE]\n\n";
        if (!sink.write(done.data(), done.size())) return false;
        sink.done();
        return true;
      }
      EngineEvent e;
      const int i = wait_any(prep->choices, &e, std::chrono::milliseconds(100));
      if (i < 0) {
        if (!sink.is_writable()) return cancel_all(), false;
        continue;
      }
      Choice& c = prep->choices[static_cast<size_t>(i)];
      ChoiceDelta d = c.apply(e, *loop_);
      if (c.finish_reason() == "error" || c.finish_reason() == "cancelled") {
        ApiError err;
        err.status = 500;
        err.type = "server_error";
        err.message = c.finish_reason() == "error" ? c.error() : "cancelled: the server is shutting down";
        send(err.to_json());
        cancel_all();
        const std::string done = "data: [DONE]\n\n";
        sink.write(done.data(), done.size());
        sink.done();
        return true;
      }
      Json ch = {{"index", c.index()}};
      const bool want_lp = prep->params.logprobs >= 0;
      if (chat) {
        ch["delta"] = d.text.empty() ? Json::object() : Json{{"content", d.text}};
        if (want_lp && !d.tokens.empty()) {
          Json content = Json::array();
          for (const TokenOutput& t : d.tokens) content.push_back(chat_logprob_entry(tokenizer_, t));
          ch["logprobs"] = Json{{"content", content}};
        } else {
          ch["logprobs"] = nullptr;
        }
      } else {
        CompletionLogprobs lp;
        std::string text;
        size_t base = 0;
        if (prep->params.echo) {
          const auto& prompt = prep->prompts[static_cast<size_t>(c.index() / n)];
          // The prompt is echoed in the choice's first chunk.
          base = echo_prompt(tokenizer_, prompt, {}, nullptr).size();
          if (!c.prompt_echoed) {
            c.prompt_echoed = true;
            text = echo_prompt(tokenizer_, prompt, c.prompt_tokens(), want_lp ? &lp : nullptr);
          }
        }
        text += d.text;
        if (want_lp) {
          for (size_t k = 0; k < d.tokens.size(); ++k)
            lp.add(tokenizer_.token_to_piece(d.tokens[k].token, true), &d.tokens[k], base + d.text_offsets[k],
                   tokenizer_);
        }
        ch["text"] = text;
        ch["logprobs"] = want_lp ? lp.json() : Json();
        if (text.empty() && d.tokens.empty() && !d.finished) continue;
      }
      if (chat && d.text.empty() && d.tokens.empty() && !d.finished) continue;
      ch["finish_reason"] = d.finished ? Json(c.finish_reason()) : Json();
      Json choices = Json::array({ch});
      if (!send(chunk(choices))) return cancel_all(), false;
      return true;
    }
  };
  auto releaser = [this, prep](bool) {
    for (Choice& c : prep->choices) loop_->cancel(c.stream());
    prep->guard.reset();
  };
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", provider, releaser);
}

void Server::handle_completions(const httplib::Request& req, httplib::Response& res) {
  auto guard = std::make_shared<ActiveGuard>(&active_);
  Json body;
  if (auto e = parse_body(req.body, &body)) return send_error(res, *e);
  CompletionRequest cr;
  if (auto e = parse_completion_request(body, &cr)) return send_error(res, *e);
  std::vector<std::vector<int32_t>> prompts;
  for (const PromptInput& p : cr.prompts) {
    prompts.push_back(p.is_text ? tokenizer_.encode(p.text, tokenizer_.add_bos(), /*parse_special=*/true)
                                : p.tokens);
  }
  auto prep = std::make_shared<Prepared>();
  if (!submit(cr.params, prompts, "prompt", prep.get(), res)) return;
  prep->guard = guard;
  respond(prep, /*chat=*/false, res);
  if (!cr.params.stream) prep->guard.reset();
}

void Server::handle_chat(const httplib::Request& req, httplib::Response& res) {
  auto guard = std::make_shared<ActiveGuard>(&active_);
  Json body;
  if (auto e = parse_body(req.body, &body)) return send_error(res, *e);
  ChatRequest cr;
  if (auto e = parse_chat_request(body, &cr)) return send_error(res, *e);
  ChatRenderOptions opts;
  opts.add_generation_prompt = true;
  opts.bos_token = chat_template_.bos_token;
  opts.eos_token = chat_template_.eos_token;
  opts.tools = cr.tools;
  auto text = render_chat(chat_template_.text, cr.messages, opts);
  if (!text.is_ok()) return send_error(res, field_error("messages", "the chat template failed: " + text.status().message()));
  // The template writes BOS itself where the model wants one.
  std::vector<std::vector<int32_t>> prompts = {tokenizer_.encode(*text, /*add_bos=*/false, /*parse_special=*/true)};
  GenerationParams& p = cr.params;
  if (p.max_tokens < 0) {
    // No limit given: up to the model's context (or the cache), whichever is smaller.
    const int64_t ctx = model_config_.n_ctx_train > 0 ? std::min<int64_t>(model_config_.n_ctx_train, max_sequence_tokens_)
                                                      : max_sequence_tokens_;
    p.max_tokens = static_cast<int32_t>(std::max<int64_t>(1, ctx - static_cast<int64_t>(prompts[0].size())));
  }
  auto prep = std::make_shared<Prepared>();
  if (!submit(p, prompts, "messages", prep.get(), res)) return;
  prep->guard = guard;
  respond(prep, /*chat=*/true, res);
  if (!p.stream) prep->guard.reset();
}

}  // namespace moelab
