// Recursive descent, one function per precedence level (lowest first): ternary/select,
// or, and, not, comparison and membership, additive (+ - ~), multiplicative, power,
// tests (is), filters (|), unary sign, call/member, primary.
#include "template/parser.h"

#include <set>

#include "template/value.h"

namespace moelab::tmpl {
namespace {

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, int max_depth) : t_(tokens), max_depth_(max_depth) {}

  NodePtr program() {
    auto root = make(NodeKind::kText, 0);
    while (cur_ < t_.size()) root->body.push_back(any());
    return root;
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(Parser* p) : p_(p) {
      if (++p_->depth_ > p_->max_depth_) p_->fail("template nesting too deep");
    }
    ~DepthGuard() { --p_->depth_; }
    Parser* p_;
  };

  [[noreturn]] void fail(const std::string& what) const {
    int64_t off = cur_ < t_.size() ? t_[cur_].offset : (t_.empty() ? 0 : t_.back().offset);
    throw TemplateError(what, off);
  }
  NodePtr make(NodeKind k, int64_t off) {
    auto n = std::make_unique<Node>();
    n->kind = k;
    n->offset = off;
    return n;
  }
  int64_t here() const { return cur_ < t_.size() ? t_[cur_].offset : (t_.empty() ? 0 : t_.back().offset); }
  bool is(Tok type, size_t ahead = 0) const {
    return cur_ + ahead < t_.size() && t_[cur_ + ahead].type == type;
  }
  bool is_ident(const char* name, size_t ahead = 0) const {
    return is(Tok::kIdent, ahead) && t_[cur_ + ahead].value == name;
  }
  bool is_statement(std::initializer_list<const char*> names) const {
    if (!is(Tok::kOpenStatement) || !is(Tok::kIdent, 1)) return false;
    for (const char* n : names) if (t_[cur_ + 1].value == n) return true;
    return false;
  }
  const Token& expect(Tok type, const char* what) {
    if (cur_ >= t_.size()) fail(std::string(what) + " (unexpected end of template)");
    if (t_[cur_].type != type) fail(what);
    return t_[cur_++];
  }
  void expect_ident(const char* name) {
    if (!is_ident(name)) fail(std::string("Expected ") + name);
    ++cur_;
  }
  // Body of a block up to one of `ends`; running out of tokens means the block is unclosed.
  void block_until(std::vector<NodePtr>& body, std::initializer_list<const char*> ends,
                   const char* opener, int64_t opened_at) {
    while (!is_statement(ends)) {
      if (cur_ >= t_.size()) {
        throw TemplateError(std::string("unclosed '") + opener + "' block (expected {% " +
                                *ends.begin() + " %})", opened_at);
      }
      body.push_back(any());
    }
  }

  NodePtr any() {
    DepthGuard g(this);
    const Token& tok = t_[cur_];
    switch (tok.type) {
      case Tok::kComment: { auto n = make(NodeKind::kComment, tok.offset); ++cur_; return n; }
      case Tok::kText: {
        auto n = make(NodeKind::kText, tok.offset);
        n->text = tok.value;
        ++cur_;
        return n;
      }
      case Tok::kOpenStatement: return statement();
      case Tok::kOpenExpression: {
        auto n = make(NodeKind::kOutput, tok.offset);
        ++cur_;
        n->a = expression();
        expect(Tok::kCloseExpression, "Expected closing expression token '}}'");
        return n;
      }
      default: fail("Unexpected token '" + tok.value + "'");
    }
  }

