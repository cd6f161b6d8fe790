// Blind transfer (RFC 3515 REFER, RFC 5589 §6) through the whole call server with scripted
// phones, as call_flow_test.cpp does: what the transferor, the transferee and the target see.
// These run without the media relay (media.mode direct): the relay's part, ringback and
// re-bridging, is tested with real RTP in tests/interop/test_transfer.py.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

#include "tests/pbx/call_flow_fixture.h"

namespace catchline::pbx::testing {
namespace {

using ::testing::ElementsAre;

// The target's SDP answer.
constexpr std::string_view kTargetAnswer =
    "v=0\r\no=target 3 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 41000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

class Transfer : public CallFlow {
 protected:
  void SetUp() override {
    settings_.media = MediaMode::Direct;
    settings_.transfer_timeout = 20s;
    CallFlow::SetUp();
    watching("1002");  // the transferor's phone answers each NOTIFY at once
  }

  /// `text` with `headers` ("Name: value\r\n"...) added before its Content-Length.
  static std::string with_headers(std::string text, std::string_view headers) {
    text.insert(text.find("Content-Length:"), headers);
    return text;
  }

  /// The callee of `established` (1002) sends REFER with `headers` in its dialog.
  void callee_refers(const Established& established, std::string_view headers,
                     std::uint32_t cseq = 2) {
    const Message& invite = established.rung.invite;
    deliver(
        with_headers(request(phone("1002"), "REFER", uri_in(header(invite, sip::Header::Contact)),
                             header(invite, sip::Header::To) + ";tag=" + established.rung.phone_tag,
                             header(invite, sip::Header::From), established.rung.call_id, cseq),
                     headers),
        phone("1002").peer);
  }

  /// Responses 1002 got to its REFERs in the call's dialog.
  std::vector<int> refer_statuses(const Established& established, std::uint32_t cseq = 2) {
    std::vector<int> out;
    for (const Message& m : responses_to("1002", established.rung.call_id, cseq, "REFER")) {
      out.push_back(m.status());
    }
    return out;
  }

  /// The sipfrag status lines of the NOTIFYs 1002 got, with each one's Subscription-State.
  std::vector<std::string> notified() {
    std::vector<std::string> out;
    for (const Message& notify : requests_to("1002", "NOTIFY")) {
      if (!out.empty() && notify.cseq_number() == last_cseq_) {
        continue;  // a retransmission
      }
      last_cseq_ = notify.cseq_number();
      std::string line(notify.body().substr(0, notify.body().find('\r')));
      out.push_back(line + " | " + header(notify, sip::Header::SubscriptionState));
    }
    return out;
  }

