#pragma once

#include <sys/socket.h>

#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <string>

namespace catchline::media::relay {

/// An IPv4 or IPv6 address and port in the kernel's form, so that the packet path compares and
/// sends without converting. A plain value; empty (family AF_UNSPEC) until set.
class SocketAddress {
 public:
  SocketAddress() = default;
  explicit SocketAddress(const boost::asio::ip::udp::endpoint& endpoint);
  /// From what recvmmsg wrote (`length` bytes of `name`).
  SocketAddress(const sockaddr_storage& name, socklen_t length);

  bool empty() const { return storage_.ss_family == AF_UNSPEC; }
  const sockaddr* name() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t length() const { return length_; }

  /// Same family and address, whatever the port.
  bool same_ip(const SocketAddress& other) const;
  /// Same family, address and port.
  friend bool operator==(const SocketAddress& a, const SocketAddress& b) {
    return a.same_ip(b) && a.port() == b.port();
  }

  /// For recvmmsg to write into: the storage, then set_length() with what it wrote.
  sockaddr* mutable_name() { return reinterpret_cast<sockaddr*>(&storage_); }
  static constexpr socklen_t capacity() { return sizeof(sockaddr_storage); }
  void set_length(socklen_t length) { length_ = length < capacity() ? length : capacity(); }

  std::uint16_t port() const;
  boost::asio::ip::udp::endpoint endpoint() const;
  /// "127.0.0.1:4000", "[::1]:4000", "-" when empty: for logs.
  std::string to_string() const;

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

}  // namespace catchline::media::relay
