// The engine's parts, case by case, against the @huggingface/jinja reference: each case is
// rendered by both and must give the same bytes, or an error from both.
#include <gtest/gtest.h>

#include "reference.h"

namespace moelab {
namespace {

using test::ReferenceCase;

struct Row {
  const char* source;
  const char* context;  // JSON text, keys in the order the reference will see them
};

std::vector<ReferenceCase> cases(const std::string& group, std::initializer_list<Row> rows) {
  std::vector<ReferenceCase> out;
  int k = 0;
  for (const auto& r : rows) {
    out.push_back({group + "#" + std::to_string(k++), r.source,
                   nlohmann::ordered_json::parse(r.context)});
  }
  return out;
}

class EngineVsReference : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = test::reference_unavailable();
    if (!why.empty()) GTEST_SKIP() << why;
  }
};

TEST_F(EngineVsReference, TextWhitespaceAndComments) {
  test::expect_matches_reference(cases("ws", {
      {"plain text only\n", "{}"},
      {"a\n\n", "{}"},
      {"  {% if true %}\n  yes\n  {% endif %}\nend", "{}"},
      {"x {{- ' y ' -}} z", "{}"},
      {"a   {%- if true -%}   b   {%- endif -%}   c", "{}"},
      {"{# a comment #}text{#- trimmed -#}   more", "{}"},
      {"line1\n    {# comment #}\nline2", "{}"},
      {"{% for i in [1,2] %}\n{{ i }}\n{% endfor %}\n", "{}"},
      {"\t{%- set x = 1 %}{{ x }}", "{}"},
      {"a {% generation %}b{% endgeneration %} c", "{}"},
      {"{{ 'unicode: héllo 日本語 🙂' }}", "{}"},
      {"{{ \"esc\\n\\t\\\\ \\\" \\u00e9 \\x41\" }}", "{}"},
      {"{{ 'a' 'b' \"c\" }}", "{}"},
  }));
}

TEST_F(EngineVsReference, ExpressionsAndArithmetic) {
  test::expect_matches_reference(cases("expr", {
      {"{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }}", "{}"},
      {"{{ 2 ** 10 }} {{ 2 ** 3 ** 2 }} {{ 2 ** -1 }} {{ 2.5 ** 2 }}", "{}"},
      {"{{ 7 / 2 }} {{ 6 / 2 }} {{ 1.5 + 1 }} {{ 0.1 + 0.2 }} {{ 1e3 if false else 3.0 }}", "{}"},
      {"{{ -3 }} {{ - 3 }} {{ +4 }} {{ -(2) }} {{ 1 - -1 }} {{ -x }}", "{\"x\": 2.5}"},
      {"{{ 1 == 1.0 }} {{ 1 != 2 }} {{ 'a' == 'a' }} {{ 1 < 2 }} {{ 2 >= 2.0 }}", "{}"},
      {"{{ 'ab' + 'cd' }} {{ 'n=' ~ 5 }} {{ 1 ~ 2 }} {{ 'v' + 1 }} {{ 1.0 ~ '' }}", "{}"},
      {"{{ [1, 2] + [3] }} {{ [1, 'a', none, true] }}", "{}"},
      {"{{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in d }} {{ 'q' not in d }}",
       "{\"d\": {\"k\": 1}}"},
      {"{{ 1 in undefined_thing }} {{ 1 not in undefined_thing }}", "{}"},
      {"{{ true and 'x' }} {{ false or 'y' }} {{ not true }} {{ not not 0 }} {{ [] or 'empty' }}", "{}"},
      {"{{ 'yes' if x else 'no' }} {{ 'a' if false else 'b' if true else 'c' }}", "{\"x\": 0}"},
      {"{{ x.y.z }}|{{ x['y'] }}|{{ missing }}|{{ missing.attr }}|{{ none }}", "{\"x\": {\"y\": {\"z\": \"deep\"}}}"},
      {"{{ l[0] }} {{ l[-1] }} {{ l[5] }} {{ s[1] }} {{ l.1 }}", "{\"l\": [10, 20, 30], \"s\": \"abc\"}"},
      {"{{ l[1:] }} {{ l[:2] }} {{ l[::-1] }} {{ l[::2] }} {{ l[-2:] }} {{ l[3:0:-1] }}", "{\"l\": [0,1,2,3,4]}"},
      {"{{ s[::-1] }} {{ s[1:3] }} {{ s[-3:] }}", "{\"s\": \"héllo wörld\"}"},
      {"{{ {'a': 1, 'b': [1, 2]} }} {{ {'k': 'v'}['k'] }} {{ (1, 2) }}", "{}"},
      {"{{ 1 + none }}", "{}"},
      {"{{ undefined_a + 1 }}", "{}"},
      {"{{ 'a' < 'b' }}", "{}"},
      {"{{ 1 == '1' }} {{ none == undefined_x }} {{ true == 1 }}", "{}"},
      {"{{ d }} {{ [d] }}", "{\"d\": {\"2\": \"two\", \"b\": true, \"1\": 1.5, \"a\": null}}"},
      {"{{ 3.0 }} {{ 1e21 * 10 }} {{ 0.000001 }} {{ 0.0000001 }} {{ 123456789.125 }}",
       "{}"},
      {"{{ x }} {{ y }} {{ z }}", "{\"x\": 2.0, \"y\": 1e300, \"z\": -0.5}"},
  }));
}

