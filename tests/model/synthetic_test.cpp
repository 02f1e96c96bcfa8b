// make_model: every tiny preset is a file llama.cpp would load. The expected
// keys and tensor shapes are derived here from MODEL_MATH §4 (llama.cpp's
// create_tensor formulas) using the hyper-parameters read back from the file,
// not from the writer's own tables.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "kernels/quant.h"
#include "model/synthetic/make_model.h"

namespace moelab {
namespace {

namespace fs = std::filesystem;
using Shapes = std::map<std::string, std::vector<int64_t>>;

class SyntheticModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("moelab_synthetic_" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string make(const std::string& preset, uint64_t seed = 0,
                   std::optional<DType> type = std::nullopt) {
    const std::string path = (dir_ / (preset + "-" + std::to_string(seed) + ".gguf")).string();
    MakeModelOptions opts;
    opts.preset = preset;
    opts.output_path = path;
    opts.seed = seed;
    opts.weight_type = type;
    Status st = make_model(opts);
    EXPECT_TRUE(st.is_ok()) << st.message();
    return path;
  }

  fs::path dir_;
};

int64_t get(const GgufFile& f, const std::string& key) {
  auto v = f.get_int(key);
  EXPECT_TRUE(v.is_ok()) << v.status().message();
  return v.is_ok() ? *v : -1;
}

std::vector<std::string> required_keys(const GgufFile& f, const std::string& a) {
  std::vector<std::string> keys = {
      "general.architecture",        "tokenizer.ggml.model",        "tokenizer.ggml.pre",
      "tokenizer.ggml.tokens",       "tokenizer.ggml.token_type",   "tokenizer.ggml.merges",
      "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_bos_token"};
  for (const char* k :
       {"block_count", "context_length", "embedding_length", "feed_forward_length",
        "attention.head_count", "attention.head_count_kv", "attention.layer_norm_rms_epsilon",
        "rope.dimension_count", "rope.freq_base"}) {
    keys.push_back(a + "." + k);
  }
  auto add = [&](std::initializer_list<const char*> ks) {
    for (const char* k : ks) keys.push_back(a + "." + k);
  };
  if (a == "qwen2moe") {
    add({"expert_count", "expert_used_count", "expert_feed_forward_length",
         "expert_shared_feed_forward_length"});
  } else if (a == "qwen3moe") {
    add({"attention.key_length", "attention.value_length", "expert_count", "expert_used_count",
         "expert_feed_forward_length"});
  } else if (a == "deepseek2") {
    add({"vocab_size", "leading_dense_block_count", "attention.kv_lora_rank",
         "attention.key_length", "attention.value_length", "expert_count", "expert_used_count",
         "expert_shared_count", "expert_feed_forward_length", "expert_weights_scale",
         "expert_weights_norm", "expert_gating_func"});
    if (f.has(a + ".attention.key_length_mla")) add({"attention.value_length_mla"});
    if (f.get_int_or(a + ".expert_gating_func", 0).value() == 2) {
      add({"expert_group_count", "expert_group_used_count"});
    }
  }
  return keys;
}

// The tensors llama.cpp creates for the file's architecture and hparams.
Shapes expected_tensors(const GgufFile& f, bool tied) {
  const std::string a = *f.get_string("general.architecture");
  const int64_t n_embd = get(f, a + ".embedding_length");
  const int64_t n_vocab = static_cast<int64_t>(f.get_string_array("tokenizer.ggml.tokens")->size());
  const int64_t n_layer = get(f, a + ".block_count");
  const int64_t n_head = get(f, a + ".attention.head_count");
  const int64_t n_head_kv = get(f, a + ".attention.head_count_kv");
  const int64_t n_ff = get(f, a + ".feed_forward_length");
  const int64_t n_expert = f.get_int_or(a + ".expert_count", 0).value();
  const int64_t n_rot = get(f, a + ".rope.dimension_count");
  Shapes s;
  s["token_embd.weight"] = {n_embd, n_vocab};
  s["output_norm.weight"] = {n_embd};
  if (!tied) s["output.weight"] = {n_embd, n_vocab};
  auto blk = [](int64_t i, const std::string& n) { return "blk." + std::to_string(i) + "." + n; };

  if (a == "deepseek2") {
    const int64_t q_lora = f.get_int_or(a + ".attention.q_lora_rank", 0).value();
    const int64_t kv_lora = get(f, a + ".attention.kv_lora_rank");
    const bool mla = f.has(a + ".attention.key_length_mla");
    const int64_t k_head =
        mla ? get(f, a + ".attention.key_length_mla") : get(f, a + ".attention.key_length");
    const int64_t v_head =
        mla ? get(f, a + ".attention.value_length_mla") : get(f, a + ".attention.value_length");
    const int64_t nope = k_head - n_rot;
    const int64_t n_dense = get(f, a + ".leading_dense_block_count");
    const int64_t n_ff_exp = get(f, a + ".expert_feed_forward_length");
    const int64_t n_shared = get(f, a + ".expert_shared_count");
    const bool sigmoid = get(f, a + ".expert_gating_func") == 2;
    for (int64_t i = 0; i < n_layer; ++i) {
      s[blk(i, "attn_norm.weight")] = {n_embd};
      if (q_lora > 0) {
        s[blk(i, "attn_q_a.weight")] = {n_embd, q_lora};
        s[blk(i, "attn_q_a_norm.weight")] = {q_lora};
        s[blk(i, "attn_q_b.weight")] = {q_lora, n_head * k_head};
      } else {
        s[blk(i, "attn_q.weight")] = {n_embd, n_head * k_head};
      }
      s[blk(i, "attn_kv_a_mqa.weight")] = {n_embd, kv_lora + n_rot};
      s[blk(i, "attn_kv_a_norm.weight")] = {kv_lora};
      if (mla) {
        s[blk(i, "attn_k_b.weight")] = {nope, kv_lora, n_head};
        s[blk(i, "attn_v_b.weight")] = {kv_lora, v_head, n_head};
      } else {
        s[blk(i, "attn_kv_b.weight")] = {kv_lora, n_head * (nope + v_head)};
      }
      s[blk(i, "attn_output.weight")] = {n_head * v_head, n_embd};
      s[blk(i, "ffn_norm.weight")] = {n_embd};
      if (i < n_dense) {
        s[blk(i, "ffn_gate.weight")] = {n_embd, n_ff};
        s[blk(i, "ffn_up.weight")] = {n_embd, n_ff};
        s[blk(i, "ffn_down.weight")] = {n_ff, n_embd};
      } else {
        s[blk(i, "ffn_gate_inp.weight")] = {n_embd, n_expert};
        if (sigmoid) s[blk(i, "exp_probs_b.bias")] = {n_expert};
        s[blk(i, "ffn_gate_exps.weight")] = {n_embd, n_ff_exp, n_expert};
        s[blk(i, "ffn_up_exps.weight")] = {n_embd, n_ff_exp, n_expert};
        s[blk(i, "ffn_down_exps.weight")] = {n_ff_exp, n_embd, n_expert};
        s[blk(i, "ffn_gate_shexp.weight")] = {n_embd, n_ff_exp * n_shared};
        s[blk(i, "ffn_up_shexp.weight")] = {n_embd, n_ff_exp * n_shared};
        s[blk(i, "ffn_down_shexp.weight")] = {n_ff_exp * n_shared, n_embd};
      }
    }
    return s;
  }

  const int64_t head_dim = f.get_int_or(a + ".attention.key_length", n_embd / n_head).value();
  const int64_t n_ff_exp = f.get_int_or(a + ".expert_feed_forward_length", n_ff).value();
  if (f.find_tensor("rope_freqs.weight") != nullptr) s["rope_freqs.weight"] = {n_rot / 2};
  for (int64_t i = 0; i < n_layer; ++i) {
    s[blk(i, "attn_norm.weight")] = {n_embd};
    s[blk(i, "attn_q.weight")] = {n_embd, n_head * head_dim};
    s[blk(i, "attn_k.weight")] = {n_embd, n_head_kv * head_dim};
    s[blk(i, "attn_v.weight")] = {n_embd, n_head_kv * head_dim};
    s[blk(i, "attn_output.weight")] = {n_head * head_dim, n_embd};
    if (a == "qwen2moe") {
      s[blk(i, "attn_q.bias")] = {n_head * head_dim};
      s[blk(i, "attn_k.bias")] = {n_head_kv * head_dim};
      s[blk(i, "attn_v.bias")] = {n_head_kv * head_dim};
    }
    if (a == "qwen3moe") {
      s[blk(i, "attn_q_norm.weight")] = {head_dim};
      s[blk(i, "attn_k_norm.weight")] = {head_dim};
    }
    s[blk(i, "ffn_norm.weight")] = {n_embd};
    if (n_expert > 0) {
      s[blk(i, "ffn_gate_inp.weight")] = {n_embd, n_expert};
      s[blk(i, "ffn_gate_exps.weight")] = {n_embd, n_ff_exp, n_expert};
      s[blk(i, "ffn_up_exps.weight")] = {n_embd, n_ff_exp, n_expert};
      s[blk(i, "ffn_down_exps.weight")] = {n_ff_exp, n_embd, n_expert};
    } else {
      s[blk(i, "ffn_gate.weight")] = {n_embd, n_ff};
      s[blk(i, "ffn_up.weight")] = {n_embd, n_ff};
      s[blk(i, "ffn_down.weight")] = {n_ff, n_embd};
    }
    if (a == "qwen2moe") {
      const int64_t n_ff_sh = get(f, a + ".expert_shared_feed_forward_length");
      s[blk(i, "ffn_gate_inp_shexp.weight")] = {n_embd};
      s[blk(i, "ffn_gate_shexp.weight")] = {n_embd, n_ff_sh};
      s[blk(i, "ffn_up_shexp.weight")] = {n_embd, n_ff_sh};
      s[blk(i, "ffn_down_shexp.weight")] = {n_ff_sh, n_embd};
    }
  }
  return s;
}

Shapes actual_tensors(const GgufFile& f) {
  Shapes s;
  for (const GgufTensorInfo& t : f.tensors()) {
    s[t.name] = std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims);
  }
  return s;
}

std::vector<float> as_floats(const GgufFile& f, const std::string& name) {
  const GgufTensorInfo* info = f.find_tensor(name);
  EXPECT_NE(info, nullptr) << name;
  if (info == nullptr) return {};
  TensorView v = f.view(*info);
  std::vector<float> out(v.n_elements());
  for (int64_t r = 0; r < v.n_rows(); ++r) {
    dequantize_row(v.type, v.row(r), out.data() + r * v.ne[0], v.ne[0]);
  }
  return out;
}

struct Stats {
  double mean = 0;
  double stddev = 0;
};
Stats stats(const std::vector<float>& x) {
  double sum = 0, sum2 = 0;
  for (float v : x) sum += v;
  const double mean = sum / x.size();
  for (float v : x) sum2 += (v - mean) * (v - mean);
  return {mean, std::sqrt(sum2 / x.size())};
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const char* const kTinyPresets[] = {"tiny-llama",         "tiny-llama-tied", "tiny-mixtral",
                                    "tiny-qwen2moe",      "tiny-qwen3moe",   "tiny-deepseek2",
                                    "tiny-deepseek2-lite"};

TEST_F(SyntheticModelTest, TinyPresetsHaveTheKeysAndTensorsLlamaCppRequires) {
  for (const char* preset : kTinyPresets) {
    SCOPED_TRACE(preset);
    auto file = GgufFile::open(make(preset));
    ASSERT_TRUE(file.is_ok()) << file.status().message();
    const std::string arch = *file->get_string("general.architecture");
    for (const std::string& key : required_keys(*file, arch)) {
      EXPECT_TRUE(file->has(key)) << key;
    }
    EXPECT_EQ(*file->get_string("tokenizer.ggml.model"), "gpt2");
    EXPECT_EQ(*file->get_string("tokenizer.ggml.pre"), "deepseek-v3");
    EXPECT_FALSE(*file->get_bool_or("tokenizer.ggml.add_bos_token", true));
    EXPECT_EQ(get(*file, "tokenizer.ggml.bos_token_id"), 510);
    EXPECT_EQ(get(*file, "tokenizer.ggml.eos_token_id"), 511);
    EXPECT_EQ(get(*file, "general.file_type"), 0);
    EXPECT_EQ(actual_tensors(*file),
              expected_tensors(*file, std::string(preset) == "tiny-llama-tied"));
    for (const GgufTensorInfo& t : file->tensors()) EXPECT_EQ(t.type, DType::kF32) << t.name;
  }
}

TEST_F(SyntheticModelTest, TinyPresetsHaveTheirSpecifiedHyperParameters) {
  // From the preset list of the task (hand-written, not from the writer).
  auto llama = GgufFile::open(make("tiny-llama"));
  ASSERT_TRUE(llama.is_ok());
  EXPECT_EQ(*llama->get_string("general.architecture"), "llama");
  EXPECT_EQ(get(*llama, "llama.embedding_length"), 64);
  EXPECT_EQ(get(*llama, "llama.block_count"), 2);
  EXPECT_EQ(get(*llama, "llama.attention.head_count"), 4);
  EXPECT_EQ(get(*llama, "llama.attention.head_count_kv"), 2);
  EXPECT_EQ(get(*llama, "llama.feed_forward_length"), 128);
  EXPECT_EQ(get(*llama, "llama.vocab_size"), 512);
  EXPECT_EQ(llama->find_tensor("rope_freqs.weight"), nullptr);
  EXPECT_NE(llama->find_tensor("output.weight"), nullptr);

  auto tied = GgufFile::open(make("tiny-llama-tied"));
  ASSERT_TRUE(tied.is_ok());
  EXPECT_EQ(tied->find_tensor("output.weight"), nullptr);
  EXPECT_EQ(*tied->get_float("llama.rope.freq_base"), 500000.0);
  // head_dim 16, base 5e5: inv_freq_i = 5e5^(-i/8); wavelength 2π/inv_freq is
  // 6.28 for i = 0 (< orig/high = 8: kept) and 32.4 for i = 1, already above
  // orig/low = 32, so every other frequency is divided by the factor 8.
  EXPECT_EQ(as_floats(*tied, "rope_freqs.weight"), (std::vector<float>{1, 8, 8, 8, 8, 8, 8, 8}));

  auto mixtral = GgufFile::open(make("tiny-mixtral"));
  ASSERT_TRUE(mixtral.is_ok());
  EXPECT_EQ(get(*mixtral, "llama.expert_count"), 4);
  EXPECT_EQ(get(*mixtral, "llama.expert_used_count"), 2);

  auto qwen3 = GgufFile::open(make("tiny-qwen3moe"));
  ASSERT_TRUE(qwen3.is_ok());
  EXPECT_EQ(get(*qwen3, "qwen3moe.attention.key_length"), 24);
  EXPECT_EQ(get(*qwen3, "qwen3moe.expert_count"), 8);

  auto ds = GgufFile::open(make("tiny-deepseek2"));
  ASSERT_TRUE(ds.is_ok());
  EXPECT_EQ(get(*ds, "deepseek2.block_count"), 3);
  EXPECT_EQ(get(*ds, "deepseek2.expert_count"), 16);
  EXPECT_EQ(get(*ds, "deepseek2.expert_used_count"), 4);
  EXPECT_EQ(get(*ds, "deepseek2.expert_group_count"), 4);
  EXPECT_EQ(get(*ds, "deepseek2.expert_group_used_count"), 2);
  EXPECT_EQ(get(*ds, "deepseek2.expert_gating_func"), 2);
  EXPECT_EQ(get(*ds, "deepseek2.leading_dense_block_count"), 1);
  EXPECT_EQ(get(*ds, "deepseek2.expert_shared_count"), 1);
  EXPECT_FLOAT_EQ(*ds->get_float("deepseek2.expert_weights_scale"), 2.5);
  EXPECT_TRUE(*ds->get_bool_or("deepseek2.expert_weights_norm", false));

  auto lite = GgufFile::open(make("tiny-deepseek2-lite"));
  ASSERT_TRUE(lite.is_ok());
  EXPECT_FALSE(lite->has("deepseek2.attention.q_lora_rank"));
  EXPECT_EQ(get(*lite, "deepseek2.expert_gating_func"), 1);
  EXPECT_FALSE(*lite->get_bool_or("deepseek2.expert_weights_norm", true));
  EXPECT_FLOAT_EQ(*lite->get_float("deepseek2.expert_weights_scale"), 1.0);
  EXPECT_EQ(*lite->get_string("deepseek2.rope.scaling.type"), "yarn");
  EXPECT_FLOAT_EQ(*lite->get_float("deepseek2.rope.scaling.factor"), 4.0);
  EXPECT_EQ(get(*lite, "deepseek2.rope.scaling.original_context_length"), 32);
  EXPECT_FLOAT_EQ(*lite->get_float("deepseek2.rope.scaling.yarn_log_multiplier"), 0.0707);
  EXPECT_EQ(lite->find_tensor("blk.1.exp_probs_b.bias"), nullptr);
}

TEST_F(SyntheticModelTest, WeightsFollowTheDocumentedDistributions) {
  auto f = GgufFile::open(make("tiny-qwen2moe", 3));
  ASSERT_TRUE(f.is_ok());
  Stats norm = stats(as_floats(*f, "blk.0.attn_norm.weight"));  // 64 values
  EXPECT_NEAR(norm.mean, 1.0, 0.05);
  EXPECT_NEAR(norm.stddev, 0.1, 0.03);
  Stats experts = stats(as_floats(*f, "blk.0.ffn_down_exps.weight"));  // ne0 = 64
  EXPECT_NEAR(experts.mean, 0.0, 0.01);
  EXPECT_NEAR(experts.stddev, 1.0 / 8.0, 0.01);
  Stats embd = stats(as_floats(*f, "token_embd.weight"));
  EXPECT_NEAR(embd.stddev, 1.0 / 8.0, 0.01);
}

TEST_F(SyntheticModelTest, SameSeedSameBytesOtherSeedOtherWeights) {
  const std::string a = make("tiny-deepseek2", 7);
  const std::string a_bytes = read_bytes(a);
  fs::rename(a, dir_ / "first.gguf");
  EXPECT_EQ(read_bytes(make("tiny-deepseek2", 7)), a_bytes);

  auto f7 = GgufFile::open((dir_ / "first.gguf").string());
  auto f8 = GgufFile::open(make("tiny-deepseek2", 8));
  ASSERT_TRUE(f7.is_ok() && f8.is_ok());
  ASSERT_EQ(f7->tensors().size(), f8->tensors().size());
  for (size_t i = 0; i < f7->tensors().size(); ++i) {
    const GgufTensorInfo& t7 = f7->tensors()[i];
    const GgufTensorInfo& t8 = f8->tensors()[i];
    ASSERT_EQ(t7.name, t8.name);
    ASSERT_EQ(t7.n_bytes, t8.n_bytes);
    EXPECT_NE(std::memcmp(f7->view(t7).data, f8->view(t8).data, t7.n_bytes), 0) << t7.name;
  }
  // Metadata (vocabulary included) does not depend on the seed.
  EXPECT_EQ(f7->metadata().size(), f8->metadata().size());
  EXPECT_EQ(*f7->get_string_array("tokenizer.ggml.merges"),
            *f8->get_string_array("tokenizer.ggml.merges"));
}

TEST_F(SyntheticModelTest, QuantizedPresetHasRequestedTypes) {
  auto f32 = GgufFile::open(make("tiny-deepseek2", 5));
  auto q8 = GgufFile::open(make("tiny-deepseek2", 5, DType::kQ8_0));
  ASSERT_TRUE(f32.is_ok() && q8.is_ok());
  EXPECT_EQ(get(*q8, "general.file_type"), 7);  // LLAMA_FTYPE_MOSTLY_Q8_0
  for (const GgufTensorInfo& t : q8->tensors()) {
    // llama-quantize's rule (see the deepseek-v3-q8_0 oracle file): 1-D
    // tensors and the router stay F32, every other weight is Q8_0.
    const bool keep_f32 = t.n_dims == 1 || t.name.find("ffn_gate_inp") != std::string::npos;
    EXPECT_EQ(t.type, keep_f32 ? DType::kF32 : DType::kQ8_0) << t.name;
  }
  // The same seed gives the same weights, quantized: within Q8_0's rounding
  // (half a step of absmax/127 per block).
  std::vector<float> exact = as_floats(*f32, "blk.1.ffn_down_exps.weight");
  std::vector<float> rounded = as_floats(*q8, "blk.1.ffn_down_exps.weight");
  ASSERT_EQ(exact.size(), rounded.size());
  double max_err = 0;
  for (size_t i = 0; i < exact.size(); ++i) {
    max_err = std::max(max_err, std::abs(double(exact[i]) - rounded[i]));
  }
  // std 1/8 (ne0 = 64) and |w| < 6 sigma bound a block's absmax by 0.75.
  EXPECT_GT(max_err, 0.0);
  EXPECT_LE(max_err, 0.75 / 127 / 2);

  // Q4_K needs rows of 256: tiny-llama's rows (64, 128) fall back to Q5_0.
  auto q4k = GgufFile::open(make("tiny-llama", 0, DType::kQ4_K));
  ASSERT_TRUE(q4k.is_ok());
  EXPECT_EQ(get(*q4k, "general.file_type"), 14);  // LLAMA_FTYPE_MOSTLY_Q4_K_S
  EXPECT_EQ(q4k->find_tensor("blk.0.attn_q.weight")->type, DType::kQ5_0);
  EXPECT_EQ(q4k->find_tensor("blk.0.ffn_down.weight")->type, DType::kQ5_0);
  EXPECT_EQ(q4k->find_tensor("blk.0.attn_norm.weight")->type, DType::kF32);
}

TEST_F(SyntheticModelTest, EveryWeightTypeWithLlamaQuantizeFallbacks) {
  // tiny-qwen2moe's weight rows are 64 long except ffn_down_shexp (256).
  // llama-quantize (llama-quant.cpp) keeps a type whose block divides the row
  // and otherwise falls back: Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K and
  // Q3_K -> IQ4_NL (not a moelab type; its stand-in is Q4_0, same block).
  struct Case {
    DType requested;
    DType row64;
    DType row256;
    int64_t file_type;  // llama_ftype
  };
  const Case cases[] = {
      {DType::kF16, DType::kF16, DType::kF16, 1},
      {DType::kBF16, DType::kBF16, DType::kBF16, 32},
      {DType::kQ4_0, DType::kQ4_0, DType::kQ4_0, 2},
      {DType::kQ4_1, DType::kQ4_1, DType::kQ4_1, 3},
      {DType::kQ5_0, DType::kQ5_0, DType::kQ5_0, 8},
      {DType::kQ5_1, DType::kQ5_1, DType::kQ5_1, 9},
      {DType::kQ8_0, DType::kQ8_0, DType::kQ8_0, 7},
      {DType::kQ2_K, DType::kQ4_0, DType::kQ2_K, 10},
      {DType::kQ3_K, DType::kQ4_0, DType::kQ3_K, 11},
      {DType::kQ4_K, DType::kQ5_0, DType::kQ4_K, 14},
      {DType::kQ5_K, DType::kQ5_1, DType::kQ5_K, 16},
      {DType::kQ6_K, DType::kQ8_0, DType::kQ6_K, 18},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(dtype_info(c.requested).name);
    auto f = GgufFile::open(make("tiny-qwen2moe", 1, c.requested));
    ASSERT_TRUE(f.is_ok()) << f.status().message();
    EXPECT_EQ(get(*f, "general.file_type"), c.file_type);
    for (const GgufTensorInfo& t : f->tensors()) {
      DType want = t.ne[0] == 256 ? c.row256 : c.row64;
      if (t.n_dims == 1 || t.name.find("ffn_gate_inp") != std::string::npos) want = DType::kF32;
      EXPECT_EQ(t.type, want) << t.name;
    }
    EXPECT_NE(f->find_tensor("blk.0.ffn_down_shexp.weight"), nullptr);
    EXPECT_EQ(f->find_tensor("blk.0.ffn_down_shexp.weight")->ne[0], 256);
  }
}

TEST_F(SyntheticModelTest, UnknownPresetListsTheValidNames) {
  MakeModelOptions opts;
  opts.preset = "tiny-gpt5";
  opts.output_path = (dir_ / "x.gguf").string();
  Status st = make_model(opts);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("tiny-gpt5"), std::string::npos);
  for (const PresetInfo& p : model_presets()) {
    EXPECT_NE(st.message().find(p.name), std::string::npos) << p.name;
  }
  EXPECT_FALSE(fs::exists(dir_ / "x.gguf"));

  opts.preset = "tiny-llama";
  opts.weight_type = DType::kQ8_K;  // an activation type, not a weight type
  st = make_model(opts);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("q8_K"), std::string::npos) << st.message();

