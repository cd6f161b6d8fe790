#include "sip/headers/simple.h"

#include "sip/headers/char_class.h"

namespace catchline::sip {

namespace {

// The leading token of `value` (after whitespace) and the parameters after it, which must be
// empty or well formed.
struct TokenAndParams {
  std::string_view token;
  ParamList params;
  bool params_ok = false;
};

TokenAndParams split_token(std::string_view value) {
  value = trim(value);
  std::size_t end = chars::span(value, chars::kToken);
  TokenAndParams out;
  out.token = value.substr(0, end);
  out.params = ParamList(value.substr(chars::span(value, chars::kSpace, end)));
  out.params_ok = out.params.well_formed();
  return out;
}

std::string_view strip_quotes(std::string_view text) {
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    return text.substr(1, text.size() - 2);
  }
  return text;
}

}  // namespace

bool is_token(std::string_view text) { return chars::is_token(text); }

Result<std::uint32_t> parse_unsigned(std::string_view value, std::uint32_t max) {
  value = trim(value);
  if (value.empty() || !chars::all(value, chars::kDigit)) {
    return fail("not a number");
  }
  std::uint64_t number = 0;
  for (char c : value) {
    number = number * 10 + static_cast<std::uint64_t>(c - '0');
    if (number > max) {
      return fail("too large");
    }
  }
  return static_cast<std::uint32_t>(number);
}

bool list_contains(std::string_view value, std::string_view token) {
  HeaderList list(value);
  while (auto item = list.next()) {
    if (iequals(*item, token)) {
      return true;
    }
  }
  return false;
}

Result<Event> parse_event(std::string_view value) {
  // event-type = event-package *( "." event-template ): dots are token characters.
  TokenAndParams parts = split_token(value);
  if (parts.token.empty()) {
    return fail("Bad Event: package");
  }
  if (!parts.params_ok) {
    return fail("Bad Event: parameters");
  }
  Event event;
  event.package = parts.token;
  event.params = parts.params;
  event.id = parts.params.get("id").value_or(std::string_view{});
  return event;
}

Result<SubscriptionState> parse_subscription_state(std::string_view value) {
  TokenAndParams parts = split_token(value);
  if (parts.token.empty()) {
    return fail("Bad Subscription-State: state");
  }
  if (!parts.params_ok) {
    return fail("Bad Subscription-State: parameters");
  }
  SubscriptionState state;
  state.state = parts.token;
  state.params = parts.params;
  if (auto expires = parts.params.get("expires")) {
    auto number = parse_unsigned(*expires);
    if (!number) {
      return fail("Bad Subscription-State: expires");
    }
    state.expires = *number;
  }
  if (auto retry = parts.params.get("retry-after")) {
    auto number = parse_unsigned(*retry);
    if (!number) {
      return fail("Bad Subscription-State: retry-after");
    }
    state.retry_after = *number;
  }
  state.reason = parts.params.get("reason").value_or(std::string_view{});
  return state;
}

Result<Replaces> parse_replaces(std::string_view value) {
  value = trim(value);
  std::size_t semicolon = value.find(';');
  Replaces replaces;
  replaces.call_id = trim(value.substr(0, semicolon));
  // callid = word [ "@" word ]: printable, no whitespace.
  if (replaces.call_id.empty()) {
    return fail("Bad Replaces: no call-id");
  }
  for (char c : replaces.call_id) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7F) {
      return fail("Bad Replaces: no call-id");
    }
  }
  if (semicolon == std::string_view::npos) {
    return replaces;
  }
  ParamList params(value.substr(semicolon));
  if (!params.well_formed()) {
    // A key pressed before the phone's 18x gave its tag sends "from-tag=" with nothing after
    // it: an empty tag is an absent one. Every other parameter keeps the strict grammar.
    std::string strict;
    std::string_view rest = value.substr(semicolon + 1);
    while (true) {
      std::size_t end = rest.find(';');
      std::string_view segment = trim(rest.substr(0, end));
      std::size_t equal = segment.find('=');
      std::string_view name = trim(segment.substr(0, equal));
      bool empty_tag = equal != std::string_view::npos && trim(segment.substr(equal + 1)).empty() &&
                       (iequals(name, "to-tag") || iequals(name, "from-tag"));
      if (!empty_tag) {
        strict.append(";").append(segment);
      }
      if (end == std::string_view::npos) {
        break;
      }
      rest = rest.substr(end + 1);
    }
    if (strict.find('"') != std::string::npos || !ParamList(strict).well_formed()) {
      return fail("Bad Replaces: parameters");
    }
  }
  params.for_each([&](std::string_view name, std::string_view param) {
    if (iequals(name, "to-tag")) {
      replaces.to_tag = param;
    } else if (iequals(name, "from-tag")) {
      replaces.from_tag = param;
    } else if (iequals(name, "early-only")) {
      replaces.early_only = true;
    }
  });
  return replaces;
}

Result<Reason> parse_reason(std::string_view value) {
  TokenAndParams parts = split_token(value);
  if (parts.token.empty()) {
    return fail("Bad Reason: protocol");
  }
  if (!parts.params_ok) {
    return fail("Bad Reason: parameters");
  }
  Reason reason;
  reason.protocol = parts.token;
  if (auto cause = parts.params.get("cause")) {
    auto number = parse_unsigned(*cause);
    if (!number) {
      return fail("Bad Reason: cause");
    }
    reason.cause = *number;
  }
  reason.text = strip_quotes(parts.params.get("text").value_or(std::string_view{}));
  return reason;
}

Result<ContentType> parse_content_type(std::string_view value) {
  value = trim(value);
  ContentType type;
  std::size_t end = chars::span(value, chars::kToken);
  if (end == 0) {
    return fail("Bad Content-Type: type");
  }
  type.type = value.substr(0, end);
  // media-type = m-type SLASH m-subtype, SLASH = SWS "/" SWS
  std::size_t i = chars::span(value, chars::kSpace, end);
  if (i == value.size() || value[i] != '/') {
    return fail("Bad Content-Type: subtype");
  }
  i = chars::span(value, chars::kSpace, i + 1);
  end = chars::span(value, chars::kToken, i);
  if (end == i) {
    return fail("Bad Content-Type: subtype");
  }
  type.subtype = value.substr(i, end - i);
  type.params = ParamList(value.substr(chars::span(value, chars::kSpace, end)));
  if (!type.params.well_formed()) {
    return fail("Bad Content-Type: parameters");
  }
  return type;
}

}  // namespace catchline::sip
