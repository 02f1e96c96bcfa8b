#include "base/log.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace moelab {

bool log_debug_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("MOELAB_LOG");
    return v != nullptr && std::strcmp(v, "debug") == 0;
  }();
  return on;
}

void log_line(const char* level, const std::string& message) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "moelab %s: %s\n", level, message.c_str());
}

}  // namespace moelab
