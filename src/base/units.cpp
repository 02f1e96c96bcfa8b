#include "base/units.h"

#include <cmath>
#include <cstdio>

namespace moelab {
namespace {

std::string scaled(double v, double step, const char* const* units) {
  int u = 0;
  while (std::fabs(v) >= step && u < 4) {
    v /= step;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace

std::string decimal_bytes(int64_t bytes) {
  static const char* const kUnits[] = {"B", "KB", "MB", "GB", "TB"};
  return scaled(static_cast<double>(bytes), 1000.0, kUnits);
}

std::string binary_bytes(double bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  return scaled(bytes, 1024.0, kUnits);
}

}  // namespace moelab