  opts.weight_type = std::nullopt;
  opts.output_path = (dir_ / "no-such-dir" / "x.gguf").string();
  st = make_model(opts);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("no-such-dir"), std::string::npos) << st.message();
}

TEST_F(SyntheticModelTest, PresetListAndProgress) {
  std::vector<std::string> names;
  for (const PresetInfo& p : model_presets()) {
    names.push_back(p.name);
    EXPECT_FALSE(p.description.empty()) << p.name;
  }
  for (const char* want : kTinyPresets) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  for (const char* want :
       {"v3-demo", "r1-demo", "bench-dense", "bench-qwen3moe", "bench-deepseek"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }

  MakeModelOptions opts;
  opts.preset = "tiny-mixtral";
  opts.output_path = (dir_ / "p.gguf").string();
  std::vector<MakeModelProgress> seen;
  opts.progress = [&](const MakeModelProgress& p) { seen.push_back(p); };
  ASSERT_TRUE(make_model(opts).is_ok());
  auto f = GgufFile::open(opts.output_path);
  ASSERT_TRUE(f.is_ok());
  ASSERT_EQ(seen.size(), f->tensors().size());
  EXPECT_EQ(seen.back().tensors_done, seen.back().tensors_total);
  EXPECT_EQ(seen.back().bytes_done, seen.back().bytes_total);
  uint64_t tensor_bytes = 0;
  for (const GgufTensorInfo& t : f->tensors()) tensor_bytes += t.n_bytes;
  EXPECT_EQ(seen.back().bytes_total, tensor_bytes);
}

struct ParamCount {
  double total = 0;
  double active = 0;  // per token: each routed-expert tensor counts used/count
};
ParamCount count_params(const GgufFile& f) {
  const std::string a = *f.get_string("general.architecture");
  const double n_expert = static_cast<double>(f.get_int_or(a + ".expert_count", 0).value());
  const double n_used = static_cast<double>(f.get_int_or(a + ".expert_used_count", 0).value());
  ParamCount c;
  for (const GgufTensorInfo& t : f.tensors()) {
    const double n = static_cast<double>(t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3]);
    c.total += n;
    const bool routed = t.name.find("_exps.") != std::string::npos;
    c.active += routed ? n * n_used / n_expert : n;
  }
  return c;
}

