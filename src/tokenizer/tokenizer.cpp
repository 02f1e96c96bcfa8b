#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <queue>

#include "base/log.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace moelab {

namespace {

// Words longer than this are rare and unlikely to repeat: not cached.
constexpr size_t kMaxCachedWordBytes = 256;
// The cache is dropped whole when it grows past this many words.
constexpr size_t kMaxCachedWords = 1 << 16;

// Control tokens that end a turn in the chat formats we know, when the GGUF
// does not name them as EOT.
constexpr const char* kEndOfTurnTexts[] = {
    "<|eot_id|>",    "<|im_end|>",    "<|end|>",
    "<end_of_turn>", "<|endoftext|>", "<｜end▁of▁sentence｜>",
    "<|eom_id|>",    "<|return|>",    "<|call|>",
};

uint64_t pair_key(int32_t left, int32_t right) {
  return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 | static_cast<uint32_t>(right);
}

}  // namespace

struct Tokenizer::Cache {
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>> words;
};

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Result<Tokenizer> Tokenizer::create(Vocab vocab) {
  if (vocab.model != "gpt2") {
    return Status::error("unsupported tokenizer model '" + vocab.model +
                         "' (only byte-level BPE, 'gpt2', is supported)");
  }
  const size_t n = vocab.tokens.size();
  if (n == 0) return Status::error("tokenizer vocabulary is empty");
  if (n > (1u << 30)) return Status::error("tokenizer vocabulary too large: " + std::to_string(n));
  if (vocab.token_types.empty()) vocab.token_types.assign(n, TokenType::kNormal);
  if (vocab.token_types.size() != n) {
    return Status::error("tokenizer has " + std::to_string(n) + " tokens but " +
                         std::to_string(vocab.token_types.size()) + " token types");
  }
  for (int32_t* id :
       {&vocab.bos_id, &vocab.eos_id, &vocab.eot_id, &vocab.eom_id, &vocab.pad_id, &vocab.unk_id}) {
    if (*id >= static_cast<int64_t>(n)) {
      return Status::error("special token id " + std::to_string(*id) + " is outside the " +
                           std::to_string(n) + "-token vocabulary");
    }
    if (*id < 0) *id = -1;
  }

  Tokenizer tok;
  tok.cache_ = std::make_unique<Cache>();
  if (!vocab.pre_patterns.empty()) {
    std::string name = PreTokenizer::name_of_patterns(vocab.pre_patterns);
    if (name.empty()) name = vocab.pre.empty() ? "custom" : vocab.pre;
    MOELAB_ASSIGN_OR_RETURN(tok.pre_, PreTokenizer::from_patterns(vocab.pre_patterns, name));
  } else {
    MOELAB_ASSIGN_OR_RETURN(tok.pre_, PreTokenizer::from_name(vocab.pre));
  }

  tok.token_to_id_.reserve(n);
  tok.pieces_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& text = vocab.tokens[i];
    tok.token_to_id_.emplace(text, static_cast<int32_t>(i));  // the first id wins
    const TokenType type = vocab.token_types[i];
    if (type == TokenType::kControl || type == TokenType::kUserDefined ||
        type == TokenType::kUnknown) {
      tok.pieces_[i] = text;
      if (type != TokenType::kUnknown && !text.empty()) {
        tok.specials_.push_back({text, static_cast<int32_t>(i), type == TokenType::kControl});
      }
    } else {
      byte_level_to_bytes(text, &tok.pieces_[i]);
    }
  }
  // Longest first, so the first match at a position is the longest.
  std::stable_sort(
      tok.specials_.begin(), tok.specials_.end(),
      [](const Special& a, const Special& b) { return a.text.size() > b.text.size(); });
  for (const Special& s : tok.specials_) {
    tok.special_first_byte_[static_cast<unsigned char>(s.text[0])] = true;
  }

  const auto& chars = byte_level_chars();
  for (int b = 0; b < 256; ++b) {
    const auto it = tok.token_to_id_.find(chars[b]);
    tok.byte_token_[b] = it == tok.token_to_id_.end() ? -1 : it->second;
  }

  tok.merges_.reserve(vocab.merges.size());
  size_t skipped = 0;
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const auto& [left, right] = vocab.merges[rank];
    const auto l = tok.token_to_id_.find(left);
    const auto r = tok.token_to_id_.find(right);
    const auto m = tok.token_to_id_.find(left + right);
    if (l == tok.token_to_id_.end() || r == tok.token_to_id_.end() || m == tok.token_to_id_.end()) {
      ++skipped;  // a merge whose parts are not tokens can never apply
      continue;
    }
    // A pair listed twice keeps its first (best) rank.
    tok.merges_.emplace(pair_key(l->second, r->second),
                        static_cast<uint64_t>(rank) << 32 | static_cast<uint32_t>(m->second));
  }
  if (skipped > 0) {
    log_warn("tokenizer: " + std::to_string(skipped) + " of " +
             std::to_string(vocab.merges.size()) + " merges name strings that are not tokens");
  }

  tok.eog_.assign(n, false);
  for (int32_t id : {vocab.eos_id, vocab.eot_id, vocab.eom_id}) {
    if (id >= 0) tok.eog_[id] = true;
  }
  for (const char* text : kEndOfTurnTexts) {
    const auto it = tok.token_to_id_.find(text);
    if (it != tok.token_to_id_.end() && vocab.token_types[it->second] == TokenType::kControl) {
      tok.eog_[it->second] = true;
    }
  }
  tok.vocab_ = std::move(vocab);
  return tok;
}

