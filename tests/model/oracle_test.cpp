// moelab's logits against llama.cpp's on every case of tests/data/oracle, at
// the tolerances of its README. F32 weights: within 1e-4 of llama.cpp's
// logits. Other types: moelab keeps activations in float32, so it aims at the
// float64 "exact" logits of the dequantised weights: within 1e-2 for F16 and
// 1e-3 for Q8_0/Q4_K (and the MoE case must agree on every argmax).
#include <gtest/gtest.h>

#include <cstring>

#include "model/model.h"
#include "oracle_util.h"

namespace moelab {
namespace {

using testing::all_logits;
using testing::max_abs_diff;
using testing::oracle_dir;
using testing::read_case;
using testing::read_f32;

struct OracleCase {
  const char* name;
  const char* reference;  // "logits" or "exact"
  double tolerance;
};

class OracleTest : public ::testing::TestWithParam<OracleCase> {};

std::vector<int32_t> argmax_rows(const std::vector<float>& logits, int32_t n_vocab) {
  std::vector<int32_t> out;
  for (size_t r = 0; r * n_vocab < logits.size(); ++r) {
    const float* row = logits.data() + r * n_vocab;
    out.push_back(static_cast<int32_t>(std::max_element(row, row + n_vocab) - row));
  }
  return out;
}

TEST_P(OracleTest, LogitsMatchReference) {
  const OracleCase& c = GetParam();
  const nlohmann::json meta = read_case(c.name);
  auto model = Model::load(oracle_dir() + "/" + c.name + ".gguf");
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  const std::vector<int32_t> tokens = meta["tokens"].get<std::vector<int32_t>>();
  const std::vector<float> expected =
      read_f32(oracle_dir() + "/" + c.name + "." + c.reference + ".f32");
  ThreadPool pool(2);
  const std::vector<float> ours = all_logits(**model, tokens, pool);
  ASSERT_EQ(ours.size(), expected.size());
  const double diff = max_abs_diff(ours, expected);
  EXPECT_LE(diff, c.tolerance) << c.name << ": max |ours - " << c.reference << "| = " << diff;
  const int32_t n_vocab = meta["n_vocab"].get<int32_t>();
  EXPECT_EQ(argmax_rows(ours, n_vocab), argmax_rows(expected, n_vocab));
  std::printf("[oracle] %-20s max |diff| vs %s = %.3g\n", c.name, c.reference, diff);
}

INSTANTIATE_TEST_SUITE_P(
    AllCases, OracleTest,
    ::testing::Values(OracleCase{"llama-dense", "logits", 1e-4}, OracleCase{"mixtral-moe", "logits", 1e-4},
                      OracleCase{"qwen2moe", "logits", 1e-4}, OracleCase{"qwen3moe", "logits", 1e-4},
                      OracleCase{"deepseek-v3", "logits", 1e-4},
                      OracleCase{"deepseek-v3-yarn", "logits", 1e-4},
                      OracleCase{"llama-dense-f16", "exact", 1e-2},
                      OracleCase{"llama-dense-q8_0", "exact", 1e-3},
                      OracleCase{"llama-dense-q4_k", "exact", 1e-3},
                      OracleCase{"deepseek-v3-q8_0", "exact", 1e-3}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& ch : n) if (ch == '-') ch = '_';
      return n;
    });

}  // namespace
}  // namespace moelab
