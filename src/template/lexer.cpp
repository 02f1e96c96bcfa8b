// The preprocessing passes run on text that carries, per byte, its offset in the original
// source, so error positions survive the characters they remove.
#include "template/lexer.h"

#include <cstring>

#include "template/value.h"

namespace moelab::tmpl {
namespace {

struct Mapped {
  std::string s;
  std::vector<int64_t> origin;  // [s.size() + 1]
  void push(char c, int64_t o) { s += c; origin.insert(origin.end() - 1, o); }
};

bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

Mapped preprocess(const std::string& source) {
  Mapped in;
  in.s = source;
  in.origin.resize(source.size() + 1);
  for (size_t k = 0; k <= source.size(); ++k) in.origin[k] = int64_t(k);
  if (!in.s.empty() && in.s.back() == '\n') {
    in.s.pop_back();
    in.origin.erase(in.origin.end() - 2);
  }
  auto starts = [](const Mapped& m, size_t k, const char* lit) {
    return m.s.compare(k, std::strlen(lit), lit) == 0;
  };
  // lstrip_blocks: spaces and tabs from a line start up to "{%", "{#" or "{-".
  Mapped a;
  a.origin.push_back(in.origin.back());
  for (size_t k = 0; k < in.s.size();) {
    bool line_start = k == 0 || in.s[k - 1] == '\n' || in.s[k - 1] == '\r';
    if (line_start) {
      size_t j = k;
      while (j < in.s.size() && (in.s[j] == ' ' || in.s[j] == '\t')) ++j;
      if (j > k && j + 1 < in.s.size() && in.s[j] == '{' &&
          (in.s[j + 1] == '#' || in.s[j + 1] == '%' || in.s[j + 1] == '-')) {
        k = j;
      }
    }
    a.push(in.s[k], in.origin[k]);
    ++k;
  }
  // trim_blocks: the newline right after "%}", "#}" or "-}".
  Mapped b;
  b.origin.push_back(a.origin.back());
  for (size_t k = 0; k < a.s.size(); ++k) {
    b.push(a.s[k], a.origin[k]);
    if (k >= 1 && a.s[k] == '}' && (a.s[k - 1] == '#' || a.s[k - 1] == '%' || a.s[k - 1] == '-') &&
        k + 1 < a.s.size() && a.s[k + 1] == '\n') {
      ++k;
    }
  }
  // transformers' {% generation %} / {% endgeneration %} markers vanish.
  Mapped c;
  c.origin.push_back(b.origin.back());
  for (size_t k = 0; k < b.s.size();) {
    size_t ws = k;
    while (ws < b.s.size() && is_space(b.s[ws])) ++ws;
    if (starts(b, ws, "{%")) {
      size_t j = ws + 2;
      bool lstrip = j < b.s.size() && b.s[j] == '-';
      if (lstrip) ++j;
      while (j < b.s.size() && is_space(b.s[j])) ++j;
      if (starts(b, j, "end")) j += 3;
      if (starts(b, j, "generation")) {
        j += 10;
        while (j < b.s.size() && is_space(b.s[j])) ++j;
        bool rstrip = j < b.s.size() && b.s[j] == '-';
        if (rstrip) ++j;
        if (starts(b, j, "%}")) {
          j += 2;
          size_t after = j;
          while (after < b.s.size() && is_space(b.s[after])) ++after;
          if (!lstrip) for (size_t q = k; q < ws; ++q) c.push(b.s[q], b.origin[q]);
          if (!rstrip) for (size_t q = j; q < after; ++q) c.push(b.s[q], b.origin[q]);
          k = after;
          continue;
        }
      }
    }
    if (ws == k) ws = k + 1;
    for (size_t q = k; q < ws; ++q) c.push(b.s[q], b.origin[q]);
    k = ws;
  }
  return c;
}

}  // namespace

std::string describe_offset(const std::string& source, int64_t offset) {
  if (offset < 0) return "unknown position";
  int64_t line = 1, col = 1;
  for (int64_t k = 0; k < offset && k < int64_t(source.size()); ++k) {
    if (source[k] == '\n') { ++line; col = 1; } else { ++col; }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

std::vector<Token> tokenize(const std::string& source) {
  Mapped m = preprocess(source);
  const std::string& src = m.s;
  std::vector<Token> tokens;
  size_t pos = 0;
  int curly_depth = 0;
  auto fail = [&](const std::string& what, size_t at) -> void {
    throw TemplateError(what, m.origin[std::min(at, src.size())]);
  };
  auto push = [&](Tok t, std::string v, size_t at) {
    tokens.push_back(Token{t, std::move(v), m.origin[std::min(at, src.size())]});
  };
  auto strip_trailing = [&]() {
    if (!tokens.empty() && tokens.back().type == Tok::kText) {
      tokens.back().value = js_trim(tokens.back().value, false, true);
      if (tokens.back().value.empty()) tokens.pop_back();
    }
  };
  auto skip_spaces = [&]() { while (pos < src.size() && is_space(src[pos])) ++pos; };
  // Consumes while `pred` holds, decoding escapes; like the reference, running into the
  // end of the input here is an error.
  auto consume = [&](auto pred) {
    std::string out;
    while (pos < src.size() && pred(src[pos])) {
      if (src[pos] == '\\') {
        size_t at = pos++;
        if (pos >= src.size()) fail("Unexpected end of input", at);
        char e = src[pos++];
        static const char* kFrom = "ntrbfv'\"\\";
        static const char* kTo = "\n\t\r\b\f\v'\"\\";
        const char* hit = std::strchr(kFrom, e);
        if (e == 'x' || e == 'u') {
          size_t len = e == 'x' ? 2 : 4;
          if (pos + len > src.size()) fail("Invalid hexadecimal escape sequence", at);
          uint32_t cp = 0;
          for (size_t q = 0; q < len; ++q) {
            char h = src[pos + q];
            int d = is_digit(h) ? h - '0' : (h | 32) >= 'a' && (h | 32) <= 'f' ? (h | 32) - 'a' + 10 : -1;
            if (d < 0) fail("Invalid hexadecimal escape sequence", at);
            cp = cp * 16 + uint32_t(d);
          }
          pos += len;
          if (cp < 0x80) { out += char(cp); }
          else if (cp < 0x800) { out += char(0xc0 | (cp >> 6)); out += char(0x80 | (cp & 0x3f)); }
          else {
            out += char(0xe0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3f));
            out += char(0x80 | (cp & 0x3f));
          }
          continue;
        }
        if (!hit || e == 0) fail(std::string("Unexpected escaped character: ") + e, at);
        out += kTo[hit - kFrom];
        continue;
      }
      out += src[pos++];
      if (pos >= src.size()) fail("Unexpected end of input", pos);
    }
    return out;
  };
  struct Mapping { const char* seq; Tok type; };
  static const Mapping kTable[] = {
      {"{%", Tok::kOpenStatement}, {"%}", Tok::kCloseStatement}, {"{{", Tok::kOpenExpression},
      {"}}", Tok::kCloseExpression}, {"(", Tok::kOpenParen}, {")", Tok::kCloseParen},
      {"{", Tok::kOpenCurly}, {"}", Tok::kCloseCurly}, {"[", Tok::kOpenBracket},
      {"]", Tok::kCloseBracket}, {",", Tok::kComma}, {".", Tok::kDot}, {":", Tok::kColon},
      {"|", Tok::kPipe}, {"<=", Tok::kComparison}, {">=", Tok::kComparison},
      {"==", Tok::kComparison}, {"!=", Tok::kComparison}, {"<", Tok::kComparison},
      {">", Tok::kComparison}, {"+", Tok::kAdditive}, {"-", Tok::kAdditive},
      {"~", Tok::kAdditive}, {"**", Tok::kPower}, {"*", Tok::kMultiplicative},
      {"//", Tok::kMultiplicative}, {"/", Tok::kMultiplicative}, {"%", Tok::kMultiplicative},
      {"=", Tok::kEquals}};

  while (pos < src.size()) {
    Tok last = tokens.empty() ? Tok::kText : tokens.back().type;
    bool outside = tokens.empty() || last == Tok::kCloseStatement ||
                   last == Tok::kCloseExpression || last == Tok::kComment;
    if (outside) {
      size_t start = pos;
      while (pos < src.size() && !(src[pos] == '{' && pos + 1 < src.size() &&
                                   (src[pos + 1] == '%' || src[pos + 1] == '{' || src[pos + 1] == '#'))) {
        ++pos;
      }
      if (pos > start) {
        push(Tok::kText, src.substr(start, pos - start), start);
        continue;
      }
    }
    if (src.compare(pos, 2, "{#") == 0) {
      size_t start = pos;
      pos += 2;
      bool strip_before = pos < src.size() && src[pos] == '-';
      if (strip_before) ++pos;
      size_t body = pos;
      while (!(pos + 1 < src.size() && src[pos] == '#' && src[pos + 1] == '}')) {
        if (pos + 2 >= src.size()) fail("Missing end of comment tag", start);
        ++pos;
      }
      std::string comment = src.substr(body, pos - body);
      bool strip_after = !comment.empty() && comment.back() == '-';
      if (strip_after) comment.pop_back();
      if (strip_before) strip_trailing();
      push(Tok::kComment, comment, start);
      pos += 2;
      if (strip_after) skip_spaces();
      continue;
    }
    if (src.compare(pos, 3, "{%-") == 0) {
      strip_trailing();
      push(Tok::kOpenStatement, "{%", pos);
      pos += 3;
      continue;
    }
    if (src.compare(pos, 3, "{{-") == 0) {
      strip_trailing();
      push(Tok::kOpenExpression, "{{", pos);
      curly_depth = 0;
      pos += 3;
      continue;
    }
    skip_spaces();
    if (pos >= src.size()) break;
    if (src.compare(pos, 3, "-%}") == 0) {
      push(Tok::kCloseStatement, "%}", pos);
      pos += 3;
      skip_spaces();
      continue;
    }
    if (src.compare(pos, 3, "-}}") == 0) {
      push(Tok::kCloseExpression, "}}", pos);
      pos += 3;
      skip_spaces();
      continue;
    }
    char ch = src[pos];
    if (ch == '-' || ch == '+') {
      last = tokens.empty() ? Tok::kText : tokens.back().type;
      if (tokens.empty() || last == Tok::kText) fail(std::string("Unexpected character: ") + ch, pos);
      if (last != Tok::kIdent && last != Tok::kNumber && last != Tok::kString &&
          last != Tok::kCloseParen && last != Tok::kCloseBracket) {
        size_t start = pos++;
        std::string num = consume(is_digit);
        if (!num.empty() && pos + 1 < src.size() && src[pos] == '.' && is_digit(src[pos + 1])) {
          ++pos;
          num += '.';  // two appends: GCC 12 warns falsely on "." + string&&
          num += consume(is_digit);
        }
        push(num.empty() ? Tok::kUnary : Tok::kNumber, std::string(1, ch) + num, start);
        continue;
      }
    }
    bool matched = false;
    for (const auto& entry : kTable) {
      if (entry.type == Tok::kCloseExpression && curly_depth > 0) continue;
      size_t len = std::strlen(entry.seq);
      if (src.compare(pos, len, entry.seq) == 0) {
        push(entry.type, entry.seq, pos);
        if (entry.type == Tok::kOpenExpression) curly_depth = 0;
        if (entry.type == Tok::kOpenCurly) ++curly_depth;
        if (entry.type == Tok::kCloseCurly) --curly_depth;
        pos += len;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (ch == '\'' || ch == '"') {
      size_t start = pos++;
      std::string s;
      try {
        s = consume([ch](char c) { return c != ch; });
      } catch (const TemplateError& e) {
        fail(std::string("Unterminated string literal (") + e.what() + ")", start);
      }
      if (pos >= src.size()) fail("Unterminated string literal", start);
      ++pos;
      push(Tok::kString, std::move(s), start);
      continue;
    }
    if (is_digit(ch)) {
      size_t start = pos;
      std::string num = consume(is_digit);
      if ((tokens.empty() || tokens.back().type != Tok::kDot) && pos + 1 < src.size() &&
          src[pos] == '.' && is_digit(src[pos + 1])) {
        ++pos;
        num += '.';
        num += consume(is_digit);
      }
      push(Tok::kNumber, std::move(num), start);
      continue;
    }
    if (is_word(ch)) {
      size_t start = pos;
      push(Tok::kIdent, consume(is_word), start);
      continue;
    }
    fail(std::string("Unexpected character: ") + ch, pos);
  }
  return tokens;
}

}  // namespace moelab::tmpl
