#include "model/blocks/rope.h"

#include <algorithm>
#include <cmath>

#include "kernels/ops.h"

namespace moelab {
namespace {

// The dimension (as a pair index scaled by 2) at which a frequency completes
// n_rot rotations over the original context: ggml's rope_yarn_corr_dim.
double yarn_corr_dim(int32_t n_dims, int32_t n_ctx_orig, double n_rot, double base) {
  return n_dims * std::log(n_ctx_orig / (n_rot * 2.0 * M_PI)) / (2.0 * std::log(base));
}

}  // namespace

Rope::Rope(const RopeConfig& c) : config_(c) {
  const int32_t half = c.n_rot / 2;
  theta_.resize(half);
  double low = 0.0, high = 0.0;
  if (c.yarn) {
    low = std::max(0.0, std::floor(yarn_corr_dim(c.n_rot, c.yarn_orig_ctx, c.yarn_beta_fast, c.freq_base)));
    high = std::min(c.n_rot - 1.0, std::ceil(yarn_corr_dim(c.n_rot, c.yarn_orig_ctx, c.yarn_beta_slow, c.freq_base)));
  }
  for (int32_t i = 0; i < half; ++i) {
    double base_theta = std::pow(static_cast<double>(c.freq_base), -2.0 * i / c.n_rot);
    if (!c.freq_divisors.empty()) base_theta /= c.freq_divisors[i];
    double mix = 0.0;  // share of the extrapolated (unscaled) frequency
    if (c.yarn) {
      const double y = (i - low) / std::max(0.001, high - low);
      mix = 1.0 - std::clamp(y, 0.0, 1.0);
    }
    theta_[i] = base_theta * (c.freq_scale * (1.0 - mix) + mix);
  }
}

void Rope::apply(float* x, int32_t n_heads, int32_t head_stride, int32_t pos) const {
  // cos/sin of each pair's angle once per call (in double, then rounded, as
  // before), then every head rotated with the vector kernel.
  const int32_t half = config_.n_rot / 2;
  thread_local std::vector<float> cs, sn;
  if (static_cast<int32_t>(cs.size()) < half) {
    cs.resize(half);
    sn.resize(half);
  }
  for (int32_t i = 0; i < half; ++i) {
    const double angle = pos * theta_[i];
    cs[i] = static_cast<float>(std::cos(angle));
    sn[i] = static_cast<float>(std::sin(angle));
  }
  rope_rotate(x, n_heads, head_stride, cs.data(), sn.data(), half,
              config_.style != RopeStyle::kNorm);
}

}  // namespace moelab
