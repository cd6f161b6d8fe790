#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "sip/headers/params.h"
#include "sip/result.h"

namespace catchline::sip {

/// A decimal value such as Expires, Max-Forwards, Content-Length, Min-Expires:
/// digits only (LWS around allowed); at most `max`. Errors: "not a number", "too large".
Result<std::uint32_t> parse_unsigned(std::string_view value, std::uint32_t max = 0xFFFFFFFFu);

/// True when `text` is a non-empty token (RFC 3261 §25.1).
bool is_token(std::string_view text);

/// A token list such as Allow, Supported, Require: calls f(token) per element, in order.
/// Returns false (after calling f for the tokens before it) when an element is not a token.
template <typename F>
bool for_each_token(std::string_view value, F&& f) {
  HeaderList list(value);
  while (auto item = list.next()) {
    if (!is_token(*item)) {
      return false;
    }
    f(*item);
  }
  return !list.broken();
}

/// True when the token list `value` contains `token` (case-insensitive), e.g. "100rel".
bool list_contains(std::string_view value, std::string_view token);

/// Event / Allow-Events element (RFC 6665 §8.2.1): "dialog;id=7".
/// Errors: "Bad Event: package", "Bad Event: parameters".
struct Event {
  std::string_view package;  // "dialog", "presence", "message-summary", "refer"
  std::string_view id;       // "" when absent
  ParamList params;
};
Result<Event> parse_event(std::string_view value);

/// Subscription-State (RFC 6665 §8.2.3): "active;expires=600", "terminated;reason=timeout".
/// The state is kept as written (compare with iequals). Errors: "Bad Subscription-State: state",
/// "... parameters", "... expires", "... retry-after".
struct SubscriptionState {
  std::string_view state;  // "active", "pending", "terminated"
  std::optional<std::uint32_t> expires;
  std::string_view reason;
  std::optional<std::uint32_t> retry_after;
  ParamList params;
};
Result<SubscriptionState> parse_subscription_state(std::string_view value);

/// Replaces (RFC 3891): "call-id;to-tag=a;from-tag=b;early-only". Tags are "" when absent.
/// A value taken from a URI header (Refer-To: <...?Replaces=...>) must be unescaped first.
/// Errors: "Bad Replaces: no call-id", "Bad Replaces: parameters".
struct Replaces {
  std::string_view call_id;
  std::string_view to_tag;
  std::string_view from_tag;
  bool early_only = false;
};
Result<Replaces> parse_replaces(std::string_view value);

/// One Reason element (RFC 3326): SIP;cause=200;text="Call completed elsewhere".
/// Errors: "Bad Reason: protocol", "Bad Reason: parameters", "Bad Reason: cause".
struct Reason {
  std::string_view protocol;  // "SIP", "Q.850"
  std::optional<std::uint32_t> cause;
  std::string_view text;  // quoted text without quotes, escapes unresolved
};
Result<Reason> parse_reason(std::string_view value);

/// Content-Type (RFC 3261 §20.15): "application/sdp", "multipart/related;type=...".
/// Errors: "Bad Content-Type: type", "Bad Content-Type: subtype", "Bad Content-Type: parameters".
struct ContentType {
  std::string_view type;
  std::string_view subtype;
  ParamList params;
};
Result<ContentType> parse_content_type(std::string_view value);

}  // namespace catchline::sip
