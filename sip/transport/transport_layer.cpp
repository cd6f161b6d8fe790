#include "sip/transport/transport_layer.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "base/thread_check.h"
#include "sip/transport/reject.h"
#include "sip/transport/stream_framing.h"

namespace catchline::sip::transport {

std::string_view drop_reason_name(DropReason reason) {
  switch (reason) {
    case DropReason::Malformed:
      return "malformed";
    case DropReason::TooLarge:
      return "too_large";
    case DropReason::MissingContentLength:
      return "missing_content_length";
    case DropReason::BadContentLength:
      return "bad_content_length";
    case DropReason::NoSocket:
      return "no_socket";
    case DropReason::SendFailed:
      return "send_failed";
    case DropReason::ConnectFailed:
      return "connect_failed";
    case DropReason::ConnectionClosed:
      return "connection_closed";
    case DropReason::QueueFull:
      return "queue_full";
    case DropReason::Count:
      break;
  }
  return "unknown";
}

namespace {

namespace asio = boost::asio;
using boost::asio::ip::tcp;
using boost::asio::ip::udp;
using Clock = std::chrono::steady_clock;

// At most this many drop lines per second; the rest are counted and reported in one line.
constexpr unsigned kDropLogsPerSecond = 50;
// recvmmsg rounds per wake-up before other sockets get their turn.
constexpr int kReceiveRoundsPerWakeup = 4;
// Datagrams and bytes queued per socket before a sendmmsg is forced.
constexpr std::size_t kMaxSendBatch = 64;
constexpr std::size_t kMaxSendBatchBytes = 256 * 1024;
// TCP read buffer: starts small, grows to the message size limit plus room for a following one.
constexpr std::size_t kInitialReadBuffer = 4096;
constexpr std::size_t kMinReadSpace = 1024;
// After an error response on a stream, how long we wait for the peer to read it and close.
constexpr auto kDrainTime = std::chrono::seconds{2};

/// The largest UDP payload (65535 minus the UDP header), which a datagram can never pass.
constexpr std::size_t kMaxDatagram = 65527;

/// An address and port as a hashable key, for TCP connection reuse (RFC 3261 §18.1.1).
struct RemoteKey {
  std::array<unsigned char, 16> bytes{};
  std::uint32_t scope = 0;
  std::uint16_t port = 0;
  bool v6 = false;
  friend bool operator==(const RemoteKey&, const RemoteKey&) = default;
};

RemoteKey remote_key(const asio::ip::address& address, std::uint16_t port) {
  RemoteKey key;
  key.port = port;
  if (address.is_v6()) {
    key.v6 = true;
    key.bytes = address.to_v6().to_bytes();
    key.scope = address.to_v6().scope_id();
  } else {
    auto v4 = address.to_v4().to_bytes();
    std::copy(v4.begin(), v4.end(), key.bytes.begin());
  }
  return key;
}

struct RemoteKeyHash {
  std::size_t operator()(const RemoteKey& key) const {
    std::uint64_t hash = 1469598103934665603ull;  // FNV-1a
    auto mix = [&hash](unsigned char byte) {
      hash ^= byte;
      hash *= 1099511628211ull;
    };
    for (unsigned char byte : key.bytes) {
      mix(byte);
    }
    mix(static_cast<unsigned char>(key.port));
    mix(static_cast<unsigned char>(key.port >> 8));
    mix(static_cast<unsigned char>(key.scope));
    return static_cast<std::size_t>(hash);
  }
};

/// The sender of a datagram, from the kernel's socket address.
asio::ip::address address_from(const sockaddr_storage& name, std::uint16_t& port) {
  if (name.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(name);
    asio::ip::address_v6::bytes_type bytes;
    std::memcpy(bytes.data(), &in6.sin6_addr, bytes.size());
    port = ntohs(in6.sin6_port);
    return asio::ip::address_v6(bytes, in6.sin6_scope_id);
  }
  const auto& in4 = reinterpret_cast<const sockaddr_in&>(name);
  port = ntohs(in4.sin_port);
  return asio::ip::address_v4(ntohl(in4.sin_addr.s_addr));
}

socklen_t socket_address(const Peer& to, sockaddr_storage& name) {
  udp::endpoint endpoint(to.address, to.port);
  std::memcpy(&name, endpoint.data(), endpoint.size());
  return static_cast<socklen_t>(endpoint.size());
}

/// One UDP listen socket with its receive batch and its queue of datagrams to send.
struct UdpSocket {
  explicit UdpSocket(asio::io_context& io) : socket(io) {}

  struct Outgoing {
    std::size_t offset = 0;  // into bytes
    std::size_t length = 0;
    sockaddr_storage name{};
    socklen_t name_length = 0;
    Peer to;
  };

  udp::socket socket;
  std::uint32_t local = 0;
  ListenSpec bound;
  bool v6 = false;
  bool queued = false;  // listed in Impl::dirty_

