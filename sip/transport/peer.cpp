#include "sip/transport/peer.h"

#include <charconv>

namespace catchline::sip::transport {

std::string Peer::to_string() const {
  std::string text = protocol == Protocol::Tcp ? "tcp:" : "udp:";
  // RFC 3261 §19.1.1 writes IPv6 references in brackets so that the port stays readable.
  if (address.is_v6()) {
    text += '[';
    text += address.to_string();
    text += ']';
  } else {
    text += address.to_string();
  }
  text += ':';
  char digits[8];
  auto [end, error] = std::to_chars(digits, digits + sizeof digits, port);
  text.append(digits, end);
  return text;
}

}  // namespace catchline::sip::transport
