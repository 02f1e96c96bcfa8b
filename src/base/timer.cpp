#include "base/timer.h"

#include <unistd.h>

#include <fstream>
#include <string>

namespace moelab {
namespace {

int64_t read_status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stoll(line.substr(prefix.size())) * 1024;
  }
  return 0;
}

}  // namespace

int64_t peak_rss_bytes() { return read_status_kib("VmHWM"); }
int64_t current_rss_bytes() { return read_status_kib("VmRSS"); }

int64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : 0;
}

}  // namespace moelab
