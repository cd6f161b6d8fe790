#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pbx/blf/dialog_info.h"
#include "pbx/blf/presence.h"
#include "pbx/call/call_table.h"
#include "pbx/pickup/pickup_service.h"
#include "pbx/routing/directory.h"
#include "sip/message.h"
#include "sip/transport/peer.h"
#include "sip/txn/transaction_layer.h"

namespace catchline::pbx {

/// What BLF keys show of calls (DESIGN.md §5), and who may watch what: an extension, a ring
/// group, a resource list ("blf-N", extension N's `blf_list`) or a pickup group
/// ("pickup-G", every pickable call of call group G, for G's pickers). Turns each change of a
/// call leg into dialog views for the Presence server.
/// Owned by the signaling thread.
class BlfViews {
 public:
  BlfViews(const Directory& directory, const std::string& domain, Presence& presence,
           const CallTable& calls, const PickupService& pickup)
      : directory_(directory),
        domain_(domain),
        presence_(presence),
        calls_(calls),
        pickup_(pickup) {}

  void attach(sip::txn::TransactionLayer& layer) { layer_ = &layer; }

  /// SUBSCRIBE to an extension, ring group, list or pickup group: authorised when the
  /// watcher may pick it up (or it is the watcher's own), or a `blf:` rule allows it, else
  /// 403; unknown numbers 404.
  void subscribe(sip::txn::ServerTransaction& t, const sip::Message& request,
                 const sip::transport::Peer& source, const Extension& watcher);

  /// A leg appeared or changed state: every resource that shows it is updated.
  void leg_changed(const Call& call, const Leg& leg);
  /// The call has rung as long as its pickup_alert members' delay: pickup groups see it now.
  void pickup_alert(const Call& call);
  /// A call started or stopped waiting on parking slot `slot`: the slot's key shows it.
  void slot_changed(const Call& call, const std::string& slot, bool parked);
  /// The dialogs `resource` has now, for a subscription's first NOTIFY.
  std::vector<DialogView> dialogs_of(const std::string& resource) const;

 private:
  /// What a parking slot's key shows of the call waiting there (Terminated once it left).
  DialogView slot_view(const Call& call, const std::string& slot, bool parked) const;
  /// BLF: may pick it up, or a `blf:` rule allows watching it.
  bool may_watch(const Extension& watcher, std::string_view number) const {
    return pickup_.may_intercept(watcher, number) == PickupVerdict::Allowed ||
           directory_.blf_rule_allows(watcher, number);
  }
  /// How BLF shows one leg of a call on the extension `resource`.
  DialogView view_of(const Call& call, const Leg& leg) const;
  /// The pickup-group resources ("pickup-GROUP") a callee leg shows in now: its member's and
  /// the ring group's call groups, unless protected, and for pickup_alert members only once
  /// the call is alerted.
  std::vector<std::string> group_resources(const Call& call, const Leg& leg) const;

  const Directory& directory_;
  const std::string& domain_;
  Presence& presence_;
  const CallTable& calls_;
  const PickupService& pickup_;
  sip::txn::TransactionLayer* layer_ = nullptr;
};

}  // namespace catchline::pbx
