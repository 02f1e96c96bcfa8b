#include "model/arch/arch.h"

namespace moelab {

const std::vector<const Architecture*>& all_architectures() {
  static const std::vector<const Architecture*> kAll = {
      &llama_architecture(),
      &qwen2moe_architecture(),
      &qwen3moe_architecture(),
      &deepseek2_architecture(),
  };
  return kAll;
}

const Architecture* find_architecture(std::string_view name) {
  for (const Architecture* a : all_architectures()) {
    if (a->name == name) return a;
  }
  return nullptr;
}

}  // namespace moelab
