#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/ip/udp.hpp>

#include "media/relay/port_pool.h"

namespace catchline::media::relay {
namespace {

boost::asio::ip::address loopback() { return boost::asio::ip::make_address("127.0.0.1"); }

std::uint16_t bound_port(const BoundSocket& socket) {
  sockaddr_in address{};
  socklen_t length = sizeof(address);
  ::getsockname(socket.fd(), reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

TEST(PortPool, BindsRtpOnAnEvenPortAndRtcpOnTheNextOdd) {
  PortPool pool(loopback(), {43001, 43010});  // an odd start: the first pair is 43002/43003
  EXPECT_EQ(pool.capacity(), 4u);
  auto pair = pool.take();
  ASSERT_TRUE(pair) << pair.error().reason;
  EXPECT_EQ(pair->rtp_port % 2, 0);
  EXPECT_EQ(bound_port(pair->rtp), pair->rtp_port);
  EXPECT_EQ(bound_port(pair->rtcp), pair->rtp_port + 1);
  EXPECT_EQ(pool.in_use(), 1u);
}

TEST(PortPool, TakesPairsRoundRobinSoAFreedPairIsReusedLast) {
  PortPool pool(loopback(), {43100, 43105});
  std::uint16_t port = 0;
  {
    auto first = pool.take();
    ASSERT_TRUE(first);
    port = first->rtp_port;
  }  // its sockets close here
  pool.give_back(port);
  auto next = pool.take();
  ASSERT_TRUE(next);
  EXPECT_NE(next->rtp_port, port);
}

TEST(PortPool, SkipsAPairAnotherProgramHolds) {
  PortPool probe(loopback(), {43200, 43201});
  auto held = probe.take();  // stands in for another program on 43200/43201
  ASSERT_TRUE(held);
  PortPool pool(loopback(), {43200, 43203});
  auto pair = pool.take();
  ASSERT_TRUE(pair) << pair.error().reason;
  EXPECT_EQ(pair->rtp_port, 43202);
  auto none = pool.take();
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().reason,
            "no free RTP port pair in 43200-43203: 1 in use by calls, 1 by other programs");
}

TEST(PortPool, ARangeWithoutAPairHoldsNone) {
  PortPool pool(loopback(), {43300, 43300});
  EXPECT_EQ(pool.capacity(), 0u);
  EXPECT_FALSE(pool.take());
  PortPool top(loopback(), {65535, 65535});
  EXPECT_EQ(top.capacity(), 0u);
}

}  // namespace
}  // namespace catchline::media::relay
