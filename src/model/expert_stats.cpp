#include "model/expert_stats.h"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "model/router.h"

namespace moelab {

ExpertStats::ExpertStats(const ModelConfig& c) {
  if (!c.is_moe()) return;
  const int32_t max_k = max_selectable_experts(c.moe);
  slot_of_layer_.assign(c.n_layer, -1);
  for (int32_t l = 0; l < c.n_layer_run(); ++l) {
    if (c.ffn_kind(l) != FfnKind::kMoe) continue;
    slot_of_layer_[l] = static_cast<int32_t>(layers_.size());
    LayerExpertStats s;
    s.layer = l;
    s.chosen.assign(c.moe.n_expert, 0);
    s.active_hist.assign(max_k + 1, 0);
    layers_.push_back(std::move(s));
  }
}

void ExpertStats::record(int32_t layer_index, const int32_t* ids, int32_t n_active) {
  LayerExpertStats& s = layers_[slot_of_layer_[layer_index]];
  for (int32_t i = 0; i < n_active; ++i) ++s.chosen[ids[i]];
  ++s.active_hist[n_active];
  ++s.tokens;
  s.active_sum += n_active;
}

void ExpertStats::reset() {
  for (auto& s : layers_) {
    std::fill(s.chosen.begin(), s.chosen.end(), 0);
    std::fill(s.active_hist.begin(), s.active_hist.end(), 0);
    s.tokens = s.active_sum = 0;
  }
}

void ExpertStats::merge(const ExpertStats& other) {
  if (layers_.empty()) {
    *this = other;
    return;
  }
  for (size_t i = 0; i < layers_.size() && i < other.layers_.size(); ++i) {
    for (size_t e = 0; e < layers_[i].chosen.size(); ++e) layers_[i].chosen[e] += other.layers_[i].chosen[e];
    for (size_t m = 0; m < layers_[i].active_hist.size(); ++m)
      layers_[i].active_hist[m] += other.layers_[i].active_hist[m];
    layers_[i].tokens += other.layers_[i].tokens;
    layers_[i].active_sum += other.layers_[i].active_sum;
  }
}

double ExpertStats::avg_active_experts() const {
  uint64_t tokens = 0, sum = 0;
  for (const auto& s : layers_) {
    tokens += s.tokens;
    sum += s.active_sum;
  }
  return tokens == 0 ? 0.0 : static_cast<double>(sum) / static_cast<double>(tokens);
}

double ExpertStats::imbalance(const LayerExpertStats& l) {
  uint64_t max = 0, total = 0;
  for (uint64_t c : l.chosen) {
    max = c > max ? c : max;
    total += c;
  }
  if (total == 0) return 0.0;
  const double mean = static_cast<double>(total) / static_cast<double>(l.chosen.size());
  return static_cast<double>(max) / mean;
}

double ExpertStats::coefficient_of_variation(const LayerExpertStats& l) {
  double sum = 0.0, sq = 0.0;
  for (uint64_t c : l.chosen) {
    sum += static_cast<double>(c);
    sq += static_cast<double>(c) * static_cast<double>(c);
  }
  const double n = static_cast<double>(l.chosen.size());
  if (sum == 0.0) return 0.0;
  const double mean = sum / n;
  const double var = std::max(0.0, sq / n - mean * mean);
  return std::sqrt(var) / mean;
}

std::string ExpertStats::to_json() const {
  nlohmann::json j;
  j["avg_active_experts"] = avg_active_experts();
  j["layers"] = nlohmann::json::array();
  for (const auto& s : layers_) {
    j["layers"].push_back({{"layer", s.layer},
                           {"tokens", s.tokens},
                           {"avg_active_experts", s.tokens ? static_cast<double>(s.active_sum) / s.tokens : 0.0},
                           {"imbalance_max_over_mean", imbalance(s)},
                           {"coefficient_of_variation", coefficient_of_variation(s)},
                           {"expert_counts", s.chosen},
                           {"active_experts_histogram", s.active_hist}});
  }
  return j.dump(2);
}

std::string ExpertStats::summary() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "expert stats: %.3f active experts per token on average over %zu MoE layers\n",
                avg_active_experts(), layers_.size());
  out += line;
  for (const auto& s : layers_) {
    std::snprintf(line, sizeof line,
                  "  layer %3d: %8llu tokens, %.3f experts/token, imbalance max/mean %.2f, CV %.3f\n",
                  s.layer, static_cast<unsigned long long>(s.tokens),
                  s.tokens ? static_cast<double>(s.active_sum) / static_cast<double>(s.tokens) : 0.0,
                  imbalance(s), coefficient_of_variation(s));
    out += line;
  }
  return out;
}

}  // namespace moelab
