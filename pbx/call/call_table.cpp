#include "pbx/call/call_table.h"

namespace catchline::pbx {

Call& CallTable::create(CallHost& host, Party caller, std::string dialled) {
  const CallId id = next_++;
  auto call = std::make_unique<Call>(host, id, std::move(caller), std::move(dialled));
  Call& ref = *call;
  calls_.emplace(id, std::move(call));
  return ref;
}

Call* CallTable::find(CallId id) const {
  auto it = calls_.find(id);
  return it == calls_.end() ? nullptr : it->second.get();
}

void CallTable::reap(CallId id) {
  auto it = calls_.find(id);
  if (it != calls_.end() && it->second->idle()) {
    calls_.erase(it);
  }
}

CallTable::LegRef CallTable::find_leg(std::string_view call_id) const {
  auto it = legs_by_call_id_.find(std::string(call_id));
  if (it == legs_by_call_id_.end()) {
    return {};
  }
  return LegRef{find(it->second.call), it->second.leg};
}

}  // namespace catchline::pbx
