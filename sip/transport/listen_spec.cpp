#include "sip/transport/listen_spec.h"

#include <charconv>

namespace catchline::sip::transport {
namespace {

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) {
      return false;
    }
  }
  return true;
}

ParseError spec_error(std::string_view spec, std::string_view what, std::size_t offset) {
  std::string reason = "listen \"";
  reason += spec;
  reason += "\": ";
  reason += what;
  return fail(std::move(reason), offset);
}

}  // namespace

std::string ListenSpec::to_string() const { return Peer{protocol, address, port}.to_string(); }

Result<ListenSpec> parse_listen_spec(std::string_view spec) {
  ListenSpec result;
  std::size_t colon = spec.find(':');
  if (colon == std::string_view::npos) {
    return spec_error(spec, "expected PROTOCOL:ADDRESS[:PORT], e.g. udp:0.0.0.0:5060", 0);
  }
  std::string_view protocol = spec.substr(0, colon);
  if (iequals_ascii(protocol, "udp")) {
    result.protocol = Protocol::Udp;
  } else if (iequals_ascii(protocol, "tcp")) {
    result.protocol = Protocol::Tcp;
  } else {
    return spec_error(spec, "protocol must be udp or tcp", 0);
  }

  std::size_t host_start = colon + 1;
  std::string_view rest = spec.substr(host_start);
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (!rest.empty() && rest.front() == '[') {
    std::size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return spec_error(spec, "IPv6 address lacks its closing ']'", host_start);
    }
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return spec_error(spec, "expected ':' and a port after ']'", host_start + close + 1);
      }
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    std::size_t port_colon = rest.find(':');
    if (port_colon != std::string_view::npos &&
        rest.find(':', port_colon + 1) != std::string_view::npos) {
      // RFC 3986 §3.2.2: an IPv6 literal followed by a port must be bracketed.
      return spec_error(spec, "IPv6 addresses must be written in brackets, e.g. tcp:[::1]:5060",
                        host_start);
    }
    host = rest.substr(0, port_colon);
    if (port_colon != std::string_view::npos) {
      port_text = rest.substr(port_colon + 1);
      has_port = true;
    }
  }

  if (host.empty()) {
    return spec_error(spec, "missing address (use 0.0.0.0 or [::] for every interface)",
                      host_start);
  }
  boost::system::error_code error;
  result.address = boost::asio::ip::make_address(std::string(host), error);
  if (error) {
    return spec_error(spec, "address must be an IPv4 or bracketed IPv6 literal", host_start);
  }
  if (rest.front() == '[' && !result.address.is_v6()) {
    return spec_error(spec, "brackets are only for IPv6 addresses", host_start);
  }

  if (has_port) {
    std::size_t port_offset = spec.size() - port_text.size();
    unsigned value = 0;
    auto [end, parse_error] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (port_text.empty() || parse_error != std::errc{} ||
        end != port_text.data() + port_text.size()) {
      return spec_error(spec, "port must be a number", port_offset);
    }
    if (value > 65535) {
      return spec_error(spec, "port must be 0..65535", port_offset);
    }
    result.port = static_cast<std::uint16_t>(value);
  }
  return result;
}

}  // namespace catchline::sip::transport
