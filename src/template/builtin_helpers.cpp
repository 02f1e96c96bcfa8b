// Small helpers of the template built-ins (see builtin_helpers.h).
#include "template/builtin_helpers.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace moelab::tmpl {

std::string ascii_map(std::string s, int (*f)(int)) {
  for (auto& c : s) if (static_cast<unsigned char>(c) < 0x80) c = char(f(static_cast<unsigned char>(c)));
  return s;
}
bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
std::string title_case(std::string s) {
  for (size_t k = 0; k < s.size(); ++k) {
    if (is_word(s[k]) && (k == 0 || !is_word(s[k - 1]))) s[k] = char(std::toupper(static_cast<unsigned char>(s[k])));
  }
  return s;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  if (count == 0) return s;
  std::string out;
  int64_t left = count < 0 ? INT64_MAX : count;
  if (from.empty()) {
    auto chars = utf8_chars(s);
    for (size_t k = 0; k <= chars.size(); ++k) {
      if (left > 0) { out += to; --left; }
      if (k < chars.size()) out += chars[k];
    }
    return out;
  }
  size_t pos = 0;
  while (left > 0) {
    size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += to;
    pos = hit + from.size();
    --left;
  }
  return out + s.substr(pos);
}

Value fn(Function f) { return Value::function(std::move(f)); }

int compare_values(const Value& a, const Value& b, bool case_sensitive) {
  if (a.is_null() && b.is_null()) return 0;
  if (a.is_null() || b.is_null() || a.is_undefined() != b.is_undefined()) {
    throw TemplateError(std::string("Cannot compare ") + kind_name(a.kind) + " with " + kind_name(b.kind));
  }
  if (a.is_undefined()) return 0;
  auto numeric = [](const Value& v) { return v.is_number() || v.kind == Kind::kBool; };
  if (numeric(a) && numeric(b)) return a.number() < b.number() ? -1 : a.number() > b.number() ? 1 : 0;
  if (a.kind != b.kind) {
    throw TemplateError(std::string("Cannot compare different types: ") + kind_name(a.kind) + " and " + kind_name(b.kind));
  }
  if (!a.is_string()) throw TemplateError(std::string("Cannot compare type: ") + kind_name(a.kind));
  std::string x = a.str(), y = b.str();
  if (!case_sensitive) { x = ascii_map(x, ::tolower); y = ascii_map(y, ::tolower); }
  return x < y ? -1 : x > y ? 1 : 0;
}

Value attribute_path(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (v.is_object() || v.kind == Kind::kNamespace) {
      const Value* x = object_find(*v.o, part);
      v = x ? *x : Value::undefined();
    } else if (v.is_array()) {
      char* end = nullptr;
      long long k = std::strtoll(part.c_str(), &end, 10);
      if (end == part.c_str() || k < 0 || k >= (long long)v.a->size()) return Value::undefined();
      v = (*v.a)[size_t(k)];
    } else {
      return Value::undefined();
    }
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

// JavaScript's parseInt(s, 10) / parseFloat(s): the longest numeric prefix, else NaN.
std::optional<double> js_parse(const std::string& s, bool integer) {
  std::string t = js_trim(s, true, false);
  size_t k = 0;
  if (k < t.size() && (t[k] == '+' || t[k] == '-')) ++k;
  size_t digits = k;
  while (k < t.size() && std::isdigit(static_cast<unsigned char>(t[k]))) ++k;
  if (integer) {
    if (k == digits) return std::nullopt;
    return std::trunc(std::strtod(t.substr(0, k).c_str(), nullptr));
  }
  if (t.compare(digits, 8, "Infinity") == 0) return t[0] == '-' ? -INFINITY : INFINITY;
  char* end = nullptr;
  double d = std::strtod(t.c_str(), &end);
  if (end == t.c_str() || t.compare(0, 2, "0x") == 0 || t.compare(digits, 2, "0x") == 0) {
    if (k == digits) return std::nullopt;
    return std::strtod(t.substr(0, k).c_str(), nullptr);
  }
  return d;
}

bool as_bool_arg(const Value* v, bool fallback, const char* what) {
  if (!v) return fallback;
  if (v->kind != Kind::kBool) throw TemplateError(std::string(what) + " must be a boolean");
  return v->b;
}

}  // namespace moelab::tmpl
