#include "runtime/chat_source.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "template/chat_template.h"

namespace moelab {
namespace {

std::string token_text(const GgufFile& file, const std::vector<std::string>& tokens, const char* key) {
  auto id = file.get_int_or(key, -1);
  if (!id.is_ok() || *id < 0 || *id >= static_cast<int64_t>(tokens.size())) return "";
  return tokens[*id];
}

// bos_token / eos_token: a string, or an AddedToken object {"content": ...}.
std::string special_token(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return "";
  const auto& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

}  // namespace

Result<ChatTemplateSource> chat_template_from_gguf(const GgufFile& file) {
  ChatTemplateSource src;
  MOELAB_ASSIGN_OR_RETURN(src.text, file.get_string_or("tokenizer.chat_template", ""));
  if (file.has("tokenizer.ggml.tokens")) {
    MOELAB_ASSIGN_OR_RETURN(std::vector<std::string> tokens, file.get_string_array("tokenizer.ggml.tokens"));
    src.bos_token = token_text(file, tokens, "tokenizer.ggml.bos_token_id");
    src.eos_token = token_text(file, tokens, "tokenizer.ggml.eos_token_id");
  }
  if (src.text.empty()) {
    src.text = chatml_template();
    src.fallback = true;
  }
  return src;
}

Result<ChatTemplateSource> chat_template_from_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::error(path + ": cannot open");
  nlohmann::json config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) return Status::error(path + ": not a JSON object");
  ChatTemplateSource src;
  src.bos_token = special_token(config, "bos_token");
  src.eos_token = special_token(config, "eos_token");
  if (config.contains("chat_template")) {
    const auto& t = config["chat_template"];
    if (t.is_string()) {
      src.text = t.get<std::string>();
    } else if (t.is_array()) {  // [{"name": "default", "template": ...}, ...]
      for (const auto& entry : t) {
        if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
            entry["template"].is_string())
          src.text = entry["template"].get<std::string>();
      }
    } else if (!t.is_null()) {
      return Status::error(path + ": field 'chat_template' must be a string or a list");
    }
  }
  if (src.text.empty()) {
    src.text = chatml_template();
    src.fallback = true;
  }
  return src;
}

Result<ChatTemplateSource> chat_template_from_path(const std::string& path) {
  if (is_gguf_file(path)) {
    MOELAB_ASSIGN_OR_RETURN(GgufFile file, GgufFile::open(path));
    return chat_template_from_gguf(file);
  }
  return chat_template_from_config(path);
}

}  // namespace moelab
