#pragma once

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/timer_queue.h"
#include "sip/builder.h"
#include "sip/message.h"
#include "sip/transport/peer.h"
#include "sip/txn/transaction_layer.h"

// Tests name only the RequestSpec fields they change (designated initializers); the rest keep
// their defaults on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace catchline::sip::txn::testing {

using transport::Peer;
using transport::Protocol;

inline Peer udp_peer(std::uint16_t port = 5070) {
  return Peer{Protocol::Udp, boost::asio::ip::make_address("127.0.0.1"), port, 0, 0};
}
inline Peer tcp_peer(std::uint16_t port = 5070, std::uint64_t connection = 7) {
  return Peer{Protocol::Tcp, boost::asio::ip::make_address("127.0.0.1"), port, connection, 0};
}

inline Message parse(std::string text) {
  auto message = parse_message(std::move(text));
  if (!message) {
    ADD_FAILURE() << "test message does not parse: " << message.error().reason;
    return Message{};
  }
  return std::move(*message);
}

/// What a request under test looks like; every field has a usable default.
struct RequestSpec {
  std::string method = "INVITE";
  std::string branch = "z9hG4bK-test-1";  // "" for an RFC 2543 request without branch
  std::string transport = "UDP";
  std::string sent_by = "127.0.0.1:5070";
  std::string request_uri = "sip:1002@127.0.0.1";
  std::string call_id = "call-1@127.0.0.1";
  std::string from_tag = "from-1";
  std::string to_tag;
  std::uint32_t cseq = 1;
  std::string cseq_method;  // defaults to method
  std::string extra_headers;
};

inline std::string request_text(const RequestSpec& spec) {
  std::string via = "SIP/2.0/" + spec.transport + " " + spec.sent_by;
  if (!spec.branch.empty()) {
    via += ";branch=" + spec.branch;
  }
  via += ";rport";
  std::string text = spec.method + " " + spec.request_uri + " SIP/2.0\r\n";
  text += "Via: " + via + "\r\n";
  text += "Max-Forwards: 70\r\n";
  text += "From: \"Alice\" <sip:1001@127.0.0.1>;tag=" + spec.from_tag + "\r\n";
  text += "To: <sip:1002@127.0.0.1>";
  if (!spec.to_tag.empty()) {
    text += ";tag=" + spec.to_tag;
  }
  text += "\r\n";
  text += "Call-ID: " + spec.call_id + "\r\n";
  text += "CSeq: " + std::to_string(spec.cseq) + " " +
          (spec.cseq_method.empty() ? spec.method : spec.cseq_method) + "\r\n";
  text += "Contact: <sip:1001@127.0.0.1:5070>\r\n";
  text += spec.extra_headers;
  text += "Content-Length: 0\r\n\r\n";
  return text;
}

inline Message request(const RequestSpec& spec) { return parse(request_text(spec)); }

/// A response to `request` as a UAS would send it.
inline Message response(const Message& request, int status, std::string_view to_tag = "to-1") {
  return parse(
      response_to(request, status, {}, status > 100 ? to_tag : std::string_view{}).finish());
}

/// A Sender that records what was sent, and can lose messages to simulate UDP loss.
class FakeSender : public transport::Sender {
 public:
  struct Sent {
    Peer to;
    std::string text;
    base::TimePoint at;
  };
  void send(const Peer& to, std::string_view bytes) override {
    if (drop_next > 0) {
      --drop_next;
      ++dropped;
      return;
    }
    sent.push_back({to, std::string(bytes), clock != nullptr ? clock->now() : base::TimePoint{}});
  }
  /// When each message was sent, relative to `origin`.
  std::vector<base::Duration> times_since(base::TimePoint origin) const {
    std::vector<base::Duration> times;
    for (const Sent& s : sent) {
      times.push_back(s.at - origin);
    }
    return times;
  }
  /// The i-th message sent, parsed.
  Message message(std::size_t i) const { return parse(sent.at(i).text); }
  Message last() const { return parse(sent.back().text); }
  std::size_t count() const { return sent.size(); }
  void clear() { sent.clear(); }