TEST_F(EngineVsReference, ControlFlow) {
  test::expect_matches_reference(cases("ctl", {
      {"{% if a %}A{% elif b %}B{% else %}C{% endif %}", "{\"a\": false, \"b\": true}"},
      {"{% if a %}A{% elif b %}B{% else %}C{% endif %}", "{\"a\": false, \"b\": false}"},
      {"{% for x in l %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/"
       "{{ loop.first }}/{{ loop.last }}/{{ loop.length }}/{{ loop.previtem }}/{{ loop.nextitem }};{% endfor %}",
       "{\"l\": [\"a\", \"b\", \"c\"]}"},
      {"{% for x in [] %}x{% else %}empty{% endfor %}", "{}"},
      {"{% for x in l if x is odd %}{{ x }}{% endfor %}", "{\"l\": [1,2,3,4,5]}"},
      {"{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "{\"d\": {\"z\": 1, \"a\": 2}}"},
      {"{% for k in d %}{{ k }}{% endfor %}", "{\"d\": {\"z\": 1, \"a\": 2}}"},
      {"{% for x in l %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
       "{\"l\": [1,2,3,4,5]}"},
      {"{% for a in [1,2] %}{% for b in [3,4] %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}", "{}"},
      {"{% for x in 'abc' %}{{ x }}{% endfor %}", "{}"},
      {"{% for x in undefined_list %}{{ x }}{% endfor %}", "{}"},
      {"{% for x in none %}{{ x }}{% endfor %}", "{}"},
      {"{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}", "{}"},
      {"{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}", "{}"},
      {"{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", "{}"},
      {"{% set a, b = [1, 2] %}{{ a }}{{ b }}{% set c = d %}{{ c.k }}", "{\"d\": {\"k\": \"v\"}}"},
      {"{% set block %}inner {{ 1 + 1 }}{% endset %}[{{ block }}]", "{}"},
      {"{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c') }}", "{}"},
      {"{% macro m(x) %}{{ x }}{{ outer }}{% endmacro %}{% set outer = 'O' %}{{ m(1) }}", "{}"},
      {"{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}", "{}"},
      {"{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}", "{}"},
      {"{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}body{% endcall %}", "{}"},
      {"{% macro list(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}"
       "{% call(x) list([1,2]) %}[{{ x }}]{% endcall %}", "{}"},
      {"{% filter upper %}shout {{ 'this' }}{% endfilter %}", "{}"},
      {"{{ range(3) }} {{ range(1, 4) }} {{ range(10, 0, -3) }}", "{}"},
      {"{{ raise_exception('boom') }}", "{}"},
      {"{{ namespace(a=1) }} {{ namespace({'b': 2}).b }}", "{}"},
  }));
}

TEST_F(EngineVsReference, StringMethods) {
  test::expect_matches_reference(cases("str", {
      {"[{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}][{{ s.strip('\\n') }}]", "{\"s\": \"\\n  hi there \\n\"}"},
      {"{{ s.split() }} {{ s.split(' ') }} {{ s.split('a', 1) }} {{ s.split(none, 1) }}", "{\"s\": \"  a banana  split \"}"},
      {"{{ s.startswith('ab') }} {{ s.endswith('yz') }} {{ s.startswith(('x', 'a')) }}", "{\"s\": \"abcxyz\"}"},
      {"{{ s.upper() }} {{ s.lower() }} {{ s.title() }} {{ s.capitalize() }}", "{\"s\": \"hello wORLD it's-me\"}"},
      {"{{ s.replace('a', 'o') }} {{ s.replace('a', 'o', 1) }} {{ s.replace('', '-') }}", "{\"s\": \"banana\"}"},
      {"{{ s.length }} {{ s|length }} {{ t|length }}", "{\"s\": \"héllo\", \"t\": \"abc\"}"},
      {"{{ s.split('</think>')[-1].lstrip('\\n') }}", "{\"s\": \"<think>r</think>\\n\\nanswer\"}"},
      {"{{ s.nosuch }}|{{ s.nosuch() }}", "{\"s\": \"x\"}"},
  }));
}

TEST_F(EngineVsReference, DictsAndLists) {
  test::expect_matches_reference(cases("dict", {
      {"{{ d.items() }} {{ d.keys() }} {{ d.values() }}", "{\"d\": {\"b\": 1, \"a\": [2]}}"},
      {"{{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }}", "{\"d\": {\"a\": 1}}"},
      {"{{ d.dictsort() }} {{ d | dictsort }}", "{\"d\": {\"b\": 1, \"A\": 2, \"c\": 0}}"},
      {"{{ l.length }} {{ l | length }} {{ d | length }} {{ d.nosuch }}", "{\"l\": [1,2], \"d\": {\"a\": 1}}"},
      {"{% set d = {'x': 1} %}{{ d.x }}{{ d['x'] }}", "{}"},
  }));
}

TEST_F(EngineVsReference, Tests) {
  test::expect_matches_reference(cases("test", {
      {"{{ x is defined }} {{ y is undefined }} {{ n is none }} {{ s is string }} {{ i is number }} "
       "{{ i is integer }} {{ f is integer }} {{ d is mapping }} {{ l is iterable }} {{ s is iterable }} "
       "{{ l is sequence }} {{ b is boolean }} {{ b is true }} {{ b is false }}",
       "{\"x\": 1, \"n\": null, \"s\": \"s\", \"i\": 3, \"f\": 1.5, \"d\": {}, \"l\": [], \"b\": true}"},
      {"{{ 3 is odd }} {{ 3 is even }} {{ x is not none }} {{ x is not defined }}", "{\"x\": 0}"},
      {"{{ s is lower }} {{ s is upper }}", "{\"s\": \"abc\"}"},
      {"{{ 1 is nosuchtest }}", "{}"},
      {"{{ 1.5 is odd }}", "{}"},
  }));
}

TEST_F(EngineVsReference, Filters) {
  test::expect_matches_reference(cases("filter", {
      {"[{{ s | trim }}] {{ s | length }} {{ s | upper }} {{ s | lower }} {{ s | title }} {{ s | capitalize }}",
       "{\"s\": \"  mixed Case words \"}"},
      {"{{ l | first }} {{ l | last }} {{ l | length }} {{ l | reverse }} {{ l | sort }} {{ l | unique }} {{ l | list }}",
       "{\"l\": [3, 1, 2, 3]}"},
      {"{{ l | join }} {{ l | join(', ') }} {{ 'abc' | join('-') }} {{ l | join(separator='+') }}", "{\"l\": [\"a\", 1, 2.0, null]}"},
      {"{{ x | default('d') }} {{ y | default('d') }} {{ '' | default('d', true) }} {{ none | default('d') }}", "{\"y\": 0}"},
      {"{{ '42' | int }} {{ '4.7' | float }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ true | int }} {{ 5 | float }}", "{}"},
      {"{{ -3 | abs }} {{ -2.5 | abs }} {{ 5 | string }} {{ 2.0 | string }} {{ [1] | string }} {{ true | string }}", "{}"},
      {"{{ s | indent }}|{{ s | indent(2) }}|{{ s | indent(2, true) }}|{{ s | indent(width=3, first=true, blank=true) }}",
       "{\"s\": \"a\\n\\nb\\nc\"}"},
      {"{{ s | replace('a', 'b') }} {{ s | replace('a', 'b', 1) }}", "{\"s\": \"aaa\"}"},
      {"{{ d | items }} {{ d | tojson }}", "{\"d\": {\"k\": [1, {\"n\": null}]}}"},
      {"{{ v | tojson }}", "{\"v\": {\"s\": \"q\\\"uo\\\\te\\n\\u0001 é 🙂\", \"n\": [1, 2.5, -0.0, true, null], \"e\": {}, \"ea\": []}}"},
      {"{{ v | tojson(indent=2) }}", "{\"v\": {\"a\": [1, {\"b\": []}], \"c\": {}, \"d\": \"x\"}}"},
      {"{{ v | tojson(indent=4, sort_keys=true) }} {{ v | tojson(separators=(',', ':')) }} {{ v | tojson(ensure_ascii=true) }}",
       "{\"v\": {\"z\": \"é日\", \"a\": [1, 2]}}"},
      {"{{ l | selectattr('on') | list }} {{ l | rejectattr('on') | map(attribute='n') | list }} "
       "{{ l | selectattr('n', 'equalto', 'b') | map(attribute='n') | join(',') }}",
       "{\"l\": [{\"n\": \"a\", \"on\": true}, {\"n\": \"b\", \"on\": false}, {\"n\": \"c\"}]}"},
      {"{{ l | map(attribute='p.q') | list }} {{ l | map(attribute='r', default='D') | list }}",
       "{\"l\": [{\"p\": {\"q\": 1}}, {\"p\": {\"q\": 2}, \"r\": 3}]}"},
      {"{{ l | sort(attribute='age') | map(attribute='name') | join(' ') }} {{ l | sort(attribute='name', reverse=true) | map(attribute='name') | join(' ') }}",
       "{\"l\": [{\"name\": \"bo\", \"age\": 30}, {\"name\": \"Al\", \"age\": 25}, {\"name\": \"cy\", \"age\": 41}]}"},
      {"{{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }}", "{}"},
      {"{{ x | upper }}", "{}"},
      {"{{ 'x' | nosuchfilter }}", "{}"},
      {"{{ [1] | map('string') }}", "{}"},
      {"{{ 1 | safe }} {{ '<b>' | safe }}", "{}"},
  }));
}

}  // namespace
}  // namespace moelab
