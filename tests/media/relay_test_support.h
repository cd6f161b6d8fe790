#pragma once

// Test phones and a running media thread for the relay tests: real UDP sockets on 127.0.0.x.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/event_thread.h"
#include "media/relay/media_control.h"
#include "media/relay/port_pool.h"

namespace catchline::media::relay::testing {

using Bytes = std::vector<std::uint8_t>;
using udp = boost::asio::ip::udp;

/// What a phone received: the bytes and where they came from.
struct Received {
  Bytes bytes;
  udp::endpoint source;
};

/// A phone's socket: bound to `ip` (127.0.0.x, or ::1) on a port the kernel picks. It sends to
/// the relay on the loopback address of its own family.
class Phone {
 public:
  explicit Phone(const std::string& ip = "127.0.0.1") {
    const auto address = boost::asio::ip::make_address(ip);
    relay_ = address.is_v6() ? boost::asio::ip::make_address("::1")
                             : boost::asio::ip::make_address("127.0.0.1");
    udp::endpoint bind_to(address, 0);
    fd_ = ::socket(address.is_v6() ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::bind(fd_, bind_to.data(), static_cast<socklen_t>(bind_to.size())) != 0) {
      throw std::runtime_error("phone: cannot bind " + ip);
    }
    const int buffer = 1 << 20;  // room for the burst tests
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
    socklen_t length = static_cast<socklen_t>(bind_to.capacity());
    ::getsockname(fd_, bind_to.data(), &length);
    endpoint_ = bind_to;
  }
  Phone(const Phone&) = delete;
  Phone& operator=(const Phone&) = delete;
  ~Phone() { ::close(fd_); }

  const udp::endpoint& endpoint() const { return endpoint_; }

  /// Sends `bytes` to the relay's `port` (127.0.0.1, or ::1 for a phone on ::1).
  void send(std::uint16_t port, const Bytes& bytes) const {
    const udp::endpoint to(relay_, port);
    ::sendto(fd_, bytes.data(), bytes.size(), 0, to.data(), static_cast<socklen_t>(to.size()));
  }

  /// The next datagram, or nullopt after `timeout`.
  std::optional<Received> receive(std::chrono::milliseconds timeout = std::chrono::seconds{
                                      2}) const {
    pollfd waiting{fd_, POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(timeout.count())) <= 0) {
      return std::nullopt;
    }
    Received received;
    received.bytes.resize(65536);
    sockaddr_storage from{};
    socklen_t length = sizeof(from);
    const ssize_t size = ::recvfrom(fd_, received.bytes.data(), received.bytes.size(), 0,
                                    reinterpret_cast<sockaddr*>(&from), &length);
    if (size < 0) {
      return std::nullopt;
    }
    received.bytes.resize(static_cast<std::size_t>(size));
    std::memcpy(received.source.data(), &from, length);
    return received;
  }

 private:
  int fd_ = -1;
  udp::endpoint endpoint_;
  boost::asio::ip::address relay_;
};

/// The first port of `pairs` even/odd port pairs on 127.0.0.1 that are free now (each bound
/// and let go), below the kernel's ephemeral range and spread by process id, for tests that
/// need an exact range: another test's sockets could otherwise sit in a fixed one.
inline std::uint16_t free_pairs(std::size_t pairs) {
  const auto loopback = boost::asio::ip::make_address("127.0.0.1");
  const std::uint32_t span = 2 * static_cast<std::uint32_t>(pairs);
  for (std::uint32_t attempt = 0; attempt < 200; ++attempt) {
    const std::uint32_t first = 22000 + ((::getpid() + attempt * 7) % 400) * 20;
    PortPool probe(loopback, {static_cast<std::uint16_t>(first),
                              static_cast<std::uint16_t>(first + span - 1)});
    std::vector<SocketPair> held;
    for (std::size_t i = 0; i < pairs; ++i) {
      auto pair = probe.take();
      if (!pair || pair->rtp_port != first + 2 * i) {
        break;
      }
      held.push_back(std::move(*pair));
    }
    if (held.size() == pairs) {
      return static_cast<std::uint16_t>(first);
    }
  }
  throw std::runtime_error("no free port pairs for the test");
}

