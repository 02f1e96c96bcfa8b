// Statement execution and expression evaluation. Errors are exceptions inside the engine
// (deep recursion makes threading a Status through every node noisy); the public API in
// chat_template.cpp turns them into a Status with line and column.
#include "template/interpreter.h"

#include <cmath>
#include <functional>

namespace moelab::tmpl {
namespace {

struct BreakSignal {};
struct ContinueSignal {};

bool uses_name(const Node* n, const char* name) {
  if (!n) return false;
  if (n->kind == NodeKind::kIdent && n->text == name) return true;
  if (uses_name(n->a.get(), name) || uses_name(n->b.get(), name) || uses_name(n->c.get(), name)) return true;
  for (const auto* v : {&n->list, &n->body, &n->alt}) {
    for (const auto& k : *v) if (uses_name(k.get(), name)) return true;
  }
  return false;
}

}  // namespace

Value Env::lookup(const std::string& name) const {
  for (const Env* e = this; e; e = e->parent.get()) {
    if (const Value* v = object_find(e->vars, name)) return *v;
  }
  return Value::undefined();
}

void Interpreter::check_size(size_t bytes) const {
  if (bytes > limits_.max_output_bytes) {
    throw TemplateError("output exceeds the limit of " + std::to_string(limits_.max_output_bytes) + " bytes");
  }
}

void Interpreter::count_iterations(int64_t n) {
  iterations_ += n;
  if (iterations_ > limits_.max_loop_iterations) {
    throw TemplateError("loop iterations exceed the limit of " +
                        std::to_string(limits_.max_loop_iterations));
  }
}

std::string Interpreter::run(const Node& root, const EnvPtr& global) {
  std::string out;
  try {
    exec_block(root.body, global, out);
  } catch (const BreakSignal&) {
    throw TemplateError("break outside of a loop", -1);
  } catch (const ContinueSignal&) {
    throw TemplateError("continue outside of a loop", -1);
  }
  return out;
}

void Interpreter::exec_block(const std::vector<NodePtr>& body, const EnvPtr& env, std::string& out) {
  for (const auto& node : body) {
    try {
      exec(*node, env, out);
    } catch (TemplateError& e) {
      if (e.offset < 0) e.offset = node->offset;
      throw;
    }
    check_size(out.size());
  }
}

static void print(const Value& v, std::string& out) {
  if (v.is_null() || v.is_undefined()) return;
  out += to_display(v);
}

void Interpreter::exec(const Node& node, const EnvPtr& env, std::string& out) {
  switch (node.kind) {
    case NodeKind::kText: out += node.text; return;
    case NodeKind::kComment: return;
    case NodeKind::kOutput: print(eval(*node.a, env), out); return;
    case NodeKind::kSet: {
      Value rhs;
      if (node.b) {
        rhs = eval(*node.b, env);
      } else {
        std::string captured;
        exec_block(node.body, env, captured);
        rhs = Value::string(std::move(captured));
      }
      assign(*node.a, rhs, env);
      return;
    }
    case NodeKind::kIf:
      exec_block(truthy(eval(*node.a, env)) ? node.body : node.alt, env, out);
      return;
    case NodeKind::kFor: exec_for(node, env, out); return;
    case NodeKind::kMacro: env->set(node.text, make_macro(node)); return;
    case NodeKind::kBreak: throw BreakSignal();
    case NodeKind::kContinue: throw ContinueSignal();
    case NodeKind::kCallBlock: {
      const Node* block = &node;
      bool kw = uses_name(&node, "kwargs"), va = uses_name(&node, "varargs");
      Value caller = Value::function([this, block, env, kw, va](CallArgs& args, Interpreter&, const EnvPtr&) {
        auto scope = std::make_shared<Env>(env);
        bind_macro_args("None", block->list, kw, va, args, scope);
        std::string s;
        exec_block(block->body, scope, s);
        return Value::string(std::move(s));
      });
      CallArgs args = eval_args(node.a->list, env);
      Value fn = eval(*node.a->a, env);
      auto scope = std::make_shared<Env>(env);
      scope->set("caller", caller);
      print(call(fn, args, scope), out);
      return;
    }
    case NodeKind::kFilterBlock: {
      std::string captured;
      exec_block(node.body, env, captured);
      print(filter(Value::string(std::move(captured)), *node.a, env), out);
      return;
    }
    default: print(eval(node, env), out); return;
  }
}

void Interpreter::assign(const Node& target, const Value& value, const EnvPtr& env) {
  if (target.kind == NodeKind::kIdent) {
    env->set(target.text, value);
  } else if (target.kind == NodeKind::kTuple) {
    if (!value.is_array()) throw TemplateError(std::string("Cannot unpack non-iterable type in set: ") + kind_name(value.kind));
    if (value.a->size() != target.list.size()) {
      throw TemplateError(std::string("Too ") + (target.list.size() > value.a->size() ? "few" : "many") +
                          " items to unpack in set");
    }
    for (size_t k = 0; k < target.list.size(); ++k) {
      if (target.list[k]->kind != NodeKind::kIdent) throw TemplateError("Cannot unpack to non-identifier in set");
      env->set(target.list[k]->text, (*value.a)[k]);
    }
  } else if (target.kind == NodeKind::kMember) {
    Value object = eval(*target.a, env);
    if (object.kind != Kind::kNamespace) throw TemplateError("cannot assign attribute on non-namespace object");
    if (target.b->kind != NodeKind::kIdent || target.flag) {
      throw TemplateError("Cannot assign to member with non-identifier property");
    }
    object_set(*object.o, target.b->text, value);
  } else {
    throw TemplateError("Invalid target of an assignment");
  }
}

void Interpreter::exec_for(const Node& node, const EnvPtr& env, std::string& out) {
  auto scope = std::make_shared<Env>(env);
  const Node* condition = nullptr;
  Value iterable;
  if (node.b->kind == NodeKind::kSelect) {
    iterable = eval(*node.b->a, scope);
    condition = node.b->b.get();
  } else {
    iterable = eval(*node.b, scope);
  }
  Array source;
  if (iterable.is_array()) {
    source = *iterable.a;
  } else if (iterable.is_object()) {
    for (const auto& [k, v] : *iterable.o) source.push_back(Value::string(k));
  } else {
    throw TemplateError(std::string("Expected iterable or object type in for loop: got ") +
                        kind_name(iterable.kind));
  }
  const Node& var = *node.a;
  auto bind = [&](const Value& current, const EnvPtr& target) {
    if (var.kind == NodeKind::kIdent) {
      target->set(var.text, current);
      return;
    }
    if (!current.is_array()) throw TemplateError(std::string("Cannot unpack non-iterable type: ") + kind_name(current.kind));
    if (current.a->size() != var.list.size()) {
      throw TemplateError(std::string("Too ") + (var.list.size() > current.a->size() ? "few" : "many") +
                          " items to unpack");
    }
    for (size_t j = 0; j < var.list.size(); ++j) {
      if (var.list[j]->kind != NodeKind::kIdent) throw TemplateError("Cannot unpack non-identifier type");
      target->set(var.list[j]->text, (*current.a)[j]);
    }
  };
  Array items;
  for (const Value& current : source) {
    count_iterations(1);
    if (condition) {
      auto probe = std::make_shared<Env>(scope);
      bind(current, probe);
      if (!truthy(eval(*condition, probe))) continue;
    } else if (var.kind == NodeKind::kTuple) {
      bind(current, std::make_shared<Env>(scope));  // the reference checks shapes up front
    }
    items.push_back(current);
  }
  bool no_iteration = true;
  int64_t n = int64_t(items.size());
  for (int64_t i = 0; i < n; ++i) {
    count_iterations(1);
    Object loop = {
        {"index", Value::integer(i + 1)},
        {"index0", Value::integer(i)},
        {"revindex", Value::integer(n - i)},
        {"revindex0", Value::integer(n - i - 1)},
        {"first", Value::boolean(i == 0)},
        {"last", Value::boolean(i == n - 1)},
        {"length", Value::integer(n)},
        {"previtem", i > 0 ? items[i - 1] : Value::undefined()},
        {"nextitem", i < n - 1 ? items[i + 1] : Value::undefined()},
    };
    scope->set("loop", Value::object(std::move(loop)));
    bind(items[i], scope);
    std::string body;
    try {
      exec_block(node.body, scope, body);
    } catch (const ContinueSignal&) {
      continue;  // like the reference, the partial output of this pass is dropped
    } catch (const BreakSignal&) {
      break;
    }
    out += body;
    check_size(out.size());
    no_iteration = false;
  }
  if (no_iteration) exec_block(node.alt, scope, out);
}

void Interpreter::bind_macro_args(const std::string& name, const std::vector<NodePtr>& params,
                                  bool use_kwargs, bool use_varargs, CallArgs& args,
                                  const EnvPtr& scope) {
  auto keywords = args.keywords;
  std::vector<const Node*> pending;
  for (size_t i = 0; i < params.size(); ++i) {
    const Node& p = *params[i];
    Value value;
    bool have = false;
    if (i < args.positional.size()) {
      value = args.positional[i];
      have = true;
    } else {
      for (auto it = keywords.begin(); it != keywords.end(); ++it) {
        if (it->first == p.text) {
          value = it->second;
          have = true;
          keywords.erase(it);
          break;
        }
      }
    }
    if (!have && p.kind == NodeKind::kKwArg) pending.push_back(&p);
    scope->set(p.text, have ? value : Value::undefined());
  }
  if (use_kwargs) {
    Object kw;
    for (auto& [k, v] : keywords) kw.emplace_back(k, v);
    scope->set("kwargs", Value::object(std::move(kw)));
  } else if (!keywords.empty()) {
    throw TemplateError("macro " + name + " takes no keyword argument '" + keywords[0].first + "'");
  }
  if (use_varargs) {
    Array rest;
    for (size_t i = params.size(); i < args.positional.size(); ++i) rest.push_back(args.positional[i]);
    scope->set("varargs", Value::array(std::move(rest)));
  } else if (args.positional.size() > params.size()) {
    throw TemplateError("macro " + name + " takes not more than " + std::to_string(params.size()) +
                        " argument(s)");
  }
  for (const Node* p : pending) scope->set(p->text, eval(*p->a, scope));
}

Value Interpreter::make_macro(const Node& node) {
  const Node* macro = &node;
  bool kw = false, va = false;
  for (const auto& b : node.body) {
    kw = kw || uses_name(b.get(), "kwargs");
    va = va || uses_name(b.get(), "varargs");
  }
  for (const auto& p : node.list) {
    if (p->text == "kwargs") kw = false;
    if (p->text == "varargs") va = false;
  }
  return Value::function([this, macro, kw, va](CallArgs& args, Interpreter&, const EnvPtr& site) {
    auto scope = std::make_shared<Env>(site);
    bind_macro_args("'" + macro->text + "'", macro->list, kw, va, args, scope);
    std::string s;
    exec_block(macro->body, scope, s);
    return Value::string(std::move(s));
  });
}

Value Interpreter::call(const Value& fn, CallArgs& args, const EnvPtr& env) {
  if (fn.kind != Kind::kFunction) {
    throw TemplateError(std::string("Cannot call something that is not a function: got ") + kind_name(fn.kind));
  }
  if (++depth_ > limits_.max_depth) {
    --depth_;
    throw TemplateError("call depth exceeds the limit of " + std::to_string(limits_.max_depth));
  }
  struct Leave { int* d; ~Leave() { --*d; } } leave{&depth_};
  return (*fn.fn)(args, *this, env);
}

CallArgs Interpreter::eval_args(const std::vector<NodePtr>& args, const EnvPtr& env) {
  CallArgs out;
  for (const auto& a : args) {
    if (a->kind == NodeKind::kSpread) {
      Value v = eval(*a->a, env);
      if (!v.is_array()) throw TemplateError(std::string("Cannot unpack non-iterable type: ") + kind_name(v.kind));
      for (const auto& x : *v.a) out.positional.push_back(x);
    } else if (a->kind != NodeKind::kKwArg && a->kind != NodeKind::kKwSpread) {
      out.positional.push_back(eval(*a, env));
    }
  }
  auto add = [&](const std::string& k, Value v) {
    for (const auto& [name, old] : out.keywords) {
      if (name == k) throw TemplateError("Got multiple values for keyword argument '" + k + "'");
    }
    out.keywords.emplace_back(k, std::move(v));
  };
  for (const auto& a : args) {
    if (a->kind == NodeKind::kKwArg) {
      add(a->text, eval(*a->a, env));
    } else if (a->kind == NodeKind::kKwSpread) {
      Value v = eval(*a->a, env);
      if (!v.is_object()) throw TemplateError(std::string("Argument after ** must be a mapping, not ") + kind_name(v.kind));
      for (const auto& [k, x] : *v.o) add(k, x);
    }
  }
  return out;
}

Value Interpreter::eval(const Node& node, const EnvPtr& env) {
  try {
    return eval_inner(node, env);
  } catch (TemplateError& e) {
    if (e.offset < 0) e.offset = node.offset;
    throw;
  }
}

Value Interpreter::eval_inner(const Node& node, const EnvPtr& env) {
  switch (node.kind) {
    case NodeKind::kInt: return Value::integer(node.ival);
    case NodeKind::kFloat: return Value::floating(node.fval);
    case NodeKind::kString: return Value::string(node.text);
    case NodeKind::kIdent: return env->lookup(node.text);
    case NodeKind::kArray:
    case NodeKind::kTuple: {
      Array a;
      for (const auto& x : node.list) a.push_back(eval(*x, env));
      Value v = Value::array(std::move(a));
      v.tuple = node.kind == NodeKind::kTuple;
      return v;
    }
    case NodeKind::kObject: {
      Object o;
      for (size_t k = 0; k + 1 < node.list.size(); k += 2) {
        Value key = eval(*node.list[k], env);
        if (!key.is_string()) throw TemplateError(std::string("Object keys must be strings: got ") + kind_name(key.kind));
        object_set(o, key.str(), eval(*node.list[k + 1], env));
      }
      return Value::object(std::move(o));
    }
    case NodeKind::kMember: return member(node, env);
    case NodeKind::kCall: {
      CallArgs args = eval_args(node.list, env);
      Value fn = eval(*node.a, env);
      return call(fn, args, env);
    }
    case NodeKind::kUnary: {
      Value v = eval(*node.a, env);
      if (node.text == "not") return Value::boolean(!truthy(v));
      double sign = node.text == "-" ? -1 : 1;
      if (v.kind == Kind::kFloat) return Value::floating(sign * v.f);
      if (v.kind == Kind::kInt || v.kind == Kind::kBool) {
        int64_t x = v.kind == Kind::kInt ? v.i : v.b;
        if (sign < 0 && x == INT64_MIN) throw TemplateError("integer overflow");
        return Value::integer(sign < 0 ? -x : x);
      }
      throw TemplateError("Unknown operator \"" + node.text + "\" for " + kind_name(v.kind));
    }
    case NodeKind::kBinary: return binary(node, env);
    case NodeKind::kFilter: return filter(eval(*node.a, env), node, env);
    case NodeKind::kTest: {
      Value v = eval(*node.a, env);
      bool r = test(v, node.text, nullptr);
      return Value::boolean(node.flag ? !r : r);
    }
    case NodeKind::kSelect:
      if (!truthy(eval(*node.b, env))) return Value::undefined();
      return eval(*node.a, env);
    case NodeKind::kTernary:
      return truthy(eval(*node.a, env)) ? eval(*node.b, env) : eval(*node.c, env);
    default: {
      // Statements in expression position only happen through the reference's own quirks.
      std::string out;
      exec(node, env, out);
      return Value::string(out);
    }
  }
}

}  // namespace moelab::tmpl
