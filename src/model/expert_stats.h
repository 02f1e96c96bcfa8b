// Expert telemetry: per MoE layer, how often each expert was chosen and how
// many experts each token used. Filled by the forward pass (engine thread),
// read by frontends (run --expert-stats, the server's /metrics, compare).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace moelab {

struct LayerExpertStats {
  int32_t layer = 0;
  std::vector<uint64_t> chosen;        // [n_expert] times each expert was chosen
  std::vector<uint64_t> active_hist;   // [max_k + 1] tokens that used m experts
  uint64_t tokens = 0;
  uint64_t active_sum = 0;             // Σ experts used over tokens
};

class ExpertStats {
 public:
  ExpertStats() = default;
  explicit ExpertStats(const ModelConfig& config);

  bool empty() const { return layers_.empty(); }
  void record(int32_t layer_index, const int32_t* ids, int32_t n_active);
  void reset();
  void merge(const ExpertStats& other);

  const std::vector<LayerExpertStats>& layers() const { return layers_; }
  // Average experts used per token per MoE layer, over everything recorded.
  double avg_active_experts() const;
  // max/mean of a layer's expert counts (1 = perfectly balanced).
  static double imbalance(const LayerExpertStats& l);
  // Coefficient of variation (sd/mean) of a layer's expert counts.
  static double coefficient_of_variation(const LayerExpertStats& l);

  std::string to_json() const;
  std::string summary() const;

 private:
  std::vector<LayerExpertStats> layers_;  // one per MoE layer, in order
  std::vector<int32_t> slot_of_layer_;    // [n_layer] index into layers_, -1 for dense
};

}  // namespace moelab
