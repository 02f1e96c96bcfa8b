// The MoE router block: every gating variant of MODEL_MATH.md section 3 and
// moelab's run-time knobs, for one token at a time.
//
//   p = gating(logits)               softmax or sigmoid (f32)
//   s = p + selection_bias           used for choosing only (DeepSeek-V3)
//   group limit                      keep the n_group_used groups with the
//                                    largest sum of their top-2 s
//   ranked = argsort(s) descending, cut to K (the model's count or the cap)
//   threshold P < 1                  keep the smallest m whose share of the
//                                    ranked experts' routing weight reaches P
//   w = p over the kept experts, renormalised where the model renormalises,
//       × weights_scale
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "model/batch.h"
#include "model/config.h"

namespace moelab {

// Validates knobs against a model: K in [1, experts the router can choose],
// P in (0, 1]. Returns an error naming the knob and the valid range.
Status validate_router_knobs(const MoeConfig& moe, const RouterKnobs& knobs);

// The largest K the router can honour (group limits can make it < n_expert).
int32_t max_selectable_experts(const MoeConfig& moe);

class Router {
 public:
  explicit Router(const MoeConfig& moe);

  // Routes one token. logits: [n_expert]; bias: [n_expert] or null.
  // Writes the chosen expert ids and weights (in rank order) and returns how
  // many were chosen. ids/weights must hold max_selectable_experts() values.
  // Not thread-safe (uses internal scratch).
  int32_t route(const float* logits, const float* bias, const RouterKnobs& knobs, int32_t* ids,
                float* weights);

 private:
  MoeConfig moe_;
  std::vector<float> probs_;      // [n_expert]
  std::vector<float> selection_;  // [n_expert]
  std::vector<int32_t> order_;    // [n_expert]
  std::vector<float> group_score_;   // [n_group]
  std::vector<int32_t> group_order_; // [n_group]
};

}  // namespace moelab
