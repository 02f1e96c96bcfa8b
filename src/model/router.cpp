#include "model/router.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "kernels/ops.h"

namespace moelab {

int32_t max_selectable_experts(const MoeConfig& moe) {
  if (moe.n_group > 1 && moe.n_group_used < moe.n_group) {
    return moe.n_expert / moe.n_group * moe.n_group_used;
  }
  return moe.n_expert;
}

Status validate_router_knobs(const MoeConfig& moe, const RouterKnobs& knobs) {
  const int32_t max_k = max_selectable_experts(moe);
  if (knobs.max_active_experts < 0 || knobs.max_active_experts > max_k) {
    return Status::error("max_active_experts must be between 1 and " + std::to_string(max_k) +
                         " for this model (got " + std::to_string(knobs.max_active_experts) + ")");
  }
  if (!(knobs.expert_threshold > 0.0f && knobs.expert_threshold <= 1.0f)) {
    return Status::error("expert_threshold must be in (0, 1] (got " +
                         std::to_string(knobs.expert_threshold) + ")");
  }
  return Status::ok();
}

Router::Router(const MoeConfig& moe)
    : moe_(moe),
      probs_(moe.n_expert),
      selection_(moe.n_expert),
      order_(moe.n_expert),
      group_score_(moe.n_group),
      group_order_(moe.n_group) {}

int32_t Router::route(const float* logits, const float* bias, const RouterKnobs& knobs,
                      int32_t* ids, float* weights) {
  const int32_t n = moe_.n_expert;
  float* p = probs_.data();
  float* s = selection_.data();
  std::copy(logits, logits + n, p);
  if (moe_.gating == GatingFunc::kSigmoid) {
    for (int32_t i = 0; i < n; ++i) p[i] = sigmoid(p[i]);
  } else if (moe_.gating == GatingFunc::kSoftmax) {
    softmax_inplace(p, n);
  }  // kSoftmaxWeight: rank by the raw logits, softmax over the chosen below
  for (int32_t i = 0; i < n; ++i) {
    s[i] = bias != nullptr ? p[i] + bias[i] : p[i];
    if (std::isnan(s[i])) s[i] = -std::numeric_limits<float>::infinity();  // keep the ordering strict
  }

  constexpr float kMasked = -std::numeric_limits<float>::infinity();
  if (moe_.n_group > 1 && moe_.n_group_used < moe_.n_group) {
    const int32_t group_size = n / moe_.n_group;
    for (int32_t g = 0; g < moe_.n_group; ++g) {
      // llama.cpp scores a group by the sum of its two largest selection scores.
      float top1 = kMasked, top2 = kMasked;
      for (int32_t i = g * group_size; i < (g + 1) * group_size; ++i) {
        if (s[i] > top1) {
          top2 = top1;
          top1 = s[i];
        } else if (s[i] > top2) {
          top2 = s[i];
        }
      }
      group_score_[g] = group_size > 1 ? top1 + top2 : top1;
    }
    std::iota(group_order_.begin(), group_order_.end(), 0);
    std::stable_sort(group_order_.begin(), group_order_.end(),
                     [&](int32_t a, int32_t b) { return group_score_[a] > group_score_[b]; });
    for (int32_t r = moe_.n_group_used; r < moe_.n_group; ++r) {
      const int32_t g = group_order_[r];
      std::fill(s + g * group_size, s + (g + 1) * group_size, kMasked);
    }
  }

  const int32_t k = knobs.max_active_experts > 0 ? knobs.max_active_experts : moe_.n_expert_used;
  std::iota(order_.begin(), order_.end(), 0);
  std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), [&](int32_t a, int32_t b) {
    return s[a] > s[b] || (s[a] == s[b] && a < b);
  });

  const bool renormalise = moe_.norm_weights || moe_.gating == GatingFunc::kSoftmaxWeight;
  // Routing weight of each ranked expert before scaling.
  auto base_weight = [&](int32_t e) {
    return moe_.gating == GatingFunc::kSoftmaxWeight ? std::exp(p[e] - p[order_[0]]) : p[e];
  };
  int32_t m = k;
  if (knobs.expert_threshold < 1.0f) {
    double total = 0.0;
    for (int32_t r = 0; r < k; ++r) total += base_weight(order_[r]);
    double cumulative = 0.0;
    for (m = 1; m <= k; ++m) {
      cumulative += base_weight(order_[m - 1]);
      if (cumulative >= static_cast<double>(knobs.expert_threshold) * total) break;
    }
    m = std::min(m, k);
  }
  double sum = 0.0;
  for (int32_t r = 0; r < m; ++r) {
    ids[r] = order_[r];
    weights[r] = base_weight(order_[r]);
    sum += weights[r];
  }
  if (renormalise) {
    // llama.cpp clamps the sum from below so near-zero sigmoid scores stay finite.
    const float inv = 1.0f / std::max(static_cast<float>(sum), 6.103515625e-5f);
    for (int32_t r = 0; r < m; ++r) weights[r] *= inv;
  }
  for (int32_t r = 0; r < m; ++r) weights[r] *= moe_.weights_scale;
  return m;
}

}  // namespace moelab
