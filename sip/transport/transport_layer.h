#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "sip/message.h"
#include "sip/transport/listen_spec.h"
#include "sip/transport/peer.h"
#include "sip/transport/stats.h"

namespace boost::asio {
class io_context;
}
namespace spdlog {
class logger;
}

namespace catchline::sip::transport {

/// Settings of the transport layer; the defaults suit a production server.
struct TransportOptions {
  ParseLimits limits;  // per message, on every transport
  std::chrono::milliseconds idle_timeout =
      std::chrono::minutes{10};  // a TCP connection without traffic closes
  std::chrono::milliseconds connect_timeout =
      std::chrono::seconds{10};                    // an outbound connect that takes longer fails
  std::size_t max_queued_bytes = 4 * 1024 * 1024;  // per connection; beyond it, it closes
  std::size_t udp_receive_batch = 32;              // datagrams per recvmmsg call
  bool udp_send_batching = true;                   // sendmmsg once per loop turn, else sendto
  int socket_buffer_bytes = 4 * 1024 * 1024;       // SO_RCVBUF/SO_SNDBUF asked for UDP
};

/// SIP over UDP and TCP (RFC 3261 §18, RFC 3581, RFC 5626 §4.4.1) on Boost.Asio.
///
/// Owned by the signaling thread: the io_context it is given is run by that one thread, and
/// every call (send, listen, close) and every Receiver callback happens there; no locks. The
/// calls check the thread in debug builds (base::assert_on_signaling_thread()).
///
/// Receiving: UDP datagrams are read in batches (recvmmsg) on each wake-up; TCP streams are
/// framed by Content-Length. Each message is parsed (one copy of its bytes into the Message)
/// and handed to the Receiver with the Peer it came from. A request that does not parse is
/// answered 400 with the parser's reason when its Via can be read, else dropped; every drop is
/// logged (rate-limited) and counted.
///
/// Sending: UDP leaves from the listen socket of the destination's family (symmetric ports for
/// NAT); what the Receiver sends while received messages are handed over is batched into one
/// sendmmsg per wake-up, anything else goes at once with sendto. TCP reuses the given connection,
/// or one to the same address and port, or opens one; writes are queued per connection.
///
/// Lifetime: destroy it only when the io_context no longer runs its handlers (the io_context
/// stopped, or destroyed right after), since pending socket operations refer to it.
class TransportLayer final : public Sender {
 public:
  /// `log` receives every drop, reject and connection event; nullptr uses spdlog's default.
  TransportLayer(boost::asio::io_context& io, Receiver& receiver, TransportOptions options = {},
                 std::shared_ptr<spdlog::logger> log = nullptr);
  ~TransportLayer() override;
  TransportLayer(const TransportLayer&) = delete;
  TransportLayer& operator=(const TransportLayer&) = delete;

  /// Opens one listen socket and starts receiving on it. Returns its index, which is the
  /// `local` of every Peer that arrives on it. Start-up only: throws boost::system::system_error
  /// when the address cannot be bound.
  std::uint32_t listen(const ListenSpec& spec);
  /// The same from a spec such as "udp:0.0.0.0:5060" (see parse_listen_spec); a bad spec
  /// throws std::invalid_argument with the parser's message.
  std::uint32_t listen(std::string_view spec);
  /// The address and port a listen socket is bound to (the real port when 0 was asked).
  ListenSpec bound(std::uint32_t local) const;
  /// How many listen sockets are open.
  std::size_t listen_count() const;

  /// Sends one message (see Sender). Never blocks and never throws; what cannot be sent is
  /// logged and counted as dropped.
  void send(const Peer& to, std::string_view bytes) override;
  /// Sends the UDP datagrams batched so far. Called by the layer itself before the thread
  /// waits again; callers need it only to force the order of sends against other sockets.
  void flush();

  /// True while TCP connection `id` is open or opening (not closing or closed).
  bool connection_open(std::uint64_t id) const;
  /// TCP connections currently open or opening (closing ones are not counted).
  std::size_t connection_count() const;
  /// Closes TCP connection `id` (queued bytes are dropped); no effect on an unknown id.
  void close_connection(std::uint64_t id);
  /// Stops listening and closes every connection. The layer sends and receives nothing after.
  void close();

  /// Counters so far.
  const TransportStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace catchline::sip::transport
