#include "tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utility>

#include "base/log.h"
#include "tokenizer/utf8.h"

namespace moelab {

namespace {

// The patterns exactly as the models' tokenizer.json files write them.
constexpr const char* kContractions = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";

std::vector<std::string> builtin_patterns(std::string_view name) {
  const std::string contractions = kContractions;
  if (name == "deepseek-v3") {
    return {
        "\\p{N}{1,3}",
        "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?"
        "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    };
  }
  if (name == "llama-bpe" || name == "llama3" || name == "llama-v3" || name == "smaug-bpe" ||
      name == "falcon3") {
    return {contractions +
            "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
            "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
  }
  if (name == "qwen2" || name == "deepseek-r1-qwen") {
    return {contractions +
            "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
            "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
  }
  if (name == "gpt2" || name == "gpt-2") {
    return {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"};
  }
  return {};
}

// The Unicode White_Space property, as class contents.
constexpr const char* kWhiteSpace =
    "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
    "\\x{202F}\\x{205F}\\x{3000}";

// Rewrites an Oniguruma-syntax pattern for PCRE2: `\s`/`\S` become explicit
// White_Space classes, and the case-insensitive contraction group is spelled
// out with ASCII letters (PCRE2's caseless matching would also take U+017F as
// 's', which neither llama.cpp nor the reference tokenizers do).
std::string to_pcre2(std::string pattern) {
  const std::string contractions = kContractions;
  for (size_t at; (at = pattern.find(contractions)) != std::string::npos;) {
    pattern.replace(at, contractions.size(),
                    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])");
  }
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[++i];
      if (next == 's') {
        out += in_class ? std::string(kWhiteSpace) : "[" + std::string(kWhiteSpace) + "]";
      } else if (next == 'S' && !in_class) {
        out += "[^" + std::string(kWhiteSpace) + "]";
      } else {
        out += c;
        out += next;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' (or '^]') right after the opening bracket is a literal.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

}  // namespace

struct PreTokenizer::Stage {
  pcre2_code* code = nullptr;
  ~Stage() { pcre2_code_free(code); }

  // Appends the matches of this stage in `piece`, and the gaps between them.
  void split(std::string_view piece, pcre2_match_data* match,
             std::vector<std::string_view>* out) const {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
    size_t start = 0;
    size_t gap_start = 0;
    uint32_t options = PCRE2_NO_UTF_CHECK;  // the text was validated by split()
    while (start < piece.size()) {
      int rc = pcre2_match(code, subject, piece.size(), start, options, match, nullptr);
      if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
        rc =
            pcre2_match(code, subject, piece.size(), start, options | PCRE2_NO_JIT, match, nullptr);
      }
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        // Resource limits only; keep the rest as one piece rather than fail.
        log_warn("pre-tokenizer: regex match failed (PCRE2 error " + std::to_string(rc) +
                 "); keeping " + std::to_string(piece.size() - start) + " bytes unsplit");
        break;
      }
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
      const size_t m_begin = ovector[0];
      const size_t m_end = ovector[1];
      if (m_end == m_begin) {
        // Empty matches split nothing; step over one character.
        const size_t len = utf8_valid_length(piece, start);
        start += len == 0 ? 1 : len;
        continue;
      }
      if (m_begin > gap_start) out->push_back(piece.substr(gap_start, m_begin - gap_start));
      out->push_back(piece.substr(m_begin, m_end - m_begin));
      start = gap_start = m_end;
    }
    if (gap_start < piece.size()) out->push_back(piece.substr(gap_start));
  }
};

Result<PreTokenizer> PreTokenizer::from_name(std::string_view name) {
  std::vector<std::string> patterns = builtin_patterns(name);
  if (patterns.empty()) {
    std::string known;
    for (const auto& n : known_names()) known += (known.empty() ? "" : ", ") + n;
    return Status::error("unknown pre-tokenizer '" + std::string(name) + "' (known: " + known +
                         ")");
  }
  return from_patterns(std::move(patterns), std::string(name));
}

Result<PreTokenizer> PreTokenizer::from_patterns(std::vector<std::string> patterns,
                                                 std::string name) {
  PreTokenizer pre;
  pre.name_ = std::move(name);
  for (size_t i = 0; i < patterns.size(); ++i) {
    const std::string translated = to_pcre2(patterns[i]);
    int error = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                      PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      return Status::error("pre-tokenizer regex " + std::to_string(i) + " '" + patterns[i] +
                           "' does not compile: " + reinterpret_cast<char*>(message) +
                           " at offset " + std::to_string(offset));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if absent
    auto stage = std::make_shared<Stage>();
    stage->code = code;
    pre.stages_.push_back(std::move(stage));
  }
  pre.patterns_ = std::move(patterns);
  return pre;
}

std::string PreTokenizer::name_of_patterns(const std::vector<std::string>& patterns) {
  for (const auto& name : known_names()) {
    if (builtin_patterns(name) == patterns) return name;
  }
  return "";
}

std::vector<std::string> PreTokenizer::known_names() {
  return {"deepseek-v3", "llama-bpe", "qwen2", "gpt2"};
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>* pieces) const {
  // Valid runs go through the stages; each invalid byte stands alone.
  std::vector<std::string_view> current;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = pos;
    while (end < text.size()) {
      const size_t len = utf8_valid_length(text, end);
      if (len == 0) break;
      end += len;
    }
    if (end > pos) current.push_back(text.substr(pos, end - pos));
    if (end < text.size()) current.push_back(text.substr(end, 1));
    pos = end + (end < text.size() ? 1 : 0);
  }
  if (stages_.empty()) {
    pieces->insert(pieces->end(), current.begin(), current.end());
    return;
  }
  pcre2_match_data* match = pcre2_match_data_create(4, nullptr);
  std::vector<std::string_view> next;
  for (size_t s = 0; s < stages_.size(); ++s) {
    next.clear();
    for (std::string_view piece : current) {
      if (utf8_valid_length(piece, 0) == 0) {
        next.push_back(piece);  // an invalid byte: never shown to the regex
      } else {
        stages_[s]->split(piece, match, &next);
      }
    }
    current.swap(next);
  }
  pcre2_match_data_free(match);
  pieces->insert(pieces->end(), current.begin(), current.end());
}

}  // namespace moelab
