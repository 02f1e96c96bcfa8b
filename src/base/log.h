// Minimal logging to stderr. Frontends own stdout; everything diagnostic goes
// here. MOELAB_LOG=debug turns on debug lines.
#pragma once

#include <cstdio>
#include <string>

namespace moelab {

bool log_debug_enabled();
void log_line(const char* level, const std::string& message);

inline void log_info(const std::string& m) { log_line("info", m); }
inline void log_warn(const std::string& m) { log_line("warning", m); }
inline void log_debug(const std::string& m) {
  if (log_debug_enabled()) log_line("debug", m);
}

}  // namespace moelab
