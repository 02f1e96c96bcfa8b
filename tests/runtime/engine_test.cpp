// The engine end to end on small models: batch invariance (a sequence's greedy
// tokens do not depend on its batch-mates), paging, prefix reuse, preemption,
// prompt logits and the expert knobs.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <tuple>

#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "model/model.h"
#include "runtime/engine.h"

namespace moelab {
namespace {

std::string oracle(const std::string& name) {
  return std::string(MOELAB_TEST_DATA_DIR) + "/oracle/" + name + ".gguf";
}

std::unique_ptr<Model> load(const std::string& name,
                            Activations act = Activations::kQuantized) {
  ModelOverrides overrides;
  overrides.activations = act;
  auto m = Model::load(oracle(name), overrides);
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

// In both activation modes: the integer kernels must be batch-invariant too.
class BatchInvariance
    : public ::testing::TestWithParam<std::tuple<const char*, Activations>> {};

TEST_P(BatchInvariance, GreedyTokensAloneEqualTokensInABatchOfEight) {
  auto model = load(std::get<0>(GetParam()), std::get<1>(GetParam()));
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

// The same with an f16 cache (a GQA and an MLA model, 8-bit activations).
TEST(BatchInvariance, HoldsWithAHalfCache) {
  for (const char* name : {"qwen3moe", "deepseek-v3"}) {
    auto model = load(name);
    ThreadPool pool(2);
    const int32_t n_vocab = model->config().n_vocab;
    std::vector<Request> requests;
    for (int32_t i = 0; i < 8; ++i)
      requests.push_back(greedy(prompt_of(i, 3 + 5 * i, n_vocab), 12));
    EngineConfig config;
    config.kv_cache_bytes = int64_t{32} << 20;
    config.prefix_cache = false;
    config.kv_type = DType::kF16;
    std::vector<std::vector<int32_t>> alone;
    for (const Request& r : requests) {
      Engine engine(*model, config, pool);
      alone.push_back(run_all(engine, {r})[0]);
    }
    Engine together(*model, config, pool);
    EXPECT_EQ(together.kv_cache().layout().type, DType::kF16);
    const auto batched = run_all(together, requests);
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ(alone[i], batched[i]) << name << " sequence " << i << " changed when batched";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, BatchInvariance,
                         ::testing::Combine(::testing::Values("llama-dense", "mixtral-moe",
                                                              "qwen2moe", "qwen3moe", "deepseek-v3",
                                                              "llama-dense-q4_k",
                                                              "deepseek-v3-q8_0"),
                                            ::testing::Values(Activations::kFloat32,
                                                              Activations::kQuantized)),
                         [](const auto& info) {
                           std::string n = std::string(std::get<0>(info.param)) + "_" +
                                           activations_name(std::get<1>(info.param));
                           for (char& c : n) if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace moelab

namespace moelab {
namespace {

// The engine's greedy decoding reproduces llama.cpp's greedy_16 on every F32 oracle case.
class Greedy16 : public ::testing::TestWithParam<const char*> {};

TEST_P(Greedy16, MatchesLlamaCpp) {
  std::ifstream in(std::string(MOELAB_TEST_DATA_DIR) + "/oracle/" + GetParam() + ".json");
  const nlohmann::json meta = nlohmann::json::parse(in);
  auto model = load(GetParam());
  ThreadPool pool(2);
  EngineConfig config;
  config.kv_cache_bytes = int64_t{16} << 20;
  Engine engine(*model, config, pool);
  const auto out = run_all(engine, {greedy(meta["tokens"].get<std::vector<int32_t>>(), 16)});
  EXPECT_EQ(out[0], meta["greedy_16"].get<std::vector<int32_t>>());
}

INSTANTIATE_TEST_SUITE_P(F32Cases, Greedy16,
                         ::testing::Values("llama-dense", "mixtral-moe", "qwen2moe", "qwen3moe",
                                           "deepseek-v3", "deepseek-v3-yarn"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) if (c == '-') c = '_';
                           return n;
                         });

// A second request with the same long prompt is served from the prefix cache
// and gives the same tokens; every block is free or cached afterwards.
TEST(PrefixCache, RepeatedPromptHitsAndMatches) {
  auto model = load("llama-dense");
  ThreadPool pool(2);
  EngineConfig config;
  config.kv_cache_bytes = int64_t{8} << 20;
  config.block_size = 4;
  Engine engine(*model, config, pool);
  const auto prompt = prompt_of(7, 41, model->config().n_vocab);
  const auto first = run_all(engine, {greedy(prompt, 8)});
  const int64_t cached_before = engine.counters().cached_prompt_tokens;
  const auto second = run_all(engine, {greedy(prompt, 8)});
  EXPECT_EQ(first, second);
  EXPECT_EQ(engine.counters().cached_prompt_tokens - cached_before, 40);  // 10 full blocks of 4
  EXPECT_EQ(engine.blocks().n_used(), 0);
  EXPECT_GT(engine.blocks().n_cached(), 0);
}

// With too few blocks for everyone, sequences are preempted and recomputed,
// and still produce their solo tokens.
TEST(Preemption, TightCacheStillGivesSoloTokens) {
  auto model = load("qwen3moe");
  ThreadPool pool(2);
  const int32_t n_vocab = model->config().n_vocab;
  std::vector<Request> requests;
  for (int32_t i = 0; i < 4; ++i) requests.push_back(greedy(prompt_of(20 + i, 10, n_vocab), 14));
  EngineConfig roomy;
  roomy.kv_cache_bytes = int64_t{16} << 20;
  roomy.prefix_cache = false;
  std::vector<std::vector<int32_t>> alone;
  for (const Request& r : requests) {
    Engine e(*model, roomy, pool);
    alone.push_back(run_all(e, {r})[0]);
  }
  EngineConfig tight = roomy;
  tight.block_size = 4;
  tight.kv_cache_bytes = model->kv_layout().bytes_per_token() * 4 * 14;  // 14 blocks: 2 of 4 sequences fit
  Engine engine(*model, tight, pool);
  EXPECT_EQ(run_all(engine, requests), alone);
  EXPECT_GT(engine.counters().preemptions, 0);
  EXPECT_EQ(engine.blocks().n_used(), 0);
}

// Cancelling frees the sequence's blocks at once.
TEST(Cancel, FreesBlocks) {
  auto model = load("llama-dense");
  ThreadPool pool(2);
  EngineConfig config;
  config.prefix_cache = false;
  Engine engine(*model, config, pool);
  auto id = engine.submit(greedy(prompt_of(3, 30, model->config().n_vocab), 100));
  ASSERT_TRUE(id.is_ok());
  ASSERT_TRUE(engine.step().is_ok());
  EXPECT_GT(engine.blocks().n_used(), 0);
  engine.cancel(*id);
  EXPECT_EQ(engine.blocks().n_used(), 0);
  EXPECT_TRUE(engine.idle());
}

TEST(Submit, RejectsBadRequests) {
  auto model = load("qwen3moe");
  ThreadPool pool(1);
  Engine engine(*model, EngineConfig{}, pool);
  EXPECT_FALSE(engine.submit(greedy({}, 4)).is_ok());
  EXPECT_FALSE(engine.submit(greedy({1, 100000}, 4)).is_ok());
  Request r = greedy({1, 2}, 4);
  r.knobs.max_active_experts = 99;
  EXPECT_FALSE(engine.submit(r).is_ok());
  r = greedy({1, 2}, 4);
  r.sampling.top_p = 0.0f;
  EXPECT_FALSE(engine.submit(r).is_ok());
  r = greedy({1, 2}, 1 << 30);
  EXPECT_FALSE(engine.submit(r).is_ok());
}

}  // namespace
}  // namespace moelab
