// Loading a Hugging Face tokenizer.json. Only what byte-level BPE needs is
// read; anything we cannot honour exactly is an error or a warning naming the
// JSON field, never silently different tokens.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/log.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace moelab {

namespace {

using nlohmann::json;

constexpr int64_t kMaxTokenId = 1 << 24;

Result<json> read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("cannot open '" + path + "'");
  std::stringstream buffer;
  buffer << in.rdbuf();
  json j = json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::error("'" + path + "' is not valid JSON");
  return j;
}

// Collects the regex stages of a pre_tokenizer description.
Status collect_patterns(const json& pre, const std::string& where,
                        std::vector<std::string>* patterns) {
  if (!pre.is_object() || !pre.contains("type") || !pre["type"].is_string()) {
    return Status::error(where + ": expected an object with a string 'type'");
  }
  const std::string type = pre["type"];
  if (type == "Sequence") {
    const json& list = pre.value("pretokenizers", json());
    if (!list.is_array()) return Status::error(where + ".pretokenizers: expected an array");
    for (size_t i = 0; i < list.size(); ++i) {
      MOELAB_TRY(
          collect_patterns(list[i], where + ".pretokenizers[" + std::to_string(i) + "]", patterns));
    }
    return Status::ok();
  }
  if (type == "ByteLevel") {
    if (pre.value("add_prefix_space", false)) {
      log_warn("tokenizer.json " + where + ": add_prefix_space is not supported; ignored");
    }
    if (pre.value("use_regex", true)) {
      patterns->push_back(
          "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");
    }
    return Status::ok();
  }
  if (type == "Split") {
    const json& pattern = pre.value("pattern", json());
    const std::string behavior = pre.value("behavior", "");
    if (!pattern.is_object() || !pattern.contains("Regex") || !pattern["Regex"].is_string()) {
      return Status::error(where + ".pattern: only {\"Regex\": ...} patterns are supported");
    }
    if (behavior != "Isolated" || pre.value("invert", false)) {
      return Status::error(where + ": only behavior 'Isolated' without invert is supported, got '" +
                           behavior + "'");
    }
    patterns->push_back(pattern["Regex"].get<std::string>());
    return Status::ok();
  }
  return Status::error(where + ": unsupported pre-tokenizer type '" + type + "'");
}

// A token named in tokenizer_config.json: a string or {"content": ...}.
std::string config_token(const json& config, const char* key) {
  if (!config.contains(key)) return "";
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return "";
}

Status read_merges(const json& merges, Vocab* vocab) {
  if (!merges.is_array()) return Status::error("model.merges: expected an array");
  vocab->merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    const std::string where = "model.merges[" + std::to_string(i) + "]";
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos) return Status::error(where + ": no space in '" + s + "'");
      vocab->merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      vocab->merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return Status::error(where + ": expected \"a b\" or [\"a\", \"b\"]");
    }
  }
  return Status::ok();
}

}  // namespace

