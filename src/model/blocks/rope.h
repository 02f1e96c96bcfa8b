// Rotary position embedding with every variant the architectures use:
// adjacent-pair (NORM) or half-split (NEOX) pairing, llama 3 frequency
// divisors, linear scaling and YaRN (ramp between interpolated and
// extrapolated frequencies). YaRN's magnitude factor is not applied to cos/sin:
// llama.cpp cancels it, and DeepSeek folds mscale² into the softmax scale.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace moelab {

class Rope {
 public:
  explicit Rope(const RopeConfig& config);

  // Rotates the first n_rot values of each of n_heads heads in place.
  // x: [n_heads, head_stride] floats.
  void apply(float* x, int32_t n_heads, int32_t head_stride, int32_t pos) const;

  // Effective angular frequency of pair i (θ_i such that angle = pos·θ_i).
  double theta(int32_t i) const { return theta_[i]; }

 private:
  RopeConfig config_;
  std::vector<double> theta_;  // [n_rot / 2]
};

}  // namespace moelab
