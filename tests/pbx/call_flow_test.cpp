// The B2BUA call state machine through the whole call server with scripted phones
// (pbx_fixture.h): messages in, messages out, timers advanced on a manual clock. Nothing here
// looks inside a Call: these tests say what phones and the call record see, so that the call
// state machine can be reshaped under them.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/pbx/call_flow_fixture.h"

namespace catchline::pbx::testing {
namespace {

using ::testing::ElementsAre;

// ---- a two-party call ----

TEST_F(CallFlow, RelaysRingingAndTheAnswerToTheCaller) {
  Sent call = dial("1001", "1002");
  auto invites = requests_to("1002", "INVITE");
  ASSERT_EQ(invites.size(), 1u);
  EXPECT_EQ(invites[0].request_uri(), "sip:1002@127.0.0.1:6001");
  EXPECT_EQ(invites[0].body(), kOffer) << "the caller's offer goes to the callee";
  EXPECT_THAT(header(invites[0], sip::Header::PAssertedIdentity),
              ::testing::HasSubstr("<sip:1001@pbx.test>"));
  EXPECT_THAT(statuses("1001", call), ElementsAre(100));

  ring("1002");
  EXPECT_THAT(statuses("1001", call), ElementsAre(100, 180));
  answer("1002");
  EXPECT_THAT(statuses("1001", call), ElementsAre(100, 180, 200));

  auto responses = responses_to("1001", call.call_id, call.cseq);
  const Message& ringing = responses[1];
  const Message& ok = responses[2];
  EXPECT_FALSE(ok.to_tag().empty());
  EXPECT_EQ(ringing.to_tag(), ok.to_tag()) << "the early dialog and the call are one dialog";
  EXPECT_EQ(ok.body(), kAnswer) << "the callee's answer goes to the caller";
  EXPECT_THAT(header(ok, sip::Header::PAssertedIdentity),
              ::testing::HasSubstr("<sip:1002@pbx.test>"));
  EXPECT_FALSE(header(ok, sip::Header::Contact).empty());

  auto acks = requests_to("1002", "ACK");
  ASSERT_EQ(acks.size(), 1u) << "the callee's 200 is acknowledged at once";
  EXPECT_EQ(acks[0].request_uri(), "sip:1002@127.0.0.1:6001");
  EXPECT_EQ(acks[0].cseq_number(), invites[0].cseq_number());
  EXPECT_EQ(acks[0].to_tag(), "ph-1002");
  EXPECT_EQ(pbx_->call_count(), 1u);

  caller_acks("1001", call, call.cseq);
  caller_sends("1001", call, "BYE", call.cseq + 1);
  phone_ok("1002", "BYE");
  expect_nothing_left();
}

TEST_F(CallFlow, RelaysTheCallersByeToTheCallee) {
  auto [call, rung] = establish();
  caller_sends("1001", call, "BYE", call.cseq + 1);
  auto bye_ok = responses_to("1001", call.call_id, call.cseq + 1, "BYE");
  ASSERT_EQ(bye_ok.size(), 1u);
  EXPECT_EQ(bye_ok[0].status(), 200);
  auto byes = requests_to("1002", "BYE");
  ASSERT_EQ(byes.size(), 1u);
  EXPECT_EQ(byes[0].request_uri(), "sip:1002@127.0.0.1:6001") << "to the callee's Contact";
  EXPECT_EQ(byes[0].call_id(), rung.call_id);
  EXPECT_EQ(byes[0].from_tag(), rung.our_tag);
  EXPECT_EQ(byes[0].to_tag(), rung.phone_tag);
  EXPECT_TRUE(requests_to("1001", "BYE").empty());
  phone_ok("1002", "BYE");
  expect_nothing_left();

  auto calls = records();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].call_id, call.call_id);
  EXPECT_EQ(calls[0].caller, "1001");
  EXPECT_EQ(calls[0].dialled, "1002");
  EXPECT_EQ(calls[0].legs, "1002");
  EXPECT_EQ(calls[0].answered_by, "1002");
  EXPECT_EQ(calls[0].disposition, "answered");
  EXPECT_EQ(calls[0].hangup_by, "caller");
  EXPECT_GT(calls[0].start_ms, 0);
  EXPECT_GE(calls[0].ring_ms, calls[0].start_ms);
  EXPECT_GE(calls[0].answer_ms, calls[0].ring_ms);
  EXPECT_GE(calls[0].end_ms, calls[0].answer_ms);
  EXPECT_EQ(calls[0].pickup_kind, "");
}

TEST_F(CallFlow, RelaysTheCalleesByeToTheCaller) {
  auto [call, rung] = establish();
  hang_up("1002", rung);
  auto byes = requests_to("1001", "BYE");
  ASSERT_EQ(byes.size(), 1u);
  Message ok = final_response("1001", call);
  EXPECT_EQ(byes[0].request_uri(), "sip:1001@127.0.0.1:6000") << "to the caller's Contact";
  EXPECT_EQ(byes[0].call_id(), call.call_id);
  EXPECT_EQ(byes[0].from_tag(), ok.to_tag());
  EXPECT_EQ(byes[0].to_tag(), call.from_tag);
  EXPECT_GT(byes[0].cseq_number(), 0u);
  EXPECT_TRUE(requests_to("1002", "BYE").empty());
  phone_ok("1001", "BYE");
  expect_nothing_left();

  auto calls = records();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].disposition, "answered");
  EXPECT_EQ(calls[0].hangup_by, "callee");
}

