#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace moelab {

Status SamplingParams::validate() const {
  if (!(temperature >= 0.0f && temperature <= 100.0f)) return Status::error("temperature must be in [0, 100]");
  if (top_k < 0) return Status::error("top_k must be >= 0");
  if (!(top_p > 0.0f && top_p <= 1.0f)) return Status::error("top_p must be in (0, 1]");
  if (!(min_p >= 0.0f && min_p <= 1.0f)) return Status::error("min_p must be in [0, 1]");
  if (!(repetition_penalty > 0.0f && repetition_penalty <= 100.0f))
    return Status::error("repetition_penalty must be in (0, 100]");
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f)) return Status::error("presence_penalty must be in [-2, 2]");
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f)) return Status::error("frequency_penalty must be in [-2, 2]");
  return Status::ok();
}

int32_t greedy_token(const float* logits, int32_t n_vocab) {
  // Lane j keeps the largest value of positions j mod 16 and where it first
  // occurs, a compare-and-select the compiler vectorizes; the lanes are then
  // merged (the lowest id among the largest). The one-pass
  // "if (l[i] > l[best])" carries a dependence through best and took about
  // 0.17 ms per token on a 129,280-entry vocabulary. NaN never compares
  // greater, so it is never picked.
  constexpr int kLanes = 16;
  float value[kLanes];
  int32_t index[kLanes];
  for (int j = 0; j < kLanes; ++j) {
    value[j] = -INFINITY;
    index[j] = -1;
  }
  int32_t i = 0;
  for (; i + kLanes <= n_vocab; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const bool greater = logits[i + j] > value[j];
      value[j] = greater ? logits[i + j] : value[j];
      index[j] = greater ? i + j : index[j];
    }
  }
  // A lane that took a value holds one above -inf; the tail's ids follow
  // every lane's, so strictly greater keeps the lowest id there.
  float best = -INFINITY;
  int32_t best_index = -1;
  for (int j = 0; j < kLanes; ++j) {
    if (index[j] >= 0 && (value[j] > best || (value[j] == best && index[j] < best_index))) {
      best = value[j];
      best_index = index[j];
    }
  }
  for (; i < n_vocab; ++i) {
    if (logits[i] > best) {
      best = logits[i];
      best_index = i;
    }
  }
  if (best_index >= 0) return best_index;
  // Nothing above -inf: the first -inf, else (every logit NaN) 0.
  for (int32_t k = 0; k < n_vocab; ++k)
    if (logits[k] == -INFINITY) return k;
  return 0;
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

int32_t Sampler::sample(const float* logits, int32_t n_vocab, const std::vector<int32_t>& history) {
  const SamplingParams& p = params_;
  const bool penalties = p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
  const float* l = logits;
  if (penalties) {
    work_.assign(logits, logits + n_vocab);
    std::unordered_map<int32_t, int32_t> counts;
    const size_t window = p.penalty_last_n < 0 ? history.size() : std::min<size_t>(history.size(), p.penalty_last_n);
    for (size_t i = history.size() - window; i < history.size(); ++i) {
      if (history[i] >= 0 && history[i] < n_vocab) ++counts[history[i]];
    }
    for (const auto& [tok, count] : counts) {
      float& v = work_[tok];
      if (p.repetition_penalty != 1.0f) v = v > 0 ? v / p.repetition_penalty : v * p.repetition_penalty;
      v -= p.presence_penalty + p.frequency_penalty * static_cast<float>(count);
    }
    l = work_.data();
  }
  if (p.greedy()) return greedy_token(l, n_vocab);
  cand_.resize(n_vocab);
  for (int32_t i = 0; i < n_vocab; ++i) {
    // NaN (from a broken model file) would break the sort's ordering: rank it last.
    const float v = std::isnan(l[i]) ? -INFINITY : l[i] / p.temperature;
    cand_[i] = {v, i};
  }
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t n = cand_.size();
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < n) {
    std::partial_sort(cand_.begin(), cand_.begin() + p.top_k, cand_.end(), by_logit);
    n = p.top_k;
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  // Probabilities of the remaining candidates.
  std::vector<double> probs(n);
  const double max = cand_[0].first;
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += probs[i] = std::exp(cand_[i].first - max);
  for (double& q : probs) q /= sum;
  if (p.min_p > 0.0f) {
    size_t keep = 1;
    while (keep < n && probs[keep] >= p.min_p * probs[0]) ++keep;
    n = keep;
  }
  if (p.top_p < 1.0f) {
    double cumulative = 0.0;
    size_t keep = 0;
    while (keep < n) {
      cumulative += probs[keep++];
      if (cumulative >= p.top_p) break;
    }
    n = keep;
  }
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) total += probs[i];
  std::uniform_real_distribution<double> uniform(0.0, total);
  double r = uniform(rng_);
  for (size_t i = 0; i < n; ++i) {
    r -= probs[i];
    if (r <= 0.0) return cand_[i].second;
  }
  return cand_[n - 1].second;
}

float token_logprob(const float* logits, int32_t n_vocab, int32_t token) {
  float max = logits[0];
  for (int32_t i = 1; i < n_vocab; ++i) max = std::max(max, logits[i]);
  double sum = 0.0;
  for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  return static_cast<float>(logits[token] - max - std::log(sum));
}

std::vector<std::pair<int32_t, float>> top_logprobs(const float* logits, int32_t n_vocab, int32_t k) {
  k = std::clamp(k, 0, n_vocab);
  float max = logits[0];
  for (int32_t i = 1; i < n_vocab; ++i) max = std::max(max, logits[i]);
  double sum = 0.0;
  for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  const double log_z = max + std::log(sum);
  std::vector<int32_t> idx(n_vocab);
  for (int32_t i = 0; i < n_vocab; ++i) idx[i] = i;
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  std::vector<std::pair<int32_t, float>> out;
  for (int32_t i = 0; i < k; ++i) out.emplace_back(idx[i], static_cast<float>(logits[idx[i]] - log_z));
  return out;
}

}  // namespace moelab
