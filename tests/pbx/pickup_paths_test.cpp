// Pickup through the whole call server with scripted phones (pbx_fixture.h): the permission
// matrix of picker x target x path (group code, directed code, INVITE with Replaces), and the
// orderings of the races. DESIGN.md §4: the same rule, and the same answer, on every path.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/pbx/pbx_fixture.h"

namespace catchline::pbx::testing {
namespace {

RingGroup group(std::string number, std::vector<std::string> members,
                std::vector<std::string> call_groups = {}, bool protect = false,
                RingStrategy strategy = RingStrategy::RingAll) {
  RingGroup g;
  g.number = std::move(number);
  g.name = "Group " + g.number;
  g.members = std::move(members);
  g.call_groups = std::move(call_groups);
  g.pickup_protected = protect;
  g.strategy = strategy;
  g.ring_time = std::chrono::seconds(10);
  return g;
}

enum class Path { Group, Directed, Replaces };

struct Case {
  const char* target;  // what the caller dials
  const char* rings;   // the member whose leg Replaces names (and that answers 180)
  const char* picker;
  Path path;
  int status;          // the picker's final answer
  const char* reason;  // its reason phrase, "" for 200
};

class PickupMatrix : public PbxTest, public ::testing::WithParamInterface<Case> {
 protected:
  void SetUp() override {
    start({ext("1001"),                               // the caller
           ext("1002", {"reception"}),                // rung
           ext("1003", {}, {"reception"}),            // picks up reception
           ext("1004", {}, {}, {"1002"}),             // may pick up 1002 by name
           ext("1005"),                               // no rights
           ext("1006", {"support"}),                  // rung
           ext("1007", {}, {"support"}),              // picks up support
           ext("1008", {"reception"}, {}, {}, true),  // protected
           ext("1009", {}, {}, {"*"}),                // may pick up anyone unprotected
           ext("1010", {}, {"sales"})},               // picks up sales
          {group("600", {"1002", "1006"}),            // no call groups of its own
           group("601", {"1002", "1006"}, {}, false, RingStrategy::Sequential),
           group("602", {"1008", "1006"}, {"sales"}),  // a protected member
           group("603", {"1002"}, {"sales"}, true)});  // protected as a whole
    for (const char* number : {"1002", "1006", "1008"}) {
      register_phone(number);
    }
  }
};

TEST_P(PickupMatrix, AnswersTheSameOnEveryPath) {
  const Case& c = GetParam();
  Sent call = dial("1001", c.target);
  Rung rung = ring(c.rings);
  std::string code;
  std::string extra;
  switch (c.path) {
    case Path::Group:
      code = "*8";
      break;
    case Path::Directed:
      code = std::string("**") + c.target;
      break;
    case Path::Replaces:
      code = c.target;
      extra = "Replaces: " + rung.call_id + ";to-tag=" + rung.our_tag +
              ";from-tag=" + rung.phone_tag + ";early-only\r\n";
      break;
  }
  Sent pickup = dial(c.picker, code, extra);
  EXPECT_EQ(final_status(phone(c.picker), pickup), c.status);
  EXPECT_EQ(final_reason(phone(c.picker), pickup), c.status == 200 ? "OK" : c.reason);
  if (c.status == 200) {
    EXPECT_EQ(final_status(phone("1001"), call), 200) << "the caller was not answered";
    EXPECT_TRUE(cancelled_elsewhere(c.rings)) << c.rings << " got no CANCEL with the Reason";
  } else {
    EXPECT_EQ(final_status(phone("1001"), call), 0) << "a refusal ended the call";
    EXPECT_TRUE(requests_to(c.rings, "CANCEL").empty()) << "a refusal cancelled " << c.rings;
  }
}

constexpr const char* kNotAllowed1002 = "Pickup of 1002 is not allowed";

INSTANTIATE_TEST_SUITE_P(
    DirectCall, PickupMatrix,
    ::testing::Values(Case{"1002", "1002", "1003", Path::Group, 200, ""},
                      Case{"1002", "1002", "1003", Path::Directed, 200, ""},
                      Case{"1002", "1002", "1003", Path::Replaces, 200, ""},
                      Case{"1002", "1002", "1004", Path::Group, 403, "No pickup groups"},
                      Case{"1002", "1002", "1004", Path::Directed, 200, ""},
                      Case{"1002", "1002", "1004", Path::Replaces, 200, ""},
                      Case{"1002", "1002", "1005", Path::Directed, 403, kNotAllowed1002},
                      Case{"1002", "1002", "1005", Path::Replaces, 403, kNotAllowed1002},
                      Case{"1002", "1002", "1007", Path::Group, 480, "No call to pick up"},
                      Case{"1002", "1002", "1007", Path::Directed, 403, kNotAllowed1002},
                      Case{"1002", "1002", "1007", Path::Replaces, 403, kNotAllowed1002},
                      Case{"1002", "1002", "1009", Path::Directed, 200, ""},
                      Case{"1002", "1002", "1009", Path::Replaces, 200, ""},
                      Case{"1002", "1002", "1001", Path::Directed, 403, kNotAllowed1002}));

INSTANTIATE_TEST_SUITE_P(ProtectedExtension, PickupMatrix,
                         ::testing::Values(Case{"1008", "1008", "1003", Path::Group, 480,
                                                "No call to pick up"},
                                           Case{"1008", "1008", "1003", Path::Directed, 403,
                                                "Pickup of 1008 is not allowed: protected"},
                                           Case{"1008", "1008", "1003", Path::Replaces, 403,
                                                "Pickup of 1008 is not allowed: protected"},
                                           Case{"1008", "1008", "1009", Path::Directed, 403,
                                                "Pickup of 1008 is not allowed: protected"},
                                           Case{"1008", "1008", "1009", Path::Replaces, 403,
                                                "Pickup of 1008 is not allowed: protected"}));

// Issue 9: a ring group is pickable by whatever rings now, its own groups or its members'.
INSTANTIATE_TEST_SUITE_P(RingGroupWithoutGroups, PickupMatrix,
                         ::testing::Values(Case{"600", "1002", "1003", Path::Directed, 200, ""},
                                           Case{"600", "1006", "1007", Path::Directed, 200, ""},
                                           Case{"600", "1006", "1003", Path::Replaces, 200, ""},
                                           Case{"600", "1002", "1003", Path::Group, 200, ""},
                                           Case{"600", "1002", "1004", Path::Directed, 200, ""},
                                           Case{"600", "1002", "1010", Path::Directed, 403,
                                                "Pickup of 600 is not allowed"},
                                           Case{"600", "1002", "1010", Path::Replaces, 403,
                                                "Pickup of 600 is not allowed"}));

// Sequential: only the member whose turn it is (1002 first) lends its rule.
INSTANTIATE_TEST_SUITE_P(
    SequentialRingGroup, PickupMatrix,
    ::testing::Values(Case{"601", "1002", "1003", Path::Directed, 200, ""},
                      Case{"601", "1002", "1007", Path::Directed, 480, "Nothing ringing at 601"},
                      Case{"601", "1002", "1007", Path::Replaces, 403,
                           "Pickup of 601 is not allowed"},
                      Case{"601", "1002", "1007", Path::Group, 480, "No call to pick up"}));

INSTANTIATE_TEST_SUITE_P(RingGroupWithAProtectedMember, PickupMatrix,
                         ::testing::Values(Case{"602", "1008", "1010", Path::Directed, 200, ""},
                                           Case{"602", "1008", "1007", Path::Directed, 200, ""},
                                           Case{"602", "1008", "1003", Path::Directed, 403,
                                                "Pickup of 602 is not allowed"},
                                           Case{"602", "1008", "1003", Path::Group, 480,
                                                "No call to pick up"},
                                           Case{"602", "1008", "1003", Path::Replaces, 403,
                                                "Pickup of 602 is not allowed"}));

// A protected ring group: nobody intercepts its calls, by any path.
INSTANTIATE_TEST_SUITE_P(
    ProtectedRingGroup, PickupMatrix,
    ::testing::Values(
        Case{"603", "1002", "1003", Path::Directed, 403, "Pickup of 603 is not allowed: protected"},
        Case{"603", "1002", "1003", Path::Group, 480, "No call to pick up"},
        Case{"603", "1002", "1010", Path::Group, 480, "No call to pick up"},
        Case{"603", "1002", "1003", Path::Replaces, 403, "Pickup of 603 is not allowed: protected"},
        Case{"603", "1002", "1004", Path::Directed, 403,
             "Pickup of 603 is not allowed: protected"}));

class PickupRace : public PbxTest {
 protected:
  void SetUp() override {
    start({ext("1001"), ext("1002", {"reception"}), ext("1003", {}, {"reception"}),
           ext("1004", {}, {"reception"})});
    register_phone("1002");
  }
};

TEST_F(PickupRace, TheFirstOfTwoPickupsWinsTheSecondGets480) {
  Sent call = dial("1001", "1002");
  ring("1002");
  Sent first = dial("1003", "*8");
  Sent second = dial("1004", "**1002");
  EXPECT_EQ(final_status(phone("1003"), first), 200);
  EXPECT_EQ(final_status(phone("1004"), second), 480);
  EXPECT_EQ(final_status(phone("1001"), call), 200);
  EXPECT_TRUE(cancelled_elsewhere("1002"));
}

TEST_F(PickupRace, ACalleeAnswerAfterThePickupIsAcknowledgedAndEndedWithBye) {
  Sent call = dial("1001", "1002");
  Rung rung = ring("1002");
  Sent pickup = dial("1003", "*8");
  ASSERT_EQ(final_status(phone("1003"), pickup), 200);
  // 1002's 200 crosses the CANCEL: the server must take it, ACK it and hang it up at once
  // (this phone sends no Contact: the dialog still has a target).
  deliver(sip::response_to(rung.invite, 200, {}, rung.phone_tag)
              .body("application/sdp", std::string(kOffer))
              .finish(),
          phone("1002").peer);
  EXPECT_EQ(requests_to("1002", "ACK").size(), 1u);
  EXPECT_EQ(requests_to("1002", "BYE").size(), 1u);
  EXPECT_EQ(final_status(phone("1001"), call), 200);
}

TEST_F(PickupRace, APickupAfterTheCalleeAnsweredGets480) {
  Sent call = dial("1001", "1002");
  Rung rung = ring("1002");
  deliver(sip::response_to(rung.invite, 200, {}, rung.phone_tag)
              .body("application/sdp", std::string(kOffer))
              .finish(),
          phone("1002").peer);
  ASSERT_EQ(final_status(phone("1001"), call), 200);
  Sent late = dial("1003", "*8");
  EXPECT_EQ(final_status(phone("1003"), late), 480);
  Sent replaces = dial("1003", "1002",
                       "Replaces: " + rung.call_id + ";to-tag=" + rung.our_tag +
                           ";from-tag=" + rung.phone_tag + ";early-only\r\n");
  EXPECT_EQ(final_status(phone("1003"), replaces), 486);
}

}  // namespace
}  // namespace catchline::pbx::testing