TEST_F(CallFlow, CallerCancelWhileRingingCancelsTheCalleeAndAnswers487) {
  Sent call = dial("1001", "1002");
  ring("1002");
  caller_cancels("1001", call);
  auto cancel_ok = responses_to("1001", call.call_id, call.cseq, "CANCEL");
  ASSERT_EQ(cancel_ok.size(), 1u);
  EXPECT_EQ(cancel_ok[0].status(), 200);
  EXPECT_EQ(final_status(phone("1001"), call), 487);
  auto cancels = requests_to("1002", "CANCEL");
  ASSERT_EQ(cancels.size(), 1u);
  // The callee was not answered anywhere: its missed call is right, no RFC 3326 Reason.
  EXPECT_FALSE(cancels[0].header_value(sip::Header::Reason).has_value());

  accept_cancel("1002");
  caller_acks_failure("1001", call);
  expect_nothing_left();
  auto calls = records();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].disposition, "cancelled");
  EXPECT_EQ(calls[0].hangup_by, "caller");
  EXPECT_EQ(calls[0].answered_by, "");
}

TEST_F(CallFlow, CallerCancelBeforeTheCalleeRangReachesItWhenItRings) {
  Sent call = dial("1001", "1002");
  caller_cancels("1001", call);
  EXPECT_EQ(final_status(phone("1001"), call), 487) << "the caller waits for nothing";
  // RFC 3261 §9.1: no CANCEL before a provisional response; the first one lets it go.
  EXPECT_TRUE(requests_to("1002", "CANCEL").empty());
  ring("1002");
  EXPECT_EQ(requests_to("1002", "CANCEL").size(), 1u);
  EXPECT_THAT(statuses("1001", call), ElementsAre(100, 487)) << "no 180 after the 487";
  accept_cancel("1002");
  caller_acks_failure("1001", call);
  expect_nothing_left();
}

// What the caller hears when the one phone it rang refuses: busy stays busy, a decline stays a
// decline, anything else is "not available".
struct Refusal {
  int callee;
  int caller;
  const char* disposition;
};

class CalleeRefuses : public CallFlow, public ::testing::WithParamInterface<Refusal> {};

TEST_P(CalleeRefuses, CallerGetsTheMatchingFailure) {
  const Refusal& r = GetParam();
  Sent call = dial("1001", "1002");
  ring("1002");
  respond_invite("1002", r.callee);
  EXPECT_EQ(requests_to("1002", "ACK").size(), 1u) << "a failure is acknowledged";
  EXPECT_EQ(final_status(phone("1001"), call), r.caller);
  caller_acks_failure("1001", call);
  expect_nothing_left();
  auto calls = records();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].disposition, r.disposition);
  EXPECT_EQ(calls[0].hangup_by, "callee");
}

INSTANTIATE_TEST_SUITE_P(Statuses, CalleeRefuses,
                         ::testing::Values(Refusal{486, 486, "busy"}, Refusal{600, 486, "busy"},
                                           Refusal{603, 603, "busy"}, Refusal{480, 480, "failed"},
                                           Refusal{404, 480, "failed"},
                                           Refusal{500, 480, "failed"}),
                         [](const ::testing::TestParamInfo<Refusal>& info) {
                           return "Callee" + std::to_string(info.param.callee);
                         });

TEST_F(CallFlow, NoAnswerTimeoutCancelsTheCalleeAndAnswersTheCaller480) {
  const auto timeout = PbxSettings{}.no_answer_timeout;
  Sent call = dial("1001", "1002");
  ring("1002");
  advance(timeout - 100ms);
  EXPECT_TRUE(requests_to("1002", "CANCEL").empty());
  EXPECT_EQ(final_status(phone("1001"), call), 0);
  advance(200ms);
  auto cancels = requests_to("1002", "CANCEL");
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_FALSE(cancels[0].header_value(sip::Header::Reason).has_value())
      << "nobody answered: a missed call is right";
  EXPECT_EQ(final_status(phone("1001"), call), 480);
  EXPECT_EQ(final_reason(phone("1001"), call), "No Answer");
  accept_cancel("1002");
  caller_acks_failure("1001", call);
  expect_nothing_left();
  auto calls = records();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].disposition, "no-answer");
  EXPECT_EQ(calls[0].hangup_by, "system");
}

TEST_F(CallFlow, NoAnswerTimeoutDoesNotEndAnAnsweredCall) {
  auto [call, rung] = establish();
  advance(PbxSettings{}.no_answer_timeout + 1s);
  EXPECT_TRUE(requests_to("1002", "CANCEL").empty());
  EXPECT_TRUE(requests_to("1002", "BYE").empty());
  EXPECT_TRUE(requests_to("1001", "BYE").empty());
  EXPECT_EQ(pbx_->call_count(), 1u);
  hang_up("1002", rung);
  phone_ok("1001", "BYE");
  expect_nothing_left();
}

