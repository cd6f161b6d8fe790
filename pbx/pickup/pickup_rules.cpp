#include "pbx/pickup/pickup_rules.h"

#include <algorithm>

namespace catchline::pbx {
namespace {

bool share_a_group(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return std::any_of(a.begin(), a.end(), [&](const std::string& group) {
    return std::find(b.begin(), b.end(), group) != b.end();
  });
}

bool allow_listed(const Extension& picker, const PickupTarget& target) {
  for (const std::string& entry : picker.directed_pickup) {
    if (entry == "*" || entry == target.number) {
      return true;
    }
    if (entry.starts_with("group:")) {
      std::string_view group = std::string_view(entry).substr(6);
      if (std::find(target.call_groups.begin(), target.call_groups.end(), group) !=
          target.call_groups.end()) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

std::string_view pickup_kind_name(PickupKind kind) {
  switch (kind) {
    case PickupKind::Group:
      return "group";
    case PickupKind::Directed:
      return "directed";
    case PickupKind::Blf:
      return "blf";
  }
  return "group";
}

PickupVerdict may_directed_pickup(const Extension& picker, const PickupTarget& target) {
  if (target.pickup_protected) {
    return PickupVerdict::Protected;
  }
  if (share_a_group(target.call_groups, picker.pickup_groups) || allow_listed(picker, target)) {
    return PickupVerdict::Allowed;
  }
  return PickupVerdict::NotAllowed;
}

PickupVerdict may_pick_up_ring_group(const Extension& picker, const PickupTarget& group,
                                     const std::vector<PickupTarget>& members) {
  const PickupVerdict own = may_directed_pickup(picker, group);
  if (own != PickupVerdict::NotAllowed) {
    return own;  // Allowed, or Protected: a protected ring group protects all its calls
  }
  for (const PickupTarget& member : members) {
    if (member.pickup_protected) {
      continue;  // its calls are nobody's to take, and it lends the group no rights
    }
    if (member.number == picker.number ||
        may_directed_pickup(picker, member) == PickupVerdict::Allowed) {
      return PickupVerdict::Allowed;
    }
  }
  return PickupVerdict::NotAllowed;
}

PickupVerdict may_pick_up(const Extension& picker, PickupKind how, const PickupKeys& keys) {
  if (keys.empty()) {
    return PickupVerdict::NotAllowed;
  }
  if (share_a_group(keys.groups, picker.pickup_groups)) {
    return PickupVerdict::Allowed;
  }
  if (how == PickupKind::Group) {
    return PickupVerdict::NotAllowed;
  }
  auto has = [](const std::vector<std::string>& names, std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  if (has(keys.numbers, picker.number)) {
    return PickupVerdict::Allowed;
  }
  for (const std::string& entry : picker.directed_pickup) {
    if (entry == "*" || has(keys.numbers, entry)) {
      return PickupVerdict::Allowed;
    }
    if (entry.starts_with("group:") && has(keys.groups, std::string_view(entry).substr(6))) {
      return PickupVerdict::Allowed;
    }
  }
  return PickupVerdict::NotAllowed;
}

PickupCode classify_pickup_code(std::string_view dialled, const PickupSettings& settings) {
  if (dialled == settings.group_code) {
    return {true, PickupKind::Group, {}};
  }
  if (!settings.directed_prefix.empty() && dialled.starts_with(settings.directed_prefix)) {
    return {true, PickupKind::Directed, dialled.substr(settings.directed_prefix.size())};
  }
  return {};
}

}  // namespace catchline::pbx
