// Call forwarding (issue 12) through the whole call server with scripted phones: always, on
// busy and after ring_time, with Diversion (RFC 5806) and History-Info (RFC 7044), loops, and
// the pickup rule for a forwarded call (the groups of whoever rings now).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/pbx/call_flow_fixture.h"

namespace catchline::pbx::testing {
namespace {

using ::testing::HasSubstr;

Extension forwarding(std::string number, std::string always, std::string busy = {},
                     std::string no_answer = {}) {
  Extension e = ext(std::move(number));
  e.forward.always = std::move(always);
  e.forward.busy = std::move(busy);
  e.forward.no_answer = std::move(no_answer);
  e.forward.ring_time = 5s;
  return e;
}

class Forward : public CallFlow {
 protected:
  void SetUp() override {}
  void start_with(std::vector<Extension> extensions) {
    settings_.media = MediaMode::Direct;
    start(std::move(extensions));
    for (const char* number : {"1002", "1003", "1004"}) {
      register_phone(number);
    }
  }
};

TEST_F(Forward, AlwaysRingsTheTargetInsteadWithDiversionAndHistoryInfo) {
  start_with({ext("1001"), forwarding("1002", "1003"), ext("1003"), ext("1004")});
  Sent call = dial("1001", "1002");
  EXPECT_TRUE(requests_to("1002", "INVITE").empty()) << "its phones never ring";
  // Over UDP the INVITE is retransmitted while 1003 stays silent: one transaction, one branch.
  auto invites = requests_to("1003", "INVITE");
  ASSERT_FALSE(invites.empty());
  for (const Message& invite : invites) {
    EXPECT_EQ(invite.branch(), invites[0].branch());
  }
  EXPECT_EQ(header(invites[0], sip::Header::Diversion),
            "<sip:1002@pbx.test>;reason=unconditional;counter=1");
  EXPECT_EQ(header(invites[0], sip::Header::HistoryInfo),
            "<sip:1002@pbx.test?Reason=SIP%3Bcause%3D302>;index=1,<sip:1003@pbx.test>;index=1.1;"
            "mp=1");
  EXPECT_THAT(header(invites[0], sip::Header::From), HasSubstr("<sip:1001@pbx.test>"))
      << "the caller's identity, so that a carrier accepts it";
  ring("1003");
  answer("1003");
  EXPECT_EQ(final_status(phone("1001"), call), 200);
}

TEST_F(Forward, BusyForwardsWhenEveryPhoneSaidBusy) {
  start_with({ext("1001"), forwarding("1002", {}, "1003"), ext("1003"), ext("1004")});
  Sent call = dial("1001", "1002");
  respond_invite("1002", 486);
  EXPECT_EQ(final_status(phone("1001"), call), 0) << "the caller still waits";
  // Over UDP the INVITE is retransmitted while 1003 stays silent: one transaction, one branch.
  auto invites = requests_to("1003", "INVITE");
  ASSERT_FALSE(invites.empty());
  for (const Message& invite : invites) {
    EXPECT_EQ(invite.branch(), invites[0].branch());
  }
  EXPECT_EQ(header(invites[0], sip::Header::Diversion),
            "<sip:1002@pbx.test>;reason=user-busy;counter=1");
}

TEST_F(Forward, NoAnswerStopsTheFirstPhoneAsMissedAndRingsTheTarget) {
  start_with({ext("1001"), forwarding("1002", {}, {}, "1003"), ext("1003"), ext("1004")});
  dial("1001", "1002");
  ring("1002");
  advance(4s);
  EXPECT_TRUE(requests_to("1003", "INVITE").empty());
  advance(2s);
  auto cancels = requests_to("1002", "CANCEL");
  ASSERT_FALSE(cancels.empty());
  EXPECT_EQ(header(cancels[0], sip::Header::Reason), "") << "no 'completed elsewhere': missed";
  // Over UDP the INVITE is retransmitted while 1003 stays silent: one transaction, one branch.
  auto invites = requests_to("1003", "INVITE");
  ASSERT_FALSE(invites.empty());
  for (const Message& invite : invites) {
    EXPECT_EQ(invite.branch(), invites[0].branch());
  }
  EXPECT_EQ(header(invites[0], sip::Header::Diversion),
            "<sip:1002@pbx.test>;reason=no-answer;counter=1");
}

TEST_F(Forward, ALoopEndsAtTheLastNumberReached) {
  start_with({ext("1001"), forwarding("1002", "1003"), forwarding("1003", "1002"), ext("1004")});
  dial("1001", "1002");
  EXPECT_TRUE(requests_to("1002", "INVITE").empty());
  EXPECT_EQ(requests_to("1003", "INVITE").size(), 1u) << "1003 would forward back: it rings";
}

TEST_F(Forward, AForwardedCallIsPickableByTheGroupsOfWhoeverRingsNow) {
  Extension target = ext("1003", {"desk"});
  Extension picker = ext("1004", {}, {"desk"});
  start_with({ext("1001"), forwarding("1002", "1003"), target, picker});
  Sent call = dial("1001", "1002");
  ring("1003");
  Sent pickup = dial("1004", "*8");
  EXPECT_EQ(final_status(phone("1004"), pickup), 200);
  EXPECT_EQ(final_status(phone("1001"), call), 200);
}

TEST_F(Forward, AnExtensionWithNoPhoneRegisteredGoesToItsNoAnswerTargetAtOnce) {
  settings_.media = MediaMode::Direct;
  start({ext("1001"), forwarding("1002", {}, {}, "1003"), ext("1003")});
  register_phone("1003");  // 1002 has none
  Sent call = dial("1001", "1002");
  auto invites = requests_to("1003", "INVITE");
  ASSERT_FALSE(invites.empty()) << "1002 has no phone: no ring_time to wait";
  EXPECT_EQ(header(invites[0], sip::Header::Diversion),
            "<sip:1002@pbx.test>;reason=unavailable;counter=1");
  EXPECT_EQ(final_status(phone("1001"), call), 0) << "1003 rings for the caller";
}

TEST_F(Forward, AFeatureCodeSetsTheForwardAndItsOffCodeClearsIt) {
  start_with({ext("1001"), ext("1002"), ext("1003"), ext("1004")});
  dial("1002", "*721003");
  dial("1001", "1002");
  EXPECT_TRUE(requests_to("1002", "INVITE").empty()) << "its phones never ring";
  ASSERT_FALSE(requests_to("1003", "INVITE").empty()) << "the call to 1002 rings 1003";
  EXPECT_EQ(pbx_->forwarding().of(*pbx_->directory().find("1002")).always, "1003");

  dial("1002", "*73");
  EXPECT_EQ(pbx_->forwarding().of(*pbx_->directory().find("1002")).always, "");
}

TEST_F(Forward, APhonesSettingOverridesTheConfiguredForward) {
  start_with({ext("1001"), forwarding("1002", "1003"), ext("1003"), ext("1004")});
  dial("1002", "*73");
  const std::size_t before = requests_to("1002", "INVITE").size();
  dial("1001", "1002");
  EXPECT_EQ(requests_to("1002", "INVITE").size(), before + 1) << "switched off from the phone";
  EXPECT_TRUE(requests_to("1003", "INVITE").empty());
}

TEST_F(Forward, AFeatureCodeWithoutTargetOrToNothingIsRefusedWithTheReason) {
  start_with({ext("1001"), ext("1002"), ext("1003"), ext("1004")});
  Sent bare = dial("1002", "*52");
  EXPECT_EQ(final_status(phone("1002"), bare), 484);
  Sent nowhere = dial("1002", "*901999");
  EXPECT_EQ(final_status(phone("1002"), nowhere), 404);
  EXPECT_EQ(final_reason(phone("1002"), nowhere), "Nothing at 1999 to forward to");
  Sent itself = dial("1002", "*721002");
  EXPECT_EQ(final_status(phone("1002"), itself), 403);
  EXPECT_EQ(final_reason(phone("1002"), itself), "1002 cannot forward to itself");
  const Forwarding now = pbx_->forwarding().of(*pbx_->directory().find("1002"));
  EXPECT_EQ(now.always + now.busy + now.no_answer, "") << "nothing was set";
}

/// Trunk "provider" (prefix 9) lets only 1001 call out: 1002 may not, nor may a forward or
/// a feature code of 1002's reach outside (toll fraud).
class CallOutRight : public CallFlow {
 protected:
  void SetUp() override {
    settings_.media = MediaMode::Direct;
    const Trunk trunk = provider_trunk({"1001"});
    start({ext("1001"), ext("1002"), forwarding("1003", "9555"), ext("1004")}, {}, {trunk});
    phones_["trunk"] = Phone{"trunk", "", udp_peer(7000)};
    register_phone("1003");
  }
};

TEST_F(CallOutRight, OnlyTheTrunksCallersDialOut) {
  Sent refused = dial("1002", "9555");
  EXPECT_EQ(final_status(phone("1002"), refused), 403);
  EXPECT_EQ(final_reason(phone("1002"), refused), "1002 may not call out to 9555");
  EXPECT_TRUE(requests_to("trunk", "INVITE").empty());
  dial("1001", "9555");
  EXPECT_EQ(requests_to("trunk", "INVITE").size(), 1u);
}

TEST_F(CallOutRight, AForwardOutsideNeedsTheRightWhenSetAndOnEveryCall) {
  Sent set = dial("1002", "*729555");
  EXPECT_EQ(final_status(phone("1002"), set), 403);
  EXPECT_EQ(pbx_->forwarding().of(*pbx_->directory().find("1002")).always, "");
  // 1003's configured forward goes outside, which 1003 may not: its own phone rings instead.
  dial("1001", "1003");
  EXPECT_TRUE(requests_to("trunk", "INVITE").empty());
  EXPECT_FALSE(requests_to("1003", "INVITE").empty());
}

}  // namespace
}  // namespace catchline::pbx::testing
