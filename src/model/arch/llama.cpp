// `llama`: dense Llama blocks with grouped-query attention, and the Mixtral
// layout (the same architecture string with expert_count > 0: softmax router,
// top-k, weights renormalised). RoPE on adjacent pairs: llama.cpp's converter
// pre-permutes q/k so that this reproduces Hugging Face's rotate_half.
#include <cmath>

#include "kernels/quant.h"
#include "model/arch/arch.h"
#include "model/arch/binder.h"

namespace moelab {
namespace {

Status read_config(const GgufFile& file, ModelConfig& c) {
  ConfigReader r(file, "llama");
  MOELAB_TRY(r.read_common(c, RopeStyle::kNorm));
  MOELAB_TRY(r.read_moe(c));
  if (c.is_moe()) {
    c.moe.gating = GatingFunc::kSoftmax;
    c.moe.norm_weights = true;  // llama.cpp hard-codes this for the Mixtral layout
    c.moe.weights_scale = 1.0f;
    c.moe.n_group = c.moe.n_group_used = 1;
  }
  c.attn_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim_k));
  // llama 3: per-frequency divisors of θ.
  if (const GgufTensorInfo* info = file.find_tensor("rope_freqs.weight")) {
    const TensorView v = file.view(*info);
    if (v.n_elements() != c.rope.n_rot / 2 || v.n_rows() != 1 || !dtype_info(v.type).computable) {
      return Status::error(file.path() + ": tensor 'rope_freqs.weight' has shape " +
                           v.shape_string() + ", expected {" + std::to_string(c.rope.n_rot / 2) +
                           "}");
    }
    c.rope.freq_divisors.resize(static_cast<size_t>(c.rope.n_rot / 2));
    dequantize_row(v.type, v.data, c.rope.freq_divisors.data(), v.ne[0]);
  }
  return Status::ok();
}

Status bind_weights(const GgufFile& file, const ModelConfig& c, ModelWeights& w) {
  return bind_gqa_model(file, c, w, /*biases=*/false, /*qk_norm=*/false);
}

}  // namespace

const Architecture& llama_architecture() {
  static const Architecture kArch{"llama", "Llama dense (GQA) and Mixtral-style MoE", read_config,
                                  bind_weights};
  return kArch;
}

}  // namespace moelab
