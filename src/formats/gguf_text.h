// Small text helpers shared by the GGUF reader, writer and accessors
// (private to src/formats).
#pragma once

#include <string>
#include <string_view>

namespace moelab::gguf_internal {

// 'name', for error messages.
inline std::string quoted(std::string_view s) {
  std::string q;
  q.reserve(s.size() + 2);
  q.push_back('\'');
  q.append(s);
  q.push_back('\'');
  return q;
}

}  // namespace moelab::gguf_internal
