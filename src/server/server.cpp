#include "server/server.h"

#include <chrono>
#include <thread>

#include <sys/socket.h>

#include <httplib.h>

#include "base/log.h"
#include "server/metrics.h"

namespace moelab {

namespace {

std::string dump(const Json& j) {
  // Token pieces can be partial UTF-8: replace rather than throw.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool valid_utf8(const std::string& s) {
  try {
    (void)Json(s).dump();
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

Server::Server(Engine& engine, const Tokenizer& tokenizer, ChatTemplateSource chat_template,
               ServerConfig config)
    : engine_(engine),
      tokenizer_(tokenizer),
      chat_template_(std::move(chat_template)),
      config_(std::move(config)),
      model_config_(engine.model().config()),
      max_sequence_tokens_(engine.max_sequence_tokens()),
      max_seqs_(config_.max_seqs),
      loop_(std::make_unique<EngineLoop>(engine, config_.max_seqs + config_.max_queue)),
      http_(std::make_unique<httplib::Server>()) {
  setup_routes();
}

Server::~Server() {
  if (!shut_down_) {
    draining_ = true;
    http_->stop();
    loop_->stop();
  }
}

Result<int> Server::bind() {
  if (config_.port == 0) {
    port_ = http_->bind_to_any_port(config_.host);
    if (port_ <= 0) return Status::error("cannot bind to " + config_.host + " on any port");
  } else {
    if (!http_->bind_to_port(config_.host, config_.port))
      return Status::error("cannot bind to " + config_.host + ":" + std::to_string(config_.port));
    port_ = config_.port;
  }
  if (listen_socket_ >= 0) ::listen(listen_socket_, 1024);
  return port_;
}

void Server::serve() { http_->listen_after_bind(); }

void Server::shutdown() {
  if (shut_down_.exchange(true)) return;
  draining_ = true;
  // In-flight requests finish (streams included) before the socket closes:
  // httplib aborts chunked responses once stopped.
  while (active_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  http_->stop();
  loop_->stop();
}

void Server::send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump(e.to_json()), "application/json");
}

void Server::setup_routes() {
  httplib::Server& s = *http_;
  const int32_t threads = config_.http_threads > 0 ? config_.http_threads
                                                   : config_.max_seqs + config_.max_queue + 8;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.set_payload_max_length(config_.max_body_bytes);
  s.set_keep_alive_max_count(1000);
  s.set_tcp_nodelay(true);  // each SSE chunk leaves at once
  // Remember the listening socket: httplib listens with a backlog of 5, too
  // few for a burst of clients (dropped SYNs cost a one-second retry).
  s.set_socket_options([this](int sock) {
    httplib::default_socket_options(sock);
    listen_socket_ = sock;
  });

  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // Health and metrics stay open (probes and Prometheus scrapers carry no key).
    if (req.path == "/health" || (req.path == "/metrics" && !draining_))
      return httplib::Server::HandlerResponse::Unhandled;
    if (draining_) {
      ApiError e;
      e.status = 503;
      e.type = "server_error";
      e.message = "the server is shutting down";
      send_error(res, e);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!config_.api_key.empty()) {
      const std::string auth = req.get_header_value("Authorization");
      if (auth != "Bearer " + config_.api_key) {
        ApiError e;
        e.status = 401;
        e.type = "authentication_error";
        e.code = "invalid_api_key";
        e.message = auth.empty() ? "missing API key: send Authorization: Bearer KEY"
                                 : "invalid API key";
        send_error(res, e);
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    ApiError e;
    e.status = res.status;
    if (res.status == 404) {
      e.message = "no route for " + req.method + " " + req.path;
      e.code = "not_found";
    } else if (res.status == 413) {
      e.message = "the request body exceeds " + std::to_string(config_.max_body_bytes) + " bytes";
    } else {
      e.message = "HTTP error " + std::to_string(res.status);
    }
    send_error(res, e);
  });

  s.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    ApiError e;
    e.status = 500;
    e.type = "server_error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& ex) {
      e.message = std::string("internal error: ") + ex.what();
    } catch (...) {
      e.message = "internal error";
    }
    send_error(res, e);
  });

