#include "media/relay/socket_address.h"

#include <netinet/in.h>

#include <cstring>

namespace catchline::media::relay {

SocketAddress::SocketAddress(const boost::asio::ip::udp::endpoint& endpoint) {
  length_ = static_cast<socklen_t>(endpoint.size());
  std::memcpy(&storage_, endpoint.data(), length_);
}

SocketAddress::SocketAddress(const sockaddr_storage& name, socklen_t length) : length_(length) {
  if (length_ > sizeof(storage_)) {
    length_ = sizeof(storage_);
  }
  std::memcpy(&storage_, &name, length_);
}

bool SocketAddress::same_ip(const SocketAddress& other) const {
  if (storage_.ss_family != other.storage_.ss_family) {
    return false;
  }
  if (storage_.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(storage_);
    const auto& b = reinterpret_cast<const sockaddr_in&>(other.storage_);
    return a.sin_addr.s_addr == b.sin_addr.s_addr;
  }
  if (storage_.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(storage_);
    const auto& b = reinterpret_cast<const sockaddr_in6&>(other.storage_);
    return std::memcmp(&a.sin6_addr, &b.sin6_addr, sizeof(a.sin6_addr)) == 0;
  }
  return false;
}

std::uint16_t SocketAddress::port() const {
  if (storage_.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in&>(storage_).sin_port);
  }
  if (storage_.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(storage_).sin6_port);
  }
  return 0;
}

boost::asio::ip::udp::endpoint SocketAddress::endpoint() const {
  boost::asio::ip::udp::endpoint endpoint;
  if (!empty()) {
    std::memcpy(endpoint.data(), &storage_, length_);
  }
  return endpoint;
}

std::string SocketAddress::to_string() const {
  if (empty()) {
    return "-";
  }
  const auto endpoint = this->endpoint();
  const auto address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

}  // namespace catchline::media::relay