  std::vector<Sent> sent;
  const base::Clock* clock = nullptr;
  int drop_next = 0;
  int dropped = 0;
};

/// A TransactionUser that records every callback and answers as configured; it is also the
/// handler of every transaction it starts or takes.
class RecordingUser : public TransactionUser, public TransactionHandler {
 public:
  void on_request(const Message& request, const Peer& source, Start& start) override {
    ++screened;
    if (challenge != nullptr) {
      // Stateless 401, as an authenticating registrar or B2BUA does before any state exists.
      auto response = challenge->make_stateless_response(request, source, 401);
      response.header(Header::WwwAuthenticate, "Digest realm=\"test\", nonce=\"n1\"");
      challenge->send_stateless_response(request, source, std::move(response).finish());
      return;
    }
    ServerTransaction& transaction = start();
    requests.push_back(transaction.id());
    if (answer_with != 0 && layer != nullptr) {
      layer->respond(transaction, answer_with);
    }
    if (layer != nullptr) {
      layer->attach(transaction, *this);  // only kept while there is something to report
    }
  }
  void on_cancel(ServerTransaction& invite, const Message& cancel) override {
    cancels.push_back(invite.id());
    if (answer_cancel_with != 0 && layer != nullptr) {
      layer->respond(invite, answer_cancel_with);
    }
  }
  void on_ack(ServerTransaction& invite, const Message& ack) override {
    acks.push_back(invite.id());
  }
  void on_stray_ack(const Message& ack, const Peer& source) override { ++stray_acks; }
  void on_ack_timeout(ServerTransaction& invite) override {
    ack_timeouts.push_back(invite.last_status());
  }
  void on_response(ClientTransaction& transaction, const Message& response) override {
    responses.push_back({transaction.id(), response.status(), std::string(response.to_tag()),
                         transaction.method()});
  }
  void on_failure(ClientTransaction& transaction, int status) override {
    (status == 408 ? timeouts : transport_errors).push_back(transaction.id());
  }
  void on_stray_response(const Message& response, const Peer& source) override {
    ++stray_responses;
  }

  struct Response {
    TransactionId id;
    int status;
    std::string to_tag;
    Method method;
  };

  TransactionLayer* layer = nullptr;
  TransactionLayer* challenge = nullptr;
  int answer_with = 0;
  int answer_cancel_with = 0;
  int screened = 0;
  std::vector<TransactionId> requests;
  std::vector<TransactionId> cancels;
  std::vector<TransactionId> acks;
  int stray_acks = 0;
  std::vector<int> ack_timeouts;
  std::vector<Response> responses;
  std::vector<TransactionId> timeouts;
  std::vector<TransactionId> transport_errors;
  int stray_responses = 0;
};

/// One layer with a manual clock, a fake sender and a recording TU.
class LayerTest : public ::testing::Test {
 protected:
  explicit LayerTest(TimerSettings settings = {})
      : timers_(clock_), layer_(sender_, timers_, user_, settings) {
    user_.layer = &layer_;
    sender_.clock = &clock_;
  }

  /// Moves time forward, firing each timer at its own deadline.
  void advance(base::Duration span) { run_for(timers_, clock_, span); }
  /// Delivers a message as the transport would.
  void deliver(Message message, const Peer& from = udp_peer()) {
    layer_.on_message(std::move(message), from);
  }
  /// When each message was sent, relative to the start of the test.
  std::vector<base::Duration> send_times() const { return sender_.times_since(start_); }

  base::ManualClock clock_;
  base::TimePoint start_ = clock_.now();
  base::TimerQueue timers_;
  FakeSender sender_;
  RecordingUser user_;
  TransactionLayer layer_;
};

}  // namespace catchline::sip::txn::testing
