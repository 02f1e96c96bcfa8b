// Value semantics of the reference renderer: JavaScript number printing, JSON.stringify
// escapes, loose and strict equality, and JavaScript's idea of whitespace.
#include "template/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace moelab::tmpl {

const Value* CallArgs::get(size_t index, const std::string& name) const {
  if (index < positional.size()) return &positional[index];
  for (const auto& [k, v] : keywords) {
    if (k == name) return &v;
  }
  return nullptr;
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kUndefined: return "UndefinedValue";
    case Kind::kNull: return "NullValue";
    case Kind::kBool: return "BooleanValue";
    case Kind::kInt: return "IntegerValue";
    case Kind::kFloat: return "FloatValue";
    case Kind::kString: return "StringValue";
    case Kind::kArray: return "ArrayValue";
    case Kind::kObject: return "ObjectValue";
    case Kind::kNamespace: return "NamespaceValue";
    case Kind::kFunction: return "FunctionValue";
  }
  return "?";
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined:
    case Kind::kNull: return false;
    case Kind::kBool: return v.b;
    case Kind::kInt: return v.i != 0;
    case Kind::kFloat: return v.f != 0 && !std::isnan(v.f);
    case Kind::kString: return !v.s->empty();
    case Kind::kArray: return !v.a->empty();
    case Kind::kObject: return !v.o->empty();
    case Kind::kNamespace:
    case Kind::kFunction: return true;
  }
  return false;
}

const Value* object_find(const Object& o, const std::string& key) {
  for (const auto& [k, v] : o) {
    if (k == key) return &v;
  }
  return nullptr;
}

void object_set(Object& o, const std::string& key, Value v) {
  for (auto& [k, old] : o) {
    if (k == key) { old = std::move(v); return; }
  }
  o.emplace_back(key, std::move(v));
}

std::string js_number(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x == 0) return "0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), x, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') { sign = "-"; sci.erase(0, 1); }
  size_t e = sci.find('e');
  std::string digits;
  for (size_t k = 0; k < e; ++k) if (sci[k] != '.') digits += sci[k];
  int exp10 = std::stoi(sci.substr(e + 1));
  int n = exp10 + 1;
  int k = int(digits.size());
  std::string out;
  if (k <= n && n <= 21) {
    out = digits + std::string(n - k, '0');
  } else if (0 < n && n <= 21) {
    out = digits.substr(0, n) + "." + digits.substr(n);
  } else if (-6 < n && n <= 0) {
    out = "0." + std::string(-n, '0') + digits;
  } else {
    out = digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += (n - 1 >= 0 ? "e+" : "e-") + std::to_string(std::abs(n - 1));
  }
  return sign + out;
}

std::string float_display(double x) {
  if (x == 0 && std::signbit(x)) return "-0.0";
  if (std::isfinite(x) && std::fmod(x, 1.0) == 0) {
    if (std::fabs(x) >= 1e21) return js_number(x);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.1f", x);
    return buf;
  }
  return js_number(x);
}

std::string to_display(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined: return "undefined";
    case Kind::kNull: return "null";
    case Kind::kBool: return v.b ? "true" : "false";
    case Kind::kInt: return std::to_string(v.i);
    case Kind::kFloat: return float_display(v.f);
    case Kind::kString: return *v.s;
    case Kind::kArray:
    case Kind::kObject:
    case Kind::kNamespace: return to_json_text(v, {}, 0, false);
    case Kind::kFunction: throw TemplateError("cannot print a function");
  }
  return "";
}

std::string js_string(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined:
    case Kind::kNull: return "";
    case Kind::kFloat: return js_number(v.f);
    case Kind::kArray: {
      std::string out;
      for (size_t k = 0; k < v.a->size(); ++k) out += (k ? "," : "") + to_display((*v.a)[k]);
      return out;
    }
    case Kind::kObject:
    case Kind::kNamespace: return "[object Map]";
    default: return to_display(v);
  }
}

