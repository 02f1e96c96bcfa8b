// UTF-8 helpers shared by the tokenizer: validation (the regex engine is run
// without its own UTF check, so everything it sees is checked here first),
// encoding, and the completeness test the stream decoder needs.
// Stateless; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace moelab {

// Length (1-4) of the valid UTF-8 sequence that starts text[pos], or 0 when the
// bytes there are not valid UTF-8 (overlong forms, surrogates, > U+10FFFF and
// truncated sequences are all invalid).
size_t utf8_valid_length(std::string_view text, size_t pos);

// Appends the UTF-8 encoding of `cp` (must be <= U+10FFFF).
void append_utf8(std::string* out, char32_t cp);

// Decodes the valid sequence of `length` bytes at text[pos] (see utf8_valid_length).
char32_t decode_utf8(std::string_view text, size_t pos, size_t length);

// The number of leading bytes of `bytes` that can be released as text now: all
// of them except a trailing sequence that is a valid but incomplete prefix of a
// multi-byte character (at most 3 bytes), which more bytes may complete.
size_t utf8_releasable_prefix(std::string_view bytes);

}  // namespace moelab

namespace moelab {

// Unicode NFC of `text` (utf8proc). Text that is not valid UTF-8 is returned
// unchanged: byte-level BPE encodes it byte by byte either way.
std::string nfc_normalize(std::string_view text);

}  // namespace moelab
