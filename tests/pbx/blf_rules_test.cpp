#include <gtest/gtest.h>

#include "pbx/routing/directory.h"

namespace catchline::pbx {
namespace {

Directory office(std::vector<BlfRule> rules) {
  Extension desk{"1001", "Desk", "x", {"reception"}, {"reception"}, {}, false};
  Extension doctor{"1004", "Doctor", "x", {"clinic"}, {}, {}, true};
  Extension nurse{"1006", "Nurse", "x", {"clinic"}, {"clinic"}, {}, false};
  RingGroup sales;
  sales.number = "2000";
  sales.members = {"1001"};
  sales.call_groups = {"sales"};
  return Directory({desk, doctor, nurse}, {sales}, {}, {}, std::move(rules));
}

TEST(BlfRules, NoRuleAllowsNothingBeyondTheDefault) {
  Directory d = office({});
  EXPECT_FALSE(d.blf_rule_allows(*d.find("1001"), "1004"));
}

TEST(BlfRules, NumberToNumber) {
  Directory d = office({{{"1001"}, {"1004"}}});
  EXPECT_TRUE(d.blf_rule_allows(*d.find("1001"), "1004"));
  EXPECT_FALSE(d.blf_rule_allows(*d.find("1006"), "1004"));
  EXPECT_FALSE(d.blf_rule_allows(*d.find("1001"), "1006"));
}

TEST(BlfRules, WatcherGroupsAreCallOrPickupGroups) {
  Directory d = office({{{"group:reception"}, {"group:clinic"}}});
  EXPECT_TRUE(d.blf_rule_allows(*d.find("1001"), "1004"));  // protected: watched, not picked
  EXPECT_TRUE(d.blf_rule_allows(*d.find("1001"), "1006"));
  EXPECT_FALSE(d.blf_rule_allows(*d.find("1006"), "1004"));
}

TEST(BlfRules, StarAndRingGroupsByTheirCallGroups) {
  Directory d = office({{{"*"}, {"group:sales"}}});
  EXPECT_TRUE(d.blf_rule_allows(*d.find("1006"), "2000"));
  EXPECT_FALSE(d.blf_rule_allows(*d.find("1006"), "1001"));
}

}  // namespace
}  // namespace catchline::pbx