  // Receive batch: one slot per datagram, each one byte larger than the largest message we
  // accept, so that MSG_TRUNC or the length tells an oversized datagram.
  std::size_t slot_size = 0;
  std::vector<char> slots;
  std::vector<mmsghdr> receive_headers;
  std::vector<iovec> receive_vectors;
  std::vector<sockaddr_storage> receive_names;

  // Send batch.
  std::vector<char> bytes;
  std::vector<Outgoing> outgoing;
  std::vector<mmsghdr> send_headers;
  std::vector<iovec> send_vectors;
};

/// One TCP listen socket.
struct TcpListener {
  explicit TcpListener(asio::io_context& io) : acceptor(io), retry(io) {}
  tcp::acceptor acceptor;
  asio::steady_timer retry;  // backs off after accept errors such as EMFILE
  std::uint32_t local = 0;
  ListenSpec bound;
};

/// One TCP connection, inbound or outbound, with its read buffer and write queue.
/// Destroyed once closed and no asynchronous operation refers to it any more.
struct Connection {
  // Connecting -> Open -> (Draining ->) Closed; Draining: an error response was written and the
  // sending side shut; we discard input until the peer closes, so that it reads the response.
  enum class State : std::uint8_t { Connecting, Open, Draining, Closed };

  Connection(asio::io_context& io, std::size_t max_message_size)
      : socket(io), framer(max_message_size) {}

  std::uint64_t id = 0;
  tcp::socket socket;
  Peer peer;  // what the Receiver is given: remote address, port, this id, local
  State state = State::Connecting;
  bool writing = false;
  bool close_after_write = false;
  int pending = 0;  // asynchronous operations that still refer to this object
  Clock::time_point last_activity;

  StreamFramer framer;
  std::vector<char> buffer;
  std::size_t head = 0;  // first unread byte
  std::size_t tail = 0;  // end of the bytes read

  std::string queued;  // bytes waiting for the current write to finish
  std::size_t queued_messages = 0;
  std::string writing_bytes;  // bytes of the write in progress
  std::size_t writing_messages = 0;
};

/// Open or opening: a connection that sends may use.
bool usable(const Connection& connection) {
  return connection.state == Connection::State::Open ||
         connection.state == Connection::State::Connecting;
}

}  // namespace

struct TransportLayer::Impl {
  Impl(asio::io_context& io, Receiver& receiver, TransportOptions options,
       std::shared_ptr<spdlog::logger> log)
      : io_(io),
        receiver_(receiver),
        options_(options),
        log_(log ? std::move(log) : spdlog::default_logger()),
        sweep_(io) {
    auto shortest = std::min(options_.idle_timeout, options_.connect_timeout);
    sweep_interval_ = std::clamp<std::chrono::milliseconds>(
        shortest / 4, std::chrono::milliseconds{10}, std::chrono::seconds{30});
    if (options_.udp_receive_batch == 0) {
      options_.udp_receive_batch = 1;
    }
  }

  ~Impl() { close_all(); }

  // ---- listening ----

  std::uint32_t listen(const ListenSpec& spec) {
    auto local = static_cast<std::uint32_t>(listeners_.size());
    if (spec.protocol == Protocol::Udp) {
      listeners_.push_back({open_udp(spec, local), nullptr});
      start_udp_wait(*listeners_.back().udp);
    } else {
      listeners_.push_back({nullptr, open_tcp(spec, local)});
      start_accept(*listeners_.back().tcp);
    }
    ListenSpec bound = this->bound(local);
    log_->info("listen address={} local={}", bound.to_string(), local);
    return local;
  }

  std::unique_ptr<UdpSocket> open_udp(const ListenSpec& spec, std::uint32_t local) {
    auto socket = std::make_unique<UdpSocket>(io_);
    udp::endpoint endpoint(spec.address, spec.port);
    boost::system::error_code error;
    socket->socket.open(endpoint.protocol(), error);
    if (!error && spec.address.is_v6()) {
      // Keep IPv6 sockets to IPv6 so that "udp:[::]" and "udp:0.0.0.0" can share a port.
      socket->socket.set_option(asio::ip::v6_only(true), error);
    }
    if (!error) {
      socket->socket.bind(endpoint, error);
    }
    if (!error) {
      socket->socket.non_blocking(true, error);
    }
    if (error) {
      throw boost::system::system_error(error, "listen " + spec.to_string());
    }
    // Bursts of a load test must not overflow the kernel queue between two wake-ups; the kernel
    // caps these at its configured maximum, which is fine.
    boost::system::error_code ignored;
    socket->socket.set_option(udp::socket::receive_buffer_size(options_.socket_buffer_bytes),
                              ignored);
    socket->socket.set_option(udp::socket::send_buffer_size(options_.socket_buffer_bytes), ignored);
    socket->local = local;
    socket->v6 = spec.address.is_v6();
    auto bound = socket->socket.local_endpoint();
    socket->bound = {Protocol::Udp, bound.address(), bound.port()};

    std::size_t batch = options_.udp_receive_batch;
    socket->slot_size = std::min(options_.limits.max_message_size, kMaxDatagram) + 1;
    socket->slots.resize(batch * socket->slot_size);
    socket->receive_headers.resize(batch);
    socket->receive_vectors.resize(batch);
    socket->receive_names.resize(batch);
    for (std::size_t i = 0; i < batch; ++i) {
      socket->receive_vectors[i] = {socket->slots.data() + i * socket->slot_size,
                                    socket->slot_size};
    }
    return socket;
  }

