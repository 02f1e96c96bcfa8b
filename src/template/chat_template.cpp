#include "template/chat_template.h"

#include "template/interpreter.h"
#include "template/lexer.h"
#include "template/parser.h"

namespace moelab {

TemplateJson to_template_json(const nlohmann::json& j) { return TemplateJson::parse(j.dump()); }

Result<std::string> render_template(const std::string& source, const TemplateJson& context,
                                    const RenderLimits& limits) {
  if (!context.is_object()) return Status::error("chat template context must be a JSON object");
  try {
    tmpl::Limits l{limits.max_depth, limits.max_loop_iterations, limits.max_output_bytes};
    std::vector<tmpl::Token> tokens = tmpl::tokenize(source);
    tmpl::NodePtr root = tmpl::parse(tokens, l.max_depth * 4);
    auto global = std::make_shared<tmpl::Env>();
    tmpl::Interpreter::install_globals(*global);
    const TemplateJson& ordered = context;
    for (auto it = ordered.begin(); it != ordered.end(); ++it) {
      if (tmpl::object_find(global->vars, it.key())) {
        return Status::error("chat template context: variable '" + it.key() + "' is a built-in name");
      }
    }
    tmpl::Value data = tmpl::from_json(ordered);
    for (const auto& [k, v] : *data.o) global->set(k, v);
    tmpl::Interpreter interpreter(l);
    return interpreter.run(*root, global);
  } catch (const tmpl::TemplateError& e) {
    return Status::error("chat template error at " + tmpl::describe_offset(source, e.offset) + ": " + e.what());
  } catch (const std::bad_alloc&) {
    return Status::error("chat template: out of memory");
  }
}

TemplateJson chat_context(const TemplateJson& messages, const ChatRenderOptions& options) {
  TemplateJson ctx = TemplateJson::object();
  ctx["messages"] = messages;
  ctx["add_generation_prompt"] = options.add_generation_prompt;
  ctx["tools"] = options.tools;
  ctx["bos_token"] = options.bos_token;
  ctx["eos_token"] = options.eos_token;
  if (options.extra_context.is_object()) {
    for (auto it = options.extra_context.begin(); it != options.extra_context.end(); ++it) {
      ctx[it.key()] = it.value();
    }
  }
  return ctx;
}

Result<std::string> render_chat(const std::string& source, const TemplateJson& messages,
                                const ChatRenderOptions& options) {
  if (!messages.is_array()) return Status::error("chat messages must be a JSON array");
  return render_template(source, chat_context(messages, options), options.limits);
}

std::string chatml_template() {
  return "{%- for message in messages %}"
         "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
         "{%- endfor %}"
         "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
}

}  // namespace moelab