Result<Tokenizer> Tokenizer::from_tokenizer_json(const std::string& path) {
  MOELAB_ASSIGN_OR_RETURN(json root, read_json(path));
  const auto fail = [&](const Status& s) {
    return s.with_context("tokenizer.json '" + path + "'");
  };
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object()) {
    return fail(Status::error("no 'model' object"));
  }
  const json& model = root["model"];
  if (model.value("type", "BPE") != "BPE") {
    return fail(
        Status::error("model.type '" + model.value("type", "") + "' is not supported (only BPE)"));
  }
  if (model.value("byte_fallback", false)) {
    return fail(Status::error("model.byte_fallback (SentencePiece-style BPE) is not supported"));
  }
  const json& vocab_json = model.value("vocab", json());
  if (!vocab_json.is_object()) return fail(Status::error("model.vocab: expected an object"));

  Vocab vocab;
  vocab.model = "gpt2";
  vocab.ignore_merges = model.value("ignore_merges", false);
  std::vector<std::pair<int64_t, std::string>> entries;
  int64_t max_id = -1;
  for (const auto& [text, id] : vocab_json.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > kMaxTokenId) {
      return fail(Status::error("model.vocab['" + text + "']: bad id"));
    }
    entries.emplace_back(id.get<int64_t>(), text);
    max_id = std::max(max_id, id.get<int64_t>());
  }
  struct Added {
    int64_t id;
    std::string content;
    bool special;
  };
  std::vector<Added> added;
  const json& added_json = root.value("added_tokens", json::array());
  if (!added_json.is_array()) return fail(Status::error("added_tokens: expected an array"));
  for (size_t i = 0; i < added_json.size(); ++i) {
    const json& a = added_json[i];
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
        !a.contains("content") || !a["content"].is_string() || a["id"].get<int64_t>() < 0 ||
        a["id"].get<int64_t>() > kMaxTokenId) {
      return fail(Status::error("added_tokens[" + std::to_string(i) + "]: bad entry"));
    }
    added.push_back(
        {a["id"].get<int64_t>(), a["content"].get<std::string>(), a.value("special", false)});
    max_id = std::max(max_id, added.back().id);
  }
  // Ids nobody names are placeholders, as llama.cpp's converter writes them.
  vocab.tokens.resize(max_id + 1);
  vocab.token_types.assign(max_id + 1, TokenType::kUnused);
  for (int64_t i = 0; i <= max_id; ++i) vocab.tokens[i] = "[PAD" + std::to_string(i) + "]";
  for (auto& [id, text] : entries) {
    vocab.tokens[id] = std::move(text);
    vocab.token_types[id] = TokenType::kNormal;
  }
  for (const Added& a : added) {
    vocab.tokens[a.id] = a.content;
    vocab.token_types[a.id] = a.special ? TokenType::kControl : TokenType::kUserDefined;
  }
  MOELAB_TRY(fail(read_merges(model.value("merges", json::array()), &vocab)));

  const json& pre = root.value("pre_tokenizer", json());
  if (pre.is_null()) return fail(Status::error("pre_tokenizer is null; byte-level BPE needs one"));
  MOELAB_TRY(fail(collect_patterns(pre, "pre_tokenizer", &vocab.pre_patterns)));
  vocab.pre = PreTokenizer::name_of_patterns(vocab.pre_patterns);
  if (vocab.pre.empty()) vocab.pre = "custom";

  const json& normalizer = root.value("normalizer", json());
  const bool empty_sequence = normalizer.is_object() && normalizer.value("type", "") == "Sequence" &&
                              normalizer.value("normalizers", json::array()).empty();
  if (normalizer.is_object() && normalizer.value("type", "") == "NFC") {
    vocab.nfc = true;
  } else if (!normalizer.is_null() && !empty_sequence) {
    log_warn("tokenizer.json '" + path + "': normalizer '" + normalizer.value("type", "?") +
             "' is not applied (text is tokenized as given)");
  }

  const auto id_of = [&](const std::string& text) -> int32_t {
    if (text.empty()) return -1;
    for (size_t i = 0; i < vocab.tokens.size(); ++i) {
      if (vocab.tokens[i] == text) return static_cast<int32_t>(i);
    }
    return -1;
  };
  // BOS/EOS: tokenizer_config.json when present, else the post-processor.
  const std::filesystem::path config_path =
      std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (std::filesystem::exists(config_path, ec)) {
    MOELAB_ASSIGN_OR_RETURN(json config, read_json(config_path.string()));
    if (config.is_object()) {
      vocab.bos_id = id_of(config_token(config, "bos_token"));
      vocab.eos_id = id_of(config_token(config, "eos_token"));
      vocab.pad_id = id_of(config_token(config, "pad_token"));
      vocab.add_bos = config.value("add_bos_token", false) && vocab.bos_id >= 0;
      vocab.add_eos = config.value("add_eos_token", false) && vocab.eos_id >= 0;
    }
  }
  const json& post = root.value("post_processor", json());
  const json* templ = nullptr;
  if (post.is_object() && post.value("type", "") == "TemplateProcessing") templ = &post;
  if (post.is_object() && post.value("type", "") == "Sequence" && post.contains("processors") &&
      post["processors"].is_array()) {
    for (const json& p : post["processors"]) {
      if (p.is_object() && p.value("type", "") == "TemplateProcessing") templ = &p;
    }
  }
  if (templ != nullptr && templ->contains("single") && (*templ)["single"].is_array() &&
      !(*templ)["single"].empty()) {
    const json& first = (*templ)["single"][0];
    if (first.is_object() && first.contains("SpecialToken")) {
      const int32_t id = id_of(first["SpecialToken"].value("id", ""));
      if (id >= 0) {
        if (vocab.bos_id < 0) vocab.bos_id = id;
        vocab.add_bos = vocab.add_bos || id == vocab.bos_id;
      }
    }
  }
  auto tok = create(std::move(vocab));
  if (!tok.is_ok()) return fail(tok.status());
  return tok;
}

}  // namespace moelab