  std::unique_ptr<TcpListener> open_tcp(const ListenSpec& spec, std::uint32_t local) {
    auto listener = std::make_unique<TcpListener>(io_);
    tcp::endpoint endpoint(spec.address, spec.port);
    boost::system::error_code error;
    listener->acceptor.open(endpoint.protocol(), error);
    if (!error) {
      listener->acceptor.set_option(tcp::acceptor::reuse_address(true), error);
    }
    if (!error && spec.address.is_v6()) {
      listener->acceptor.set_option(asio::ip::v6_only(true), error);
    }
    if (!error) {
      listener->acceptor.bind(endpoint, error);
    }
    if (!error) {
      listener->acceptor.listen(asio::socket_base::max_listen_connections, error);
    }
    if (error) {
      throw boost::system::system_error(error, "listen " + spec.to_string());
    }
    listener->local = local;
    auto bound = listener->acceptor.local_endpoint();
    listener->bound = {Protocol::Tcp, bound.address(), bound.port()};
    return listener;
  }

  ListenSpec bound(std::uint32_t local) const {
    const Listener& listener = listeners_.at(local);
    return listener.udp ? listener.udp->bound : listener.tcp->bound;
  }

  // ---- UDP receive ----

  void start_udp_wait(UdpSocket& socket) {
    socket.socket.async_wait(
        udp::socket::wait_read, [this, &socket](const boost::system::error_code& error) {
          if (error) {
            if (error != asio::error::operation_aborted) {
              log_->error("udp wait local={} error=\"{}\"", socket.local, error.message());
            }
            return;
          }
          drain_udp(socket);
        });
  }

  // One wake-up: read every datagram waiting, a batch per system call. The reactor is
  // edge-triggered, so we either read until the kernel has nothing left or come back at once.
  void drain_udp(UdpSocket& socket) {
    if (closed_) {
      return;
    }
    ++stats_.udp_wakeups;
    ++dispatch_depth_;
    receiver_.on_batch_begin();
    int fd = socket.socket.native_handle();
    auto batch = static_cast<unsigned>(socket.receive_headers.size());
    bool more = false;
    for (int round = 0; round < kReceiveRoundsPerWakeup; ++round) {
      for (unsigned i = 0; i < batch; ++i) {
        msghdr& header = socket.receive_headers[i].msg_hdr;
        header = {};
        header.msg_name = &socket.receive_names[i];
        header.msg_namelen = sizeof(sockaddr_storage);
        header.msg_iov = &socket.receive_vectors[i];
        header.msg_iovlen = 1;
      }
      int count = ::recvmmsg(fd, socket.receive_headers.data(), batch, MSG_DONTWAIT, nullptr);
      if (count < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          log_->error("udp receive local={} error=\"{}\"", socket.local, std::strerror(errno));
        }
        break;
      }
      for (int i = 0; i < count && !closed_; ++i) {
        on_datagram(socket, static_cast<std::size_t>(i));
      }
      if (static_cast<unsigned>(count) < batch || closed_) {
        break;
      }
      more = round + 1 == kReceiveRoundsPerWakeup;
    }
    receiver_.on_batch_end();
    --dispatch_depth_;
    flush_udp();
    if (closed_) {
      return;
    }
    if (more) {
      // The kernel may still hold datagrams and will not signal them again: come back after
      // the other ready handlers had their turn.
      asio::post(io_, [this, &socket] { drain_udp(socket); });
    } else {
      start_udp_wait(socket);
    }
  }

  void on_datagram(UdpSocket& socket, std::size_t index) {
    const mmsghdr& received = socket.receive_headers[index];
    Peer source;
    source.protocol = Protocol::Udp;
    source.address = address_from(socket.receive_names[index], source.port);
    source.local = socket.local;
    std::size_t length = received.msg_len;
    stats_.bytes_received += length;
    if ((received.msg_hdr.msg_flags & MSG_TRUNC) != 0 ||
        length > options_.limits.max_message_size) {
      drop(DropReason::TooLarge, "from", source, "datagram larger than the message size limit",
           length);
      return;
    }
    std::string_view text(socket.slots.data() + index * socket.slot_size, length);
    if (text.find_first_not_of("\r\n\t ") == std::string_view::npos) {
      // CRLF keep-alives: RFC 5626 §4.4.1 defines them for streams, but phones send them over
      // UDP too, to hold their NAT binding open. Nothing to answer and nothing to log as a drop.
      if (log_->should_log(spdlog::level::debug)) {
        log_->debug("keepalive from={} bytes={}", source.to_string(), length);
      }
      return;
    }
    deliver(text, source);
  }

