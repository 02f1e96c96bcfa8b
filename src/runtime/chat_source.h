// Where a model's chat template comes from: the GGUF key
// tokenizer.chat_template, or a Hugging Face tokenizer_config.json
// (chat_template as a string or a list of named templates; bos_token and
// eos_token as strings or AddedToken objects). Models without a template get
// ChatML, and `fallback` says so.
#pragma once

#include <string>

#include "base/status.h"
#include "formats/gguf.h"

namespace moelab {

struct ChatTemplateSource {
  std::string text;
  std::string bos_token;
  std::string eos_token;
  bool fallback = false;  // no template in the source: ChatML
};

Result<ChatTemplateSource> chat_template_from_gguf(const GgufFile& file);
Result<ChatTemplateSource> chat_template_from_config(const std::string& path);
// A .gguf file or a tokenizer_config.json, by content.
Result<ChatTemplateSource> chat_template_from_path(const std::string& path);

}  // namespace moelab
