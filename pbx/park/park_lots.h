#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "pbx/routing/directory.h"

namespace catchline::pbx {

using CallId = std::uint64_t;

/// The parking lots of the directory and which call waits on which slot (issue 12). Reads the
/// Pbx's directory, which a reload replaces in place: calls parked stay on their slots.
/// Owned by the signaling thread.
class ParkLots {
 public:
  explicit ParkLots(const Directory& directory) : directory_(directory) {}

  /// What `number` is in a lot: its code (slot "") or one of its slots; nullopt otherwise.
  struct Place {
    const ParkLot* lot = nullptr;
    std::string slot;  // "" for the code
  };
  std::optional<Place> find(std::string_view number) const;
  /// The lowest free slot of `lot`, "" when every one is taken.
  std::string free_slot(const ParkLot& lot) const;
  /// The call parked on `slot`, 0 for none.
  CallId occupant(std::string_view slot) const;
  void occupy(const std::string& slot, CallId call) { slots_[slot] = call; }
  /// Frees `slot` if `call` holds it (a slot taken since by another call stays taken).
  void release(const std::string& slot, CallId call);
  std::size_t parked() const { return slots_.size(); }

 private:
  const Directory& directory_;
  std::unordered_map<std::string, CallId> slots_;
};

}  // namespace catchline::pbx
