// BPE merging, special tokens, pre-tokenizer splits and the stream decoder on
// a small hand-built vocabulary, with expected results derived by hand.
#include <gtest/gtest.h>

#include <thread>

#include "tokenizer/byte_level.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace moelab {
namespace {

// Ids 0..255: the byte tokens in byte order, so a byte's id is its value.
constexpr int32_t kAb = 256, kBc = 257, kAbc = 258, kCc = 259, kCtrl = 260, kUser = 261,
                  kAbcc = 262, kAa = 263;

Vocab small_vocab() {
  Vocab v;
  v.pre = "deepseek-v3";
  for (const auto& c : byte_level_chars()) v.tokens.push_back(c);
  v.tokens.insert(v.tokens.end(), {"ab", "bc", "abc", "cc", "<|x|>", "<|x|>y", "abcc", "aa"});
  v.token_types.assign(v.tokens.size(), TokenType::kNormal);
  v.token_types[kCtrl] = TokenType::kControl;
  v.token_types[kUser] = TokenType::kUserDefined;
  v.merges = {{"a", "b"}, {"b", "c"}, {"ab", "c"}, {"c", "c"}, {"a", "a"}};
  v.bos_id = kCtrl;
  v.eos_id = kCtrl;
  return v;
}

Tokenizer make(Vocab v) {
  auto tok = Tokenizer::create(std::move(v));
  EXPECT_TRUE(tok.is_ok()) << tok.status().message();
  return std::move(tok).value();
}

using Ids = std::vector<int32_t>;

TEST(Bpe, MergesApplyInRankOrder) {
  const Tokenizer tok = make(small_vocab());
  EXPECT_EQ(tok.encode("abc"), (Ids{kAbc}));      // ab (rank 0) first, then ab+c
  EXPECT_EQ(tok.encode("bcc"), (Ids{kBc, 'c'}));  // bc (rank 1) beats cc (rank 3)
  EXPECT_EQ(tok.encode("cab"), (Ids{'c', kAb}));
  EXPECT_EQ(tok.encode("xyz"), (Ids{'x', 'y', 'z'}));
}

TEST(Bpe, EqualRanksMergeLeftmostFirst) {
  const Tokenizer tok = make(small_vocab());
  EXPECT_EQ(tok.encode("ccc"), (Ids{kCc, 'c'}));
  EXPECT_EQ(tok.encode("cccc"), (Ids{kCc, kCc}));
  EXPECT_EQ(tok.encode("aaaaa"), (Ids{kAa, kAa, 'a'}));
}

TEST(Bpe, IgnoreMergesTakesWholeWordTokens) {
  Vocab v = small_vocab();
  EXPECT_EQ(make(v).encode("abcc"), (Ids{kAbc, 'c'}));
  v.ignore_merges = true;
  EXPECT_EQ(make(v).encode("abcc"), (Ids{kAbcc}));
}

TEST(Bpe, SpecialTokensLongestFirstAndParseSpecial) {
  const Tokenizer tok = make(small_vocab());
  EXPECT_EQ(tok.encode("ab<|x|>yab"), (Ids{kAb, kUser, kAb}));  // longest match
  EXPECT_EQ(tok.encode("<|x|>z"), (Ids{kCtrl, 'z'}));
  // Without parse_special the control token is plain text; the user-defined
  // one is still recognised (llama.cpp's behaviour).
  EXPECT_EQ(tok.encode("<|x|>z", false, false), (Ids{'<', '|', 'x', '|', '>', 'z'}));
  EXPECT_EQ(tok.encode("<|x|>y", false, false), (Ids{kUser}));
  EXPECT_EQ(tok.encode("ab", /*add_bos=*/true), (Ids{kCtrl, kAb}));
}

TEST(Bpe, DecodeAndPieces) {
  const Tokenizer tok = make(small_vocab());
  EXPECT_EQ(tok.token_to_piece(' '), " ");
  EXPECT_EQ(tok.token_to_piece(kAbc), "abc");
  EXPECT_EQ(tok.token_to_piece(kCtrl), "<|x|>");
  EXPECT_EQ(tok.token_to_piece(kCtrl, /*render_special=*/false), "");
  EXPECT_EQ(tok.token_to_piece(kUser, false), "<|x|>y");
  EXPECT_EQ(tok.token_to_piece(-1), "");
  EXPECT_EQ(tok.token_to_piece(100000), "");
  EXPECT_EQ(tok.decode({kAb, ' ', kCtrl, 999999, -5, 'c'}), "ab <|x|>c");
  EXPECT_EQ(tok.decode({kAb, kCtrl}, false), "ab");
  EXPECT_TRUE(tok.is_eog(kCtrl));
  EXPECT_FALSE(tok.is_eog(kAb));
  EXPECT_FALSE(tok.is_eog(-1));
  EXPECT_EQ(tok.token_id("abc"), kAbc);
  EXPECT_EQ(tok.token_id("nope"), -1);
}

TEST(Bpe, InvalidUtf8RoundTripsByteByByte) {
  const Tokenizer tok = make(small_vocab());
  const std::string text = "ab\xFF\xC0\xAF c\xE4\xBD";
  const Ids ids = tok.encode(text);
  EXPECT_EQ(ids, (Ids{kAb, 0xFF, 0xC0, 0xAF, ' ', 'c', 0xE4, 0xBD}));
  EXPECT_EQ(tok.decode(ids), text);
}

TEST(Bpe, LongRepeatedInputIsFastAndExact) {
  const Tokenizer tok = make(small_vocab());
  const std::string text(100000, 'a');
  const Ids ids = tok.encode(text);
  EXPECT_EQ(ids.size(), 50000u);  // pairs of "aa", leftmost first
  EXPECT_EQ(tok.decode(ids), text);
  const std::string spaces = std::string(100000, ' ') + "x";
  EXPECT_EQ(tok.decode(tok.encode(spaces)), spaces);
}

TEST(Bpe, RejectsBadVocabularies) {
  Vocab v = small_vocab();
  v.model = "llama";
  EXPECT_FALSE(Tokenizer::create(v).is_ok());
  v = small_vocab();
  v.token_types.pop_back();
  EXPECT_FALSE(Tokenizer::create(v).is_ok());
  v = small_vocab();
  v.bos_id = 100000;
  EXPECT_FALSE(Tokenizer::create(v).is_ok());
  v = small_vocab();
  v.pre = "no-such-rules";
  const auto bad = Tokenizer::create(v);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("no-such-rules"), std::string::npos);
  EXPECT_FALSE(Tokenizer::create(Vocab{}).is_ok());
}

