#include "server/api.h"

#include <gtest/gtest.h>

namespace moelab {
namespace {

Json body(const char* text) { return Json::parse(text); }

std::optional<ApiError> completion(const char* text, CompletionRequest* out) {
  return parse_completion_request(body(text), out);
}

TEST(ApiParse, BadJsonAndNonObjectsAre400) {
  Json j;
  auto e = parse_body("{\"prompt\": ", &j);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 400);
  EXPECT_NE(e->message.find("not valid JSON"), std::string::npos);
  e = parse_body("[1, 2]", &j);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("object"), std::string::npos);
  EXPECT_FALSE(parse_body("{\"a\": 1}", &j));
}

TEST(ApiParse, ErrorJsonHasOpenAIShape) {
  ApiError e = field_error("temperature", "bad");
  Json j = e.to_json();
  ASSERT_TRUE(j.contains("error"));
  EXPECT_EQ(j["error"]["param"], "temperature");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_EQ(j["error"]["message"], "temperature: bad");
}

TEST(ApiParse, PromptForms) {
  CompletionRequest r;
  ASSERT_FALSE(completion(R"({"prompt": "hi"})", &r));
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_TRUE(r.prompts[0].is_text);
  EXPECT_EQ(r.params.max_tokens, 16);  // OpenAI's default
  EXPECT_EQ(r.params.sampling.temperature, 1.0f);

  ASSERT_FALSE(completion(R"({"prompt": [1, 2, 3]})", &r));
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].tokens, (std::vector<int32_t>{1, 2, 3}));

  ASSERT_FALSE(completion(R"({"prompt": ["a", [4, 5]]})", &r));
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(r.prompts[0].text, "a");
  EXPECT_EQ(r.prompts[1].tokens, (std::vector<int32_t>{4, 5}));
}

TEST(ApiParse, BadPromptsNameTheField) {
  CompletionRequest r;
  auto e = completion(R"({"max_tokens": 3})", &r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "prompt");
  e = completion(R"({"prompt": 5})", &r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "prompt");
  e = completion(R"({"prompt": []})", &r);
  ASSERT_TRUE(e);
  e = completion(R"({"prompt": [1, -2]})", &r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "prompt[1]");
  e = completion(R"({"prompt": ["a", {"x": 1}]})", &r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "prompt[1]");
}

struct BadField {
  const char* body;
  const char* param;
};

TEST(ApiParse, OutOfRangeAndWrongTypesNameTheField) {
  const BadField cases[] = {
      {R"({"prompt": "x", "max_tokens": -1})", "max_tokens"},
      {R"({"prompt": "x", "max_tokens": "5"})", "max_tokens"},
      {R"({"prompt": "x", "max_tokens": 1.5})", "max_tokens"},
      {R"({"prompt": "x", "temperature": 2.5})", "temperature"},
      {R"({"prompt": "x", "temperature": -0.1})", "temperature"},
      {R"({"prompt": "x", "temperature": "hot"})", "temperature"},
      {R"({"prompt": "x", "top_p": 0})", "top_p"},
      {R"({"prompt": "x", "top_p": 1.5})", "top_p"},
      {R"({"prompt": "x", "min_p": 2})", "min_p"},
      {R"({"prompt": "x", "top_k": -5})", "top_k"},
      {R"({"prompt": "x", "n": 0})", "n"},
      {R"({"prompt": "x", "n": 1000})", "n"},
      {R"({"prompt": "x", "presence_penalty": 3})", "presence_penalty"},
      {R"({"prompt": "x", "frequency_penalty": -3})", "frequency_penalty"},
      {R"({"prompt": "x", "stop": 5})", "stop"},
      {R"({"prompt": "x", "stop": ["a", 1]})", "stop"},
      {R"({"prompt": "x", "stream": "yes"})", "stream"},
      {R"({"prompt": "x", "logprobs": 100})", "logprobs"},
      {R"({"prompt": "x", "echo": 1})", "echo"},
      {R"({"prompt": "x", "seed": "s"})", "seed"},
      {R"({"prompt": "x", "max_active_experts": 0})", "max_active_experts"},
      {R"({"prompt": "x", "expert_threshold": 0})", "expert_threshold"},
      {R"({"prompt": "x", "expert_threshold": 1.5})", "expert_threshold"},
      {R"({"prompt": "x", "stream_options": {"include_usage": "y"}})", "stream_options.include_usage"},
  };
  for (const BadField& c : cases) {
    CompletionRequest r;
    auto e = completion(c.body, &r);
    ASSERT_TRUE(e) << c.body;
    EXPECT_EQ(e->status, 400) << c.body;
    EXPECT_EQ(e->param, c.param) << c.body;
    EXPECT_NE(e->message.find(c.param), std::string::npos) << e->message;
  }
}

