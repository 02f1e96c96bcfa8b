// `qwen3moe`: GQA with per-head q/k RMSNorm (before RoPE), head_dim from
// attention.key_length, NEOX RoPE; every layer MoE, softmax router with the
// top-k weights renormalised; no shared expert.
#include <cmath>

#include "model/arch/arch.h"
#include "model/arch/binder.h"

namespace moelab {
namespace {

Status read_config(const GgufFile& file, ModelConfig& c) {
  ConfigReader r(file, "qwen3moe");
  MOELAB_TRY(r.read_common(c, RopeStyle::kNeox));
  MOELAB_TRY(r.read_moe(c));
  if (!c.is_moe()) return Status::error(file.path() + ": qwen3moe.expert_count is missing or 0");
  c.moe.gating = GatingFunc::kSoftmax;
  c.moe.norm_weights = true;
  c.moe.weights_scale = 1.0f;
  c.moe.n_group = c.moe.n_group_used = 1;
  c.n_dense_lead = 0;
  c.attn_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim_k));
  return Status::ok();
}

Status bind_weights(const GgufFile& file, const ModelConfig& c, ModelWeights& w) {
  return bind_gqa_model(file, c, w, /*biases=*/false, /*qk_norm=*/true);
}

}  // namespace

const Architecture& qwen3moe_architecture() {
  static const Architecture kArch{"qwen3moe", "Qwen3-MoE (per-head q/k norm)", read_config,
                                  bind_weights};
  return kArch;
}

}  // namespace moelab
