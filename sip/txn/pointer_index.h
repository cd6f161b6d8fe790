#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/thread_check.h"

namespace catchline::sip::txn {

/// A hash index of pointers to objects that carry their own key: open addressing with linear
/// probing over {hash, pointer} slots, deletion by backward shift (no tombstones). A look-up
/// reads one run of adjacent slots, where std::unordered_map reads a bucket array, the node
/// before the bucket's chain and each node of it, each a cache miss once tens of thousands of
/// transactions are alive (it was 5 % of the server's CPU under BLF load).
/// The caller hashes keys and says, with a predicate, whether an object has the key sought.
/// Never holds nullptr. Owned by the signaling thread (checked in debug builds).
template <class T>
class PointerIndex {
 public:
  PointerIndex() : slots_(kInitialSlots) {}

  std::size_t size() const { return size_; }

  /// The object with `hash` for which `has_key(object)` holds, or nullptr.
  template <class HasKey>
  T* find(std::size_t hash, HasKey&& has_key) const {
    for (std::size_t i = home(hash);; i = next(i)) {
      const Slot& slot = slots_[i];
      if (slot.value == nullptr) {
        return nullptr;
      }
      if (slot.hash == hash && has_key(*slot.value)) {
        return slot.value;
      }
    }
  }

  /// Adds `value` unless an object with its key (`has_key`) is already here: false then.
  template <class HasKey>
  bool insert(std::size_t hash, T* value, HasKey&& has_key) {
    base::assert_on_signaling_thread();
    if (find(hash, has_key) != nullptr) {
      return false;
    }
    if (2 * (size_ + 1) > slots_.size()) {
      grow();
    }
    place(hash, value);
    ++size_;
    return true;
  }

  /// Removes `value` (filed under `hash`); false when it is not here.
  bool erase(std::size_t hash, const T* value) {
    base::assert_on_signaling_thread();
    if (value == nullptr) {
      return false;
    }
    std::size_t hole = home(hash);
    while (slots_[hole].value != value) {
      if (slots_[hole].value == nullptr) {
        return false;
      }
      hole = next(hole);
    }
    // Backward shift: pull later slots of the run into the hole where their probe allows, so
    // that no look-up stops early at it.
    for (std::size_t i = next(hole);; i = next(i)) {
      Slot& slot = slots_[i];
      if (slot.value == nullptr) {
        break;
      }
      const std::size_t wanted = home(slot.hash);
      // `slot` may move to `hole` when `hole` lies on its probe path, from `wanted` to `i`.
      const bool movable =
          hole <= i ? (wanted <= hole || wanted > i) : (wanted <= hole && wanted > i);
      if (movable) {
        slots_[hole] = slot;
        hole = i;
      }
    }
    slots_[hole] = Slot{};
    --size_;
    return true;
  }

  /// Calls `visit(T&)` for every object; `visit` must not change the index.
  template <class Visit>
  void for_each(Visit&& visit) const {
    for (const Slot& slot : slots_) {
      if (slot.value != nullptr) {
        visit(*slot.value);
      }
    }
  }

 private:
  static constexpr std::size_t kInitialSlots = 64;
  struct Slot {
    std::size_t hash = 0;
    T* value = nullptr;
  };

  std::size_t home(std::size_t hash) const {
    // Fibonacci hashing spreads the low-entropy hashes of some callers over the table.
    return static_cast<std::size_t>((hash * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  std::size_t next(std::size_t i) const { return (i + 1) & (slots_.size() - 1); }

  void place(std::size_t hash, T* value) {
    std::size_t i = home(hash);
    while (slots_[i].value != nullptr) {
      i = next(i);
    }
    slots_[i] = Slot{hash, value};
  }

  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    shift_ = 64 - std::countr_zero(slots_.size());
    for (const Slot& slot : old) {
      if (slot.value != nullptr) {
        place(slot.hash, slot.value);
      }
    }
  }

  std::vector<Slot> slots_;
  int shift_ = 64 - std::countr_zero(kInitialSlots);
  std::size_t size_ = 0;
};

}  // namespace catchline::sip::txn
