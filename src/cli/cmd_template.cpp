// `moelab template`: render a model's chat template for a conversation, exactly
// as the reference renderer would, and print it (and nothing else) on stdout.
#include <cstdio>
#include <fstream>

#include "cli/command.h"
#include "runtime/chat_source.h"
#include "template/chat_template.h"

namespace moelab {
namespace {

Result<TemplateJson> read_json(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) return Status::error(std::string(what) + ": cannot open " + path);
  TemplateJson j = TemplateJson::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::error(std::string(what) + ": " + path + " is not valid JSON");
  return j;
}

}  // namespace

void register_template(CLI::App& app, CommandList& commands) {
  struct Args {
    std::string source, messages, tools;
    bool add_generation_prompt = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("template", "Render a model's chat template for a conversation");
  sub->add_option("source", a->source, "GGUF model or tokenizer_config.json")->required()->check(CLI::ExistingFile);
  sub->add_option("--messages", a->messages, "JSON file: the list of messages")->required();
  sub->add_option("--tools", a->tools, "JSON file: the list of tool schemas");
  sub->add_flag("--add-generation-prompt", a->add_generation_prompt, "End with the assistant's turn opener");
  commands.push_back({sub, [a] {
                        auto source = chat_template_from_path(a->source);
                        if (!source.is_ok()) return fail(source.status());
                        if (source->fallback)
                          std::fprintf(stderr, "moelab: %s has no chat template; using ChatML\n", a->source.c_str());
                        auto messages = read_json(a->messages, "--messages");
                        if (!messages.is_ok()) return fail(messages.status());
                        if (!messages->is_array()) return fail("--messages: the file must hold a JSON list");
                        ChatRenderOptions opts;
                        opts.add_generation_prompt = a->add_generation_prompt;
                        opts.bos_token = source->bos_token;
                        opts.eos_token = source->eos_token;
                        if (!a->tools.empty()) {
                          auto tools = read_json(a->tools, "--tools");
                          if (!tools.is_ok()) return fail(tools.status());
                          opts.tools = *tools;
                        }
                        auto text = render_chat(source->text, *messages, opts);
                        if (!text.is_ok()) return fail(text.status());
                        std::fwrite(text->data(), 1, text->size(), stdout);
                        return 0;
                      }});
}

}  // namespace moelab