TEST_F(SyntheticModelTest, R1DemoHasTwiceTheParamsAndTwoThirdsTheActiveOfV3Demo) {
  // Q4_0 keeps the files small (parameter counts do not depend on the type).
  auto v3 = GgufFile::open(make("v3-demo", 0, DType::kQ4_0));
  auto r1 = GgufFile::open(make("r1-demo", 0, DType::kQ4_0));
  ASSERT_TRUE(v3.is_ok() && r1.is_ok());
  EXPECT_EQ(*v3->get_string("general.architecture"), "llama");
  EXPECT_EQ(*r1->get_string("general.architecture"), "deepseek2");
  EXPECT_TRUE(r1->has("deepseek2.attention.q_lora_rank"));
  EXPECT_EQ(get(*r1, "deepseek2.leading_dense_block_count"), 1);
  EXPECT_EQ(get(*r1, "deepseek2.expert_gating_func"), 2);
  EXPECT_EQ(get(*r1, "deepseek2.expert_shared_count"), 1);
  EXPECT_EQ(actual_tensors(*r1), expected_tensors(*r1, false));
  EXPECT_EQ(actual_tensors(*v3), expected_tensors(*v3, false));

  const ParamCount dense = count_params(*v3);
  const ParamCount moe = count_params(*r1);
  EXPECT_EQ(dense.active, dense.total);
  const double total_ratio = moe.total / dense.total;
  const double active_ratio = moe.active / dense.active;
  std::printf("v3-demo: %.1fM params; r1-demo: %.1fM params, %.1fM active\n", dense.total / 1e6,
              moe.total / 1e6, moe.active / 1e6);
  std::printf("r1/v3 total ratio %.3f, active ratio %.3f\n", total_ratio, active_ratio);
  EXPECT_GE(total_ratio, 1.8);
  EXPECT_LE(total_ratio, 2.2);
  EXPECT_GE(active_ratio, 0.55);
  EXPECT_LE(active_ratio, 0.8);
  // "A few hundred MB" of F32 weights read per decoded token.
  EXPECT_GT(dense.total * 4, 200e6);
  EXPECT_LT(dense.total * 4, 600e6);
}

}  // namespace
}  // namespace moelab
