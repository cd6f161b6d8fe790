#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "sip/headers/params.h"
#include "sip/result.h"

namespace catchline::sip {

/// The RFC 3261 magic cookie that marks a branch as unique (§8.1.1.7).
inline constexpr std::string_view kBranchCookie = "z9hG4bK";

/// One Via entry (RFC 3261 §20.42, RFC 3581), e.g.
/// "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK7;received=192.0.2.1;rport=5062".
struct Via {
  std::string_view protocol_name;     // "SIP"
  std::string_view protocol_version;  // "2.0"
  std::string_view transport;         // "UDP", "TCP", "TLS", "WS", ... as written
  std::string_view host;              // sent-by host, IPv6 with brackets
  std::optional<std::uint16_t> port;  // sent-by port
  std::string_view sent_by;           // "host:port" or "host" as written, for comparison
  std::string_view branch;            // "" when absent
  std::optional<std::string_view> received;
  bool rport = false;  // rport present (with or without a value)
  std::optional<std::uint16_t> rport_value;
  std::optional<std::string_view> maddr;
  std::optional<int> ttl;
  ParamList params;  // every parameter as received

  /// True when the branch starts with the magic cookie (RFC 3261 matching applies).
  bool rfc3261_branch() const { return branch.substr(0, kBranchCookie.size()) == kBranchCookie; }
};

/// Parses one Via entry (use HeaderList for a line holding several).
/// Errors name the fault: "Bad Via: no transport", "Bad Via: port", "Bad Via: branch" ...
Result<Via> parse_via(std::string_view text);

namespace detail {
/// The allocation-free core of parse_via() for the message parser: fills `via` and returns ""
/// when the entry is good, else the reason parse_via() would give ("Bad Via: port").
std::string_view parse_via_into(std::string_view text, Via& via);
}  // namespace detail

}  // namespace catchline::sip