const Tokenizer::Special* Tokenizer::match_special(std::string_view text, size_t pos,
                                                   bool parse_special) const {
  if (!special_first_byte_[static_cast<unsigned char>(text[pos])]) return nullptr;
  const size_t left = text.size() - pos;
  for (const Special& s : specials_) {
    if (s.control && !parse_special) continue;
    if (s.text.size() <= left &&
        std::memcmp(text.data() + pos, s.text.data(), s.text.size()) == 0) {
      return &s;
    }
  }
  return nullptr;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos,
                                       bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
  std::vector<std::string_view> words;
  std::string normalized;
  const auto flush_text = [&](std::string_view stretch) {
    if (stretch.empty()) return;
    if (vocab_.nfc) {
      normalized = nfc_normalize(stretch);
      stretch = normalized;
    }
    words.clear();
    pre_.split(stretch, &words);
    for (std::string_view word : words) encode_word(word, &out);
  };
  size_t start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const Special* special = specials_.empty() ? nullptr : match_special(text, pos, parse_special);
    if (special == nullptr) {
      ++pos;
      continue;
    }
    flush_text(text.substr(start, pos - start));
    out.push_back(special->id);
    pos += special->text.size();
    start = pos;
  }
  flush_text(text.substr(start));
  if (vocab_.add_eos && vocab_.eos_id >= 0) out.push_back(vocab_.eos_id);
  return out;
}

void Tokenizer::encode_word(std::string_view word, std::vector<int32_t>* out) const {
  if (word.size() == 1) {
    const int32_t id = byte_token_[static_cast<unsigned char>(word[0])];
    if (id >= 0) {
      out->push_back(id);
    } else if (vocab_.unk_id >= 0) {
      out->push_back(vocab_.unk_id);
    }
    return;
  }
  if (vocab_.ignore_merges) {
    const auto it = token_to_id_.find(bytes_to_byte_level(word));
    if (it != token_to_id_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    const auto it = cache_->words.find(std::string(word));
    if (it != cache_->words.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out->size();
  bpe(word, out);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (cache_->words.size() >= kMaxCachedWords) cache_->words.clear();
    cache_->words.emplace(std::string(word),
                          std::vector<int32_t>(out->begin() + first, out->end()));
  }
}

// Merges over a linked list of symbols, lowest rank first and leftmost among
// equal ranks (as Hugging Face and llama.cpp do), with a heap of candidate
// pairs: O(n log n) in the word's length. Stale heap entries are recognised
// by the ids they were made from.
void Tokenizer::bpe(std::string_view word, std::vector<int32_t>* out) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
  };
  struct Candidate {
    uint32_t rank;
    int32_t left;
    int32_t right;
    int32_t left_id;
    int32_t right_id;
    int32_t merged_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  const int32_t n = static_cast<int32_t>(word.size());
  std::vector<Symbol> symbols(n);
  for (int32_t i = 0; i < n; ++i) {
    symbols[i] = {byte_token_[static_cast<unsigned char>(word[i])], i - 1, i + 1 < n ? i + 1 : -1};
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  const auto consider = [&](int32_t left) {
    if (left < 0) return;
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    const int32_t a = symbols[left].id;
    const int32_t b = symbols[right].id;
    if (a < 0 || b < 0) return;
    const auto it = merges_.find(pair_key(a, b));
    if (it == merges_.end()) return;
    heap.push({static_cast<uint32_t>(it->second >> 32), left, right, a, b,
               static_cast<int32_t>(it->second & 0xFFFFFFFFu)});
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& left = symbols[c.left];
    if (left.id != c.left_id || left.next != c.right || symbols[c.right].id != c.right_id) {
      continue;  // one side has merged since this pair was queued
    }
    Symbol& right = symbols[c.right];
    left.id = c.merged_id;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    right.id = -2;  // dead
    right.next = right.prev = -1;
    consider(left.prev);
    consider(c.left);
  }
  for (int32_t i = 0; i >= 0 && i < n; i = symbols[i].next) {
    if (symbols[i].id >= 0) {
      out->push_back(symbols[i].id);
    } else if (vocab_.unk_id >= 0) {
      out->push_back(vocab_.unk_id);  // a byte with no token of its own
    }
  }
}

std::string Tokenizer::token_to_piece(int32_t id, bool render_special) const {
  if (id < 0 || id >= n_vocab()) return "";
  if (!render_special && vocab_.token_types[id] == TokenType::kControl) return "";
  return pieces_[id];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool render_special) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= n_vocab()) continue;
    if (!render_special && vocab_.token_types[id] == TokenType::kControl) continue;
    out += pieces_[id];
  }
  return out;
}

bool Tokenizer::is_eog(int32_t id) const { return id >= 0 && id < n_vocab() && eog_[id]; }

bool Tokenizer::is_control(int32_t id) const {
  return id >= 0 && id < n_vocab() && vocab_.token_types[id] == TokenType::kControl;
}

int32_t Tokenizer::token_id(std::string_view token) const {
  const auto it = token_to_id_.find(std::string(token));
  return it == token_to_id_.end() ? -1 : it->second;
}

const std::string& Tokenizer::token_text(int32_t id) const {
  static const std::string kEmpty;
  return id >= 0 && id < n_vocab() ? vocab_.tokens[id] : kEmpty;
}

std::string StreamDecoder::push(int32_t id) {
  pending_ += tokenizer_->token_to_piece(id, render_special_);
  const size_t ready = utf8_releasable_prefix(pending_);
  std::string out = pending_.substr(0, ready);
  pending_.erase(0, ready);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace moelab