  std::uint32_t last_cseq_ = 0;
};

TEST_F(Transfer, BlindTransferRingsTheTargetNotifiesProgressAndJoinsTheTransferee) {
  Established call = establish();
  callee_refers(call, "Refer-To: <sip:1003@pbx.test>\r\nReferred-By: <sip:1002@pbx.test>\r\n");
  EXPECT_THAT(refer_statuses(call), ElementsAre(202));

  auto notifies = requests_to("1002", "NOTIFY");
  ASSERT_EQ(notifies.size(), 1u);
  EXPECT_EQ(header(notifies[0], sip::Header::Event), "refer;id=2");
  EXPECT_EQ(header(notifies[0], sip::Header::ContentType), "message/sipfrag;version=2.0");
  EXPECT_EQ(notifies[0].body(), "SIP/2.0 100 Trying\r\n");
  EXPECT_EQ(notifies[0].call_id(), call.rung.call_id) << "in the transferor's own dialog";

  auto invites = requests_to("1003", "INVITE");
  ASSERT_EQ(invites.size(), 1u);
  EXPECT_THAT(header(invites[0], sip::Header::From), ::testing::HasSubstr("<sip:1001@pbx.test>"))
      << "the target sees the transferee, not the transferor";
  EXPECT_EQ(header(invites[0], sip::Header::ReferredBy), "<sip:1002@pbx.test>");
  EXPECT_EQ(invites[0].body(), kOffer) << "offered what the transferee's phone wrote";

  ring("1003");
  answer("1003", kTargetAnswer);
  EXPECT_THAT(notified(), ElementsAre("SIP/2.0 100 Trying | active;expires=60",
                                      "SIP/2.0 180 Ringing | active;expires=60",
                                      "SIP/2.0 200 OK | terminated;reason=noresource"));
  EXPECT_EQ(requests_to("1003", "ACK").size(), 1u);
  EXPECT_EQ(requests_to("1002", "BYE").size(), 1u) << "the transferor's part is over";
  EXPECT_TRUE(requests_to("1001", "BYE").empty());

  // Direct media: the transferee is re-pointed at the target, and told who it is.
  auto reinvites = requests_to("1001", "INVITE");
  ASSERT_EQ(reinvites.size(), 1u);
  EXPECT_EQ(reinvites[0].body(), kTargetAnswer);
  EXPECT_THAT(header(reinvites[0], sip::Header::PAssertedIdentity),
              ::testing::HasSubstr("<sip:1003@pbx.test>"));
  deliver(phone_response("1001", reinvites[0], 200, kOffer), phone("1001").peer);
  EXPECT_EQ(requests_to("1001", "ACK").size(), 1u);
  phone_ok("1002", "BYE");

  // The transferee and the target talk: a BYE of one reaches the other.
  caller_sends("1001", call.call, "BYE", call.call.cseq + 1);
  auto byes = requests_to("1003", "BYE");
  ASSERT_EQ(byes.size(), 1u);
  phone_ok("1003", "BYE");
  expect_nothing_left();
  auto calls = records();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].disposition, "answered");
  EXPECT_EQ(calls[0].hangup_by, "caller");
  EXPECT_EQ(calls[0].transferred_by, "1002");
  EXPECT_EQ(calls[0].transferred_to, "1003");
  EXPECT_EQ(calls[0].transfer_kind, "blind");
  EXPECT_FALSE(calls[0].missed) << "answered, then transferred";
}

TEST_F(Transfer, TheTransferorHangingUpRightAfterTheReferDoesNotEndTheCall) {
  Established call = establish();
  callee_refers(call, "Refer-To: <sip:1003@pbx.test>\r\n");
  callee_sends("1002", call.rung, "BYE", 3);  // after its REFER's CSeq
  EXPECT_TRUE(requests_to("1001", "BYE").empty()) << "the transferee stays";
  EXPECT_EQ(requests_to("1003", "CANCEL").size(), 0u) << "the target still rings";
  ring("1003");
  Rung target = answer("1003", kTargetAnswer);
  EXPECT_EQ(notified().size(), 1u) << "nothing more to a transferor gone";
  EXPECT_TRUE(requests_to("1002", "BYE").empty());
  auto reinvites = requests_to("1001", "INVITE");
  ASSERT_EQ(reinvites.size(), 1u);
  deliver(phone_response("1001", reinvites[0], 200, kOffer), phone("1001").peer);

  hang_up("1003", target);
  auto byes = requests_to("1001", "BYE");
  ASSERT_EQ(byes.size(), 1u) << "the target's BYE reaches the transferee";
  phone_ok("1001", "BYE");
  expect_nothing_left();
  auto calls = records();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].hangup_by, "callee");
}

TEST_F(Transfer, ABusyTargetGivesTheTransfereeBackToTheTransferor) {
  Established call = establish();
  callee_refers(call, "Refer-To: <sip:1003@pbx.test>\r\n");
  respond_invite("1003", 486);
  EXPECT_THAT(notified(), ElementsAre("SIP/2.0 100 Trying | active;expires=60",
                                      "SIP/2.0 486 Busy Here | terminated;reason=noresource"));
  EXPECT_TRUE(requests_to("1002", "BYE").empty());
  EXPECT_TRUE(requests_to("1001", "BYE").empty());
  // Talking again: the transferor's resume (re-INVITE) reaches the transferee.
  callee_sends("1002", call.rung, "INVITE", 3, kHeld);
  auto reinvites = requests_to("1001", "INVITE");
  ASSERT_EQ(reinvites.size(), 1u);
  EXPECT_EQ(reinvites[0].body(), kHeld);
}

