// Template source -> tokens, the way the reference renderer lexes it: Hugging Face's
// trim_blocks + lstrip_blocks preprocessing, `-` whitespace control, and the `generation`
// tag of transformers removed. Every token remembers its byte offset in the original
// source so that errors can name a line and column. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace moelab::tmpl {

enum class Tok {
  kText, kNumber, kString, kIdent, kEquals, kOpenParen, kCloseParen, kOpenStatement,
  kCloseStatement, kOpenExpression, kCloseExpression, kOpenBracket, kCloseBracket, kOpenCurly,
  kCloseCurly, kComma, kDot, kColon, kPipe, kAdditive, kMultiplicative, kPower, kComparison,
  kUnary, kComment
};

struct Token {
  Tok type;
  std::string value;
  int64_t offset;  // byte offset in the original source
};

// Throws TemplateError (with offset) on malformed input.
std::vector<Token> tokenize(const std::string& source);

// 1-based "line L, column C" of a byte offset (columns count bytes).
std::string describe_offset(const std::string& source, int64_t offset);

}  // namespace moelab::tmpl
