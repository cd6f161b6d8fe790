#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "sip/result.h"

namespace catchline::sip {

/// One auth-param as written (RFC 3261 §25.1, RFC 7235 §2.1): `realm="biloxi.com"`, `nc=00000001`.
struct AuthParam {
  std::string_view name;   // as written; compare with iequals()
  std::string_view value;  // without its quotes; backslash escapes are NOT resolved
  bool quoted = false;     // the value was a quoted-string
  bool escaped = false;    // the value holds a backslash escape: use unquote() for its text
};

/// The common shape of a challenge and of credentials: an auth-scheme followed either by
/// comma-separated auth-params or by a token68 (RFC 7235 §2.1, e.g. "Bearer abc=="). Every
/// view points into the parsed header value; nothing is copied or allocated while parsing.
class AuthValue {
 public:
  /// Most parameters one value may carry; RFC 7616 defines fewer than a dozen per side.
  static constexpr std::size_t kMaxParams = 24;

  /// The auth-scheme as written: "Digest", "digest", "Bearer".
  std::string_view scheme() const { return scheme_; }
  /// True for the Digest scheme, in any letter case.
  bool is_digest() const;
  /// The token68 of a scheme that uses one ("Bearer <token>"); "" otherwise.
  std::string_view token68() const { return token68_; }

  /// Every parameter in the order written.
  std::span<const AuthParam> params() const { return {params_.data(), count_}; }
  /// The parameter called `name` (any letter case), or nullptr.
  const AuthParam* find(std::string_view name) const;
  /// The value of parameter `name` without quotes (escapes unresolved: check find()->escaped
  /// or use get_unescaped() where the text matters), or nullopt when absent.
  std::optional<std::string_view> get(std::string_view name) const;
  /// The value of parameter `name` with quotes removed and escapes resolved, or nullopt.
  /// Allocates; meant for values that are stored or hashed, not for lookups.
  std::optional<std::string> get_unescaped(std::string_view name) const;

 private:
  friend struct AuthParser;
  std::string_view scheme_;
  std::string_view token68_;
  std::array<AuthParam, kMaxParams> params_{};
  std::size_t count_ = 0;
};

/// A challenge from WWW-Authenticate or Proxy-Authenticate (RFC 3261 §20.27, §20.44).
struct Challenge : AuthValue {};

/// Credentials from Authorization or Proxy-Authorization (RFC 3261 §20.7, §20.28).
struct Credentials : AuthValue {};

/// Parses one WWW-Authenticate / Proxy-Authenticate value:
/// `Digest realm="atlanta.example.com", nonce="ea9c8e88", qop="auth", algorithm=SHA-256`.
/// Names are matched in any case; a value is a quoted-string or an unquoted run of visible
/// characters other than `,` and `"` (more liberal than RFC 3261's token, which some phones
/// overstep with `uri=sip:...`). Errors name the fault: "Bad challenge: no scheme",
/// "Bad challenge: unclosed quote", "Bad challenge: duplicate parameter realm",
/// "Bad challenge: two schemes in one header", "Bad challenge: too many parameters",
/// "Bad challenge: control character" (NUL, ESC, DEL or another control character but HTAB,
/// CR and LF, which count as whitespace; after a backslash in a quoted value, CR and LF too) ...
Result<Challenge> parse_challenge(std::string_view value);

/// Parses one Authorization / Proxy-Authorization value, with the grammar and errors of
/// parse_challenge() but "Bad credentials: ..." reasons.
Result<Credentials> parse_credentials(std::string_view value);

/// A temporary std::string would leave every view dangling: refused at compile time.
template <typename Text>
requires std::is_same_v<Text, std::string> Result<Challenge> parse_challenge(Text&& value)
= delete;
template <typename Text>
requires std::is_same_v<Text, std::string> Result<Credentials> parse_credentials(Text&& value)
= delete;

/// The shared grammar behind both parsers; `what` names the header kind in error reasons.
Result<AuthValue> parse_auth_value(std::string_view value, std::string_view what);

/// Appends `text` to `out` as a quoted-string, escaping `"` and `\` (RFC 3261 §25.1).
void append_quoted(std::string& out, std::string_view text);

}  // namespace catchline::sip
