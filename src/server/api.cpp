#include "server/api.h"

#include <cmath>
#include <limits>

#include "model/router.h"

namespace moelab {
namespace {

const char* type_name(const Json& v) { return v.type_name(); }

// Each getter: absent or null leaves *out unchanged; a value of the wrong
// type or out of range is an error naming the field.
std::optional<ApiError> get_bool(const Json& body, const char* field, bool* out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return field_error(field, std::string("must be a boolean, not ") + type_name(*it));
  *out = it->get<bool>();
  return std::nullopt;
}

std::optional<ApiError> get_number(const Json& body, const char* field, double lo, double hi,
                                   double* out, bool* given = nullptr) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return field_error(field, std::string("must be a number, not ") + type_name(*it));
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) {
    return field_error(field, "must be in [" + Json(lo).dump() + ", " + Json(hi).dump() + "], got " +
                                  it->dump());
  }
  *out = v;
  if (given) *given = true;
  return std::nullopt;
}

std::optional<ApiError> get_int(const Json& body, const char* field, int64_t lo, int64_t hi,
                                int64_t* out, bool* given = nullptr) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  int64_t v = 0;
  if (it->is_number_integer()) {
    if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      return field_error(field, "is out of range, got " + it->dump());
    v = it->get<int64_t>();
  } else if (it->is_number_float() && std::isfinite(it->get<double>()) &&
             it->get<double>() == std::floor(it->get<double>()) && std::fabs(it->get<double>()) < 9e15) {
    v = static_cast<int64_t>(it->get<double>());  // 16.0 is an integer
  } else {
    return field_error(field, std::string("must be an integer, not ") + type_name(*it) + " " + it->dump());
  }
  if (v < lo || v > hi) {
    return field_error(field, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                                  "], got " + std::to_string(v));
  }
  *out = v;
  if (given) *given = true;
  return std::nullopt;
}

#define MOELAB_API_TRY(expr)                  \
  do {                                        \
    if (auto api_err_ = (expr)) return api_err_; \
  } while (0)

std::optional<ApiError> parse_tokens(const Json& arr, const std::string& field, std::vector<int32_t>* out) {
  out->clear();
  for (size_t i = 0; i < arr.size(); ++i) {
    const Json& t = arr[i];
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX) {
      return field_error(field + "[" + std::to_string(i) + "]", "must be a non-negative token id, got " + t.dump());
    }
    out->push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return std::nullopt;
}