TEST_F(Transfer, ATargetThatDoesNotAnswerIsCancelledAfterTheTransferTimeout) {
  Established call = establish();
  callee_refers(call, "Refer-To: <sip:1003@pbx.test>\r\n");
  ring("1003");
  advance(19s);
  EXPECT_TRUE(requests_to("1003", "CANCEL").empty());
  advance(2s);
  EXPECT_FALSE(requests_to("1003", "CANCEL").empty());
  auto states = notified();
  ASSERT_EQ(states.size(), 3u);
  EXPECT_EQ(states[2], "SIP/2.0 480 No Answer | terminated;reason=noresource");
  accept_cancel("1003");
  EXPECT_TRUE(requests_to("1001", "BYE").empty()) << "back to the transferor";
}

TEST_F(Transfer, AFailedTransferRecallsATransferorThatHungUp) {
  Established call = establish();
  callee_refers(call, "Refer-To: <sip:1003@pbx.test>\r\n");
  callee_sends("1002", call.rung, "BYE", 3);  // after its REFER's CSeq
  respond_invite("1003", 486);
  auto invites = requests_to("1002", "INVITE");
  ASSERT_EQ(invites.size(), 2u) << "the transferor's phone is rung again";
  EXPECT_EQ(header(invites[1], sip::Header::AlertInfo), "<urn:alert:service:recall:transfer>");
  EXPECT_THAT(header(invites[1], sip::Header::From), ::testing::HasSubstr("transfer failed"));
  ring("1002");
  answer("1002", kTargetAnswer);
  auto reinvites = requests_to("1001", "INVITE");
  ASSERT_EQ(reinvites.size(), 1u) << "the transferee talks to the transferor again";
  EXPECT_THAT(header(reinvites[0], sip::Header::PAssertedIdentity),
              ::testing::HasSubstr("<sip:1002@pbx.test>"));
}

TEST_F(Transfer, TheTransfereeHangingUpWhileTheTargetRingsEndsEverything) {
  Established call = establish();
  callee_refers(call, "Refer-To: <sip:1003@pbx.test>\r\n");
  ring("1003");
  caller_sends("1001", call.call, "BYE", call.call.cseq + 1);
  EXPECT_EQ(requests_to("1003", "CANCEL").size(), 1u);
  auto states = notified();
  ASSERT_EQ(states.size(), 3u);
  EXPECT_EQ(states[2], "SIP/2.0 487 Request Terminated | terminated;reason=noresource");
  EXPECT_EQ(requests_to("1002", "BYE").size(), 1u);
  accept_cancel("1003");
  phone_ok("1002", "BYE");
  expect_nothing_left();
}

TEST_F(Transfer, ReferIsRefusedWithAReason) {
  Established call = establish();
  callee_refers(call, "");
  EXPECT_THAT(refer_statuses(call, 2), ElementsAre(400));
  callee_refers(call, "Refer-To: <sip:1999@pbx.test>\r\n", 3);
  EXPECT_THAT(refer_statuses(call, 3), ElementsAre(404));
  callee_refers(call, "Refer-To: <sip:1004@pbx.test>\r\n", 4);  // not registered
  EXPECT_THAT(refer_statuses(call, 4), ElementsAre(480));
  callee_refers(call, "Refer-To: <sip:1003@pbx.test>\r\n", 5);
  EXPECT_THAT(refer_statuses(call, 5), ElementsAre(202));
  callee_refers(call, "Refer-To: <sip:1003@pbx.test>\r\n", 6);
  EXPECT_THAT(refer_statuses(call, 6), ElementsAre(491)) << "one transfer at a time";
  EXPECT_EQ(requests_to("1003", "INVITE").size(), 1u);
}

/// Trunk "provider" (prefix 9) lets only 1001 call out: 1002 may not transfer outside.
class TransferOutside : public Transfer {
 protected:
  void SetUp() override {
    settings_.media = MediaMode::Direct;
    const Trunk trunk = provider_trunk({"1001"});
    start({ext("1001"), ext("1002"), ext("1003"), ext("1004")}, {}, {trunk});
    phones_["trunk"] = Phone{"trunk", "", udp_peer(7000)};
    register_phone("1002");
    register_phone("1003");
    watching("1002");
  }
};