static void append_utf8_cp(const std::string& s, size_t& pos, uint32_t& cp) {
  unsigned char c = s[pos];
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (pos + len > s.size()) len = 1;
  cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
  for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[pos + k]) & 0x3f);
  pos += len;
}

std::string json_quote(const std::string& s, bool ensure_ascii) {
  std::string out = "\"";
  size_t pos = 0;
  char buf[16];
  while (pos < s.size()) {
    size_t start = pos;
    uint32_t cp;
    append_utf8_cp(s, pos, cp);
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    if (cp < 0x20) {
      std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      out += buf;
    } else if (ensure_ascii && cp >= 0x7f) {
      if (cp >= 0x10000) {
        uint32_t u = cp - 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xd800 + (u >> 10), 0xdc00 + (u & 0x3ff));
      } else {
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      }
      out += buf;
    } else {
      out.append(s, start, pos - start);
    }
  }
  return out + "\"";
}

static bool locale_less(const std::string& a, const std::string& b) {
  std::string la = a, lb = b;
  for (auto& c : la) c = char(std::tolower(static_cast<unsigned char>(c)));
  for (auto& c : lb) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (la != lb) return la < lb;
  return a > b;  // lower case sorts before upper case in a locale collation
}

std::string to_json_text(const Value& v, const JsonOptions& opt, int depth,
                         bool undefined_as_null) {
  std::string item_sep = opt.has_separators ? opt.item_sep : opt.indent ? "," : ", ";
  std::string key_sep = opt.has_separators ? opt.key_sep : ": ";
  switch (v.kind) {
    case Kind::kNull: return "null";
    case Kind::kUndefined: return undefined_as_null ? "null" : "undefined";
    case Kind::kBool: return v.b ? "true" : "false";
    case Kind::kInt: return std::to_string(v.i);
    case Kind::kFloat: return std::isfinite(v.f) ? js_number(v.f) : "null";
    case Kind::kString: return json_quote(*v.s, opt.ensure_ascii);
    case Kind::kFunction: throw TemplateError("Cannot convert to JSON: FunctionValue");
    default: break;
  }
  if (v.tuple) throw TemplateError("Cannot convert to JSON: TupleValue");
  if (depth > 512) throw TemplateError("tojson: nesting too deep");
  std::string unit(opt.indent > 0 ? opt.indent : 0, ' ');
  std::string base = "\n";
  for (int d = 0; d < depth; ++d) base += unit;
  std::string child = base + unit;
  std::vector<std::string> core;
  if (v.kind == Kind::kArray) {
    for (const auto& x : *v.a) core.push_back(to_json_text(x, opt, depth + 1, undefined_as_null));
    std::string out = "[";
    if (opt.indent && !core.empty()) {
      out += child;
      for (size_t k = 0; k < core.size(); ++k) out += (k ? item_sep + child : "") + core[k];
      return out + base + "]";
    }
    for (size_t k = 0; k < core.size(); ++k) out += (k ? item_sep : "") + core[k];
    return out + "]";
  }
  std::vector<const std::pair<std::string, Value>*> entries;
  for (const auto& e : *v.o) entries.push_back(&e);
  if (opt.sort_keys) {
    std::stable_sort(entries.begin(), entries.end(),
                     [](auto* x, auto* y) { return locale_less(x->first, y->first); });
  }
  std::string out = "{";
  for (size_t k = 0; k < entries.size(); ++k) {
    std::string e = json_quote(entries[k]->first, opt.ensure_ascii) + key_sep +
                    to_json_text(entries[k]->second, opt, depth + 1, undefined_as_null);
    out += (k ? item_sep : "") + (opt.indent ? child : "") + e;
  }
  if (opt.indent && !entries.empty()) out += base;
  return out + "}";
}

static bool is_array_index(const std::string& k, uint64_t& n) {
  if (k.empty() || k.size() > 10 || (k.size() > 1 && k[0] == '0')) return false;
  n = 0;
  for (char c : k) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + uint64_t(c - '0');
  }
  return n < 4294967295ull;
}

