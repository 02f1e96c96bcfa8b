// Bad and hostile templates end in a Status naming line and column, never a crash or
// a hang; plus the Jinja features moelab adds beyond the reference, checked by hand.
#include <gtest/gtest.h>

#include "reference.h"
#include "template/chat_template.h"

namespace moelab {
namespace {

using Json = nlohmann::ordered_json;

std::string error_of(const std::string& source, const RenderLimits& limits = {}) {
  auto r = render_template(source, Json::object(), limits);
  return r.is_ok() ? "rendered: " + *r : r.status().message();
}

TEST(Malformed, ErrorsNameLineAndColumn) {
  struct Case { const char* source; const char* position; const char* detail; };
  const Case kCases[] = {
      {"ab\n{% if x %}never closed", "line 2, column 1", "unclosed 'if'"},
      {"{% for x in y %}\n{% endif %}", "line 2, column 1", "endif"},
      {"x\n\n  {{ 1 | nosuchfilter }}", "line 3, column 8", "nosuchfilter"},
      {"{% frobnicate %}", "line 1, column 1", "Unknown statement type: frobnicate"},
      {"{{ 1 + }}", "line 1", "Unexpected token"},
      {"{{ 'unterminated }}", "line 1, column 4", "Unterminated string"},
      {"{# never closed", "line 1, column 1", "comment"},
      {"{{ x", "line 1", ""},
      {"hello\n{{ raise_exception('bad role') }}", "line 2, column 4", "bad role"},
      {"{% macro m() %}{% endmacro %}{{ m(1) }}", "line 1", "takes not more than 0"},
      {"{% set x.y = 1 %}", "line 1", ""},
      {"{{ (((((1 }}", "line 1", ""},
      {"{% raw %}{{ x }}{% endraw %}", "line 1, column 1", "raw"},
  };
  for (const auto& c : kCases) {
    std::string e = error_of(c.source);
    EXPECT_NE(e.find("chat template error at "), std::string::npos) << c.source << " -> " << e;
    EXPECT_NE(e.find(c.position), std::string::npos) << c.source << " -> " << e;
    EXPECT_NE(e.find(c.detail), std::string::npos) << c.source << " -> " << e;
  }
}

TEST(Malformed, ReferenceAlsoRejects) {
  std::string why = test::reference_unavailable();
  if (!why.empty()) GTEST_SKIP() << why;
  std::vector<test::ReferenceCase> cases;
  for (const char* s : {"{% if x %}never closed", "{% for x in y %}{% endif %}", "{{ 1 | nosuchfilter }}",
                        "{% frobnicate %}", "{{ 1 + }}", "{{ 'unterminated }}", "{# never closed",
                        "{{ x", "{{ raise_exception('bad') }}", "{% raw %}x{% endraw %}"}) {
    cases.push_back({"bad", s, Json::object()});
  }
  test::expect_matches_reference(cases);
}

TEST(Limits, DeepRecursionStops) {
  std::string e = error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_NE(e.find("call depth exceeds"), std::string::npos) << e;
  std::string nested(5000, '(');
  e = error_of("{{ " + nested + "1 }}");
  EXPECT_NE(e.find("nesting too deep"), std::string::npos) << e.substr(0, 200);
  std::string blocks;
  for (int k = 0; k < 3000; ++k) blocks += "{% if true %}";
  e = error_of(blocks);
  EXPECT_NE(e.find("chat template error"), std::string::npos) << e.substr(0, 200);
}

TEST(Limits, RunawayLoopsStop) {
  RenderLimits limits;
  limits.max_loop_iterations = 10000;
  std::string e = error_of("{% for i in range(100000) %}{% endfor %}", limits);
  EXPECT_NE(e.find("loop iterations exceed"), std::string::npos) << e;
  e = error_of("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", limits);
  EXPECT_NE(e.find("loop iterations exceed"), std::string::npos) << e;
}

TEST(Limits, HugeOutputStops) {
  RenderLimits limits;
  limits.max_output_bytes = 1 << 20;
  std::string e = error_of("{% for i in range(100000) %}{{ 'xxxxxxxxxxxxxxxxxxxxxxxx' }}{% endfor %}", limits);
  EXPECT_NE(e.find("output exceeds"), std::string::npos) << e;
  // Doubling a string never prints until too late; each concatenation is bounded too.
  e = error_of("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
               limits);
  EXPECT_NE(e.find("output exceeds"), std::string::npos) << e;
  e = error_of("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
               limits);
  EXPECT_NE(e.find("output exceeds"), std::string::npos) << e;
}

TEST(Api, BadContextAndMessages) {
  EXPECT_FALSE(render_template("x", Json::array()).is_ok());
  EXPECT_FALSE(render_chat("x", Json::object(), {}).is_ok());
  // A context variable may not shadow a built-in, as in the reference.
  EXPECT_FALSE(render_template("{{ range }}", Json{{"range", 1}}).is_ok());
  auto r = render_template("{{ a }}", to_template_json(nlohmann::json{{"a", 5}}));
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, "5");
}

// Jinja features the reference lacks, with values derived by hand from Jinja's docs.
TEST(Extensions, HandDerived) {
  struct Case { const char* source; const char* expected; };
  const Case kCases[] = {
      {"{% set l = [] %}{% set _ = l.append(1) %}{% set _ = l.append('b') %}{{ l }}", "[1, \"b\"]"},
      {"{{ dict(a=1, b='x') | tojson }}", "{\"a\": 1, \"b\": \"x\"}"},
      {"{{ 1.5 is float }} {{ 1 is float }}", "true false"},
      {"{{ [1, 2, 3] | count }} {{ 'two words' | wordcount }}", "3 2"},
      {"{{ 2.5 | round }} {{ 3.14159 | round(2) }} {{ 2.1 | round(0, 'ceil') }}", "2.0 3.14 3.0"},
  };
  for (const auto& c : kCases) {
    auto r = render_template(c.source, Json::object());
    ASSERT_TRUE(r.is_ok()) << c.source << ": " << r.status().message();
    EXPECT_EQ(*r, c.expected) << c.source;
  }
}

}  // namespace
}  // namespace moelab
