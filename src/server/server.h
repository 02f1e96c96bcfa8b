// `moelab serve`: the OpenAI-compatible HTTP server. HTTP threads (cpp-httplib)
// parse and validate requests, tokenize, and exchange native structs with the
// one engine thread (EngineLoop); they never touch model state.
//
// Endpoints: POST /v1/completions, POST /v1/chat/completions, GET /v1/models,
// GET /health, GET /metrics (Prometheus), POST /tokenize, POST /detokenize.
//
// Ownership: borrows the engine and tokenizer (they must outlive the Server);
// owns the engine loop and the HTTP server.
// Thread-safety: shutdown() may be called from any thread while serve() runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "runtime/chat_source.h"
#include "runtime/engine.h"
#include "server/api.h"
#include "server/engine_loop.h"
#include "tokenizer/tokenizer.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace moelab {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8080;                // 0: any free port
  std::string api_key;            // "" : no authentication
  int32_t max_seqs = 32;          // the engine's running sequences (EngineConfig::max_seqs)
  int32_t max_queue = 64;         // requests waiting beyond the running ones; more get 429
  size_t max_body_bytes = size_t{8} << 20;  // larger bodies get 413
  std::string model_name = "moelab";
  int32_t http_threads = 0;       // 0: enough for every running and queued request
};

class Server {
 public:
  Server(Engine& engine, const Tokenizer& tokenizer, ChatTemplateSource chat_template,
         ServerConfig config);
  ~Server();

  // Binds the listening socket; returns the port (useful with port 0).
  Result<int> bind();
  // Serves until shutdown() has drained; blocking.
  void serve();
  // Stops taking new requests (503), waits for in-flight ones to finish,
  // then stops the HTTP server and the engine thread. Blocking.
  void shutdown();
  int port() const { return port_; }

 private:
  void setup_routes();
  void send_error(httplib::Response& res, const ApiError& e);
  void handle_completions(const httplib::Request& req, httplib::Response& res);
  void handle_chat(const httplib::Request& req, httplib::Response& res);
  void handle_metrics(httplib::Response& res);
  struct Prepared;
  // Validates the parameters against the model and queues one engine request
  // per prompt and choice; on error fills `res` and returns false.
  bool submit(const GenerationParams& params, const std::vector<std::vector<int32_t>>& prompts,
              const std::string& prompt_field, Prepared* out, httplib::Response& res);
  void respond(std::shared_ptr<Prepared> prep, bool chat, httplib::Response& res);
  void handle_tokenize(const httplib::Request& req, httplib::Response& res);
  void handle_detokenize(const httplib::Request& req, httplib::Response& res);

  Engine& engine_;
  const Tokenizer& tokenizer_;
  ChatTemplateSource chat_template_;
  ServerConfig config_;
  const ModelConfig model_config_;   // copied: HTTP threads read it while the engine runs
  const int64_t max_sequence_tokens_;
  const int32_t max_seqs_;
  std::unique_ptr<EngineLoop> loop_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  int listen_socket_ = -1;

  std::atomic<bool> draining_{false};
  std::atomic<int32_t> active_{0};  // requests between arrival and the end of their response
  std::atomic<int64_t> next_id_{1};
  std::mutex status_mu_;
  std::map<int, int64_t> responses_by_status_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace moelab
