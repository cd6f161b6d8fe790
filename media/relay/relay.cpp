#include "media/relay/relay.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/ip/udp.hpp>
#include <cerrno>
#include <cstring>
#include <span>
#include <variant>

#include "base/thread_check.h"
#include "media/rtp/rtcp.h"
#include "media/rtp/rtp_header.h"

namespace catchline::media::relay {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using base::ThreadRole;

// recvmmsg rounds per wake-up of one socket before the others get their turn.
constexpr int kReceiveRoundsPerWakeup = 4;

void assert_on_media_thread(base::CallSite where = {}) {
  base::assert_on_thread(ThreadRole::Media, where);
}

}  // namespace

// Symmetric RTP latching of one socket (see the class comment of Relay).
struct Waiting {};
struct Latched {
  SocketAddress source;
};

struct Leg;

// One socket of a leg, RTP or RTCP.
struct Port {
  Port(asio::io_context& io, Leg& owner, bool is_rtcp) : socket(io), leg(&owner), rtcp(is_rtcp) {}
  udp::socket socket;
  Leg* leg;
  bool rtcp;
  // Waiting -> Latched on the first packet from the SDP's or the signaling source's IP;
  // Latched -> Waiting on set_remote() only.
  std::variant<Waiting, Latched> latch;

  const SocketAddress* latched_source() const {
    const auto* latched = std::get_if<Latched>(&latch);
    return latched != nullptr ? &latched->source : nullptr;
  }
};

struct Leg final : base::TimerHandler {
  Leg(Relay::Impl& owner, LegId leg_id, asio::io_context& io)
      : relay(owner), id(leg_id), rtp(io, *this, false), rtcp(io, *this, true) {}
  void on_timer(base::Timer& timer) override;

  Relay::Impl& relay;
  LegId id;
  std::uint16_t rtp_port = 0;
  Port rtp;
  Port rtcp;
  // From the SDP and the signaling (RemoteMedia), in the kernel's form.
  SocketAddress sdp_rtp;
  SocketAddress sdp_rtcp;
  SocketAddress signaling_source;  // port 0: only its IP is compared
  bool rtcp_mux = false;
  bool on_hold = false;
  Leg* peer = nullptr;
  LegStats stats;
  base::Timer silence_timer;
  base::TimePoint last_received{};
  bool silence_reported = false;
};

struct Relay::Impl {
  Impl(base::EventThread& media_thread, RelayOptions relay_options, RelayEvents& relay_events,
       std::shared_ptr<spdlog::logger> logger)
      : media(media_thread),
        options(relay_options),
        events(relay_events),
        log(logger ? std::move(logger) : spdlog::default_logger()) {
    if (options.receive_batch == 0) {
      options.receive_batch = 1;
    }
    const std::size_t batch = options.receive_batch;
    // One byte more than the largest datagram accepted, so that the length tells one too large.
    slot_size = options.max_datagram + 1;
    slots.resize(batch * slot_size);
    receive_headers.resize(batch);
    receive_vectors.resize(batch);
    receive_names.resize(batch);
    for (std::size_t i = 0; i < batch; ++i) {
      receive_vectors[i] = {slots.data() + i * slot_size, slot_size};
    }
  }

  // ---- commands ----

