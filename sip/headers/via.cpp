#include "sip/headers/via.h"

#include "sip/headers/char_class.h"
#include "sip/uri.h"

namespace catchline::sip {

namespace {

bool parse_port(std::string_view digits, std::uint16_t& port) {
  if (digits.empty() || digits.size() > 5 || !chars::all(digits, chars::kDigit)) {
    return false;
  }
  std::uint32_t value = 0;
  for (char c : digits) {
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value > 65535) {
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

// A host as RFC 3261 §25.1 writes it: hostname / IPv4address / IPv6reference.
bool is_host(std::string_view text) {
  if (!text.empty() && text.front() == '[') {
    return text.size() > 2 && text.back() == ']' &&
           is_ipv6_address(text.substr(1, text.size() - 2));
  }
  return !text.empty() && chars::all(text, chars::kHost);
}

}  // namespace

namespace detail {

std::string_view parse_via_into(std::string_view text, Via& via) {
  text = trim(text);
  via = Via{};
  std::size_t i = 0;
  auto skip_space = [&] { i = chars::span(text, chars::kSpace, i); };

  // sent-protocol = protocol-name SLASH protocol-version SLASH transport, SLASH = SWS "/" SWS
  std::size_t end = chars::span(text, chars::kToken, i);
  if (end == i) {
    return "Bad Via: protocol";
  }
  via.protocol_name = text.substr(i, end - i);
  i = end;
  skip_space();
  if (i == text.size() || text[i] != '/') {
    return "Bad Via: protocol";
  }
  ++i;
  skip_space();
  end = chars::span(text, chars::kToken, i);
  if (end == i) {
    return "Bad Via: protocol version";
  }
  via.protocol_version = text.substr(i, end - i);
  i = end;
  skip_space();
  if (i == text.size() || text[i] != '/') {
    return "Bad Via: no transport";
  }
  ++i;
  skip_space();
  end = chars::span(text, chars::kToken, i);
  if (end == i) {
    return "Bad Via: no transport";
  }
  via.transport = text.substr(i, end - i);
  i = end;

  // LWS sent-by
  std::size_t host_begin = chars::span(text, chars::kSpace, i);
  if (host_begin == i || host_begin == text.size()) {
    return "Bad Via: no sent-by";
  }
  i = host_begin;
  if (text[i] == '[') {
    std::size_t close = text.find(']', i);
    if (close == std::string_view::npos || !is_ipv6_address(text.substr(i + 1, close - i - 1))) {
      return "Bad Via: host";
    }
    i = close + 1;
  } else {
    i = chars::span(text, chars::kHost, i);
    if (i == host_begin) {
      return "Bad Via: host";
    }
  }
  via.host = text.substr(host_begin, i - host_begin);
  std::size_t sent_by_end = i;
  skip_space();
  // sent-by = host [ COLON port ], COLON = SWS ":" SWS
  if (i < text.size() && text[i] == ':') {
    ++i;
    skip_space();
    end = chars::span(text, chars::kDigit, i);
    std::uint16_t port = 0;
    if (!parse_port(text.substr(i, end - i), port)) {
      return "Bad Via: port";
    }
    via.port = port;
    i = end;
    sent_by_end = end;
    skip_space();
  }
  via.sent_by = text.substr(host_begin, sent_by_end - host_begin);

  via.params = ParamList(text.substr(i));

  // via-params (RFC 3261 §20.42, RFC 3581 §3, RFC 5118 §4.5 for received), read and checked
  // in one pass.
  const char* fault = "Bad Via: parameters";
  bool good = scan_params(via.params.text(), [&](std::string_view name, std::string_view value) {
    switch (name.size()) {
      case 3:
        if (iequals(name, "ttl")) {
          std::uint16_t ttl = 0;
          if (!parse_port(value, ttl) || ttl > 255) {
            fault = "Bad Via: ttl";
            return false;
          }
          via.ttl = ttl;
        }
        return true;
      case 5:
        if (iequals(name, "maddr")) {
          if (!is_host(value)) {
            fault = "Bad Via: maddr";
            return false;
          }
          via.maddr = value;
        } else if (iequals(name, "rport")) {
          via.rport = true;
          if (!value.empty()) {
            std::uint16_t port = 0;
            if (!parse_port(value, port)) {
              fault = "Bad Via: rport";
              return false;
            }
            via.rport_value = port;
          }
        }
        return true;
      case 6:
        if (iequals(name, "branch")) {
          if (!chars::is_token(value)) {
            fault = "Bad Via: branch";
            return false;
          }
          via.branch = value;
        }
        return true;
      case 8:
        if (iequals(name, "received")) {
          bool bracketed = value.size() > 2 && value.front() == '[' && value.back() == ']';
          if (!is_ipv4_address(value) && !is_ipv6_address(value) &&
              !(bracketed && is_ipv6_address(value.substr(1, value.size() - 2)))) {
            fault = "Bad Via: received";
            return false;
          }
          via.received = value;
        }
        return true;
      default:
        return true;
    }
  });
  if (!good) {
    return fault;
  }
  return {};
}

}  // namespace detail

Result<Via> parse_via(std::string_view text) {
  Via via;
  std::string_view fault = detail::parse_via_into(text, via);
  if (!fault.empty()) {
    return fail(std::string(fault));
  }
  return via;
}

}  // namespace catchline::sip
