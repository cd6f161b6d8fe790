#include "pbx/routing/directory.h"

#include <algorithm>

namespace catchline::pbx {

bool named_by(const Extension& extension, const std::vector<std::string>& list) {
  auto in = [](const std::vector<std::string>& groups, std::string_view name) {
    return std::find(groups.begin(), groups.end(), name) != groups.end();
  };
  return std::any_of(list.begin(), list.end(), [&](const std::string& entry) {
    if (entry == "*" || entry == extension.number) {
      return true;
    }
    if (!entry.starts_with("group:")) {
      return false;
    }
    const std::string_view group = std::string_view(entry).substr(6);
    return in(extension.call_groups, group) || in(extension.pickup_groups, group);
  });
}

Directory::Directory(std::vector<Extension> extensions, std::vector<RingGroup> ring_groups,
                     PickupSettings pickup, std::vector<Trunk> trunks,
                     std::vector<BlfRule> blf_rules, std::vector<ParkLot> parking)
    : extensions_(std::move(extensions)),
      ring_groups_(std::move(ring_groups)),
      pickup_(std::move(pickup)),
      trunks_(std::move(trunks)),
      blf_rules_(std::move(blf_rules)),
      parking_(std::move(parking)) {
  build_index();
}

void Directory::build_index() {
  by_number_.reserve(extensions_.size());
  for (std::size_t i = 0; i < extensions_.size(); ++i) {
    by_number_.emplace(extensions_[i].number, i);
  }
  for (std::size_t i = 0; i < ring_groups_.size(); ++i) {
    ring_group_by_number_.emplace(ring_groups_[i].number, i);
  }
}

const Extension* Directory::find(std::string_view number) const {
  auto it = by_number_.find(number);
  return it == by_number_.end() ? nullptr : &extensions_[it->second];
}

const RingGroup* Directory::find_ring_group(std::string_view number) const {
  auto it = ring_group_by_number_.find(number);
  return it == ring_group_by_number_.end() ? nullptr : &ring_groups_[it->second];
}

namespace {

bool holds(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

bool Directory::blf_rule_allows(const Extension& watcher, std::string_view number) const {
  const Extension* extension = find(number);
  const RingGroup* group = extension ? nullptr : find_ring_group(number);
  const std::vector<std::string>* call_groups = extension ? &extension->call_groups
                                                : group   ? &group->call_groups
                                                          : nullptr;
  auto is_watcher = [&](const std::string& entry) {
    if (entry == "*" || entry == watcher.number) {
      return true;
    }
    if (!entry.starts_with("group:")) {
      return false;
    }
    std::string_view name = std::string_view(entry).substr(6);
    return holds(watcher.call_groups, name) || holds(watcher.pickup_groups, name);
  };
  auto is_watched = [&](const std::string& entry) {
    if (entry == "*" || entry == number) {
      return true;
    }
    return entry.starts_with("group:") && call_groups != nullptr &&
           holds(*call_groups, std::string_view(entry).substr(6));
  };
  for (const BlfRule& rule : blf_rules_) {
    if (std::any_of(rule.watchers.begin(), rule.watchers.end(), is_watcher) &&
        std::any_of(rule.may_watch.begin(), rule.may_watch.end(), is_watched)) {
      return true;
    }
  }
  return false;
}

bool Directory::may_call_out(const Extension& caller, std::string_view dialled) const {
  const Trunk* trunk = outbound_trunk(dialled);
  return trunk == nullptr || named_by(caller, trunk->callers);
}

const Trunk* Directory::outbound_trunk(std::string_view dialled) const {
  const Trunk* best = nullptr;
  for (const Trunk& trunk : trunks_) {
    if (!trunk.outbound_prefix.empty() && dialled.starts_with(trunk.outbound_prefix) &&
        (best == nullptr || trunk.outbound_prefix.size() > best->outbound_prefix.size())) {
      best = &trunk;
    }
  }
  return best;
}

}  // namespace catchline::pbx
