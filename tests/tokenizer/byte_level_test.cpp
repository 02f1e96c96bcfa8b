// The byte-level mapping and the UTF-8 helpers, against values derived by hand
// from the GPT-2 byte_to_unicode table and the UTF-8 specification.
#include "tokenizer/byte_level.h"

#include <gtest/gtest.h>

#include <set>

#include "tokenizer/utf8.h"

namespace moelab {
namespace {

TEST(ByteLevel, PrintableBytesMapToThemselves) {
  for (int b : {int{'!'}, int{'A'}, int{'z'}, int{'~'}, 0xA1, 0xAC, 0xAE, 0xFF}) {
    EXPECT_EQ(byte_to_unicode(static_cast<unsigned char>(b)), static_cast<char32_t>(b)) << b;
  }
}

TEST(ByteLevel, OtherBytesMapInOrderFrom256) {
  // 0..32 are the first 33 shifted bytes, then 127..160, then 173.
  EXPECT_EQ(byte_to_unicode(0), 0x100u);
  EXPECT_EQ(byte_to_unicode('\n'), 0x10Au);  // "Ċ"
  EXPECT_EQ(byte_to_unicode(' '), 0x120u);   // "Ġ"
  EXPECT_EQ(byte_to_unicode(127), 0x121u);
  EXPECT_EQ(byte_to_unicode(160), 0x142u);
  EXPECT_EQ(byte_to_unicode(173), 0x143u);
  EXPECT_EQ(bytes_to_byte_level(" the\n"), "\xC4\xA0the\xC4\x8A");  // "Ġthe" + "Ċ"
}

TEST(ByteLevel, MappingIsABijectionAndRoundTrips) {
  std::set<char32_t> seen;
  std::string all;
  for (int b = 0; b < 256; ++b) {
    seen.insert(byte_to_unicode(static_cast<unsigned char>(b)));
    all.push_back(static_cast<char>(b));
  }
  EXPECT_EQ(seen.size(), 256u);
  std::string back;
  EXPECT_TRUE(byte_level_to_bytes(bytes_to_byte_level(all), &back));
  EXPECT_EQ(back, all);
}

TEST(ByteLevel, UnmappedCharactersPassThrough) {
  std::string out;
  EXPECT_FALSE(byte_level_to_bytes("a\xE4\xBD\xA0", &out));  // "你" is not in the table
  EXPECT_EQ(out, "a\xE4\xBD\xA0");
  out.clear();
  EXPECT_FALSE(byte_level_to_bytes("\xFF", &out));  // invalid UTF-8
  EXPECT_EQ(out, "\xFF");
}

TEST(Utf8, ValidLengths) {
  EXPECT_EQ(utf8_valid_length("a", 0), 1u);
  EXPECT_EQ(utf8_valid_length("\xC3\xA9", 0), 2u);          // é
  EXPECT_EQ(utf8_valid_length("\xE4\xBD\xA0", 0), 3u);      // 你
  EXPECT_EQ(utf8_valid_length("\xF0\x9F\x98\x80", 0), 4u);  // 😀
  EXPECT_EQ(utf8_valid_length("\xC0\xAF", 0), 0u);          // overlong '/'
  EXPECT_EQ(utf8_valid_length("\xE0\x80\xAF", 0), 0u);      // overlong
  EXPECT_EQ(utf8_valid_length("\xED\xA0\x80", 0), 0u);      // surrogate U+D800
  EXPECT_EQ(utf8_valid_length("\xF4\x90\x80\x80", 0), 0u);  // > U+10FFFF
  EXPECT_EQ(utf8_valid_length("\xE4\xBD", 0), 0u);          // truncated
  EXPECT_EQ(utf8_valid_length("\x80", 0), 0u);              // lone continuation
}

TEST(Utf8, EncodeDecode) {
  for (char32_t cp : {0x41u, 0xE9u, 0x4F60u, 0x1F600u, 0x10FFFFu}) {
    std::string s;
    append_utf8(&s, cp);
    ASSERT_EQ(utf8_valid_length(s, 0), s.size());
    EXPECT_EQ(decode_utf8(s, 0, s.size()), cp);
  }
}

TEST(Utf8, ReleasablePrefixHoldsOnlyIncompleteTails) {
  EXPECT_EQ(utf8_releasable_prefix("abc"), 3u);
  EXPECT_EQ(utf8_releasable_prefix("a\xE4"), 1u);
  EXPECT_EQ(utf8_releasable_prefix("a\xE4\xBD"), 1u);
  EXPECT_EQ(utf8_releasable_prefix("a\xE4\xBD\xA0"), 4u);
  EXPECT_EQ(utf8_releasable_prefix("\xF0\x9F\x98"), 0u);
  EXPECT_EQ(utf8_releasable_prefix("a\xFF"), 2u);      // invalid: released
  EXPECT_EQ(utf8_releasable_prefix("a\xE0\x80"), 3u);  // can never become valid
  EXPECT_EQ(utf8_releasable_prefix("\x80\x80"), 2u);
}

}  // namespace
}  // namespace moelab
