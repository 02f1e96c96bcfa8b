// The tokenizer of the oracle GGUF files (512-token byte-level BPE, the first
// DeepSeek-V3 merges, pre-tokenizer deepseek-v3), and bad tokenizer metadata.
// The expected ids come from the JavaScript reference run on the same
// vocabulary and merges with DeepSeek-V3's pre-tokenizer.
#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "js_reference.h"
#include "tokenizer/tokenizer.h"

namespace moelab {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path oracle_dir() { return fs::path(MOELAB_TEST_DATA_DIR) / "oracle"; }

Tokenizer load_oracle(const std::string& name) {
  auto file = GgufFile::open((oracle_dir() / name).string());
  EXPECT_TRUE(file.is_ok()) << file.status().message();
  auto tok = Tokenizer::from_gguf(*file);
  EXPECT_TRUE(tok.is_ok()) << tok.status().message();
  return std::move(tok).value();
}

TEST(GgufTokenizer, ReadsTheOracleVocabulary) {
  const Tokenizer tok = load_oracle("deepseek-v3.gguf");
  EXPECT_EQ(tok.n_vocab(), 512);
  EXPECT_EQ(tok.pre_tokenizer_name(), "deepseek-v3");
  // README: BOS and EOS are the last two ids.
  EXPECT_EQ(tok.bos(), 510);
  EXPECT_EQ(tok.eos(), 511);
  EXPECT_TRUE(tok.is_eog(511));
  EXPECT_FALSE(tok.is_eog(510));
  EXPECT_EQ(tok.token_to_piece(510), "<｜begin▁of▁sentence｜>");
  EXPECT_EQ(tok.encode("<｜begin▁of▁sentence｜>"), (std::vector<int32_t>{510}));
  // 256 byte tokens: every byte string encodes and decodes back.
  std::string all;
  for (int b = 1; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(tok.decode(tok.encode(all)), all);
}

TEST(GgufTokenizer, EveryOracleFileLoads) {
  const Tokenizer reference = load_oracle("deepseek-v3.gguf");
  const std::string text = "The quick brown fox, 12345 times.\n\tdef main():";
  int n_files = 0;
  for (const auto& entry : fs::directory_iterator(oracle_dir())) {
    if (entry.path().extension() != ".gguf") continue;
    ++n_files;
    SCOPED_TRACE(entry.path().filename().string());
    const Tokenizer tok = load_oracle(entry.path().filename().string());
    EXPECT_EQ(tok.n_vocab(), 512);
    EXPECT_EQ(tok.encode(text), reference.encode(text));
  }
  EXPECT_GE(n_files, 10);
}

TEST(GgufTokenizer, MatchesReferenceOnTheSameVocabulary) {
  if (!fs::exists(test::package_json("deepseek_v3")) || !test::have_node()) {
    GTEST_SKIP() << "needs node and tests/js/node_modules (`make js-deps`)";
  }
  auto file = GgufFile::open((oracle_dir() / "deepseek-v3.gguf").string());
  ASSERT_TRUE(file.is_ok()) << file.status().message();
  auto tok = Tokenizer::from_gguf(*file);
  ASSERT_TRUE(tok.is_ok()) << tok.status().message();
  auto tokens = file->get_string_array("tokenizer.ggml.tokens");
  auto merges = file->get_string_array("tokenizer.ggml.merges");
  auto types = file->get_int_array("tokenizer.ggml.token_type");
  ASSERT_TRUE(tokens.is_ok() && merges.is_ok() && types.is_ok());
  std::vector<int> special_ids;
  for (size_t i = 0; i < types->size(); ++i) {
    if ((*types)[i] == static_cast<int64_t>(TokenType::kControl)) special_ids.push_back(i);
  }
  const std::vector<std::string> texts = {
      "The quick brown fox jumps over the lazy dog.",
      "In the beginning, there was 1 thing and then 12345678 others.",
      "  indented\n\n\tcode(x) = x * 2;  // comment\n",
      "你好，世界！日本語のテキスト。한국어",
      "<｜begin▁of▁sentence｜>user: hello<｜end▁of▁sentence｜>",
      "emoji 👨‍👩‍👧 and Ünïcödé",
      "",
  };
  const json reply = test::run_reference(
      {{"model", "deepseek_v3"},
       {"texts", texts},
       {"vocab", {{"tokens", *tokens}, {"merges", *merges}, {"special_ids", special_ids}}}});
  ASSERT_TRUE(reply.contains("ids"));
  ASSERT_EQ(reply["ids"].size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(tok->encode(texts[i]), reply["ids"][i].get<std::vector<int32_t>>())
        << "text #" << i << ": \"" << texts[i] << "\"";
  }
}

// A GGUF with only tokenizer metadata, altered by `edit`.
Result<Tokenizer> load_edited(const std::function<void(GgufWriter&)>& edit) {
  auto file = GgufFile::open((oracle_dir() / "deepseek-v3.gguf").string());
  if (!file.is_ok()) return file.status();
  GgufWriter writer;
  for (const auto& [key, value] : file->metadata()) {
    if (key.rfind("tokenizer.", 0) == 0 || key == "general.alignment") writer.set(key, value);
  }
  edit(writer);
  const fs::path path =
      fs::temp_directory_path() / ("moelab-tok-edit-" + std::to_string(::getpid()) + ".gguf");
  MOELAB_TRY(writer.write(path.string()));
  auto edited = GgufFile::open(path.string());
  fs::remove(path);
  if (!edited.is_ok()) return edited.status();
  return Tokenizer::from_gguf(*edited);
}

TEST(GgufTokenizer, BadMetadataIsAnErrorNamingTheKey) {
  const auto expect_error = [](const std::function<void(GgufWriter&)>& edit,
                               const std::string& needle) {
    const auto tok = load_edited(edit);
    ASSERT_FALSE(tok.is_ok()) << needle;
    EXPECT_NE(tok.status().message().find(needle), std::string::npos) << tok.status().message();
  };
  ASSERT_TRUE(load_edited([](GgufWriter&) {}).is_ok());
  expect_error([](GgufWriter& w) { w.set("tokenizer.ggml.model", GgufValue::string("llama")); },
               "tokenizer.ggml.model");
  expect_error([](GgufWriter& w) { w.set("tokenizer.ggml.pre", GgufValue::string("mystery")); },
               "mystery");
  expect_error([](GgufWriter& w) { w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(512)); },
               "tokenizer.ggml.bos_token_id");
  expect_error([](GgufWriter& w) { w.remove("tokenizer.ggml.tokens"); }, "tokenizer.ggml.tokens");
  expect_error(
      [](GgufWriter& w) {
        w.set("tokenizer.ggml.token_type", GgufValue::i32_array({1, 1}));
      },
      "tokenizer.ggml.token_type");
  expect_error(
      [](GgufWriter& w) {
        w.set("tokenizer.ggml.token_type", GgufValue::i32_array(std::vector<int32_t>(512, 9)));
      },
      "tokenizer.ggml.token_type[0]");
  expect_error(
      [](GgufWriter& w) { w.set("tokenizer.ggml.merges", GgufValue::string_array({"nospace"})); },
      "tokenizer.ggml.merges[0]");
}

}  // namespace
}  // namespace moelab