  // ---- parsing and delivery, both transports ----

  void deliver(std::string_view text, const Peer& source) {
    Result<Message> parsed = parse_message(std::string(text), options_.limits);
    if (!parsed) {
      reject(text, parsed.error(), source);
      return;
    }
    ++stats_.received;
    receiver_.on_message(std::move(*parsed), source);
  }

  // RFC 3261 §8.2 / §16.3: a request that cannot be processed is answered with the reason when
  // the answer can be routed; anything else is dropped and logged.
  void reject(std::string_view text, const ParseError& error, const Peer& source) {
    auto rejection = reject_unparsed(text, error.status, error.reason, source);
    if (!rejection) {
      drop(DropReason::Malformed, "from", source, error.reason, text.size());
      return;
    }
    ++stats_.rejected;
    if (allow_log()) {
      log_->info("reject from={} status={} reason=\"{}\"", source.to_string(), error.status,
                 error.reason);
    }
    send(rejection->target, rejection->response);
  }

  // ---- UDP send ----

  UdpSocket* udp_socket_for(const Peer& to) {
    bool v6 = to.address.is_v6();
    if (to.local < listeners_.size()) {
      UdpSocket* socket = listeners_[to.local].udp.get();
      if (socket != nullptr && socket->v6 == v6) {
        return socket;
      }
    }
    for (const Listener& listener : listeners_) {
      if (listener.udp && listener.udp->v6 == v6) {
        return listener.udp.get();
      }
    }
    return nullptr;
  }

