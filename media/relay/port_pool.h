#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sip/result.h"

namespace catchline::media::relay {

/// One bound, non-blocking UDP socket (its file descriptor), owned and closed on destruction.
/// Move-only, so that it can be handed from the signaling thread to the media thread by post().
class BoundSocket {
 public:
  BoundSocket() = default;
  explicit BoundSocket(int fd) : fd_(fd) {}
  BoundSocket(BoundSocket&& other) noexcept : fd_(other.release()) {}
  BoundSocket& operator=(BoundSocket&& other) noexcept;
  BoundSocket(const BoundSocket&) = delete;
  BoundSocket& operator=(const BoundSocket&) = delete;
  ~BoundSocket();

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  /// Gives up ownership: the caller closes the descriptor.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

/// The RTP socket on an even port and the RTCP socket on the next odd one (RFC 3550 §11).
struct SocketPair {
  BoundSocket rtp;
  BoundSocket rtcp;
  boost::asio::ip::address address;
  std::uint16_t rtp_port = 0;  // rtcp on rtp_port + 1
};

/// A range of UDP ports, both ends included ("media.ports: 20000-30000").
struct PortRange {
  std::uint16_t first = 20000;
  std::uint16_t last = 30000;
};

/// The relay's ports: hands out socket pairs (RTP even, RTCP odd) from a range, bound at once,
/// so that the SDP naming them can be written before the media thread has even seen them.
/// Pairs are taken round-robin, so a port just given back is the last to be reused (late
/// packets of an ended call do not reach the next one).
///
/// Owned by the signaling thread (checked in debug builds). Binding is a non-blocking system
/// call; a pair that another process holds (EADDRINUSE) is skipped.
class PortPool {
 public:
  /// `address`: what the sockets bind to and the SDP names. A range with no even port that has
  /// an odd one after it inside the range holds no pair (every take() fails).
  PortPool(boost::asio::ip::address address, PortRange range);

  /// Binds the next free pair. Errors (status 503, for the INVITE that asked): every pair in
  /// the range in use ("no free RTP port pair in 20000-30000: 5000 in use by calls, 0 by other
  /// programs"), or a socket error other than EADDRINUSE, named.
  sip::Result<SocketPair> take();
  /// Marks the pair at `rtp_port` free again (its sockets are closed by their owner). Ports
  /// outside the range or not taken are ignored.
  void give_back(std::uint16_t rtp_port);

  /// Pairs taken and not given back.
  std::size_t in_use() const { return in_use_; }
  /// Pairs in the range.
  std::size_t capacity() const { return taken_.size(); }
  const boost::asio::ip::address& address() const { return address_; }

 private:
  boost::asio::ip::address address_;
  PortRange range_;
  std::uint32_t first_even_ = 0;  // 65536 for a range that holds no pair
  std::vector<bool> taken_;       // by pair index: rtp port = first_even_ + 2 * index
  std::size_t next_ = 0;
  std::size_t in_use_ = 0;
};

}  // namespace catchline::media::relay
