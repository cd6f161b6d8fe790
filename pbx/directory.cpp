#include "pbx/directory.h"

namespace catchline::pbx {

Directory::Directory(std::vector<Extension> extensions, std::vector<RingGroup> ring_groups,
                     PickupSettings pickup, std::vector<Trunk> trunks)
    : extensions_(std::move(extensions)),
      ring_groups_(std::move(ring_groups)),
      pickup_(std::move(pickup)),
      trunks_(std::move(trunks)) {
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
