// Tokens -> syntax tree, with the grammar and operator precedence of the reference
// renderer. Throws TemplateError with the offset of the offending token. Stateless.
#pragma once

#include <vector>

#include "template/ast.h"
#include "template/lexer.h"

namespace moelab::tmpl {

// `max_depth` bounds nesting of blocks and expressions, so hostile input cannot exhaust
// the stack. The returned node is a kOutput-free list holder: its `body` is the program.
NodePtr parse(const std::vector<Token>& tokens, int max_depth);

}  // namespace moelab::tmpl