/// An RTP packet: version 2, `payload_type`, `sequence`, a fixed SSRC, 160 bytes of payload.
inline Bytes rtp_packet(std::uint16_t sequence, std::uint8_t payload_type = 8,
                        std::size_t payload = 160) {
  Bytes packet = {0x80,
                  payload_type,
                  static_cast<std::uint8_t>(sequence >> 8),
                  static_cast<std::uint8_t>(sequence),
                  0,
                  0,
                  0x01,
                  0x40,
                  0x12,
                  0x34,
                  0x56,
                  0x78};
  for (std::size_t i = 0; i < payload; ++i) {
    packet.push_back(static_cast<std::uint8_t>(0xd5 ^ (i + sequence)));
  }
  return packet;
}

/// An RTCP RR from SSRC 0x12345678 with one report block saying `lost` packets were lost.
inline Bytes receiver_report(std::uint32_t lost) {
  Bytes packet = {0x81,
                  201,
                  0,
                  7,
                  0x12,
                  0x34,
                  0x56,
                  0x78,  // RR, SSRC
                  0x9a,
                  0xbc,
                  0xde,
                  0xf0,
                  5,  // about SSRC, fraction 5/256
                  static_cast<std::uint8_t>(lost >> 16),
                  static_cast<std::uint8_t>(lost >> 8),
                  static_cast<std::uint8_t>(lost)};
  packet.resize(packet.size() + 16, 0);  // highest sequence, jitter, LSR, DLSR
  return packet;
}

/// Records the relay's events, on the signaling thread (the test thread here).
class RecordingObserver final : public MediaObserver {
 public:
  void on_leg_inactive(const LegInactive& event) override { inactive.push_back(event); }
  void on_leg_closed(const LegClosed& event) override {
    closed.push_back(event);
    order.push_back("closed");
  }
  void on_play_ended(const PlayEnded& event) override { play_ended.push_back(event); }
  void on_record_ended(const RecordEnded& event) override {
    record_ended.push_back(event);
    order.push_back("record_ended");
  }
  void on_dtmf(const DtmfEvent& event) override { dtmf.push_back(event); }
  std::vector<LegInactive> inactive;
  std::vector<LegClosed> closed;
  std::vector<PlayEnded> play_ended;
  std::vector<RecordEnded> record_ended;
  std::vector<DtmfEvent> dtmf;
  std::vector<std::string> order;  // of record_ended and closed
};

/// The relay as the server runs it: a media thread of its own, and MediaControl on the test
/// thread, which plays the signaling thread (its loop is not run; pump() runs what the media
/// thread posted to it).
class RunningRelay {
 public:
  explicit RunningRelay(MediaOptions options) {
    control_ = std::make_unique<MediaControl>(signaling_, media_, options, observer_);
    thread_ = std::thread([this] { media_.run(); });
    settle();
  }
  RunningRelay(const RunningRelay&) = delete;
  RunningRelay& operator=(const RunningRelay&) = delete;
  ~RunningRelay() {
    media_.stop();
    thread_.join();
    control_.reset();
  }

  MediaControl& control() { return *control_; }
  RecordingObserver& observer() { return observer_; }
  base::EventThread& media() { return media_; }

  /// Returns once the media thread ran every command posted so far.
  void settle() {
    std::promise<void> done;
    media_.post([&done] { done.set_value(); });
    done.get_future().wait();
  }

  /// Runs the events the media thread posted, until `until()` holds or `timeout` passes.
  bool pump(const std::function<bool()>& until,
            std::chrono::milliseconds timeout = std::chrono::seconds{3}) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!until()) {
      if (std::chrono::steady_clock::now() >= end) {
        return false;
      }
      signaling_.io().run_for(std::chrono::milliseconds{5});
    }
    return true;
  }

  /// Closes `leg` and returns its final counters.
  LegStats close(LegId leg) {
    control_->close_leg(leg);
    LegStats stats;
    pump([&] {
      for (const LegClosed& closed : observer_.closed) {
        if (closed.leg == leg) {
          stats = closed.stats;
          return true;
        }
      }
      return false;
    });
    return stats;
  }

 private:
  base::SignalingThread signaling_;
  base::MediaThread media_;
  RecordingObserver observer_;
  std::unique_ptr<MediaControl> control_;
  std::thread thread_;
};

/// What a leg's phone says: RTP at `rtp` (RTCP at `rtcp`, else none), signaling from 127.0.0.1.
inline RemoteMedia remote(const udp::endpoint& rtp,
                          std::optional<udp::endpoint> rtcp = std::nullopt, bool rtcp_mux = false) {
  RemoteMedia media;
  media.rtp = rtp;
  media.rtcp = rtcp;
  media.signaling_source = boost::asio::ip::make_address("127.0.0.1");
  media.rtcp_mux = rtcp_mux;
  return media;
}

}  // namespace catchline::media::relay::testing
