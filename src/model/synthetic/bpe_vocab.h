// The vocabulary of synthetic models: a byte-level BPE trained at make-model
// time on a small built-in English + code text, in the form llama.cpp's
// converter writes a GPT-2-style tokenizer (tokenizer.ggml.model "gpt2").
//
// Ids 0..255 are the bytes (id b is byte b, spelled in GPT-2's byte-to-unicode
// form), then the merged tokens in training order, then BOS and EOS as control
// tokens. Larger vocabularies are padded after EOS with unused "<unused_N>"
// tokens so embedding shapes match real models.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moelab::synthetic {

// llama.cpp's token types (tokenizer.ggml.token_type).
inline constexpr int32_t kTokenTypeNormal = 1;
inline constexpr int32_t kTokenTypeControl = 3;
inline constexpr int32_t kTokenTypeUnused = 5;

// The tokens of the real (trained) part of every synthetic vocabulary.
inline constexpr int64_t kRealVocabSize = 512;

inline constexpr std::string_view kBosText = "<｜begin▁of▁sentence｜>";
inline constexpr std::string_view kEosText = "<｜end▁of▁sentence｜>";

// GPT-2's printable stand-in (UTF-8) for one byte: printable Latin-1 bytes are
// themselves, the rest map to U+0100 upwards in byte order (space -> "Ġ").
std::string byte_to_unicode(uint8_t byte);

// Splits text into pre-tokens: a new piece starts before every space and every
// newline, so a word keeps its leading space (a simplified GPT-2 split).
std::vector<std::string> pre_split(std::string_view text);

struct BpeTraining {
  std::vector<std::string> tokens;  // byte-to-unicode spelling; 256 bytes first
  std::vector<std::string> merges;  // "left right", in rank order
};

// Trains a byte-level BPE on `text` until the vocabulary holds `n_tokens`
// tokens (or no adjacent pair is left): each step merges the most frequent
// adjacent pair over all pre-tokens, ties going to the smallest (left id,
// right id). A merge whose result spells an existing token reuses that id.
BpeTraining train_byte_bpe(std::string_view text, int64_t n_tokens);

// The built-in training text (a few KB of English prose and C++/Python code).
std::string_view builtin_corpus();

struct SyntheticVocab {
  std::vector<std::string> tokens;   // [n_vocab]
  std::vector<int32_t> token_types;  // [n_vocab]
  std::vector<std::string> merges;
  int32_t bos_id = 0;
  int32_t eos_id = 0;
};

// The vocabulary written into every synthetic model: 510 trained tokens, BOS
// (510), EOS (511), then n_vocab - 512 unused fillers. n_vocab >= 512.
SyntheticVocab synthetic_vocab(int64_t n_vocab);

}  // namespace moelab::synthetic