TEST_F(CallFlow, ARetransmittedAnswerIsAcknowledgedAgain) {
  Sent call = dial("1001", "1002");
  ring("1002");
  Rung rung = answer("1002");
  caller_acks("1001", call, call.cseq);
  auto first = requests_to("1002", "ACK");
  ASSERT_EQ(first.size(), 1u);
  const std::string ok = phone_response("1002", rung.invite, 200, kAnswer);

  // RFC 3261 §13.2.2.4: our ACK was lost, the phone sends its 200 again, we ACK again.
  advance(500ms);
  deliver(ok, phone("1002").peer);
  auto acks = requests_to("1002", "ACK");
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[1].cseq_number(), acks[0].cseq_number());
  EXPECT_EQ(acks[1].header_value(sip::Header::Via), acks[0].header_value(sip::Header::Via))
      << "the same ACK, not a new transaction";

  // Also after the INVITE transaction is gone, while the call lasts.
  advance(kLinger);
  deliver(ok, phone("1002").peer);
  EXPECT_EQ(requests_to("1002", "ACK").size(), 3u);
  EXPECT_TRUE(requests_to("1002", "BYE").empty()) << "a retransmission does not end the call";
  EXPECT_EQ(final_status(phone("1001"), call), 200);

  caller_sends("1001", call, "BYE", call.cseq + 1);
  phone_ok("1002", "BYE");
  expect_nothing_left();
}

TEST_F(CallFlow, ACallerThatNeverAcknowledgesIsHungUpAfter64T1) {
  const base::Duration timer_h = sip::txn::TimerSettings{}.transaction_timeout();
  Sent call = dial("1001", "1002");
  ring("1002");
  answer("1002");
  advance(timer_h - 100ms);
  EXPECT_GT(responses_to("1001", call.call_id, call.cseq).size(), 5u)
      << "the 200 to the caller is retransmitted until its ACK";
  EXPECT_TRUE(requests_to("1002", "BYE").empty());
  EXPECT_TRUE(requests_to("1001", "BYE").empty());
  advance(200ms);
  // RFC 3261 §13.3.1.4: the dialog is confirmed but the session ends, with BYE.
  EXPECT_EQ(requests_to("1002", "BYE").size(), 1u);
  EXPECT_EQ(requests_to("1001", "BYE").size(), 1u);
  phone_ok("1002", "BYE");
  phone_ok("1001", "BYE");
  expect_nothing_left();
  auto calls = records();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].disposition, "answered");
  EXPECT_EQ(calls[0].hangup_by, "system");
}

TEST_F(CallFlow, TheCallersReInviteIsRelayedAndItsAnswerReturned) {
  auto [call, rung] = establish();
  caller_sends("1001", call, "INVITE", call.cseq + 1, kHold);
  auto invites = requests_to("1002", "INVITE");
  ASSERT_EQ(invites.size(), 2u);
  const Message& reinvite = invites[1];
  EXPECT_EQ(reinvite.call_id(), rung.call_id);
  EXPECT_EQ(reinvite.from_tag(), rung.our_tag);
  EXPECT_EQ(reinvite.to_tag(), rung.phone_tag);
  EXPECT_GT(reinvite.cseq_number(), rung.invite.cseq_number());
  EXPECT_EQ(reinvite.body(), kHold);
  EXPECT_EQ(responses_to("1001", call.call_id, call.cseq + 1).size(), 1u) << "only 100 Trying";

  phone_ok("1002", "INVITE", kHeld);
  auto acks = requests_to("1002", "ACK");
  ASSERT_EQ(acks.size(), 2u) << "the re-INVITE's 200 is acknowledged";
  EXPECT_EQ(acks[1].cseq_number(), reinvite.cseq_number());
  auto answers = responses_to("1001", call.call_id, call.cseq + 1);
  ASSERT_FALSE(answers.empty());
  EXPECT_EQ(answers.back().status(), 200);
  EXPECT_EQ(answers.back().body(), kHeld);
  caller_acks("1001", call, call.cseq + 1);

  caller_sends("1001", call, "BYE", call.cseq + 2);
  phone_ok("1002", "BYE");
  expect_nothing_left();
}

TEST_F(CallFlow, TheCalleesReInviteIsRelayedAndItsAnswerReturned) {
  auto [call, rung] = establish();
  callee_sends("1002", rung, "INVITE", 1, kHold);
  auto invites = requests_to("1001", "INVITE");
  ASSERT_EQ(invites.size(), 1u);
  Message ok = final_response("1001", call);
  EXPECT_EQ(invites[0].call_id(), call.call_id);
  EXPECT_EQ(invites[0].from_tag(), ok.to_tag());
  EXPECT_EQ(invites[0].to_tag(), call.from_tag);
  EXPECT_EQ(invites[0].body(), kHold);

  phone_ok("1001", "INVITE", kHeld);
  EXPECT_EQ(requests_to("1001", "ACK").size(), 1u);
  auto answers = responses_to("1002", rung.call_id, 1);
  ASSERT_FALSE(answers.empty());
  EXPECT_EQ(answers.back().status(), 200);
  EXPECT_EQ(answers.back().body(), kHeld);
  callee_sends("1002", rung, "ACK", 1);

  callee_sends("1002", rung, "BYE", 2);
  phone_ok("1001", "BYE");
  expect_nothing_left();
}

