#include "bench/peer_results.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace moelab {
namespace {

using nlohmann::json;

std::string base_name(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

// One entry; `where` says which ("entry 3", "line 7") for errors.
Result<PeerResult> parse_entry(const json& j, const std::string& where) {
  if (!j.is_object()) return Status::error(where + ": expected a JSON object");
  PeerResult r;
  auto need_number = [&](const char* key, bool required) -> Result<double> {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (required) return Status::error(where + ": field '" + key + "' is missing");
      return 0.0;
    }
    if (!it->is_number()) return Status::error(where + ": field '" + key + "' is not a number");
    return it->get<double>();
  };
  const auto name = j.find("model_filename");
  if (name == j.end() || !name->is_string())
    return Status::error(where + ": field 'model_filename' is missing or not a string");
  r.model_filename = name->get<std::string>();
  if (const auto b = j.find("build_commit"); b != j.end() && b->is_string()) r.build = b->get<std::string>();
  MOELAB_ASSIGN_OR_RETURN(double n_prompt, need_number("n_prompt", true));
  MOELAB_ASSIGN_OR_RETURN(double n_gen, need_number("n_gen", true));
  MOELAB_ASSIGN_OR_RETURN(double n_depth, need_number("n_depth", false));
  MOELAB_ASSIGN_OR_RETURN(double n_threads, need_number("n_threads", false));
  MOELAB_ASSIGN_OR_RETURN(r.avg_ts, need_number("avg_ts", true));
  MOELAB_ASSIGN_OR_RETURN(r.stddev_ts, need_number("stddev_ts", false));
  for (double v : {n_prompt, n_gen, n_depth, n_threads}) {
    if (v < 0 || v > 1e9 || v != static_cast<double>(static_cast<int64_t>(v)))
      return Status::error(where + ": token and thread counts must be whole numbers >= 0");
  }
  r.n_prompt = static_cast<int32_t>(n_prompt);
  r.n_gen = static_cast<int32_t>(n_gen);
  r.n_depth = static_cast<int32_t>(n_depth);
  r.n_threads = static_cast<int32_t>(n_threads);
  return r;
}

}  // namespace

Result<std::vector<PeerResult>> load_peer_results(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(path + ": cannot open the peer results");
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  std::vector<PeerResult> out;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return Status::error(path + ": the peer results are empty");
  if (text[first] == '[') {  // llama-bench -o json
    const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_array())
      return Status::error(path + ": not valid JSON (expected llama-bench -o json or -o jsonl output)");
    for (size_t i = 0; i < doc.size(); ++i) {
      MOELAB_ASSIGN_OR_RETURN(PeerResult r, parse_entry(doc[i], path + ": entry " + std::to_string(i + 1)));
      out.push_back(std::move(r));
    }
  } else {  // -o jsonl: one object per line
    std::istringstream lines(text);
    std::string line;
    for (int line_no = 1; std::getline(lines, line); ++line_no) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = path + ": line " + std::to_string(line_no);
      const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) return Status::error(where + ": not valid JSON");
      MOELAB_ASSIGN_OR_RETURN(PeerResult r, parse_entry(j, where));
      out.push_back(std::move(r));
    }
  }
  if (out.empty()) return Status::error(path + ": the peer results hold no tests");
  return out;
}

const PeerResult* find_peer_result(const std::vector<PeerResult>& results,
                                   const std::string& model_path, int32_t n_prompt, int32_t n_gen,
                                   int32_t n_depth, int32_t n_threads) {
  std::set<std::string> models;
  for (const PeerResult& r : results) models.insert(base_name(r.model_filename));
  const std::string want = base_name(model_path);
  for (const PeerResult& r : results) {
    if (models.size() > 1 && base_name(r.model_filename) != want) continue;
    if (r.n_prompt != n_prompt || r.n_gen != n_gen || r.n_depth != n_depth) continue;
    if (r.n_threads != 0 && r.n_threads != n_threads) continue;
    return &r;
  }
  return nullptr;
}

}  // namespace moelab
