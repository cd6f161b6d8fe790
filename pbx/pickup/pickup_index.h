#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"

namespace catchline::pbx {

/// Where a call is pickable: by a number (an extension or a ring group ringing) or by a call
/// group it belongs to.
enum class PickupScope : std::uint8_t { Number, Group };

/// The numbers and groups under which one call is pickable right now.
struct PickupKeys {
  std::vector<std::string> numbers;
  std::vector<std::string> groups;
  bool empty() const { return numbers.empty() && groups.empty(); }
  bool operator==(const PickupKeys&) const = default;
};

/// Every pickable call (DESIGN.md §1), indexed by number and by call group, oldest first (by
/// when its first leg started ringing, ties by arrival), so that choosing the call for a
/// pickup never scans every call. The one place that says when a number or a group becomes
/// pickable or stops being pickable: BLF listens there.
/// Owned by the signaling thread; no locks.
class PickupIndex {
 public:
  using CallKey = std::uint64_t;  // the call's id: rises with arrival
  /// Told `(scope, name, pickable)` when a number or group gets its first pickable call
  /// (true) or loses its last (false).
  using Listener = std::function<void(PickupScope, std::string_view, bool)>;

  void set_listener(Listener listener) { listener_ = std::move(listener); }

  /// Makes `call` pickable under exactly `keys` (none: not pickable). `ring_started` orders
  /// it; it is read on the first update only.
  void update(CallKey call, base::TimePoint ring_started, PickupKeys keys);
  /// The call is no longer pickable (answered, picked up, ended).
  void remove(CallKey call) { update(call, {}, {}); }

  /// The oldest call pickable by `number` that `accept` takes, or nullopt.
  std::optional<CallKey> oldest_by_number(std::string_view number,
                                          const std::function<bool(CallKey)>& accept) const;
  /// The oldest call pickable in any of `groups` that `accept` takes, or nullopt.
  std::optional<CallKey> oldest_in_groups(const std::vector<std::string>& groups,
                                          const std::function<bool(CallKey)>& accept) const;

  bool pickable(PickupScope scope, std::string_view name) const;
  /// The keys `call` is pickable under (empty when it is not).
  const PickupKeys* keys_of(CallKey call) const;
  std::size_t size() const { return calls_.size(); }

 private:
  struct Order {
    base::TimePoint ring_started;
    CallKey call;
    bool operator<(const Order& other) const {
      return ring_started != other.ring_started ? ring_started < other.ring_started
                                                : call < other.call;
    }
  };
  using Bucket = std::set<Order>;
  using Buckets = std::unordered_map<std::string, Bucket>;
  struct Entry {
    Order order;
    PickupKeys keys;
  };

  void add_to(Buckets& buckets, PickupScope scope, const std::string& name, const Order& order);
  void remove_from(Buckets& buckets, PickupScope scope, const std::string& name,
                   const Order& order);
  static std::optional<CallKey> first_accepted(const Bucket& bucket,
                                               const std::function<bool(CallKey)>& accept,
                                               const Order* before);

  std::unordered_map<CallKey, Entry> calls_;
  Buckets by_number_;
  Buckets by_group_;
  Listener listener_;
};

}  // namespace catchline::pbx
