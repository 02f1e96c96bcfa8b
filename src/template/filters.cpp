// Filters, tests and globals. Dispatch follows the reference renderer (a filter
// accepts the operand types the reference accepts, with its argument rules); a few
// Jinja features the reference lacks are added where chat templates use them:
// list.append, dict(), the count/wordcount/round filters, the float test.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>

#include "template/builtin_helpers.h"

namespace moelab::tmpl {

bool Interpreter::test(const Value& v, const std::string& name, const Value* arg) {
  if (name == "boolean") return v.kind == Kind::kBool;
  if (name == "callable") return v.kind == Kind::kFunction;
  if (name == "odd" || name == "even") {
    if (v.kind != Kind::kInt) throw TemplateError("cannot " + name + " on " + kind_name(v.kind));
    return (v.i % 2 != 0) == (name == "odd");
  }
  if (name == "false") return v.kind == Kind::kBool && !v.b;
  if (name == "true") return v.kind == Kind::kBool && v.b;
  if (name == "none") return v.is_null();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.kind == Kind::kInt;
  if (name == "float") return v.kind == Kind::kFloat;  // Jinja's; not in the reference
  if (name == "iterable") return (v.is_array() && !v.tuple) || v.is_string();
  if (name == "mapping") return v.is_object();
  if (name == "sequence") return v.is_array() || v.is_object() || v.is_string();
  if (name == "lower") return v.is_string() && v.str() == ascii_map(v.str(), ::tolower);
  if (name == "upper") return v.is_string() && v.str() == ascii_map(v.str(), ::toupper);
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "equalto" || name == "eq") return strict_equal(v, arg ? *arg : Value::undefined());
  throw TemplateError("Unknown test: " + name);
}

