// `moelab bench-serve (URL | MODEL)`: load-test an OpenAI-compatible server
// (moelab's, llama-server, vLLM) with streaming completions; with a MODEL
// file, an in-process `moelab serve` on a free loopback port is the target.
#include <algorithm>
#include <cstdio>
#include <thread>

#include "cli/command.h"
#include "cli/session.h"
#include "runtime/chat_source.h"
#include "server/load_generator.h"
#include "server/server.h"

namespace moelab {
namespace {

struct BenchServeArgs {
  std::string target;
  std::string concurrency = "1,8,32";
  int requests = 0;
  int prompt_len = 128;
  int gen_len = 64;
  int shared_prefix = 0;
  int vocab = 0;
  bool text_prompt = false;
  bool json = false;
  std::string api_key;
  std::string model_name;
  int threads = 0;
  std::string activations = "q8";
  int kv_cache_mib = 0;
  std::string kv_type = "f32";
  int max_batch_tokens = 512;
};

// "http://host:port/prefix" → host, port, prefix.
Status parse_url(const std::string& url, LoadConfig* c) {
  std::string rest = url.substr(url.find("://") + 3);
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    c->base_path = rest.substr(slash);
    while (!c->base_path.empty() && c->base_path.back() == '/') c->base_path.pop_back();
    if (c->base_path.size() >= 3 && c->base_path.substr(c->base_path.size() - 3) == "/v1")
      c->base_path.resize(c->base_path.size() - 3);
    rest = rest.substr(0, slash);
  }
  const size_t colon = rest.rfind(':');
  c->host = rest.substr(0, colon);
  c->port = 80;
  if (colon != std::string::npos) {
    try {
      c->port = std::stoi(rest.substr(colon + 1));
    } catch (...) {
      return Status::error(url + ": bad port");
    }
  }
  if (c->host.empty() || c->port <= 0 || c->port > 65535) return Status::error(url + ": bad host or port");
  return Status::ok();
}

int bench_serve(const BenchServeArgs& a) {
  LoadConfig lc;
  auto levels = parse_int_list(a.concurrency, "--concurrency");
  if (!levels.is_ok()) return fail(levels.status());
  lc.concurrency = *levels;
  lc.requests = a.requests;
  lc.prompt_len = a.prompt_len;
  lc.gen_len = a.gen_len;
  lc.shared_prefix = a.shared_prefix;
  lc.text_prompt = a.text_prompt;
  lc.api_key = a.api_key;
  lc.model = a.model_name;
  lc.vocab = a.vocab;

  const bool url = a.target.rfind("http://", 0) == 0 || a.target.rfind("https://", 0) == 0;
  std::unique_ptr<ModelSession> session;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Server> server;
  std::thread serve_thread;
  if (url) {
    if (a.target.rfind("https://", 0) == 0) return fail("bench-serve: https is not supported; use http://");
    if (Status st = parse_url(a.target, &lc); !st.is_ok()) return fail(st);
  } else {
    RunOptions options;
    options.threads = a.threads;
    options.activations = a.activations;
    auto s = ModelSession::open(a.target, options, /*need_tokenizer=*/true);
    if (!s.is_ok()) return fail(s.status());
    session = std::make_unique<ModelSession>(std::move(*s));
    const int32_t max_conc = *std::max_element(lc.concurrency.begin(), lc.concurrency.end());
    EngineConfig ec;
    ec.max_seqs = std::max(1, max_conc);
    ec.max_batch_tokens = a.max_batch_tokens;
    ec.kv_type = kv_type_of(a.kv_type);
    ec.kv_cache_bytes = a.kv_cache_mib > 0
                            ? int64_t{a.kv_cache_mib} << 20
                            : session->model->kv_layout(ec.kv_type).bytes_per_token() *
                                  (a.prompt_len + a.gen_len + 2 * ec.block_size) * ec.max_seqs;
    engine = std::make_unique<Engine>(*session->model, ec, *session->pool, session->eog_tokens());
    auto source = chat_template_from_gguf(session->model->file());
    if (!source.is_ok()) return fail(source.status());
    ServerConfig sc;
    sc.port = 0;
    sc.max_seqs = ec.max_seqs;
    sc.max_queue = std::max(64, max_conc);
    sc.model_name = "bench";
    server = std::make_unique<Server>(*engine, *session->tokenizer, *source, sc);
    auto port = server->bind();
    if (!port.is_ok()) return fail(port.status());
    lc.port = *port;
    if (a.vocab <= 0) lc.vocab = std::min(session->model->config().n_vocab, 32000);
    serve_thread = std::thread([&] { server->serve(); });
    std::fprintf(stderr, "moelab: bench-serve: in-process server on 127.0.0.1:%d\n", lc.port);
  }
  auto results = run_load(lc);
  if (server) {
    server->shutdown();
    serve_thread.join();
  }
  if (!results.is_ok()) return fail(results.status());
  if (a.json) {
    std::printf("%s\n", to_json(lc, *results).dump(2).c_str());
  } else {
    std::printf("bench-serve %s: prompt %d tokens (%d shared), %d generated\n", a.target.c_str(), lc.prompt_len,
                lc.shared_prefix, lc.gen_len);
    std::fputs(format_table(*results).c_str(), stdout);
  }
  for (const LevelResult& r : *results) {
    if (r.completed == 0) return fail("every request failed at concurrency " + std::to_string(r.concurrency) + ": " +
                                      r.first_error);
  }
  return 0;
}

}  // namespace

