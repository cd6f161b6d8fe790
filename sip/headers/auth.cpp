#include "sip/headers/auth.h"

#include <array>
#include <cstdint>
#include <string>

#include "sip/headers/char_class.h"

namespace catchline::sip {
namespace {

// LWS may still hold folded line breaks (RFC 3261 §7.3.1), so CR and LF count as space.
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Character classes, one bit each, looked up in a table: the parser touches every byte.
enum : std::uint8_t { kToken = 1, kToken68 = 2, kBareValue = 4 };

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> classes{};
  for (int c = 0; c < 256; ++c) {
    bool alphanumeric = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    // token (RFC 3261 §25.1): alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
    if (alphanumeric ||
        std::string_view("-.!%*_+`'~").find(static_cast<char>(c)) != std::string_view::npos) {
      classes[c] |= kToken;
    }
    // token68 (RFC 7235 §2.1): ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "=" padding.
    if (alphanumeric ||
        std::string_view("-._~+/").find(static_cast<char>(c)) != std::string_view::npos) {
      classes[c] |= kToken68;
    }
    // An unquoted value: any visible character but the list separator and the quote, so that
    // the token rule's stricter set does not reject what deployed phones send.
    if (c > ' ' && c < 0x7F && c != ',' && c != '"') {
      classes[c] |= kBareValue;
    }
  }
  return classes;
}

constexpr std::array<std::uint8_t, 256> kClasses = make_classes();

bool in_class(char c, std::uint8_t bits) {
  return (kClasses[static_cast<unsigned char>(c)] & bits) != 0;
}
bool is_token_char(char c) { return in_class(c, kToken); }
bool is_token68_char(char c) { return in_class(c, kToken68); }
bool is_bare_value_char(char c) { return in_class(c, kBareValue); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}
  bool done() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  std::size_t pos() const { return pos_; }
  void seek(std::size_t pos) { pos_ = pos; }
  void advance() { ++pos_; }
  void skip_space() {
    while (!done() && is_space(peek())) {
      ++pos_;
    }
  }
  template <typename Pred>
  std::string_view take_while(Pred pred) {
    std::size_t start = pos_;
    while (!done() && pred(peek())) {
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }
  std::string_view text() const { return text_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

ParseError fault(std::string_view what, std::string_view detail, std::size_t offset) {
  std::string reason;
  reason.reserve(6 + what.size() + 2 + detail.size());
  reason.append("Bad ").append(what).append(": ").append(detail);
  return fail(std::move(reason), offset);
}

}  // namespace

bool AuthValue::is_digest() const { return same_name(scheme_, "Digest"); }

const AuthParam* AuthValue::find(std::string_view name) const {
  for (std::size_t i = 0; i < count_; ++i) {
    if (same_name(params_[i].name, name)) {
      return &params_[i];
    }
  }
  return nullptr;
}

std::optional<std::string_view> AuthValue::get(std::string_view name) const {
  const AuthParam* param = find(name);
  if (param == nullptr) {
    return std::nullopt;
  }
  return param->value;
}

std::optional<std::string> AuthValue::get_unescaped(std::string_view name) const {
  const AuthParam* param = find(name);
  if (param == nullptr) {
    return std::nullopt;
  }
  if (!param->escaped) {
    return std::string(param->value);
  }
  // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F): the escaped character stands for itself.
  std::string text;
  text.reserve(param->value.size());
  for (std::size_t i = 0; i < param->value.size(); ++i) {
    char c = param->value[i];
    if (c == '\\' && i + 1 < param->value.size()) {
      c = param->value[++i];
    }
    text.push_back(c);
  }
  return text;
}

// The grammar, writing straight into the caller's value so that the ~1 KB parameter table
// is not copied on the way out.
struct AuthParser {
  static std::optional<ParseError> parse(std::string_view value, std::string_view what,
                                         AuthValue& out);
};

std::optional<ParseError> AuthParser::parse(std::string_view value, std::string_view what,
                                            AuthValue& out) {
  // Every byte class below leaves out the control characters, so one stops the grammar where
  // it stands: the fault then names it (RFC 3261 §25.1: no CTL in a header value but LWS).
  auto refuse = [&](std::string_view detail, std::size_t at) {
    if (at < value.size() && chars::is(value[at], chars::kControl)) {
      detail = "control character";
    }
    return fault(what, detail, at);
  };
  Cursor in(value);
  in.skip_space();
  out.scheme_ = in.take_while(is_token_char);
  if (out.scheme_.empty()) {
    return refuse("no scheme", in.pos());
  }
  if (in.done()) {
    return std::nullopt;
  }
  // RFC 7235 §2.1: the scheme is separated from what follows by at least one space.
  if (!is_space(in.peek())) {
    return refuse("no space after scheme", in.pos());
  }
  in.skip_space();
  if (in.done()) {
    return std::nullopt;
  }

  // token68 form: the whole rest is one token68, possibly ending in '=' padding.
  {
    std::size_t start = in.pos();
    std::string_view token = in.take_while(is_token68_char);
    while (!in.done() && in.peek() == '=') {
      in.advance();
    }
    std::size_t padded_end = in.pos();
    in.skip_space();
    if (!token.empty() && in.done()) {
      out.token68_ = value.substr(start, padded_end - start);
      return std::nullopt;
    }
    in.seek(start);
  }

  bool expect_param = true;
  while (true) {
    in.skip_space();
    // Empty list elements are allowed by the #rule (RFC 7230 §7): ", ," is skipped.
    while (!in.done() && in.peek() == ',') {
      in.advance();
      in.skip_space();
    }
    if (in.done()) {
      break;
    }
    if (!expect_param) {
      return refuse("expected ','", in.pos());
    }
    std::size_t name_at = in.pos();
    std::string_view name = in.take_while(is_token_char);
    if (name.empty()) {
      return refuse("parameter name", in.pos());
    }
    bool spaced = !in.done() && is_space(in.peek());
    in.skip_space();
    if (in.done() || in.peek() != '=') {
      // "..., Digest realm=..." is a second challenge; RFC 3261 §7.3.1 keeps one per line.
      if (spaced && !in.done() && is_token_char(in.peek())) {
        return fault(what, "two schemes in one header", name_at);
      }
      return refuse(std::string("no value for ").append(name), in.pos());
    }
    in.advance();
    in.skip_space();
    AuthParam param;
    param.name = name;
    if (!in.done() && in.peek() == '"') {
      in.advance();
      std::size_t start = in.pos();
      bool closed = false;
      while (!in.done()) {
        char c = in.peek();
        if (c == '\\') {
          param.escaped = true;
          in.advance();
          if (in.done()) {
            break;
          }
          // quoted-pair: get_unescaped() would give the byte back raw, so no control
          // character, CR or LF (RFC 3261 §25.1 already leaves CR and LF out).
          if (chars::is_line_stop(in.peek())) {
            return fault(what, "control character", in.pos());
          }
          in.advance();
          continue;
        }
        if (c == '"') {
          closed = true;
          break;
        }
        if (chars::is(c, chars::kControl)) {
          return fault(what, "control character", in.pos());
        }
        in.advance();
      }
      if (!closed) {
        return fault(what, "unclosed quote", start - 1);
      }
      param.value = value.substr(start, in.pos() - start);
      param.quoted = true;
      in.advance();
    } else {
      param.value = in.take_while(is_bare_value_char);
      if (param.value.empty()) {
        return refuse(std::string("no value for ").append(name), in.pos());
      }
    }
    // RFC 7235 §2.1: each parameter name occurs once per challenge; a second `response`
    // or `nonce` would make the answer depend on which one a reader picks.
    if (out.find(name) != nullptr) {
      return fault(what, std::string("duplicate parameter ").append(name), name_at);
    }
    if (out.count_ == AuthValue::kMaxParams) {
      return fault(what, "too many parameters", name_at);
    }
    out.params_[out.count_++] = param;
    expect_param = false;
    in.skip_space();
    if (!in.done() && in.peek() == ',') {
      expect_param = true;
    }
  }
  return std::nullopt;
}

Result<AuthValue> parse_auth_value(std::string_view value, std::string_view what) {
  AuthValue out;
  if (auto error = AuthParser::parse(value, what, out)) {
    return std::move(*error);
  }
  return out;
}

Result<Challenge> parse_challenge(std::string_view value) {
  Challenge challenge;
  if (auto error = AuthParser::parse(value, "challenge", challenge)) {
    return std::move(*error);
  }
  return challenge;
}

Result<Credentials> parse_credentials(std::string_view value) {
  Credentials credentials;
  if (auto error = AuthParser::parse(value, "credentials", credentials)) {
    return std::move(*error);
  }
  return credentials;
}

void append_quoted(std::string& out, std::string_view text) {
  out.push_back('"');
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace catchline::sip
