// The OpenAI-compatible request bodies, parsed and validated into native
// structs before anything reaches the engine. Every rejection is an ApiError
// that names the offending field (OpenAI's error shape: message, type, param,
// code), so a client sees which value to fix.
//
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/batch.h"
#include "model/config.h"
#include "runtime/sampler.h"
#include "template/chat_template.h"

namespace moelab {

using Json = nlohmann::ordered_json;

struct ApiError {
  int status = 400;
  std::string message;
  std::string param;  // the JSON field, "" for none
  std::string type = "invalid_request_error";
  std::string code;   // "" for none

  // {"error": {"message", "type", "param", "code"}}
  Json to_json() const;
};

// Builds the ApiError for a bad field: 400, "<field>: <what>".
ApiError field_error(const std::string& field, const std::string& what);

// Limits the server places on one request (beyond what the model allows).
inline constexpr int32_t kMaxChoices = 16;      // n
inline constexpr int32_t kMaxLogprobs = 20;     // logprobs / top_logprobs
inline constexpr int32_t kMaxStopStrings = 16;
inline constexpr int32_t kMaxPrompts = 64;      // prompts in one completions request

struct PromptInput {
  bool is_text = true;
  std::string text;             // when is_text
  std::vector<int32_t> tokens;  // when !is_text
};

// Fields /v1/completions and /v1/chat/completions share.
struct GenerationParams {
  int32_t max_tokens = -1;  // -1: not given (the endpoint's default applies)
  SamplingParams sampling;
  bool seed_given = false;
  int32_t n = 1;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int32_t logprobs = -1;       // alternatives per token; -1: no logprobs
  bool echo = false;           // completions only
  bool ignore_eos = false;
  RouterKnobs knobs;           // moelab: max_active_experts, expert_threshold
};

struct CompletionRequest {
  GenerationParams params;
  std::vector<PromptInput> prompts;  // at least one
};

struct ChatRequest {
  GenerationParams params;
  Json messages;  // array of objects with a string "role"
  Json tools;     // array, or null
};

// Parses a request body; bad JSON or a non-object is a 400.
std::optional<ApiError> parse_body(const std::string& body, Json* out);

std::optional<ApiError> parse_completion_request(const Json& body, CompletionRequest* out);
std::optional<ApiError> parse_chat_request(const Json& body, ChatRequest* out);

// max_active_experts / expert_threshold against the model: errors name the
// field, and any knob on a dense model is an error.
std::optional<ApiError> validate_knobs(const ModelConfig& config, const RouterKnobs& knobs);

// Token ids of a prompt against the vocabulary.
std::optional<ApiError> validate_tokens(const std::vector<int32_t>& tokens, int32_t n_vocab,
                                        const std::string& field);

}  // namespace moelab