TEST_F(CallFlow, EarlyMediaIsRelayedWithItsSdp) {
  Sent call = dial("1001", "1002");
  Message invite = requests_to("1002", "INVITE").back();
  deliver(sip::response_to(invite, 183, {}, "ph-1002").body("application/sdp", kAnswer).finish(),
          phone("1002").peer);
  auto responses = responses_to("1001", call.call_id, call.cseq);
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[1].status(), 183);
  EXPECT_EQ(responses[1].body(), kAnswer);
  caller_cancels("1001", call);
  accept_cancel("1002");
  caller_acks_failure("1001", call);
  expect_nothing_left();
}

TEST_F(CallFlow, ARejectedReInviteKeepsTheCall) {
  auto [call, rung] = establish();
  caller_sends("1001", call, "INVITE", call.cseq + 1, kHold);
  Message reinvite = requests_to("1002", "INVITE").back();
  deliver(phone_response("1002", reinvite, 488), phone("1002").peer);
  EXPECT_EQ(requests_to("1002", "ACK").size(), 2u) << "the 488 is acknowledged";
  auto answers = responses_to("1001", call.call_id, call.cseq + 1);
  ASSERT_FALSE(answers.empty());
  EXPECT_EQ(answers.back().status(), 488);
  EXPECT_TRUE(requests_to("1001", "BYE").empty());
  EXPECT_TRUE(requests_to("1002", "BYE").empty());
  EXPECT_EQ(pbx_->call_count(), 1u);

  caller_sends("1001", call, "BYE", call.cseq + 2);
  EXPECT_EQ(requests_to("1002", "BYE").size(), 1u);
  phone_ok("1002", "BYE");
  expect_nothing_left();
}

TEST_F(CallFlow, ByesCrossingEndTheCallOnce) {
  auto [call, rung] = establish();
  caller_sends("1001", call, "BYE", call.cseq + 1);
  hang_up("1002", rung);  // before our BYE reached it
  auto answered = responses_to("1002", rung.call_id, 1, "BYE");
  ASSERT_EQ(answered.size(), 1u);
  EXPECT_THAT(answered[0].status(), ::testing::AnyOf(200, 481));
  EXPECT_TRUE(requests_to("1001", "BYE").empty()) << "the caller has hung up already";
  EXPECT_EQ(requests_to("1002", "BYE").size(), 1u);
  phone_ok("1002", "BYE");
  expect_nothing_left();
}

// RFC 3261 §15 and §15.1.2: a caller may end an early dialog with BYE; the UAS should end the
// session and answer the INVITE 487. Today the call server answers the BYE 200 and rings on
// until the no-answer timeout: disabled until the call ends on it.
TEST_F(CallFlow, ACallersByeInTheEarlyDialogEndsTheCall) {
  Sent call = dial("1001", "1002");
  ring("1002");
  Message ringing = responses_to("1001", call.call_id, call.cseq).back();
  deliver(request(phone("1001"), "BYE", uri_in(header(ringing, sip::Header::Contact)),
                  caller_from("1001", call), header(ringing, sip::Header::To), call.call_id,
                  call.cseq + 1),
          phone("1001").peer);
  auto bye_ok = responses_to("1001", call.call_id, call.cseq + 1, "BYE");
  ASSERT_EQ(bye_ok.size(), 1u);
  EXPECT_EQ(bye_ok[0].status(), 200);
  EXPECT_EQ(final_status(phone("1001"), call), 487);
  ASSERT_EQ(requests_to("1002", "CANCEL").size(), 1u);
  accept_cancel("1002");
  caller_acks_failure("1001", call);
  expect_nothing_left();
}

TEST_F(CallFlow, LateOfferTheCallersAnswerRidesInTheAckToTheCallee) {
  const std::string uri = "sip:1002@" + std::string(kDomain);
  Sent call = send_authenticated(phone("1001"), "INVITE", uri, uri);
  auto invites = requests_to("1002", "INVITE");
  ASSERT_EQ(invites.size(), 1u);
  EXPECT_TRUE(invites[0].body().empty()) << "no offer to pass on";
  ring("1002");
  answer("1002", kAnswer);  // the callee's offer
  EXPECT_TRUE(requests_to("1002", "ACK").empty()) << "the answer comes with the caller's ACK";
  Message ok = final_response("1001", call);
  EXPECT_EQ(ok.status(), 200);
  EXPECT_EQ(ok.body(), kAnswer);

  caller_acks("1001", call, call.cseq, kOffer);
  auto acks = requests_to("1002", "ACK");
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].body(), kOffer);

  // A retransmitted 200 gets the same ACK, answer included.
  deliver(phone_response("1002", invites[0], 200, kAnswer), phone("1002").peer);
  acks = requests_to("1002", "ACK");
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[1].body(), kOffer);

  caller_sends("1001", call, "BYE", call.cseq + 1);
  phone_ok("1002", "BYE");
  expect_nothing_left();
}