std::optional<ApiError> parse_common(const Json& body, GenerationParams* p, bool chat) {
  int64_t i64 = 0;
  double d = 0;
  bool given = false;
  // max_tokens, or for chat max_completion_tokens (the newer name) first.
  for (const char* f : {"max_completion_tokens", "max_tokens"}) {
    if (!chat && std::string(f) == "max_completion_tokens") continue;
    given = false;
    MOELAB_API_TRY(get_int(body, f, 0, int64_t{1} << 30, &i64, &given));
    if (given) {
      p->max_tokens = static_cast<int32_t>(i64);
      break;
    }
  }
  SamplingParams& s = p->sampling;
  s.temperature = 1.0f;  // OpenAI's default
  s.top_k = 0;
  s.top_p = 1.0f;
  s.min_p = 0.0f;
  d = 1.0;
  MOELAB_API_TRY(get_number(body, "temperature", 0.0, 2.0, &d));
  s.temperature = static_cast<float>(d);
  d = s.top_p;
  MOELAB_API_TRY(get_number(body, "top_p", 0.0, 1.0, &d));
  if (d <= 0.0) return field_error("top_p", "must be in (0, 1]");
  s.top_p = static_cast<float>(d);
  i64 = 0;
  MOELAB_API_TRY(get_int(body, "top_k", -1, int64_t{1} << 30, &i64));
  s.top_k = i64 < 0 ? 0 : static_cast<int32_t>(i64);  // -1: off (vLLM)
  d = 0;
  MOELAB_API_TRY(get_number(body, "min_p", 0.0, 1.0, &d));
  s.min_p = static_cast<float>(d);
  d = 0;
  MOELAB_API_TRY(get_number(body, "presence_penalty", -2.0, 2.0, &d));
  s.presence_penalty = static_cast<float>(d);
  d = 0;
  MOELAB_API_TRY(get_number(body, "frequency_penalty", -2.0, 2.0, &d));
  s.frequency_penalty = static_cast<float>(d);
  d = 1;
  MOELAB_API_TRY(get_number(body, "repetition_penalty", 0.01, 10.0, &d));
  s.repetition_penalty = static_cast<float>(d);
  i64 = 0;
  given = false;
  MOELAB_API_TRY(get_int(body, "seed", std::numeric_limits<int64_t>::min(),
                         std::numeric_limits<int64_t>::max(), &i64, &given));
  p->seed_given = given;
  s.seed = static_cast<uint64_t>(i64);
  i64 = 1;
  MOELAB_API_TRY(get_int(body, "n", 1, kMaxChoices, &i64));
  p->n = static_cast<int32_t>(i64);
  MOELAB_API_TRY(get_bool(body, "stream", &p->stream));
  MOELAB_API_TRY(get_bool(body, "ignore_eos", &p->ignore_eos));
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return field_error("stream_options", "must be an object");
    if (auto e = get_bool(*it, "include_usage", &p->include_usage)) {
      e->param = "stream_options.include_usage";
      e->message = "stream_options." + e->message;
      return e;
    }
  }
  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      p->stop.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      if (it->size() > static_cast<size_t>(kMaxStopStrings))
        return field_error("stop", "at most " + std::to_string(kMaxStopStrings) + " stop strings");
      for (const Json& s2 : *it) {
        if (!s2.is_string()) return field_error("stop", "must be a string or a list of strings");
        p->stop.push_back(s2.get<std::string>());
      }
    } else {
      return field_error("stop", std::string("must be a string or a list of strings, not ") + type_name(*it));
    }
  }
  i64 = 0;
  given = false;
  MOELAB_API_TRY(get_int(body, "max_active_experts", 1, 1 << 16, &i64, &given));
  if (given) p->knobs.max_active_experts = static_cast<int32_t>(i64);
  d = 1.0;
  MOELAB_API_TRY(get_number(body, "expert_threshold", 0.0, 1.0, &d));
  if (d <= 0.0) return field_error("expert_threshold", "must be in (0, 1]");
  p->knobs.expert_threshold = static_cast<float>(d);
  return std::nullopt;
}

}  // namespace

Json ApiError::to_json() const {
  Json e = Json::object();
  e["message"] = message;
  e["type"] = type;
  e["param"] = param.empty() ? Json() : Json(param);
  e["code"] = code.empty() ? Json() : Json(code);
  return Json{{"error", e}};
}

ApiError field_error(const std::string& field, const std::string& what) {
  ApiError e;
  e.status = 400;
  e.message = field + ": " + what;
  e.param = field;
  return e;
}

std::optional<ApiError> parse_body(const std::string& body, Json* out) {
  try {
    *out = Json::parse(body);
  } catch (const std::exception& ex) {
    ApiError e;
    e.message = std::string("the request body is not valid JSON: ") + ex.what();
    return e;
  }
  if (!out->is_object()) {
    ApiError e;
    e.message = std::string("the request body must be a JSON object, not ") + out->type_name();
    return e;
  }
  return std::nullopt;
}

std::optional<ApiError> parse_completion_request(const Json& body, CompletionRequest* out) {
  *out = CompletionRequest{};
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) return field_error("prompt", "is required");
  const Json& prompt = *it;
  if (prompt.is_string()) {
    out->prompts.push_back({true, prompt.get<std::string>(), {}});
  } else if (prompt.is_array()) {
    if (prompt.empty()) return field_error("prompt", "must not be empty");
    if (prompt[0].is_number()) {
      PromptInput p;
      p.is_text = false;
      MOELAB_API_TRY(parse_tokens(prompt, "prompt", &p.tokens));
      out->prompts.push_back(std::move(p));
    } else {
      if (prompt.size() > static_cast<size_t>(kMaxPrompts))
        return field_error("prompt", "at most " + std::to_string(kMaxPrompts) + " prompts per request");
      for (size_t i = 0; i < prompt.size(); ++i) {
        const std::string f = "prompt[" + std::to_string(i) + "]";
        if (prompt[i].is_string()) {
          out->prompts.push_back({true, prompt[i].get<std::string>(), {}});
        } else if (prompt[i].is_array()) {
          if (prompt[i].empty()) return field_error(f, "must not be empty");
          PromptInput p;
          p.is_text = false;
          MOELAB_API_TRY(parse_tokens(prompt[i], f, &p.tokens));
          out->prompts.push_back(std::move(p));
        } else {
          return field_error(f, "must be a string or a list of token ids");
        }
      }
    }
  } else {
    return field_error("prompt", std::string("must be a string, a list of token ids or a list of either, not ") +
                                     prompt.type_name());
  }
  GenerationParams& p = out->params;
  MOELAB_API_TRY(parse_common(body, &p, /*chat=*/false));
  if (p.max_tokens < 0) p.max_tokens = 16;  // OpenAI's default for completions
  int64_t lp = -1;
  MOELAB_API_TRY(get_int(body, "logprobs", 0, kMaxLogprobs, &lp));
  p.logprobs = static_cast<int32_t>(lp);
  MOELAB_API_TRY(get_bool(body, "echo", &p.echo));
  return std::nullopt;
}

