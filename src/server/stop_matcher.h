// Stop strings matched on detokenized text, for streaming: text that could be
// the start of a stop string is held back until it either completes the stop
// (then it is dropped, with everything after it) or can no longer match.
//
// Ownership: owns copies of the stop strings. Thread-safety: one per choice.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace moelab {

class StopMatcher {
 public:
  // Empty stop strings are ignored.
  explicit StopMatcher(std::vector<std::string> stops = {});

  // Adds generated text; returns the text that is now safe to release. Once a
  // stop string is found, stopped() is true and the released text ends just
  // before it; later calls release nothing.
  std::string push(std::string_view text);
  // End of generation without a stop: releases what was held back.
  std::string flush();

  bool stopped() const { return stopped_; }
  size_t held_bytes() const { return held_.size(); }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace moelab
