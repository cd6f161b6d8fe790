// TCP transport on loopback: framing, keep-alives, stream errors, connection reuse and timeouts.
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "sip/headers/via.h"
#include "sip/transport/routing.h"
#include "sip/transport/transport_layer.h"
#include "tests/transport/loopback_fixture.h"

namespace catchline::sip::transport {
namespace {

namespace asio = boost::asio;
using boost::asio::ip::make_address;
using boost::asio::ip::tcp;
using namespace std::chrono_literals;

using loopback::CapturedLog;
using loopback::RecordingReceiver;
using loopback::Received;
using loopback::run_until;

std::string request(std::string_view method, int cseq, std::string_view body = "",
                    std::string_view call_id = "tcp-call") {
  std::string text = std::string(method) + " sip:1002@127.0.0.1 SIP/2.0\r\n" +
                     "Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-" + std::string(call_id) +
                     "-" + std::to_string(cseq) + "\r\n" +
                     "Max-Forwards: 70\r\n"
                     "From: <sip:1001@127.0.0.1>;tag=a73kszlfl\r\n"
                     "To: <sip:1002@127.0.0.1>\r\n"
                     "Call-ID: " +
                     std::string(call_id) + "\r\n" + "CSeq: " + std::to_string(cseq) + " " +
                     std::string(method) + "\r\n";
  if (!body.empty()) {
    text += "Content-Type: text/plain\r\n";
  }
  text += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  text += body;
  return text;
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

/// A plain TCP client: blocking writes, reads that keep the server's loop running meanwhile.
class RawClient {
 public:
  RawClient(asio::io_context& io, std::uint16_t port) : socket_(io) {
    socket_.connect(tcp::endpoint(make_address("127.0.0.1"), port));
    socket_.set_option(tcp::no_delay(true));
  }
  std::uint16_t port() const { return socket_.local_endpoint().port(); }
  void write(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }

  /// Reads (without blocking) what has arrived; notes end of stream or reset.
  void poll() {
    char buffer[4096];
    for (;;) {
      ssize_t size = ::recv(socket_.native_handle(), buffer, sizeof buffer, MSG_DONTWAIT);
      if (size > 0) {
        data.append(buffer, static_cast<std::size_t>(size));
        continue;
      }
      if (size == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        closed = true;
      }
      return;
    }
  }
  /// Runs the server loop until `done` holds, reading meanwhile.
  bool wait(asio::io_context& io, const std::function<bool()>& done,
            std::chrono::milliseconds limit = 2000ms) {
    return run_until(
        io,
        [&] {
          poll();
          return done();
        },
        limit);
  }
  bool wait_for_data(asio::io_context& io, std::string_view text) {
    return wait(io, [&] { return data.find(text) != std::string::npos; });
  }

  std::string data;
  bool closed = false;

 private:
  tcp::socket socket_;
};

class TcpTransportTest : public ::testing::Test {
 protected:
  void start(TransportOptions options = {}) {
    server_ = std::make_unique<TransportLayer>(io_, inbox_, options, log_.logger);
    server_->listen("tcp:127.0.0.1:0");
  }
  std::uint16_t port() const { return server_->bound(0).port; }

  asio::io_context io_;
  RecordingReceiver inbox_;
  CapturedLog log_;
  std::unique_ptr<TransportLayer> server_;
};

TEST_F(TcpTransportTest, FramesAMessageArrivingByteByByte) {
  start();
  RawClient client(io_, port());
  std::string message = request("MESSAGE", 1, "hello over tcp");
  for (std::size_t i = 0; i < message.size(); ++i) {
    client.write(std::string_view(message).substr(i, 1));
    // Make the server read each byte on its own.
    ASSERT_TRUE(run_until(io_, [&] { return server_->stats().bytes_received == i + 1; }));
    if (i + 1 < message.size()) {
      ASSERT_TRUE(inbox_.received.empty()) << "delivered early at byte " << i;
    }
  }
  ASSERT_TRUE(run_until(io_, [&] { return inbox_.received.size() == 1; }));
  const Received& r = inbox_.received[0];
  EXPECT_EQ(r.message.method(), Method::Message);
  EXPECT_EQ(r.message.body(), "hello over tcp");
  EXPECT_EQ(r.source.protocol, Protocol::Tcp);
  EXPECT_EQ(r.source.address, make_address("127.0.0.1"));
  EXPECT_EQ(r.source.port, client.port());
  EXPECT_NE(r.source.connection, 0u);
  EXPECT_EQ(r.source.local, 0u);
}

TEST_F(TcpTransportTest, SplitsThreeMessagesWrittenAtOnce) {
  start();
  RawClient client(io_, port());
  client.write(request("OPTIONS", 1) + request("MESSAGE", 2, "second") + request("OPTIONS", 3));
  ASSERT_TRUE(run_until(io_, [&] { return inbox_.received.size() == 3; }));
  EXPECT_EQ(inbox_.received[0].message.cseq_number(), 1u);
  EXPECT_EQ(inbox_.received[1].message.cseq_number(), 2u);
  EXPECT_EQ(inbox_.received[1].message.body(), "second");
  EXPECT_EQ(inbox_.received[2].message.cseq_number(), 3u);
  EXPECT_EQ(inbox_.received[0].source.connection, inbox_.received[2].source.connection);
}

TEST_F(TcpTransportTest, WaitsForABodySplitAcrossReads) {
  start();
  RawClient client(io_, port());
  std::string message = request("MESSAGE", 1, "0123456789abcdefghij");
  std::size_t cut = message.size() - 10;
  client.write(std::string_view(message).substr(0, cut));
  ASSERT_TRUE(run_until(io_, [&] { return server_->stats().bytes_received == cut; }));
  EXPECT_TRUE(inbox_.received.empty());
  client.write(std::string_view(message).substr(cut));
  ASSERT_TRUE(run_until(io_, [&] { return inbox_.received.size() == 1; }));
  EXPECT_EQ(inbox_.received[0].message.body(), "0123456789abcdefghij");
}

TEST_F(TcpTransportTest, AnswersACrlfPingWithAPong) {
  start();
  RawClient client(io_, port());
  client.write("\r\n\r\n");
  ASSERT_TRUE(client.wait(io_, [&] { return client.data.size() >= 2; }));
  EXPECT_EQ(client.data, "\r\n");
  EXPECT_EQ(server_->stats().keepalive_pings, 1u);
  // The connection still carries messages, and a bare CRLF before one is ignored.
  client.write("\r\n" + request("OPTIONS", 1));
  ASSERT_TRUE(run_until(io_, [&] { return inbox_.received.size() == 1; }));
  EXPECT_EQ(server_->stats().keepalive_pings, 1u);
  EXPECT_EQ(client.data, "\r\n");
  EXPECT_FALSE(client.closed);
}

TEST_F(TcpTransportTest, AnswersMissingContentLengthWith400AndCloses) {
  start();
  std::optional<RawClient> client(std::in_place, io_, port());
  std::string message = request("OPTIONS", 1);
  message.erase(message.find("Content-Length"), std::string_view("Content-Length: 0\r\n").size());
  client->write(message);
  ASSERT_TRUE(client->wait(io_, [&] { return client->closed; }));
  EXPECT_EQ(client->data.rfind("SIP/2.0 400 Missing Content-Length\r\n", 0), 0u) << client->data;
  EXPECT_NE(client->data.find("\r\nCSeq: 1 OPTIONS\r\n"), std::string::npos);
  EXPECT_TRUE(inbox_.received.empty());
  EXPECT_EQ(server_->stats().rejected, 1u);
  EXPECT_EQ(server_->connection_count(), 0u);
  // Our side was shut after the answer; the connection goes once the phone closes its side.
  client.reset();
  EXPECT_TRUE(run_until(io_, [&] { return server_->stats().connections_closed == 1; }));
}

TEST_F(TcpTransportTest, ClosesOnAMessageOverTheSizeLimit) {
  TransportOptions options;
  options.limits.max_message_size = 2000;
  start(options);
  RawClient client(io_, port());
  client.write(request("MESSAGE", 1, std::string(3000, 'b')));
  ASSERT_TRUE(client.wait(io_, [&] { return client.closed; }));
  EXPECT_TRUE(client.data.empty());
  EXPECT_TRUE(inbox_.received.empty());
  EXPECT_EQ(server_->stats().dropped_for(DropReason::TooLarge), 1u);
  EXPECT_NE(log_.lines.str().find("kind=too_large"), std::string::npos) << log_.lines.str();
}

TEST_F(TcpTransportTest, ClosesOnHeadersThatNeverEnd) {
  TransportOptions options;
  options.limits.max_message_size = 2000;
  start(options);
  RawClient client(io_, port());
  client.write("OPTIONS sip:1002@127.0.0.1 SIP/2.0\r\nX-Long: " + std::string(3000, 'h'));
  ASSERT_TRUE(client.wait(io_, [&] { return client.closed; }));
  EXPECT_EQ(server_->stats().dropped_for(DropReason::TooLarge), 1u);
}

TEST_F(TcpTransportTest, AnswersAMalformedRequestAndKeepsTheConnection) {
  start();
  RawClient client(io_, port());
  std::string broken = request("OPTIONS", 1);
  broken.erase(broken.find("Call-ID"), std::string_view("Call-ID: tcp-call\r\n").size());
  auto expected = parse_message(broken);
  ASSERT_FALSE(expected);
  client.write(broken);
  ASSERT_TRUE(client.wait_for_data(io_, "\r\n\r\n"));
  EXPECT_EQ(client.data.rfind("SIP/2.0 400 " + expected.error().reason + "\r\n", 0), 0u)
      << client.data;
  client.write(request("OPTIONS", 2));
  ASSERT_TRUE(run_until(io_, [&] { return inbox_.received.size() == 1; }));
  EXPECT_FALSE(client.closed);
}

TEST_F(TcpTransportTest, AnswersOverTheSameConnectionAndReusesItForNewRequests) {
  start();
  RawClient client(io_, port());
  inbox_.on_receive = [&](const Received& r) {
    auto via = parse_via(r.message.top_via());
    ASSERT_TRUE(via);
    server_->send(response_target(*via, r.source), ok_response(r.message));
  };
  client.write(request("OPTIONS", 1));
  ASSERT_TRUE(client.wait_for_data(io_, "SIP/2.0 200 OK"));
  EXPECT_NE(client.data.find("CSeq: 1 OPTIONS"), std::string::npos);
  std::uint64_t id = inbox_.received.at(0).source.connection;
  EXPECT_TRUE(server_->connection_open(id));

  // A new request to the phone's address and port (no connection id) reuses the connection.
  inbox_.on_receive = nullptr;
  client.data.clear();
  server_->send(Peer{Protocol::Tcp, make_address("127.0.0.1"), client.port(), 0, 0},
                request("NOTIFY", 5));
  ASSERT_TRUE(client.wait_for_data(io_, "CSeq: 5 NOTIFY"));
  EXPECT_EQ(server_->stats().connections_opened, 0u);
  EXPECT_EQ(server_->stats().connections_accepted, 1u);
  EXPECT_EQ(server_->connection_count(), 1u);
}

TEST_F(TcpTransportTest, ClosesIdleConnections) {
  TransportOptions options;
  options.idle_timeout = 100ms;
  start(options);
  RawClient client(io_, port());
  client.write(request("OPTIONS", 1));
  ASSERT_TRUE(run_until(io_, [&] { return inbox_.received.size() == 1; }));
  std::uint64_t id = inbox_.received[0].source.connection;
  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(client.wait(io_, [&] { return client.closed; }));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 50ms);
  EXPECT_FALSE(server_->connection_open(id));
  EXPECT_EQ(server_->stats().connections_closed, 1u);
}

TEST_F(TcpTransportTest, ConnectionIdsAreNeverReused) {
  start();
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 3; ++i) {
    RawClient client(io_, port());
    client.write(request("OPTIONS", i + 1));
    ASSERT_TRUE(run_until(io_, [&] { return inbox_.received.size() == ids.size() + 1; }));
    ids.push_back(inbox_.received.back().source.connection);
  }
  EXPECT_LT(ids[0], ids[1]);
  EXPECT_LT(ids[1], ids[2]);
}

TEST_F(TcpTransportTest, CloseConnectionDropsItsQueuedBytes) {
  start();
  RawClient client(io_, port());
  client.write(request("OPTIONS", 1));
  ASSERT_TRUE(run_until(io_, [&] { return inbox_.received.size() == 1; }));
  std::uint64_t id = inbox_.received[0].source.connection;
  server_->close_connection(id);
  EXPECT_FALSE(server_->connection_open(id));
  ASSERT_TRUE(client.wait(io_, [&] { return client.closed; }));
  EXPECT_TRUE(run_until(io_, [&] { return server_->connection_count() == 0; }));
}

TEST_F(TcpTransportTest, ClosesAConnectionWhoseWriteQueueOverflows) {
  TransportOptions options;
  options.max_queued_bytes = 1000;
  start(options);
  RawClient client(io_, port());
  client.write(request("OPTIONS", 1));
  ASSERT_TRUE(run_until(io_, [&] { return inbox_.received.size() == 1; }));
  Peer phone = inbox_.received[0].source;
  // The first write is in flight; the second and third wait behind it and pass the limit.
  server_->send(phone, request("MESSAGE", 2, std::string(500, 'a')));
  server_->send(phone, request("MESSAGE", 3, std::string(500, 'b')));
  EXPECT_EQ(server_->stats().dropped_for(DropReason::QueueFull), 1u);
  EXPECT_FALSE(server_->connection_open(phone.connection));
  EXPECT_NE(log_.lines.str().find("kind=queue_full"), std::string::npos) << log_.lines.str();
  ASSERT_TRUE(client.wait(io_, [&] { return client.closed; }));
}

TEST(TcpOutbound, ConnectsSendsAndReusesTheConnection) {
  asio::io_context io;
  RecordingReceiver alice_inbox, bob_inbox;
  TransportLayer alice(io, alice_inbox);
  TransportLayer bob(io, bob_inbox);
  bob.listen("tcp:127.0.0.1:0");
  bob_inbox.on_receive = [&](const Received& r) {
    auto via = parse_via(r.message.top_via());
    ASSERT_TRUE(via);
    bob.send(response_target(*via, r.source), ok_response(r.message));
  };
  Peer to{Protocol::Tcp, make_address("127.0.0.1"), bob.bound(0).port, 0, 0};
  // Two sends before the connection is even open: both are queued, in order.
  alice.send(to, request("OPTIONS", 1));
  alice.send(to, request("OPTIONS", 2));
  EXPECT_EQ(alice.connection_count(), 1u);
  ASSERT_TRUE(run_until(io, [&] { return alice_inbox.received.size() == 2; }));
  EXPECT_EQ(bob_inbox.received[0].message.cseq_number(), 1u);
  EXPECT_EQ(bob_inbox.received[1].message.cseq_number(), 2u);
  std::uint64_t alice_side = alice_inbox.received[0].source.connection;
  EXPECT_NE(alice_side, 0u);
  EXPECT_EQ(alice_inbox.received[0].source.port, bob.bound(0).port);
  EXPECT_EQ(alice_inbox.received[0].message.status(), 200);

  // A later send with no connection id goes over the same connection.
  alice.send(to, request("OPTIONS", 3));
  ASSERT_TRUE(run_until(io, [&] { return alice_inbox.received.size() == 3; }));
  EXPECT_EQ(alice_inbox.received[2].source.connection, alice_side);
  EXPECT_EQ(bob_inbox.received[2].source.connection, bob_inbox.received[0].source.connection);
  EXPECT_EQ(alice.stats().connections_opened, 1u);
  EXPECT_EQ(bob.stats().connections_accepted, 1u);
  EXPECT_EQ(alice.stats().sent, 3u);
}

TEST(TcpOutbound, ReopensWhenTheConnectionIsGone) {
  asio::io_context io;
  RecordingReceiver alice_inbox, bob_inbox;
  TransportLayer alice(io, alice_inbox);
  TransportLayer bob(io, bob_inbox);
  bob.listen("tcp:127.0.0.1:0");
  Peer to{Protocol::Tcp, make_address("127.0.0.1"), bob.bound(0).port, 0, 0};
  alice.send(to, request("OPTIONS", 1));
  ASSERT_TRUE(run_until(io, [&] { return bob_inbox.received.size() == 1; }));
  bob.close_connection(bob_inbox.received[0].source.connection);
  ASSERT_TRUE(run_until(io, [&] { return alice.connection_count() == 0; }));
  to.connection = 1;  // the old id, now dead
  alice.send(to, request("OPTIONS", 2));
  ASSERT_TRUE(run_until(io, [&] { return bob_inbox.received.size() == 2; }));
  EXPECT_EQ(alice.stats().connections_opened, 2u);
  EXPECT_NE(bob_inbox.received[1].source.connection, bob_inbox.received[0].source.connection);
}

TEST(TcpOutbound, CountsAndLogsAFailedConnect) {
  asio::io_context io;
  RecordingReceiver inbox;
  CapturedLog log;
  TransportLayer layer(io, inbox, {}, log.logger);
  std::uint16_t closed_port = 0;
  {
    // A port that nothing listens on: bound a moment ago and released.
    tcp::acceptor probe(io, tcp::endpoint(make_address("127.0.0.1"), 0));
    closed_port = probe.local_endpoint().port();
  }
  layer.send(Peer{Protocol::Tcp, make_address("127.0.0.1"), closed_port}, request("OPTIONS", 1));
  layer.send(Peer{Protocol::Tcp, make_address("127.0.0.1"), closed_port}, request("OPTIONS", 2));
  ASSERT_TRUE(
      run_until(io, [&] { return layer.stats().dropped_for(DropReason::ConnectFailed) == 2; }));
  EXPECT_NE(log.lines.str().find("kind=connect_failed"), std::string::npos) << log.lines.str();
  EXPECT_TRUE(run_until(io, [&] { return layer.connection_count() == 0; }));
}

TEST(TcpTransportIpv6, RoundTripOverIpv6Loopback) {
  asio::io_context io;
  RecordingReceiver alice_inbox, bob_inbox;
  TransportLayer alice(io, alice_inbox);
  TransportLayer bob(io, bob_inbox);
  try {
    bob.listen("tcp:[::1]:0");
  } catch (const boost::system::system_error& error) {
    GTEST_SKIP() << "no IPv6 loopback here: " << error.what();
  }
  bob_inbox.on_receive = [&](const Received& r) {
    auto via = parse_via(r.message.top_via());
    ASSERT_TRUE(via);
    bob.send(response_target(*via, r.source), ok_response(r.message));
  };
  alice.send(Peer{Protocol::Tcp, make_address("::1"), bob.bound(0).port}, request("OPTIONS", 1));
  ASSERT_TRUE(run_until(io, [&] { return alice_inbox.received.size() == 1; }));
  EXPECT_EQ(bob_inbox.received[0].source.address, make_address("::1"));
  EXPECT_EQ(alice_inbox.received[0].message.status(), 200);
}

}  // namespace
}  // namespace catchline::sip::transport
