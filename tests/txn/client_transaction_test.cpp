#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "sip/headers/via.h"
#include "tests/txn/txn_fixture.h"

namespace catchline::sip::txn::testing {
namespace {

using namespace std::chrono_literals;

using InviteClient = LayerTest;
using NonInviteClient = LayerTest;

std::vector<base::Duration> durations(std::initializer_list<base::Duration> list) { return list; }

TEST_F(InviteClient, RetransmitsAtDoublingIntervalsThenTimesOutWithTimerB) {
  auto id = layer_.send_request(request_text({}), udp_peer(5080), &user_);
  ASSERT_TRUE(id);
  EXPECT_EQ(layer_.client_count(), 1u);
  advance(31900ms);
  // RFC 3261 §17.1.1.2: timer A starts at T1 and doubles: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
  EXPECT_EQ(send_times(), durations({0ms, 500ms, 1500ms, 3500ms, 7500ms, 15500ms, 31500ms}));
  EXPECT_EQ(sender_.sent[1].text, sender_.sent[0].text);
  EXPECT_EQ(sender_.sent[1].to, udp_peer(5080));
  EXPECT_TRUE(user_.timeouts.empty());

  advance(100ms);  // 32 s = 64*T1: timer B
  ASSERT_EQ(user_.timeouts.size(), 1u);
  EXPECT_EQ(user_.timeouts[0], *id);
  EXPECT_EQ(layer_.client_count(), 0u);
  EXPECT_EQ(layer_.find_client(*id), nullptr);
  EXPECT_TRUE(timers_.empty());
}

TEST_F(InviteClient, HonoursConfiguredT1) {
  TimerSettings settings;
  settings.t1 = 100ms;
  TransactionLayer layer(sender_, timers_, user_, settings);
  ASSERT_TRUE(layer.send_request(request_text({}), udp_peer(), &user_));
  advance(6300ms);
  EXPECT_EQ(send_times(), durations({0ms, 100ms, 300ms, 700ms, 1500ms, 3100ms, 6300ms}));
  advance(100ms);  // 64*T1 = 6.4 s
  EXPECT_EQ(user_.timeouts.size(), 1u);
}

TEST_F(InviteClient, ProvisionalStopsRetransmissionsAndTimerB) {
  auto id = layer_.send_request(request_text({}), udp_peer(), &user_);
  ASSERT_TRUE(id);
  advance(700ms);  // one retransmission at 0.5 s
  Message invite = sender_.message(0);
  deliver(response(invite, 180));
  ASSERT_EQ(user_.responses.size(), 1u);
  EXPECT_EQ(user_.responses[0].status, 180);
  EXPECT_EQ(layer_.find_client(*id)->state(), ClientState::Proceeding);
  advance(60s);
  EXPECT_EQ(sender_.count(), 2u);
  EXPECT_TRUE(user_.timeouts.empty());  // Proceeding waits for the final as long as it takes
  EXPECT_NE(layer_.find_client(*id), nullptr);
}

TEST_F(InviteClient, NonTwoHundredFinalIsAckedWithSameBranchAndResponseToTag) {
  RequestSpec spec;
  spec.extra_headers = "Route: <sip:proxy.example.test;lr>\r\n";
  spec.cseq = 4711;
  auto id = layer_.send_request(request_text(spec), udp_peer(), &user_);
  ASSERT_TRUE(id);
  Message invite = sender_.message(0);
  deliver(response(invite, 486, "callee-tag"));

  ASSERT_EQ(user_.responses.size(), 1u);
  EXPECT_EQ(user_.responses[0].status, 486);
  ASSERT_EQ(sender_.count(), 2u);
  Message ack = sender_.message(1);
  EXPECT_EQ(ack.method(), Method::Ack);
  EXPECT_EQ(ack.request_uri(), invite.request_uri());
  EXPECT_EQ(ack.branch(), invite.branch());  // §17.1.1.3: same branch as the INVITE
  EXPECT_EQ(ack.top_via(), invite.top_via());
  EXPECT_EQ(ack.to_tag(), "callee-tag");
  EXPECT_EQ(ack.from_tag(), invite.from_tag());
  EXPECT_EQ(ack.call_id(), invite.call_id());
  EXPECT_EQ(ack.cseq_number(), 4711u);
  EXPECT_EQ(ack.cseq_method(), Method::Ack);
  EXPECT_EQ(ack.header_value(Header::Route), "<sip:proxy.example.test;lr>");
  EXPECT_EQ(sender_.sent[1].to, udp_peer());
  EXPECT_EQ(layer_.find_client(*id)->state(), ClientState::Completed);
}

TEST_F(InviteClient, RetransmittedFinalIsAckedAgainAndAbsorbedUntilTimerD) {
  auto id = layer_.send_request(request_text({}), udp_peer(), &user_);
  ASSERT_TRUE(id);
  Message invite = sender_.message(0);
  deliver(response(invite, 603, "t"));
  advance(10s);
  EXPECT_EQ(sender_.count(), 2u);  // no INVITE retransmissions after the final
  deliver(response(invite, 603, "t"));
  deliver(response(invite, 603, "t"));
  EXPECT_EQ(sender_.count(), 4u);
  EXPECT_EQ(sender_.sent[3].text, sender_.sent[1].text);
  EXPECT_EQ(user_.responses.size(), 1u);  // the TU saw the final once

  advance(21900ms);  // D is 32 s after the final
  EXPECT_NE(layer_.find_client(*id), nullptr);
  advance(100ms);
  EXPECT_EQ(layer_.find_client(*id), nullptr);
  EXPECT_TRUE(user_.timeouts.empty());
  deliver(response(invite, 603, "t"));
  EXPECT_EQ(user_.stray_responses, 1);
}

// RFC 6026: the first 2xx goes to the transaction's handler, every later one
// (a retransmission, another fork) to the TU as a stray for the dialog to ACK.
TEST_F(InviteClient, EveryTwoHundredIsPassedUpForTheDialogToAck) {
  auto id = layer_.send_request(request_text({}), udp_peer(), &user_);
  ASSERT_TRUE(id);
  Message invite = sender_.message(0);
  deliver(response(invite, 180, "a"));
  deliver(response(invite, 200, "a"));
  deliver(response(invite, 200, "a"));  // retransmission: the ACK was lost
  deliver(response(invite, 200, "b"));  // a second fork answered too
  ASSERT_EQ(user_.responses.size(), 2u);
  EXPECT_EQ(user_.responses[1].status, 200);
  EXPECT_EQ(user_.stray_responses, 2);
  EXPECT_EQ(sender_.count(), 1u);  // the layer never ACKs a 2xx itself
  EXPECT_EQ(layer_.find_client(*id)->state(), ClientState::Accepted);

  advance(32s);  // RFC 6026 timer M
  EXPECT_EQ(layer_.find_client(*id), nullptr);
  deliver(response(invite, 200, "a"));
  EXPECT_EQ(user_.stray_responses, 3);  // still reaches the TU, as a stray 2xx
}

TEST_F(InviteClient, TcpSkipsRetransmissionsAndWaitsZeroForTimerD) {
  auto id = layer_.send_request(request_text({.transport = "TCP"}), tcp_peer(), &user_);
  ASSERT_TRUE(id);
  EXPECT_TRUE(layer_.find_client(*id)->reliable());
  advance(31s);
  EXPECT_EQ(sender_.count(), 1u);
  Message invite = sender_.message(0);
  deliver(response(invite, 404), tcp_peer());
  EXPECT_EQ(sender_.count(), 2u);  // the ACK
  advance(0ms);
  EXPECT_EQ(layer_.find_client(*id), nullptr);
}

TEST_F(InviteClient, TcpStillTimesOutWithTimerB) {
  ASSERT_TRUE(layer_.send_request(request_text({.transport = "TCP"}), tcp_peer(), &user_));
  advance(32s);
  EXPECT_EQ(sender_.count(), 1u);
  EXPECT_EQ(user_.timeouts.size(), 1u);
}

TEST_F(InviteClient, RefusesRequestsItCannotMatch) {
  EXPECT_FALSE(layer_.send_request(request_text({.branch = "no-cookie"}), udp_peer(), &user_));
  EXPECT_FALSE(layer_.send_request(request_text({.method = "ACK"}), udp_peer(), &user_));
  EXPECT_FALSE(layer_.send_request(std::string("garbage"), udp_peer(), &user_));
  ASSERT_TRUE(layer_.send_request(request_text({}), udp_peer(), &user_));
  auto again = layer_.send_request(request_text({}), udp_peer(), &user_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().reason, "Bad request: Via branch already in use");
  EXPECT_EQ(layer_.client_count(), 1u);
}

TEST_F(InviteClient, CancelBeforeProvisionalWaitsForOne) {
  auto id = layer_.send_request(request_text({.cseq = 3}), udp_peer(), &user_);
  ASSERT_TRUE(id);
  EXPECT_EQ(layer_.cancel(*id, "SIP;cause=200;text=\"Call completed elsewhere\""),
            CancelOutcome::Pending);
  EXPECT_EQ(layer_.cancel(*id), CancelOutcome::AlreadyRequested);
  EXPECT_EQ(sender_.count(), 1u);  // RFC 3261 §9.1: no CANCEL before a provisional

  Message invite = sender_.message(0);
  deliver(response(invite, 100));
  ASSERT_EQ(sender_.count(), 2u);
  Message cancel = sender_.message(1);
  EXPECT_EQ(cancel.method(), Method::Cancel);
  EXPECT_EQ(cancel.request_uri(), invite.request_uri());
  EXPECT_EQ(cancel.top_via(), invite.top_via());
  EXPECT_EQ(cancel.branch(), invite.branch());
  EXPECT_EQ(cancel.cseq_number(), 3u);
  EXPECT_EQ(cancel.cseq_method(), Method::Cancel);
  EXPECT_EQ(cancel.to_tag(), "");
  EXPECT_EQ(cancel.from_tag(), invite.from_tag());
  EXPECT_EQ(cancel.header_value(Header::Reason), "SIP;cause=200;text=\"Call completed elsewhere\"");
  EXPECT_EQ(layer_.client_count(), 2u);
  EXPECT_TRUE(layer_.find_client(*id)->cancel_sent());

  // The CANCEL's 200 and the INVITE's 487 each reach the TU through their own transaction.
  deliver(response(cancel, 200, "x"));
  deliver(response(invite, 487, "x"));
  ASSERT_EQ(user_.responses.size(), 3u);
  EXPECT_EQ(user_.responses[1].method, Method::Cancel);
  EXPECT_EQ(user_.responses[1].status, 200);
  EXPECT_EQ(user_.responses[2].method, Method::Invite);
  EXPECT_EQ(user_.responses[2].status, 487);
  EXPECT_EQ(sender_.last().method(), Method::Ack);
}

TEST_F(InviteClient, CancelAfterProvisionalIsSentAtOnce) {
  auto id = layer_.send_request(request_text({}), udp_peer(), &user_);
  ASSERT_TRUE(id);
  deliver(response(sender_.message(0), 180));
  EXPECT_EQ(layer_.cancel(*id), CancelOutcome::Sent);
  ASSERT_EQ(sender_.count(), 2u);
  EXPECT_EQ(sender_.last().method(), Method::Cancel);
  EXPECT_FALSE(sender_.last().header_value(Header::Reason).has_value());
}

TEST_F(InviteClient, CancelAfterFinalIsTooLate) {
  auto id = layer_.send_request(request_text({}), udp_peer(), &user_);
  ASSERT_TRUE(id);
  deliver(response(sender_.message(0), 200));
  EXPECT_EQ(layer_.cancel(*id), CancelOutcome::TooLate);
  EXPECT_EQ(layer_.cancel(kNoTransaction), CancelOutcome::TooLate);
  auto options = layer_.send_request(request_text({.method = "OPTIONS", .branch = "z9hG4bK-o"}),
                                     udp_peer(), &user_);
  ASSERT_TRUE(options);
  EXPECT_EQ(layer_.cancel(*options), CancelOutcome::NotInvite);
}

TEST_F(InviteClient, PendingCancelIsDroppedWhenTheFinalComesFirst) {
  auto id = layer_.send_request(request_text({}), udp_peer(), &user_);
  ASSERT_TRUE(id);
  EXPECT_EQ(layer_.cancel(*id), CancelOutcome::Pending);
  deliver(response(sender_.message(0), 486));
  ASSERT_EQ(sender_.count(), 2u);
  EXPECT_EQ(sender_.last().method(), Method::Ack);
}

TEST_F(InviteClient, GivesUpWhenNoFinalFollowsTheCancel) {
  auto id = layer_.send_request(request_text({}), udp_peer(), &user_);
  ASSERT_TRUE(id);
  deliver(response(sender_.message(0), 180));
  advance(10s);
  EXPECT_EQ(layer_.cancel(*id), CancelOutcome::Sent);
  deliver(response(sender_.message(1), 200));  // the CANCEL is answered, the INVITE never
  advance(31900ms);
  EXPECT_TRUE(user_.timeouts.empty());
  advance(100ms);  // RFC 3261 §9.1: 64*T1 after the CANCEL
  ASSERT_EQ(user_.timeouts.size(), 1u);
  EXPECT_EQ(user_.timeouts[0], *id);
  EXPECT_EQ(layer_.find_client(*id), nullptr);
}

TEST_F(InviteClient, TransportFailureFailsWaitingTransactions) {
  auto id = layer_.send_request(request_text({.transport = "TCP"}), tcp_peer(5070, 9), &user_);
  auto other = layer_.send_request(request_text({.branch = "z9hG4bK-other", .transport = "TCP"}),
                                   tcp_peer(5099, 10), &user_);
  ASSERT_TRUE(id);
  ASSERT_TRUE(other);
  layer_.on_transport_failure(tcp_peer(5070, 9));
  ASSERT_EQ(user_.transport_errors.size(), 1u);
  EXPECT_EQ(user_.transport_errors[0], *id);
  EXPECT_EQ(layer_.find_client(*id), nullptr);
  EXPECT_NE(layer_.find_client(*other), nullptr);
}

TEST_F(NonInviteClient, TimerEDoublesUpToT2ThenFTimesOut) {
  auto id = layer_.send_request(request_text({.method = "OPTIONS"}), udp_peer(), &user_);
  ASSERT_TRUE(id);
  advance(31900ms);
  // RFC 3261 §17.1.2.2: E doubles from T1 and is capped at T2 = 4 s.
  EXPECT_EQ(send_times(), durations({0ms, 500ms, 1500ms, 3500ms, 7500ms, 11500ms, 15500ms, 19500ms,
                                     23500ms, 27500ms, 31500ms}));
  EXPECT_TRUE(user_.timeouts.empty());
  advance(100ms);  // F = 64*T1
  ASSERT_EQ(user_.timeouts.size(), 1u);
  EXPECT_EQ(layer_.find_client(*id), nullptr);
  EXPECT_TRUE(timers_.empty());
}

TEST_F(NonInviteClient, ProvisionalMakesRetransmissionsEveryT2) {
  auto id = layer_.send_request(request_text({.method = "BYE", .to_tag = "t"}), udp_peer(), &user_);
  ASSERT_TRUE(id);
  advance(200ms);
  deliver(response(sender_.message(0), 100));
  EXPECT_EQ(layer_.find_client(*id)->state(), ClientState::Proceeding);
  advance(13s);
  EXPECT_EQ(send_times(), durations({0ms, 500ms, 4500ms, 8500ms, 12500ms}));
}

TEST_F(NonInviteClient, FinalIsPassedUpOnceAndTimerKEndsIt) {
  auto id = layer_.send_request(request_text({.method = "REGISTER"}), udp_peer(), &user_);
  ASSERT_TRUE(id);
  Message request = sender_.message(0);
  deliver(response(request, 200));
  deliver(response(request, 200));
  EXPECT_EQ(user_.responses.size(), 1u);
  advance(10s);
  EXPECT_EQ(sender_.count(), 1u);               // no retransmission after the final
  EXPECT_EQ(layer_.find_client(*id), nullptr);  // K = T4 = 5 s
}

TEST_F(NonInviteClient, TcpSkipsTimerEAndKWaitsZero) {
  auto id = layer_.send_request(request_text({.method = "OPTIONS", .transport = "TCP"}), tcp_peer(),
                                &user_);
  ASSERT_TRUE(id);
  advance(20s);
  EXPECT_EQ(sender_.count(), 1u);
  deliver(response(sender_.message(0), 200), tcp_peer());
  advance(0ms);
  EXPECT_EQ(layer_.find_client(*id), nullptr);
}

TEST_F(NonInviteClient, CancelResponseDoesNotMatchTheInvite) {
  // §17.1.3: the CSeq method takes part in matching, so CANCEL and INVITE share a branch.
  auto id = layer_.send_request(request_text({}), udp_peer(), &user_);
  ASSERT_TRUE(id);
  Message invite = sender_.message(0);
  Message cancel = request({.method = "CANCEL"});
  deliver(response(cancel, 200));
  EXPECT_EQ(user_.stray_responses, 1);
  EXPECT_TRUE(user_.responses.empty());
  EXPECT_EQ(layer_.find_client(*id)->state(), ClientState::Calling);
}

TEST_F(NonInviteClient, NewViaCarriesAFreshCookieBranchAndRport) {
  std::string via_text = new_via(Protocol::Udp, "192.0.2.1:5060");
  auto via = parse_via(via_text);
  ASSERT_TRUE(via);
  EXPECT_EQ(via->transport, "UDP");
  EXPECT_EQ(via->sent_by, "192.0.2.1:5060");
  EXPECT_TRUE(via->rfc3261_branch());
  EXPECT_TRUE(via->rport);
  EXPECT_NE(new_via(Protocol::Tcp, "h"), new_via(Protocol::Tcp, "h"));
}

}  // namespace
}  // namespace catchline::sip::txn::testing
