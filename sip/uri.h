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
  std::string_view scheme_text;  // as written: "sip", "SIPS", "tel"
  std::string_view user;         // "" when absent; for tel: the number
  std::optional<std::string_view> password;
  std::string_view host;         // IPv6 references keep their brackets: "[2001:db8::1]"
  std::optional<std::uint16_t> port;
  ParamList params;              // ";transport=tcp;lr"
  std::string_view headers;      // after '?', without it: "subject=x&priority=urgent"

  bool is_ipv6() const { return !host.empty() && host.front() == '['; }
  /// The host without IPv6 brackets.
  std::string_view bare_host() const;
  /// The "transport" parameter, or "" when absent.
  std::string_view transport() const;
};

/// Parses an absolute URI: sip:, sips: (full grammar incl. IPv6 references, %-escapes,
/// parameters and headers), tel: (number and parameters); any other scheme is accepted
/// as Scheme::Other with only scheme_text set. Errors name the fault ("Bad URI: port").
Result<Uri> parse_uri(std::string_view text);

/// URI equality per RFC 3261 §19.1.4 (sip/sips); plain text comparison for other schemes.
bool uri_equal(const Uri& a, const Uri& b);

}  // namespace catchline::sip
