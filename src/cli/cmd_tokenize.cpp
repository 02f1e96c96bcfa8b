// `moelab tokenize` / `moelab detokenize`, from a GGUF file's vocabulary or a
// Hugging Face tokenizer.json.
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"

namespace moelab {
namespace {

Result<Tokenizer> open_tokenizer(const std::string& path) {
  if (is_gguf_file(path)) {
    MOELAB_ASSIGN_OR_RETURN(GgufFile file, GgufFile::open(path));
    return Tokenizer::from_gguf(file);
  }
  return Tokenizer::from_tokenizer_json(path);
}

struct TokenizeArgs {
  std::string source, text;
  bool add_bos = false;
  bool no_special = false;
};

struct DetokenizeArgs {
  std::string source, ids;
  bool no_special = false;
};

}  // namespace

void register_tokenize(CLI::App& app, CommandList& commands) {
  auto t = std::make_shared<TokenizeArgs>();
  CLI::App* tok = app.add_subcommand("tokenize", "Print the token ids of a text as a JSON array");
  tok->add_option("source", t->source, "GGUF model or tokenizer.json")->required()->check(CLI::ExistingFile);
  tok->add_option("text", t->text, "Text to tokenize")->required();
  tok->add_flag("--add-bos", t->add_bos, "Put the BOS token first");
  tok->add_flag("--no-special", t->no_special, "Treat special-token text as plain text");
  commands.push_back({tok, [t] {
                        auto tokenizer = open_tokenizer(t->source);
                        if (!tokenizer.is_ok()) return fail(tokenizer.status());
                        const auto ids = tokenizer->encode(t->text, t->add_bos, !t->no_special);
                        std::printf("%s\n", nlohmann::json(ids).dump().c_str());
                        return 0;
                      }});

  auto d = std::make_shared<DetokenizeArgs>();
  CLI::App* det = app.add_subcommand("detokenize", "Print the text of comma-separated token ids");
  det->add_option("source", d->source, "GGUF model or tokenizer.json")->required()->check(CLI::ExistingFile);
  det->add_option("ids", d->ids, "Token ids, comma-separated (a JSON array also works)")->required();
  det->add_flag("--no-special", d->no_special, "Leave special tokens out of the text");
  commands.push_back({det, [d] {
                        auto tokenizer = open_tokenizer(d->source);
                        if (!tokenizer.is_ok()) return fail(tokenizer.status());
                        std::string list = d->ids;
                        list.erase(std::remove_if(list.begin(), list.end(),
                                                  [](char c) { return c == '[' || c == ']' || c == ' '; }),
                                   list.end());
                        auto ids = parse_int_list(list, "ids");
                        if (!ids.is_ok()) return fail(ids.status());
                        for (int32_t id : *ids) {
                          if (id < 0 || id >= tokenizer->n_vocab())
                            return fail("ids: token id " + std::to_string(id) + " is out of range [0, " +
                                        std::to_string(tokenizer->n_vocab()) + ")");
                        }
                        const std::string text = tokenizer->decode(*ids, !d->no_special);
                        std::fwrite(text.data(), 1, text.size(), stdout);
                        std::fputc('\n', stdout);
                        return 0;
                      }});
}

}  // namespace moelab
