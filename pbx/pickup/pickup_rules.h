#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pbx/pickup/pickup_index.h"
#include "pbx/routing/directory.h"

namespace catchline::pbx {

/// How a call was picked up, as the call record names it.
enum class PickupKind : std::uint8_t { Group, Directed, Blf };

std::string_view pickup_kind_name(PickupKind kind);

/// What a pickup would intercept: a number that is ringing (an extension or a ring group)
/// and the call groups its calls belong to.
struct PickupTarget {
  std::string_view number;
  const std::vector<std::string>& call_groups;
  bool pickup_protected = false;

  static PickupTarget of(const Extension& extension) {
    return {extension.number, extension.call_groups, extension.pickup_protected};
  }
  static PickupTarget of(const RingGroup& group) {
    return {group.number, group.call_groups, group.pickup_protected};
  }
};

/// The outcome of a permission check, with the reason the picker and the log are given.
enum class PickupVerdict : std::uint8_t { Allowed, Protected, NotAllowed };

/// DESIGN.md §4, directed and BLF pickup of a number, from the configuration alone (asked
/// before anything is said about what rings): its call groups meet the picker's pickup groups,
/// or the picker's `directed_pickup` allow-list names it (its number, `group:NAME` for one of
/// its call groups, or `*`); never a protected target.
PickupVerdict may_directed_pickup(const Extension& picker, const PickupTarget& target);

/// Directed or BLF pickup of a ring group as a whole (`**600`, a key watching 600), asked before
/// anything is said about what rings: the ring group's own rule, or the rule of any of its
/// `members` that is not protected (a call to the group is pickable by whatever rings now, so
/// whoever may pick up a member may pick up the group's calls while that member rings). Never
/// a protected ring group. The picker's own membership counts as allowed.
PickupVerdict may_pick_up_ring_group(const Extension& picker, const PickupTarget& group,
                                     const std::vector<PickupTarget>& members);

/// DESIGN.md §4, the one rule every path asks of one ringing call, by whatever rings it now:
/// `keys` are the numbers and call groups the call is pickable under (protection has already
/// thinned them, see PickupIndex). Group pickup (`*8`): one of the groups meets the picker's
/// pickup groups (its allow-list does not widen it). Directed and BLF pickup: that, or `keys`
/// holds the picker's own number, a number its `directed_pickup` list names, or a group it
/// names as `group:NAME`; `*` takes any pickable call. An empty `keys` is never allowed.
PickupVerdict may_pick_up(const Extension& picker, PickupKind how, const PickupKeys& keys);

/// What the picker dialled: the group code, the directed prefix plus a number, or neither.
struct PickupCode {
  bool is_pickup = false;
  PickupKind kind = PickupKind::Group;
  std::string_view number;  // directed: the number after the prefix (may be empty)
};

/// Classifies a dialled number against the `pickup:` codes. "*8" -> group, "**1002" ->
/// directed 1002; anything else is not a pickup.
PickupCode classify_pickup_code(std::string_view dialled, const PickupSettings& settings);

}  // namespace catchline::pbx
