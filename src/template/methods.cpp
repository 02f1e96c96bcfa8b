// String and dict methods (s.upper(), d.items(), ...), with the reference
// renderer's argument rules.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "template/builtin_helpers.h"

namespace moelab::tmpl {

Value string_method(const Value& sv, const std::string& name) {
  std::string s = sv.str();
  if (name == "length") return Value::integer(int64_t(utf16_length(s)));
  if (name == "upper") return fn([s](CallArgs&, Interpreter&, const EnvPtr&) { return Value::string(ascii_map(s, ::toupper)); });
  if (name == "lower") return fn([s](CallArgs&, Interpreter&, const EnvPtr&) { return Value::string(ascii_map(s, ::tolower)); });
  // Like the reference, strip/lstrip/rstrip ignore a characters argument and remove
  // whitespace.
  if (name == "strip") return fn([s](CallArgs&, Interpreter&, const EnvPtr&) { return Value::string(js_trim(s, true, true)); });
  if (name == "lstrip") return fn([s](CallArgs&, Interpreter&, const EnvPtr&) { return Value::string(js_trim(s, true, false)); });
  if (name == "rstrip") return fn([s](CallArgs&, Interpreter&, const EnvPtr&) { return Value::string(js_trim(s, false, true)); });
  if (name == "title") return fn([s](CallArgs&, Interpreter&, const EnvPtr&) { return Value::string(title_case(s)); });
  if (name == "capitalize") {
    return fn([s](CallArgs&, Interpreter&, const EnvPtr&) {
      std::string t = s;
      if (!t.empty()) t[0] = char(std::toupper(static_cast<unsigned char>(t[0])));
      return Value::string(t);
    });
  }
  if (name == "startswith" || name == "endswith") {
    bool start = name == "startswith";
    return fn([s, start, name](CallArgs& args, Interpreter&, const EnvPtr&) {
      if (args.positional.empty()) throw TemplateError(name + "() requires at least one argument");
      auto match = [&](const std::string& p) {
        return p.size() <= s.size() && (start ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0);
      };
      const Value& p = args.positional[0];
      if (p.is_string()) return Value::boolean(match(p.str()));
      if (p.is_array()) {
        for (const auto& x : *p.a) {
          if (!x.is_string()) throw TemplateError(name + "() tuple elements must be strings");
          if (match(x.str())) return Value::boolean(true);
        }
        return Value::boolean(false);
      }
      throw TemplateError(name + "() argument must be a string or tuple of strings");
    });
  }
  if (name == "split") {
    return fn([s](CallArgs& args, Interpreter&, const EnvPtr&) {
      Value sep = args.positional.size() > 0 ? args.positional[0] : Value::null();
      Value maxv = args.positional.size() > 1 ? args.positional[1] : Value::integer(-1);
      if (!sep.is_string() && !sep.is_null()) throw TemplateError("sep argument must be a string or null");
      if (maxv.kind != Kind::kInt) throw TemplateError("maxsplit argument must be a number");
      int64_t max = maxv.i;
      Array out;
      if (sep.is_null()) {
        std::string t = js_trim(s, true, false);
        size_t k = 0;
        while (k < t.size()) {
          size_t e = k;
          while (e < t.size() && !std::isspace(static_cast<unsigned char>(t[e]))) ++e;
          if (max != -1 && int64_t(out.size()) >= max) { out.push_back(Value::string(t.substr(k))); break; }
          out.push_back(Value::string(t.substr(k, e - k)));
          k = e;
          while (k < t.size() && std::isspace(static_cast<unsigned char>(t[k]))) ++k;
        }
        return Value::array(std::move(out));
      }
      const std::string& d = sep.str();
      if (d.empty()) throw TemplateError("empty separator");
      size_t pos = 0;
      while (true) {
        size_t hit = s.find(d, pos);
        if (hit == std::string::npos || (max != -1 && int64_t(out.size()) >= max)) {
          out.push_back(Value::string(s.substr(pos)));
          break;
        }
        out.push_back(Value::string(s.substr(pos, hit - pos)));
        pos = hit + d.size();
      }
      return Value::array(std::move(out));
    });
  }
  if (name == "replace") {
    return fn([s](CallArgs& args, Interpreter& in, const EnvPtr&) {
      if (args.positional.size() + args.keywords.size() < 2 || args.positional.size() < 2) {
        throw TemplateError("replace() requires at least two arguments");
      }
      const Value &from = args.positional[0], &to = args.positional[1];
      if (!from.is_string() || !to.is_string()) throw TemplateError("replace() arguments must be strings");
      const Value* count = args.get(2, "count");
      if (count && count->kind != Kind::kInt && !count->is_null()) {
        throw TemplateError("replace() count argument must be a number or null");
      }
      std::string r = replace_all(s, from.str(), to.str(), count && count->kind == Kind::kInt ? count->i : -1);
      in.check_size(r.size());
      return Value::string(std::move(r));
    });
  }
  return Value::undefined();
}

Value object_method(const Value& ov, const std::string& name) {
  auto o = ov.o;
  if (name == "get") {
    return fn([o](CallArgs& args, Interpreter&, const EnvPtr&) {
      Value key = args.positional.size() > 0 ? args.positional[0] : Value::undefined();
      if (!key.is_string()) throw TemplateError(std::string("Object key must be a string: got ") + kind_name(key.kind));
      if (const Value* v = object_find(*o, key.str())) return *v;
      if (args.positional.size() > 1) return args.positional[1];
      if (!args.keywords.empty()) {
        Object kw(args.keywords.begin(), args.keywords.end());
        return Value::object(std::move(kw));
      }
      return Value::null();
    });
  }
  if (name == "items" || name == "keys" || name == "values") {
    return fn([o, name](CallArgs&, Interpreter&, const EnvPtr&) {
      Array out;
      for (const auto& [k, v] : *o) {
        if (name == "items") out.push_back(Value::array({Value::string(k), v}));
        else out.push_back(name == "keys" ? Value::string(k) : v);
      }
      return Value::array(std::move(out));
    });
  }
  if (name == "dictsort") {
    return fn([o](CallArgs& args, Interpreter&, const EnvPtr&) {
      bool cs = as_bool_arg(args.get(0, "case_sensitive"), false, "case_sensitive");
      const Value* by = args.get(1, "by");
      if (by && !by->is_string()) throw TemplateError("by must be a string");
      std::string by_s = by ? by->str() : "key";
      if (by_s != "key" && by_s != "value") throw TemplateError("by must be either 'key' or 'value'");
      bool rev = as_bool_arg(args.get(2, "reverse"), false, "reverse");
      Array items;
      for (const auto& [k, v] : *o) items.push_back(Value::array({Value::string(k), v}));
      size_t idx = by_s == "key" ? 0 : 1;
      std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
        int r = compare_values((*a.a)[idx], (*b.a)[idx], cs);
        return (rev ? -r : r) < 0;
      });
      return Value::array(std::move(items));
    });
  }
  return Value::undefined();
}

}  // namespace moelab::tmpl
