#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace moelab {
namespace {

// The plain definition: the first index holding the largest non-NaN value.
int32_t first_largest(const std::vector<float>& l) {
  int32_t best = -1;
  for (int32_t i = 0; i < static_cast<int32_t>(l.size()); ++i) {
    if (std::isnan(l[i])) continue;
    if (best < 0 || l[i] > l[best]) best = i;
  }
  return best < 0 ? 0 : best;
}

TEST(GreedyToken, MatchesThePlainDefinition) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  // Lengths around the 16-lane blocks, and a vocabulary-sized one.
  for (int32_t n : {1, 2, 15, 16, 17, 31, 33, 1000, 129280}) {
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> l(n);
      for (float& v : l) v = dist(rng);
      // Ties with the maximum (the lowest id must win), NaNs and infinities.
      if (n > 4 && trial % 2 == 0) l[n / 2] = l[n - 1] = *std::max_element(l.begin(), l.end());
      if (n > 4 && trial % 3 == 0) l[rng() % n] = NAN;
      if (n > 4 && trial % 5 == 0) l[rng() % n] = -INFINITY;
      if (n > 4 && trial == 7) l[rng() % n] = INFINITY;
      ASSERT_EQ(greedy_token(l.data(), n), first_largest(l)) << "n " << n << " trial " << trial;
    }
  }
}

TEST(GreedyToken, NaNIsNeverChosen) {
  std::vector<float> l = {NAN, -5.0f, NAN, -1.0f, NAN};
  EXPECT_EQ(greedy_token(l.data(), 5), 3);
  std::vector<float> all_nan(40, NAN);
  EXPECT_EQ(greedy_token(all_nan.data(), 40), 0);
  std::vector<float> neg_inf(40, -INFINITY);
  EXPECT_EQ(greedy_token(neg_inf.data(), 40), 0);
}

TEST(GreedyToken, IsTheSamplersGreedyChoice) {
  Sampler s(SamplingParams{});  // temperature 0: greedy
  std::vector<float> l(100);
  for (int i = 0; i < 100; ++i) l[i] = static_cast<float>((i * 37) % 101);
  EXPECT_EQ(s.sample(l.data(), 100, {}), first_largest(l));
}

}  // namespace
}  // namespace moelab
