// Helpers shared by the architecture files: typed reads of `{arch}.key`
// metadata with range checks, and binding tensors by name with shape checks.
// Every error names the file and the key or tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "model/config.h"
#include "model/weights.h"

namespace moelab {

class ConfigReader {
 public:
  ConfigReader(const GgufFile& file, std::string arch) : file_(file), prefix_(std::move(arch) + ".") {}

  // `{arch}.key`, required, within [lo, hi].
  Result<int32_t> int_key(const std::string& key, int64_t lo, int64_t hi) const;
  Result<int32_t> int_key_or(const std::string& key, int32_t fallback, int64_t lo, int64_t hi) const;
  Result<float> float_key_or(const std::string& key, float fallback) const;
  Result<bool> bool_key_or(const std::string& key, bool fallback) const;
  Result<std::string> string_key_or(const std::string& key, std::string fallback) const;
  bool has(const std::string& key) const { return file_.has(prefix_ + key); }

  // The keys every architecture shares: sizes, norms, RoPE (with scaling).
  Status read_common(ModelConfig& c, RopeStyle style) const;
  // expert_count, expert_used_count, ... for MoE architectures.
  Status read_moe(ModelConfig& c) const;

 private:
  const GgufFile& file_;
  std::string prefix_;
};

class TensorBinder {
 public:
  TensorBinder(const GgufFile& file, ModelWeights& weights) : file_(file), weights_(weights) {}

  // The tensor `name` with exactly the shape `ne` (ggml order), or an error.
  Result<TensorView> require(const std::string& name, std::vector<int64_t> ne) const;
  // The same, or an absent view when the file has no such tensor.
  Result<TensorView> optional(const std::string& name, std::vector<int64_t> ne) const;
  // A float32 vector tensor (norm weights, biases): converted once when the
  // file stores it in another type.
  Result<TensorView> require_f32(const std::string& name, int64_t n) const;
  Result<TensorView> optional_f32(const std::string& name, int64_t n) const;
  // A float32 copy of `view`'s values, owned by the weights.
  TensorView to_f32(const TensorView& view) const;
  // Storage for a derived tensor of n floats, owned by the weights.
  float* own(int64_t n) const;

  bool has(const std::string& name) const { return file_.find_tensor(name) != nullptr; }
  const GgufFile& file() const { return file_; }

 private:
  const GgufFile& file_;
  ModelWeights& weights_;
};

// "blk.N.suffix"
std::string layer_tensor(int32_t layer, const char* suffix);

// Binds the parts every decoder shares: token_embd, output_norm, output (tied
// to token_embd when absent and `allow_tied`), per-layer attn_norm/ffn_norm.
Status bind_common(const TensorBinder& b, const ModelConfig& c, ModelWeights& w, bool allow_tied);
// Grouped-query attention tensors of a layer; `biases`: q/k/v biases required;
// `qk_norm`: per-head q/k RMSNorm weights required.
Status bind_gqa(const TensorBinder& b, const ModelConfig& c, int32_t layer, bool biases,
                bool qk_norm, AttentionWeights& a);
// A whole decoder of GQA layers (llama, qwen2moe, qwen3moe): common tensors
// (tied output allowed), then per layer bind_gqa and bind_ffn.
Status bind_gqa_model(const GgufFile& file, const ModelConfig& c, ModelWeights& w, bool biases,
                      bool qk_norm);
// Dense FFN (ffn_gate/up/down) or the MoE tensors of a layer, per config.
Status bind_ffn(const TensorBinder& b, const ModelConfig& c, int32_t layer, FfnWeights& f);

}  // namespace moelab
