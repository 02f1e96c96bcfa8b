// Reads the oracle GGUF files (written the way llama.cpp's converter writes
// them) and checks facts stated independently by each NAME.json and the
// oracle README: architecture, hyper-parameters, vocabulary, tensor shapes and
// types, and that norm weights look like 1 + N(0, 0.1).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "formats/gguf.h"

namespace moelab {
namespace {

std::string oracle_dir() { return std::string(MOELAB_TEST_DATA_DIR) + "/oracle"; }

std::vector<std::string> oracle_cases() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(oracle_dir())) {
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class GgufOracleTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufOracleTest, FactsFromTheCaseDescription) {
  const std::string base = oracle_dir() + "/" + GetParam();
  std::ifstream in(base + ".json");
  ASSERT_TRUE(in) << base << ".json";
  const nlohmann::json c = nlohmann::json::parse(in);
  const nlohmann::json& p = c["preset"];

  auto file = GgufFile::open(base + ".gguf");
  ASSERT_TRUE(file.is_ok()) << file.status().message();
  EXPECT_EQ(file->version(), 3u);

  // "llama-moe" in the case files is the Mixtral layout of the llama architecture.
  std::string arch = c["arch"];
  if (arch == "llama-moe") arch = "llama";
  EXPECT_EQ(*file->get_string("general.architecture"), arch);
  EXPECT_EQ(*file->get_int(arch + ".embedding_length"), p["n_embd"].get<int64_t>());
  EXPECT_EQ(*file->get_int(arch + ".block_count"), p["n_layer"].get<int64_t>());
  EXPECT_EQ(*file->get_int(arch + ".attention.head_count"), p["n_head"].get<int64_t>());
  if (p.contains("n_head_kv")) {
    EXPECT_EQ(*file->get_int(arch + ".attention.head_count_kv"), p["n_head_kv"].get<int64_t>());
  }
  if (p.contains("n_expert")) {
    EXPECT_EQ(*file->get_int(arch + ".expert_count"), p["n_expert"].get<int64_t>());
    EXPECT_EQ(*file->get_int(arch + ".expert_used_count"), p["n_expert_used"].get<int64_t>());
  }

  // The vocabulary: 512 byte-level BPE tokens, pre-tokenizer deepseek-v3.
  const int64_t n_vocab = c["n_vocab"];
  EXPECT_EQ(n_vocab, 512);
  auto tokens = file->get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.is_ok()) << tokens.status().message();
  EXPECT_EQ(static_cast<int64_t>(tokens->size()), n_vocab);
  EXPECT_EQ(*file->get_string("tokenizer.ggml.pre"), "deepseek-v3");
  // BOS and EOS are the last two ids.
  EXPECT_EQ(*file->get_int("tokenizer.ggml.bos_token_id"), n_vocab - 2);
  EXPECT_EQ(*file->get_int("tokenizer.ggml.eos_token_id"), n_vocab - 1);

  const GgufTensorInfo* embd = file->find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->n_dims, 2);
  EXPECT_EQ(embd->ne[0], p["n_embd"].get<int64_t>());
  EXPECT_EQ(embd->ne[1], n_vocab);

  // Every layer has its attention norm; norms stay f32 in every weight type.
  for (int64_t l = 0; l < p["n_layer"].get<int64_t>(); ++l) {
    const GgufTensorInfo* norm =
        file->find_tensor("blk." + std::to_string(l) + ".attn_norm.weight");
    ASSERT_NE(norm, nullptr) << l;
    EXPECT_EQ(norm->type, DType::kF32);
    EXPECT_EQ(norm->n_dims, 1);
    EXPECT_EQ(norm->ne[0], p["n_embd"].get<int64_t>());
    // 1 + N(0, 0.1): a wrong data offset would land on other weights.
    const TensorView v = file->view(*norm);
    const float* w = reinterpret_cast<const float*>(v.data);
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < v.ne[0]; ++i) sum += w[i];
    const double mean = sum / v.ne[0];
    for (int64_t i = 0; i < v.ne[0]; ++i) sum2 += (w[i] - mean) * (w[i] - mean);
    const double sd = std::sqrt(sum2 / v.ne[0]);
    EXPECT_NEAR(mean, 1.0, 0.05) << norm->name;
    EXPECT_GT(sd, 0.06) << norm->name;
    EXPECT_LT(sd, 0.15) << norm->name;
  }

  std::set<DType> types;
  for (const auto& t : file->tensors()) types.insert(t.type);
  const std::string dtype = c["dtype"];
  if (dtype == "f32") {
    EXPECT_EQ(types, std::set<DType>{DType::kF32});
  } else if (dtype == "f16") {
    EXPECT_TRUE(types.count(DType::kF16));
  } else if (dtype == "Q8_0") {
    EXPECT_TRUE(types.count(DType::kQ8_0));
  } else if (dtype == "Q4_K_M") {
    EXPECT_TRUE(types.count(DType::kQ4_K));
    EXPECT_TRUE(types.count(DType::kQ6_K));
  } else {
    ADD_FAILURE() << "unknown dtype " << dtype;
  }

  // A dense llama: token_embd, output_norm, output and 9 tensors per layer.
  if (c["arch"] == "llama") {
    EXPECT_EQ(file->tensors().size(), 3u + 9u * p["n_layer"].get<size_t>());
  }
  // The data section is aligned and the tensors end inside the file.
  EXPECT_EQ(file->data_offset() % file->alignment(), 0u);
  const uint64_t file_size = std::filesystem::file_size(base + ".gguf");
  uint64_t end = 0;
  for (const auto& t : file->tensors()) end = std::max(end, t.offset + t.n_bytes);
  EXPECT_LE(file->data_offset() + end, file_size);
  EXPECT_GT(file->data_offset() + end + file->alignment(), file_size);
}

INSTANTIATE_TEST_SUITE_P(Oracle, GgufOracleTest, ::testing::ValuesIn(oracle_cases()),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

TEST(GgufOracleListTest, AllTenCasesPresent) { EXPECT_EQ(oracle_cases().size(), 10u); }

}  // namespace
}  // namespace moelab
