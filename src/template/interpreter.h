// Evaluates a parsed template against an environment of Values. Semantics follow the
// reference renderer (@huggingface/jinja), including its scoping: `set` writes the
// innermost scope, a for loop has its own scope, macros see their caller's variables.
// One Interpreter per render; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "template/ast.h"
#include "template/value.h"

namespace moelab::tmpl {

struct Limits {
  int max_depth = 128;
  int64_t max_loop_iterations = 1000000;
  size_t max_output_bytes = 16u << 20;
};

struct Env {
  explicit Env(std::shared_ptr<Env> p = nullptr) : parent(std::move(p)) {}
  Value lookup(const std::string& name) const;
  void set(const std::string& name, Value v) { object_set(vars, name, std::move(v)); }
  std::shared_ptr<Env> parent;
  Object vars;
};
using EnvPtr = std::shared_ptr<Env>;

class Interpreter {
 public:
  explicit Interpreter(const Limits& limits) : limits_(limits) {}

  // Renders `root->body` in `global`. Throws TemplateError.
  std::string run(const Node& root, const EnvPtr& global);

  Value eval(const Node& node, const EnvPtr& env);
  void exec_block(const std::vector<NodePtr>& body, const EnvPtr& env, std::string& out);
  Value call(const Value& fn, CallArgs& args, const EnvPtr& env);

  // Bounds that keep a hostile template from running away.
  void check_size(size_t bytes) const;
  void count_iterations(int64_t n);

  static void install_globals(Env& env);

 private:
  Value eval_inner(const Node& node, const EnvPtr& env);
  void exec(const Node& node, const EnvPtr& env, std::string& out);
  Value binary(const Node& node, const EnvPtr& env);
  Value member(const Node& node, const EnvPtr& env);
  Value slice(const Value& object, const Node& node, const EnvPtr& env);
  CallArgs eval_args(const std::vector<NodePtr>& args, const EnvPtr& env);
  void assign(const Node& target, const Value& value, const EnvPtr& env);
  void exec_for(const Node& node, const EnvPtr& env, std::string& out);
  Value make_macro(const Node& node);
  void bind_macro_args(const std::string& name, const std::vector<NodePtr>& params,
                       bool use_kwargs, bool use_varargs, CallArgs& args, const EnvPtr& scope);
  Value filter(const Value& operand, const Node& node, const EnvPtr& env);
  bool test(const Value& operand, const std::string& name, const Value* arg);

  Limits limits_;
  int depth_ = 0;
  int64_t iterations_ = 0;
};

// Attribute lookup shared by `.name`, map(attribute=) and sort(attribute=).
Value string_method(const Value& s, const std::string& name);
Value object_method(const Value& o, const std::string& name);

}  // namespace moelab::tmpl
