#include "pbx/park/park_lots.h"

#include <algorithm>
#include <charconv>

namespace catchline::pbx {

std::optional<ParkLots::Place> ParkLots::find(std::string_view number) const {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
  const bool numeric = error == std::errc() && end == number.data() + number.size();
  for (const ParkLot& lot : directory_.parking()) {
    if (number == lot.code) {
      return Place{&lot, {}};
    }
    const std::size_t digits = std::to_string(lot.first_slot).size();
    if (numeric && number.size() == digits && value >= lot.first_slot && value <= lot.last_slot) {
      return Place{&lot, std::string(number)};
    }
  }
  return std::nullopt;
}

std::string ParkLots::free_slot(const ParkLot& lot) const {
  for (unsigned slot = lot.first_slot; slot <= lot.last_slot; ++slot) {
    std::string name = std::to_string(slot);
    if (slots_.find(name) == slots_.end()) {
      return name;
    }
  }
  return {};
}

CallId ParkLots::occupant(std::string_view slot) const {
  auto found = slots_.find(std::string(slot));
  return found == slots_.end() ? 0 : found->second;
}

void ParkLots::release(const std::string& slot, CallId call) {
  auto found = slots_.find(slot);
  if (found != slots_.end() && found->second == call) {
    slots_.erase(found);
  }
}

}  // namespace catchline::pbx