TEST_F(CallFlow, AnUnregisteredExtensionIsUnavailableWithoutACall) {
  Sent call = dial("1001", "1004");
  EXPECT_EQ(final_status(phone("1001"), call), 480);
  EXPECT_EQ(pbx_->call_count(), 0u);
  caller_acks_failure("1001", call);
  expect_nothing_left();
}

// ---- ring groups ----

TEST_F(CallFlow, RingAllFirstAnswerWinsTheOthersAreCancelledCompletedElsewhere) {
  Sent call = dial("1001", "600");
  ASSERT_EQ(requests_to("1002", "INVITE").size(), 1u);
  ASSERT_EQ(requests_to("1003", "INVITE").size(), 1u);
  ring("1002");
  ring("1003");
  answer("1003");
  Message ok = final_response("1001", call);
  EXPECT_EQ(ok.status(), 200);
  EXPECT_THAT(header(ok, sip::Header::PAssertedIdentity),
              ::testing::HasSubstr("<sip:1003@pbx.test>"));
  auto cancels = requests_to("1002", "CANCEL");
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(header(cancels[0], sip::Header::Reason), kCompletedElsewhere);
  EXPECT_TRUE(requests_to("1003", "CANCEL").empty());

  accept_cancel("1002");
  caller_acks("1001", call, call.cseq);
  caller_sends("1001", call, "BYE", call.cseq + 1);
  EXPECT_TRUE(requests_to("1002", "BYE").empty());
  phone_ok("1003", "BYE");
  expect_nothing_left();
  auto calls = records();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].dialled, "600");
  EXPECT_EQ(calls[0].legs, "1002,1003");
  EXPECT_EQ(calls[0].answered_by, "1003");
}

TEST_F(CallFlow, RingAllASecondAnswerIsAcknowledgedAndHungUp) {
  Sent call = dial("1001", "600");
  ring("1002");
  ring("1003");
  answer("1003");
  // 1002's 200 crosses our CANCEL: it gets its ACK and a BYE, the caller hears nothing of it.
  deliver(phone_response("1002", requests_to("1002", "INVITE").back(), 200, kAnswer),
          phone("1002").peer);
  EXPECT_EQ(requests_to("1002", "ACK").size(), 1u);
  EXPECT_EQ(requests_to("1002", "BYE").size(), 1u);
  EXPECT_THAT(statuses("1001", call), ElementsAre(100, 180, 180, 200)) << "one 200, 1003's";
  phone_ok("1002", "BYE");
  phone_ok("1002", "CANCEL");  // a phone answers a CANCEL 200 even after its 200
  caller_acks("1001", call, call.cseq);
  caller_sends("1001", call, "BYE", call.cseq + 1);
  phone_ok("1003", "BYE");
  expect_nothing_left();
}

TEST_F(CallFlow, RingAllABusyMemberLeavesTheOthersRinging) {
  Sent call = dial("1001", "600");
  ring("1003");
  respond_invite("1002", 486);
  EXPECT_EQ(final_status(phone("1001"), call), 0);
  EXPECT_TRUE(requests_to("1003", "CANCEL").empty());
  answer("1003");
  EXPECT_EQ(final_status(phone("1001"), call), 200);
  caller_acks("1001", call, call.cseq);
  caller_sends("1001", call, "BYE", call.cseq + 1);
  phone_ok("1003", "BYE");
  expect_nothing_left();
}

TEST_F(CallFlow, RingAllEveryMemberBusyIsBusy) {
  Sent call = dial("1001", "600");
  respond_invite("1002", 486);
  EXPECT_EQ(final_status(phone("1001"), call), 0);
  respond_invite("1003", 486);
  EXPECT_EQ(final_status(phone("1001"), call), 486);
  caller_acks_failure("1001", call);
  expect_nothing_left();
}

TEST_F(CallFlow, RingAllNoAnswerCancelsEveryMember) {
  Sent call = dial("1001", "600");
  ring("1002");
  ring("1003");
  advance(PbxSettings{}.no_answer_timeout + 100ms);
  for (const char* member : {"1002", "1003"}) {
    auto cancels = requests_to(member, "CANCEL");
    ASSERT_EQ(cancels.size(), 1u) << member;
    EXPECT_FALSE(cancels[0].header_value(sip::Header::Reason).has_value()) << member;
    accept_cancel(member);
  }
  EXPECT_EQ(final_status(phone("1001"), call), 480);
  caller_acks_failure("1001", call);
  expect_nothing_left();
}