Value from_json(const nlohmann::ordered_json& j) {
  using T = nlohmann::ordered_json::value_t;
  switch (j.type()) {
    case T::null: return Value::null();
    case T::boolean: return Value::boolean(j.get<bool>());
    case T::number_integer: return Value::integer(j.get<int64_t>());
    case T::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      return u <= uint64_t(INT64_MAX) ? Value::integer(int64_t(u)) : Value::floating(double(u));
    }
    case T::number_float: {
      // JSON has one number type; the reference calls every integral one an integer.
      double d = j.get<double>();
      if (std::isfinite(d) && std::fmod(d, 1.0) == 0 && std::fabs(d) < 9.2e18) {
        return Value::integer(int64_t(d));
      }
      return Value::floating(d);
    }
    case T::string: return Value::string(j.get<std::string>());
    case T::array: {
      Array a;
      for (const auto& x : j) a.push_back(from_json(x));
      return Value::array(std::move(a));
    }
    case T::object: {
      std::vector<std::pair<uint64_t, std::string>> indices;
      Object o;
      for (auto it = j.begin(); it != j.end(); ++it) {
        uint64_t n;
        if (is_array_index(it.key(), n)) indices.emplace_back(n, it.key());
      }
      std::sort(indices.begin(), indices.end());
      for (const auto& [n, k] : indices) o.emplace_back(k, from_json(j.at(k)));
      for (auto it = j.begin(); it != j.end(); ++it) {
        uint64_t n;
        if (!is_array_index(it.key(), n)) o.emplace_back(it.key(), from_json(it.value()));
      }
      return Value::object(std::move(o));
    }
    default: return Value::undefined();
  }
}

static double js_to_number(const std::string& s) {
  std::string t = js_trim(s, true, true);
  if (t.empty()) return 0;
  char* end = nullptr;
  double d = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return NAN;
  return d;
}

bool strict_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.number() == b.number();
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kUndefined:
    case Kind::kNull: return true;
    case Kind::kBool: return a.b == b.b;
    case Kind::kString: return *a.s == *b.s;
    case Kind::kArray: return a.a == b.a;
    case Kind::kObject:
    case Kind::kNamespace: return a.o == b.o;
    case Kind::kFunction: return a.fn == b.fn;
    default: return false;
  }
}

bool loose_equal(const Value& a, const Value& b) {
  auto nullish = [](const Value& v) { return v.is_null() || v.is_undefined(); };
  if (nullish(a) || nullish(b)) return nullish(a) && nullish(b);
  auto primitive = [](const Value& v) {
    return v.is_number() || v.is_string() || v.kind == Kind::kBool;
  };
  if (primitive(a) && primitive(b)) {
    if (a.is_string() && b.is_string()) return *a.s == *b.s;
    double x = a.is_string() ? js_to_number(*a.s) : a.number();
    double y = b.is_string() ? js_to_number(*b.s) : b.number();
    return x == y;
  }
  return strict_equal(a, b);
}

std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t start = pos;
    uint32_t cp;
    append_utf8_cp(s, pos, cp);
    out.push_back(s.substr(start, pos - start));
  }
  return out;
}

size_t utf16_length(const std::string& s) {
  size_t n = 0, pos = 0;
  while (pos < s.size()) {
    uint32_t cp;
    append_utf8_cp(s, pos, cp);
    n += cp >= 0x10000 ? 2 : 1;
  }
  return n;
}

static bool js_space(uint32_t cp) {
  return (cp >= 9 && cp <= 13) || cp == 32 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
         cp == 0x205f || cp == 0x3000 || cp == 0xfeff;
}

std::string js_trim(const std::string& s, bool left, bool right) {
  size_t begin = 0, end = s.size();
  if (left) {
    while (begin < end) {
      size_t pos = begin;
      uint32_t cp;
      append_utf8_cp(s, pos, cp);
      if (!js_space(cp)) break;
      begin = pos;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) --start;
      size_t pos = start;
      uint32_t cp;
      append_utf8_cp(s, pos, cp);
      if (!js_space(cp)) break;
      end = start;
    }
  }
  return s.substr(begin, end - begin);
}

}  // namespace moelab::tmpl
