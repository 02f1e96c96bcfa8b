// Binary operators, member access and slicing, with the reference renderer's typing rules.
#include <algorithm>
#include <cmath>
#include <optional>

#include "template/interpreter.h"

namespace moelab::tmpl {

static Value arith_int(const std::string& op, int64_t a, int64_t b) {
  int64_t r = 0;
  bool overflow = false;
  if (op == "+") overflow = __builtin_add_overflow(a, b, &r);
  else if (op == "-") overflow = __builtin_sub_overflow(a, b, &r);
  else if (op == "*") overflow = __builtin_mul_overflow(a, b, &r);
  if (overflow) throw TemplateError("integer overflow in '" + op + "'");
  return Value::integer(r);
}

Value Interpreter::binary(const Node& node, const EnvPtr& env) {
  const std::string& op = node.text;
  Value l = eval(*node.a, env);
  if (op == "and") return truthy(l) ? eval(*node.b, env) : l;
  if (op == "or") return truthy(l) ? l : eval(*node.b, env);
  Value r = eval(*node.b, env);
  if (op == "==") return Value::boolean(loose_equal(l, r));
  if (op == "!=") return Value::boolean(!loose_equal(l, r));
  if (l.is_undefined() || r.is_undefined()) {
    if (r.is_undefined() && (op == "in" || op == "not in")) return Value::boolean(op == "not in");
    throw TemplateError("Cannot perform operation " + op + " on undefined values");
  }
  if (l.is_null() || r.is_null()) throw TemplateError("Cannot perform operation on null values");
  if (op == "~") {
    std::string s = js_string(l) + js_string(r);
    check_size(s.size());
    return Value::string(std::move(s));
  }
  auto numeric_like = [](const Value& v) { return v.is_number() || v.kind == Kind::kBool; };
  if (op == "**" && numeric_like(l) && numeric_like(r)) {
    double a = l.number(), b = r.number();
    if (a == 0 && b < 0) throw TemplateError("0.0 cannot be raised to a negative power");
    bool is_float = l.kind == Kind::kFloat || r.kind == Kind::kFloat || b < 0;
    if (!is_float) {
      int64_t base = l.kind == Kind::kInt ? l.i : l.b, e = r.kind == Kind::kInt ? r.i : r.b, res = 1;
      for (int64_t k = 0; k < e; ++k) {
        if (__builtin_mul_overflow(res, base, &res)) throw TemplateError("integer overflow in '**'");
        if (res == 0 || res == 1) break;
      }
      return Value::integer(res);
    }
    double res = std::pow(a, b);
    if (!std::isfinite(res)) throw TemplateError("Exponentiation result is not a finite real number");
    return Value::floating(res);
  }
  if (l.is_number() && r.is_number()) {
    bool is_float = l.kind == Kind::kFloat || r.kind == Kind::kFloat;
    double a = l.number(), b = r.number();
    if (op == "+" || op == "-" || op == "*") {
      if (!is_float) return arith_int(op, l.i, r.i);
      return Value::floating(op == "+" ? a + b : op == "-" ? a - b : a * b);
    }
    if (op == "/") return Value::floating(a / b);
    if (op == "//" || op == "%") {
      if (b == 0) throw TemplateError("division by zero");
      if (!is_float) {
        if (op == "%") return Value::integer(l.i % r.i);
        return Value::integer(int64_t(std::floor(a / b)));
      }
      return Value::floating(op == "%" ? std::fmod(a, b) : std::floor(a / b));
    }
    if (op == "<") return Value::boolean(a < b);
    if (op == ">") return Value::boolean(a > b);
    if (op == "<=") return Value::boolean(a <= b);
    if (op == ">=") return Value::boolean(a >= b);
  } else if (l.is_array() && r.is_array()) {
    if (op == "+") {
      Array out = *l.a;
      out.insert(out.end(), r.a->begin(), r.a->end());
      check_size(out.size());
      return Value::array(std::move(out));
    }
  } else if (r.is_array()) {
    bool member = false;
    for (const auto& x : *r.a) if (strict_equal(x, l)) { member = true; break; }
    if (op == "in") return Value::boolean(member);
    if (op == "not in") return Value::boolean(!member);
  }
  if ((l.is_string() || r.is_string()) && op == "+") {
    std::string s = js_string(l) + js_string(r);
    check_size(s.size());
    return Value::string(std::move(s));
  }
  if (l.is_string() && r.is_string()) {
    bool has = r.str().find(l.str()) != std::string::npos;
    if (op == "in") return Value::boolean(has);
    if (op == "not in") return Value::boolean(!has);
  }
  if (l.is_string() && r.is_object()) {
    bool has = object_find(*r.o, l.str()) != nullptr;
    if (op == "in") return Value::boolean(has);
    if (op == "not in") return Value::boolean(!has);
  }
  throw TemplateError("Unknown operator \"" + op + "\" between " + kind_name(l.kind) + " and " +
                      kind_name(r.kind));
}

static Value array_at(const Array& a, int64_t k) {
  int64_t n = int64_t(a.size());
  if (k < 0) k += n;
  if (k < 0 || k >= n) return Value::undefined();
  return a[size_t(k)];
}

Value Interpreter::member(const Node& node, const EnvPtr& env) {
  Value object = eval(*node.a, env);
  Value property;
  if (node.flag) {
    if (node.b->kind == NodeKind::kSlice) return slice(object, *node.b, env);
    property = eval(*node.b, env);
  } else if (node.b->kind == NodeKind::kInt) {
    property = Value::integer(node.b->ival);
  } else {
    property = Value::string(node.b->text);
  }
  if (object.is_object() || object.kind == Kind::kNamespace) {
    if (!property.is_string()) {
      throw TemplateError(std::string("Cannot access property with non-string: got ") + kind_name(property.kind));
    }
    if (const Value* v = object_find(*object.o, property.str())) return *v;
    return object.is_object() ? object_method(object, property.str()) : Value::undefined();
  }
  if (object.is_array() || object.is_string()) {
    if (property.kind == Kind::kInt) {
      if (object.is_array()) return array_at(*object.a, property.i);
      Array chars;
      for (auto& c : utf8_chars(object.str())) chars.push_back(Value::string(c));
      return array_at(chars, property.i);
    }
    if (property.is_string()) {
      if (object.is_string()) return string_method(object, property.str());
      if (property.str() == "length") return Value::integer(int64_t(object.a->size()));
      if (property.str() == "append") {
        // Not in the reference; Python templates use it to build lists.
        auto target = object.a;
        return Value::function([target](CallArgs& args, Interpreter& in, const EnvPtr&) {
          if (args.positional.size() != 1) throw TemplateError("append() takes exactly one argument");
          target->push_back(args.positional[0]);
          in.check_size(target->size());
          return Value::null();
        });
      }
      return Value::undefined();
    }
    throw TemplateError(std::string("Cannot access property with non-string/non-number: got ") +
                        kind_name(property.kind));
  }
  if (!property.is_string()) {
    throw TemplateError(std::string("Cannot access property with non-string: got ") + kind_name(property.kind));
  }
  return Value::undefined();
}

Value Interpreter::slice(const Value& object, const Node& node, const EnvPtr& env) {
  if (!object.is_array() && !object.is_string()) throw TemplateError("Slice object must be an array or string");
  auto bound = [&](const NodePtr& n, const char* what) -> std::optional<int64_t> {
    if (!n) return std::nullopt;
    Value v = eval(*n, env);
    if (v.is_undefined()) return std::nullopt;
    if (v.kind != Kind::kInt) throw TemplateError(std::string("Slice ") + what + " must be numeric or undefined");
    return v.i;
  };
  auto start_v = bound(node.a, "start"), stop_v = bound(node.b, "stop"), step_v = bound(node.c, "step");
  Array items;
  if (object.is_array()) {
    items = *object.a;
  } else {
    for (auto& c : utf8_chars(object.str())) items.push_back(Value::string(c));
  }
  int64_t n = int64_t(items.size());
  int64_t step = step_v.value_or(1);
  if (step == 0) throw TemplateError("slice step cannot be zero");
  int64_t start, stop;
  if (step > 0) {
    start = start_v.value_or(0);
    start = start < 0 ? std::max<int64_t>(n + start, 0) : std::min(start, n);
    stop = stop_v.value_or(n);
    stop = stop < 0 ? std::max<int64_t>(n + stop, 0) : std::min(stop, n);
  } else {
    start = start_v.value_or(n - 1);
    start = start < 0 ? std::max<int64_t>(n + start, -1) : std::min(start, n - 1);
    stop = stop_v.value_or(-1);
    stop = stop < -1 ? std::max<int64_t>(n + stop, -1) : std::min(stop, n - 1);
  }
  Array out;
  int64_t dir = step > 0 ? 1 : -1;
  for (int64_t k = start; dir * k < dir * stop; k += step) out.push_back(items[size_t(k)]);
  if (object.is_array()) return Value::array(std::move(out));
  std::string s;
  for (const auto& c : out) s += c.str();
  return Value::string(std::move(s));
}

}  // namespace moelab::tmpl
