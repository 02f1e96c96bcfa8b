// `moelab make-model`: writes seeded synthetic GGUF models, laid out exactly as
// llama.cpp's converter writes each architecture (metadata keys, tensor names,
// ggml shapes, types), for tests, demos and benchmarks.
//
// Thread-safety: make_model may run concurrently for different output paths.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "tensor/dtype.h"

namespace moelab {

struct PresetInfo {
  std::string name;
  std::string description;  // one line
};

// Every preset, in the order `moelab make-model --list` shows them.
std::vector<PresetInfo> model_presets();

struct MakeModelProgress {
  std::string tensor_name;  // the tensor just written
  int64_t tensors_done = 0;
  int64_t tensors_total = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
};

struct MakeModelOptions {
  std::string preset;
  std::string output_path;
  uint64_t seed = 0;
  // Type of every 2-D and 3-D weight except the router (ffn_gate_inp); norms,
  // biases and rope_freqs stay F32. A row whose length is not a multiple of
  // the type's block falls back as llama-quantize does (Q4_K -> Q5_0,
  // Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0, then F16).
  std::optional<DType> weight_type;  // default F32
  // Called after each tensor is generated, on the writing thread.
  std::function<void(const MakeModelProgress&)> progress;
};

// Writes the model. Fails, naming the valid choices, for an unknown preset or
// a weight type that cannot be written; fails naming the path on I/O errors.
Status make_model(const MakeModelOptions& opts);

}  // namespace moelab
