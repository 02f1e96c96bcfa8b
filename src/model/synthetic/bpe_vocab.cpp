#include "model/synthetic/bpe_vocab.h"

#include <map>
#include <unordered_map>
#include <utility>

#include "base/check.h"

namespace moelab::synthetic {
namespace {

void append_utf8(std::string& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

bool is_printable_latin1(uint32_t byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) ||
         (byte >= 0xAE && byte <= 0xFF);
}

}  // namespace

std::string byte_to_unicode(uint8_t byte) {
  uint32_t code_point = byte;
  if (!is_printable_latin1(byte)) {
    // The n-th non-printable byte (in byte order) becomes U+0100 + n.
    uint32_t n = 0;
    for (uint32_t b = 0; b < byte; ++b) n += is_printable_latin1(b) ? 0 : 1;
    code_point = 0x100 + n;
  }
  std::string out;
  append_utf8(out, code_point);
  return out;
}

std::vector<std::string> pre_split(std::string_view text) {
  std::vector<std::string> pieces;
  std::string current;
  for (char c : text) {
    if ((c == ' ' || c == '\n') && !current.empty()) {
      pieces.push_back(std::move(current));
      current.clear();
    }
    current += c;
  }
  if (!current.empty()) pieces.push_back(std::move(current));
  return pieces;
}

BpeTraining train_byte_bpe(std::string_view text, int64_t n_tokens) {
  BpeTraining out;
  std::unordered_map<std::string, int32_t> id_of;
  for (int b = 0; b < 256; ++b) {
    out.tokens.push_back(byte_to_unicode(static_cast<uint8_t>(b)));
    id_of.emplace(out.tokens.back(), b);
  }

  // Distinct pre-tokens with their counts; std::map keeps the order fixed.
  std::map<std::string, int64_t> piece_counts;
  for (std::string& piece : pre_split(text)) ++piece_counts[piece];
  std::vector<std::pair<std::vector<int32_t>, int64_t>> words;
  for (const auto& [piece, count] : piece_counts) {
    std::vector<int32_t> symbols;
    for (char c : piece) symbols.push_back(static_cast<uint8_t>(c));
    words.emplace_back(std::move(symbols), count);
  }

  while (static_cast<int64_t>(out.tokens.size()) < n_tokens) {
    std::map<std::pair<int32_t, int32_t>, int64_t> pair_counts;
    for (const auto& [symbols, count] : words) {
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        pair_counts[{symbols[i], symbols[i + 1]}] += count;
      }
    }
    if (pair_counts.empty()) break;
    // std::map iterates pairs in increasing order, so the first maximum found
    // is the smallest pair among the most frequent.
    auto best = pair_counts.begin();
    for (auto it = pair_counts.begin(); it != pair_counts.end(); ++it) {
      if (it->second > best->second) best = it;
    }
    const auto [left, right] = best->first;
    const std::string merged = out.tokens[left] + out.tokens[right];
    out.merges.push_back(out.tokens[left] + " " + out.tokens[right]);
    int32_t merged_id;
    if (auto found = id_of.find(merged); found != id_of.end()) {
      merged_id = found->second;
    } else {
      merged_id = static_cast<int32_t>(out.tokens.size());
      out.tokens.push_back(merged);
      id_of.emplace(merged, merged_id);
    }
    for (auto& [symbols, count] : words) {
      std::vector<int32_t> next;
      next.reserve(symbols.size());
      for (size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
          next.push_back(merged_id);
          ++i;
        } else {
          next.push_back(symbols[i]);
        }
      }
      symbols = std::move(next);
    }
  }
  return out;
}

SyntheticVocab synthetic_vocab(int64_t n_vocab) {
  MOELAB_CHECK(n_vocab >= kRealVocabSize);
  BpeTraining bpe = train_byte_bpe(builtin_corpus(), kRealVocabSize - 2);
  // The built-in text is long enough for 254 merges; anything else is a bug.
  MOELAB_CHECK(static_cast<int64_t>(bpe.tokens.size()) == kRealVocabSize - 2);

  SyntheticVocab vocab;
  vocab.tokens = std::move(bpe.tokens);
  vocab.merges = std::move(bpe.merges);
  vocab.token_types.assign(vocab.tokens.size(), kTokenTypeNormal);
  vocab.bos_id = static_cast<int32_t>(vocab.tokens.size());
  vocab.tokens.emplace_back(kBosText);
  vocab.eos_id = static_cast<int32_t>(vocab.tokens.size());
  vocab.tokens.emplace_back(kEosText);
  vocab.token_types.push_back(kTokenTypeControl);
  vocab.token_types.push_back(kTokenTypeControl);
  vocab.tokens.reserve(n_vocab);
  vocab.token_types.reserve(n_vocab);
  for (int64_t id = kRealVocabSize; id < n_vocab; ++id) {
    vocab.tokens.push_back("<unused_" + std::to_string(id - kRealVocabSize) + ">");
    vocab.token_types.push_back(kTokenTypeUnused);
  }
  return vocab;
}

}  // namespace moelab::synthetic
