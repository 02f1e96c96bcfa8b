// A one-line progress display for long work (model loading, quantizing,
// writing synthetic models, benchmarks). It draws on stderr only when stderr
// is a terminal, so logs and pipes stay clean, and redraws at most ~10 times
// a second so a tight loop can call update() freely.
//
// Thread-safety: one ProgressLine is used from one thread at a time.
#pragma once

#include <cstdint>
#include <string>

#include "base/timer.h"

namespace moelab {

class ProgressLine {
 public:
  // `label` starts the line, e.g. "loading model.gguf".
  explicit ProgressLine(std::string label);
  // As above, drawing only when `enabled` (tests pass false or true to force it).
  ProgressLine(std::string label, bool enabled);
  ~ProgressLine();  // clears the line if anything was drawn
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  bool enabled() const { return enabled_; }

  // Shows "label  45% (1.2 / 2.7 GB)" for byte counts, or "label 45% (9/20)"
  // with `bytes` false. The last call with done == total always draws.
  void update(int64_t done, int64_t total, bool bytes = true);
  // A free-form status after the label ("measuring bandwidth").
  void message(const std::string& text);
  // Erases the line (the next output starts on a clean line).
  void clear();

 private:
  void draw(const std::string& text);
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  Timer since_draw_;
};

}  // namespace moelab
