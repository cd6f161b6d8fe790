#include "pbx/pickup/pickup_index.h"

#include <algorithm>

namespace catchline::pbx {
namespace {

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

void PickupIndex::update(CallKey call, base::TimePoint ring_started, PickupKeys keys) {
  auto it = calls_.find(call);
  if (it == calls_.end()) {
    if (keys.empty()) {
      return;
    }
    it = calls_.emplace(call, Entry{Order{ring_started, call}, {}}).first;
  }
  Entry& entry = it->second;
  if (entry.keys == keys) {
    return;
  }
  const Order order = entry.order;
  PickupKeys old = std::move(entry.keys);
  entry.keys = std::move(keys);
  const PickupKeys& now = entry.keys;
  // Removals first, so that a listener sees "stopped" before "became" for the same change.
  for (const std::string& number : old.numbers) {
    if (!contains(now.numbers, number)) {
      remove_from(by_number_, PickupScope::Number, number, order);
    }
  }
  for (const std::string& group : old.groups) {
    if (!contains(now.groups, group)) {
      remove_from(by_group_, PickupScope::Group, group, order);
    }
  }
  for (const std::string& number : now.numbers) {
    if (!contains(old.numbers, number)) {
      add_to(by_number_, PickupScope::Number, number, order);
    }
  }
  for (const std::string& group : now.groups) {
    if (!contains(old.groups, group)) {
      add_to(by_group_, PickupScope::Group, group, order);
    }
  }
  if (now.empty()) {
    calls_.erase(call);
  }
}

void PickupIndex::add_to(Buckets& buckets, PickupScope scope, const std::string& name,
                         const Order& order) {
  Bucket& bucket = buckets[name];
  bucket.insert(order);
  if (bucket.size() == 1 && listener_) {
    listener_(scope, name, true);
  }
}

void PickupIndex::remove_from(Buckets& buckets, PickupScope scope, const std::string& name,
                              const Order& order) {
  auto it = buckets.find(name);
  if (it == buckets.end()) {
    return;
  }
  it->second.erase(order);
  if (it->second.empty()) {
    buckets.erase(it);
    if (listener_) {
      listener_(scope, name, false);
    }
  }
}

std::optional<PickupIndex::CallKey> PickupIndex::first_accepted(
    const Bucket& bucket, const std::function<bool(CallKey)>& accept, const Order* before) {
  for (const Order& order : bucket) {
    if (before != nullptr && !(order < *before)) {
      return std::nullopt;  // no older than the best found elsewhere
    }
    if (accept(order.call)) {
      return order.call;
    }
  }
  return std::nullopt;
}

std::optional<PickupIndex::CallKey> PickupIndex::oldest_by_number(
    std::string_view number, const std::function<bool(CallKey)>& accept) const {
  auto it = by_number_.find(std::string(number));
  if (it == by_number_.end()) {
    return std::nullopt;
  }
  return first_accepted(it->second, accept, nullptr);
}

std::optional<PickupIndex::CallKey> PickupIndex::oldest_in_groups(
    const std::vector<std::string>& groups, const std::function<bool(CallKey)>& accept) const {
  std::optional<CallKey> best;
  const Order* best_order = nullptr;
  for (const std::string& group : groups) {
    auto it = by_group_.find(group);
    if (it == by_group_.end()) {
      continue;
    }
    if (auto found = first_accepted(it->second, accept, best_order)) {
      best = found;
      best_order = &calls_.at(*found).order;
    }
  }
  return best;
}

bool PickupIndex::pickable(PickupScope scope, std::string_view name) const {
  const Buckets& buckets = scope == PickupScope::Number ? by_number_ : by_group_;
  return buckets.count(std::string(name)) != 0;
}

const PickupKeys* PickupIndex::keys_of(CallKey call) const {
  auto it = calls_.find(call);
  return it == calls_.end() ? nullptr : &it->second.keys;
}

}  // namespace catchline::pbx