  void open_leg(LegId id, SocketPair sockets, const RemoteMedia& remote) {
    if (legs.contains(id)) {
      log->error("relay open leg={} error=\"leg already open\"", id);
      return;
    }
    auto leg = std::make_unique<Leg>(*this, id, media.io());
    leg->rtp_port = sockets.rtp_port;
    const udp protocol = sockets.address.is_v6() ? udp::v6() : udp::v4();
    boost::system::error_code error;
    leg->rtp.socket.assign(protocol, sockets.rtp.fd(), error);
    if (!error) {
      sockets.rtp.release();
      leg->rtcp.socket.assign(protocol, sockets.rtcp.fd(), error);
    }
    if (error) {
      log->error("relay open leg={} port={} error=\"{}\"", id, sockets.rtp_port, error.message());
      // Closed before it opened: the signaling side frees its ports all the same.
      events.on_leg_closed(LegClosed{id, sockets.rtp_port, LegStats{}});
      return;
    }
    sockets.rtcp.release();
    apply_remote(*leg, remote);
    leg->last_received = media.clock().now();
    Leg& opened = *leg;
    legs.emplace(id, std::move(leg));
    arm_silence_timer(opened);
    start_wait(opened.rtp);
    start_wait(opened.rtcp);
    log->debug("relay open leg={} port={} remote={} mux={}", id, opened.rtp_port,
               opened.sdp_rtp.to_string(), opened.rtcp_mux);
  }

  void set_remote(LegId id, const RemoteMedia& remote) {
    Leg* leg = find(id, "set_remote");
    if (leg == nullptr) {
      return;
    }
    apply_remote(*leg, remote);
    // A new SDP: the phone may send from elsewhere now (RFC 3264 re-offer, a NAT rebinding).
    leg->rtp.latch = Waiting{};
    leg->rtcp.latch = Waiting{};
    if (!leg->silence_reported) {
      arm_silence_timer(*leg);
    }
    log->debug("relay set_remote leg={} remote={} mux={} hold={}", id, leg->sdp_rtp.to_string(),
               leg->rtcp_mux, leg->on_hold);
  }

  void bridge(LegId a, LegId b) {
    Leg* first = find(a, "bridge");
    Leg* second = find(b, "bridge");
    if (first == nullptr || second == nullptr) {
      return;
    }
    if (first == second) {
      log->warn("relay bridge leg={} error=\"a leg cannot be bridged to itself\"", a);
      return;
    }
    leave_bridge(*first);
    leave_bridge(*second);
    first->peer = second;
    second->peer = first;
    log->debug("relay bridge a={} b={}", a, b);
  }

  void unbridge(LegId id) {
    if (Leg* leg = find(id, "unbridge")) {
      leave_bridge(*leg);
    }
  }

  void close_leg(LegId id) {
    auto it = legs.find(id);
    if (it == legs.end()) {
      log->warn("relay close leg={} error=\"no such leg\"", id);
      return;
    }
    std::unique_ptr<Leg> leg = std::move(it->second);
    legs.erase(it);
    leave_bridge(*leg);
    leg->silence_timer.cancel();
    boost::system::error_code ignored;
    leg->rtp.socket.close(ignored);
    leg->rtcp.socket.close(ignored);
    log->debug("relay close leg={} in={} out={} dropped_source={}", id, leg->stats.packets_in,
               leg->stats.packets_out, leg->stats.dropped_source);
    events.on_leg_closed(LegClosed{id, leg->rtp_port, leg->stats});
  }

  // ---- leg state ----

  Leg* find(LegId id, const char* what) {
    auto it = legs.find(id);
    if (it == legs.end()) {
      log->warn("relay {} leg={} error=\"no such leg\"", what, id);
      return nullptr;
    }
    return it->second.get();
  }

  static void apply_remote(Leg& leg, const RemoteMedia& remote) {
    leg.sdp_rtp = remote.rtp ? SocketAddress(*remote.rtp) : SocketAddress();
    leg.sdp_rtcp = remote.rtcp ? SocketAddress(*remote.rtcp) : SocketAddress();
    leg.signaling_source = remote.signaling_source.is_unspecified()
                               ? SocketAddress()
                               : SocketAddress(udp::endpoint(remote.signaling_source, 0));
    leg.rtcp_mux = remote.rtcp_mux;
    leg.on_hold = remote.on_hold;
  }

  static void leave_bridge(Leg& leg) {
    if (leg.peer != nullptr) {
      leg.peer->peer = nullptr;
      leg.peer = nullptr;
    }
  }

  base::Duration timeout_of(const Leg& leg) const {
    return leg.on_hold ? options.hold_timeout : options.timeout;
  }

