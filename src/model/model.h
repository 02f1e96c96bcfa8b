// A loaded model: its file (mapped), hyper-parameters, weight views, and the
// one forward path every caller uses.
//
// Thread-safety: forward() mutates the model's scratch workspace and must be
// called from one thread at a time (the engine thread). Everything else is
// read-only after load.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "base/thread_pool.h"
#include "formats/gguf.h"
#include "kernels/matmul.h"
#include "model/batch.h"
#include "model/config.h"
#include "model/expert_stats.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace moelab {

// How MLA attention is evaluated. kAuto takes the absorbed form, as llama.cpp
// does. The decompressed form does fewer multiply-adds for a long prefill
// over a short cache (its decompression is shared by all the queries), but
// its attention runs one head per unit over strided rows, where the absorbed
// one reads each latent row once for all heads: on the bench-deepseek preset
// (Q4_K_M, 2 threads) absorbed prefill measured 1.0x as fast at 128 tokens,
// 1.5x at 512 and 2.7x at 2048. kAbsorbed and kDecompressed force a form.
enum class MlaMode { kAuto, kAbsorbed, kDecompressed };

struct ForwardOptions {
  MlaMode mla_mode = MlaMode::kAuto;
  ExpertStats* expert_stats = nullptr;  // filled when set
};

struct ModelOverrides {
  // Replaces {arch}.expert_used_count (for experiments; the knobs in
  // RouterKnobs are the per-request way).
  int32_t expert_used_count = 0;
  // Read the whole file into memory during load (MappedFile::prefault), so
  // the first tokens do not pay the page faults. Skipped for files larger
  // than 3/4 of physical memory, which could not stay resident anyway.
  bool prefault = true;
  // Called with (bytes read, bytes total) while prefaulting.
  std::function<void(int64_t, int64_t)> load_progress;
  // How token rows meet quantized weights in every matrix product (see
  // kernels/matmul.h): 8-bit integer dots by default, as llama.cpp does;
  // kFloat32 keeps them float (closest to the exact math).
  Activations activations = Activations::kQuantized;
};

class Model {
 public:
  static Result<std::unique_ptr<Model>> load(const std::string& path,
                                             const ModelOverrides& overrides = {});
  ~Model();

  const ModelConfig& config() const { return config_; }
  const GgufFile& file() const { return file_; }
  Activations activations() const { return act_; }
  const ModelWeights& weights() const { return weights_; }
  // The KV cache layout for elements of `type` (kF32 or kF16).
  KvLayout kv_layout(DType type = DType::kF32) const;

  // Bytes of weights in the file, and parameters in total / active per token.
  int64_t weight_bytes() const;
  int64_t n_params_total() const;
  int64_t n_params_active() const;  // with the model's expert_used_count
  // Bytes of weights one decoded token reads (MoE: only the chosen experts),
  // for `n_active` experts per token (0: the model's count).
  int64_t bytes_per_token(double n_active = 0) const;

  // Runs the batch: writes each token's K/V into its slot in `cache` (the
  // block tables must cover every position), attends causally over its
  // sequence's cache, and returns logits for the tokens that want them.
  // Errors (token id out of range, positions not covered) leave the cache's
  // other sequences untouched.
  Status forward(const Batch& batch, KvCache& cache, ForwardOutput& out, ThreadPool& pool,
                 const ForwardOptions& options = {});

 // Scratch memory of forward() (defined in model/workspace.h, private to src/model).
  struct Workspace;

 private:
  Model() = default;
  void attention_gqa(int32_t layer, const Batch& batch, KvCache& cache, ThreadPool& pool);
  void attention_mla(int32_t layer, const Batch& batch, KvCache& cache, ThreadPool& pool,
                     MlaMode mode);
  void ffn_dense(const FfnWeights& f, int32_t n_tokens, ThreadPool& pool);
  void ffn_moe(int32_t layer, const Batch& batch, ThreadPool& pool, ExpertStats* stats);

  GgufFile file_;
  ModelConfig config_;
  ModelWeights weights_;
  std::unique_ptr<Workspace> ws_;
  Activations act_ = Activations::kQuantized;
};

}  // namespace moelab