  NodePtr statement() {
    int64_t open = t_[cur_].offset;
    ++cur_;
    if (!is(Tok::kIdent)) fail("Expected a statement name after '{%'");
    std::string name = t_[cur_].value;
    ++cur_;
    NodePtr n;
    if (name == "set") {
      n = make(NodeKind::kSet, open);
      n->a = sequence(false);
      if (is(Tok::kEquals)) {
        ++cur_;
        n->b = sequence(false);
      } else {
        expect(Tok::kCloseStatement, "Expected '%}'");
        block_until(n->body, {"endset"}, "set", open);
        ++cur_;
        expect_ident("endset");
      }
      expect(Tok::kCloseStatement, "Expected '%}'");
    } else if (name == "if") {
      n = if_rest(open);
      close_with("endif");
    } else if (name == "macro") {
      n = make(NodeKind::kMacro, open);
      if (!is(Tok::kIdent)) fail("Expected identifier following macro statement");
      n->text = t_[cur_++].value;
      args(n->list, true);
      expect(Tok::kCloseStatement, "Expected '%}'");
      block_until(n->body, {"endmacro"}, "macro", open);
      close_with("endmacro");
    } else if (name == "for") {
      n = make(NodeKind::kFor, open);
      n->a = sequence(true);
      if (n->a->kind != NodeKind::kIdent && n->a->kind != NodeKind::kTuple) {
        fail("Expected identifier/tuple for the loop variable");
      }
      if (!is_ident("in")) fail("Expected `in` keyword following loop variable");
      ++cur_;
      n->b = expression();
      expect(Tok::kCloseStatement, "Expected '%}'");
      block_until(n->body, {"endfor", "else"}, "for", open);
      if (is_statement({"else"})) {
        cur_ += 2;
        expect(Tok::kCloseStatement, "Expected '%}'");
        block_until(n->alt, {"endfor"}, "for", open);
      }
      close_with("endfor");
    } else if (name == "call") {
      n = make(NodeKind::kCallBlock, open);
      if (is(Tok::kOpenParen)) args(n->list, true);
      if (!is(Tok::kIdent)) fail("Expected identifier following call statement");
      auto call = make(NodeKind::kCall, here());
      call->a = make(NodeKind::kIdent, here());
      call->a->text = t_[cur_++].value;
      args(call->list, false);
      n->a = std::move(call);
      expect(Tok::kCloseStatement, "Expected '%}'");
      block_until(n->body, {"endcall"}, "call", open);
      close_with("endcall");
    } else if (name == "break" || name == "continue") {
      n = make(name == "break" ? NodeKind::kBreak : NodeKind::kContinue, open);
      expect(Tok::kCloseStatement, "Expected '%}'");
    } else if (name == "filter") {
      n = make(NodeKind::kFilterBlock, open);
      if (!is(Tok::kIdent)) fail("Expected identifier for the filter");
      auto f = make(NodeKind::kFilter, here());
      f->text = t_[cur_++].value;
      if (is(Tok::kOpenParen)) { f->flag = true; args(f->list, false); }
      n->a = std::move(f);
      expect(Tok::kCloseStatement, "Expected '%}'");
      block_until(n->body, {"endfilter"}, "filter", open);
      close_with("endfilter");
    } else {
      throw TemplateError("Unknown statement type: " + name, open);
    }
    return n;
  }

  void close_with(const char* end) {
    expect(Tok::kOpenStatement, "Expected '{%'");
    expect_ident(end);
    expect(Tok::kCloseStatement, "Expected '%}'");
  }

  NodePtr if_rest(int64_t open) {
    DepthGuard g(this);
    auto n = make(NodeKind::kIf, open);
    n->a = expression();
    expect(Tok::kCloseStatement, "Expected '%}'");
    block_until(n->body, {"elif", "else", "endif"}, "if", open);
    if (is_statement({"elif"})) {
      int64_t at = t_[cur_].offset;
      cur_ += 2;
      n->alt.push_back(if_rest(at));
    } else if (is_statement({"else"})) {
      cur_ += 2;
      expect(Tok::kCloseStatement, "Expected '%}'");
      block_until(n->alt, {"endif"}, "if", open);
    }
    return n;
  }

  NodePtr sequence(bool primary_only) {
    int64_t at = here();
    std::vector<NodePtr> items;
    items.push_back(primary_only ? primary() : expression());
    if (!is(Tok::kComma)) return std::move(items[0]);
    while (is(Tok::kComma)) {
      ++cur_;
      items.push_back(primary_only ? primary() : expression());
    }
    auto n = make(NodeKind::kTuple, at);
    n->list = std::move(items);
    return n;
  }

  NodePtr expression() {
    DepthGuard g(this);
    NodePtr a = logical_or();
    if (is_ident("if")) {
      int64_t at = here();
      ++cur_;
      NodePtr test = logical_or();
      if (is_ident("else")) {
        ++cur_;
        auto n = make(NodeKind::kTernary, at);
        n->a = std::move(test);
        n->b = std::move(a);
        n->c = expression();
        return n;
      }
      auto n = make(NodeKind::kSelect, at);
      n->a = std::move(a);
      n->b = std::move(test);
      return n;
    }
    return a;
  }

  NodePtr binary(std::string op, int64_t at, NodePtr l, NodePtr r) {
    auto n = make(NodeKind::kBinary, at);
    n->text = std::move(op);
    n->a = std::move(l);
    n->b = std::move(r);
    return n;
  }

