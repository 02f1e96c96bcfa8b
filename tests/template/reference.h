// Runs the JavaScript reference renderer (tests/js/render_reference.mjs) on a batch of
// template + context cases, so expected output is computed at test time, never stored.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "template/chat_template.h"

namespace moelab::test {

struct ReferenceCase {
  std::string name;
  std::string source;
  nlohmann::ordered_json context;
};

struct ReferenceResult {
  bool ok = false;
  std::string text;   // when ok
  std::string error;  // when not
};

inline std::string js_dir() { return std::string(MOELAB_SOURCE_DIR) + "/tests/js"; }

// Empty string when the reference can run; otherwise why not (for GTEST_SKIP).
inline std::string reference_unavailable() {
  if (!std::filesystem::exists(js_dir() + "/node_modules/@huggingface/jinja")) {
    return "tests/js/node_modules is missing; run `make js-deps` (make test does) to compare "
           "against the @huggingface/jinja reference";
  }
  if (std::system("node --version >/dev/null 2>&1") != 0) return "node is not installed";
  return "";
}

// One node process for the whole batch.
inline std::vector<ReferenceResult> run_reference(const std::vector<ReferenceCase>& cases) {
  nlohmann::ordered_json batch = nlohmann::ordered_json::array();
  for (const auto& c : cases) batch.push_back({{"template", c.source}, {"context", c.context}});
  auto dir = std::filesystem::temp_directory_path();
  std::string input = (dir / ("moelab_tmpl_cases_" + std::to_string(getpid()) + ".json")).string();
  std::ofstream(input, std::ios::binary) << batch.dump();
  std::string cmd = "node " + js_dir() + "/render_reference.mjs --batch " + input;
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    pclose(p);
  }
  std::filesystem::remove(input);
  std::vector<ReferenceResult> results;
  auto parsed = nlohmann::json::parse(out, nullptr, false);
  if (!parsed.is_array() || parsed.size() != cases.size()) {
    ADD_FAILURE() << "reference renderer gave no usable output: " << out.substr(0, 500);
    return results;
  }
  for (const auto& r : parsed) {
    ReferenceResult x;
    x.ok = r.at("ok").get<bool>();
    if (x.ok) x.text = r.at("text").get<std::string>();
    else x.error = r.at("error").get<std::string>();
    results.push_back(std::move(x));
  }
  return results;
}

// Renders every case with moelab and with the reference, and expects the same text, or
// an error from both.
inline void expect_matches_reference(const std::vector<ReferenceCase>& cases) {
  auto expected = run_reference(cases);
  if (expected.size() != cases.size()) return;
  for (size_t k = 0; k < cases.size(); ++k) {
    SCOPED_TRACE("case " + cases[k].name + ": " + cases[k].source.substr(0, 200));
    auto got = render_template(cases[k].source, cases[k].context);
    if (expected[k].ok) {
      ASSERT_TRUE(got.is_ok()) << got.status().message();
      EXPECT_EQ(*got, expected[k].text);
    } else {
      EXPECT_FALSE(got.is_ok()) << "reference failed with \"" << expected[k].error
                                << "\" but moelab rendered: " << got.value();
    }
  }
}

}  // namespace moelab::test
