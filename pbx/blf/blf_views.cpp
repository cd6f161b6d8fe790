#include "pbx/blf/blf_views.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "pbx/park/park_lots.h"
#include "pbx/routing/dial_plan.h"

namespace catchline::pbx {
namespace {

// The user part of resource list URIs: "blf-1001" is extension 1001's `blf_list`.
constexpr std::string_view kBlfListPrefix = "blf-";

// The user part of pickup-group URIs: "pickup-reception" shows every pickable call of
// call group reception to the members of that pickup group.
constexpr std::string_view kPickupGroupPrefix = "pickup-";

}  // namespace

void BlfViews::subscribe(sip::txn::ServerTransaction& t, const sip::Message& request,
                         const sip::transport::Peer& source, const Extension& watcher) {
  const std::string resource = uri_user(request.request_uri());
  auto uri_of = [&](const std::string& number) { return "sip:" + number + "@" + domain_; };
  auto refuse = [&](int status, std::string_view reason) {
    spdlog::info("subscribe refused watcher={} resource={} status={} reason=\"{}\"", watcher.number,
                 resource, status, reason);
  };
  // A resource list (RFC 4662): "blf-NUMBER" is the `blf_list` of extension NUMBER, for it
  // alone; each key is shown when its owner may watch it.
  // A pickup group (pickup alerts): every pickable call of that group, for its pickers.
  if (resource.starts_with(kPickupGroupPrefix)) {
    const std::string group = resource.substr(kPickupGroupPrefix.size());
    const auto& groups = watcher.pickup_groups;
    if (std::find(groups.begin(), groups.end(), group) == groups.end()) {
      refuse(403, "not in that pickup group");
      layer_->respond(t, 403, "Not allowed to watch " + resource);
      return;
    }
    presence_.subscribe(t, request, source, watcher.number,
                        {WatchTarget{resource, uri_of(resource)}}, uri_of(resource), false);
    return;
  }
  if (resource.starts_with(kBlfListPrefix)) {
    const Extension* owner =
        directory_.find(std::string_view(resource).substr(kBlfListPrefix.size()));
    if (owner == nullptr || owner->blf_list.empty()) {
      refuse(404, "no such list");
      layer_->respond(t, 404);
      return;
    }
    if (owner->number != watcher.number) {
      refuse(403, "not its own list");
      layer_->respond(t, 403, "Not allowed to watch " + resource);
      return;
    }
    std::vector<WatchTarget> targets;
    for (const std::string& number : owner->blf_list) {
      targets.push_back(WatchTarget{number, uri_of(number), may_watch(watcher, number)});
    }
    presence_.subscribe(t, request, source, watcher.number, std::move(targets), uri_of(resource),
                        true);
    return;
  }
  if (auto place = ParkLots(directory_).find(resource); place && !place->slot.empty()) {
    // A parking slot's key: lit while a call waits there, for whoever may retrieve it.
    if (!named_by(watcher, place->lot->retrieve)) {
      refuse(403, "may not retrieve from that lot");
      layer_->respond(t, 403, "Not allowed to watch " + resource);
      return;
    }
    presence_.subscribe(t, request, source, watcher.number,
                        {WatchTarget{resource, uri_of(resource)}}, uri_of(resource), false);
    return;
  }
  if (directory_.find(resource) == nullptr && directory_.find_ring_group(resource) == nullptr) {
    refuse(404, "no such number");
    layer_->respond(t, 404);
    return;
  }
  if (!may_watch(watcher, resource)) {
    refuse(403, "not allowed");
    layer_->respond(t, 403, "Not allowed to watch " + resource);
    return;
  }
  presence_.subscribe(t, request, source, watcher.number, {WatchTarget{resource, uri_of(resource)}},
                      uri_of(resource), false);
}

DialogView BlfViews::view_of(const Call& call, const Leg& leg) const {
  DialogView view;
  view.id = std::to_string(call.id()) + "-" + std::to_string(leg.id);
  const bool over =
      call.ended() || leg.state == LegState::Cancelling || leg.state == LegState::Ended;
  view.phase = over                              ? DialogPhase::Terminated
               : leg.state == LegState::Answered ? DialogPhase::Confirmed
                                                 : DialogPhase::Early;
  if (view.phase == DialogPhase::Terminated) {
    // RFC 4235 §4.1.2: a call that was never answered ended by being cancelled.
    const bool talked =
        call.answered() && (leg.caller || leg.picker || call.answered_leg() == leg.id);
    view.event = leg.final_status >= 300 ? "rejected" : talked ? "remote-bye" : "cancelled";
  }
  const std::string& domain = domain_;
  view.local_uri = "sip:" + leg.extension + "@" + domain;
  auto party_uri = [&](const Party& party) { return "sip:" + party.number + "@" + domain; };
  const Extension* self = directory_.find(leg.extension);
  if (leg.caller || leg.picker) {
    // A dialog this extension started (its INVITE to us): tags as the phone knows them.
    if (leg.dialog) {
      view.call_id = leg.dialog->call_id();
      view.local_tag = leg.dialog->remote_tag();
      view.remote_tag = leg.dialog->local_tag();
    }
    view.initiator = true;
    const Party& other = leg.caller ? call.callee() : call.caller();
    view.remote_display = other.name;
    view.remote_uri = party_uri(other);
  } else {
    view.call_id = leg.call_id;
    view.remote_tag = leg.from_tag;
    if (leg.dialog) {
      view.local_tag = leg.dialog->remote_tag();
    }
    view.remote_display = call.caller().name;
    view.remote_uri = party_uri(call.caller());
    if (view.phase == DialogPhase::Early) {
      // A dialable pickup target (FreeSWITCH writes the same): phones that call the remote
      // target from the BLF key pick the call up.
      view.remote_target =
          "sip:" + directory_.pickup().directed_prefix + leg.extension + "@" + domain;
    }
  }
  if (self != nullptr && self->blf_private) {
    view.remote_display.clear();
    view.remote_uri.clear();
  }
  return view;
}

void BlfViews::leg_changed(const Call& call, const Leg& leg) {
  if (presence_.subscription_count() == 0) {
    return;
  }
  DialogView view = view_of(call, leg);
  presence_.update(leg.extension, view);
  if (leg.caller || leg.picker) {
    return;
  }
  const RingPlan& plan = call.plan_of(leg);
  if (plan.ring_group) {
    presence_.update(plan.number, view);
  }
  for (const std::string& resource : group_resources(call, leg)) {
    presence_.update(resource, view);
  }
}

DialogView BlfViews::slot_view(const Call& call, const std::string& slot, bool parked) const {
  // The parked phone's dialog with the server, named so that a key's INVITE with Replaces finds
  // the parked call (Pbx::retrieve), and dialable: calling the slot retrieves it too.
  DialogView view;
  view.id = std::to_string(call.id()) + "-park";
  view.phase = parked ? DialogPhase::Confirmed : DialogPhase::Terminated;
  if (!parked) {
    view.event = "remote-bye";
  }
  view.local_uri = "sip:" + slot + "@" + domain_;
  view.remote_target = view.local_uri;
  const LegId waiting = call.parked_leg();
  if (waiting != kNoLeg && waiting < call.legs().size()) {
    const Leg& leg = call.legs()[waiting];
    if (leg.dialog) {
      view.call_id = leg.dialog->call_id();
      view.local_tag = leg.dialog->local_tag();
      view.remote_tag = leg.dialog->remote_tag();
    }
    view.remote_display = leg.name;
    view.remote_uri = "sip:" + leg.extension + "@" + domain_;
  }
  return view;
}

void BlfViews::slot_changed(const Call& call, const std::string& slot, bool parked) {
  if (presence_.subscription_count() == 0) {
    return;
  }
  presence_.update(slot, slot_view(call, slot, parked));
}

void BlfViews::pickup_alert(const Call& call) {
  spdlog::info("pickup alert call={} dialled={}", call.id(), call.dialled());
  for (const Leg& leg : call.legs()) {
    leg_changed(call, leg);
  }
}

std::vector<std::string> BlfViews::group_resources(const Call& call, const Leg& leg) const {
  std::vector<std::string> resources;
  const RingPlan& plan = call.plan_of(leg);
  const RingMember& member = plan.members[leg.member];
  if (member.pickup_alert && !call.alerted()) {
    return resources;
  }
  for_each_pickup_group(plan, member, [&](const std::string& group) {
    std::string name = std::string(kPickupGroupPrefix) + group;
    if (std::find(resources.begin(), resources.end(), name) == resources.end()) {
      resources.push_back(std::move(name));
    }
  });
  return resources;
}

std::vector<DialogView> BlfViews::dialogs_of(const std::string& resource) const {
  std::vector<DialogView> views;
  const bool pickup_group = resource.starts_with(kPickupGroupPrefix);
  calls_.for_each([&](const Call& each) {
    const Call* call = &each;
    if (call->ended()) {
      return;
    }
    if (call->parked() && call->park_slot() == resource) {
      views.push_back(slot_view(*call, resource, true));
    }
    for (const Leg& leg : call->legs()) {
      const RingPlan& plan = call->plan_of(leg);
      const bool group = plan.ring_group && plan.number == resource;
      const bool callee = !leg.caller && !leg.picker;
      bool in_group = false;
      if (callee && pickup_group) {
        auto names = group_resources(*call, leg);
        in_group = std::find(names.begin(), names.end(), resource) != names.end();
      }
      if (leg.extension == resource || (group && callee) || in_group) {
        DialogView view = view_of(*call, leg);
        if (view.phase != DialogPhase::Terminated) {
          views.push_back(std::move(view));
        }
      }
    }
  });
  return views;
}

}  // namespace catchline::pbx
