#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

#include "sip/result.h"
#include "sip/transport/peer.h"

namespace catchline::sip::transport {

/// The SIP port when none is written (RFC 3261 §19.1.2).
inline constexpr std::uint16_t kDefaultSipPort = 5060;

/// One address to listen on: "udp:0.0.0.0:5060", "tcp:[::1]:5061", "udp:127.0.0.1:0".
/// Port 0 asks the kernel for a free port (tests).
struct ListenSpec {
  Protocol protocol = Protocol::Udp;
  boost::asio::ip::address address;
  std::uint16_t port = kDefaultSipPort;

  /// The spec in its written form, e.g. "tcp:[::1]:5061".
  std::string to_string() const;
  friend bool operator==(const ListenSpec&, const ListenSpec&) = default;
};

/// Parses "PROTOCOL:ADDRESS[:PORT]": protocol "udp" or "tcp" (any letter case), an IPv4
/// literal or a bracketed IPv6 literal, an optional port (default 5060; 0 = any free port).
/// Host names are refused: a listen address must be an address of this machine.
/// Errors name the fault, e.g. `listen "udp:1.2.3.4:99999": port must be 0..65535`.
Result<ListenSpec> parse_listen_spec(std::string_view spec);

}  // namespace catchline::sip::transport
