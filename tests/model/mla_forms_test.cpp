// DeepSeek MLA: the absorbed and the decompressed form of attention agree
// within 1e-5 on every deepseek2 model we have, for prefill and for decode
// over a cache; auto mode picks one of them per sequence.
#include <gtest/gtest.h>

#include <stdexcept>

#include "oracle_util.h"

namespace moelab {
namespace {

using testing::all_logits;
using testing::max_abs_diff;
using testing::oracle_dir;
using testing::read_case;

class MlaForms : public ::testing::TestWithParam<const char*> {};

// The logits of decoding `tokens` one at a time over a paged cache of
// 4-position blocks: [n, n_vocab].
std::vector<float> stepwise_logits(Model& model, const std::vector<int32_t>& tokens,
                                   ThreadPool& pool, const ForwardOptions& options) {
  const int32_t n = static_cast<int32_t>(tokens.size()), bs = 4;
  const int32_t n_blocks = (n + bs - 1) / bs;
  KvCache cache(model.kv_layout(), bs, n_blocks);
  std::vector<int32_t> table(n_blocks);
  for (int32_t i = 0; i < n_blocks; ++i) table[i] = i;
  std::vector<float> logits;
  for (int32_t i = 0; i < n; ++i) {
    Batch b;
    b.add(tokens[i], i, 0, true);
    b.sequences.push_back({table.data(), n_blocks, {}});
    ForwardOutput out;
    const Status st = model.forward(b, cache, out, pool, options);
    if (!st.is_ok()) throw std::runtime_error(st.message());
    logits.insert(logits.end(), out.logits.begin(), out.logits.end());
  }
  return logits;
}

TEST_P(MlaForms, AbsorbedEqualsDecompressed) {
  // The two forms are the same math in float; 8-bit activations round
  // different operands in each (q_nope vs latents), so compare in f32.
  ModelOverrides f32;
  f32.activations = Activations::kFloat32;
  auto model = Model::load(oracle_dir() + "/" + GetParam() + ".gguf", f32);
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  const auto tokens = read_case(GetParam())["tokens"].get<std::vector<int32_t>>();
  ThreadPool pool(2);
  ForwardOptions absorbed, decompressed;
  absorbed.mla_mode = MlaMode::kAbsorbed;
  decompressed.mla_mode = MlaMode::kDecompressed;
  const auto a = all_logits(**model, tokens, pool, 16, absorbed);
  const auto d = all_logits(**model, tokens, pool, 16, decompressed);
  EXPECT_LE(max_abs_diff(a, d), 1e-5);
  std::printf("[mla] %s absorbed vs decompressed: %.3g\n", GetParam(), max_abs_diff(a, d));
}

// Decode token by token (absorbed, reading the latent cache) equals one
// prefill of the whole list (decompressed).
TEST_P(MlaForms, TokenByTokenDecodeEqualsPrefill) {
  // The two forms are the same math in float; 8-bit activations round
  // different operands in each (q_nope vs latents), so compare in f32.
  ModelOverrides f32;
  f32.activations = Activations::kFloat32;
  auto model = Model::load(oracle_dir() + "/" + GetParam() + ".gguf", f32);
  ASSERT_TRUE(model.is_ok());
  const auto tokens = read_case(GetParam())["tokens"].get<std::vector<int32_t>>();
  ThreadPool pool(2);
  ForwardOptions decompressed;
  decompressed.mla_mode = MlaMode::kDecompressed;
  const auto prefill = all_logits(**model, tokens, pool, 16, decompressed);

  // One token over a cache: auto picks absorbed.
  const auto stepwise = stepwise_logits(**model, tokens, pool, ForwardOptions{});
  EXPECT_LE(max_abs_diff(prefill, stepwise), 1e-5);
}

// Decode token by token in the absorbed form (one token: W_UK, attention and
// W_UV per head group in one region) equals the absorbed prefill of the whole
// list (more tokens than the fused form takes: three regions) bit for bit,
// in both activation modes: the two schedules run the same kernels per row
// and per head.
TEST_P(MlaForms, FusedDecodeEqualsPhasedPrefillBitForBit) {
  for (Activations act : {Activations::kFloat32, Activations::kQuantized}) {
    ModelOverrides o;
    o.activations = act;
    auto model = Model::load(oracle_dir() + "/" + GetParam() + ".gguf", o);
    ASSERT_TRUE(model.is_ok());
    const auto tokens = read_case(GetParam())["tokens"].get<std::vector<int32_t>>();
    ASSERT_GT(tokens.size(), 4u);  // the prefill takes the phased form
    ThreadPool pool(2);
    ForwardOptions absorbed;
    absorbed.mla_mode = MlaMode::kAbsorbed;
    const auto prefill = all_logits(**model, tokens, pool, 16, absorbed);

    const auto stepwise = stepwise_logits(**model, tokens, pool, absorbed);
    ASSERT_EQ(prefill.size(), stepwise.size());
    EXPECT_EQ(max_abs_diff(prefill, stepwise), 0.0) << activations_name(act);
  }
}

INSTANTIATE_TEST_SUITE_P(DeepSeek, MlaForms,
                         ::testing::Values("deepseek-v3", "deepseek-v3-yarn", "deepseek-v3-q8_0"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace moelab