  NodePtr logical_or() {
    NodePtr l = logical_and();
    while (is_ident("or")) { int64_t at = here(); ++cur_; l = binary("or", at, std::move(l), logical_and()); }
    return l;
  }
  NodePtr logical_and() {
    NodePtr l = logical_not();
    while (is_ident("and")) { int64_t at = here(); ++cur_; l = binary("and", at, std::move(l), logical_not()); }
    return l;
  }
  NodePtr logical_not() {
    if (is_ident("not")) {
      DepthGuard g(this);
      auto n = make(NodeKind::kUnary, here());
      ++cur_;
      n->text = "not";
      n->a = logical_not();
      return n;
    }
    return comparison();
  }
  NodePtr comparison() {
    NodePtr l = additive();
    while (true) {
      int64_t at = here();
      std::string op;
      if (is_ident("not") && is_ident("in", 1)) { op = "not in"; cur_ += 2; }
      else if (is_ident("in")) { op = "in"; ++cur_; }
      else if (is(Tok::kComparison)) { op = t_[cur_++].value; }
      else break;
      l = binary(op, at, std::move(l), additive());
    }
    return l;
  }
  NodePtr additive() {
    NodePtr l = multiplicative();
    while (is(Tok::kAdditive)) {
      int64_t at = here();
      std::string op = t_[cur_++].value;
      l = binary(op, at, std::move(l), multiplicative());
    }
    return l;
  }
  NodePtr multiplicative() {
    NodePtr l = power();
    while (is(Tok::kMultiplicative)) {
      int64_t at = here();
      std::string op = t_[cur_++].value;
      l = binary(op, at, std::move(l), power());
    }
    return l;
  }
  NodePtr power() {
    NodePtr l = test();
    while (is(Tok::kPower)) {
      int64_t at = here();
      ++cur_;
      l = binary("**", at, std::move(l), test());
    }
    return l;
  }
  NodePtr test() {
    NodePtr operand = filter();
    while (is_ident("is")) {
      auto n = make(NodeKind::kTest, here());
      ++cur_;
      if (is_ident("not")) { n->flag = true; ++cur_; }
      if (!is(Tok::kIdent)) fail("Expected identifier for the test");
      n->text = t_[cur_++].value;
      n->a = std::move(operand);
      operand = std::move(n);
    }
    return operand;
  }
  NodePtr filter() {
    NodePtr operand = unary_sign();
    while (is(Tok::kPipe)) {
      auto n = make(NodeKind::kFilter, here());
      ++cur_;
      if (!is(Tok::kIdent)) fail("Expected identifier for the filter");
      n->text = t_[cur_++].value;
      if (is(Tok::kOpenParen)) { n->flag = true; args(n->list, false); }
      n->a = std::move(operand);
      operand = std::move(n);
    }
    return operand;
  }
  NodePtr unary_sign() {
    if ((is(Tok::kUnary) || is(Tok::kAdditive)) &&
        (t_[cur_].value == "-" || t_[cur_].value == "+")) {
      DepthGuard g(this);
      auto n = make(NodeKind::kUnary, here());
      n->text = t_[cur_++].value;
      n->a = unary_sign();
      return n;
    }
    return call_member();
  }
  NodePtr call_member() {
    NodePtr n = member(primary());
    while (is(Tok::kOpenParen)) {
      auto call = make(NodeKind::kCall, n->offset);
      call->a = std::move(n);
      args(call->list, false);
      n = member(std::move(call));
    }
    return n;
  }

  void args(std::vector<NodePtr>& out, bool parameters) {
    expect(Tok::kOpenParen, "Expected '('");
    std::set<std::string> names;
    bool saw_keyword = false, saw_spread = false;
    while (!is(Tok::kCloseParen)) {
      if (cur_ >= t_.size()) fail("Expected ')' (unexpected end of template)");
      bool kw_spread = is(Tok::kPower);
      bool spread = is(Tok::kMultiplicative) && t_[cur_].value == "*";
      if (parameters && (kw_spread || spread)) fail("Argument unpacking is not allowed in parameter declarations");
      if (kw_spread) {
        auto n = make(NodeKind::kKwSpread, here());
        ++cur_;
        n->a = expression();
        out.push_back(std::move(n));
        if (is(Tok::kComma)) ++cur_;
        if (!is(Tok::kCloseParen)) fail("`**` must be applied to the final argument");
        break;
      }
      NodePtr arg;
      if (spread) {
        if (saw_spread) fail("Only one `*` argument unpacking is allowed");
        saw_spread = true;
        arg = make(NodeKind::kSpread, here());
        ++cur_;
        arg->a = expression();
      } else {
        arg = expression();
        if (is(Tok::kEquals)) {
          ++cur_;
          if (arg->kind != NodeKind::kIdent) fail("Expected identifier for keyword argument");
          auto kw = make(NodeKind::kKwArg, arg->offset);
          kw->text = arg->text;
          kw->a = expression();
          arg = std::move(kw);
        }
        if (parameters) {
          if (arg->kind != NodeKind::kIdent && arg->kind != NodeKind::kKwArg) {
            fail("Expected identifier for parameter declaration");
          }
          if (!names.insert(arg->text).second) fail("Duplicate parameter name: " + arg->text);
        }
        if (arg->kind == NodeKind::kKwArg) {
          saw_keyword = true;
        } else if (saw_keyword) {
          fail(parameters ? "Non-default argument follows default argument"
                          : "Positional arguments must come before keyword arguments");
        } else if (saw_spread) {
          fail("Positional arguments must not follow `*` argument unpacking");
        }
      }
      out.push_back(std::move(arg));
      if (is(Tok::kComma)) ++cur_;
    }
    ++cur_;
  }