void register_bench_serve(CLI::App& app, CommandList& commands) {
  auto a = std::make_shared<BenchServeArgs>();
  CLI::App* sub = app.add_subcommand("bench-serve", "Load-test an OpenAI-compatible server (or a model in-process)");
  sub->add_option("target", a->target, "http://HOST:PORT of a server, or a GGUF model to serve in-process")
      ->required();
  sub->add_option("--concurrency", a->concurrency, "Concurrent clients, one level per value (e.g. 1,8,32)");
  sub->add_option("--requests", a->requests, "Requests per level (default: 4 per client, at least 8)")
      ->check(CLI::Range(0, 1 << 20));
  sub->add_option("--prompt-len", a->prompt_len, "Prompt tokens")->check(CLI::Range(1, 1 << 20));
  sub->add_option("--gen-len", a->gen_len, "Tokens to generate (ignore_eos)")->check(CLI::Range(1, 1 << 20));
  sub->add_option("--shared-prefix", a->shared_prefix, "Leading prompt tokens all requests share")
      ->check(CLI::Range(0, 1 << 20));
  sub->add_option("--vocab", a->vocab, "Draw prompt token ids from [10, N) (default: the model's, or 1000)")
      ->check(CLI::Range(0, 1 << 24));
  sub->add_flag("--text-prompt", a->text_prompt, "Send text prompts instead of token ids");
  sub->add_flag("--json", a->json, "Print the results as JSON");
  sub->add_option("--api-key", a->api_key, "Bearer key for the server");
  sub->add_option("--model-name", a->model_name, "Model id to send (default: the server's first)");
  sub->add_option("-t,--threads", a->threads, "In-process server: compute threads")->check(CLI::Range(0, 1024));
  sub->add_option("--activations", a->activations, "In-process server: q8 or f32 activations")
      ->check(CLI::IsMember({"q8", "f32"}));
  sub->add_option("--kv-cache-mib", a->kv_cache_mib, "In-process server: KV cache MiB")->check(CLI::Range(0, 1 << 22));
  add_kv_type_option(sub, a->kv_type)
      ->description("In-process server: KV cache elements, f32 or f16");
  sub->add_option("--max-batch-tokens", a->max_batch_tokens, "In-process server: tokens per step")
      ->check(CLI::Range(1, 1 << 20));
  commands.push_back({sub, [a] { return bench_serve(*a); }});
}

}  // namespace moelab
