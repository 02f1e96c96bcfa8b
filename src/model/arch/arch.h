// The architecture registry. Adding an architecture is one file in this
// folder plus one line in registry.cpp: the file says how to read its
// hyper-parameters and which tensors it has with their shapes; the blocks in
// src/model/blocks do the work.
#pragma once

#include <string_view>
#include <vector>

#include "base/status.h"
#include "formats/gguf.h"
#include "model/config.h"
#include "model/weights.h"

namespace moelab {

struct Architecture {
  std::string_view name;  // general.architecture
  std::string_view description;
  Status (*read_config)(const GgufFile& file, ModelConfig& config);
  Status (*bind_weights)(const GgufFile& file, const ModelConfig& config, ModelWeights& weights);
};

const Architecture* find_architecture(std::string_view name);
const std::vector<const Architecture*>& all_architectures();

// Each architecture file defines one of these.
const Architecture& llama_architecture();
const Architecture& qwen2moe_architecture();
const Architecture& qwen3moe_architecture();
const Architecture& deepseek2_architecture();

}  // namespace moelab
