#include "media/relay/relay.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "media/relay/media_control.h"
#include "tests/media/relay_test_support.h"

namespace catchline::media::relay {
namespace {

using namespace std::chrono_literals;
using testing::Bytes;
using testing::Phone;
using testing::remote;
using testing::RunningRelay;

// Ports for these tests: wide, so that tests running beside each other (each binds what it
// finds free) do not run out.
MediaOptions options(std::uint16_t first = 42000, std::uint16_t last = 47999) {
  MediaOptions media;
  media.address = boost::asio::ip::make_address("127.0.0.1");
  media.ports = {first, last};
  return media;
}

// Two phones, each with an RTP and an RTCP socket, on legs a and b bridged to each other.
struct BridgedCall {
  explicit BridgedCall(RunningRelay& relay, bool a_mux = false, bool b_mux = false) {
    auto opened_a = relay.control().open_leg(remote(a_rtp.endpoint(), a_rtcp.endpoint(), a_mux));
    auto opened_b = relay.control().open_leg(remote(b_rtp.endpoint(), b_rtcp.endpoint(), b_mux));
    if (!opened_a || !opened_b) {
      throw std::runtime_error("no ports");
    }
    a = *opened_a;
    b = *opened_b;
    relay.control().bridge(a.leg, b.leg);
    relay.settle();
  }
  Phone a_rtp, a_rtcp, b_rtp, b_rtcp;
  LegPorts a, b;
};

TEST(Relay, ForwardsRtpBothWaysBetweenBridgedLegs) {
  RunningRelay relay(options());
  BridgedCall call(relay);

  call.a_rtp.send(call.a.rtp_port, testing::rtp_packet(1));
  auto at_b = call.b_rtp.receive();
  ASSERT_TRUE(at_b);
  EXPECT_EQ(at_b->bytes, testing::rtp_packet(1));
  // Symmetric RTP: it comes from the relay port b's phone sends to.
  EXPECT_EQ(at_b->source.port(), call.b.rtp_port);

  call.b_rtp.send(call.b.rtp_port, testing::rtp_packet(7));
  auto at_a = call.a_rtp.receive();
  ASSERT_TRUE(at_a);
  EXPECT_EQ(at_a->bytes, testing::rtp_packet(7));
  EXPECT_EQ(at_a->source.port(), call.a.rtp_port);
}

TEST(Relay, ForwardsAndLatchesOverIpv6) {
  try {
    Phone probe("::1");
  } catch (const std::runtime_error&) {
    GTEST_SKIP() << "no IPv6 loopback on this machine";
  }
  MediaOptions media = options();
  media.address = boost::asio::ip::make_address("::1");
  RunningRelay relay(media);
  Phone a("::1");
  Phone b("::1");
  Phone spoofer("::1");
  auto leg_a = relay.control().open_leg(remote(a.endpoint()));
  auto leg_b = relay.control().open_leg(remote(b.endpoint()));
  ASSERT_TRUE(leg_a && leg_b);
  EXPECT_TRUE(leg_a->address.is_v6());
  relay.control().bridge(leg_a->leg, leg_b->leg);
  relay.settle();

  a.send(leg_a->rtp_port, testing::rtp_packet(1));
  auto at_b = b.receive();
  ASSERT_TRUE(at_b);
  EXPECT_EQ(at_b->bytes, testing::rtp_packet(1));
  EXPECT_EQ(at_b->source.port(), leg_b->rtp_port);
  spoofer.send(leg_a->rtp_port, testing::rtp_packet(2));
  EXPECT_FALSE(b.receive(200ms));
  b.send(leg_b->rtp_port, testing::rtp_packet(3));
  EXPECT_TRUE(a.receive());
}

TEST(Relay, ForwardsRtcpBetweenTheRtcpPorts) {
  RunningRelay relay(options());
  BridgedCall call(relay);

  call.a_rtcp.send(call.a.rtcp_port, testing::receiver_report(3));
  auto at_b = call.b_rtcp.receive();
  ASSERT_TRUE(at_b);
  EXPECT_EQ(at_b->bytes, testing::receiver_report(3));
  EXPECT_EQ(at_b->source.port(), call.b.rtcp_port);
  EXPECT_FALSE(call.b_rtp.receive(100ms));
}

TEST(Relay, TranslatesRtcpBetweenAMuxedAndAnUnmuxedLeg) {
  RunningRelay relay(options());
  BridgedCall call(relay, /*a_mux=*/true, /*b_mux=*/false);

  // a muxes: its RTCP arrives on the RTP port and leaves on b's RTCP port.
  call.a_rtp.send(call.a.rtp_port, testing::receiver_report(1));
  auto at_b = call.b_rtcp.receive();
  ASSERT_TRUE(at_b);
  EXPECT_EQ(at_b->bytes, testing::receiver_report(1));
  EXPECT_EQ(at_b->source.port(), call.b.rtcp_port);

  // b's RTCP port goes to a's one port.
  call.b_rtcp.send(call.b.rtcp_port, testing::receiver_report(2));
  auto at_a = call.a_rtp.receive();
  ASSERT_TRUE(at_a);
  EXPECT_EQ(at_a->bytes, testing::receiver_report(2));
  EXPECT_EQ(at_a->source.port(), call.a.rtp_port);
  EXPECT_FALSE(call.a_rtcp.receive(100ms));
}

TEST(Relay, PassesEveryByteUnchanged) {
  RunningRelay relay(options());
  BridgedCall call(relay);
  // RFC 4733 events (marker, end bit, the same timestamp), CSRCs, an extension, padding.
  const std::vector<Bytes> packets = {
      {0x80, 0xe5, 0x03, 0xe8, 0, 0, 0x10, 0, 0xca, 0xfe, 0xba, 0xbe, 0x05, 0x0a, 0x00, 0xa0},
      {0x80, 0x65, 0x03, 0xe9, 0, 0, 0x10, 0, 0xca, 0xfe, 0xba, 0xbe, 0x05, 0x8a, 0x01, 0x40},
      {0xb1, 0x08, 0xff, 0xff, 1, 2, 3,    4,    5,    6,    7,    8,    0, 0,
       0,    9,    0xbe, 0xde, 0, 1, 0x10, 0x20, 0x30, 0x40, 0xd5, 0xd5, 0, 2},
      testing::rtp_packet(65535, 0, 1200),
  };
  for (const Bytes& packet : packets) {
    call.a_rtp.send(call.a.rtp_port, packet);
    auto at_b = call.b_rtp.receive();
    ASSERT_TRUE(at_b);
    EXPECT_EQ(at_b->bytes, packet);
  }
}

TEST(Relay, ForwardsABurstLongerThanOneTurnOfItsSocket) {
  RunningRelay relay(options());
  BridgedCall call(relay);
  // Hold the media thread while 150 packets queue on a's socket: more than one turn reads
  // (4 rounds of 32), so the rest waits for the relay's next turn.
  std::promise<void> queued;
  relay.media().post([&queued] { queued.get_future().wait(); });
  constexpr int kBurst = 150;
  for (int sequence = 0; sequence < kBurst; ++sequence) {
    call.a_rtp.send(call.a.rtp_port, testing::rtp_packet(static_cast<std::uint16_t>(sequence)));
  }
  queued.set_value();
  for (int sequence = 0; sequence < kBurst; ++sequence) {
    auto at_b = call.b_rtp.receive();
    ASSERT_TRUE(at_b) << "packet " << sequence;
    EXPECT_EQ(at_b->bytes, testing::rtp_packet(static_cast<std::uint16_t>(sequence)));
  }
}

TEST(Relay, LatchesToTheFirstSourceFromTheSdpAddress) {
  RunningRelay relay(options());
  Phone sdp_only;  // the address the SDP names; the phone (behind a NAT) sends from elsewhere
  Phone natted;
  Phone other;
  auto a = relay.control().open_leg(remote(sdp_only.endpoint()));
  auto b = relay.control().open_leg(remote(other.endpoint()));
  ASSERT_TRUE(a && b);
  relay.control().bridge(a->leg, b->leg);
  relay.settle();

  // Before a latches, b's packets go to a's SDP address.
  other.send(b->rtp_port, testing::rtp_packet(1));
  ASSERT_TRUE(sdp_only.receive());

  natted.send(a->rtp_port, testing::rtp_packet(2));
  ASSERT_TRUE(other.receive());
  // Latched: b's packets now go where a's come from.
  other.send(b->rtp_port, testing::rtp_packet(3));
  auto at_natted = natted.receive();
  ASSERT_TRUE(at_natted);
  EXPECT_EQ(at_natted->bytes, testing::rtp_packet(3));
  EXPECT_FALSE(sdp_only.receive(100ms));
}

TEST(Relay, IgnoresASourceOutsideTheSdpAndSignalingAddressesBeforeLatching) {
  RunningRelay relay(options());
  BridgedCall call(relay);
  Phone stranger("127.0.0.2");

  stranger.send(call.a.rtp_port, testing::rtp_packet(1));
  EXPECT_FALSE(call.b_rtp.receive(200ms));
  // The stranger did not latch the leg: b's packets still go to a.
  call.b_rtp.send(call.b.rtp_port, testing::rtp_packet(2));
  EXPECT_TRUE(call.a_rtp.receive());
  EXPECT_FALSE(stranger.receive(100ms));
  EXPECT_EQ(relay.close(call.a.leg).dropped_source, 1u);
}

TEST(Relay, DropsSpoofedSourcesAfterLatching) {
  RunningRelay relay(options());
  BridgedCall call(relay);
  Phone same_ip_other_port;
  Phone other_ip("127.0.0.2");

  call.a_rtp.send(call.a.rtp_port, testing::rtp_packet(1));
  ASSERT_TRUE(call.b_rtp.receive());
  same_ip_other_port.send(call.a.rtp_port, testing::rtp_packet(666));
  other_ip.send(call.a.rtp_port, testing::rtp_packet(667));
  EXPECT_FALSE(call.b_rtp.receive(200ms));
  // No hijack: b's packets still go to the latched phone.
  call.b_rtp.send(call.b.rtp_port, testing::rtp_packet(2));
  EXPECT_TRUE(call.a_rtp.receive());
  EXPECT_FALSE(same_ip_other_port.receive(100ms));

  const LegStats stats = relay.close(call.a.leg);
  EXPECT_EQ(stats.dropped_source, 2u);
  EXPECT_EQ(stats.packets_in, 1u);
}

TEST(Relay, LatchesAgainAfterANewSdp) {
  RunningRelay relay(options());
  BridgedCall call(relay);
  Phone moved;

  call.a_rtp.send(call.a.rtp_port, testing::rtp_packet(1));
  ASSERT_TRUE(call.b_rtp.receive());
  moved.send(call.a.rtp_port, testing::rtp_packet(2));
  EXPECT_FALSE(call.b_rtp.receive(200ms));

  relay.control().set_remote(call.a.leg, remote(moved.endpoint()));
  relay.settle();
  moved.send(call.a.rtp_port, testing::rtp_packet(3));
  auto at_b = call.b_rtp.receive();
  ASSERT_TRUE(at_b);
  EXPECT_EQ(at_b->bytes, testing::rtp_packet(3));
  call.b_rtp.send(call.b.rtp_port, testing::rtp_packet(4));
  EXPECT_TRUE(moved.receive());
  EXPECT_FALSE(call.a_rtp.receive(100ms));
}

TEST(Relay, RebridgesALegWithoutReopeningIt) {
  RunningRelay relay(options());
  BridgedCall call(relay);
  Phone c_rtp;
  auto c = relay.control().open_leg(remote(c_rtp.endpoint()));
  ASSERT_TRUE(c);

  call.a_rtp.send(call.a.rtp_port, testing::rtp_packet(1));
  ASSERT_TRUE(call.b_rtp.receive());

  // Pickup or transfer: a is joined to c, on the ports it already has.
  relay.control().bridge(call.a.leg, c->leg);
  relay.settle();
  call.a_rtp.send(call.a.rtp_port, testing::rtp_packet(2));
  auto at_c = c_rtp.receive();
  ASSERT_TRUE(at_c);
  EXPECT_EQ(at_c->bytes, testing::rtp_packet(2));
  EXPECT_FALSE(call.b_rtp.receive(100ms));
  c_rtp.send(c->rtp_port, testing::rtp_packet(3));
  EXPECT_TRUE(call.a_rtp.receive());
  // b was left alone: what it sends goes nowhere.
  call.b_rtp.send(call.b.rtp_port, testing::rtp_packet(4));
  EXPECT_FALSE(call.a_rtp.receive(200ms));
  EXPECT_EQ(relay.close(call.b.leg).dropped_unbridged, 1u);
}

TEST(Relay, ReportsALegThatReceivedNothingForItsTimeout) {
  MediaOptions media = options();
  media.relay.timeout = 200ms;
  RunningRelay relay(media);
  Phone phone;
  const auto started = std::chrono::steady_clock::now();
  auto leg = relay.control().open_leg(remote(phone.endpoint()));
  ASSERT_TRUE(leg);

  ASSERT_TRUE(relay.pump([&] { return !relay.observer().inactive.empty(); }));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 200ms);
  EXPECT_EQ(relay.observer().inactive[0].leg, leg->leg);
  EXPECT_GE(relay.observer().inactive[0].silence, 200ms);
  // Once per silence.
  relay.pump([] { return false; }, 500ms);
  EXPECT_EQ(relay.observer().inactive.size(), 1u);
}

TEST(Relay, KeepsALegOnHoldForTheHoldTimeout) {
  MediaOptions media = options();
  media.relay.timeout = 100ms;
  media.relay.hold_timeout = 10s;
  RunningRelay relay(media);
  Phone phone;
  RemoteMedia held = remote(phone.endpoint());
  held.on_hold = true;
  auto leg = relay.control().open_leg(held);
  ASSERT_TRUE(leg);
  relay.pump([] { return false; }, 500ms);
  EXPECT_TRUE(relay.observer().inactive.empty());
}

TEST(Relay, CountsPacketsBytesAndTheLossRtcpReports) {
  RunningRelay relay(options());
  BridgedCall call(relay);
  for (std::uint16_t sequence = 1; sequence <= 3; ++sequence) {
    call.a_rtp.send(call.a.rtp_port, testing::rtp_packet(sequence));
    ASSERT_TRUE(call.b_rtp.receive());
  }
  call.a_rtcp.send(call.a.rtcp_port, testing::receiver_report(7));
  ASSERT_TRUE(call.b_rtcp.receive());

  const LegStats a = relay.close(call.a.leg);
  EXPECT_EQ(a.packets_in, 4u);
  EXPECT_EQ(a.rtcp_in, 1u);
  EXPECT_EQ(a.bytes_in, 3 * testing::rtp_packet(1).size() + testing::receiver_report(7).size());
  ASSERT_TRUE(a.reported_lost);
  EXPECT_EQ(*a.reported_lost, 7);
  EXPECT_EQ(a.reported_fraction_lost, 5);
  const LegStats b = relay.close(call.b.leg);
  EXPECT_EQ(b.packets_out, 4u);
  EXPECT_EQ(b.bytes_out, a.bytes_in);
}

TEST(Relay, ClosesAndRebridgesLegsWhilePacketsFlow) {
  RunningRelay relay(options());
  constexpr int kCalls = 8;
  std::vector<std::unique_ptr<BridgedCall>> calls;
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(std::make_unique<BridgedCall>(relay));
  }
  std::vector<std::uint16_t> ports;
  for (const auto& call : calls) {
    ports.push_back(call->a.rtp_port);
    ports.push_back(call->b.rtp_port);
  }
  // A stranger floods every port (dropped: not the phones' address) while the phones talk and
  // legs are re-bridged and closed under them.
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0};
  std::thread flood([&] {
    Phone stranger("127.0.0.2");
    for (std::uint16_t sequence = 0; !stop.load(); ++sequence) {
      for (std::uint16_t port : ports) {
        stranger.send(port, testing::rtp_packet(sequence));
      }
      ++rounds;
    }
  });
  while (rounds.load() < 3) {
    std::this_thread::yield();
  }
  for (int i = 0; i < kCalls; ++i) {
    calls[i]->a_rtp.send(calls[i]->a.rtp_port, testing::rtp_packet(1));
    relay.control().bridge(calls[i]->a.leg, calls[(i + 1) % kCalls]->b.leg);
    calls[i]->b_rtp.send(calls[i]->b.rtp_port, testing::rtp_packet(2));
    relay.control().close_leg(calls[i]->a.leg);
  }
  relay.settle();
  stop.store(true);
  flood.join();
  std::this_thread::sleep_for(50ms);  // the relay reads (and drops) the last of the flood

  BridgedCall fresh(relay);
  fresh.a_rtp.send(fresh.a.rtp_port, testing::rtp_packet(3));
  auto at_b = fresh.b_rtp.receive();
  ASSERT_TRUE(at_b);
  EXPECT_EQ(at_b->bytes, testing::rtp_packet(3));
  const LegStats b0 = relay.close(calls[0]->b.leg);
  EXPECT_GT(b0.dropped_source, 0u);
}

TEST(Relay, SaysClearlyWhenThePortRangeIsExhausted) {
  const std::uint16_t low = testing::free_pairs(2);
  const auto high = static_cast<std::uint16_t>(low + 3);
  RunningRelay relay(options(low, high));
  Phone phone;
  auto first = relay.control().open_leg(remote(phone.endpoint()));
  auto second = relay.control().open_leg(remote(phone.endpoint()));
  ASSERT_TRUE(first && second);
  auto third = relay.control().open_leg(remote(phone.endpoint()));
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().status, 503);
  EXPECT_EQ(third.error().reason, "no free RTP port pair in " + std::to_string(low) + "-" +
                                      std::to_string(high) +
                                      ": 2 in use by calls, 0 by other programs");

  // A closed leg's pair comes back once the media thread closed its sockets.
  relay.close(first->leg);
  auto again = relay.control().open_leg(remote(phone.endpoint()));
  ASSERT_TRUE(again) << again.error().reason;
  EXPECT_EQ(again->rtp_port, first->rtp_port);
}

}  // namespace
}  // namespace catchline::media::relay
