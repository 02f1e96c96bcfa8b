// `moelab serve`: the OpenAI-compatible server on one model. SIGINT/SIGTERM
// drain: new requests get 503, running ones finish, then the process exits 0
// (a second signal exits at once).
#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include <pthread.h>
#include <unistd.h>

#include "cli/command.h"
#include "cli/session.h"
#include "runtime/chat_source.h"
#include "server/server.h"

namespace moelab {
namespace {

struct ServeArgs {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  int max_seqs = 32;
  int max_batch_tokens = 512;
  int kv_cache_mib = 0;
  int queue = 64;
  int threads = 0;
  int max_body_mib = 8;
  std::string model_name;
  std::string mla_mode = "auto";
  std::string activations = "q8";
  std::string kv_type = "f32";
  bool no_prefix_cache = false;
};

int serve(const ServeArgs& a) {
  // Signals go to one thread that waits for them; block them before any
  // other thread (the compute pool, the engine, HTTP workers) exists.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  RunOptions options;
  options.threads = a.threads;
  options.mla_mode = a.mla_mode;
  options.activations = a.activations;
  options.kv_type = a.kv_type;
  auto session = ModelSession::open(a.model, options, /*need_tokenizer=*/true);
  if (!session.is_ok()) return fail(session.status());
  ModelSession& s = *session;

  EngineConfig config;
  config.max_seqs = a.max_seqs;
  config.max_batch_tokens = a.max_batch_tokens;
  config.prefix_cache = !a.no_prefix_cache;
  const int64_t ctx = s.model->config().n_ctx_train > 0 ? s.model->config().n_ctx_train : 4096;
  config.kv_cache_bytes = a.kv_cache_mib > 0
                              ? int64_t{a.kv_cache_mib} << 20
                              : s.model->kv_layout(options.kv()).bytes_per_token() *
                                    (std::min<int64_t>(ctx, 4096) + config.block_size) * a.max_seqs;
  config.mla_mode = options.mla();
  config.kv_type = options.kv();
  Engine engine(*s.model, config, *s.pool, s.eog_tokens());

  auto source = chat_template_from_gguf(s.model->file());
  if (!source.is_ok()) return fail(source.status());

  ServerConfig sc;
  sc.host = a.host;
  sc.port = a.port;
  sc.api_key = a.api_key;
  sc.max_seqs = a.max_seqs;
  sc.max_queue = a.queue;
  sc.max_body_bytes = size_t(a.max_body_mib) << 20;
  if (!a.model_name.empty()) {
    sc.model_name = a.model_name;
  } else {
    const size_t slash = a.model.find_last_of('/');
    sc.model_name = slash == std::string::npos ? a.model : a.model.substr(slash + 1);
  }
  Server server(engine, *s.tokenizer, *source, sc);
  auto port = server.bind();
  if (!port.is_ok()) return fail(port.status());
  std::fprintf(stderr, "moelab: serving %s on http://%s:%d (%lld KV blocks of %d tokens, %d sequences)\n",
               sc.model_name.c_str(), a.host.c_str(), *port,
               static_cast<long long>(engine.blocks().n_blocks()), engine.blocks().block_size(), a.max_seqs);
  std::fflush(stderr);

  static std::atomic<bool> finished{false};
  static std::atomic<bool> got_signal{false};
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (finished) return;
    got_signal = true;
    std::fprintf(stderr, "moelab: signal %d: draining in-flight requests\n", sig);
    // A second signal while draining exits at once.
    std::thread([sigs = signals] {
      int again = 0;
      sigwait(&sigs, &again);
      if (!finished) {
        std::fprintf(stderr, "moelab: second signal: exiting now\n");
        std::_Exit(1);
      }
    }).detach();
    server.shutdown();
  });
  server.serve();  // returns once shutdown() stopped the HTTP server
  finished = true;
  if (!got_signal) pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  std::fprintf(stderr, "moelab: server stopped\n");
  return 0;
}

}  // namespace

void register_serve(CLI::App& app, CommandList& commands) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* sub = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  sub->add_option("model", a->model, "GGUF model file")->required()->check(CLI::ExistingFile);
  sub->add_option("--host", a->host, "Address to listen on (default: loopback)");
  sub->add_option("--port", a->port, "Port (0: any free port)")->check(CLI::Range(0, 65535));
  sub->add_option("--api-key", a->api_key, "Require Authorization: Bearer KEY");
  sub->add_option("--max-seqs", a->max_seqs, "Sequences running at once")->check(CLI::Range(1, 4096));
  sub->add_option("--max-batch-tokens", a->max_batch_tokens, "Tokens per engine step")
      ->check(CLI::Range(1, 1 << 20));
  sub->add_option("--kv-cache-mib", a->kv_cache_mib, "KV cache size in MiB (default: max-seqs full contexts)")
      ->check(CLI::Range(0, 1 << 22));
  add_kv_type_option(sub, a->kv_type);
  sub->add_option("--queue", a->queue, "Requests waiting beyond the running ones; more get 429")
      ->check(CLI::Range(0, 1 << 16));
  sub->add_option("-t,--threads", a->threads, "Compute threads (default: physical cores)")
      ->check(CLI::Range(0, 1024));
  sub->add_option("--max-body-mib", a->max_body_mib, "Largest request body in MiB; larger get 413")
      ->check(CLI::Range(1, 1024));
  sub->add_option("--model-name", a->model_name, "Model id reported by /v1/models (default: file name)");
  add_mla_mode_option(sub, a->mla_mode);
  sub->add_option("--activations", a->activations,
                  "Token rows against quantized weights: q8 (8-bit integer dots) or f32")
      ->check(CLI::IsMember({"q8", "f32"}));
  sub->add_flag("--no-prefix-cache", a->no_prefix_cache, "Do not reuse KV blocks across requests");
  commands.push_back({sub, [a] { return serve(*a); }});
}

}  // namespace moelab