  NodePtr member(NodePtr object) {
    while (is(Tok::kDot) || is(Tok::kOpenBracket)) {
      auto n = make(NodeKind::kMember, here());
      bool computed = is(Tok::kOpenBracket);
      ++cur_;
      n->flag = computed;
      n->a = std::move(object);
      if (computed) {
        n->b = subscript();
        expect(Tok::kCloseBracket, "Expected ']'");
      } else {
        n->b = primary();
        if (n->b->kind != NodeKind::kIdent && n->b->kind != NodeKind::kInt) {
          fail("Expected identifier or integer following dot operator");
        }
      }
      object = std::move(n);
    }
    return object;
  }

  NodePtr subscript() {
    int64_t at = here();
    std::vector<NodePtr> parts;
    bool is_slice = false;
    while (!is(Tok::kCloseBracket)) {
      if (cur_ >= t_.size()) fail("Expected ']' (unexpected end of template)");
      if (is(Tok::kColon)) {
        parts.push_back(nullptr);
        ++cur_;
        is_slice = true;
      } else {
        parts.push_back(expression());
        if (is(Tok::kColon)) { ++cur_; is_slice = true; }
      }
    }
    if (parts.empty()) fail("Expected at least one argument for member/slice expression");
    if (!is_slice) return std::move(parts[0]);
    if (parts.size() > 3) fail("Expected 0-3 arguments for slice expression");
    auto n = make(NodeKind::kSlice, at);
    parts.resize(3);
    n->a = std::move(parts[0]);
    n->b = std::move(parts[1]);
    n->c = std::move(parts[2]);
    return n;
  }

  NodePtr primary() {
    DepthGuard g(this);
    if (cur_ >= t_.size()) fail("Unexpected end of template in an expression");
    const Token& tok = t_[cur_++];
    switch (tok.type) {
      case Tok::kNumber: {
        if (tok.value.find('.') != std::string::npos) {
          auto n = make(NodeKind::kFloat, tok.offset);
          n->fval = std::stod(tok.value);
          return n;
        }
        auto n = make(NodeKind::kInt, tok.offset);
        try {
          n->ival = std::stoll(tok.value);
        } catch (const std::exception&) {
          throw TemplateError("integer literal out of range", tok.offset);
        }
        return n;
      }
      case Tok::kString: {
        auto n = make(NodeKind::kString, tok.offset);
        n->text = tok.value;
        while (is(Tok::kString)) n->text += t_[cur_++].value;
        return n;
      }
      case Tok::kIdent: {
        auto n = make(NodeKind::kIdent, tok.offset);
        n->text = tok.value;
        return n;
      }
      case Tok::kOpenParen: {
        NodePtr e = sequence(false);
        expect(Tok::kCloseParen, "Expected ')'");
        return e;
      }
      case Tok::kOpenBracket: {
        auto n = make(NodeKind::kArray, tok.offset);
        while (!is(Tok::kCloseBracket)) {
          if (cur_ >= t_.size()) fail("Expected ']' (unexpected end of template)");
          n->list.push_back(expression());
          if (is(Tok::kComma)) ++cur_;
        }
        ++cur_;
        return n;
      }
      case Tok::kOpenCurly: {
        auto n = make(NodeKind::kObject, tok.offset);
        while (!is(Tok::kCloseCurly)) {
          if (cur_ >= t_.size()) fail("Expected '}' (unexpected end of template)");
          n->list.push_back(expression());
          expect(Tok::kColon, "Expected colon between key and value in object literal");
          n->list.push_back(expression());
          if (is(Tok::kComma)) ++cur_;
        }
        ++cur_;
        return n;
      }
      default:
        throw TemplateError("Unexpected token '" + tok.value + "'", tok.offset);
    }
  }

  const std::vector<Token>& t_;
  size_t cur_ = 0;
  int depth_ = 0;
  int max_depth_;
};

}  // namespace

NodePtr parse(const std::vector<Token>& tokens, int max_depth) {
  return Parser(tokens, max_depth).program();
}

}  // namespace moelab::tmpl
