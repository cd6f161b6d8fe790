#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <string>

#include "tests/txn/txn_fixture.h"

namespace catchline::sip::txn::testing {
namespace {

using namespace std::chrono_literals;

// One direction of a UDP path that loses the next `drop` messages put on it.
class Wire : public transport::Sender {
 public:
  void send(const Peer& to, std::string_view bytes) override {
    ++offered;
    if (drop > 0) {
      --drop;
      return;
    }
    in_flight.emplace_back(bytes);
  }
  std::deque<std::string> in_flight;
  int drop = 0;
  int offered = 0;
};

// A UAC TU that ACKs every 2xx itself, as a dialog would (RFC 3261 §13.2.2.4).
class AckingUser : public RecordingUser {
 public:
  void on_response(ClientTransaction& transaction, const Message& response) override {
    RecordingUser::on_response(transaction, response);
    if (!transaction.is_invite() || response.status() < 200 || response.status() >= 300) {
      return;
    }
    const Message& invite = transaction.request();
    auto ack = MessageBuilder::request(Method::Ack, invite.request_uri());
    ack.header(Header::Via, new_via(Protocol::Udp, "127.0.0.1:5070"))
        .header(Header::MaxForwards, "70")
        .copy_headers(invite, Header::From)
        .copy_headers(response, Header::To)
        .copy_headers(invite, Header::CallId)
        .header(Header::CSeq, std::to_string(invite.cseq_number()) + " ACK");
    last_ack = std::move(ack).finish();
    ack_destination = transaction.destination();
    ++acks_sent;
    layer->send_stateless(ack_destination, last_ack);
  }
  // A 2xx retransmitted after the first reaches the TU as a stray; the dialog
  // sends its ACK again (RFC 3261 §13.2.2.4).
  void on_stray_response(const Message& response, const Peer& source) override {
    RecordingUser::on_stray_response(response, source);
    if (response.cseq_method() == Method::Invite && response.status() / 100 == 2 &&
        !last_ack.empty()) {
      ++acks_sent;
      layer->send_stateless(ack_destination, last_ack);
    }
  }
  std::string last_ack;
  Peer ack_destination;
  int acks_sent = 0;
};

class LossyNetwork : public ::testing::Test {
 protected:
  LossyNetwork()
      : timers_(clock_), uac_(uac_wire_, timers_, uac_user_), uas_(uas_wire_, timers_, uas_user_) {
    uac_user_.layer = &uac_;
    uas_user_.layer = &uas_;
  }

  // Delivers everything in flight, both ways, until the network is quiet.
  void pump() {
    while (!uac_wire_.in_flight.empty() || !uas_wire_.in_flight.empty()) {
      while (!uac_wire_.in_flight.empty()) {
        std::string text = std::move(uac_wire_.in_flight.front());
        uac_wire_.in_flight.pop_front();
        uas_.on_message(parse(std::move(text)), uac_address_);
      }
      while (!uas_wire_.in_flight.empty()) {
        std::string text = std::move(uas_wire_.in_flight.front());
        uas_wire_.in_flight.pop_front();
        uac_.on_message(parse(std::move(text)), uas_address_);
      }
    }
  }
  void run(base::Duration span) {
    for (base::Duration done{}; done < span; done += 10ms) {
      run_for(timers_, clock_, 10ms);
      pump();
    }
  }

