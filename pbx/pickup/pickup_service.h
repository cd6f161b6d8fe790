#pragma once

#include <string>
#include <string_view>

#include "pbx/call/call_table.h"
#include "pbx/pickup/pickup_index.h"
#include "pbx/pickup/pickup_rules.h"
#include "pbx/routing/directory.h"
#include "sip/message.h"
#include "sip/transport/peer.h"
#include "sip/txn/transaction_layer.h"

namespace catchline::pbx {

/// Call pickup (DESIGN.md §4) by every path a phone has: a code (`*8`, `**N`) and an INVITE
/// with Replaces from a BLF key. Each path finds its call and asks the one rule
/// (may_pick_up()); the call then answers the picker and the caller at once. Every refusal
/// says why, in the status line and the log.
/// Owned by the signaling thread.
class PickupService {
 public:
  PickupService(const Directory& directory, PickupIndex& pickable, CallTable& calls)
      : directory_(directory), pickable_(pickable), calls_(calls) {}

  void attach(sip::txn::TransactionLayer& layer) { layer_ = &layer; }

  /// `*8` or `**NUMBER`: checks the picker's permission, chooses the oldest call the rule
  /// allows and hands it the picker's INVITE; else a final response that says why (403 not
  /// allowed, 404 no such number, 480 nothing to pick up).
  void by_code(sip::txn::ServerTransaction& t, const sip::Message& request,
               const sip::transport::Peer& source, const Extension& picker, const PickupCode& code);
  /// INVITE with Replaces (RFC 3891) naming a ringing callee leg: a BLF pickup with the
  /// directed rule, applied to whatever rings the call now. Permission is checked before
  /// anything is said about the dialog: 403, then 481 when no such dialog (or its non-empty
  /// tags contradict it), then 486 (early-only) or 403 for an answered one.
  void by_replaces(sip::txn::ServerTransaction& t, const sip::Message& request,
                   const sip::transport::Peer& source, const Extension& picker);

  /// The directed-pickup rule for `number` (an extension or ring group as a whole: its own
  /// rule or any unprotected member's), own number allowed. Says nothing of what rings.
  PickupVerdict may_intercept(const Extension& picker, std::string_view number) const;

 private:
  /// Hands the picker's INVITE to `call` and answers the refusals Call::pick_up() reports.
  void run(sip::txn::ServerTransaction& t, const sip::Message& request,
           const sip::transport::Peer& source, Call& call, const Pickup& pickup);
  /// The extension or ring group an INVITE with Replaces names in its Request-URI (N, or the
  /// directed code and N, as keys dial the watched URI or `<remote><target>`), or "".
  std::string replaces_target(const sip::Message& request) const;
  void refuse(sip::txn::ServerTransaction& t, std::string_view picker, std::string_view target,
              std::string_view how, int status, const std::string& reason);

  const Directory& directory_;
  PickupIndex& pickable_;
  CallTable& calls_;
  sip::txn::TransactionLayer* layer_ = nullptr;
};

}  // namespace catchline::pbx