TEST_F(TransferOutside, NeedsTheTransferorsRightToCallOut) {
  Established call = establish();
  callee_refers(call, "Refer-To: <sip:9555@pbx.test>\r\n");
  EXPECT_THAT(refer_statuses(call), ElementsAre(403)) << "toll fraud: 1002 may not call out";
  EXPECT_TRUE(requests_to("trunk", "INVITE").empty());
}

TEST_F(Transfer, TransferToARingGroupRingsItsMembers) {
  Established call = establish("1003");  // 1001 calls 1003; 1003 transfers to group 600
  const Message& invite = call.rung.invite;
  deliver(with_headers(request(phone("1003"), "REFER", uri_in(header(invite, sip::Header::Contact)),
                               header(invite, sip::Header::To) + ";tag=" + call.rung.phone_tag,
                               header(invite, sip::Header::From), call.rung.call_id, 2),
                       "Refer-To: <sip:600@pbx.test>\r\n"),
          phone("1003").peer);
  EXPECT_EQ(requests_to("1002", "INVITE").size(), 1u);
  EXPECT_EQ(requests_to("1003", "INVITE").size(), 2u) << "the transferor is a member too";
}

// ---- attended transfer: Refer-To with Replaces naming the consultation call ----

/// `%`-escaped for a URI header (RFC 3261 §19.1.1): ';' and '=' and '@'.
std::string escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ';') {
      out += "%3B";
    } else if (c == '=') {
      out += "%3D";
    } else if (c == '@') {
      out += "%40";
    } else {
      out += c;
    }
  }
  return out;
}

class AttendedTransfer : public Transfer {
 protected:
  /// 1002 calls 1003 (the consultation), 1003 answers with kTargetAnswer and 1002 acknowledges.
  Sent consult() {
    Sent consultation = dial("1002", "1003");
    ring("1003");
    answer("1003", kTargetAnswer);
    caller_acks("1002", consultation, consultation.cseq);
    return consultation;
  }
  /// The Refer-To that names `consultation` as 1002's phone sees it: to-tag the server's,
  /// from-tag its own (RFC 3891 as the target would receive it), or the other way round.
  std::string refer_to(const Sent& consultation, bool swapped = false) {
    const Message ok = final_response("1002", consultation);
    std::string to_tag(ok.to_tag());
    std::string from_tag = consultation.from_tag;
    if (swapped) {
      std::swap(to_tag, from_tag);
    }
    return "Refer-To: <sip:1003@pbx.test?Replaces=" +
           escaped(consultation.call_id + ";to-tag=" + to_tag + ";from-tag=" + from_tag) + ">\r\n";
  }
  /// The consultation's early dialog (1003 only rang): the server's tag from its 180.
  std::string refer_to_early(const Sent& consultation) {
    auto responses = responses_to("1002", consultation.call_id, consultation.cseq);
    std::string to_tag;
    for (const Message& m : responses) {
      if (m.status() == 180) {
        to_tag = std::string(m.to_tag());
      }
    }
    return "Refer-To: <sip:1003@pbx.test?Replaces=" +
           escaped(consultation.call_id + ";to-tag=" + to_tag +
                   ";from-tag=" + consultation.from_tag) +
           ">\r\n";
  }
};