std::optional<ApiError> parse_chat_request(const Json& body, ChatRequest* out) {
  *out = ChatRequest{};
  auto it = body.find("messages");
  if (it == body.end() || !it->is_array() || it->empty())
    return field_error("messages", "must be a non-empty list of messages");
  out->messages = Json::array();
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string f = "messages[" + std::to_string(i) + "]";
    const Json& m = (*it)[i];
    if (!m.is_object()) return field_error(f, "must be an object");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return field_error(f + ".role", "must be a string");
    Json msg = m;
    // Content parts [{"type": "text", "text": ...}] become one string: most
    // templates only print strings.
    if (auto c = m.find("content"); c != m.end()) {
      if (c->is_array()) {
        std::string text;
        for (size_t k = 0; k < c->size(); ++k) {
          const Json& part = (*c)[k];
          if (!part.is_object() || !part.contains("text") || !part["text"].is_string())
            return field_error(f + ".content[" + std::to_string(k) + "]", "only text parts are supported");
          text += part["text"].get<std::string>();
        }
        msg["content"] = text;
      } else if (!c->is_string() && !c->is_null()) {
        return field_error(f + ".content", "must be a string, a list of text parts or null");
      }
    }
    out->messages.push_back(std::move(msg));
  }
  if (auto t = body.find("tools"); t != body.end() && !t->is_null()) {
    if (!t->is_array()) return field_error("tools", "must be a list");
    out->tools = *t;
  }
  GenerationParams& p = out->params;
  MOELAB_API_TRY(parse_common(body, &p, /*chat=*/true));
  bool logprobs = false;
  MOELAB_API_TRY(get_bool(body, "logprobs", &logprobs));
  int64_t top = 0;
  bool top_given = false;
  MOELAB_API_TRY(get_int(body, "top_logprobs", 0, kMaxLogprobs, &top, &top_given));
  if (top_given && !logprobs) return field_error("top_logprobs", "requires logprobs: true");
  p.logprobs = logprobs ? static_cast<int32_t>(top) : -1;
  return std::nullopt;
}

std::optional<ApiError> validate_knobs(const ModelConfig& config, const RouterKnobs& knobs) {
  const bool any = knobs.max_active_experts != 0 || knobs.expert_threshold != 1.0f;
  if (!config.is_moe()) {
    if (knobs.max_active_experts != 0)
      return field_error("max_active_experts", "the model is dense (it has no experts)");
    if (knobs.expert_threshold != 1.0f)
      return field_error("expert_threshold", "the model is dense (it has no experts)");
    return std::nullopt;
  }
  if (!any) return std::nullopt;
  Status st = validate_router_knobs(config.moe, knobs);
  if (st.is_ok()) return std::nullopt;
  const std::string& m = st.message();
  const std::string field =
      m.rfind("max_active_experts", 0) == 0 ? "max_active_experts" : "expert_threshold";
  ApiError e = field_error(field, m);
  e.message = m;
  return e;
}

std::optional<ApiError> validate_tokens(const std::vector<int32_t>& tokens, int32_t n_vocab,
                                        const std::string& field) {
  if (tokens.empty()) return field_error(field, "must contain at least one token");
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= n_vocab) {
      return field_error(field, "token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                                    " is out of range [0, " + std::to_string(n_vocab) + ")");
    }
  }
  return std::nullopt;
}

}  // namespace moelab
