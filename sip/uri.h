#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "sip/headers/params.h"
#include "sip/result.h"

namespace catchline::sip {

enum class Scheme : std::uint8_t { Sip, Sips, Tel, Other };

/// A SIP, SIPS or tel URI (RFC 3261 §19.1, RFC 3966), viewed in place: no part is copied or
/// unescaped (use unescape() where the decoded form is needed).
struct Uri {
  Scheme scheme = Scheme::Other;
  std::string_view text;         // the whole URI as written
  std::string_view scheme_text;  // as written: "sip", "SIPS", "tel"
  std::string_view user;         // "" when absent; for tel: the number
  std::optional<std::string_view> password;
  std::string_view host;  // IPv6 references keep their brackets: "[2001:db8::1]"
  std::optional<std::uint16_t> port;
  ParamList params;          // ";transport=tcp;lr"
  std::string_view headers;  // after '?', without it: "subject=x&priority=urgent"

  bool is_ipv6() const { return !host.empty() && host.front() == '['; }
  /// The host without IPv6 brackets.
  std::string_view bare_host() const;
  /// The "transport" parameter, or "" when absent.
  std::string_view transport() const;
  /// The part after "scheme:" as written (for Scheme::Other, the only part kept).
  std::string_view opaque() const;
};

/// Parses an absolute URI: sip:, sips: (full grammar incl. IPv6 references, %-escapes,
/// parameters and headers), tel: (number and parameters); any other scheme is accepted
/// as Scheme::Other with only scheme_text (and text) set, provided the rest holds no
/// whitespace, control characters, '<', '>' or '"'. No whitespace is allowed anywhere.
/// A '%' that does not start a valid escape is accepted as written (RFC 4475 esc02: elements
/// must not choke on it). Errors name the fault: "Bad URI: no scheme", "Bad URI: user",
/// "Bad URI: host", "Bad URI: IPv6 reference", "Bad URI: port", "Bad URI: parameters",
/// "Bad URI: headers", "Bad URI: tel number", "Bad URI: opaque part", and "Bad URI: control
/// character" for a raw control character other than HTAB, CR and LF anywhere (NUL, ESC, DEL;
/// HTAB, CR and LF are whitespace: they name the part they break). An escaped one (%00) is
/// kept as written, like any escape.
Result<Uri> parse_uri(std::string_view text);

namespace detail {
/// The allocation-free core of parse_uri() for the message parser: fills `uri` and returns
/// "" when the text is good, else the fault as parse_uri() names it after "Bad URI: " ("port").
std::string_view parse_uri_into(std::string_view text, Uri& uri);
}  // namespace detail

/// URI equality per RFC 3261 §19.1.4 for sip/sips: same scheme; user and password equal
/// case-sensitively after unescaping; host equal ignoring case (IPv6 addresses compared as
/// addresses); same port, where an absent port differs from an explicit 5060; the user, ttl,
/// method, maddr and transport parameters present in either must be in both and equal; other
/// parameters compared only where present in both; every header in either must be in the
/// other with an equal value. tel: numbers equal ignoring visual separators, with the same
/// parameters (RFC 3966 §4). Other schemes: the text after the scheme, byte for byte.
bool uri_equal(const Uri& a, const Uri& b);

/// True when `text` is an IPv6 address (RFC 4291 §2.2, without brackets), e.g.
/// "2001:db8::1" or "::ffff:192.0.2.1". Rejects "2001:db8:::1" (RFC 5118 §4.10).
bool is_ipv6_address(std::string_view text);

/// True when `text` is a dotted-decimal IPv4 address, each part 0..255.
bool is_ipv4_address(std::string_view text);

}  // namespace catchline::sip