  void arm_silence_timer(Leg& leg) {
    media.timers().schedule_at(leg.silence_timer, leg.last_received + timeout_of(leg), leg);
  }

  void on_silence_timer(Leg& leg) {
    const base::TimePoint now = media.timers().now();
    const base::TimePoint deadline = leg.last_received + timeout_of(leg);
    if (deadline > now) {
      // Packets came since it was armed: wait for the rest of the timeout after the last one.
      media.timers().schedule_at(leg.silence_timer, deadline, leg);
      return;
    }
    leg.silence_reported = true;
    log->info(
        "relay inactive leg={} silent_ms={} hold={}", leg.id,
        std::chrono::duration_cast<std::chrono::milliseconds>(now - leg.last_received).count(),
        leg.on_hold);
    events.on_leg_inactive(LegInactive{leg.id, now - leg.last_received, leg.on_hold});
  }

  // ---- receiving ----

  void start_wait(Port& port) {
    port.socket.async_wait(udp::socket::wait_read, [this, id = port.leg->id, rtcp = port.rtcp](
                                                       const boost::system::error_code& error) {
      if (error) {
        return;  // closed (operation_aborted)
      }
      on_readable(id, rtcp);
    });
  }

  // The leg may have closed between readiness and this handler: look it up by id.
  void on_readable(LegId id, bool rtcp) {
    auto it = legs.find(id);
    if (it == legs.end()) {
      return;
    }
    drain(rtcp ? it->second->rtcp : it->second->rtp);
  }

