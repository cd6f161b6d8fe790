#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace catchline::sip::transport {

/// Why a message (received or to be sent) went nowhere. Each one is also logged.
enum class DropReason : std::uint8_t {
  Malformed,             // the parser refused it and no error response could be routed
  TooLarge,              // beyond ParseLimits::max_message_size
  MissingContentLength,  // a stream message without Content-Length that could not be answered
  BadContentLength,      // a stream message whose Content-Length is not a number, unanswerable
  NoSocket,              // no listen socket of the destination's protocol and address family
  SendFailed,            // the kernel refused the bytes (or the connection broke while writing)
  ConnectFailed,         // queued on an outbound connection that never opened
  ConnectionClosed,      // queued on a connection that closed before it was written
  QueueFull,             // a connection's write queue passed its limit (peer not reading)
  Count,                 // number of reasons; not a reason
};

inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::Count);

/// The snake_case name of a reason, for logs and metric labels ("too_large").
std::string_view drop_reason_name(DropReason reason);

/// Counters of the transport layer, for metrics. Plain values, updated on the signaling thread;
/// copy the struct to read it from elsewhere.
struct TransportStats {
  std::uint64_t received = 0;              // messages delivered to the Receiver
  std::uint64_t sent = 0;                  // messages handed to the kernel
  std::uint64_t rejected = 0;              // unparsable requests answered with an error status
  std::uint64_t keepalive_pings = 0;       // CRLF pings answered with a pong (RFC 5626 §4.4.1)
  std::uint64_t bytes_received = 0;        // UDP payload and TCP stream bytes
  std::uint64_t udp_wakeups = 0;           // receive wake-ups; received / wake-ups = batch size
  std::uint64_t udp_send_calls = 0;        // sendto/sendmmsg calls; sent / calls = batch size
  std::uint64_t connections_accepted = 0;  // inbound TCP connections
  std::uint64_t connections_opened = 0;    // outbound TCP connections attempted
  std::uint64_t connections_closed = 0;
  std::array<std::uint64_t, kDropReasonCount> dropped{};

  /// Drops for one reason.
  std::uint64_t dropped_for(DropReason reason) const {
    return dropped[static_cast<std::size_t>(reason)];
  }
  /// Drops for every reason together.
  std::uint64_t dropped_total() const {
    std::uint64_t total = 0;
    for (std::uint64_t count : dropped) {
      total += count;
    }
    return total;
  }
};

}  // namespace catchline::sip::transport