  base::ManualClock clock_;
  base::TimerQueue timers_;
  Wire uac_wire_;  // what the UAC sends
  Wire uas_wire_;  // what the UAS sends
  AckingUser uac_user_;
  RecordingUser uas_user_;
  TransactionLayer uac_;
  TransactionLayer uas_;
  const Peer uac_address_ = udp_peer(5070);
  const Peer uas_address_ = udp_peer(5080);
};

TEST_F(LossyNetwork, NonInviteSurvivesLostRequests) {
  uas_user_.answer_with = 200;
  uac_wire_.drop = 2;
  auto id = uac_.send_request(request_text({.method = "OPTIONS"}), uas_address_, &uac_user_);
  ASSERT_TRUE(id);
  run(1400ms);
  EXPECT_TRUE(uac_user_.responses.empty());
  run(200ms);  // the third copy leaves at 1.5 s
  ASSERT_EQ(uac_user_.responses.size(), 1u);
  EXPECT_EQ(uac_user_.responses[0].status, 200);
  EXPECT_EQ(uas_user_.requests.size(), 1u);
  run(40s);
  EXPECT_EQ(uac_.client_count() + uas_.server_count(), 0u);
  EXPECT_TRUE(timers_.empty());
}

TEST_F(LossyNetwork, NonInviteSurvivesLostResponses) {
  uas_user_.answer_with = 200;
  uas_wire_.drop = 2;  // the 200 and its first resend are lost
  ASSERT_TRUE(uac_.send_request(request_text({.method = "OPTIONS"}), uas_address_, &uac_user_));
  run(2s);
  ASSERT_EQ(uac_user_.responses.size(), 1u);
  EXPECT_EQ(uas_user_.requests.size(), 1u);  // retransmissions never reached the TU
  EXPECT_EQ(uac_wire_.offered, 3);           // at 0, 0.5 and 1.5 s
}

TEST_F(LossyNetwork, InviteRejectionSurvivesLostFinalAndAck) {
  uas_user_.answer_with = 486;
  uas_wire_.drop = 2;
  ASSERT_TRUE(uac_.send_request(request_text({}), uas_address_, &uac_user_));
  run(3s);
  ASSERT_EQ(uac_user_.responses.size(), 1u);
  EXPECT_EQ(uac_user_.responses[0].status, 486);
  EXPECT_EQ(uas_user_.requests.size(), 1u);
  EXPECT_TRUE(uas_user_.ack_timeouts.empty());
  run(40s);
  EXPECT_TRUE(uas_user_.ack_timeouts.empty());  // the ACK arrived before H
  EXPECT_EQ(uac_.client_count() + uas_.server_count(), 0u);
  EXPECT_TRUE(timers_.empty());
}

TEST_F(LossyNetwork, LostAckForRejectionIsRecoveredByTimerG) {
  uas_user_.answer_with = 603;
  ASSERT_TRUE(uac_.send_request(request_text({}), uas_address_, &uac_user_));
  uac_wire_.drop = 1;  // the INVITE went through; its ACK is lost
  run(100ms);
  ASSERT_EQ(uac_user_.responses.size(), 1u);
  run(1s);  // G resends the 603 at 0.5 s; the UAC ACKs it again
  EXPECT_EQ(uac_user_.responses.size(), 1u);
  EXPECT_EQ(uac_wire_.offered, 3);
  run(40s);
  EXPECT_TRUE(uas_user_.ack_timeouts.empty());
}

TEST_F(LossyNetwork, AnsweredInviteSurvivesLostTwoHundred) {
  uas_user_.answer_with = 200;
  ASSERT_TRUE(uac_.send_request(request_text({}), uas_address_, &uac_user_));
  uas_wire_.drop = 2;  // the 200 and its first retransmission
  run(1400ms);
  EXPECT_TRUE(uac_user_.responses.empty());
  run(200ms);  // the UAS retransmits the 200 at 1.5 s
  ASSERT_EQ(uac_user_.responses.size(), 1u);
  EXPECT_EQ(uac_user_.acks_sent, 1);
  ASSERT_EQ(uas_user_.acks.size(), 1u);
  run(40s);
  EXPECT_TRUE(uas_user_.ack_timeouts.empty());
  EXPECT_EQ(uas_user_.requests.size(), 1u);
  EXPECT_EQ(uac_.client_count() + uas_.server_count(), 0u);
}

TEST_F(LossyNetwork, LostAckOfTwoHundredMakesTheUacAckAgain) {
  uas_user_.answer_with = 200;
  ASSERT_TRUE(uac_.send_request(request_text({}), uas_address_, &uac_user_));
  uac_wire_.drop = 1;  // the first ACK
  run(100ms);
  EXPECT_EQ(uac_user_.acks_sent, 1);
  EXPECT_TRUE(uas_user_.acks.empty());
  run(1s);  // the 200 comes again at 0.5 s, reaches the UAC's TU as a stray, is ACKed again
  EXPECT_EQ(uac_user_.responses.size(), 1u);
  EXPECT_EQ(uac_user_.stray_responses, 1);
  EXPECT_EQ(uac_user_.acks_sent, 2);
  EXPECT_EQ(uas_user_.acks.size(), 1u);
}

}  // namespace
}  // namespace catchline::sip::txn::testing
