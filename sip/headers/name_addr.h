#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sip/headers/params.h"
#include "sip/result.h"
#include "sip/uri.h"

namespace catchline::sip {

/// name-addr or addr-spec with header parameters (RFC 3261 §20.10, §25.1): the value of
/// From, To, Contact (one element), Route, Record-Route, P-Asserted-Identity, Refer-To...
/// In the addr-spec form (no <>), parameters after the URI belong to the header, not the URI.
struct NameAddr {
  std::string_view display_name;  // without quotes, escapes not resolved; "" when absent
  bool display_quoted = false;    // true when it was a quoted-string: use unquote()
  std::string_view uri_text;      // the URI as written, without < >
  Uri uri;
  ParamList params;  // header parameters: ";tag=abc;expires=60"

  /// The tag parameter, "" when absent.
  std::string_view tag() const;
  /// The display name with quotes and escapes resolved.
  std::string display() const;
};

/// Parses one name-addr / addr-spec element. Errors: "Bad From: ..." style reasons are made by
/// the caller; this one says what part failed: "empty", "unclosed quote", "no < after display
/// name", "unclosed <", "bad display name" (an unquoted name with non-token characters, RFC 4475
/// baddn), "URI with '?' or ',' outside <>" (RFC 4475 regbadct), "bad URI: <part>" (from
/// parse_uri; whitespace inside <> is one, RFC 4475 badaspec), "bad parameters", and "control
/// character" for a control character other than HTAB, CR and LF in the display name (raw or
/// escaped in quotes: RFC 3261 §25.1 qdtext), the URI or the parameters.
Result<NameAddr> parse_name_addr(std::string_view text);

/// One Contact element (RFC 3261 §20.10): either "*" or a name-addr with expires/q.
struct Contact {
  bool star = false;
  NameAddr address;
  std::optional<std::uint32_t> expires;  // the expires parameter, when present
  std::optional<float> q;
};

/// Parses one Contact element (use HeaderList to split a header line). Errors as
/// parse_name_addr(), plus "bad expires" (not digits) and "bad q" (not a qvalue 0..1, at most
/// three decimals). An expires beyond 2^32-1 is clamped to it, not refused (RFC 4475 scalar02).
Result<Contact> parse_contact(std::string_view text);

namespace detail {
/// The allocation-free cores of parse_name_addr() and parse_contact() for the message parser:
/// fill `out` and return "" when the text is good, else the fault; for "bad URI" the URI's
/// fault ("port") is in `uri_fault`. When `tag` is given (and views nothing yet), it receives
/// the tag parameter, found in the same pass that checks the parameters.
std::string_view parse_name_addr_into(std::string_view text, NameAddr& out,
                                      std::string_view& uri_fault, std::string_view* tag = nullptr);
std::string_view parse_contact_into(std::string_view text, Contact& out,
                                    std::string_view& uri_fault);
}  // namespace detail

}  // namespace catchline::sip
