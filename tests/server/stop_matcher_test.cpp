#include "server/stop_matcher.h"

#include <gtest/gtest.h>

#include <random>

namespace moelab {
namespace {

// Feeds pieces one at a time and concatenates what is released.
std::string run(StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& p : pieces) out += m.push(p);
  out += m.flush();
  return out;
}

TEST(StopMatcher, NoStopsReleasesEverythingAtOnce) {
  StopMatcher m;
  EXPECT_EQ(m.push("hello"), "hello");
  EXPECT_EQ(m.push(" world"), " world");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, StopInsideOnePieceCutsBeforeIt) {
  StopMatcher m({"END"});
  EXPECT_EQ(m.push("abcENDdef"), "abc");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.push("more"), "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, HoldsBackAPossibleStartAcrossPieces) {
  StopMatcher m({"END"});
  EXPECT_EQ(m.push("abcE"), "abc");  // "E" could start "END"
  EXPECT_EQ(m.held_bytes(), 1u);
  EXPECT_EQ(m.push("N"), "");
  EXPECT_EQ(m.push("D tail"), "");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcher, ReleasesHeldTextWhenItCannotMatch) {
  StopMatcher m({"END"});
  EXPECT_EQ(m.push("xEN"), "x");
  EXPECT_EQ(m.push("x"), "ENx");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, FlushReleasesAnUnfinishedPrefix) {
  StopMatcher m({"</s>"});
  EXPECT_EQ(m.push("done</"), "done");
  EXPECT_EQ(m.flush(), "</");
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
  StopMatcher m({"world", "lo w"});
  EXPECT_EQ(m.push("hello world"), "hel");
}

TEST(StopMatcher, OverlappingPrefixIsFoundAfterAFalseStart) {
  StopMatcher m({"aab"});
  EXPECT_EQ(run(m, {"a", "a", "a", "b", "c"}), "a");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcher, EmptyStopStringsAreIgnored) {
  StopMatcher m({""});
  EXPECT_EQ(m.push("abc"), "abc");
  EXPECT_FALSE(m.stopped());
}

// Whatever way the text is cut into pieces, the result equals the text up to
// the first occurrence of a stop string (std::string::find, independent).
TEST(StopMatcher, AnySplitMatchesTheWholeTextReference) {
  std::mt19937 rng(7);
  const std::vector<std::string> stops = {"ab", "bca", "cc"};
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text;
    const int len = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < len; ++i) text += static_cast<char>('a' + rng() % 3);
    size_t first = std::string::npos;
    for (const auto& s : stops) first = std::min(first, text.find(s));
    const std::string expected = first == std::string::npos ? text : text.substr(0, first);
    std::vector<std::string> pieces;
    for (size_t pos = 0; pos < text.size();) {
      const size_t n = 1 + rng() % 3;
      pieces.push_back(text.substr(pos, n));
      pos += n;
    }
    StopMatcher m(stops);
    EXPECT_EQ(run(m, pieces), expected) << text;
    EXPECT_EQ(m.stopped(), first != std::string::npos) << text;
  }
}

}  // namespace
}  // namespace moelab
