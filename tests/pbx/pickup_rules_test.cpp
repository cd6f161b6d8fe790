#include "pbx/pickup/pickup_rules.h"

#include <gtest/gtest.h>

namespace catchline::pbx {
namespace {

Extension extension(std::string number, std::vector<std::string> call_groups = {},
                    std::vector<std::string> pickup_groups = {},
                    std::vector<std::string> directed = {}, bool protect = false) {
  Extension ext;
  ext.number = std::move(number);
  ext.call_groups = std::move(call_groups);
  ext.pickup_groups = std::move(pickup_groups);
  ext.directed_pickup = std::move(directed);
  ext.pickup_protected = protect;
  return ext;
}

// Group pickup (*8) of a ringing call: its groups (PickupKeys, protection already applied)
// against the picker's pickup groups, and nothing else.
TEST(GroupPickup, AllowedWhenCallGroupsMeetPickupGroups) {
  PickupKeys keys{{"1002"}, {"reception", "sales"}};
  EXPECT_EQ(may_pick_up(extension("1003", {}, {"sales"}), PickupKind::Group, keys),
            PickupVerdict::Allowed);
}

TEST(GroupPickup, RefusedWithoutACommonGroup) {
  PickupKeys keys{{"1002"}, {"reception"}};
  EXPECT_EQ(may_pick_up(extension("1003", {"reception"}, {"sales"}), PickupKind::Group, keys),
            PickupVerdict::NotAllowed);
}

TEST(GroupPickup, AllowListAndOwnNumberDoNotWidenGroupPickup) {
  PickupKeys keys{{"1002"}, {"reception"}};
  EXPECT_EQ(may_pick_up(extension("1003", {}, {}, {"*"}), PickupKind::Group, keys),
            PickupVerdict::NotAllowed);
  EXPECT_EQ(may_pick_up(extension("1003", {}, {}, {"1002"}), PickupKind::Group, keys),
            PickupVerdict::NotAllowed);
  EXPECT_EQ(may_pick_up(extension("1002"), PickupKind::Group, keys), PickupVerdict::NotAllowed);
  EXPECT_EQ(may_pick_up(extension("1003", {}, {}, {"*"}), PickupKind::Directed, keys),
            PickupVerdict::Allowed);
}

TEST(GroupPickup, NothingPickableIsNeverAllowed) {
  EXPECT_EQ(may_pick_up(extension("1003", {}, {"reception"}), PickupKind::Group, PickupKeys{}),
            PickupVerdict::NotAllowed);
}

TEST(DirectedPickup, AllowedByTheGroupRule) {
  Extension bob = extension("1002", {"reception"});
  Extension carol = extension("1003", {}, {"reception"});
  EXPECT_EQ(may_directed_pickup(carol, PickupTarget::of(bob)), PickupVerdict::Allowed);
}

TEST(DirectedPickup, AllowedByNumberGroupOrStarInTheAllowList) {
  Extension bob = extension("1002", {"sales"});
  for (const char* entry : {"1002", "group:sales", "*"}) {
    Extension dave = extension("1004", {}, {}, {entry});
    EXPECT_EQ(may_directed_pickup(dave, PickupTarget::of(bob)), PickupVerdict::Allowed) << entry;
  }
}

TEST(DirectedPickup, RefusedForOtherNumbersAndGroups) {
  Extension bob = extension("1002", {"sales"});
  Extension dave = extension("1004", {}, {"support"}, {"1003", "group:support", "group:"});
  EXPECT_EQ(may_directed_pickup(dave, PickupTarget::of(bob)), PickupVerdict::NotAllowed);
}

TEST(DirectedPickup, NeverAProtectedExtensionEvenWithStar) {
  Extension bob = extension("1002", {"sales"}, {}, {}, true);
  Extension dave = extension("1004", {}, {"sales"}, {"*"});
  EXPECT_EQ(may_directed_pickup(dave, PickupTarget::of(bob)), PickupVerdict::Protected);
}

TEST(DirectedPickup, RingGroupByItsOwnCallGroupsAndNumber) {
  RingGroup sales;
  sales.number = "2000";
  sales.call_groups = {"sales"};
  EXPECT_EQ(may_directed_pickup(extension("1004", {}, {"sales"}), PickupTarget::of(sales)),
            PickupVerdict::Allowed);
  EXPECT_EQ(may_directed_pickup(extension("1004", {}, {}, {"2000"}), PickupTarget::of(sales)),
            PickupVerdict::Allowed);
  EXPECT_EQ(may_directed_pickup(extension("1004", {}, {}, {"1002"}), PickupTarget::of(sales)),
            PickupVerdict::NotAllowed);
}

RingGroup ring_group(std::string number, std::vector<std::string> members,
                     std::vector<std::string> call_groups = {}, bool protect = false) {
  RingGroup group;
  group.number = std::move(number);
  group.members = std::move(members);
  group.call_groups = std::move(call_groups);
  group.pickup_protected = protect;
  return group;
}

// Issue: 600 (no call groups of its own) rings 1002 and 1003 of group reception; 1004 picks up
// reception. "**600" was refused while "*8" and "**1002" took the same call.
TEST(RingGroupPickup, AllowedByTheRuleOfAMemberWithoutGroupsOfItsOwn) {
  Extension bob = extension("1002", {"reception"});
  Extension carol = extension("1003", {"reception"});
  Extension dave = extension("1004", {}, {"reception"});
  RingGroup group = ring_group("600", {"1002", "1003"});
  std::vector<PickupTarget> members{PickupTarget::of(bob), PickupTarget::of(carol)};
  EXPECT_EQ(may_pick_up_ring_group(dave, PickupTarget::of(group), members), PickupVerdict::Allowed);
  Extension erin = extension("1005", {}, {"sales"});
  EXPECT_EQ(may_pick_up_ring_group(erin, PickupTarget::of(group), members),
            PickupVerdict::NotAllowed);
  Extension by_list = extension("1006", {}, {}, {"1003"});
  EXPECT_EQ(may_pick_up_ring_group(by_list, PickupTarget::of(group), members),
            PickupVerdict::Allowed);
}

TEST(RingGroupPickup, AProtectedMemberLendsNoRightsAndAProtectedGroupRefusesAll) {
  Extension bob = extension("1002", {"reception"}, {}, {}, true);
  Extension dave = extension("1004", {}, {"reception"});
  std::vector<PickupTarget> members{PickupTarget::of(bob)};
  EXPECT_EQ(may_pick_up_ring_group(dave, PickupTarget::of(ring_group("600", {"1002"})), members),
            PickupVerdict::NotAllowed);
  Extension carol = extension("1003", {"reception"});
  std::vector<PickupTarget> open{PickupTarget::of(carol)};
  EXPECT_EQ(may_pick_up_ring_group(
                dave, PickupTarget::of(ring_group("600", {"1003"}, {"reception"}, true)), open),
            PickupVerdict::Protected);
  EXPECT_EQ(may_pick_up_ring_group(
                dave, PickupTarget::of(ring_group("600", {"1003"}, {"reception"})), {}),
            PickupVerdict::Allowed);
}

TEST(RingingCallPickup, AllowedByAnyNumberOrGroupTheCallRingsUnderNow) {
  PickupKeys keys{{"600", "1002"}, {"reception", "sales"}};
  EXPECT_EQ(may_pick_up(extension("1004", {}, {"sales"}), PickupKind::Directed, keys),
            PickupVerdict::Allowed);
  EXPECT_EQ(may_pick_up(extension("1004", {}, {}, {"1002"}), PickupKind::Directed, keys),
            PickupVerdict::Allowed);
  EXPECT_EQ(may_pick_up(extension("1004", {}, {}, {"600"}), PickupKind::Directed, keys),
            PickupVerdict::Allowed);
  EXPECT_EQ(may_pick_up(extension("1004", {}, {}, {"group:reception"}), PickupKind::Directed, keys),
            PickupVerdict::Allowed);
  EXPECT_EQ(may_pick_up(extension("1004", {}, {}, {"*"}), PickupKind::Directed, keys),
            PickupVerdict::Allowed);
  EXPECT_EQ(may_pick_up(extension("1002"), PickupKind::Directed, keys),
            PickupVerdict::Allowed);  // its own
}

TEST(RingingCallPickup, RefusedForWhatDoesNotRingItAndForNothingPickable) {
  PickupKeys keys{{"600", "1003"}, {"sales"}};  // sequential: 1003's turn, 1002 done
  EXPECT_EQ(may_pick_up(extension("1004", {}, {"reception"}), PickupKind::Directed, keys),
            PickupVerdict::NotAllowed);
  EXPECT_EQ(may_pick_up(extension("1004", {}, {}, {"1002", "group:reception"}),
                        PickupKind::Directed, keys),
            PickupVerdict::NotAllowed);
  EXPECT_EQ(
      may_pick_up(extension("1004", {}, {"sales"}, {"*"}), PickupKind::Directed, PickupKeys{}),
      PickupVerdict::NotAllowed);
}

TEST(PickupCode, ClassifiesGroupDirectedAndPlainNumbers) {
  PickupSettings settings;
  struct Case {
    const char* dialled;
    bool pickup;
    PickupKind kind;
    const char* number;
  };
  const Case cases[] = {
      {"*8", true, PickupKind::Group, ""},    {"**1002", true, PickupKind::Directed, "1002"},
      {"**", true, PickupKind::Directed, ""}, {"1002", false, PickupKind::Group, ""},
      {"*81", false, PickupKind::Group, ""},  {"*", false, PickupKind::Group, ""},
  };
  for (const Case& c : cases) {
    PickupCode code = classify_pickup_code(c.dialled, settings);
    EXPECT_EQ(code.is_pickup, c.pickup) << c.dialled;
    if (c.pickup) {
      EXPECT_EQ(code.kind, c.kind) << c.dialled;
      EXPECT_EQ(code.number, c.number) << c.dialled;
    }
  }
}

TEST(PickupCode, FollowsConfiguredCodes) {
  PickupSettings settings;
  settings.group_code = "*98";
  settings.directed_prefix = "*97";
  EXPECT_TRUE(classify_pickup_code("*98", settings).is_pickup);
  EXPECT_EQ(classify_pickup_code("*971002", settings).number, "1002");
  EXPECT_FALSE(classify_pickup_code("*8", settings).is_pickup);
  EXPECT_FALSE(classify_pickup_code("**1002", settings).is_pickup);
}

}  // namespace
}  // namespace catchline::pbx
