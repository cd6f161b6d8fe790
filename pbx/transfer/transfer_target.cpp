#include "pbx/transfer/transfer_target.h"

#include <algorithm>

#include "pbx/park/park_lots.h"
#include "pbx/registrar/registrar.h"
#include "pbx/routing/dial_plan.h"

namespace catchline::pbx {

TransferTarget resolve_transfer(const DialPlan& dial_plan, const Registrar& registrar,
                                const Directory& directory, const ParkLots& parking,
                                const Party& transferor, std::string_view target) {
  TransferTarget out;
  if (transferor.external) {
    out.status = 403;
    out.reason = "Only an extension may transfer";
    return out;
  }
  if (target.empty()) {
    out.status = 400;
    out.reason = "Refer-To names no number";
    return out;
  }
  if (auto place = parking.find(target)) {
    const ParkLot& lot = *place->lot;
    const Extension* parker = directory.find(transferor.number);
    if (parker == nullptr || !named_by(*parker, lot.park)) {
      out.status = 403;
      out.reason = transferor.number + " may not park in " + lot.name;
      return out;
    }
    std::string slot = place->slot.empty() ? parking.free_slot(lot) : place->slot;
    if (slot.empty()) {
      out.status = 486;
      out.reason = "Every slot of " + lot.name + " is taken";
      return out;
    }
    if (parking.occupant(slot) != 0) {
      out.status = 486;
      out.reason = "Slot " + slot + " is taken";
      return out;
    }
    out.park = ParkTarget{lot.name, std::move(slot), lot.timeout, lot.comeback_time, lot.comeback};
    return out;
  }
  std::optional<RingPlan> plan = dial_plan.outgoing(target);
  if (!plan) {
    out.status = 404;
    out.reason = "No such number " + std::string(target);
    return out;
  }
  const Extension* who = directory.find(transferor.number);
  if (who == nullptr || !directory.may_call_out(*who, target)) {
    out.status = 403;
    out.reason = transferor.number + " may not call out to " + std::string(target);
    return out;
  }
  const bool reachable =
      std::any_of(plan->members.begin(), plan->members.end(), [&](const RingMember& member) {
        return member.route || !registrar.bindings(member.number).empty();
      });
  if (!reachable) {
    out.status = 480;
    out.reason = std::string(target) + " is not registered";
    return out;
  }
  out.plan = std::move(plan);
  return out;
}

std::optional<RingPlan> recall_plan(const DialPlan& dial_plan, std::string_view extension) {
  return dial_plan.ring_plan(extension);
}

}  // namespace catchline::pbx
