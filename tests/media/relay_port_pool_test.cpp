#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/ip/udp.hpp>
#include <string>

#include "media/relay/port_pool.h"
#include "tests/media/relay_test_support.h"

namespace catchline::media::relay {
namespace {

boost::asio::ip::address loopback() { return boost::asio::ip::make_address("127.0.0.1"); }

std::uint16_t bound_port(const BoundSocket& socket) {
  sockaddr_in address{};
  socklen_t length = sizeof(address);
  ::getsockname(socket.fd(), reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

std::uint16_t port(std::uint32_t number) { return static_cast<std::uint16_t>(number); }

TEST(PortPool, BindsRtpOnAnEvenPortAndRtcpOnTheNextOdd) {
  const std::uint16_t first = testing::free_pairs(5);
  PortPool pool(loopback(), {port(first + 1), port(first + 10)});  // odd start: first + 2 is RTP
  EXPECT_EQ(pool.capacity(), 4u);
  auto pair = pool.take();
  ASSERT_TRUE(pair) << pair.error().reason;
  EXPECT_EQ(pair->rtp_port % 2, 0);
  EXPECT_EQ(bound_port(pair->rtp), pair->rtp_port);
  EXPECT_EQ(bound_port(pair->rtcp), pair->rtp_port + 1);
  EXPECT_EQ(pool.in_use(), 1u);
}

TEST(PortPool, TakesPairsRoundRobinSoAFreedPairIsReusedLast) {
  const std::uint16_t first = testing::free_pairs(3);
  PortPool pool(loopback(), {first, port(first + 5)});
  std::uint16_t taken = 0;
  {
    auto pair = pool.take();
    ASSERT_TRUE(pair);
    taken = pair->rtp_port;
  }  // its sockets close here
  pool.give_back(taken);
  auto next = pool.take();
  ASSERT_TRUE(next);
  EXPECT_NE(next->rtp_port, taken);
}

TEST(PortPool, SkipsAPairAnotherProgramHolds) {
  const std::uint16_t first = testing::free_pairs(2);
  PortPool probe(loopback(), {first, port(first + 1)});
  auto held = probe.take();  // stands in for another program on the first pair
  ASSERT_TRUE(held);
  PortPool pool(loopback(), {first, port(first + 3)});
  auto pair = pool.take();
  ASSERT_TRUE(pair) << pair.error().reason;
  EXPECT_EQ(pair->rtp_port, first + 2);
  auto none = pool.take();
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().reason, "no free RTP port pair in " + std::to_string(first) + "-" +
                                     std::to_string(first + 3) +
                                     ": 1 in use by calls, 1 by other programs");
}

TEST(PortPool, ARangeWithoutAPairHoldsNone) {
  PortPool pool(loopback(), {20000, 20000});
  EXPECT_EQ(pool.capacity(), 0u);
  EXPECT_FALSE(pool.take());
  PortPool top(loopback(), {65535, 65535});
  EXPECT_EQ(top.capacity(), 0u);
}

}  // namespace
}  // namespace catchline::media::relay
