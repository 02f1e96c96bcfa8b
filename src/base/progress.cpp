#include "base/progress.h"

#include <unistd.h>

#include <cstdio>

#include "base/units.h"

namespace moelab {

ProgressLine::ProgressLine(std::string label)
    : ProgressLine(std::move(label), isatty(STDERR_FILENO) != 0) {}

ProgressLine::ProgressLine(std::string label, bool enabled)
    : label_(std::move(label)), enabled_(enabled) {}

ProgressLine::~ProgressLine() { clear(); }

void ProgressLine::update(int64_t done, int64_t total, bool bytes) {
  if (!enabled_) return;
  // Throttle: redrawing a terminal line costs a syscall; the last one always shows.
  if (drawn_ && done < total && since_draw_.seconds() < 0.1) return;
  const double pct = total > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0;
  char buf[96];
  if (bytes) {
    std::snprintf(buf, sizeof buf, "%3.0f%% (%s / %s)", pct, decimal_bytes(done).c_str(),
                  decimal_bytes(total).c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%3.0f%% (%lld/%lld)", pct, static_cast<long long>(done),
                  static_cast<long long>(total));
  }
  draw(buf);
}

void ProgressLine::message(const std::string& text) {
  if (enabled_) draw(text);
}

void ProgressLine::clear() {
  if (!drawn_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

void ProgressLine::draw(const std::string& text) {
  std::fprintf(stderr, "\r\033[Kmoelab: %s %s", label_.c_str(), text.c_str());
  std::fflush(stderr);
  drawn_ = true;
  since_draw_.reset();
}

}  // namespace moelab