TEST_F(CallFlow, SequentialRingsTheNextMemberAfterMemberRingTime) {
  Sent call = dial("1001", "601");
  ASSERT_EQ(requests_to("1002", "INVITE").size(), 1u);
  EXPECT_TRUE(requests_to("1003", "INVITE").empty()) << "one member at a time";
  ring("1002");
  advance(10s - 100ms);
  EXPECT_TRUE(requests_to("1003", "INVITE").empty());
  EXPECT_TRUE(requests_to("1002", "CANCEL").empty());
  advance(200ms);
  auto cancels = requests_to("1002", "CANCEL");
  ASSERT_EQ(cancels.size(), 1u) << "its turn is over";
  EXPECT_FALSE(cancels[0].header_value(sip::Header::Reason).has_value());
  EXPECT_EQ(requests_to("1003", "INVITE").size(), 1u);
  accept_cancel("1002");
  EXPECT_EQ(final_status(phone("1001"), call), 0) << "the call goes on with the next member";

  ring("1003");
  answer("1003");
  EXPECT_EQ(final_status(phone("1001"), call), 200);
  caller_acks("1001", call, call.cseq);
  caller_sends("1001", call, "BYE", call.cseq + 1);
  phone_ok("1003", "BYE");
  expect_nothing_left();
  auto calls = records();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].legs, "1002,1003");
  EXPECT_EQ(calls[0].answered_by, "1003");
}

TEST_F(CallFlow, SequentialABusyMemberPassesTheTurnAtOnce) {
  Sent call = dial("1001", "601");
  respond_invite("1002", 486);
  EXPECT_EQ(requests_to("1003", "INVITE").size(), 1u);
  EXPECT_EQ(final_status(phone("1001"), call), 0);
  respond_invite("1003", 486);
  EXPECT_EQ(final_status(phone("1001"), call), 486);
  caller_acks_failure("1001", call);
  expect_nothing_left();
}

TEST_F(CallFlow, SequentialSkipsAMemberWithoutPhones) {
  Sent call = dial("1001", "602");  // 1004 has no registered phone
  EXPECT_TRUE(requests_to("1004", "INVITE").empty());
  EXPECT_EQ(requests_to("1002", "INVITE").size(), 1u);
  ring("1002");
  answer("1002");
  EXPECT_EQ(final_status(phone("1001"), call), 200);
  caller_acks("1001", call, call.cseq);
  caller_sends("1001", call, "BYE", call.cseq + 1);
  phone_ok("1002", "BYE");
  expect_nothing_left();
}

TEST_F(CallFlow, SequentialLastMemberRingsUntilTheNoAnswerTimeout) {
  const auto timeout = PbxSettings{}.no_answer_timeout;
  Sent call = dial("1001", "601");
  ring("1002");
  advance(10s + 100ms);
  accept_cancel("1002");
  ring("1003");
  advance(timeout - 10s - 300ms);
  EXPECT_TRUE(requests_to("1003", "CANCEL").empty()) << "the last member has no turn to end";
  EXPECT_EQ(final_status(phone("1001"), call), 0);
  advance(400ms);
  EXPECT_EQ(requests_to("1003", "CANCEL").size(), 1u);
  EXPECT_EQ(final_status(phone("1001"), call), 480);
  accept_cancel("1003");
  caller_acks_failure("1001", call);
  expect_nothing_left();
}

// ---- shutdown ----

class CallShutdown : public CallFlow {
 protected:
  void shutdown() {
    pbx_->shutdown();
    base::run_for(timers_, clock_, base::Duration::zero());
  }
};

TEST_F(CallShutdown, ARingingCallIsCancelledAndTheCallerGets503) {
  Sent call = dial("1001", "1002");
  ring("1002");
  shutdown();
  EXPECT_EQ(final_status(phone("1001"), call), 503);
  EXPECT_EQ(final_reason(phone("1001"), call), "Server shutting down");
  EXPECT_EQ(requests_to("1002", "CANCEL").size(), 1u);
  accept_cancel("1002");
  caller_acks_failure("1001", call);
  expect_nothing_left();
  auto calls = records();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].disposition, "failed");
  EXPECT_EQ(calls[0].hangup_by, "system");
}

TEST_F(CallShutdown, ACallNotYetRingingIsCancelledOnceTheCalleeAnswersProvisionally) {
  Sent call = dial("1001", "1002");
  shutdown();
  EXPECT_EQ(final_status(phone("1001"), call), 503);
  ring("1002");
  EXPECT_EQ(requests_to("1002", "CANCEL").size(), 1u);
  EXPECT_THAT(statuses("1001", call), ElementsAre(100, 503));
  accept_cancel("1002");
  caller_acks_failure("1001", call);
  expect_nothing_left();
}

TEST_F(CallShutdown, ACallNobodyAnswersIsGoneAfterTheInviteTimesOut) {
  Sent call = dial("1001", "1002");
  shutdown();
  caller_acks_failure("1001", call);
  advance(sip::txn::TimerSettings{}.transaction_timeout() + 100ms);  // timer B
  EXPECT_EQ(pbx_->call_count(), 0u);
  expect_nothing_left();
}

