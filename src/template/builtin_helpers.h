// Helpers shared by the built-in methods (methods.cpp) and filters, tests and
// globals (filters.cpp) of the template interpreter. Internal to src/template.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "template/interpreter.h"

namespace moelab::tmpl {

// Applies f (toupper/tolower) to ASCII letters only, as the reference renderer does for our inputs.
std::string ascii_map(std::string s, int (*f)(int));
bool is_word(char c);
std::string title_case(std::string s);
// Python's str.replace(from, to, count); count < 0 replaces all.
std::string replace_all(const std::string& s, const std::string& from, const std::string& to, int64_t count);
Value fn(Function f);
// Ordering of sort/min/max/dictsort: numbers, then strings (optionally case-folded).
int compare_values(const Value& a, const Value& b, bool case_sensitive);
// item["a"]["b"] for the attribute path "a.b" (undefined when missing).
Value attribute_path(const Value& item, const std::string& path);
// JavaScript-style number parsing used by the int/float filters.
std::optional<double> js_parse(const std::string& s, bool integer);
// A boolean keyword argument, or `fallback` when absent; `what` names it in errors.
bool as_bool_arg(const Value* v, bool fallback, const char* what);

}  // namespace moelab::tmpl