Value Interpreter::filter(const Value& v, const Node& node, const EnvPtr& env) {
  const std::string& name = node.text;
  auto cannot = [&]() -> TemplateError {
    return TemplateError("Cannot apply filter \"" + name + "\" to type: " + kind_name(v.kind));
  };
  auto unknown = [&]() -> TemplateError {
    const char* t = v.is_array() ? "ArrayValue" : v.is_string() ? "StringValue" : v.is_number() ? "NumericValue"
                  : v.is_object() ? "ObjectValue" : "BooleanValue";
    return TemplateError(std::string("Unknown ") + t + " filter: " + name);
  };
  auto checked = [&](std::string s) { check_size(s.size()); return Value::string(std::move(s)); };
  if (!node.flag) {
    if (name == "safe") return v;
    if (name == "tojson") return checked(to_json_text(v, {}, 0, true));
    if (v.is_array()) {
      const Array& a = *v.a;
      if (name == "list") return v;
      if (name == "first") return a.empty() ? Value::undefined() : a.front();
      if (name == "last") return a.empty() ? Value::undefined() : a.back();
      if (name == "length" || name == "count") return Value::integer(int64_t(a.size()));
      if (name == "reverse") return Value::array(Array(a.rbegin(), a.rend()));
      if (name == "sort") {
        Array out = a;
        std::stable_sort(out.begin(), out.end(), [](const Value& x, const Value& y) { return compare_values(x, y, false) < 0; });
        return Value::array(std::move(out));
      }
      if (name == "join") {
        std::string s;
        for (const auto& x : a) { s += js_string(x); check_size(s.size()); }
        return Value::string(std::move(s));
      }
      if (name == "string") return checked(to_json_text(v, {}, 0, false));
      if (name == "unique") {
        Array out;
        for (const auto& x : a) {
          bool seen = false;
          for (const auto& y : out) if (strict_equal(x, y)) { seen = true; break; }
          if (!seen) out.push_back(x);
        }
        return Value::array(std::move(out));
      }
      throw unknown();
    }
    if (v.is_string()) {
      const std::string& s = v.str();
      if (name == "length" || name == "count") return Value::integer(int64_t(utf16_length(s)));
      if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
        CallArgs none;
        return call(string_method(v, name), none, env);
      }
      if (name == "trim") return Value::string(js_trim(s, true, true));
      if (name == "indent") {
        std::string out;
        size_t start = 0, line = 0;
        while (true) {
          size_t nl = s.find('\n', start);
          std::string part = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
          out += (line > 0 ? "\n" : "") + ((line == 0 || part.empty()) ? part : "    " + part);
          if (nl == std::string::npos) break;
          start = nl + 1;
          ++line;
        }
        return checked(std::move(out));
      }
      if (name == "join" || name == "string") return v;
      if (name == "int") { auto d = js_parse(s, true); return Value::integer(d ? int64_t(*d) : 0); }
      if (name == "float") { auto d = js_parse(s, false); return Value::floating(d ? *d : 0.0); }
      if (name == "wordcount") {
        int64_t n = 0;
        bool in_word = false;
        for (char c : s) { bool w = is_word(c); if (w && !in_word) ++n; in_word = w; }
        return Value::integer(n);
      }
      throw unknown();
    }
    if (v.is_number()) {
      if (name == "abs") return v.kind == Kind::kInt ? Value::integer(v.i < 0 ? -v.i : v.i) : Value::floating(std::fabs(v.f));
      if (name == "int") return v.kind == Kind::kInt ? v : Value::integer(int64_t(std::floor(v.f)));
      if (name == "float") return Value::floating(v.number());
      if (name == "string") return Value::string(to_display(v));
      if (name == "round") return Value::floating(std::nearbyint(v.number()));
      throw unknown();
    }
    if (v.is_object()) {
      if (name == "items") { CallArgs none; return call(object_method(v, "items"), none, env); }
      if (name == "length" || name == "count") return Value::integer(int64_t(v.o->size()));
      Value m = object_method(v, name);
      if (m.kind == Kind::kFunction) { CallArgs none; return call(m, none, env); }
      throw unknown();
    }
    if (v.kind == Kind::kBool) {
      if (name == "bool") return v;
      if (name == "int") return Value::integer(v.b);
      if (name == "float") return Value::floating(v.b);
      if (name == "string") return Value::string(v.b ? "true" : "false");
      throw unknown();
    }
    throw cannot();
  }

  // Called filters: name(args).
  if (name == "tojson") {
    CallArgs args = eval_args(node.list, env);
    JsonOptions opt;
    auto kw = [&](const char* k) -> const Value* {
      for (const auto& [n, x] : args.keywords) if (n == k) return &x;
      return nullptr;
    };
    if (const Value* x = kw("indent")) {
      if (x->kind != Kind::kInt && !x->is_null()) throw TemplateError("If set, indent must be a number");
      if (x->kind == Kind::kInt) opt.indent = int(std::clamp<int64_t>(x->i, -1, 64));
      if (opt.indent < 0) opt.indent = 0;
    }
    opt.ensure_ascii = as_bool_arg(kw("ensure_ascii"), false, "If set, ensure_ascii");
    opt.sort_keys = as_bool_arg(kw("sort_keys"), false, "If set, sort_keys");
    if (const Value* x = kw("separators")) {
      if (x->is_array()) {
        if (x->a->size() != 2 || !(*x->a)[0].is_string() || !(*x->a)[1].is_string()) {
          throw TemplateError("separators must be a tuple of two strings");
        }
        opt.has_separators = true;
        opt.item_sep = (*x->a)[0].str();
        opt.key_sep = (*x->a)[1].str();
      } else if (!x->is_null()) {
        throw TemplateError("If set, separators must be a tuple of two strings");
      }
    }
    return checked(to_json_text(v, opt, 0, true));
  }
  if (name == "join") {
    Array items;
    if (v.is_string()) {
      for (auto& c : utf8_chars(v.str())) items.push_back(Value::string(c));
    } else if (v.is_array()) {
      items = *v.a;
    } else {
      throw cannot();
    }
    CallArgs args = eval_args(node.list, env);
    const Value* sep = args.get(0, "separator");
    if (sep && !sep->is_string()) throw TemplateError("separator must be a string");
    std::string s;
    for (size_t k = 0; k < items.size(); ++k) {
      if (k && sep) s += sep->str();
      s += js_string(items[k]);
      check_size(s.size());
    }
    return Value::string(std::move(s));
  }
  if (name == "int" || name == "float") {
    CallArgs args = eval_args(node.list, env);
    const Value* def = args.get(0, "default");
    Value fallback = def ? *def : name == "int" ? Value::integer(0) : Value::floating(0);
    if (v.is_string()) {
      auto d = js_parse(v.str(), name == "int");
      if (!d) return fallback;
      return name == "int" ? Value::integer(int64_t(*d)) : Value::floating(*d);
    }
    if (v.is_number()) return v;
    if (v.kind == Kind::kBool) return name == "int" ? Value::integer(v.b) : Value::floating(v.b);
    throw cannot();
  }
  if (name == "default" || name == "d") {
    CallArgs args = eval_args(node.list, env);
    Value def = args.positional.size() > 0 ? args.positional[0] : Value::string("");
    const Value* flag = args.positional.size() > 1 ? &args.positional[1] : args.get(99, "boolean");
    bool boolean = as_bool_arg(flag, false, "`default` filter flag");
    if (v.is_undefined() || (boolean && !truthy(v))) return def;
    return v;
  }
  if (name == "round" && v.is_number()) {
    CallArgs args = eval_args(node.list, env);
    const Value* p = args.get(0, "precision");
    const Value* m = args.get(1, "method");
    int64_t prec = p && p->kind == Kind::kInt ? p->i : 0;
    std::string method = m && m->is_string() ? m->str() : "common";
    double scale = std::pow(10.0, double(prec)), x = v.number() * scale;
    x = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::round(x);
    return Value::floating(x / scale);
  }
  if (v.is_array()) {
    if (name == "sort") {
      CallArgs args = eval_args(node.list, env);
      bool rev = as_bool_arg(args.get(0, "reverse"), false, "reverse");
      bool cs = as_bool_arg(args.get(1, "case_sensitive"), false, "case_sensitive");
      const Value* attr = args.get(2, "attribute");
      if (attr && !attr->is_string() && attr->kind != Kind::kInt && !attr->is_null()) {
        throw TemplateError("attribute must be a string, integer, or null");
      }
      auto key = [&](const Value& x) {
        if (!attr || attr->is_null()) return x;
        return attribute_path(x, attr->is_string() ? attr->str() : std::to_string(attr->i));
      };
      Array out = *v.a;
      std::stable_sort(out.begin(), out.end(), [&](const Value& x, const Value& y) {
        int r = compare_values(key(x), key(y), cs);
        return (rev ? -r : r) < 0;
      });
      return Value::array(std::move(out));
    }
    if (name == "selectattr" || name == "rejectattr") {
      bool select = name == "selectattr";
      for (const auto& x : *v.a) {
        if (!x.is_object() && x.kind != Kind::kNamespace) {
          throw TemplateError("`" + name + "` can only be applied to array of objects");
        }
      }
      for (const auto& a : node.list) {
        if (a->kind != NodeKind::kString) throw TemplateError("arguments of `" + name + "` must be strings");
      }
      std::vector<Value> args;
      for (const auto& a : node.list) args.push_back(eval(*a, env));
      if (args.empty()) throw TemplateError("`" + name + "` needs an attribute name");
      Array out;
      for (const auto& x : *v.a) {
        const Value* attr = object_find(*x.o, args[0].str());
        bool r = false;
        if (attr) r = args.size() > 1 ? test(*attr, args[1].str(), args.size() > 2 ? &args[2] : nullptr) : truthy(*attr);
        if (r == select) out.push_back(x);
      }
      return Value::array(std::move(out));
    }
    if (name == "map") {
      CallArgs args = eval_args(node.list, env);
      const Value* attr = nullptr;
      const Value* def = nullptr;
      for (const auto& [k, x] : args.keywords) {
        if (k == "attribute") attr = &x;
        if (k == "default") def = &x;
      }
      if (!attr) throw TemplateError("`map` expressions without `attribute` set are not currently supported.");
      if (!attr->is_string()) throw TemplateError("attribute must be a string");
      Array out;
      for (const auto& x : *v.a) {
        if (!x.is_object() && x.kind != Kind::kNamespace) throw TemplateError("items in map must be an object");
        Value r = attribute_path(x, attr->str());
        out.push_back(r.is_undefined() && def ? *def : r);
      }
      return Value::array(std::move(out));
    }
    throw unknown();
  }
  if (v.is_string()) {
    if (name == "indent") {
      CallArgs args = eval_args(node.list, env);
      const Value* w = args.get(0, "width");
      if (w && w->kind != Kind::kInt) throw TemplateError("width must be a number");
      int64_t width = w ? std::clamp<int64_t>(w->i, 0, 1 << 16) : 4;
      const Value* first = args.get(1, "first");
      const Value* blank = args.get(2, "blank");
      bool f = first && truthy(*first), b = blank && truthy(*blank);
      std::string pad(size_t(width), ' '), out;
      const std::string& s = v.str();
      size_t start = 0, line = 0;
      while (true) {
        size_t nl = s.find('\n', start);
        std::string part = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        bool skip = (!f && line == 0) || (!b && part.empty());
        out += (line > 0 ? "\n" : "") + (skip ? part : pad + part);
        check_size(out.size());
        if (nl == std::string::npos) break;
        start = nl + 1;
        ++line;
      }
      return Value::string(std::move(out));
    }
    if (name == "replace") {
      CallArgs args = eval_args(node.list, env);
      return call(string_method(v, "replace"), args, env);
    }
    throw unknown();
  }
  if (v.is_object()) {
    Value m = object_method(v, name);
    if (m.kind == Kind::kFunction) {
      CallArgs args = eval_args(node.list, env);
      return call(m, args, env);
    }
    throw unknown();
  }
  throw cannot();
}