TEST_F(CallShutdown, AnAnsweredCallGetsByeOnBothLegs) {
  auto [call, rung] = establish();
  shutdown();
  EXPECT_EQ(requests_to("1001", "BYE").size(), 1u);
  EXPECT_EQ(requests_to("1002", "BYE").size(), 1u);
  phone_ok("1001", "BYE");
  phone_ok("1002", "BYE");
  expect_nothing_left();
  auto calls = records();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].disposition, "answered");
  EXPECT_EQ(calls[0].hangup_by, "system");
}

TEST_F(CallShutdown, AnAnsweredCallWaitingForTheCallersAckGetsByeOnBothLegs) {
  Sent call = dial("1001", "1002");
  ring("1002");
  answer("1002");
  shutdown();
  EXPECT_EQ(requests_to("1001", "BYE").size(), 1u);
  EXPECT_EQ(requests_to("1002", "BYE").size(), 1u);
  caller_acks("1001", call, call.cseq);
  phone_ok("1001", "BYE");
  phone_ok("1002", "BYE");
  expect_nothing_left();
}

TEST_F(CallShutdown, ACancelledCallWaitingForTheCalleeSendsNothingMore) {
  Sent call = dial("1001", "1002");
  ring("1002");
  caller_cancels("1001", call);
  const std::size_t before = sender_.count();
  shutdown();
  EXPECT_EQ(sender_.count(), before) << "the call was over already";
  accept_cancel("1002");
  caller_acks_failure("1001", call);
  expect_nothing_left();
}

TEST_F(CallShutdown, NewCallsAreRefused503) {
  shutdown();
  Sent call = dial("1001", "1002");
  EXPECT_EQ(final_status(phone("1001"), call), 503);
  EXPECT_TRUE(requests_to("1002", "INVITE").empty());
  caller_acks_failure("1001", call);
  expect_nothing_left();
}

// ---- pickup with a late offer (RFC 3264 §2): Call's Answering state ----

/// 1003 may pick up 1002's calls (call group "desk"); a picker's INVITE may come without SDP.
class LateOfferPickup : public CallFlow {
 protected:
  void SetUp() override {
    start({ext("1001"), ext("1002", {"desk"}), ext("1003", {}, {"desk"})}, {});
    register_phone("1002");
  }
  /// 1003 dials the group pickup code with `body` as its offer ("" for none).
  Sent pick_up(std::string_view body) {
    const std::string uri = "sip:*8@" + std::string(kDomain);
    return send_authenticated(phone("1003"), "INVITE", uri, uri, {}, body);
  }
  bool has_final(const std::string& number, const Sent& sent) const {
    for (const Message& m : responses_to(number, sent.call_id, sent.cseq)) {
      if (m.status() >= 200) {
        return true;
      }
    }
    return false;
  }
};

TEST_F(LateOfferPickup, TheCallersAckAnswersThePickersOfferAndCompletesThePicker) {
  const std::string uri = "sip:1002@" + std::string(kDomain);
  Sent call = send_authenticated(phone("1001"), "INVITE", uri, uri);  // no offer
  ring("1002");
  Sent pick = pick_up(kHold);
  Message to_caller = final_response("1001", call);
  EXPECT_EQ(to_caller.status(), 200);
  EXPECT_EQ(to_caller.body(), kHold) << "the caller gets the picker's offer";
  EXPECT_FALSE(has_final("1003", pick)) << "the picker's 200 waits for the caller's answer";
  EXPECT_TRUE(cancelled_elsewhere("1002"));

  caller_acks("1001", call, call.cseq, kAnswer);
  Message to_picker = final_response("1003", pick);
  EXPECT_EQ(to_picker.status(), 200);
  EXPECT_EQ(to_picker.body(), kAnswer);
  caller_acks("1003", pick, pick.cseq);

  caller_sends("1001", call, "BYE", call.cseq + 1);
  phone_ok("1003", "BYE");
  accept_cancel("1002");
  expect_nothing_left();
}

TEST_F(LateOfferPickup, ThePickersAckAnswersTheCallersOfferAndCompletesTheCaller) {
  Sent call = dial("1001", "1002");
  ring("1002");
  Sent pick = pick_up({});
  Message to_picker = final_response("1003", pick);
  EXPECT_EQ(to_picker.status(), 200);
  EXPECT_EQ(to_picker.body(), kOffer) << "the picker gets the caller's offer";
  EXPECT_FALSE(has_final("1001", call)) << "the caller's 200 waits for the picker's answer";

  caller_acks("1003", pick, pick.cseq, kAnswer);
  Message to_caller = final_response("1001", call);
  EXPECT_EQ(to_caller.status(), 200);
  EXPECT_EQ(to_caller.body(), kAnswer);
  caller_acks("1001", call, call.cseq);

  caller_sends("1003", pick, "BYE", pick.cseq + 1);
  phone_ok("1001", "BYE");
  accept_cancel("1002");
  expect_nothing_left();
  auto calls = records();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].answered_by, "1003");
  EXPECT_EQ(calls[0].pickup_kind, "group");
}

