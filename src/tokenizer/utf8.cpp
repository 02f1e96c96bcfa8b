#include "tokenizer/utf8.h"

#include <cstdint>

namespace moelab {

namespace {

bool is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// Bytes the sequence led by `lead` needs in total, or 0 for an impossible lead.
size_t expected_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;  // continuation bytes, C0/C1 (overlong) and F5..FF
}

// The allowed range of the second byte, which is where overlong forms,
// surrogates and values above U+10FFFF are excluded.
bool second_byte_ok(uint8_t lead, uint8_t second) {
  if (!is_continuation(second)) return false;
  if (lead == 0xE0) return second >= 0xA0;
  if (lead == 0xED) return second <= 0x9F;
  if (lead == 0xF0) return second >= 0x90;
  if (lead == 0xF4) return second <= 0x8F;
  return true;
}

}  // namespace

size_t utf8_valid_length(std::string_view text, size_t pos) {
  if (pos >= text.size()) return 0;
  const auto lead = static_cast<uint8_t>(text[pos]);
  const size_t n = expected_length(lead);
  if (n <= 1) return n;
  if (pos + n > text.size()) return 0;
  if (!second_byte_ok(lead, static_cast<uint8_t>(text[pos + 1]))) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (!is_continuation(static_cast<uint8_t>(text[pos + i]))) return 0;
  }
  return n;
}

void append_utf8(std::string* out, char32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

char32_t decode_utf8(std::string_view text, size_t pos, size_t length) {
  const auto b = [&](size_t i) { return static_cast<uint8_t>(text[pos + i]); };
  switch (length) {
    case 1:
      return b(0);
    case 2:
      return (char32_t{b(0)} & 0x1F) << 6 | (b(1) & 0x3F);
    case 3:
      return (char32_t{b(0)} & 0x0F) << 12 | (char32_t{b(1)} & 0x3F) << 6 | (b(2) & 0x3F);
    default:
      return (char32_t{b(0)} & 0x07) << 18 | (char32_t{b(1)} & 0x3F) << 12 |
             (char32_t{b(2)} & 0x3F) << 6 | (b(3) & 0x3F);
  }
}

size_t utf8_releasable_prefix(std::string_view bytes) {
  const size_t n = bytes.size();
  // Look back for the lead byte of the last sequence (at most 3 bytes back).
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto b = static_cast<uint8_t>(bytes[n - back]);
    if (is_continuation(b)) continue;
    const size_t need = expected_length(b);
    if (need <= back) return n;  // complete, ASCII, or an invalid lead: release
    // Incomplete: hold it back only if what is there could still become valid.
    if (back >= 2 && !second_byte_ok(b, static_cast<uint8_t>(bytes[n - back + 1]))) return n;
    return n - back;
  }
  return n;
}

}  // namespace moelab

#include <utf8proc.h>

#include <cstdlib>

namespace moelab {

std::string nfc_normalize(std::string_view text) {
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                          static_cast<utf8proc_ssize_t>(text.size()), &out,
                                          static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0 || out == nullptr) {
    std::free(out);
    return std::string(text);
  }
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

}  // namespace moelab
