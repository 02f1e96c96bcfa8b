// Chat templates: render a model's Jinja chat template (GGUF `tokenizer.chat_template`,
// tokenizer_config.json `chat_template`) byte-identically to the reference renderer that
// transformers.js uses (@huggingface/jinja, Hugging Face's trim_blocks + lstrip_blocks).
//
// Errors in the template or raised by it (raise_exception) come back as a Status naming
// the template line and column. Hostile templates are bounded by RenderLimits.
// All functions are pure and thread-safe; nothing is cached between calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace moelab {

// Template data keeps its key order: templates print tool schemas with tojson and walk
// dicts with items(), and the reference sees keys in the order the client sent them.
// Parse requests with nlohmann::ordered_json (ordered_json::parse); to_template_json
// converts a nlohmann::json (whose keys are already sorted).
using TemplateJson = nlohmann::ordered_json;
TemplateJson to_template_json(const nlohmann::json& j);

struct RenderLimits {
  int max_depth = 128;                       // nesting of blocks/expressions and macro calls
  int64_t max_loop_iterations = 1'000'000;   // all loops of one render together
  size_t max_output_bytes = 16u << 20;       // output, and any string or list built on the way
};

// Renders `source` with the variables of `context` (a JSON object; other JSON is an error).
Result<std::string> render_template(const std::string& source, const TemplateJson& context,
                                    const RenderLimits& limits = {});

struct ChatRenderOptions {
  bool add_generation_prompt = false;
  TemplateJson tools;            // list of tool schemas, or null for none
  std::string bos_token;
  std::string eos_token;
  TemplateJson extra_context = TemplateJson::object();  // e.g. {"enable_thinking": false}
  RenderLimits limits;
};

// The context render_chat passes to the template, built as Hugging Face does: messages,
// add_generation_prompt, tools (null when absent), bos_token and eos_token as strings,
// then the extra context (which may override any of them).
TemplateJson chat_context(const TemplateJson& messages, const ChatRenderOptions& options);

Result<std::string> render_chat(const std::string& source, const TemplateJson& messages,
                                const ChatRenderOptions& options);

// ChatML, the fallback for models that ship no template.
std::string chatml_template();

}  // namespace moelab
