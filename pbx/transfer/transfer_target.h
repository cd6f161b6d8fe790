#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pbx/routing/ring_plan.h"

namespace catchline::pbx {

class DialPlan;
class Registrar;

/// What a blind transfer rings, or why it may not: the status and reason phrase of the final
/// response to the REFER (RFC 3515 §2.4.2 allows refusing it before any NOTIFY).
struct TransferTarget {
  std::optional<RingPlan> plan;
  int status = 0;
  std::string reason;
};

/// The one rule for a transfer by `transferor` to the number `target` (issue 12, DESIGN.md §4):
/// only an extension transfers (a party outside, reached through a trunk, could otherwise send
/// the call out again at the office's cost); the target is what that extension may dial itself
/// (the same dial plan, so the same right to call out through a trunk); and something of it
/// must be reachable (a registered phone or a trunk), else the REFER gets 480 at once.
TransferTarget resolve_transfer(const DialPlan& dial_plan, const Registrar& registrar,
                                const Party& transferor, std::string_view target);

/// The plan that rings `extension` again when a transfer it made failed after it hung up
/// (the recall): the extension's own ring plan, nullopt when it is no extension.
std::optional<RingPlan> recall_plan(const DialPlan& dial_plan, std::string_view extension);

}  // namespace catchline::pbx