TEST_F(AttendedTransfer, JoinsTheTransfereeWithTheConsultedTargetAndReleasesTheTransferor) {
  Established call = establish();
  Sent consultation = consult();
  callee_refers(call, refer_to(consultation));
  EXPECT_THAT(refer_statuses(call), ElementsAre(202));
  EXPECT_THAT(notified(), ElementsAre("SIP/2.0 200 OK | terminated;reason=noresource"));

  // The transferor's two dialogs both end.
  auto byes = requests_to("1002", "BYE");
  ASSERT_EQ(byes.size(), 2u);
  std::set<std::string> ended{std::string(byes[0].call_id()), std::string(byes[1].call_id())};
  EXPECT_EQ(ended, (std::set<std::string>{call.rung.call_id, consultation.call_id}));
  EXPECT_TRUE(requests_to("1003", "BYE").empty()) << "the target stays, in its own dialog";
  EXPECT_TRUE(requests_to("1001", "BYE").empty());

  // Each learns who it talks to now; the transferee is pointed at the target (direct media).
  auto to_transferee = requests_to("1001", "INVITE");
  ASSERT_EQ(to_transferee.size(), 1u);
  EXPECT_EQ(to_transferee[0].body(), kTargetAnswer);
  EXPECT_THAT(header(to_transferee[0], sip::Header::PAssertedIdentity),
              ::testing::HasSubstr("<sip:1003@pbx.test>"));
  auto to_target = requests_to("1003", "INVITE");
  ASSERT_EQ(to_target.size(), 2u) << "the consultation's INVITE, then the re-INVITE";
  EXPECT_EQ(to_target[1].body(), kOffer);
  EXPECT_THAT(header(to_target[1], sip::Header::PAssertedIdentity),
              ::testing::HasSubstr("<sip:1001@pbx.test>"));
  deliver(phone_response("1001", to_transferee[0], 200, kOffer), phone("1001").peer);
  deliver(phone_response("1003", to_target[1], 200, kTargetAnswer), phone("1003").peer);
  for (const Message& bye : byes) {
    deliver(phone_response("1002", bye, 200), phone("1002").peer);
  }

  // They talk: the transferee's BYE reaches the target in the target's own dialog.
  caller_sends("1001", call.call, "BYE", call.call.cseq + 1);
  auto target_byes = requests_to("1003", "BYE");
  ASSERT_EQ(target_byes.size(), 1u);
  EXPECT_EQ(target_byes[0].call_id(), to_target[0].call_id());
  phone_ok("1003", "BYE");
  expect_nothing_left();
  // Both records end within the same millisecond: compare them as a set, not by position.
  std::multiset<std::string> dispositions;
  for (const auto& record : records()) {
    dispositions.insert(record.disposition);
  }
  EXPECT_EQ(dispositions, (std::multiset<std::string>{"answered", "transferred"}))
      << "the consultation call is transferred, the first call answered";
}

TEST_F(AttendedTransfer, AReplacesWhoseCallIdKeepsItsAtUnescapedIsReadToo) {
  Established call = establish();
  Sent consultation = consult();
  std::string refer = refer_to(consultation);
  const std::size_t at = refer.find("%40");
  ASSERT_NE(at, std::string::npos) << "the fixture's Call-IDs hold an '@'";
  refer.replace(at, 3, "@");  // as some phones write it
  callee_refers(call, refer);
  EXPECT_THAT(refer_statuses(call), ElementsAre(202));
  EXPECT_EQ(requests_to("1002", "BYE").size(), 2u);
}

TEST_F(AttendedTransfer, ReplacesTagsInEitherOrderNameTheSameDialog) {
  Established call = establish();
  Sent consultation = consult();
  callee_refers(call, refer_to(consultation, true));
  EXPECT_THAT(refer_statuses(call), ElementsAre(202));
  EXPECT_EQ(requests_to("1002", "BYE").size(), 2u);
}

TEST_F(AttendedTransfer, SemiAttendedWhileTheTargetStillRingsRingsItForTheTransferee) {
  Established call = establish();
  Sent consultation = dial("1002", "1003");
  ring("1003");
  callee_refers(call, refer_to_early(consultation));
  EXPECT_THAT(refer_statuses(call), ElementsAre(202));
  EXPECT_THAT(statuses("1002", consultation), ElementsAre(100, 180, 487));
  EXPECT_TRUE(cancelled_elsewhere("1003")) << "no missed call for a target rung again";
  auto invites = requests_to("1003", "INVITE");
  ASSERT_EQ(invites.size(), 2u);
  EXPECT_THAT(header(invites[1], sip::Header::From), ::testing::HasSubstr("<sip:1001@pbx.test>"));
  accept_cancel("1003");
  ring("1003");
  answer("1003", kTargetAnswer);
  EXPECT_THAT(notified(), ElementsAre("SIP/2.0 100 Trying | active;expires=60",
                                      "SIP/2.0 180 Ringing | active;expires=60",
                                      "SIP/2.0 200 OK | terminated;reason=noresource"));
}

