// The per-tensor type rules of `moelab quantize` against llama.cpp's
// llama_tensor_get_type, with the expected layers worked out by hand from its
// use_more_bits formula (i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2).
#include "model/quantize.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace moelab {
namespace {

QuantizeTarget target(const char* name) {
  auto t = find_quantize_target(name);
  EXPECT_TRUE(t.has_value()) << name;
  return *t;
}

DType type_of(const QuantizeTarget& t, const QuantizeModelInfo& info, const std::string& name,
              int n_dims, std::array<int64_t, 4> ne, int32_t& i_v, int32_t& i_down) {
  return quantize_tensor_type(t, info, name, n_dims, ne.data(), DType::kF32, i_v, i_down);
}

TEST(QuantizeRules, TargetsAndFileTypes) {
  // llama.cpp's llama_ftype numbers.
  EXPECT_EQ(target("q8_0").llama_ftype, 7);
  EXPECT_EQ(target("Q4_0").llama_ftype, 2);
  EXPECT_EQ(target("Q4_K_M").llama_ftype, 15);
  EXPECT_EQ(target("Q5_K_M").llama_ftype, 17);
  EXPECT_EQ(target("Q6_K").llama_ftype, 18);
  EXPECT_EQ(target("F16").llama_ftype, 1);
  EXPECT_EQ(target("BF16").llama_ftype, 32);
  EXPECT_FALSE(find_quantize_target("Q3_K_XL").has_value());
}

TEST(QuantizeRules, DenseQ4KMLayersOf16) {
  // n = 16: n/8 = 2, 7n/8 = 14; more bits for i in {0, 1, 14, 15} and
  // (i - 2) % 3 == 2, i.e. i in {4, 7, 10, 13}.
  const std::set<int> more = {0, 1, 4, 7, 10, 13, 14, 15};
  const QuantizeTarget t = target("Q4_K_M");
  QuantizeModelInfo info{16, 0, 16, true};
  int32_t i_v = 0, i_down = 0;
  for (int l = 0; l < 16; ++l) {
    const std::string blk = "blk." + std::to_string(l) + ".";
    const DType want = more.count(l) ? DType::kQ6_K : DType::kQ4_K;
    EXPECT_EQ(type_of(t, info, blk + "attn_q.weight", 2, {2048, 2048, 1, 1}, i_v, i_down),
              DType::kQ4_K);
    EXPECT_EQ(type_of(t, info, blk + "attn_v.weight", 2, {2048, 512, 1, 1}, i_v, i_down), want)
        << l;
    EXPECT_EQ(type_of(t, info, blk + "ffn_down.weight", 2, {5632, 2048, 1, 1}, i_v, i_down), want)
        << l;
    EXPECT_EQ(type_of(t, info, blk + "ffn_up.weight", 2, {2048, 5632, 1, 1}, i_v, i_down),
              DType::kQ4_K);
    EXPECT_EQ(type_of(t, info, blk + "attn_norm.weight", 1, {2048, 1, 1, 1}, i_v, i_down),
              DType::kF32);
  }
  EXPECT_EQ(i_v, 16);
  EXPECT_EQ(type_of(t, info, "output.weight", 2, {2048, 32000, 1, 1}, i_v, i_down), DType::kQ6_K);
  EXPECT_EQ(type_of(t, info, "token_embd.weight", 2, {2048, 32000, 1, 1}, i_v, i_down),
            DType::kQ4_K);
}

TEST(QuantizeRules, MoeUsesLayerFromNameAndKeepsRouterF32) {
  const QuantizeTarget t = target("Q5_K_M");
  QuantizeModelInfo info{16, 64, 16, true};
  int32_t i_v = 0, i_down = 0;
  // Shared expert and routed experts of layer 3 (not "more bits"), then 4 (more).
  EXPECT_EQ(type_of(t, info, "blk.3.ffn_down_exps.weight", 3, {512, 2048, 64, 1}, i_v, i_down),
            DType::kQ5_K);
  EXPECT_EQ(type_of(t, info, "blk.3.ffn_down_shexp.weight", 2, {512, 2048, 1, 1}, i_v, i_down),
            DType::kQ5_K);
  EXPECT_EQ(type_of(t, info, "blk.4.ffn_down_exps.weight", 3, {512, 2048, 64, 1}, i_v, i_down),
            DType::kQ6_K);
  EXPECT_EQ(type_of(t, info, "blk.4.ffn_gate_inp.weight", 2, {2048, 64, 1, 1}, i_v, i_down),
            DType::kF32);
  EXPECT_EQ(type_of(t, info, "blk.4.ffn_gate_exps.weight", 3, {2048, 512, 64, 1}, i_v, i_down),
            DType::kQ5_K);
}

TEST(QuantizeRules, FallbacksForRowsThatAreNotWholeBlocks) {
  QuantizeModelInfo info{4, 0, 4, false};
  int32_t i_v = 0, i_down = 0;
  // 96 columns: not a multiple of 256, a multiple of 32.
  EXPECT_EQ(type_of(target("Q4_K"), info, "blk.0.attn_q.weight", 2, {96, 96, 1, 1}, i_v, i_down),
            DType::kQ5_0);
  EXPECT_EQ(type_of(target("Q5_K"), info, "blk.0.attn_q.weight", 2, {96, 96, 1, 1}, i_v, i_down),
            DType::kQ5_1);
  EXPECT_EQ(type_of(target("Q6_K"), info, "blk.0.attn_q.weight", 2, {96, 96, 1, 1}, i_v, i_down),
            DType::kQ8_0);
  // 40 columns: no 32-block either → F16.
  EXPECT_EQ(type_of(target("Q4_K"), info, "blk.0.attn_q.weight", 2, {40, 96, 1, 1}, i_v, i_down),
            DType::kF16);
  // Tied embeddings (no output.weight): token_embd gets the output rule,
  // Q8_0 when its rows are not whole K blocks.
  EXPECT_EQ(type_of(target("Q4_K_M"), info, "token_embd.weight", 2, {96, 500, 1, 1}, i_v, i_down),
            DType::kQ8_0);
  EXPECT_EQ(type_of(target("Q4_0"), info, "token_embd.weight", 2, {256, 500, 1, 1}, i_v, i_down),
            DType::kQ6_K);
  EXPECT_EQ(type_of(target("Q8_0"), info, "token_embd.weight", 2, {256, 500, 1, 1}, i_v, i_down),
            DType::kQ8_0);
  EXPECT_EQ(type_of(target("BF16"), info, "token_embd.weight", 2, {256, 500, 1, 1}, i_v, i_down),
            DType::kBF16);
}

}  // namespace
}  // namespace moelab
