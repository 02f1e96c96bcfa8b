// Shared helpers for tests that read the llama.cpp oracle cases in
// tests/data/oracle (NAME.gguf, NAME.json, NAME.logits.f32, NAME.exact.f32).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace moelab::testing {

inline std::string oracle_dir() { return std::string(MOELAB_TEST_DATA_DIR) + "/oracle"; }

inline nlohmann::json read_case(const std::string& name) {
  std::ifstream in(oracle_dir() + "/" + name + ".json");
  return nlohmann::json::parse(in);
}

inline std::vector<float> read_f32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

// Logits for every position of `tokens`, run as one sequence in one batch.
// block_size lets paging tests use tiny blocks; kv_type picks the cache's
// elements (f32 or f16).
inline std::vector<float> all_logits(Model& model, const std::vector<int32_t>& tokens,
                                     ThreadPool& pool, int32_t block_size = 16,
                                     const ForwardOptions& options = {}, RouterKnobs knobs = {},
                                     DType kv_type = DType::kF32) {
  const int32_t n = static_cast<int32_t>(tokens.size());
  const int32_t n_blocks = (n + block_size - 1) / block_size;
  KvCache cache(model.kv_layout(kv_type), block_size, n_blocks);
  std::vector<int32_t> table(n_blocks);
  for (int32_t i = 0; i < n_blocks; ++i) table[i] = n_blocks - 1 - i;  // out of order on purpose
  Batch batch;
  for (int32_t i = 0; i < n; ++i) batch.add(tokens[i], i, 0, true);
  batch.sequences.push_back({table.data(), n_blocks, knobs});
  ForwardOutput out;
  Status st = model.forward(batch, cache, out, pool, options);
  if (!st.is_ok()) throw std::runtime_error(st.message());
  return out.logits;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = a.size() == b.size() ? 0.0 : 1e30;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::abs(double(a[i]) - b[i]));
  return m;
}

}  // namespace moelab::testing
