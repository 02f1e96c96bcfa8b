#include "bench/peer_results.h"

#include <gtest/gtest.h>

#include <fstream>

namespace moelab {
namespace {

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// Shaped like `llama-bench -o json` output (fields trimmed to the ones read
// plus a few it ignores).
constexpr const char* kJsonArray = R"([
  {"build_commit": "abc123", "model_filename": "/models/dense-q8_0.gguf", "model_type": "llama ?B Q8_0",
   "n_threads": 2, "n_prompt": 512, "n_gen": 0, "n_depth": 0, "avg_ns": 3667000000,
   "avg_ts": 139.6, "stddev_ts": 1.5, "samples_ts": [139.0, 140.2]},
  {"build_commit": "abc123", "model_filename": "/models/dense-q8_0.gguf",
   "n_threads": 2, "n_prompt": 0, "n_gen": 128, "n_depth": 0, "avg_ts": 29.6, "stddev_ts": 0.2},
  {"build_commit": "abc123", "model_filename": "/models/moe-q8_0.gguf",
   "n_threads": 2, "n_prompt": 0, "n_gen": 128, "n_depth": 0, "avg_ts": 31.0, "stddev_ts": 0.3}
])";

TEST(PeerResults, ReadsLlamaBenchJsonArray) {
  auto r = load_peer_results(write_file("peer.json", kJsonArray));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].build, "abc123");
  EXPECT_EQ((*r)[0].n_prompt, 512);
  EXPECT_DOUBLE_EQ((*r)[0].avg_ts, 139.6);
  EXPECT_DOUBLE_EQ((*r)[1].stddev_ts, 0.2);
}

TEST(PeerResults, ReadsJsonLinesWithoutDepth) {
  // Older llama-bench versions have no n_depth: it reads as 0.
  auto r = load_peer_results(write_file(
      "peer.jsonl",
      "{\"model_filename\": \"a.gguf\", \"n_prompt\": 0, \"n_gen\": 128, \"avg_ts\": 45.8}\n\n"
      "{\"model_filename\": \"a.gguf\", \"n_prompt\": 512, \"n_gen\": 0, \"avg_ts\": 175.8}\n"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].n_depth, 0);
  EXPECT_EQ((*r)[1].n_threads, 0);
}

TEST(PeerResults, MatchesByFileNameAndTest) {
  auto r = load_peer_results(write_file("peer2.json", kJsonArray));
  ASSERT_TRUE(r.is_ok());
  // A different directory, the same file name: the same model.
  const PeerResult* p = find_peer_result(*r, "/tmp/x/moe-q8_0.gguf", 0, 128, 0, 2);
  ASSERT_NE(p, nullptr);
  EXPECT_DOUBLE_EQ(p->avg_ts, 31.0);
  EXPECT_EQ(find_peer_result(*r, "/tmp/x/moe-q8_0.gguf", 512, 0, 0, 2), nullptr);
  EXPECT_EQ(find_peer_result(*r, "dense-q8_0.gguf", 0, 128, 0, 4), nullptr) << "threads differ";
  EXPECT_EQ(find_peer_result(*r, "other.gguf", 0, 128, 0, 2), nullptr);
  EXPECT_EQ(find_peer_result(*r, "dense-q8_0.gguf", 0, 128, 512, 2), nullptr) << "depth differs";
}

TEST(PeerResults, OneModelMatchesAnyName) {
  auto r = load_peer_results(write_file(
      "one.jsonl", "{\"model_filename\": \"their-name.gguf\", \"n_prompt\": 0, \"n_gen\": 16, \"avg_ts\": 10}\n"));
  ASSERT_TRUE(r.is_ok());
  EXPECT_NE(find_peer_result(*r, "our-name.gguf", 0, 16, 0, 2), nullptr);
}

TEST(PeerResults, ErrorsNameTheFileEntryAndField) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"", "empty"},
      {"[1, 2", "not valid JSON"},
      {"[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": 1}]", "entry 1: field 'model_filename'"},
      {"[{\"model_filename\": \"m\", \"n_gen\": 0, \"avg_ts\": 1}]", "entry 1: field 'n_prompt' is missing"},
      {"{\"model_filename\": \"m\", \"n_prompt\": 0, \"n_gen\": 1, \"avg_ts\": 1}\n{oops}\n", "line 2: not valid JSON"},
      {"{\"model_filename\": \"m\", \"n_prompt\": \"512\", \"n_gen\": 0, \"avg_ts\": 1}\n",
       "line 1: field 'n_prompt' is not a number"},
      {"{\"model_filename\": \"m\", \"n_prompt\": -5, \"n_gen\": 0, \"avg_ts\": 1}\n", "whole numbers"},
      {"[]", "no tests"},
      {"[\"x\"]", "entry 1: expected a JSON object"},
  };
  int i = 0;
  for (const Case& c : cases) {
    const std::string path = write_file("bad" + std::to_string(i++) + ".json", c.text);
    auto r = load_peer_results(path);
    ASSERT_FALSE(r.is_ok()) << c.text;
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status().message();
  }
  EXPECT_FALSE(load_peer_results(testing::TempDir() + "/does-not-exist.json").is_ok());
}

}  // namespace
}  // namespace moelab