  void send_udp(const Peer& to, std::string_view bytes) {
    UdpSocket* socket = udp_socket_for(to);
    if (socket == nullptr) {
      drop(DropReason::NoSocket, "to", to, "no udp listen socket of this address family",
           bytes.size());
      return;
    }
    // What the Receiver sends while a batch of received messages is handed over shares one
    // sendmmsg, flushed when the batch is done. A send from anywhere else (a timer, the API)
    // goes at once:
    // deferring it would cost a posted handler, more than the system call it saves (measured
    // on loopback: 21.4 us per round trip deferred against 19.2 us direct when unloaded; under
    // load, batching answers gives 11.9 us against 14.1 us).
    if (!options_.udp_send_batching || dispatch_depth_ == 0) {
      sockaddr_storage name;
      socklen_t name_length = socket_address(to, name);
      ++stats_.udp_send_calls;
      ssize_t sent = ::sendto(socket->socket.native_handle(), bytes.data(), bytes.size(),
                              MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&name), name_length);
      if (sent < 0) {
        drop(DropReason::SendFailed, "to", to, std::strerror(errno), bytes.size());
      } else {
        ++stats_.sent;
      }
      return;
    }
    if (socket->outgoing.size() >= kMaxSendBatch ||
        socket->bytes.size() + bytes.size() > kMaxSendBatchBytes) {
      flush_socket(*socket);
    }
    UdpSocket::Outgoing& outgoing = socket->outgoing.emplace_back();
    outgoing.offset = socket->bytes.size();
    outgoing.length = bytes.size();
    outgoing.name_length = socket_address(to, outgoing.name);
    outgoing.to = to;
    socket->bytes.insert(socket->bytes.end(), bytes.begin(), bytes.end());
    if (!socket->queued) {
      socket->queued = true;
      dirty_.push_back(socket);
    }
  }

  void flush_udp() {
    for (UdpSocket* socket : dirty_) {
      flush_socket(*socket);
      socket->queued = false;
    }
    dirty_.clear();
  }

  void flush_socket(UdpSocket& socket) {
    std::size_t count = socket.outgoing.size();
    if (count == 0) {
      return;
    }
    socket.send_headers.resize(count);
    socket.send_vectors.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
      UdpSocket::Outgoing& outgoing = socket.outgoing[i];
      socket.send_vectors[i] = {socket.bytes.data() + outgoing.offset, outgoing.length};
      msghdr& header = socket.send_headers[i].msg_hdr;
      header = {};
      header.msg_name = &outgoing.name;
      header.msg_namelen = outgoing.name_length;
      header.msg_iov = &socket.send_vectors[i];
      header.msg_iovlen = 1;
    }
    std::size_t done = 0;
    while (done < count) {
      ++stats_.udp_send_calls;
      int sent = ::sendmmsg(socket.socket.native_handle(), &socket.send_headers[done],
                            static_cast<unsigned>(count - done), MSG_DONTWAIT);
      if (sent < 0) {
        if (errno == EINTR) {
          continue;
        }
        // The datagram at `done` failed; the ones after it get their own try.
        const UdpSocket::Outgoing& failed = socket.outgoing[done];
        drop(DropReason::SendFailed, "to", failed.to, std::strerror(errno), failed.length);
        ++done;
        continue;
      }
      stats_.sent += static_cast<std::uint64_t>(sent);
      done += static_cast<std::size_t>(sent);
    }
    socket.outgoing.clear();
    socket.bytes.clear();
  }

  // ---- TCP accept and connect ----

  void start_accept(TcpListener& listener) {
    listener.acceptor.async_accept(
        [this, &listener](const boost::system::error_code& error, tcp::socket socket) {
          if (error == asio::error::operation_aborted || closed_) {
            return;
          }
          if (error) {
            // EMFILE and the like: try again shortly rather than spin.
            log_->error("accept local={} error=\"{}\"", listener.local, error.message());
            listener.retry.expires_after(std::chrono::milliseconds{100});
            listener.retry.async_wait([this, &listener](const boost::system::error_code& e) {
              if (!e && !closed_) {
                start_accept(listener);
              }
            });
            return;
          }
          adopt(std::move(socket), listener.local);
          start_accept(listener);
        });
  }

  void adopt(tcp::socket socket, std::uint32_t local) {
    boost::system::error_code error;
    tcp::endpoint remote = socket.remote_endpoint(error);
    if (error) {
      return;  // already gone
    }
    socket.set_option(tcp::no_delay(true), error);
    auto connection = std::make_unique<Connection>(io_, options_.limits.max_message_size);
    Connection& c = *connection;
    c.id = next_connection_id_++;
    c.socket = std::move(socket);
    c.peer = {Protocol::Tcp, remote.address(), remote.port(), c.id, local};
    c.state = Connection::State::Open;
    c.last_activity = Clock::now();
    by_remote_[remote_key(c.peer.address, c.peer.port)] = c.id;
    connections_.emplace(c.id, std::move(connection));
    ++stats_.connections_accepted;
    if (log_->should_log(spdlog::level::debug)) {
      log_->debug("connection accepted id={} from={}", c.id, c.peer.to_string());
    }
    start_read(c);
    ensure_sweep();
  }

  Connection* open_outbound(const Peer& to) {
    auto connection = std::make_unique<Connection>(io_, options_.limits.max_message_size);
    Connection& c = *connection;
    tcp::endpoint remote(to.address, to.port);
    boost::system::error_code error;
    c.socket.open(remote.protocol(), error);
    if (error) {
      drop(DropReason::ConnectFailed, "to", to, error.message(), 0);
      return nullptr;
    }
    c.socket.set_option(tcp::no_delay(true), error);
    c.id = next_connection_id_++;
    c.peer = {Protocol::Tcp, to.address, to.port, c.id, to.local};
    c.state = Connection::State::Connecting;
    c.last_activity = Clock::now();
    ++c.pending;
    c.socket.async_connect(remote,
                           [this, &c](const boost::system::error_code& e) { on_connect(c, e); });
    by_remote_[remote_key(to.address, to.port)] = c.id;
    connections_.emplace(c.id, std::move(connection));
    ++stats_.connections_opened;
    if (log_->should_log(spdlog::level::debug)) {
      log_->debug("connection opening id={} to={}", c.id, c.peer.to_string());
    }
    ensure_sweep();
    return &c;
  }

  void on_connect(Connection& c, const boost::system::error_code& error) {
    --c.pending;
    if (c.state == Connection::State::Closed) {
      destroy_if_done(c);
      return;
    }
    if (error) {
      fail_queued(c, DropReason::ConnectFailed, "connect failed: " + error.message());
      close(c, "connect failed");
      destroy_if_done(c);
      return;
    }
    c.state = Connection::State::Open;
    c.last_activity = Clock::now();
    start_read(c);
    if (!c.queued.empty()) {
      start_write(c);
    }
  }

  // ---- TCP read ----

  void start_read(Connection& c) {
    if (c.head == c.tail) {
      c.head = c.tail = 0;
    }
    if (c.buffer.size() - c.tail < kMinReadSpace) {
      if (c.head > 0) {
        std::memmove(c.buffer.data(), c.buffer.data() + c.head, c.tail - c.head);
        c.tail -= c.head;
        c.head = 0;
      }
      std::size_t limit = options_.limits.max_message_size + kMinReadSpace;
      if (c.buffer.size() - c.tail < kMinReadSpace && c.buffer.size() < limit) {
        c.buffer.resize(std::min(limit, std::max(kInitialReadBuffer, c.buffer.size() * 2)));
      }
    }
    if (c.tail == c.buffer.size()) {
      // Cannot happen: the framer refuses a message before it fills the buffer.
      drop(DropReason::TooLarge, "from", c.peer, "read buffer full", c.tail - c.head);
      close(c, "read buffer full");
      return;
    }
    ++c.pending;
    c.socket.async_read_some(asio::buffer(c.buffer.data() + c.tail, c.buffer.size() - c.tail),
                             [this, &c](const boost::system::error_code& error, std::size_t bytes) {
                               on_read(c, error, bytes);
                             });
  }

  void on_read(Connection& c, const boost::system::error_code& error, std::size_t bytes) {
    --c.pending;
    if (c.state == Connection::State::Closed) {
      destroy_if_done(c);
      return;
    }
    if (error) {
      close(c, error == asio::error::eof ? "closed by peer" : error.message());
      destroy_if_done(c);
      return;
    }
    stats_.bytes_received += bytes;
    c.last_activity = Clock::now();
    if (c.state == Connection::State::Draining) {
      c.head = c.tail = 0;  // the peer has had its answer; nothing more is read
    } else {
      c.tail += bytes;
      ++dispatch_depth_;
      receiver_.on_batch_begin();
      read_frames(c);
      receiver_.on_batch_end();
      --dispatch_depth_;
      flush_udp();
    }
    if (c.state == Connection::State::Closed) {
      destroy_if_done(c);
      return;
    }
    if (c.close_after_write) {
      return;  // the pending write closes it; nothing more is read
    }
    start_read(c);
  }

  // Every whole frame at the front of the buffer, in order (RFC 3261 §18.3).
  void read_frames(Connection& c) {
    while (c.state == Connection::State::Open && !c.close_after_write && c.head < c.tail) {
      std::string_view buffered(c.buffer.data() + c.head, c.tail - c.head);
      Frame frame = c.framer.next(buffered);
      switch (frame.kind) {
        case FrameKind::NeedMore:
          return;
        case FrameKind::Ping:
          // RFC 5626 §4.4.1: a double CRLF ping is answered with a single CRLF pong.
          c.head += frame.size;
          ++stats_.keepalive_pings;
          queue_write(c, "\r\n", 0);
          break;
        case FrameKind::Crlf:
          c.head += frame.size;
          break;
        case FrameKind::Message:
          c.head += frame.size;
          deliver(buffered.substr(0, frame.size), c.peer);
          break;
        case FrameKind::TooLarge:
          drop(DropReason::TooLarge, "from", c.peer,
               "message larger than the size limit on a stream", buffered.size());
          close(c, "message too large");
          return;
        case FrameKind::MissingContentLength:
          reject_stream(c, buffered.substr(0, frame.header_size), DropReason::MissingContentLength,
                        "Missing Content-Length");
          return;
        case FrameKind::BadContentLength:
          reject_stream(c, buffered.substr(0, frame.header_size), DropReason::BadContentLength,
                        "Bad Content-Length");
          return;
      }
    }
  }

  // RFC 3261 §18.3: without a usable Content-Length the stream cannot be framed any further:
  // answer 400 when the request can be answered, then close.
  void reject_stream(Connection& c, std::string_view headers, DropReason reason,
                     std::string_view phrase) {
    auto rejection = reject_unparsed(headers, 400, phrase, c.peer);
    if (!rejection) {
      drop(reason, "from", c.peer, phrase, headers.size());
      close(c, phrase);
      return;
    }
    ++stats_.rejected;
    if (allow_log()) {
      log_->info("reject from={} status=400 reason=\"{}\" then=close", c.peer.to_string(), phrase);
    }
    queue_write(c, rejection->response, 1);
    c.close_after_write = true;
  }

  // ---- TCP send ----

  Connection* live_connection(std::uint64_t id) {
    auto found = connections_.find(id);
    if (found == connections_.end()) {
      return nullptr;
    }
    Connection* c = found->second.get();
    return usable(*c) && !c->close_after_write ? c : nullptr;
  }

  void send_tcp(const Peer& to, std::string_view bytes) {
    Connection* c = to.connection != 0 ? live_connection(to.connection) : nullptr;
    bool reachable = to.port != 0 && !to.address.is_unspecified();
    if (c == nullptr && reachable) {
      // RFC 3261 §18.1.1 / §18.2.2: reuse a connection to the same address and port.
      auto found = by_remote_.find(remote_key(to.address, to.port));
      if (found != by_remote_.end()) {
        c = live_connection(found->second);
      }
    }
    if (c == nullptr) {
      if (!reachable) {
        drop(DropReason::ConnectionClosed, "to", to, "connection gone and no address to open one",
             bytes.size());
        return;
      }
      c = open_outbound(to);
      if (c == nullptr) {
        return;
      }
    }
    queue_write(*c, bytes, 1);
  }

  void queue_write(Connection& c, std::string_view bytes, std::size_t messages) {
    if (c.queued.size() + c.writing_bytes.size() + bytes.size() > options_.max_queued_bytes) {
      drop(DropReason::QueueFull, "to", c.peer, "write queue full", bytes.size());
      close(c, "write queue full");
      return;
    }
    c.queued.append(bytes);
    c.queued_messages += messages;
    if (c.state == Connection::State::Open && !c.writing) {
      start_write(c);
    }
  }

  void start_write(Connection& c) {
    // Everything queued goes in one write; sends during it gather for the next one.
    std::swap(c.queued, c.writing_bytes);
    c.writing_messages = c.queued_messages;
    c.queued_messages = 0;
    c.writing = true;
    ++c.pending;
    asio::async_write(
        c.socket, asio::buffer(c.writing_bytes),
        [this, &c](const boost::system::error_code& error, std::size_t) { on_write(c, error); });
  }

  void on_write(Connection& c, const boost::system::error_code& error) {
    --c.pending;
    c.writing = false;
    if (c.state == Connection::State::Closed) {
      destroy_if_done(c);
      return;
    }
    if (error) {
      if (c.writing_messages > 0) {
        drop(DropReason::SendFailed, "to", c.peer, error.message(), c.writing_bytes.size());
        stats_.dropped[static_cast<std::size_t>(DropReason::SendFailed)] += c.writing_messages - 1;
      }
      c.writing_messages = 0;
      close(c, "write failed: " + error.message());
      destroy_if_done(c);
      return;
    }
    stats_.sent += c.writing_messages;
    c.writing_messages = 0;
    c.writing_bytes.clear();
    c.last_activity = Clock::now();
    if (!c.queued.empty()) {
      start_write(c);
      return;
    }
    if (c.close_after_write && c.state == Connection::State::Open) {
      // Shut our side and wait for the peer to close, so that our last bytes reach it rather
      // than a reset (closing with unread input sends RST).
      boost::system::error_code ignored;
      c.socket.shutdown(tcp::socket::shutdown_send, ignored);
      c.state = Connection::State::Draining;
      c.close_after_write = false;
      c.last_activity = Clock::now();
      c.head = c.tail = 0;
      start_read(c);
    }
  }

  // ---- closing ----

  void fail_queued(Connection& c, DropReason reason, std::string_view why) {
    std::size_t messages = c.queued_messages + c.writing_messages;
    if (messages > 0) {
      drop(reason, "to", c.peer, why, c.queued.size() + c.writing_bytes.size());
      stats_.dropped[static_cast<std::size_t>(reason)] += messages - 1;
    }
    c.queued_messages = 0;
    c.writing_messages = 0;
  }

  // Closes the socket; the object goes when its last pending operation completes.
  void close(Connection& c, std::string_view why) {
    if (c.state == Connection::State::Closed) {
      return;
    }
    fail_queued(c, DropReason::ConnectionClosed, why);
    c.state = Connection::State::Closed;
    ++stats_.connections_closed;
    auto key = by_remote_.find(remote_key(c.peer.address, c.peer.port));
    if (key != by_remote_.end() && key->second == c.id) {
      by_remote_.erase(key);
    }
    boost::system::error_code ignored;
    c.socket.close(ignored);
    if (log_->should_log(spdlog::level::debug)) {
      log_->debug("connection closed id={} peer={} reason=\"{}\"", c.id, c.peer.to_string(), why);
    }
    if (c.pending == 0 && !closed_) {
      // Nothing will complete for it; let it go once the caller is done with it.
      asio::post(io_, [this, id = c.id] {
        auto found = connections_.find(id);
        if (found != connections_.end()) {
          destroy_if_done(*found->second);
        }
      });
    }
  }

  void destroy_if_done(Connection& c) {
    if (c.state == Connection::State::Closed && c.pending == 0) {
      connections_.erase(c.id);
    }
  }

  void close_connection(std::uint64_t id) {
    auto found = connections_.find(id);
    if (found != connections_.end()) {
      close(*found->second, "closed by us");
    }
  }

  void ensure_sweep() {
    if (sweeping_ || closed_) {
      return;
    }
    sweeping_ = true;
    sweep_.expires_after(sweep_interval_);
    sweep_.async_wait([this](const boost::system::error_code& error) {
      sweeping_ = false;
      if (!error && !closed_) {
        sweep();
      }
    });
  }

  // Closes idle connections, connects that take too long, and drains that the peer never ends.
  void sweep() {
    auto now = Clock::now();
    for (auto& [id, connection] : connections_) {
      Connection& c = *connection;
      auto quiet = now - c.last_activity;
      switch (c.state) {
        case Connection::State::Open:
          if (quiet >= options_.idle_timeout) {
            close(c, "idle");
          }
          break;
        case Connection::State::Connecting:
          if (quiet >= options_.connect_timeout) {
            fail_queued(c, DropReason::ConnectFailed, "connect timed out");
            close(c, "connect timed out");
          }
          break;
        case Connection::State::Draining:
          if (quiet >= kDrainTime) {
            close(c, "drained");
          }
          break;
        case Connection::State::Closed:
          break;
      }
    }
    if (!connections_.empty()) {
      ensure_sweep();
    }
  }

  void close_all() {
    if (closed_) {
      return;
    }
    flush_udp();
    closed_ = true;
    boost::system::error_code ignored;
    for (Listener& listener : listeners_) {
      if (listener.udp) {
        listener.udp->socket.close(ignored);
      }
      if (listener.tcp) {
        listener.tcp->acceptor.close(ignored);
        listener.tcp->retry.cancel();
      }
    }
    for (auto& [id, connection] : connections_) {
      close(*connection, "transport closing");
    }
    sweep_.cancel();
  }

  // ---- logs ----

  // Rate limit for drop and reject lines, so that a flood cannot turn into a logging storm.
  bool allow_log() {
    auto now = Clock::now();
    if (now - log_window_ >= std::chrono::seconds{1}) {
      if (suppressed_logs_ > 0) {
        log_->warn("drop log suppressed={} reason=\"rate limit\"", suppressed_logs_);
      }
      log_window_ = now;
      logs_in_window_ = 0;
      suppressed_logs_ = 0;
    }
    if (logs_in_window_ < kDropLogsPerSecond) {
      ++logs_in_window_;
      return true;
    }
    ++suppressed_logs_;
    return false;
  }

  void drop(DropReason reason, std::string_view direction, const Peer& peer, std::string_view why,
            std::size_t bytes) {
    ++stats_.dropped[static_cast<std::size_t>(reason)];
    if (allow_log()) {
      log_->warn("drop {}={} reason=\"{}\" kind={} bytes={}", direction, peer.to_string(), why,
                 drop_reason_name(reason), bytes);
    }
  }

  void send(const Peer& to, std::string_view bytes) {
    if (closed_) {
      drop(DropReason::NoSocket, "to", to, "transport closed", bytes.size());
      return;
    }
    if (to.protocol == Protocol::Udp) {
      send_udp(to, bytes);
    } else {
      send_tcp(to, bytes);
    }
  }

  struct Listener {
    std::unique_ptr<UdpSocket> udp;
    std::unique_ptr<TcpListener> tcp;
  };

  asio::io_context& io_;
  Receiver& receiver_;
  TransportOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  TransportStats stats_;
  bool closed_ = false;

  std::vector<Listener> listeners_;

  std::vector<UdpSocket*> dirty_;  // sockets with datagrams waiting for flush_udp()
  int dispatch_depth_ = 0;         // > 0 while received messages are being handed to the Receiver

  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::unordered_map<RemoteKey, std::uint64_t, RemoteKeyHash> by_remote_;
  std::uint64_t next_connection_id_ = 1;  // never reused; 0 means "no connection"
  asio::steady_timer sweep_;
  std::chrono::milliseconds sweep_interval_{1000};
  bool sweeping_ = false;

  Clock::time_point log_window_{};
  unsigned logs_in_window_ = 0;
  std::uint64_t suppressed_logs_ = 0;
};

