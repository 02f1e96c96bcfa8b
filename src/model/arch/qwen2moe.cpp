// `qwen2moe`: GQA with q/k/v biases and NEOX RoPE; every layer MoE with a
// softmax router whose top-k weights are NOT renormalised (llama.cpp
// hard-codes this), plus a shared expert scaled by σ(w·x).
#include <cmath>

#include "model/arch/arch.h"
#include "model/arch/binder.h"

namespace moelab {
namespace {

Status read_config(const GgufFile& file, ModelConfig& c) {
  ConfigReader r(file, "qwen2moe");
  MOELAB_TRY(r.read_common(c, RopeStyle::kNeox));
  MOELAB_TRY(r.read_moe(c));
  if (!c.is_moe()) return Status::error(file.path() + ": qwen2moe.expert_count is missing or 0");
  c.moe.gating = GatingFunc::kSoftmax;
  c.moe.norm_weights = false;
  c.moe.weights_scale = 1.0f;
  c.moe.n_group = c.moe.n_group_used = 1;
  MOELAB_ASSIGN_OR_RETURN(c.moe.n_ff_shexp,
                          r.int_key_or("expert_shared_feed_forward_length", 0, 0, 1 << 20));
  c.moe.shared_gate = c.moe.n_ff_shexp > 0;
  c.n_dense_lead = 0;
  c.attn_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim_k));
  return Status::ok();
}

Status bind_weights(const GgufFile& file, const ModelConfig& c, ModelWeights& w) {
  return bind_gqa_model(file, c, w, /*biases=*/true, /*qk_norm=*/false);
}

}  // namespace

const Architecture& qwen2moe_architecture() {
  static const Architecture kArch{"qwen2moe", "Qwen2-MoE (shared expert with sigmoid gate)",
                                  read_config, bind_weights};
  return kArch;
}

}  // namespace moelab