TEST_F(LateOfferPickup, AnAckWithoutTheAnswerEndsBothSides) {
  Sent call = dial("1001", "1002");
  ring("1002");
  Sent pick = pick_up({});
  ASSERT_EQ(final_response("1003", pick).status(), 200);
  caller_acks("1003", pick, pick.cseq);  // no SDP: nothing to answer the caller with
  EXPECT_EQ(final_status(phone("1001"), call), 503);
  EXPECT_EQ(final_reason(phone("1001"), call), "No SDP answer");
  ASSERT_EQ(requests_to("1003", "BYE").size(), 1u);
  phone_ok("1003", "BYE");
  caller_acks_failure("1001", call);
  accept_cancel("1002");
  expect_nothing_left();
}

// ---- trunks ----

/// 1001 calls out through trunk "provider" (prefix 9, on 127.0.0.1:7000) that asks for digest
/// credentials; the test plays the provider.
class TrunkCall : public CallFlow {
 protected:
  void SetUp() override {
    Trunk trunk;
    trunk.name = "provider";
    trunk.host = "127.0.0.1";
    trunk.port = 7000;
    trunk.outbound_prefix = "9";
    trunk.username = "catchline";
    trunk.password = "trunk-secret";
    start({ext("1001")}, {}, {trunk});
    phones_["trunk"] = Phone{"trunk", "", udp_peer(7000)};
  }

  /// The provider answers the newest INVITE with a challenge: 401 WWW-Authenticate or 407
  /// Proxy-Authenticate.
  void challenge(int status) {
    auto invites = requests_to("trunk", "INVITE");
    ASSERT_FALSE(invites.empty());
    auto out = sip::response_to(invites.back(), status, {}, "gw");
    provider_.challenge(
        out, status == 401 ? sip::Header::WwwAuthenticate : sip::Header::ProxyAuthenticate);
    deliver(out.finish(), phone("trunk").peer);
  }

  sip::DigestAuthenticator provider_{"provider.test", "provider-secret",
                                     sip::DigestConfig{.algorithms = {sip::DigestAlgorithm::Md5}}};
};

TEST_F(TrunkCall, AnswersAProxyChallengeWithTheTrunksCredentials) {
  Sent call = dial("1001", "9555");
  auto invites = requests_to("trunk", "INVITE");
  ASSERT_EQ(invites.size(), 1u);
  EXPECT_EQ(invites[0].request_uri(), "sip:555@127.0.0.1:7000");
  challenge(407);
  EXPECT_EQ(requests_to("trunk", "ACK").size(), 1u) << "the 407 is acknowledged";
  EXPECT_EQ(final_status(phone("1001"), call), 0) << "the caller hears nothing of it";

  invites = requests_to("trunk", "INVITE");
  ASSERT_EQ(invites.size(), 2u);
  const Message& retry = invites[1];
  EXPECT_EQ(retry.call_id(), invites[0].call_id());
  EXPECT_EQ(retry.from_tag(), invites[0].from_tag());
  EXPECT_EQ(retry.cseq_number(), invites[0].cseq_number() + 1);
  EXPECT_EQ(retry.body(), kOffer);
  auto credentials = provider_.find_credentials(retry, sip::Header::ProxyAuthorization);
  ASSERT_TRUE(credentials) << "no Proxy-Authorization";
  const std::string password = "trunk-secret";
  EXPECT_TRUE(provider_
                  .verify(*credentials, "INVITE", retry.request_uri(),
                          sip::DigestSecret{.password = std::string_view(password)})
                  .ok());

  ring("trunk");
  Rung rung = answer("trunk");
  EXPECT_EQ(final_status(phone("1001"), call), 200);
  caller_acks("1001", call, call.cseq);
  caller_sends("1001", call, "BYE", call.cseq + 1);
  phone_ok("trunk", "BYE");
  expect_nothing_left();
  auto calls = records();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].answered_by, "555");
}

TEST_F(TrunkCall, AnswersAServerChallengeWithAuthorization) {
  Sent call = dial("1001", "9555");
  challenge(401);
  auto invites = requests_to("trunk", "INVITE");
  ASSERT_EQ(invites.size(), 2u);
  auto credentials = provider_.find_credentials(invites[1], sip::Header::Authorization);
  ASSERT_TRUE(credentials) << "no Authorization";
  const std::string password = "trunk-secret";
  EXPECT_TRUE(provider_
                  .verify(*credentials, "INVITE", invites[1].request_uri(),
                          sip::DigestSecret{.password = std::string_view(password)})
                  .ok());
  answer("trunk");
  EXPECT_EQ(final_status(phone("1001"), call), 200);
  caller_acks("1001", call, call.cseq);
  caller_sends("1001", call, "BYE", call.cseq + 1);
  phone_ok("trunk", "BYE");
  expect_nothing_left();
}

TEST_F(TrunkCall, ASecondChallengeIsNotAnsweredAgain) {
  Sent call = dial("1001", "9555");
  challenge(407);
  challenge(407);  // the credentials were refused
  EXPECT_EQ(requests_to("trunk", "INVITE").size(), 2u);
  EXPECT_EQ(final_status(phone("1001"), call), 480);
  caller_acks_failure("1001", call);
  expect_nothing_left();
}

}  // namespace
}  // namespace catchline::pbx::testing
