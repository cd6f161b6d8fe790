#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "pbx/routing/directory.h"
#include "sip/transport/peer.h"

namespace catchline::pbx {

struct ServiceSpec;

/// Who is calling, as the callee should see it.
struct Party {
  std::string number;
  std::string name;
  bool external = false;  // came in through a trunk: its number is not an extension's
};

/// Where a trunk member's INVITE goes, copied from the trunk when the call starts.
struct TrunkRoute {
  std::string trunk;  // its name, for logs
  std::string uri;    // the Request-URI: sip:NUMBER@gateway
  sip::transport::Peer peer;
  std::string username;  // answers the gateway's 401/407, when set
  std::string password;
  std::string caller_id;  // the From user; "" = the caller's number
};

/// One extension a call rings, with what pickup needs of it. Copied from the directory when
/// the call starts: a reload may replace the directory while the call rings.
struct RingMember {
  std::string number;
  std::string name;
  std::vector<std::string> call_groups;
  bool pickup_protected = false;
  bool completed_elsewhere = true;  // its phones get RFC 3326 "Call completed elsewhere"
  bool pickup_alert = false;        // shown to pickup-group watchers only after alert delay
  std::chrono::milliseconds pickup_alert_delay{6'000};
  // Set: this member is a number outside, rung through a trunk; never pickable.
  std::shared_ptr<const TrunkRoute> route;
};

/// What a call rings: one extension, or a ring group's members, all at once or one after the
/// other for `member_ring_time` each.
struct RingPlan {
  std::string number;  // the number dialled: an extension or a ring group
  std::string name;
  bool ring_group = false;
  std::vector<std::string> call_groups;  // the ring group's own
  bool pickup_protected = false;
  RingStrategy strategy = RingStrategy::RingAll;
  std::chrono::milliseconds member_ring_time{15'000};
  std::vector<RingMember> members;
  Forwarding forward;  // the extension's own, when the plan rings one extension
  // Set: no phone rings; the server answers with this service (pbx/call/service.h).
  std::shared_ptr<const ServiceSpec> service;
};

/// Calls `f(group)` for each call group that a ringing leg of `member` puts its call in
/// (DESIGN.md §4): the member's own, unless it is protected or a number outside, and the ring
/// group's; none at all when the ring group is protected. The one definition behind the pickup
/// index and the pickup-group subscriptions.
template <typename F>
void for_each_pickup_group(const RingPlan& plan, const RingMember& member, F&& f) {
  if (plan.ring_group && plan.pickup_protected) {
    return;  // a protected ring group's calls are nobody's to take, by any path
  }
  if (!member.pickup_protected && !member.route) {
    for (const std::string& group : member.call_groups) {
      f(group);
    }
  }
  if (plan.ring_group && !plan.pickup_protected) {
    for (const std::string& group : plan.call_groups) {
      f(group);
    }
  }
}

}  // namespace catchline::pbx
