#include "pbx/pickup/pickup_service.h"

#include <spdlog/spdlog.h>

#include <optional>
#include <vector>

#include "base/thread_check.h"
#include "pbx/routing/dial_plan.h"
#include "sip/headers/simple.h"

namespace catchline::pbx {
namespace {

using sip::Header;

/// The 403 reason of a refused pickup, the same on every path.
std::string not_allowed_reason(PickupVerdict verdict, const std::string& target) {
  return "Pickup of " + target + " is not allowed" +
         (verdict == PickupVerdict::Protected ? ": protected" : "");
}

}  // namespace

void PickupService::refuse(sip::txn::ServerTransaction& t, std::string_view picker,
                           std::string_view target, std::string_view how, int status,
                           const std::string& reason) {
  spdlog::info("pickup refused picker={} target={} how={} status={} reason=\"{}\"", picker,
               target.empty() ? "-" : target, how, status, reason);
  layer_->respond(t, status, reason);
}

void PickupService::by_code(sip::txn::ServerTransaction& t, const sip::Message& request,
                            const sip::transport::Peer& source, const Extension& picker,
                            const PickupCode& code) {
  base::assert_on_signaling_thread();
  const std::string_view how = pickup_kind_name(code.kind);
  auto refuse = [&](int status, const std::string& reason, std::string_view target) {
    this->refuse(t, picker.number, target, how, status, reason);
  };
  // A caller never picks up its own outgoing call (DESIGN.md §4).
  // The index finds the candidates; the one rule decides, and never the picker's own call.
  auto may_take = [&](PickupKind how) {
    return [&, how](PickupIndex::CallKey id) {
      const Call* call = calls_.find(id);
      const PickupKeys* keys = pickable_.keys_of(id);
      return call != nullptr && keys != nullptr &&
             (call->caller().external || call->caller().number != picker.number) &&
             may_pick_up(picker, how, *keys) == PickupVerdict::Allowed;
    };
  };
  std::optional<PickupIndex::CallKey> chosen;
  std::string target;
  if (code.kind == PickupKind::Group) {
    if (picker.pickup_groups.empty()) {
      refuse(403, "No pickup groups", {});
      return;
    }
    chosen = pickable_.oldest_in_groups(picker.pickup_groups, may_take(PickupKind::Group));
    if (!chosen) {
      refuse(480, "No call to pick up", {});
      return;
    }
    target = calls_.find(*chosen)->target();
  } else {
    target = std::string(code.number);
    if (directory_.find(target) == nullptr && directory_.find_ring_group(target) == nullptr) {
      refuse(404, "No such number", target);
      return;
    }
    // Permission first, from the configuration alone, so that a refusal says nothing of what
    // rings; then the oldest call this picker may take by whatever rings it now.
    const PickupVerdict verdict = may_intercept(picker, target);
    if (verdict != PickupVerdict::Allowed) {
      refuse(403, not_allowed_reason(verdict, target), target);
      return;
    }
    chosen = pickable_.oldest_by_number(target, may_take(PickupKind::Directed));
    if (!chosen) {
      refuse(480, "Nothing ringing at " + target, target);
      return;
    }
  }
  run(t, request, source, *calls_.find(*chosen),
      Pickup{Party{picker.number, picker.name}, code.kind, target});
}

void PickupService::run(sip::txn::ServerTransaction& t, const sip::Message& request,
                        const sip::transport::Peer& source, Call& call, const Pickup& pickup) {
  const CallId id = call.id();
  auto refuse = [&](int status, const std::string& reason) {
    this->refuse(t, pickup.picker.number, pickup.target, pickup_kind_name(pickup.kind), status,
                 reason);
  };
  switch (call.pick_up(t, request, source, pickup)) {
    case PickupResult::Done:
      break;
    case PickupResult::NotPickable:
      refuse(480, "No call to pick up");
      break;
    case PickupResult::NoCommonMedia:
      refuse(488, "No media in common with the caller");
      break;
    case PickupResult::BadRequest:
      refuse(400, "Bad pickup request: no usable Contact");
      break;
    case PickupResult::NoMediaPorts:
      refuse(503, "No media relay ports free");
      break;
  }
  calls_.reap(id);
}

std::string PickupService::replaces_target(const sip::Message& request) const {
  std::string dialled = uri_user(request.request_uri());
  if (PickupCode code = classify_pickup_code(dialled, directory_.pickup());
      code.is_pickup && code.kind == PickupKind::Directed) {
    dialled = std::string(code.number);
  }
  const bool known =
      directory_.find(dialled) != nullptr || directory_.find_ring_group(dialled) != nullptr;
  return known ? dialled : std::string();
}

PickupVerdict PickupService::may_intercept(const Extension& picker, std::string_view number) const {
  if (number == picker.number) {
    return PickupVerdict::Allowed;  // your own extension's calls are yours, from any phone
  }
  if (const Extension* extension = directory_.find(number)) {
    return may_directed_pickup(picker, PickupTarget::of(*extension));
  }
  if (const RingGroup* group = directory_.find_ring_group(number)) {
    std::vector<PickupTarget> members;
    for (const std::string& member : group->members) {
      if (const Extension* extension = directory_.find(member)) {
        members.push_back(PickupTarget::of(*extension));
      }
    }
    return may_pick_up_ring_group(picker, PickupTarget::of(*group), members);
  }
  return PickupVerdict::NotAllowed;
}

void PickupService::by_replaces(sip::txn::ServerTransaction& t, const sip::Message& request,
                                const sip::transport::Peer& source, const Extension& picker) {
  base::assert_on_signaling_thread();
  auto refuse = [&](int status, const std::string& reason, std::string_view target) {
    this->refuse(t, picker.number, target, "blf", status, reason);
  };
  auto refuse_not_allowed = [&](PickupVerdict verdict, const std::string& target) {
    refuse(403, not_allowed_reason(verdict, target), target);
  };
  auto replaces = sip::parse_replaces(*request.header_value(Header::Replaces));
  if (!replaces) {
    refuse(400, replaces.error().reason, {});
    return;
  }
  // The Request-URI differs by vendor (remote target, watched URI, **ext): only the dialog
  // named in Replaces counts (../shared/PHONES.md).
  const CallTable::LegRef named_leg = calls_.find_leg(replaces->call_id);
  Call* call = named_leg.call;
  if (call == nullptr) {
    // Permission before anything is said about dialogs: a picker that may take no call but
    // its own learns nothing from a 481, and neither does one the number it dialled refuses.
    const std::string named = replaces_target(request);
    const PickupVerdict verdict =
        named.empty() ? PickupVerdict::Allowed : may_intercept(picker, named);
    if (verdict != PickupVerdict::Allowed) {
      refuse_not_allowed(verdict, named);
    } else if (picker.pickup_groups.empty() && picker.directed_pickup.empty()) {
      refuse(403, "Pickup is not allowed", {});
    } else {
      refuse(481, "No such dialog", {});
    }
    return;
  }
  const Leg& leg = call->legs()[named_leg.leg];
  // Permission first (DESIGN.md §4), then whether the tags and the state fit. A ringing call is
  // judged by whatever rings it now (a ring group's call by the group's rule and its ringing
  // members'); an answered one by the rule of the number that rang, so early-only gets its 486.
  const RingPlan& plan = call->plan_of(leg);  // a transfer's target: the plan it rang for
  const bool ring_group = plan.ring_group;
  PickupVerdict verdict = PickupVerdict::NotAllowed;
  if (call->pickable()) {
    const PickupKeys* keys = pickable_.keys_of(call->id());
    verdict =
        keys != nullptr ? may_pick_up(picker, PickupKind::Blf, *keys) : PickupVerdict::NotAllowed;
    const bool member_protected =
        leg.member < plan.members.size() && plan.members[leg.member].pickup_protected;
    if (verdict != PickupVerdict::Allowed &&
        (plan.pickup_protected || (member_protected && !ring_group))) {
      verdict = PickupVerdict::Protected;
    }
  } else {
    verdict = may_intercept(picker, leg.extension);
    if (verdict != PickupVerdict::Allowed && ring_group) {
      verdict = may_intercept(picker, plan.number);
    }
  }
  if (verdict != PickupVerdict::Allowed) {
    refuse_not_allowed(verdict, ring_group ? plan.number : leg.extension);
    return;
  }
  // RFC 3891 §3 names our tag (S, the leg's From tag) as to-tag and the phone's (C) as
  // from-tag; phones also send them swapped, or leave them out (Snom), or send an empty one
  // when the key was pressed before the phone's 18x gave its tag: accept each, refuse a tag
  // that contradicts the leg.
  const std::string local_tag = leg.dialog ? leg.dialog->remote_tag() : std::string();
  auto known = [&](std::string_view tag) {
    return tag.empty() || tag == "0" || tag == leg.from_tag ||
           (!local_tag.empty() && tag == local_tag);
  };
  if (!known(replaces->to_tag) || !known(replaces->from_tag)) {
    refuse(481, "No such dialog", leg.extension);
    return;
  }
  const bool ringing = leg.state == LegState::Calling || leg.state == LegState::Ringing;
  if (!ringing || !call->pickable()) {
    // Never a way to barge into an answered call (RFC 3891 §3: early-only wants 486).
    if (replaces->early_only) {
      refuse(486, "Call already answered", leg.extension);
    } else {
      refuse(403, "Replaces only picks up ringing calls", leg.extension);
    }
    return;
  }
  if (!call->caller().external && call->caller().number == picker.number) {
    refuse(480, "No call to pick up", leg.extension);
    return;
  }
  run(t, request, source, *call,
      Pickup{Party{picker.number, picker.name}, PickupKind::Blf, leg.extension});
}

}  // namespace catchline::pbx
