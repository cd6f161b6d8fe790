#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "tests/txn/txn_fixture.h"

namespace catchline::sip::txn::testing {
namespace {

using namespace std::chrono_literals;

using InviteServer = LayerTest;
using NonInviteServer = LayerTest;
using Cancel = LayerTest;
using Matching = LayerTest;

std::vector<base::Duration> durations(std::initializer_list<base::Duration> list) { return list; }

// The TU's ACK for a 2xx: a new transaction, so a new branch (RFC 3261 §17.1.1.3).
Message ack_for_2xx(std::string to_tag, std::uint32_t cseq = 1) {
  return request(
      {.method = "ACK", .branch = "z9hG4bK-ack-2xx", .to_tag = std::move(to_tag), .cseq = cseq});
}

// The ACK of a non-2xx final: same branch as the INVITE (§17.1.1.3).
Message ack_for_final(std::string to_tag, std::string branch = "z9hG4bK-test-1") {
  return request({.method = "ACK", .branch = std::move(branch), .to_tag = std::move(to_tag)});
}

ServerTransaction& only_server(TransactionLayer& layer, RecordingUser& user) {
  EXPECT_EQ(user.requests.size(), 1u);
  ServerTransaction* transaction = layer.find_server(user.requests.at(0));
  EXPECT_NE(transaction, nullptr);
  return *transaction;
}

TEST_F(InviteServer, SendsTryingAtOnceWhenTheUserDoesNotAnswer) {
  deliver(request({.extra_headers = "Timestamp: 54\r\n"}));
  ASSERT_EQ(user_.requests.size(), 1u);
  ASSERT_EQ(sender_.count(), 1u);
  Message trying = sender_.message(0);
  EXPECT_EQ(trying.status(), 100);
  EXPECT_EQ(trying.to_tag(), "");  // §8.2.6.1: 100 may go without a tag
  EXPECT_EQ(trying.branch(), "z9hG4bK-test-1");
  EXPECT_EQ(trying.header_value(Header::Timestamp), "54");
  EXPECT_EQ(sender_.sent[0].to, udp_peer());
  EXPECT_EQ(layer_.server_count(), 1u);
}

TEST_F(InviteServer, SendsNoTryingWhenTheUserAnswersFirst) {
  user_.answer_with = 180;
  deliver(request({}));
  ASSERT_EQ(sender_.count(), 1u);
  EXPECT_EQ(sender_.message(0).status(), 180);
  EXPECT_FALSE(sender_.message(0).to_tag().empty());
}

TEST_F(InviteServer, ResponsesGoWhereRportSays) {
  // Via sent-by says 5070 but the request came from 40000: rport sends it back there.
  deliver(request({}), udp_peer(40000));
  ASSERT_EQ(sender_.count(), 1u);
  EXPECT_EQ(sender_.sent[0].to.port, 40000);
  Message trying = sender_.message(0);
  EXPECT_NE(trying.top_via().find("rport=40000"), std::string_view::npos) << trying.top_via();
}

class DelayedTrying : public LayerTest {
 protected:
  static TimerSettings settings() {
    TimerSettings s;
    s.trying_delay = 200ms;
    return s;
  }
  DelayedTrying() : LayerTest(settings()) {}
};

TEST_F(DelayedTrying, SendsTryingAfterTheDelay) {
  deliver(request({}));
  EXPECT_EQ(sender_.count(), 0u);
  advance(199ms);
  EXPECT_EQ(sender_.count(), 0u);
  advance(1ms);
  ASSERT_EQ(sender_.count(), 1u);
  EXPECT_EQ(sender_.message(0).status(), 100);
}

TEST_F(DelayedTrying, NoTryingWhenTheUserAnswersWithinTheDelay) {
  deliver(request({}));
  advance(100ms);
  ServerTransaction& invite = only_server(layer_, user_);
  EXPECT_TRUE(layer_.respond(invite, 180));
  advance(1s);
  ASSERT_EQ(sender_.count(), 1u);
  EXPECT_EQ(sender_.message(0).status(), 180);
}

TEST_F(InviteServer, RetransmittedInviteGetsTheLastResponseAgain) {
  deliver(request({}));
  ServerTransaction& invite = only_server(layer_, user_);
  EXPECT_TRUE(layer_.respond(invite, 180));
  deliver(request({}));
  deliver(request({}));
  EXPECT_EQ(user_.requests.size(), 1u);  // the TU saw it once
  ASSERT_EQ(sender_.count(), 4u);        // 100, 180, 180, 180
  EXPECT_EQ(sender_.sent[2].text, sender_.sent[1].text);
  EXPECT_EQ(sender_.sent[3].text, sender_.sent[1].text);
  EXPECT_EQ(sender_.message(2).status(), 180);
}

TEST_F(InviteServer, EveryResponseCarriesTheSameToTag) {
  deliver(request({}));
  ServerTransaction& invite = only_server(layer_, user_);
  layer_.respond(invite, 180);
  layer_.respond(invite, 183);
  layer_.respond(invite, 486);
  ASSERT_EQ(sender_.count(), 4u);
  const std::string tag(sender_.message(1).to_tag());
  EXPECT_FALSE(tag.empty());
  EXPECT_EQ(tag, invite.to_tag());
  EXPECT_EQ(sender_.message(2).to_tag(), tag);
  EXPECT_EQ(sender_.message(3).to_tag(), tag);
}

TEST_F(InviteServer, TimerGResendsTheFinalUntilTheAck) {
  deliver(request({}));
  ServerTransaction& invite = only_server(layer_, user_);
  const TransactionId id = invite.id();
  sender_.clear();
  const base::TimePoint answered = clock_.now();
  ASSERT_TRUE(layer_.respond(invite, 486));
  EXPECT_FALSE(layer_.respond(invite, 500));  // one final only
  advance(12s);
  // RFC 3261 §17.2.1: G starts at T1 and doubles, capped at T2.
  EXPECT_EQ(sender_.times_since(answered),
            durations({0ms, 500ms, 1500ms, 3500ms, 7500ms, 11500ms}));
  EXPECT_EQ(sender_.sent[5].text, sender_.sent[0].text);

  deliver(ack_for_final(std::string(invite.to_tag())));
  EXPECT_EQ(layer_.find_server(id)->state(), ServerState::Confirmed);
  advance(10s);
  EXPECT_EQ(sender_.count(), 6u);  // the ACK stopped G
  EXPECT_EQ(user_.stray_acks, 0);  // and was absorbed
  EXPECT_TRUE(user_.acks.empty());
  EXPECT_EQ(layer_.find_server(id), nullptr);  // I = T4 = 5 s
  EXPECT_TRUE(user_.ack_timeouts.empty());
}

TEST_F(InviteServer, RetransmittedAckIsAbsorbedDuringTimerI) {
  deliver(request({}));
  ServerTransaction& invite = only_server(layer_, user_);
  layer_.respond(invite, 404);
  const std::string tag(invite.to_tag());
  deliver(ack_for_final(tag));
  advance(4s);
  deliver(ack_for_final(tag));
  EXPECT_EQ(user_.stray_acks, 0);
  advance(1s);
  EXPECT_EQ(layer_.server_count(), 0u);
  deliver(ack_for_final(tag));
  EXPECT_EQ(user_.stray_acks, 1);
}

// A non-2xx final ends the handler's part; a missing ACK for it only ends the
// transaction, nobody is told.
TEST_F(InviteServer, TimerHGivesUpWithoutAck) {
  deliver(request({}));
  ServerTransaction& invite = only_server(layer_, user_);
  const TransactionId id = invite.id();
  layer_.respond(invite, 480);
  advance(31900ms);
  EXPECT_NE(layer_.find_server(id), nullptr);
  advance(100ms);  // H = 64*T1
  EXPECT_TRUE(user_.ack_timeouts.empty());
  EXPECT_EQ(layer_.find_server(id), nullptr);
  EXPECT_TRUE(timers_.empty());
}

TEST_F(InviteServer, RetransmitsTheTwoHundredUntilItsAck) {
  deliver(request({}));
  ServerTransaction& invite = only_server(layer_, user_);
  const TransactionId id = invite.id();
  sender_.clear();
  const base::TimePoint answered = clock_.now();
  ASSERT_TRUE(layer_.respond(invite, 200));
  EXPECT_EQ(invite.state(), ServerState::Accepted);
  advance(8s);
  // RFC 3261 §13.3.1.4: T1, doubling up to T2.
  EXPECT_EQ(sender_.times_since(answered), durations({0ms, 500ms, 1500ms, 3500ms, 7500ms}));

  deliver(ack_for_2xx(std::string(invite.to_tag())));
  ASSERT_EQ(user_.acks.size(), 1u);
  EXPECT_EQ(user_.acks[0], id);
  EXPECT_TRUE(layer_.find_server(id)->acknowledged());
  deliver(ack_for_2xx(std::string(invite.to_tag())));  // a duplicate ACK is absorbed
  EXPECT_EQ(user_.acks.size(), 1u);

  deliver(request({}));  // RFC 6026 §8.5: a late INVITE retransmission is absorbed
  EXPECT_EQ(user_.requests.size(), 1u);
  advance(20s);
  EXPECT_EQ(sender_.count(), 5u);
  EXPECT_TRUE(user_.ack_timeouts.empty());
  advance(4s);  // L = 64*T1 after the 2xx
  EXPECT_EQ(layer_.find_server(id), nullptr);
  deliver(ack_for_2xx("late"));
  EXPECT_EQ(user_.stray_acks, 1);
}

TEST_F(InviteServer, UnacknowledgedTwoHundredEndsWithAckTimeout) {
  deliver(request({}));
  ServerTransaction& invite = only_server(layer_, user_);
  const TransactionId id = invite.id();
  layer_.respond(invite, 200);
  advance(32s);
  ASSERT_EQ(user_.ack_timeouts.size(), 1u);
  EXPECT_EQ(user_.ack_timeouts[0], 200);
  EXPECT_EQ(layer_.find_server(id), nullptr);
  // T1 doubling to T2 over 32 s: 0, .5, 1.5, 3.5, 7.5, 11.5, ... 31.5 = 11 sends after 100.
  EXPECT_EQ(sender_.count(), 12u);
}

TEST_F(InviteServer, TcpSkipsTimerGAndIWaitsZero) {
  deliver(request({.transport = "TCP"}), tcp_peer());
  ServerTransaction& invite = only_server(layer_, user_);
  const TransactionId id = invite.id();
  EXPECT_EQ(sender_.sent[0].to, tcp_peer());  // responses use the connection
  layer_.respond(invite, 486);
  advance(20s);
  EXPECT_EQ(sender_.count(), 2u);  // 100 and 486, never resent
  deliver(ack_for_final(std::string(layer_.find_server(id)->to_tag())), tcp_peer());
  advance(0ms);
  EXPECT_EQ(layer_.find_server(id), nullptr);
}

TEST_F(NonInviteServer, NoTryingAndRetransmissionGetsTheFinalDuringTimerJ) {
  deliver(request({.method = "OPTIONS"}));
  EXPECT_EQ(sender_.count(), 0u);  // no automatic 100 for non-INVITE
  ServerTransaction& options = only_server(layer_, user_);
  const TransactionId id = options.id();
  EXPECT_EQ(options.state(), ServerState::Trying);
  deliver(request({.method = "OPTIONS"}));  // nothing to resend yet
  EXPECT_EQ(sender_.count(), 0u);
  ASSERT_TRUE(layer_.respond(options, 200));
  EXPECT_EQ(options.state(), ServerState::Completed);
  deliver(request({.method = "OPTIONS"}));
  ASSERT_EQ(sender_.count(), 2u);
  EXPECT_EQ(sender_.sent[1].text, sender_.sent[0].text);
  EXPECT_EQ(user_.requests.size(), 1u);
  advance(31900ms);
  EXPECT_NE(layer_.find_server(id), nullptr);
  advance(100ms);  // J = 64*T1 on UDP
  EXPECT_EQ(layer_.find_server(id), nullptr);
}

TEST_F(NonInviteServer, ProvisionalIsResentForRetransmissions) {
  deliver(request({.method = "REGISTER"}));
  ServerTransaction& registration = only_server(layer_, user_);
  layer_.respond(registration, 100);
  EXPECT_EQ(registration.state(), ServerState::Proceeding);
  deliver(request({.method = "REGISTER"}));
  ASSERT_EQ(sender_.count(), 2u);
  EXPECT_EQ(sender_.message(1).status(), 100);
}

TEST_F(NonInviteServer, TcpTimerJIsZero) {
  user_.answer_with = 200;
  deliver(request({.method = "BYE", .transport = "TCP", .to_tag = "t"}), tcp_peer());
  EXPECT_EQ(layer_.server_count(), 1u);
  advance(0ms);
  EXPECT_EQ(layer_.server_count(), 0u);
}

TEST_F(NonInviteServer, UnansweredRequestIsDroppedAfterTheClientGaveUp) {
  deliver(request({.method = "INFO", .to_tag = "t"}));
  EXPECT_EQ(layer_.server_count(), 1u);
  advance(32s);
  EXPECT_EQ(layer_.server_count(), 0u);
  EXPECT_TRUE(timers_.empty());
}

TEST_F(Cancel, MatchesTheInviteAnswers200AndTellsTheUser) {
  user_.answer_cancel_with = 487;
  deliver(request({}));
  ServerTransaction& invite = only_server(layer_, user_);
  const TransactionId id = invite.id();
  layer_.respond(invite, 180);
  sender_.clear();

  deliver(request({.method = "CANCEL"}));
  ASSERT_EQ(user_.cancels.size(), 1u);
  EXPECT_EQ(user_.cancels[0], id);
  EXPECT_TRUE(layer_.find_server(id)->cancelled());
  ASSERT_EQ(sender_.count(), 2u);
  Message ok = sender_.message(0);
  Message terminated = sender_.message(1);
  EXPECT_EQ(ok.status(), 200);
  EXPECT_EQ(ok.cseq_method(), Method::Cancel);
  EXPECT_EQ(terminated.status(), 487);
  EXPECT_EQ(terminated.cseq_method(), Method::Invite);
  // RFC 3261 §9.2: both carry the To tag of the INVITE's responses.
  EXPECT_EQ(ok.to_tag(), terminated.to_tag());
  EXPECT_FALSE(ok.to_tag().empty());

  deliver(request({.method = "CANCEL"}));  // retransmitted CANCEL: 200 again, no new event
  EXPECT_EQ(user_.cancels.size(), 1u);
  ASSERT_EQ(sender_.count(), 3u);
  EXPECT_EQ(sender_.message(2).status(), 200);

  deliver(ack_for_final(std::string(terminated.to_tag())));
  EXPECT_EQ(layer_.find_server(id)->state(), ServerState::Confirmed);
  EXPECT_EQ(user_.stray_acks, 0);
}

TEST_F(Cancel, WithoutMatchingInviteGets481) {
  deliver(request({.method = "CANCEL"}));
  ASSERT_EQ(sender_.count(), 1u);
  EXPECT_EQ(sender_.message(0).status(), 481);
  EXPECT_TRUE(user_.cancels.empty());
  EXPECT_TRUE(user_.requests.empty());
}

TEST_F(Cancel, WithDifferentBranchDoesNotMatch) {
  deliver(request({}));
  deliver(request({.method = "CANCEL", .branch = "z9hG4bK-other"}));
  EXPECT_TRUE(user_.cancels.empty());
  EXPECT_EQ(sender_.last().status(), 481);
}

TEST_F(Cancel, AfterTheFinalIsAnswered200WithoutEffect) {
  deliver(request({}));
  ServerTransaction& invite = only_server(layer_, user_);
  layer_.respond(invite, 200);
  deliver(request({.method = "CANCEL"}));
  EXPECT_TRUE(user_.cancels.empty());
  EXPECT_EQ(sender_.last().status(), 200);
  EXPECT_EQ(sender_.last().cseq_method(), Method::Cancel);
}

TEST_F(Matching, MergedRequestGets482) {
  deliver(request({}));
  // Same From tag, Call-ID and CSeq, no To tag, another branch: forked upstream and merged.
  deliver(request({.branch = "z9hG4bK-second-path", .sent_by = "192.0.2.9:5060"}));
  EXPECT_EQ(user_.requests.size(), 1u);
  Message merged = sender_.last();
  EXPECT_EQ(merged.status(), 482);
  EXPECT_EQ(merged.branch(), "z9hG4bK-second-path");
  EXPECT_EQ(layer_.server_count(), 2u);  // the 482 has its transaction, waiting for its ACK
}

TEST_F(Matching, SameBranchFromAnotherSentByIsAnotherTransaction) {
  deliver(request({.method = "OPTIONS"}));
  deliver(request({.method = "OPTIONS", .sent_by = "192.0.2.9:5060", .call_id = "other"}));
  EXPECT_EQ(user_.requests.size(), 2u);
}

TEST_F(Matching, NewRequestInDialogIsNotMerged) {
  deliver(request({.method = "INFO", .to_tag = "t", .cseq = 2}));
  deliver(request({.method = "INFO", .branch = "z9hG4bK-b", .to_tag = "t", .cseq = 3}));
  EXPECT_EQ(user_.requests.size(), 2u);
}

TEST_F(Matching, Rfc2543RequestsMatchByTheirHeaders) {
  // No magic cookie: §17.2.3's fallback compares Request-URI, tags, Call-ID, CSeq, top Via.
  RequestSpec legacy{.branch = ""};
  deliver(request(legacy));
  ServerTransaction& invite = only_server(layer_, user_);
  const TransactionId id = invite.id();
  layer_.respond(invite, 486);
  const std::size_t sent = sender_.count();

  deliver(request(legacy));  // retransmission: the 486 again
  EXPECT_EQ(user_.requests.size(), 1u);
  ASSERT_EQ(sender_.count(), sent + 1);
  EXPECT_EQ(sender_.last().status(), 486);

  RequestSpec other = legacy;
  other.request_uri = "sip:1003@127.0.0.1";
  other.call_id = "call-2";
  deliver(request(other));  // another request entirely
  EXPECT_EQ(user_.requests.size(), 2u);

  RequestSpec ack = legacy;
  ack.method = "ACK";
  ack.to_tag = std::string(layer_.find_server(id)->to_tag());
  deliver(request(ack));
  EXPECT_EQ(layer_.find_server(id)->state(), ServerState::Confirmed);
  EXPECT_EQ(user_.stray_acks, 0);
}

TEST_F(Matching, Rfc2543CancelFindsItsInvite) {
  RequestSpec legacy{.branch = ""};
  deliver(request(legacy));
  legacy.method = "CANCEL";
  deliver(request(legacy));
  EXPECT_EQ(user_.cancels.size(), 1u);
  EXPECT_EQ(sender_.last().status(), 200);
}

TEST_F(Matching, Rfc2543AckWithWrongToTagIsStray) {
  RequestSpec legacy{.branch = ""};
  deliver(request(legacy));
  layer_.respond(only_server(layer_, user_), 486);
  legacy.method = "ACK";
  legacy.to_tag = "not-ours";
  deliver(request(legacy));
  EXPECT_EQ(user_.stray_acks, 1);
}

TEST_F(Matching, StatelessChallengeLeavesNoState) {
  user_.challenge = &layer_;
  deliver(request({}));
  EXPECT_EQ(layer_.server_count(), 0u);
  EXPECT_TRUE(user_.requests.empty());
  ASSERT_EQ(sender_.count(), 1u);
  Message challenge = sender_.message(0);
  EXPECT_EQ(challenge.status(), 401);
  EXPECT_FALSE(challenge.to_tag().empty());
  EXPECT_TRUE(challenge.header_value(Header::WwwAuthenticate).has_value());

  deliver(request({}));  // a retransmission is simply challenged again
  EXPECT_EQ(user_.screened, 2);
  EXPECT_EQ(sender_.count(), 2u);
  // RFC 3261 §8.2.7: the same request gets the same To tag, with no state kept.
  EXPECT_EQ(sender_.message(1).to_tag(), challenge.to_tag());
  deliver(ack_for_final(std::string(challenge.to_tag())));  // its ACK reaches the TU, no state
  EXPECT_EQ(user_.stray_acks, 1);
  EXPECT_EQ(layer_.server_count(), 0u);
  EXPECT_TRUE(timers_.empty());
}

TEST_F(Matching, StatelessTagsDifferBetweenRequests) {
  user_.challenge = &layer_;
  deliver(request({}));
  deliver(request({.branch = "z9hG4bK-test-2"}));
  ASSERT_EQ(sender_.count(), 2u);
  EXPECT_NE(sender_.message(0).to_tag(), sender_.message(1).to_tag());
}

TEST_F(Matching, AckIsNeverScreenedNorCreatesATransaction) {
  deliver(ack_for_2xx("t"));
  EXPECT_EQ(user_.screened, 0);
  EXPECT_EQ(user_.stray_acks, 1);
  EXPECT_EQ(layer_.server_count(), 0u);
}

TEST_F(Matching, StaleIdsFindNothing) {
  user_.answer_with = 200;
  deliver(request({.method = "OPTIONS"}));
  const TransactionId first = user_.requests.at(0);
  EXPECT_NE(layer_.find_server(first), nullptr);
  EXPECT_EQ(layer_.find_client(first), nullptr);
  advance(32s);
  EXPECT_EQ(layer_.find_server(first), nullptr);
  deliver(request({.method = "OPTIONS", .branch = "z9hG4bK-next"}));
  const TransactionId second = user_.requests.at(1);
  EXPECT_NE(first, second);  // the slot is reused under a new generation
  EXPECT_EQ(layer_.find_server(first), nullptr);
  EXPECT_NE(layer_.find_server(second), nullptr);
}

}  // namespace
}  // namespace catchline::sip::txn::testing