  // One wake-up: read every datagram waiting, a batch per system call. The reactor is
  // edge-triggered, so we either read until the kernel has nothing left or come back at once.
  void drain(Port& in) {
    ++totals.wakeups;
    const int fd = in.socket.native_handle();
    const auto batch = static_cast<unsigned>(receive_headers.size());
    bool more = false;
    for (int round = 0; round < kReceiveRoundsPerWakeup; ++round) {
      for (unsigned i = 0; i < batch; ++i) {
        msghdr& header = receive_headers[i].msg_hdr;
        header.msg_name = receive_names[i].mutable_name();
        header.msg_namelen = SocketAddress::capacity();
        header.msg_iov = &receive_vectors[i];
        header.msg_iovlen = 1;
        header.msg_control = nullptr;
        header.msg_controllen = 0;
        header.msg_flags = 0;
      }
      ++totals.receive_calls;
      const int count = ::recvmmsg(fd, receive_headers.data(), batch, MSG_DONTWAIT, nullptr);
      if (count < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          log->warn("relay receive leg={} error=\"{}\"", in.leg->id, std::strerror(errno));
        }
        break;
      }
      now = media.clock().now();
      for (int i = 0; i < count; ++i) {
        on_datagram(in, static_cast<std::size_t>(i));
      }
      flush();
      if (static_cast<unsigned>(count) < batch) {
        break;
      }
      more = round + 1 == kReceiveRoundsPerWakeup;
    }
    if (more) {
      // The kernel may still hold datagrams and will not signal them again: come back after
      // the other ready sockets had their turn.
      media.post([this, id = in.leg->id, rtcp = in.rtcp] { on_readable(id, rtcp); });
    } else {
      start_wait(in);
    }
  }

  void on_datagram(Port& in, std::size_t index) {
    Leg& leg = *in.leg;
    const mmsghdr& received = receive_headers[index];
    const std::size_t length = received.msg_len;
    if ((received.msg_hdr.msg_flags & MSG_TRUNC) != 0 || length > options.max_datagram) {
      ++leg.stats.dropped_too_large;
      return;
    }
    SocketAddress& source = receive_names[index];
    source.set_length(received.msg_hdr.msg_namelen);
    if (!accept_source(in, source)) {
      ++leg.stats.dropped_source;
      return;
    }
    ++leg.stats.packets_in;
    leg.stats.bytes_in += length;
    leg.last_received = now;
    if (leg.silence_reported) {
      leg.silence_reported = false;
      arm_silence_timer(leg);
    }
    char* data = static_cast<char*>(receive_vectors[index].iov_base);
    const rtp::Bytes bytes(reinterpret_cast<const std::uint8_t*>(data), length);
    // RFC 5761 §4: on a muxed port the second byte tells RTCP from RTP.
    const bool is_rtcp = in.rtcp || (leg.rtcp_mux && rtp::classify(bytes) == rtp::PacketKind::Rtcp);
    if (is_rtcp) {
      ++leg.stats.rtcp_in;
      read_rtcp(leg, bytes);
    }
    Leg* peer = leg.peer;
    if (peer == nullptr) {
      ++leg.stats.dropped_unbridged;
      return;
    }
    Port* out = nullptr;
    const SocketAddress* to = nullptr;
    if (!is_rtcp || peer->rtcp_mux) {
      out = &peer->rtp;
      to = peer->rtp.latched_source();
      if (to == nullptr && !peer->sdp_rtp.empty()) {
        to = &peer->sdp_rtp;
      }
    } else {
      out = &peer->rtcp;
      to = peer->rtcp.latched_source();
      if (to == nullptr && !peer->sdp_rtcp.empty()) {
        to = &peer->sdp_rtcp;
      }
    }
    if (to == nullptr) {
      ++leg.stats.dropped_no_destination;
      return;
    }
    outgoing.push_back(Outgoing{out, to, iovec{data, length}});
  }

  // Latching (see the class comment of Relay).
  static bool accept_source(Port& in, const SocketAddress& source) {
    if (const SocketAddress* latched = in.latched_source()) {
      return *latched == source;
    }
    const Leg& leg = *in.leg;
    if ((!leg.sdp_rtp.empty() && source.same_ip(leg.sdp_rtp)) ||
        (!leg.signaling_source.empty() && source.same_ip(leg.signaling_source))) {
      in.latch = Latched{source};
      return true;
    }
    return false;
  }

  static void read_rtcp(Leg& leg, rtp::Bytes bytes) {
    auto compound = rtp::parse_rtcp(bytes);
    if (!compound) {
      ++leg.stats.rtcp_malformed;
      return;
    }
    if (!compound->report) {
      return;
    }
    const rtp::RtcpReport& report = *compound->report;
    if (report.sender) {
      leg.stats.reported_packets_sent = report.sender->packets;
      leg.stats.reported_octets_sent = report.sender->octets;
    }
    if (report.block_count() > 0) {
      const rtp::ReportBlock block = report.block(0);
      leg.stats.reported_lost = block.cumulative_lost;
      leg.stats.reported_fraction_lost = block.fraction_lost;
    }
  }

  // ---- sending ----

  // Sends what the batch forwarded: one sendmmsg per run of datagrams for one socket, straight
  // from the receive slots (they are not reused before this returns).
  void flush() {
    const std::size_t count = outgoing.size();
    if (count == 0) {
      return;
    }
    send_headers.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
      msghdr& header = send_headers[i].msg_hdr;
      header = {};
      header.msg_name = const_cast<sockaddr*>(outgoing[i].to->name());
      header.msg_namelen = outgoing[i].to->length();
      header.msg_iov = &outgoing[i].data;
      header.msg_iovlen = 1;
    }
    std::size_t begin = 0;
    while (begin < count) {
      std::size_t end = begin + 1;
      while (end < count && outgoing[end].out == outgoing[begin].out) {
        ++end;
      }
      send_run(begin, end);
      begin = end;
    }
    outgoing.clear();
  }

  void send_run(std::size_t begin, std::size_t end) {
    Port& out = *outgoing[begin].out;
    const int fd = out.socket.native_handle();
    std::size_t done = begin;
    while (done < end) {
      ++totals.send_calls;
      const int sent =
          ::sendmmsg(fd, &send_headers[done], static_cast<unsigned>(end - done), MSG_DONTWAIT);
      if (sent < 0) {
        if (errno == EINTR) {
          continue;
        }
        // The datagram at `done` failed (a full socket buffer: never wait for room); the ones
        // after it get their own try.
        ++out.leg->stats.send_failures;
        log->debug("relay send leg={} to={} error=\"{}\"", out.leg->id,
                   outgoing[done].to->to_string(), std::strerror(errno));
        ++done;
        continue;
      }
      for (std::size_t i = done; i < done + static_cast<std::size_t>(sent); ++i) {
        ++out.leg->stats.packets_out;
        out.leg->stats.bytes_out += outgoing[i].data.iov_len;
      }
      totals.forwarded += static_cast<std::uint64_t>(sent);
      done += static_cast<std::size_t>(sent);
    }
  }

  struct Outgoing {
    Port* out;
    const SocketAddress* to;
    iovec data;
  };

  base::EventThread& media;
  RelayOptions options;
  RelayEvents& events;
  std::shared_ptr<spdlog::logger> log;
  std::unordered_map<LegId, std::unique_ptr<Leg>> legs;
  Totals totals;
  base::TimePoint now{};  // of the batch being handled

  // One receive batch shared by every socket: the thread reads one socket at a time and sends
  // what it forwards before reading the next.
  std::size_t slot_size = 0;
  std::vector<char> slots;
  std::vector<mmsghdr> receive_headers;
  std::vector<iovec> receive_vectors;
  std::vector<SocketAddress> receive_names;
  std::vector<Outgoing> outgoing;
  std::vector<mmsghdr> send_headers;
};

