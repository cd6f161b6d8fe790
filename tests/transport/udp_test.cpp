// UDP transport on loopback: round trips, batching, symmetric ports, bad datagrams.
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "sip/headers/via.h"
#include "sip/transport/routing.h"
#include "sip/transport/transport_layer.h"
#include "tests/transport/loopback_fixture.h"

namespace catchline::sip::transport {
namespace {

namespace asio = boost::asio;
using boost::asio::ip::make_address;
using boost::asio::ip::udp;
using namespace std::chrono_literals;

using loopback::CapturedLog;
using loopback::RecordingReceiver;
using loopback::Received;
using loopback::run_until;

std::string options_request(std::uint16_t via_port, std::string_view call_id, int cseq = 1,
                            std::string_view host = "127.0.0.1") {
  std::string h(host);
  if (h.find(':') != std::string::npos) {
    h = "[" + h + "]";
  }
  return "OPTIONS sip:1002@" + h + " SIP/2.0\r\n" + "Via: SIP/2.0/UDP " + h + ":" +
         std::to_string(via_port) + ";branch=z9hG4bK-" + std::string(call_id) + "-" +
         std::to_string(cseq) + ";rport\r\n" +
         "Max-Forwards: 70\r\n"
         "From: <sip:1001@" +
         h + ">;tag=a73kszlfl\r\n" + "To: <sip:1002@" + h + ">\r\n" +
         "Call-ID: " + std::string(call_id) + "\r\n" + "CSeq: " + std::to_string(cseq) +
         " OPTIONS\r\n" + "Content-Length: 0\r\n\r\n";
}

std::string ok_response(const Message& request) {
  std::string text = "SIP/2.0 200 OK\r\n";
  request.for_each_value(Header::Via, [&](std::string_view value) {
    text += "Via: ";
    text += value;
    text += "\r\n";
  });
  text += "From: " + std::string(*request.header_value(Header::From)) + "\r\n";
  text += "To: " + std::string(*request.header_value(Header::To)) + ";tag=b1\r\n";
  text += "Call-ID: " + std::string(request.call_id()) + "\r\n";
  text += "CSeq: " + std::string(*request.header_value(Header::CSeq)) + "\r\n";
  text += "Content-Length: 0\r\n\r\n";
  return text;
}

Peer udp_peer(const TransportLayer& layer, std::uint32_t local = 0) {
  ListenSpec bound = layer.bound(local);
  return Peer{Protocol::Udp, bound.address, bound.port, 0, 0};
}

TEST(UdpTransport, RoundTripBetweenTwoLayersWithSymmetricPorts) {
  asio::io_context io;
  RecordingReceiver alice_inbox, bob_inbox;
  TransportLayer alice(io, alice_inbox);
  TransportLayer bob(io, bob_inbox);
  alice.listen("udp:127.0.0.1:0");
  bob.listen("udp:127.0.0.1:0");
  // Bob answers as a UAS would, to where RFC 3581 says.
  bob_inbox.on_receive = [&](const Received& r) {
    auto via = parse_via(r.message.top_via());
    ASSERT_TRUE(via);
    bob.send(response_target(*via, r.source), ok_response(r.message));
  };

  alice.send(udp_peer(bob), options_request(alice.bound(0).port, "udp-round-trip"));
  ASSERT_TRUE(run_until(io, [&] { return alice_inbox.received.size() == 1; }));

  ASSERT_EQ(bob_inbox.received.size(), 1u);
  const Received& request = bob_inbox.received[0];
  EXPECT_TRUE(request.message.is_request());
  EXPECT_EQ(request.message.method(), Method::Options);
  EXPECT_EQ(request.message.call_id(), "udp-round-trip");
  EXPECT_EQ(request.source.protocol, Protocol::Udp);
  EXPECT_EQ(request.source.address, make_address("127.0.0.1"));
  // Symmetric signaling: it left from Alice's listening port.
  EXPECT_EQ(request.source.port, alice.bound(0).port);
  EXPECT_EQ(request.source.connection, 0u);
  EXPECT_EQ(request.source.local, 0u);

  const Received& response = alice_inbox.received[0];
  EXPECT_EQ(response.message.status(), 200);
  EXPECT_EQ(response.message.call_id(), "udp-round-trip");
  EXPECT_EQ(response.source.port, bob.bound(0).port);
  EXPECT_EQ(alice.stats().sent, 1u);
  EXPECT_EQ(alice.stats().received, 1u);
  EXPECT_EQ(bob.stats().received, 1u);
  EXPECT_EQ(bob.stats().sent, 1u);
}

TEST(UdpTransport, RoundTripWithImmediateSendto) {
  asio::io_context io;
  RecordingReceiver alice_inbox, bob_inbox;
  TransportOptions unbatched;
  unbatched.udp_send_batching = false;
  TransportLayer alice(io, alice_inbox, unbatched);
  TransportLayer bob(io, bob_inbox, unbatched);
  alice.listen("udp:127.0.0.1:0");
  bob.listen("udp:127.0.0.1:0");
  bob_inbox.on_receive = [&](const Received& r) {
    auto via = parse_via(r.message.top_via());
    ASSERT_TRUE(via);
    bob.send(response_target(*via, r.source), ok_response(r.message));
  };
  alice.send(udp_peer(bob), options_request(alice.bound(0).port, "unbatched"));
  ASSERT_TRUE(run_until(io, [&] { return alice_inbox.received.size() == 1; }));
  EXPECT_EQ(alice_inbox.received[0].message.status(), 200);
  EXPECT_EQ(alice.stats().udp_send_calls, 1u);
}

TEST(UdpTransport, BatchesReceivesAndTheAnswersToThem) {
  asio::io_context io;
  RecordingReceiver alice_inbox, bob_inbox;
  TransportLayer alice(io, alice_inbox);
  TransportLayer bob(io, bob_inbox);
  alice.listen("udp:127.0.0.1:0");
  bob.listen("udp:127.0.0.1:0");
  bob_inbox.on_receive = [&](const Received& r) {
    auto via = parse_via(r.message.top_via());
    ASSERT_TRUE(via);
    bob.send(response_target(*via, r.source), ok_response(r.message));
  };
  constexpr int kCount = 100;
  for (int i = 0; i < kCount; ++i) {
    alice.send(udp_peer(bob), options_request(alice.bound(0).port, "batch", i + 1));
  }
  // Sent outside a receive dispatch: one sendto each.
  EXPECT_EQ(alice.stats().udp_send_calls, static_cast<std::uint64_t>(kCount));
  ASSERT_TRUE(run_until(io, [&] { return alice_inbox.received.size() == kCount; }));
  // Every datagram arrives, in order; Bob reads them in batches and answers each batch with at
  // most two sendmmsg calls (64 datagrams each).
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(bob_inbox.received[i].message.cseq_number(), static_cast<std::uint32_t>(i + 1));
    EXPECT_EQ(alice_inbox.received[i].message.cseq_number(), static_cast<std::uint32_t>(i + 1));
  }
  EXPECT_EQ(bob.stats().sent, static_cast<std::uint64_t>(kCount));
  EXPECT_LT(bob.stats().udp_wakeups, static_cast<std::uint64_t>(kCount));
  EXPECT_LE(bob.stats().udp_send_calls, 2 * bob.stats().udp_wakeups);
  EXPECT_LT(bob.stats().udp_send_calls, static_cast<std::uint64_t>(kCount));
}

// Answers nothing while the messages of a batch arrive, all of them at its end: as the
// presence server sends the NOTIFYs of the changes a batch made.
class AnswersAtBatchEnd : public RecordingReceiver {
 public:
  void on_batch_begin() override {
    ASSERT_FALSE(open);
    open = true;
    ++batches;
  }
  void on_batch_end() override {
    ASSERT_TRUE(open);
    open = false;
    for (; answered < received.size(); ++answered) {
      const Received& r = received[answered];
      auto via = parse_via(r.message.top_via());
      ASSERT_TRUE(via);
      layer->send(response_target(*via, r.source), ok_response(r.message));
    }
  }
  void on_message(Message&& message, const Peer& source) override {
    EXPECT_TRUE(open) << "a message outside on_batch_begin/on_batch_end";
    RecordingReceiver::on_message(std::move(message), source);
  }
  TransportLayer* layer = nullptr;
  bool open = false;
  std::size_t batches = 0;
  std::size_t answered = 0;
};

TEST(UdpTransport, WhatTheReceiverSendsAtTheEndOfABatchLeavesWithIt) {
  asio::io_context io;
  RecordingReceiver alice_inbox;
  AnswersAtBatchEnd bob_inbox;
  TransportLayer alice(io, alice_inbox);
  TransportLayer bob(io, bob_inbox);
  bob_inbox.layer = &bob;
  alice.listen("udp:127.0.0.1:0");
  bob.listen("udp:127.0.0.1:0");
  constexpr int kCount = 40;
  for (int i = 0; i < kCount; ++i) {
    alice.send(udp_peer(bob), options_request(alice.bound(0).port, "batch-end", i + 1));
  }
  ASSERT_TRUE(run_until(io, [&] { return alice_inbox.received.size() == kCount; }));
  EXPECT_FALSE(bob_inbox.open);
  EXPECT_EQ(bob_inbox.batches, bob.stats().udp_wakeups);
  // One sendmmsg per batch: the answers sent from on_batch_end were batched too.
  EXPECT_LE(bob.stats().udp_send_calls, bob_inbox.batches);
  EXPECT_LT(bob.stats().udp_send_calls, static_cast<std::uint64_t>(kCount));
}

TEST(UdpTransport, ComesBackForDatagramsLeftAfterAFullWakeup) {
  asio::io_context io;
  RecordingReceiver alice_inbox, bob_inbox;
  TransportOptions small_batches;
  small_batches.udp_receive_batch = 2;  // 8 datagrams per wake-up at most
  TransportLayer alice(io, alice_inbox);
  TransportLayer bob(io, bob_inbox, small_batches);
  alice.listen("udp:127.0.0.1:0");
  bob.listen("udp:127.0.0.1:0");
  constexpr int kCount = 50;
  for (int i = 0; i < kCount; ++i) {
    alice.send(udp_peer(bob), options_request(alice.bound(0).port, "leftover", i + 1));
  }
  // The kernel signals readiness once (edge-triggered); the rest must still be read.
  ASSERT_TRUE(run_until(io, [&] { return bob_inbox.received.size() == kCount; }));
  EXPECT_GE(bob.stats().udp_wakeups, static_cast<std::uint64_t>(kCount / 8));
}

TEST(UdpTransport, RoundTripOverIpv6Loopback) {
  asio::io_context io;
  RecordingReceiver alice_inbox, bob_inbox;
  TransportLayer alice(io, alice_inbox);
  TransportLayer bob(io, bob_inbox);
  try {
    alice.listen("udp:[::1]:0");
    bob.listen("udp:[::1]:0");
  } catch (const boost::system::system_error& error) {
    GTEST_SKIP() << "no IPv6 loopback here: " << error.what();
  }
  bob_inbox.on_receive = [&](const Received& r) {
    auto via = parse_via(r.message.top_via());
    ASSERT_TRUE(via);
    bob.send(response_target(*via, r.source), ok_response(r.message));
  };
  alice.send(udp_peer(bob), options_request(alice.bound(0).port, "udp-v6", 1, "::1"));
  ASSERT_TRUE(run_until(io, [&] { return alice_inbox.received.size() == 1; }));
  EXPECT_EQ(bob_inbox.received[0].source.address, make_address("::1"));
  EXPECT_EQ(bob_inbox.received[0].source.port, alice.bound(0).port);
  EXPECT_EQ(alice_inbox.received[0].message.status(), 200);
}

TEST(UdpTransport, SendsFromTheListenSocketOfTheDestinationFamily) {
  asio::io_context io;
  RecordingReceiver alice_inbox, bob_inbox;
  TransportLayer alice(io, alice_inbox);
  TransportLayer bob(io, bob_inbox);
  std::uint32_t v4 = alice.listen("udp:127.0.0.1:0");
  std::uint32_t v6 = 0;
  try {
    v6 = alice.listen("udp:[::1]:0");
    bob.listen("udp:[::1]:0");
  } catch (const boost::system::system_error& error) {
    GTEST_SKIP() << "no IPv6 loopback here: " << error.what();
  }
  Peer to = udp_peer(bob);
  to.local = v4;  // the wrong family: the layer must pick the IPv6 socket
  alice.send(to, options_request(alice.bound(v6).port, "family", 1, "::1"));
  ASSERT_TRUE(run_until(io, [&] { return bob_inbox.received.size() == 1; }));
  EXPECT_EQ(bob_inbox.received[0].source.port, alice.bound(v6).port);
  EXPECT_EQ(alice.listen_count(), 2u);
}

TEST(UdpTransport, DropsWhenNoSocketOfTheFamilyExists) {
  asio::io_context io;
  RecordingReceiver inbox;
  CapturedLog log;
  TransportLayer layer(io, inbox, {}, log.logger);
  layer.listen("udp:127.0.0.1:0");
  layer.send(Peer{Protocol::Udp, make_address("::1"), 5060}, "OPTIONS");
  EXPECT_EQ(layer.stats().dropped_for(DropReason::NoSocket), 1u);
  EXPECT_NE(log.lines.str().find("drop to=udp:[::1]:5060"), std::string::npos) << log.lines.str();
}

/// A plain UDP socket, to send what a TransportLayer never would.
struct RawUdp {
  explicit RawUdp(asio::io_context& io) : socket(io, udp::endpoint(make_address("127.0.0.1"), 0)) {
    socket.non_blocking(true);
  }
  std::uint16_t port() const { return socket.local_endpoint().port(); }
  void send_to(std::string_view bytes, std::uint16_t port) {
    socket.send_to(asio::buffer(bytes), udp::endpoint(make_address("127.0.0.1"), port));
  }
  /// One datagram, if any arrived.
  std::optional<std::string> receive() {
    char buffer[65536];
    udp::endpoint from;
    boost::system::error_code error;
    std::size_t size = socket.receive_from(asio::buffer(buffer), from, 0, error);
    if (error) {
      return std::nullopt;
    }
    return std::string(buffer, size);
  }
  udp::socket socket;
};

TEST(UdpTransport, AnswersAMalformedRequestWithARoutableVia) {
  asio::io_context io;
  RecordingReceiver inbox;
  CapturedLog log;
  TransportLayer layer(io, inbox, {}, log.logger);
  layer.listen("udp:127.0.0.1:0");
  RawUdp phone(io);
  // No Call-ID: RFC 3261 §8.1.1 makes it mandatory, so the parser refuses the request.
  std::string request =
      "OPTIONS sip:1002@127.0.0.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:" +
      std::to_string(phone.port()) +
      ";branch=z9hG4bKbad1;rport\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:1001@127.0.0.1>;tag=x1\r\n"
      "To: <sip:1002@127.0.0.1>\r\n"
      "CSeq: 7 OPTIONS\r\n"
      "Content-Length: 0\r\n\r\n";
  auto expected = parse_message(request);
  ASSERT_FALSE(expected) << "the parser must refuse a request without Call-ID";
  phone.send_to(request, layer.bound(0).port);

  std::optional<std::string> answer;
  ASSERT_TRUE(run_until(io, [&] { return (answer = phone.receive()).has_value(); }));
  EXPECT_EQ(answer->rfind("SIP/2.0 " + std::to_string(expected.error().status) + " " +
                              expected.error().reason + "\r\n",
                          0),
            0u)
      << *answer;
  EXPECT_NE(answer->find(";branch=z9hG4bKbad1;rport=" + std::to_string(phone.port())),
            std::string::npos)
      << *answer;
  EXPECT_NE(answer->find("\r\nCSeq: 7 OPTIONS\r\n"), std::string::npos);
  EXPECT_TRUE(inbox.received.empty());
  EXPECT_EQ(layer.stats().rejected, 1u);
  EXPECT_NE(log.lines.str().find("reject from=udp:127.0.0.1:" + std::to_string(phone.port())),
            std::string::npos)
      << log.lines.str();
}

TEST(UdpTransport, DropsAndLogsGarbage) {
  asio::io_context io;
  RecordingReceiver inbox;
  CapturedLog log;
  TransportLayer layer(io, inbox, {}, log.logger);
  layer.listen("udp:127.0.0.1:0");
  RawUdp stranger(io);
  const char binary[] = "\x16\x03\x01\x00\xff garbage \x00\x01";
  stranger.send_to(std::string(binary, sizeof binary - 1), layer.bound(0).port);
  stranger.send_to("hello world\r\n\r\n", layer.bound(0).port);
  ASSERT_TRUE(run_until(io, [&] { return layer.stats().dropped_for(DropReason::Malformed) == 2; }));
  EXPECT_TRUE(inbox.received.empty());
  EXPECT_EQ(layer.stats().rejected, 0u);
  EXPECT_FALSE(stranger.receive());
  std::string lines = log.lines.str();
  EXPECT_NE(lines.find("warning drop from=udp:127.0.0.1:" + std::to_string(stranger.port()) +
                       " reason=\""),
            std::string::npos)
      << lines;

  // Still serving afterwards.
  stranger.send_to(options_request(stranger.port(), "after-garbage"), layer.bound(0).port);
  ASSERT_TRUE(run_until(io, [&] { return inbox.received.size() == 1; }));
}

TEST(UdpTransport, DropsDatagramsLargerThanTheLimit) {
  asio::io_context io;
  RecordingReceiver inbox;
  CapturedLog log;
  TransportOptions options;
  options.limits.max_message_size = 1000;
  TransportLayer layer(io, inbox, options, log.logger);
  layer.listen("udp:127.0.0.1:0");
  RawUdp stranger(io);
  std::string big = options_request(stranger.port(), "big");
  big.insert(big.find("Content-Length"), "X-Padding: " + std::string(1500, 'p') + "\r\n");
  stranger.send_to(big, layer.bound(0).port);
  ASSERT_TRUE(run_until(io, [&] { return layer.stats().dropped_for(DropReason::TooLarge) == 1; }));
  EXPECT_TRUE(inbox.received.empty());
  EXPECT_NE(log.lines.str().find("kind=too_large"), std::string::npos);
}

TEST(UdpTransport, IgnoresCrlfKeepAlives) {
  asio::io_context io;
  RecordingReceiver inbox;
  TransportLayer layer(io, inbox);
  layer.listen("udp:127.0.0.1:0");
  RawUdp phone(io);
  phone.send_to("\r\n\r\n", layer.bound(0).port);
  phone.send_to(options_request(phone.port(), "after-keepalive"), layer.bound(0).port);
  ASSERT_TRUE(run_until(io, [&] { return inbox.received.size() == 1; }));
  EXPECT_EQ(layer.stats().dropped_total(), 0u);
}

TEST(UdpTransport, BadListenSpecThrowsWithTheReason) {
  asio::io_context io;
  RecordingReceiver inbox;
  TransportLayer layer(io, inbox);
  try {
    layer.listen("udp:nowhere:5060");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(),
                 "listen \"udp:nowhere:5060\": address must be an IPv4 or bracketed IPv6 literal");
  }
}

TEST(UdpTransport, AddressInUseThrows) {
  asio::io_context io;
  RecordingReceiver inbox;
  TransportLayer first(io, inbox);
  TransportLayer second(io, inbox);
  first.listen("udp:127.0.0.1:0");
  ListenSpec taken = first.bound(0);
  EXPECT_THROW(second.listen(taken), boost::system::system_error);
}

TEST(UdpTransport, SendsNothingAfterClose) {
  asio::io_context io;
  RecordingReceiver alice_inbox, bob_inbox;
  TransportLayer alice(io, alice_inbox);
  TransportLayer bob(io, bob_inbox);
  alice.listen("udp:127.0.0.1:0");
  bob.listen("udp:127.0.0.1:0");
  alice.close();
  alice.send(udp_peer(bob), options_request(1, "closed"));
  EXPECT_EQ(alice.stats().sent, 0u);
  EXPECT_EQ(alice.stats().dropped_total(), 1u);
}

}  // namespace
}  // namespace catchline::sip::transport
