#include "tokenizer/byte_level.h"

#include <unordered_map>

#include "tokenizer/utf8.h"

namespace moelab {

namespace {

struct Tables {
  std::array<char32_t, 256> to_unicode{};
  std::array<std::string, 256> chars;
  std::unordered_map<char32_t, unsigned char> to_byte;

  Tables() {
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      to_unicode[b] = printable ? static_cast<char32_t>(b) : next++;
      append_utf8(&chars[b], to_unicode[b]);
      to_byte[to_unicode[b]] = static_cast<unsigned char>(b);
    }
  }
};

const Tables& tables() {
  static const Tables kTables;
  return kTables;
}

}  // namespace

char32_t byte_to_unicode(unsigned char byte) { return tables().to_unicode[byte]; }

const std::array<std::string, 256>& byte_level_chars() { return tables().chars; }

std::string bytes_to_byte_level(std::string_view bytes) {
  const auto& chars = tables().chars;
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += chars[static_cast<unsigned char>(c)];
  return out;
}

bool byte_level_to_bytes(std::string_view text, std::string* out) {
  const auto& to_byte = tables().to_byte;
  bool clean = true;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t len = utf8_valid_length(text, pos);
    if (len == 0) {
      out->push_back(text[pos++]);
      clean = false;
      continue;
    }
    const auto it = to_byte.find(decode_utf8(text, pos, len));
    if (it != to_byte.end()) {
      out->push_back(static_cast<char>(it->second));
    } else {
      out->append(text.substr(pos, len));
      clean = false;
    }
    pos += len;
  }
  return clean;
}

}  // namespace moelab
