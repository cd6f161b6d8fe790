#include "sip/transport/routing.h"

#include <string>

#include <boost/asio/ip/address.hpp>

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

std::string_view without_brackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

/// An IP literal (IPv6 with or without brackets), or nullopt for anything else.
std::optional<boost::asio::ip::address> ip_literal(std::string_view host) {
  host = without_brackets(host);
  if (host.empty()) {
    return std::nullopt;
  }
  boost::system::error_code error;
  auto address = boost::asio::ip::make_address(std::string(host), error);
  if (error) {
    return std::nullopt;
  }
  return address;
}

}  // namespace

Peer response_target(const Via& top_via, const Peer& source) {
  Peer target;
  target.protocol = source.protocol;
  target.local = source.local;
  target.address = source.address;
  std::uint16_t sent_by_port = top_via.port.value_or(kDefaultSipPort);

  if (source.protocol == Protocol::Tcp) {
    // RFC 3261 §18.2.2: reliable transport answers over the connection the request came on;
    // if it is gone, a new one goes to the received address and the sent-by port.
    target.connection = source.connection;
    target.port = sent_by_port;
    return target;
  }
  if (top_via.maddr) {
    // RFC 3261 §18.2.2: with maddr, the response goes there, to the sent-by port or 5060.
    if (auto maddr = ip_literal(*top_via.maddr)) {
      target.address = *maddr;
      target.port = sent_by_port;
      return target;
    }
  }
  // RFC 3581 §4: a request with rport is answered to the address and port it came from, so
  // that the response crosses the same NAT binding; otherwise RFC 3261 §18.2.2 sends to the
  // received address and the sent-by port.
  target.port = top_via.rport ? source.port : sent_by_port;
  return target;
}

Result<Peer> resolve(const Uri& uri) {
  Peer peer;
  if (uri.scheme == Scheme::Sips) {
    return fail("resolve: sips requires TLS, not supported");
  }
  if (uri.scheme != Scheme::Sip) {
    return fail("resolve: only sip: URIs can be sent to");
  }
  std::string_view transport = uri.params.get("transport").value_or("");
  if (transport.empty() || iequals_ascii(transport, "udp")) {
    peer.protocol = Protocol::Udp;
  } else if (iequals_ascii(transport, "tcp")) {
    peer.protocol = Protocol::Tcp;
  } else {
    return fail("resolve: transport " + std::string(transport) + " not supported");
  }

  // RFC 3261 §19.1.1: maddr overrides the host as the address to contact.
  std::string_view host = uri.host;
  if (auto maddr = uri.params.get("maddr"); maddr && !maddr->empty()) {
    host = *maddr;
  }
  if (iequals_ascii(host, "localhost")) {
    peer.address = boost::asio::ip::address_v4::loopback();
  } else if (auto address = ip_literal(host)) {
    peer.address = *address;
  } else {
    return fail("resolve: host " + std::string(host) +
                " is not an IP literal (names are resolved at configuration time)");
  }
  peer.port = uri.port.value_or(kDefaultSipPort);
  if (peer.port == 0) {
    return fail("resolve: port 0");
  }
  return peer;
}

}  // namespace catchline::sip::transport
