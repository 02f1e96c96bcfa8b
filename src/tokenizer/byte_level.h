// The ByteLevel mapping of GPT-2 style BPE: every byte is shown as one printable
// Unicode character, so vocabularies and merges are plain strings (a space is
// "Ġ", a newline "Ċ"). Bytes 33..126, 161..172 and 174..255 stand for
// themselves; the other 68 bytes map, in order, to U+0100 onwards.
// Tables are built once; all functions are thread-safe.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace moelab {

// The code point that stands for `byte`.
char32_t byte_to_unicode(unsigned char byte);

// The UTF-8 encoding of byte_to_unicode(b) for every byte b.
const std::array<std::string, 256>& byte_level_chars();

// Raw bytes -> their byte-level string.
std::string bytes_to_byte_level(std::string_view bytes);

// Byte-level string -> raw bytes. Characters outside the mapping (which a
// well-formed vocabulary never has) and invalid UTF-8 are copied through
// unchanged; returns false when that happened.
bool byte_level_to_bytes(std::string_view text, std::string* out);

}  // namespace moelab