TEST(ApiParse, ValuesAreCarriedOver) {
  CompletionRequest r;
  ASSERT_FALSE(completion(R"({"prompt": "x", "max_tokens": 0, "temperature": 0, "top_p": 0.5, "top_k": 7,
      "min_p": 0.1, "seed": 42, "n": 3, "stop": "\n", "stream": true, "logprobs": 2, "echo": true,
      "presence_penalty": 0.5, "frequency_penalty": -0.5, "max_active_experts": 2,
      "expert_threshold": 0.7, "ignore_eos": true, "stream_options": {"include_usage": true}})",
                          &r));
  const GenerationParams& p = r.params;
  EXPECT_EQ(p.max_tokens, 0);
  EXPECT_EQ(p.sampling.temperature, 0.0f);
  EXPECT_EQ(p.sampling.top_p, 0.5f);
  EXPECT_EQ(p.sampling.top_k, 7);
  EXPECT_FLOAT_EQ(p.sampling.min_p, 0.1f);
  EXPECT_TRUE(p.seed_given);
  EXPECT_EQ(p.sampling.seed, 42u);
  EXPECT_EQ(p.n, 3);
  EXPECT_EQ(p.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(p.stream);
  EXPECT_TRUE(p.include_usage);
  EXPECT_EQ(p.logprobs, 2);
  EXPECT_TRUE(p.echo);
  EXPECT_TRUE(p.ignore_eos);
  EXPECT_EQ(p.sampling.presence_penalty, 0.5f);
  EXPECT_EQ(p.sampling.frequency_penalty, -0.5f);
  EXPECT_EQ(p.knobs.max_active_experts, 2);
  EXPECT_FLOAT_EQ(p.knobs.expert_threshold, 0.7f);
}

TEST(ApiParse, NullMeansAbsent) {
  CompletionRequest r;
  ASSERT_FALSE(completion(R"({"prompt": "x", "max_tokens": null, "stop": null, "logprobs": null})", &r));
  EXPECT_EQ(r.params.max_tokens, 16);
  EXPECT_TRUE(r.params.stop.empty());
  EXPECT_EQ(r.params.logprobs, -1);
}

TEST(ApiParse, Chat) {
  ChatRequest r;
  ASSERT_FALSE(parse_chat_request(body(R"({"messages": [{"role": "user", "content": [{"type": "text",
      "text": "a"}, {"type": "text", "text": "b"}]}], "max_completion_tokens": 5, "logprobs": true,
      "top_logprobs": 3, "tools": [{"type": "function"}]})"),
                                  &r));
  EXPECT_EQ(r.messages[0]["content"], "ab");
  EXPECT_EQ(r.params.max_tokens, 5);
  EXPECT_EQ(r.params.logprobs, 3);
  EXPECT_TRUE(r.tools.is_array());

  ASSERT_FALSE(parse_chat_request(body(R"({"messages": [{"role": "user", "content": "x"}]})"), &r));
  EXPECT_EQ(r.params.max_tokens, -1);  // the endpoint picks the default
  EXPECT_EQ(r.params.logprobs, -1);

  const BadField cases[] = {
      {R"({})", "messages"},
      {R"({"messages": []})", "messages"},
      {R"({"messages": [5]})", "messages[0]"},
      {R"({"messages": [{"content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})", "top_logprobs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": {}})", "tools"},
  };
  for (const BadField& c : cases) {
    auto e = parse_chat_request(body(c.body), &r);
    ASSERT_TRUE(e) << c.body;
    EXPECT_EQ(e->param, c.param) << c.body;
  }
}

TEST(ApiParse, KnobsAgainstTheModel) {
  ModelConfig dense;
  EXPECT_FALSE(validate_knobs(dense, RouterKnobs{}));
  auto e = validate_knobs(dense, RouterKnobs{2, 1.0f});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "max_active_experts");
  e = validate_knobs(dense, RouterKnobs{0, 0.5f});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "expert_threshold");

  ModelConfig moe;
  moe.moe.n_expert = 8;
  moe.moe.n_expert_used = 2;
  EXPECT_FALSE(validate_knobs(moe, RouterKnobs{3, 0.9f}));
  e = validate_knobs(moe, RouterKnobs{9, 1.0f});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "max_active_experts");
}

TEST(ApiParse, TokensAgainstTheVocabulary) {
  EXPECT_FALSE(validate_tokens({0, 9}, 10, "prompt"));
  auto e = validate_tokens({0, 10}, 10, "prompt");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "prompt");
  EXPECT_TRUE(validate_tokens({}, 10, "prompt"));
}

}  // namespace
}  // namespace moelab