void Leg::on_timer(base::Timer&) { relay.on_silence_timer(*this); }

Relay::Relay(base::EventThread& media, RelayOptions options, RelayEvents& events,
             std::shared_ptr<spdlog::logger> log)
    : impl_(std::make_unique<Impl>(media, options, events, std::move(log))) {}

Relay::~Relay() = default;

void Relay::open_leg(LegId id, SocketPair sockets, const RemoteMedia& remote) {
  assert_on_media_thread();
  impl_->open_leg(id, std::move(sockets), remote);
}

void Relay::set_remote(LegId id, const RemoteMedia& remote) {
  assert_on_media_thread();
  impl_->set_remote(id, remote);
}

void Relay::bridge(LegId a, LegId b) {
  assert_on_media_thread();
  impl_->bridge(a, b);
}

void Relay::unbridge(LegId id) {
  assert_on_media_thread();
  impl_->unbridge(id);
}

void Relay::close_leg(LegId id) {
  assert_on_media_thread();
  impl_->close_leg(id);
}

void Relay::close_all() {
  assert_on_media_thread();
  std::vector<LegId> ids;
  ids.reserve(impl_->legs.size());
  for (const auto& [id, leg] : impl_->legs) {
    ids.push_back(id);
  }
  for (LegId id : ids) {
    impl_->close_leg(id);
  }
}

std::optional<LegStats> Relay::stats(LegId id) const {
  assert_on_media_thread();
  auto it = impl_->legs.find(id);
  if (it == impl_->legs.end()) {
    return std::nullopt;
  }
  return it->second->stats;
}

std::optional<udp::endpoint> Relay::latched(LegId id, bool rtcp) const {
  assert_on_media_thread();
  auto it = impl_->legs.find(id);
  if (it == impl_->legs.end()) {
    return std::nullopt;
  }
  const SocketAddress* source = (rtcp ? it->second->rtcp : it->second->rtp).latched_source();
  if (source == nullptr) {
    return std::nullopt;
  }
  return source->endpoint();
}

std::size_t Relay::leg_count() const {
  assert_on_media_thread();
  return impl_->legs.size();
}

const Relay::Totals& Relay::totals() const {
  assert_on_media_thread();
  return impl_->totals;
}

}  // namespace catchline::media::relay
