// Loading the tokenizer.ggml.* keys of a GGUF file. Kept in its own file so a
// program that never reads GGUF does not link the GGUF reader.
#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"

namespace moelab {

Result<Tokenizer> Tokenizer::from_gguf(const GgufFile& file) {
  const auto fail = [&](const Status& s) {
    return s.with_context("tokenizer in '" + file.path() + "'");
  };
  Vocab vocab;
  MOELAB_ASSIGN_OR_RETURN(vocab.model, file.get_string_or("tokenizer.ggml.model", "gpt2"));
  if (vocab.model != "gpt2") {
    return fail(Status::error("tokenizer.ggml.model '" + vocab.model +
                              "' is not supported (only byte-level BPE, 'gpt2')"));
  }
  MOELAB_ASSIGN_OR_RETURN(vocab.pre, file.get_string_or("tokenizer.ggml.pre", "gpt2"));
  auto tokens = file.get_string_array("tokenizer.ggml.tokens");
  if (!tokens.is_ok()) return fail(tokens.status());
  vocab.tokens = std::move(tokens).value();

  if (file.has("tokenizer.ggml.token_type")) {
    auto types = file.get_int_array("tokenizer.ggml.token_type");
    if (!types.is_ok()) return fail(types.status());
    if (types->size() != vocab.tokens.size()) {
      return fail(Status::error("tokenizer.ggml.token_type has " + std::to_string(types->size()) +
                                " entries for " + std::to_string(vocab.tokens.size()) + " tokens"));
    }
    vocab.token_types.reserve(types->size());
    for (size_t i = 0; i < types->size(); ++i) {
      const int64_t t = (*types)[i];
      if (t < 0 || t > static_cast<int64_t>(TokenType::kByte)) {
        return fail(Status::error("tokenizer.ggml.token_type[" + std::to_string(i) +
                                  "] = " + std::to_string(t) + " is not a token type"));
      }
      vocab.token_types.push_back(static_cast<TokenType>(t));
    }
  }
  if (file.has("tokenizer.ggml.merges")) {
    auto merges = file.get_string_array("tokenizer.ggml.merges");
    if (!merges.is_ok()) return fail(merges.status());
    vocab.merges.reserve(merges->size());
    for (size_t i = 0; i < merges->size(); ++i) {
      const std::string& m = (*merges)[i];
      const size_t space = m.find(' ');
      if (space == std::string::npos) {
        return fail(Status::error("tokenizer.ggml.merges[" + std::to_string(i) + "] '" + m +
                                  "' has no space"));
      }
      vocab.merges.emplace_back(m.substr(0, space), m.substr(space + 1));
    }
  }
  const auto read_id = [&](const char* key, int32_t* out) -> Status {
    auto v = file.get_int_or(key, -1);
    if (!v.is_ok()) return v.status();
    if (*v < -1 || *v >= static_cast<int64_t>(vocab.tokens.size())) {
      return Status::error(std::string(key) + " = " + std::to_string(*v) +
                           " is outside the vocabulary");
    }
    *out = static_cast<int32_t>(*v);
    return Status::ok();
  };
  MOELAB_TRY(fail(read_id("tokenizer.ggml.bos_token_id", &vocab.bos_id)));
  MOELAB_TRY(fail(read_id("tokenizer.ggml.eos_token_id", &vocab.eos_id)));
  MOELAB_TRY(fail(read_id("tokenizer.ggml.eot_token_id", &vocab.eot_id)));
  MOELAB_TRY(fail(read_id("tokenizer.ggml.eom_token_id", &vocab.eom_id)));
  MOELAB_TRY(fail(read_id("tokenizer.ggml.padding_token_id", &vocab.pad_id)));
  MOELAB_TRY(fail(read_id("tokenizer.ggml.unknown_token_id", &vocab.unk_id)));
  MOELAB_ASSIGN_OR_RETURN(vocab.add_bos, file.get_bool_or("tokenizer.ggml.add_bos_token", false));
  MOELAB_ASSIGN_OR_RETURN(vocab.add_eos, file.get_bool_or("tokenizer.ggml.add_eos_token", false));
  // llama.cpp skips merges for whole-word tokens with the Llama 3 rules.
  vocab.ignore_merges = vocab.pre == "llama-bpe" || vocab.pre == "llama3" ||
                        vocab.pre == "llama-v3" || vocab.pre == "smaug-bpe" ||
                        vocab.pre == "falcon3";
  auto tok = create(std::move(vocab));
  if (!tok.is_ok()) return fail(tok.status());
  return tok;
}

}  // namespace moelab
