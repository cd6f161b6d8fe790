#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "pbx/routing/ring_plan.h"

namespace catchline::pbx {

class DialPlan;
class Directory;
class ParkLots;
class Registrar;

/// A transfer to a parking lot's code or slot: where the call waits and what comes after.
struct ParkTarget {
  std::string lot;   // its name
  std::string slot;  // "701": free when the REFER was accepted
  std::chrono::milliseconds timeout{45'000};
  std::chrono::milliseconds comeback_time{30'000};
  std::string comeback;  // rung after the parker; "" none
};

/// What a blind transfer rings (or the slot it parks on), or why it may not: the status and
/// reason phrase of the final response to the REFER (RFC 3515 §2.4.2 allows refusing it
/// before any NOTIFY).
struct TransferTarget {
  std::optional<RingPlan> plan;
  std::optional<ParkTarget> park;
  int status = 0;
  std::string reason;
};

/// The one rule for a transfer by `transferor` to the number `target` (issue 12, DESIGN.md §4):
/// only an extension transfers (a party outside, reached through a trunk, could otherwise send
/// the call out again at the office's cost); the target is what that extension may dial itself
/// (the same dial plan, so the same right to call out through a trunk); and something of it
/// must be reachable (a registered phone or a trunk), else the REFER gets 480 at once.
/// A parking lot's code parks on its first free slot (486 when it is full), a slot parks there
/// (486 when taken), each when the lot's `park` rule names the transferor (403 otherwise).
TransferTarget resolve_transfer(const DialPlan& dial_plan, const Registrar& registrar,
                                const Directory& directory, const ParkLots& parking,
                                const Party& transferor, std::string_view target);

/// The plan that rings `extension` again when a transfer it made failed after it hung up
/// (the recall): the extension's own ring plan, nullopt when it is no extension.
std::optional<RingPlan> recall_plan(const DialPlan& dial_plan, std::string_view extension);

}  // namespace catchline::pbx