TransportLayer::TransportLayer(boost::asio::io_context& io, Receiver& receiver,
                               TransportOptions options, std::shared_ptr<spdlog::logger> log)
    : impl_(std::make_unique<Impl>(io, receiver, options, std::move(log))) {}

TransportLayer::~TransportLayer() = default;

std::uint32_t TransportLayer::listen(const ListenSpec& spec) {
  base::assert_on_signaling_thread();
  return impl_->listen(spec);
}

std::uint32_t TransportLayer::listen(std::string_view spec) {
  base::assert_on_signaling_thread();
  auto parsed = parse_listen_spec(spec);
  if (!parsed) {
    throw std::invalid_argument(parsed.error().reason);
  }
  return impl_->listen(*parsed);
}

ListenSpec TransportLayer::bound(std::uint32_t local) const { return impl_->bound(local); }

std::size_t TransportLayer::listen_count() const { return impl_->listeners_.size(); }

void TransportLayer::send(const Peer& to, std::string_view bytes) {
  base::assert_on_signaling_thread();
  impl_->send(to, bytes);
}

void TransportLayer::flush() {
  base::assert_on_signaling_thread();
  impl_->flush_udp();
}

bool TransportLayer::connection_open(std::uint64_t id) const {
  auto found = impl_->connections_.find(id);
  return found != impl_->connections_.end() && usable(*found->second);
}

std::size_t TransportLayer::connection_count() const {
  std::size_t count = 0;
  for (const auto& [id, connection] : impl_->connections_) {
    count += usable(*connection) ? 1 : 0;
  }
  return count;
}

void TransportLayer::close_connection(std::uint64_t id) {
  base::assert_on_signaling_thread();
  impl_->close_connection(id);
}

void TransportLayer::close() {
  base::assert_on_signaling_thread();
  impl_->close_all();
}

const TransportStats& TransportLayer::stats() const { return impl_->stats_; }

}  // namespace catchline::sip::transport
