// Turns a row of logits into the next token: penalties (repetition,
// presence, frequency), then greedy or temperature sampling with top-k,
// top-p and min-p. Seeded, so a request with a seed is reproducible.
//
// Thread-safety: one Sampler per sequence; not shared.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace moelab {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  int32_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repetition_penalty = 1.0f;  // llama.cpp style: divide positive logits, multiply negative
  float presence_penalty = 0.0f;    // OpenAI: − presence for every token seen
  float frequency_penalty = 0.0f;   // OpenAI: − frequency × count
  int32_t penalty_last_n = 64;      // repetition penalty window (tokens); -1: all
  uint64_t seed = 0;

  // An error naming the field when a value is out of range.
  Status validate() const;
  bool greedy() const { return temperature <= 0.0f; }
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Picks a token from logits [n_vocab]. `history`: tokens the penalties
  // see (prompt and generated so far). Ties in greedy mode go to the lowest id.
  int32_t sample(const float* logits, int32_t n_vocab, const std::vector<int32_t>& history);

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<float> work_;                       // [n_vocab] adjusted logits
  std::vector<std::pair<float, int32_t>> cand_;   // candidates (logit, id)
};

// The greedy choice: the lowest id among the largest logits; NaN logits are
// never chosen (0 if every logit is NaN).
int32_t greedy_token(const float* logits, int32_t n_vocab);

// log-softmax of logits[token], and the k most likely tokens with their
// log-probabilities, from the raw logits (the model's own distribution).
float token_logprob(const float* logits, int32_t n_vocab, int32_t token);
std::vector<std::pair<int32_t, float>> top_logprobs(const float* logits, int32_t n_vocab, int32_t k);

}  // namespace moelab