  s.set_logger([this](const httplib::Request&, const httplib::Response& res) {
    std::lock_guard<std::mutex> lock(status_mu_);
    ++responses_by_status_[res.status];
  });

  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (draining_) {
      res.status = 503;
      res.set_content(R"({"status":"shutting down"})", "application/json");
    } else {
      res.set_content(R"({"status":"ok"})", "application/json");
    }
  });
  s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    Json m = {{"id", config_.model_name},
              {"object", "model"},
              {"created", static_cast<int64_t>(std::time(nullptr))},
              {"owned_by", "moelab"},
              {"max_model_len", max_sequence_tokens_},
              // llama-server's shape, so load generators can draw valid token ids.
              {"meta", {{"n_vocab", model_config_.n_vocab}, {"n_ctx_train", model_config_.n_ctx_train}}}};
    res.set_content(dump(Json{{"object", "list"}, {"data", Json::array({m})}}), "application/json");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) { handle_metrics(res); });
  s.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    handle_tokenize(req, res);
  });
  s.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
    handle_detokenize(req, res);
  });
  s.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_completions(req, res);
  });
  s.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_chat(req, res);
  });
}

void Server::handle_metrics(httplib::Response& res) {
  LoopSnapshot snap = loop_->snapshot();
  PrometheusWriter w;
  w.header("moelab_requests_total", "counter", "HTTP responses by status code");
  {
    std::lock_guard<std::mutex> lock(status_mu_);
    for (const auto& [status, n] : responses_by_status_)
      w.sample("moelab_requests_total", static_cast<double>(n), "status=\"" + std::to_string(status) + "\"");
  }
  w.header("moelab_sequences_total", "counter", "Engine sequences by outcome");
  w.sample("moelab_sequences_total", static_cast<double>(snap.finished), "outcome=\"finished\"");
  w.sample("moelab_sequences_total", static_cast<double>(snap.cancelled), "outcome=\"cancelled\"");
  w.sample("moelab_sequences_total", static_cast<double>(snap.failed), "outcome=\"error\"");
  w.counter("moelab_prompt_tokens_total", "Prompt tokens admitted", static_cast<double>(snap.counters.prompt_tokens));
  w.counter("moelab_generation_tokens_total", "Tokens generated",
            static_cast<double>(snap.counters.generated_tokens));
  w.counter("moelab_computed_tokens_total", "Tokens run through the model",
            static_cast<double>(snap.counters.computed_tokens));
  w.counter("moelab_cached_prompt_tokens_total", "Prompt tokens served from the prefix cache",
            static_cast<double>(snap.counters.cached_prompt_tokens));
  w.counter("moelab_engine_steps_total", "Engine steps", static_cast<double>(snap.counters.steps));
  w.counter("moelab_preemptions_total", "Sequences preempted for KV memory",
            static_cast<double>(snap.counters.preemptions));
  w.gauge("moelab_running_sequences", "Sequences running", snap.running);
  w.gauge("moelab_waiting_sequences", "Sequences waiting", snap.waiting);
  w.gauge("moelab_kv_blocks_total", "KV cache blocks", snap.kv_blocks_total);
  w.gauge("moelab_kv_blocks_used", "KV blocks owned by sequences (0 when idle)", snap.kv_blocks_used);
  w.gauge("moelab_kv_blocks_free", "KV blocks free", snap.kv_blocks_free);
  w.gauge("moelab_kv_blocks_cached", "KV blocks unowned but kept in the prefix cache", snap.kv_blocks_cached);
  w.gauge("moelab_kv_block_size", "Tokens per KV block", snap.kv_block_size);
  w.counter("moelab_prefix_cache_hits_total", "KV blocks served from the prefix cache",
            static_cast<double>(snap.prefix_hits));
  w.counter("moelab_prefix_cache_lookups_total", "Prefix cache lookups", static_cast<double>(snap.prefix_lookups));
  w.histogram("moelab_time_to_first_token_seconds", "Time from arrival to the first token", snap.ttft);
  w.histogram("moelab_time_per_output_token_seconds", "Mean time per output token after the first, per request",
              snap.tpot);
  w.histogram("moelab_step_tokens", "Tokens per engine step", snap.step_tokens);
  if (!snap.experts.empty()) {
    w.gauge("moelab_avg_active_experts", "Average experts used per token per MoE layer",
            snap.experts.avg_active_experts());
    w.header("moelab_expert_selections_total", "counter", "Times each expert was chosen, per MoE layer");
    for (const LayerExpertStats& l : snap.experts.layers()) {
      for (size_t e = 0; e < l.chosen.size(); ++e) {
        w.sample("moelab_expert_selections_total", static_cast<double>(l.chosen[e]),
                 "layer=\"" + std::to_string(l.layer) + "\",expert=\"" + std::to_string(e) + "\"");
      }
    }
    w.header("moelab_layer_avg_active_experts", "gauge", "Average experts used per token, per MoE layer");
    for (const LayerExpertStats& l : snap.experts.layers()) {
      w.sample("moelab_layer_avg_active_experts",
               l.tokens ? static_cast<double>(l.active_sum) / static_cast<double>(l.tokens) : 0.0,
               "layer=\"" + std::to_string(l.layer) + "\"");
    }
  }
  res.set_content(w.text(), "text/plain; version=0.0.4");
}