void Interpreter::install_globals(Env& env) {
  env.set("false", Value::boolean(false));
  env.set("true", Value::boolean(true));
  env.set("none", Value::null());
  env.set("True", Value::boolean(true));
  env.set("False", Value::boolean(false));
  env.set("None", Value::null());
  env.set("raise_exception", fn([](CallArgs& args, Interpreter&, const EnvPtr&) -> Value {
            throw TemplateError(args.positional.empty() ? "undefined" : js_string(args.positional[0]));
          }));
  env.set("range", fn([](CallArgs& args, Interpreter& in, const EnvPtr&) {
            std::vector<int64_t> p;
            for (const auto& a : args.positional) {
              if (a.kind != Kind::kInt) throw TemplateError("range() arguments must be integers");
              p.push_back(a.i);
            }
            if (p.empty() || p.size() > 3) throw TemplateError("range() takes 1 to 3 integer arguments");
            int64_t start = p.size() == 1 ? 0 : p[0], stop = p.size() == 1 ? p[0] : p[1];
            int64_t step = p.size() == 3 ? p[2] : 1;
            if (step == 0) throw TemplateError("range() step must not be zero");
            Array out;
            for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
              in.count_iterations(1);
              out.push_back(Value::integer(i));
            }
            return Value::array(std::move(out));
          }));
  env.set("strftime_now", fn([](CallArgs& args, Interpreter&, const EnvPtr&) {
            if (args.positional.empty() || !args.positional[0].is_string()) {
              throw TemplateError("strftime_now() needs a format string");
            }
            static const char* kMonths[] = {"January", "February", "March", "April", "May", "June", "July",
                                            "August", "September", "October", "November", "December"};
            std::time_t now = std::time(nullptr);
            std::tm tm{};
            localtime_r(&now, &tm);
            const std::string& f = args.positional[0].str();
            std::string out;
            char buf[16];
            for (size_t k = 0; k < f.size(); ++k) {
              if (f[k] != '%' || k + 1 >= f.size()) { out += f[k]; continue; }
              char c = f[++k];
              switch (c) {
                case 'Y': out += std::to_string(tm.tm_year + 1900); break;
                case 'm': std::snprintf(buf, sizeof(buf), "%02d", tm.tm_mon + 1); out += buf; break;
                case 'd': std::snprintf(buf, sizeof(buf), "%02d", tm.tm_mday); out += buf; break;
                case 'H': std::snprintf(buf, sizeof(buf), "%02d", tm.tm_hour); out += buf; break;
                case 'M': std::snprintf(buf, sizeof(buf), "%02d", tm.tm_min); out += buf; break;
                case 'B': out += kMonths[tm.tm_mon]; break;
                case 'b': out += std::string(kMonths[tm.tm_mon]).substr(0, 3); break;
                case '%': out += '%'; break;
                default: out += '%'; out += c; break;
              }
            }
            return Value::string(std::move(out));
          }));
  env.set("namespace", fn([](CallArgs& args, Interpreter&, const EnvPtr&) {
            if (args.positional.size() > 1) {
              throw TemplateError("namespace expected at most 1 argument, got " + std::to_string(args.positional.size()));
            }
            Object entries;
            if (args.positional.size() == 1) {
              const Value& src = args.positional[0];
              if (src.is_object()) {
                entries = *src.o;
              } else if (src.is_array()) {
                for (const auto& pair : *src.a) {
                  if (!pair.is_array() || pair.a->size() != 2) {
                    throw TemplateError("namespace expected an object or an iterable of [key, value] pairs");
                  }
                  if (!(*pair.a)[0].is_string()) throw TemplateError("namespace keys must be strings");
                  object_set(entries, (*pair.a)[0].str(), (*pair.a)[1]);
                }
              } else {
                throw TemplateError(std::string("'") + kind_name(src.kind) + "' object is not iterable");
              }
            }
            for (const auto& [k, v] : args.keywords) object_set(entries, k, v);
            return Value::object(std::move(entries), Kind::kNamespace);
          }));
  // Jinja's dict(); the reference has none.
  env.set("dict", fn([](CallArgs& args, Interpreter&, const EnvPtr&) {
            Object o;
            if (!args.positional.empty()) {
              if (!args.positional[0].is_object()) throw TemplateError("dict() expects a mapping");
              o = *args.positional[0].o;
            }
            for (const auto& [k, v] : args.keywords) object_set(o, k, v);
            return Value::object(std::move(o));
          }));
}

}  // namespace moelab::tmpl
