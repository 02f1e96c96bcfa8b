// Results of a peer engine's benchmark, read so `moelab bench --peer FILE`
// can print each of its tests beside the peer's figure for the same test.
// The format is llama-bench's: `llama-bench -o json` (one JSON array) or
// `-o jsonl` (one object per line), with its field names. Other engines can
// write the same fields.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace moelab {

struct PeerResult {
  std::string model_filename;  // as the peer printed it
  std::string build;           // build_commit, when given
  int32_t n_prompt = 0;
  int32_t n_gen = 0;
  int32_t n_depth = 0;    // 0 when the peer's version has no n_depth field
  int32_t n_threads = 0;  // 0 when not given
  double avg_ts = 0;
  double stddev_ts = 0;
};

// Reads a llama-bench JSON or JSONL file. Errors name the file and the
// entry (and line, for JSONL) with the missing or mistyped field.
Result<std::vector<PeerResult>> load_peer_results(const std::string& path);

// The peer result for the same test of the same model: the model matches by
// file name without directories (the two runs may use different paths), or
// any model when the peer file holds only one; n_threads must match when the
// peer gave it. nullptr when there is none.
const PeerResult* find_peer_result(const std::vector<PeerResult>& results,
                                   const std::string& model_path, int32_t n_prompt, int32_t n_gen,
                                   int32_t n_depth, int32_t n_threads);

}  // namespace moelab
