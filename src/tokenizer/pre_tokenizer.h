// Pre-tokenization: the regex splits that cut text into words before BPE.
// A PreTokenizer is a sequence of stages, each a regex applied with Hugging
// Face's "Isolated" behaviour: every match becomes a piece and so does every
// gap between matches, and each stage runs on each piece of the stage before,
// seeing that piece alone (so a look-ahead at a piece's end sees its end).
//
// Patterns are written as in tokenizer.json (Oniguruma syntax) and compiled
// with PCRE2 (UTF, UCP, JIT where available). `\s` and `\S` are rewritten to
// the Unicode White_Space property, which is what Hugging Face tokenizers and
// llama.cpp use (PCRE2's and JavaScript's own `\s` differ at U+0085, U+180E
// and U+FEFF).
//
// Immutable after construction; split() is thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace moelab {

class PreTokenizer {
 public:
  // Built-in rules by llama.cpp's `tokenizer.ggml.pre` name: deepseek-v3,
  // llama-bpe (Llama 3; also llama3, llama-v3, smaug-bpe, falcon3), qwen2
  // (also deepseek-r1-qwen) and gpt2. Unknown names are an error that lists
  // the known ones.
  static Result<PreTokenizer> from_name(std::string_view name);
  // Stages from regex patterns in tokenizer.json syntax; `name` is reported
  // by name(). A pattern that fails to compile is an error naming it.
  static Result<PreTokenizer> from_patterns(std::vector<std::string> patterns, std::string name);
  // The built-in name whose stages equal `patterns`, or "" if none does.
  static std::string name_of_patterns(const std::vector<std::string>& patterns);
  static std::vector<std::string> known_names();

  const std::string& name() const { return name_; }
  const std::vector<std::string>& patterns() const { return patterns_; }

  // Appends the pieces of `text` to `pieces` (views into `text`). Bytes that
  // are not valid UTF-8 become one-byte pieces of their own, so any input
  // tokenizes and decodes back to itself.
  void split(std::string_view text, std::vector<std::string_view>* pieces) const;

 private:
  struct Stage;
  std::string name_;
  std::vector<std::string> patterns_;
  std::vector<std::shared_ptr<const Stage>> stages_;
};

}  // namespace moelab
