#include "media/relay/port_pool.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/udp.hpp>
#include <cerrno>
#include <cstring>
#include <string>

#include "base/thread_check.h"

namespace catchline::media::relay {
namespace {

// A non-blocking UDP socket bound to address:port, or -errno.
int bind_udp(const boost::asio::ip::address& address, std::uint16_t port) {
  const boost::asio::ip::udp::endpoint endpoint(address, port);
  const int family = address.is_v6() ? AF_INET6 : AF_INET;
  const int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -errno;
  }
  if (address.is_v6()) {
    // The relay's address family is the one configured; no IPv4-mapped traffic on it.
    const int on = 1;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
  }
  if (::bind(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0) {
    const int error = errno;
    ::close(fd);
    return -error;
  }
  return fd;
}

}  // namespace

BoundSocket& BoundSocket::operator=(BoundSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = other.release();
  }
  return *this;
}

BoundSocket::~BoundSocket() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

PortPool::PortPool(boost::asio::ip::address address, PortRange range)
    : address_(std::move(address)), range_(range) {
  first_even_ = std::uint32_t{range.first} + (range.first % 2);
  std::size_t pairs = 0;
  if (range.first != 0 && range.last > first_even_) {
    pairs = (std::size_t{range.last} - first_even_ + 1) / 2;
  }
  taken_.assign(pairs, false);
}

sip::Result<SocketPair> PortPool::take() {
  base::assert_on_signaling_thread();
  std::size_t held_elsewhere = 0;
  for (std::size_t tried = 0; tried < taken_.size(); ++tried) {
    const std::size_t index = next_;
    next_ = (next_ + 1) % taken_.size();
    if (taken_[index]) {
      continue;
    }
    const auto rtp_port = static_cast<std::uint16_t>(first_even_ + 2 * index);
    const int rtp = bind_udp(address_, rtp_port);
    if (rtp == -EADDRINUSE) {
      ++held_elsewhere;
      continue;
    }
    if (rtp < 0) {
      return sip::fail("cannot bind RTP port " + address_.to_string() + ":" +
                           std::to_string(rtp_port) + ": " + std::strerror(-rtp),
                       0, 503);
    }
    BoundSocket rtp_socket(rtp);
    const int rtcp = bind_udp(address_, static_cast<std::uint16_t>(rtp_port + 1));
    if (rtcp == -EADDRINUSE) {
      ++held_elsewhere;
      continue;
    }
    if (rtcp < 0) {
      return sip::fail("cannot bind RTCP port " + address_.to_string() + ":" +
                           std::to_string(rtp_port + 1) + ": " + std::strerror(-rtcp),
                       0, 503);
    }
    taken_[index] = true;
    ++in_use_;
    SocketPair pair;
    pair.rtp = std::move(rtp_socket);
    pair.rtcp = BoundSocket(rtcp);
    pair.address = address_;
    pair.rtp_port = rtp_port;
    return pair;
  }
  return sip::fail("no free RTP port pair in " + std::to_string(range_.first) + "-" +
                       std::to_string(range_.last) + ": " + std::to_string(in_use_) +
                       " in use by calls, " + std::to_string(held_elsewhere) + " by other programs",
                   0, 503);
}

void PortPool::give_back(std::uint16_t rtp_port) {
  base::assert_on_signaling_thread();
  if (rtp_port < first_even_ || (rtp_port - first_even_) % 2 != 0) {
    return;
  }
  const std::size_t index = (rtp_port - first_even_) / 2;
  if (index < taken_.size() && taken_[index]) {
    taken_[index] = false;
    --in_use_;
  }
}

}  // namespace catchline::media::relay
