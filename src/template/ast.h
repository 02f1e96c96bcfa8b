// Syntax tree of a template. One node type with a kind tag keeps the parser and the
// interpreter short; each kind documents which slots it uses. Owned by its parent
// (the root by the caller of parse()); immutable after parsing, so safe to share.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace moelab::tmpl {

enum class NodeKind {
  // Expressions.
  kInt,          // ival
  kFloat,        // fval
  kString,       // text
  kIdent,        // text
  kArray,        // list
  kTuple,        // list
  kObject,       // list of key, value pairs (even: key, odd: value)
  kMember,       // a: object, b: property, flag: computed ([...])
  kSlice,        // a, b, c: start, stop, step (each may be null)
  kCall,         // a: callee, list: arguments
  kUnary,        // text: operator, a: operand
  kBinary,       // text: operator, a, b
  kFilter,       // a: operand, text: filter name, list: arguments, flag: called with (...)
  kTest,         // a: operand, text: test name, flag: negated
  kSelect,       // a: value, b: condition (`x if c` without else)
  kTernary,      // a: condition, b: if true, c: if false
  kKwArg,        // text: name, a: value
  kSpread,       // a: *value
  kKwSpread,     // a: **value
  // Statements.
  kText,         // text
  kOutput,       // a: expression printed by {{ }}
  kComment,
  kSet,          // a: target, b: value or null (then body is the block)
  kIf,           // a: test, body, alt
  kFor,          // a: loop variable(s), b: iterable (maybe kSelect), body, alt (else)
  kMacro,        // text: name, list: parameters, body
  kCallBlock,    // a: kCall node, list: caller parameters, body
  kFilterBlock,  // a: kFilter-like node with null operand, body
  kBreak,
  kContinue,
};

struct Node;
using NodePtr = std::unique_ptr<Node>;

struct Node {
  NodeKind kind;
  int64_t offset = -1;  // byte offset in the source, for error messages
  std::string text;
  int64_t ival = 0;
  double fval = 0;
  bool flag = false;
  NodePtr a, b, c;
  std::vector<NodePtr> list;
  std::vector<NodePtr> body, alt;
};

}  // namespace moelab::tmpl
