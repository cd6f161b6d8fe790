#include "pbx/pickup/pickup_index.h"

#include <gtest/gtest.h>

#include <tuple>

namespace catchline::pbx {
namespace {

using namespace std::chrono_literals;
using base::TimePoint;

const auto kAny = [](PickupIndex::CallKey) { return true; };

base::TimePoint at(int ms) { return base::TimePoint{} + std::chrono::milliseconds(ms); }

TEST(PickupIndex, OldestByRingStartThenArrival) {
  PickupIndex index;
  index.update(3, at(100), {{"1002"}, {"reception"}});
  index.update(1, at(200), {{"1002"}, {"reception"}});
  index.update(2, at(100), {{"1002"}, {"reception"}});
  EXPECT_EQ(index.oldest_by_number("1002", kAny), 2u);
  EXPECT_EQ(index.oldest_in_groups({"reception"}, kAny), 2u);
}

TEST(PickupIndex, SkipsCallsTheFilterRefuses) {
  PickupIndex index;
  index.update(1, at(100), {{"1002"}, {}});
  index.update(2, at(200), {{"1002"}, {}});
  EXPECT_EQ(index.oldest_by_number("1002", [](auto id) { return id != 1; }), 2u);
  EXPECT_EQ(index.oldest_by_number("1002", [](auto) { return false; }), std::nullopt);
}

TEST(PickupIndex, OldestAcrossSeveralGroups) {
  PickupIndex index;
  index.update(1, at(300), {{"1002"}, {"sales"}});
  index.update(2, at(100), {{"1003"}, {"support"}});
  index.update(3, at(200), {{"1004"}, {"sales"}});
  EXPECT_EQ(index.oldest_in_groups({"sales", "support"}, kAny), 2u);
  EXPECT_EQ(index.oldest_in_groups({"sales"}, kAny), 3u);
  EXPECT_EQ(index.oldest_in_groups({"billing"}, kAny), std::nullopt);
}

TEST(PickupIndex, UpdateMovesACallBetweenNumbers) {
  PickupIndex index;
  index.update(1, at(100), {{"2000", "1002"}, {"sales"}});
  index.update(1, at(999), {{"2000", "1003"}, {"sales"}});  // sequential: next member
  EXPECT_EQ(index.oldest_by_number("1002", kAny), std::nullopt);
  EXPECT_EQ(index.oldest_by_number("1003", kAny), 1u);
  EXPECT_EQ(index.oldest_by_number("2000", kAny), 1u);
  index.remove(1);
  EXPECT_EQ(index.oldest_by_number("2000", kAny), std::nullopt);
  EXPECT_EQ(index.size(), 0u);
}

TEST(PickupIndex, KeepsTheFirstRingStartAcrossUpdates) {
  PickupIndex index;
  index.update(1, at(500), {{"1002"}, {}});
  index.update(2, at(300), {{"1002"}, {}});
  index.update(1, at(100), {{"1002", "1003"}, {}});  // the later time is not read
  EXPECT_EQ(index.oldest_by_number("1002", kAny), 2u);
}

TEST(PickupIndex, TellsWhenANumberOrGroupBecomesAndStopsBeingPickable) {
  PickupIndex index;
  std::vector<std::tuple<PickupScope, std::string, bool>> events;
  index.set_listener([&](PickupScope scope, std::string_view name, bool pickable) {
    events.emplace_back(scope, std::string(name), pickable);
  });
  index.update(1, at(100), {{"1002"}, {"sales"}});
  index.update(2, at(200), {{"1002"}, {"sales"}});  // already pickable: nothing new
  index.remove(1);
  index.remove(2);
  using E = std::tuple<PickupScope, std::string, bool>;
  EXPECT_EQ(events,
            (std::vector<E>{
                E{PickupScope::Number, "1002", true}, E{PickupScope::Group, "sales", true},
                E{PickupScope::Number, "1002", false}, E{PickupScope::Group, "sales", false}}));
}

TEST(PickupIndex, EmptyKeysMakeACallUnpickable) {
  PickupIndex index;
  index.update(1, at(100), {{"1002"}, {"sales"}});
  index.update(1, at(100), {});
  EXPECT_FALSE(index.pickable(PickupScope::Number, "1002"));
  EXPECT_FALSE(index.pickable(PickupScope::Group, "sales"));
  EXPECT_EQ(index.keys_of(1), nullptr);
}

}  // namespace
}  // namespace catchline::pbx