TEST(Bpe, ConcurrentEncodesAgree) {
  // The word cache is shared; concurrent use must give the serial answer.
  const Tokenizer tok = make(small_vocab());
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back("abc cab " + std::string(i % 17, 'c') + " aab");
  const Tokenizer serial = make(small_vocab());  // a separate, cold cache
  std::vector<Ids> expected;
  for (const auto& t : texts) expected.push_back(serial.encode(t));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int rep = 0; rep < 5; ++rep) {
        for (size_t i = 0; i < texts.size(); ++i)
          mismatches[w] += tok.encode(texts[i]) != expected[i];
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(StreamDecoder, HoldsSplitCharactersUntilComplete) {
  const Tokenizer tok = make(small_vocab());
  StreamDecoder stream(tok);
  EXPECT_EQ(stream.push('a'), "a");
  EXPECT_EQ(stream.push(0xE4), "");  // 你 = E4 BD A0, one byte per token
  EXPECT_EQ(stream.push(0xBD), "");
  EXPECT_EQ(stream.pending_bytes(), 2u);
  EXPECT_EQ(stream.push(0xA0), "\xE4\xBD\xA0");
  EXPECT_EQ(stream.push(0xF0), "");  // 😀 = F0 9F 98 80, cut short
  EXPECT_EQ(stream.push(0x9F), "");
  EXPECT_EQ(stream.push(kCtrl), "");  // control text is not rendered by default
  EXPECT_EQ(stream.flush(), "\xF0\x9F");
  EXPECT_EQ(stream.push(0xFF), "\xFF");  // never valid: passed through
  EXPECT_EQ(stream.flush(), "");
}

TEST(StreamDecoder, ConcatenationEqualsDecode) {
  const Tokenizer tok = make(small_vocab());
  const std::string text = "abc 你好 😀 ccc\xFF";
  const Ids ids = tok.encode(text);
  StreamDecoder stream(tok, /*render_special=*/true);
  std::string out;
  for (int32_t id : ids) out += stream.push(id);
  out += stream.flush();
  EXPECT_EQ(out, tok.decode(ids));
  EXPECT_EQ(out, text);
}

std::vector<std::string> split(const PreTokenizer& pre, std::string_view text) {
  std::vector<std::string_view> pieces;
  pre.split(text, &pieces);
  return {pieces.begin(), pieces.end()};
}

using Pieces = std::vector<std::string>;

TEST(PreTokenizer, DeepSeekV3ThreeStages) {
  auto pre = PreTokenizer::from_name("deepseek-v3");
  ASSERT_TRUE(pre.is_ok()) << pre.status().message();
  EXPECT_EQ(split(*pre, "abc 12345 你好ab"), (Pieces{"abc", " ", "123", "45", " ", "你好", "ab"}));
  EXPECT_EQ(split(*pre, "x.Foo  bar\n\n"), (Pieces{"x", ".Foo", " ", " bar", "\n\n"}));
  EXPECT_EQ(split(*pre, ""), Pieces{});
}

TEST(PreTokenizer, Llama3AndQwen2AndGpt2) {
  auto llama = PreTokenizer::from_name("llama-bpe");
  auto qwen = PreTokenizer::from_name("qwen2");
  auto gpt2 = PreTokenizer::from_name("gpt2");
  ASSERT_TRUE(llama.is_ok() && qwen.is_ok() && gpt2.is_ok());
  EXPECT_EQ(split(*llama, "I'm 12345 ok!\n\n"),
            (Pieces{"I", "'m", " ", "123", "45", " ok", "!\n\n"}));
  EXPECT_EQ(split(*llama, "WE'LL"), (Pieces{"WE", "'LL"}));
  EXPECT_EQ(split(*qwen, "a12345"), (Pieces{"a", "1", "2", "3", "4", "5"}));
  EXPECT_EQ(split(*gpt2, "Hello  world"), (Pieces{"Hello", " ", " world"}));
  // \s is Unicode White_Space (U+3000 and U+0085 included): a run of them
  // splits as whitespace, one before the letter and the rest before that.
  // Were they not whitespace, " ?[^\s\p{L}\p{N}]+" would keep the run whole.
  EXPECT_EQ(split(*gpt2, "a\u3000\u3000b"), (Pieces{"a", "\u3000", "\u3000", "b"}));
  EXPECT_EQ(split(*gpt2, "a\u0085\u0085b"), (Pieces{"a", "\u0085", "\u0085", "b"}));
}

TEST(PreTokenizer, ErrorsNameTheProblem) {
  const auto unknown = PreTokenizer::from_name("tekken-9");
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.status().message().find("deepseek-v3"), std::string::npos);
  const auto bad = PreTokenizer::from_patterns({"[unclosed"}, "custom");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("[unclosed"), std::string::npos);
}

}  // namespace
}  // namespace moelab
