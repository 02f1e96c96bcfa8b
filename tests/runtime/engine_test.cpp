// The engine end to end on small models: batch invariance (a sequence's greedy
// tokens do not depend on its batch-mates), paging, prefix reuse, preemption,
// prompt logits and the expert knobs.
#include <gtest/gtest.h>

#include <map>

#include "base/thread_pool.h"
#include "model/model.h"
#include "runtime/engine.h"

namespace moelab {
namespace {

std::string oracle(const std::string& name) {
  return std::string(MOELAB_TEST_DATA_DIR) + "/oracle/" + name + ".gguf";
}

std::unique_ptr<Model> load(const std::string& name) {
  auto m = Model::load(oracle(name));
  EXPECT_TRUE(m.is_ok()) << m.status().message();
  return std::move(*m);
}

std::vector<int32_t> prompt_of(int32_t seed, int32_t len, int32_t n_vocab) {
  std::vector<int32_t> p;
  uint32_t x = 2654435761u * static_cast<uint32_t>(seed + 1);
  for (int32_t i = 0; i < len; ++i) {
    x = x * 1664525u + 1013904223u;
    p.push_back(static_cast<int32_t>((x >> 8) % static_cast<uint32_t>(n_vocab)));
  }
  return p;
}

// Runs requests to completion; returns generated tokens per request, in submit order.
std::vector<std::vector<int32_t>> run_all(Engine& engine, const std::vector<Request>& requests) {
  std::map<int64_t, size_t> index;
  for (size_t i = 0; i < requests.size(); ++i) {
    auto id = engine.submit(requests[i]);
    EXPECT_TRUE(id.is_ok()) << id.status().message();
    index[*id] = i;
  }
  std::vector<std::vector<int32_t>> out(requests.size());
  while (!engine.idle()) {
    auto events = engine.step();
    EXPECT_TRUE(events.is_ok()) << events.status().message();
    if (!events.is_ok()) break;
    for (const EngineEvent& e : *events) {
      EXPECT_NE(e.finish, FinishReason::kError) << e.error;
      for (const TokenOutput& t : e.tokens) out[index[e.request_id]].push_back(t.token);
    }
  }
  return out;
}

Request greedy(std::vector<int32_t> prompt, int32_t n) {
  Request r;
  r.prompt = std::move(prompt);
  r.max_tokens = n;
  r.ignore_eos = true;
  return r;
}

class BatchInvariance : public ::testing::TestWithParam<const char*> {};

TEST_P(BatchInvariance, GreedyTokensAloneEqualTokensInABatchOfEight) {
  auto model = load(GetParam());
  ThreadPool pool(2);
  const int32_t n_vocab = model->config().n_vocab;
  std::vector<Request> requests;
  for (int32_t i = 0; i < 8; ++i) requests.push_back(greedy(prompt_of(i, 3 + 5 * i, n_vocab), 12));

  EngineConfig config;
  config.kv_cache_bytes = int64_t{64} << 20;
  config.prefix_cache = false;
  std::vector<std::vector<int32_t>> alone;
  for (const Request& r : requests) {
    Engine engine(*model, config, pool);
    alone.push_back(run_all(engine, {r})[0]);
  }
  Engine together(*model, config, pool);
  const auto batched = run_all(together, requests);
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(alone[i].size(), 12u);
    EXPECT_EQ(alone[i], batched[i]) << "sequence " << i << " changed when batched";
  }
}

INSTANTIATE_TEST_SUITE_P(Models, BatchInvariance,
                         ::testing::Values("llama-dense", "mixtral-moe", "qwen2moe", "qwen3moe",
                                           "deepseek-v3", "llama-dense-q4_k", "deepseek-v3-q8_0"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace moelab
