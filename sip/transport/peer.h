#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

#include "sip/message.h"

namespace catchline::sip::transport {

enum class Protocol : std::uint8_t { Udp, Tcp };

/// Where a message came from, or where one goes: protocol, address and port, plus for TCP the
/// connection it arrived on, so that answers and later requests reuse it (RFC 3261 §18,
/// RFC 5626 style NAT traversal). A plain value, cheap to copy and store.
struct Peer {
  Protocol protocol = Protocol::Udp;
  boost::asio::ip::address address;
  std::uint16_t port = 0;
  std::uint64_t connection = 0;  // TCP connection id; 0 = none (open one when sending)
  std::uint32_t local = 0;       // index of the listen socket it arrived on / leaves from

  /// "udp:127.0.0.1:5060", "tcp:[::1]:5061": for logs and keys.
  std::string to_string() const;
  friend bool operator==(const Peer&, const Peer&) = default;
};

/// Sends bytes to a peer. Implemented by the transport layer; tests fake it.
/// Owned by the signaling thread.
class Sender {
 public:
  virtual ~Sender() = default;
  /// Sends one whole message. Never blocks: UDP is sent (or batched) at once, TCP is queued on
  /// the connection (opened when `to.connection` is 0 or gone). Failures are logged, not thrown.
  virtual void send(const Peer& to, std::string_view bytes) = 0;
};

/// Receives parsed messages from the transport layer, on the signaling thread.
class Receiver {
 public:
  virtual ~Receiver() = default;
  virtual void on_message(Message&& message, const Peer& source) = 0;
  /// Around the messages of one wake-up (a recvmmsg batch, a TCP read): what is sent before
  /// on_batch_end() returns still leaves in that wake-up's sendmmsg.
  virtual void on_batch_begin() {}
  virtual void on_batch_end() {}
};

}  // namespace catchline::sip::transport
