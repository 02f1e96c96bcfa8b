// Byte-level BPE tokenization, as Hugging Face tokenizers and llama.cpp do it
// for GPT-2 style vocabularies (DeepSeek-V3, Llama 3, Qwen 2/3, GPT-2).
//
// Vocab is the plain data (what a GGUF file or a tokenizer.json holds);
// Tokenizer is built from it once and then only read. encode() splits the
// text at special tokens, pre-tokenizes each remaining stretch with the
// model's regex rules, maps bytes to their byte-level characters and applies
// the merges in rank order; decode() maps the pieces back to bytes.
//
// Ownership: a Tokenizer owns its vocabulary; StreamDecoder borrows one.
// Thread-safety: a Tokenizer is safe to share; every method is const and the
// word cache inside is locked. A StreamDecoder belongs to one sequence.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"
#include "tokenizer/pre_tokenizer.h"

namespace moelab {

class GgufFile;

// Token types with llama.cpp's numbering (the values of tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // special tokens: recognised in text only when parse_special
  kUserDefined = 4,  // added, non-special tokens: always recognised in text
  kUnused = 5,
  kByte = 6,
};

struct Vocab {
  std::string model = "gpt2";  // tokenizer.ggml.model; only byte-level BPE ("gpt2") is supported
  std::string pre = "gpt2";    // pre-tokenizer name (tokenizer.ggml.pre)
  // When not empty, these regex stages (tokenizer.json syntax) are used instead
  // of the built-in rules for `pre` (tokenizer.json gives them explicitly).
  std::vector<std::string> pre_patterns;
  // Unicode NFC normalisation of ordinary text before pre-tokenizing
  // (tokenizer.json normalizer "NFC", as Qwen ships).
  bool nfc = false;
  // Token strings: byte-level encoded for normal tokens ("Ġthe"), the literal
  // text for control and user-defined tokens ("<｜begin▁of▁sentence｜>").
  std::vector<std::string> tokens;
  std::vector<TokenType> token_types;                       // same length as tokens
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  // Llama 3 style: a word that is itself a token is emitted without merging.
  bool ignore_merges = false;
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t eot_id = -1;
  int32_t eom_id = -1;
  int32_t pad_id = -1;
  int32_t unk_id = -1;
  bool add_bos = false;
  bool add_eos = false;
};

class Tokenizer {
 public:
  // Checks the vocabulary (sizes, ids in range, merges) and builds the tables.
  static Result<Tokenizer> create(Vocab vocab);
  // From the tokenizer.ggml.* keys of a GGUF file.
  static Result<Tokenizer> from_gguf(const GgufFile& file);
  // From a Hugging Face tokenizer.json (model.vocab, model.merges in either
  // form, added_tokens, pre_tokenizer). BOS/EOS and add_bos come from a
  // tokenizer_config.json beside it when there is one, else from the
  // post-processor template.
  static Result<Tokenizer> from_tokenizer_json(const std::string& path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Text (any bytes; invalid UTF-8 is kept byte by byte) to token ids. With
  // parse_special, control tokens written in the text become their ids
  // (longest match first); user-defined tokens always do.
  std::vector<int32_t> encode(std::string_view text, bool add_bos = false,
                              bool parse_special = true) const;
  // Ids to bytes (the concatenation of token_to_piece). Ids out of range are
  // skipped.
  std::string decode(const std::vector<int32_t>& ids, bool render_special = true) const;
  // The bytes of one token: control tokens give their text only when
  // render_special, ids out of range give "".
  std::string token_to_piece(int32_t id, bool render_special = true) const;

  int32_t n_vocab() const { return static_cast<int32_t>(vocab_.tokens.size()); }
  int32_t bos() const { return vocab_.bos_id; }
  int32_t eos() const { return vocab_.eos_id; }
  int32_t eot() const { return vocab_.eot_id; }
  int32_t pad() const { return vocab_.pad_id; }
  bool add_bos() const { return vocab_.add_bos; }
  // End of generation: EOS, EOT, EOM and well-known end-of-turn control tokens.
  bool is_eog(int32_t id) const;
  bool is_control(int32_t id) const;
  // The id of a token by its vocabulary string, or -1.
  int32_t token_id(std::string_view token) const;
  const std::string& token_text(int32_t id) const;  // "" when out of range
  const Vocab& vocab() const { return vocab_; }
  const std::string& pre_tokenizer_name() const { return pre_.name(); }

 private:
  Tokenizer() = default;
  struct Cache;
  struct Special {
    std::string text;
    int32_t id;
    bool control;
  };

  void encode_word(std::string_view word, std::vector<int32_t>* out) const;
  void bpe(std::string_view word, std::vector<int32_t>* out) const;
  // Longest special token starting at text[pos], or nullptr.
  const Special* match_special(std::string_view text, size_t pos, bool parse_special) const;

  Vocab vocab_;
  PreTokenizer pre_;
  std::unordered_map<std::string, int32_t> token_to_id_;
  // (left id << 32 | right id) -> (rank << 32 | merged id)
  std::unordered_map<uint64_t, uint64_t> merges_;
  std::array<int32_t, 256> byte_token_{};  // the token of each single byte, or -1
  std::vector<Special> specials_;          // longest first
  std::array<bool, 256> special_first_byte_{};
  std::vector<std::string> pieces_;  // decoded bytes of every token
  std::vector<bool> eog_;
  std::unique_ptr<Cache> cache_;
};

// Turns ids into text one at a time for streaming, releasing only complete
// UTF-8: a character split across tokens is held back until its last byte
// arrives. Invalid bytes are passed through, not held.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool render_special = false)
      : tokenizer_(&tokenizer), render_special_(render_special) {}
  // The text that is complete after adding `id` (may be empty).
  std::string push(int32_t id);
  // What is still held (an incomplete character at the end of the stream).
  std::string flush();
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  bool render_special_;
  std::string pending_;
};

}  // namespace moelab
