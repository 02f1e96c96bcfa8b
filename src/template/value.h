// Runtime values of the chat-template engine. Semantics follow the reference renderer
// (@huggingface/jinja): containers are shared by reference like JavaScript objects, so a
// namespace or list mutated through one name is seen through every other.
// Not thread-safe: one render owns its values; nothing here is shared across renders.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace moelab::tmpl {

// Internal error of a render, converted to a Status at the API boundary. `offset` is the
// byte offset in the template source, or -1 until the innermost node that sees it fills it.
struct TemplateError : std::runtime_error {
  explicit TemplateError(const std::string& what, int64_t off = -1)
      : std::runtime_error(what), offset(off) {}
  int64_t offset;
};

struct Value;
using Array = std::vector<Value>;
// Insertion-ordered map; chat-template objects are small, so linear lookup is fine.
using Object = std::vector<std::pair<std::string, Value>>;
struct CallArgs;
class Interpreter;
struct Env;
// Callables get the environment of their call site: the reference scopes macros
// dynamically, so a macro body sees the caller's variables.
using Function = std::function<Value(CallArgs&, Interpreter&, const std::shared_ptr<Env>&)>;

enum class Kind { kUndefined, kNull, kBool, kInt, kFloat, kString, kArray, kObject, kNamespace, kFunction };

struct Value {
  Kind kind = Kind::kUndefined;
  bool b = false;
  bool tuple = false;  // kArray made by a tuple literal: the reference cannot print those
  int64_t i = 0;
  double f = 0;
  std::shared_ptr<std::string> s;   // kString (immutable once made)
  std::shared_ptr<Array> a;         // kArray
  std::shared_ptr<Object> o;        // kObject, kNamespace
  std::shared_ptr<Function> fn;     // kFunction

  static Value undefined() { return Value(); }
  static Value null() { Value v; v.kind = Kind::kNull; return v; }
  static Value boolean(bool x) { Value v; v.kind = Kind::kBool; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.kind = Kind::kInt; v.i = x; return v; }
  static Value floating(double x) { Value v; v.kind = Kind::kFloat; v.f = x; return v; }
  static Value string(std::string x) {
    Value v; v.kind = Kind::kString; v.s = std::make_shared<std::string>(std::move(x)); return v;
  }
  static Value array(Array x = {}) {
    Value v; v.kind = Kind::kArray; v.a = std::make_shared<Array>(std::move(x)); return v;
  }
  static Value object(Object x = {}, Kind k = Kind::kObject) {
    Value v; v.kind = k; v.o = std::make_shared<Object>(std::move(x)); return v;
  }
  static Value function(Function x) {
    Value v; v.kind = Kind::kFunction; v.fn = std::make_shared<Function>(std::move(x)); return v;
  }

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_null() const { return kind == Kind::kNull; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_array() const { return kind == Kind::kArray; }
  bool is_object() const { return kind == Kind::kObject; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat; }
  const std::string& str() const { return *s; }
  double number() const { return kind == Kind::kFloat ? f : kind == Kind::kInt ? double(i) : b; }
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
  // Positional `index`, else keyword `name`, else nullptr.
  const Value* get(size_t index, const std::string& name) const;
};

// The type name the reference uses in its messages ("StringValue", ...).
const char* kind_name(Kind kind);
// Python-like truthiness as the reference computes it.
bool truthy(const Value& v);
// Entry `key` of an object or namespace, or nullptr.
const Value* object_find(const Object& o, const std::string& key);
void object_set(Object& o, const std::string& key, Value v);

// Text of a value where the template prints it ({{ x }}, the string filter).
std::string to_display(const Value& v);
// Text of a value inside `~`, `+` and join: JavaScript's String(value) of the raw value,
// so floats print as "1" and lists as "1,2".
std::string js_string(const Value& v);
// JavaScript's Number#toString, which the reference prints numbers with.
std::string js_number(double x);
std::string float_display(double x);

struct JsonOptions {
  int indent = 0;  // 0: one line
  bool ensure_ascii = false;
  bool sort_keys = false;
  bool has_separators = false;
  std::string item_sep, key_sep;
};
// tojson as the reference writes it (JSON.stringify escapes, Python-like separators).
std::string to_json_text(const Value& v, const JsonOptions& opt, int depth, bool undefined_as_null);
std::string json_quote(const std::string& s, bool ensure_ascii);

// Context data in; object keys that look like array indices move first, as JavaScript's
// Object.entries orders them, so iteration order matches the reference.
Value from_json(const nlohmann::ordered_json& j);

// Loose equality (`==`) and strict membership equality (`in`, unique) of the reference.
bool loose_equal(const Value& a, const Value& b);
bool strict_equal(const Value& a, const Value& b);

// UTF-8 helpers: code points, JavaScript whitespace, UTF-16 length.
std::vector<std::string> utf8_chars(const std::string& s);
size_t utf16_length(const std::string& s);
std::string js_trim(const std::string& s, bool left, bool right);

}  // namespace moelab::tmpl