void Server::handle_tokenize(const httplib::Request& req, httplib::Response& res) {
  Json body;
  if (auto e = parse_body(req.body, &body)) return send_error(res, *e);
  auto it = body.find("content");
  if (it == body.end() || !it->is_string()) return send_error(res, field_error("content", "must be a string"));
  bool add_special = false, with_pieces = false;
  for (auto [name, dst] : {std::pair{"add_special", &add_special}, std::pair{"with_pieces", &with_pieces}}) {
    auto f = body.find(name);
    if (f == body.end() || f->is_null()) continue;
    if (!f->is_boolean()) return send_error(res, field_error(name, "must be a boolean"));
    *dst = f->get<bool>();
  }
  const std::vector<int32_t> ids =
      tokenizer_.encode(it->get<std::string>(), add_special && tokenizer_.add_bos(), /*parse_special=*/true);
  Json tokens = Json::array();
  for (int32_t id : ids) {
    if (!with_pieces) {
      tokens.push_back(id);
      continue;
    }
    const std::string piece = tokenizer_.token_to_piece(id, true);
    Json p;
    if (valid_utf8(piece)) {
      p = piece;
    } else {  // llama-server: bytes when the piece is not valid UTF-8
      p = Json::array();
      for (unsigned char c : piece) p.push_back(static_cast<int>(c));
    }
    tokens.push_back(Json{{"id", id}, {"piece", p}});
  }
  res.set_content(dump(Json{{"tokens", tokens}}), "application/json");
}

void Server::handle_detokenize(const httplib::Request& req, httplib::Response& res) {
  Json body;
  if (auto e = parse_body(req.body, &body)) return send_error(res, *e);
  auto it = body.find("tokens");
  if (it == body.end() || !it->is_array()) return send_error(res, field_error("tokens", "must be a list of token ids"));
  std::vector<int32_t> ids;
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& t = (*it)[i];
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tokenizer_.n_vocab()) {
      return send_error(res, field_error("tokens[" + std::to_string(i) + "]",
                                         "must be a token id in [0, " + std::to_string(tokenizer_.n_vocab()) + ")"));
    }
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  res.set_content(dump(Json{{"content", tokenizer_.decode(ids, true)}}), "application/json");
}

}  // namespace moelab
