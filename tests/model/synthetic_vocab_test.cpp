// The synthetic vocabulary: GPT-2's byte-to-unicode table, the pre-split and
// the BPE trainer against hand-derived results, and the layout llama.cpp
// expects (BOS/EOS last as control tokens, fillers for big vocabularies).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/synthetic/bpe_vocab.h"

namespace moelab::synthetic {
namespace {

using ::testing::ElementsAre;

TEST(SyntheticVocabTest, ByteToUnicodeMatchesGpt2Table) {
  // GPT-2's table: printable Latin-1 bytes are themselves; the 33 bytes 0..32
  // become U+0100..U+0120, the 34 bytes 127..160 U+0121..U+0142, 173 U+0143.
  EXPECT_EQ(byte_to_unicode(0), "\u0100");   // Ā
  EXPECT_EQ(byte_to_unicode(10), "\u010A");  // Ċ (newline)
  EXPECT_EQ(byte_to_unicode(32), "\u0120");  // Ġ (space)
  EXPECT_EQ(byte_to_unicode('!'), "!");
  EXPECT_EQ(byte_to_unicode('~'), "~");
  EXPECT_EQ(byte_to_unicode(127), "\u0121");  // ġ
  EXPECT_EQ(byte_to_unicode(160), "\u0142");  // ł
  EXPECT_EQ(byte_to_unicode(161), "\u00A1");  // ¡
  EXPECT_EQ(byte_to_unicode(173), "\u0143");  // Ń (soft hyphen)
  EXPECT_EQ(byte_to_unicode(255), "\u00FF");  // ÿ
  std::set<std::string> all;
  for (int b = 0; b < 256; ++b) all.insert(byte_to_unicode(static_cast<uint8_t>(b)));
  EXPECT_EQ(all.size(), 256u);
}

TEST(SyntheticVocabTest, PreSplitKeepsLeadingSpace) {
  EXPECT_THAT(pre_split("the cat\nsat  on"), ElementsAre("the", " cat", "\nsat", " ", " on"));
  EXPECT_THAT(pre_split(" a"), ElementsAre(" a"));
  EXPECT_TRUE(pre_split("").empty());
}

TEST(SyntheticVocabTest, TrainsHandDerivedMerges) {
  // "aaabdaaabac" by hand: pairs aa:4 ab:2 ... -> "a a". Then (a,b):2 ties
  // (aa,a):2 and the smaller pair (97,98) wins -> "a b". Then (aa,ab):2 ->
  // "aa ab". Then every pair occurs once; the smallest is (a=97, c=99).
  BpeTraining bpe = train_byte_bpe("aaabdaaabac", 260);
  EXPECT_THAT(bpe.merges, ElementsAre("a a", "a b", "aa ab", "a c"));
  ASSERT_EQ(bpe.tokens.size(), 260u);
  EXPECT_EQ(bpe.tokens[256], "aa");
  EXPECT_EQ(bpe.tokens[257], "ab");
  EXPECT_EQ(bpe.tokens[258], "aaab");
  EXPECT_EQ(bpe.tokens[259], "ac");
}

TEST(SyntheticVocabTest, TrainingCountsPreTokensAndSpaces) {
  // Pieces "ab" x1 and " ab" x3: (a,b) occurs 4 times, (Ġ,a) 3, so "a b"
  // first; then the only pair left is (Ġ,ab), 3 times -> "Ġab".
  BpeTraining bpe = train_byte_bpe("ab ab ab ab", 258);
  EXPECT_THAT(bpe.merges, ElementsAre("a b", "\u0120 ab"));
  EXPECT_EQ(bpe.tokens[257], "\u0120ab");
}

TEST(SyntheticVocabTest, StopsWhenNoPairIsLeft) {
  BpeTraining bpe = train_byte_bpe("ab", 300);
  EXPECT_THAT(bpe.merges, ElementsAre("a b"));
  EXPECT_EQ(bpe.tokens.size(), 257u);
}

TEST(SyntheticVocabTest, SyntheticVocabularyLayout) {
  SyntheticVocab v = synthetic_vocab(512);
  ASSERT_EQ(v.tokens.size(), 512u);
  ASSERT_EQ(v.token_types.size(), 512u);
  EXPECT_EQ(v.bos_id, 510);
  EXPECT_EQ(v.eos_id, 511);
  EXPECT_EQ(v.tokens[510], "<｜begin▁of▁sentence｜>");
  EXPECT_EQ(v.tokens[511], "<｜end▁of▁sentence｜>");
  EXPECT_EQ(v.token_types[510], 3);
  EXPECT_EQ(v.token_types[511], 3);
  for (int i = 0; i < 510; ++i) EXPECT_EQ(v.token_types[i], 1) << i;
  for (int b = 0; b < 256; ++b) EXPECT_EQ(v.tokens[b], byte_to_unicode(static_cast<uint8_t>(b)));

  // Every token is unique, and each merge joins two tokens into a later one:
  // the ranks a BPE encoder applies must all be reachable.
  std::unordered_map<std::string, int> id_of;
  for (int i = 0; i < 512; ++i) EXPECT_TRUE(id_of.emplace(v.tokens[i], i).second) << i;
  EXPECT_GE(v.merges.size(), 254u);
  std::set<int> produced;
  for (const std::string& merge : v.merges) {
    const size_t space = merge.find(' ');
    ASSERT_NE(space, std::string::npos) << merge;
    const std::string left = merge.substr(0, space);
    const std::string right = merge.substr(space + 1);
    ASSERT_TRUE(id_of.count(left) && id_of.count(right) && id_of.count(left + right)) << merge;
    EXPECT_LT(id_of[left], id_of[left + right]);
    EXPECT_LT(id_of[right], id_of[left + right]);
    produced.insert(id_of[left + right]);
  }
  for (int i = 256; i < 510; ++i) EXPECT_TRUE(produced.count(i)) << v.tokens[i];
  // The corpus has English, so the usual first merges are there.
  EXPECT_TRUE(id_of.count("\u0120the"));
}

TEST(SyntheticVocabTest, BigVocabularyIsPaddedWithUnusedTokens) {
  SyntheticVocab v = synthetic_vocab(129280);
  ASSERT_EQ(v.tokens.size(), 129280u);
  ASSERT_EQ(v.token_types.size(), 129280u);
  EXPECT_EQ(v.tokens[512], "<unused_0>");
  EXPECT_EQ(v.tokens[129279], "<unused_128767>");
  EXPECT_EQ(v.token_types[512], 5);
  EXPECT_EQ(v.token_types[129279], 5);
  EXPECT_EQ(v.eos_id, 511);
  SyntheticVocab small = synthetic_vocab(512);
  EXPECT_EQ(small.merges, v.merges);
}

}  // namespace
}  // namespace moelab::synthetic