TEST_F(AttendedTransfer, ReplacesNamingAnotherExtensionsCallIsForbidden) {
  register_phone("1004");
  Established call = establish();
  Sent other = dial("1003", "1004");
  ring("1004");
  answer("1004", kTargetAnswer);
  caller_acks("1003", other, other.cseq);
  const Message ok = final_response("1003", other);
  callee_refers(call, "Refer-To: <sip:1004@pbx.test?Replaces=" +
                          escaped(other.call_id + ";to-tag=" + std::string(ok.to_tag()) +
                                  ";from-tag=" + other.from_tag) +
                          ">\r\n");
  EXPECT_THAT(refer_statuses(call), ElementsAre(403));
  EXPECT_TRUE(requests_to("1003", "BYE").empty());
  callee_refers(call,
                "Refer-To: <sip:1003@pbx.test?Replaces=nosuch%3Bto-tag%3Da%3Bfrom-tag%3Db>\r\n", 3);
  EXPECT_THAT(refer_statuses(call, 3), ElementsAre(481));
}

// ---- a transfer's target rings like any call: pickable ----

class TransferPickup : public Transfer {
 protected:
  void SetUp() override {
    settings_.media = MediaMode::Direct;
    settings_.transfer_timeout = 20s;
    start({ext("1001"), ext("1002"), ext("1003", {"desk"}), ext("1004", {}, {"desk"})});
    register_phone("1002");
    register_phone("1003");
    register_phone("1004");
    watching("1002");
  }
};

TEST_F(TransferPickup, AGroupPickupTakesTheRingingTargetAndTheTransfereeTalksToThePicker) {
  Established call = establish();
  callee_refers(call, "Refer-To: <sip:1003@pbx.test>\r\n");
  ring("1003");
  Sent pickup = dial("1004", "*8");
  EXPECT_EQ(final_status(phone("1004"), pickup), 200);
  EXPECT_TRUE(cancelled_elsewhere("1003")) << "the target stops ringing, no missed call";
  EXPECT_THAT(notified(), ElementsAre("SIP/2.0 100 Trying | active;expires=60",
                                      "SIP/2.0 180 Ringing | active;expires=60",
                                      "SIP/2.0 200 OK | terminated;reason=noresource"));
  EXPECT_EQ(requests_to("1002", "BYE").size(), 1u);
  auto reinvites = requests_to("1001", "INVITE");
  ASSERT_EQ(reinvites.size(), 1u);
  EXPECT_EQ(reinvites[0].body(), kOffer) << "direct media: the picker's description";
  EXPECT_THAT(header(reinvites[0], sip::Header::PAssertedIdentity),
              ::testing::HasSubstr("<sip:1004@pbx.test>"));
}

// ---- park and retrieve: a blind transfer to a lot's code or slot ----

class Park : public Transfer {
 protected:
  void SetUp() override {
    ParkLot lot;
    lot.name = "main";
    lot.code = "700";
    lot.first_slot = 701;
    lot.last_slot = 702;
    lot.timeout = 10s;
    lot.comeback_time = 5s;
    lot.park = park_rule_;
    parking_ = {lot};
    Transfer::SetUp();
  }
  std::vector<std::string> park_rule_{"*"};
};

