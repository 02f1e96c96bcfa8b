// Small helpers of compare/advise: byte sizes in and out, physical memory.
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>

#include "bench/compare.h"

namespace moelab {

Result<int64_t> parse_bytes(const std::string& text) {
  const auto bad = [&] {
    return Status::error("'" + text + "' is not a memory size (examples: 8GiB, 512M, 1.5G, 1000000)");
  };
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return bad();
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(text.substr(0, i), &used);
    if (used != i) return bad();
  } catch (...) {
    return bad();
  }
  std::string unit;
  for (size_t j = i; j < text.size(); ++j) {
    if (text[j] == ' ') continue;
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text[j])));
  }
  double scale = 1;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else {
    const char prefix = unit[0];
    const std::string tail = unit.substr(1);
    if (tail != "" && tail != "b" && tail != "ib") return bad();
    switch (prefix) {
      case 'k': scale = 1024.0; break;
      case 'm': scale = 1024.0 * 1024; break;
      case 'g': scale = 1024.0 * 1024 * 1024; break;
      case 't': scale = 1024.0 * 1024 * 1024 * 1024; break;
      default: return bad();
    }
  }
  const double bytes = value * scale;
  if (!std::isfinite(bytes) || bytes <= 0 || bytes > 9.0e18) return bad();
  return static_cast<int64_t>(bytes);
}


}  // namespace moelab