TEST_F(Park, TheCodeParksOnTheFirstFreeSlotAndDiallingTheSlotRetrievesIt) {
  Established call = establish();
  callee_refers(call, "Refer-To: <sip:700@pbx.test>\r\n");
  EXPECT_THAT(refer_statuses(call), ElementsAre(202));
  // Direct media: nothing to announce, so the parker's part ends at once.
  EXPECT_THAT(notified(), ElementsAre("SIP/2.0 100 Trying | active;expires=60",
                                      "SIP/2.0 200 OK | terminated;reason=noresource"));
  EXPECT_EQ(requests_to("1002", "BYE").size(), 1u);
  EXPECT_TRUE(requests_to("1001", "BYE").empty()) << "the parked caller waits";

  Sent retrieve = dial("1003", "701");
  EXPECT_EQ(final_status(phone("1003"), retrieve), 200);
  auto reinvites = requests_to("1001", "INVITE");
  ASSERT_EQ(reinvites.size(), 1u);
  EXPECT_THAT(header(reinvites[0], sip::Header::PAssertedIdentity),
              ::testing::HasSubstr("<sip:1003@pbx.test>"));
  Sent again = dial("1004", "701");
  EXPECT_EQ(final_status(phone("1004"), again), 404) << "the slot is free once retrieved";

  pbx_->shutdown();  // the retrieved call ends: its record is written
  auto calls = records();
  ASSERT_FALSE(calls.empty());
  const auto& parked = calls[0];
  EXPECT_EQ(parked.parked_by, "1002");
  EXPECT_EQ(parked.park_slot, "701");
  EXPECT_EQ(parked.retrieved_by, "1003");
  EXPECT_TRUE(parked.transferred_by.empty()) << "a park is no transfer in the record";
  EXPECT_FALSE(parked.missed);
}

TEST_F(Park, AnEmptySlotIs404AndNeverParksTheDialler) {
  Sent empty = dial("1003", "702");
  EXPECT_EQ(final_status(phone("1003"), empty), 404);
  EXPECT_EQ(final_reason(phone("1003"), empty), "Nothing parked at 702");
  Sent code = dial("1003", "700");
  EXPECT_EQ(final_status(phone("1003"), code), 404);
}

TEST_F(Park, ATakenSlotIsRefusedWithTheReason) {
  Established call = establish();
  callee_refers(call, "Refer-To: <sip:701@pbx.test>\r\n");
  EXPECT_THAT(refer_statuses(call), ElementsAre(202));
  Sent second = dial("1004", "1003");
  ring("1003");
  Rung rung = answer("1003", kTargetAnswer);
  caller_acks("1004", second, second.cseq);
  const Message& invite = rung.invite;
  deliver(with_headers(request(phone("1003"), "REFER", uri_in(header(invite, sip::Header::Contact)),
                               header(invite, sip::Header::To) + ";tag=" + rung.phone_tag,
                               header(invite, sip::Header::From), rung.call_id, 2),
                       "Refer-To: <sip:701@pbx.test>\r\n"),
          phone("1003").peer);
  auto responses = responses_to("1003", rung.call_id, 2, "REFER");
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status(), 486);
  EXPECT_EQ(responses[0].reason_phrase(), "Slot 701 is taken");
}

TEST_F(Park, ACallNobodyRetrievesRingsTheParkerMarked) {
  Established call = establish();
  callee_refers(call, "Refer-To: <sip:700@pbx.test>\r\n");
  advance(9s);
  EXPECT_EQ(requests_to("1002", "INVITE").size(), 1u);
  advance(2s);
  auto invites = requests_to("1002", "INVITE");
  ASSERT_GE(invites.size(), 2u) << "the parker's phone rings again";
  EXPECT_NE(invites.back().call_id(), invites.front().call_id());
  EXPECT_EQ(header(invites.back(), sip::Header::AlertInfo), "<urn:alert:service:recall:transfer>");
  EXPECT_THAT(header(invites.back(), sip::Header::From), ::testing::HasSubstr("(parked 701)"));
  Sent retrieve = dial("1003", "701");
  EXPECT_EQ(final_status(phone("1003"), retrieve), 404) << "the slot was freed at the timeout";
  ring("1002");
  answer("1002", kTargetAnswer);
  auto reinvites = requests_to("1001", "INVITE");
  ASSERT_EQ(reinvites.size(), 1u);
  EXPECT_THAT(header(reinvites[0], sip::Header::PAssertedIdentity),
              ::testing::HasSubstr("<sip:1002@pbx.test>"));
}

class ParkRestricted : public Park {
 protected:
  void SetUp() override {
    park_rule_ = {"1003"};
    Park::SetUp();
  }
};

TEST_F(ParkRestricted, AnExtensionTheLotDoesNotNameMayNotPark) {
  Established call = establish();
  callee_refers(call, "Refer-To: <sip:700@pbx.test>\r\n");
  EXPECT_THAT(refer_statuses(call), ElementsAre(403));
}

}  // namespace
}  // namespace catchline::pbx::testing
