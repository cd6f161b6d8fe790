#include "pbx/pbx.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/thread_check.h"
#include "sip/builder.h"
#include "sip/headers/params.h"
#include "sip/headers/simple.h"
#include "store/writer.h"

namespace catchline::pbx {
namespace {

using sip::Header;
using sip::Method;
using sip::txn::ServerTransaction;

constexpr std::string_view kAllow =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY, REGISTER, SUBSCRIBE";

}  // namespace

Pbx::Pbx(base::TimerQueue& timers, PbxSettings settings, Directory directory,
         RegistrarSettings registrar, store::StoreWriter* writer)
    : timers_(timers),
      settings_(std::move(settings)),
      directory_(std::move(directory)),
      registrar_(timers, registrar, writer),
      writer_(writer),
      voicemail_(settings_.voicemail, writer),
      auth_(timers, settings_.domain, settings_.nonce_secret, settings_.digest_algorithms,
            settings_.security),
      dial_plan_(directory_),
      records_([this](store::CallRecord record) {
        if (writer_ != nullptr) {
          writer_->save_call(std::move(record));
        }
      }),
      pickup_(directory_, pickable_, calls_),
      presence_(static_cast<PresenceHost&>(*this), settings_.presence),
      mwi_(static_cast<PresenceHost&>(*this), settings_.presence),
      blf_(directory_, settings_.domain, presence_, calls_, pickup_) {
  dial_plan_.use_forwarding(forwarding_);
  voicemail_.on_change([this](const std::string& box) { box_changed(box); });
  // BLF replaces this listener; until then the changes are there for the debug log.
  pickable_.set_listener([](PickupScope scope, std::string_view name, bool pickable) {
    spdlog::debug("pickable {}={} state={}", scope == PickupScope::Number ? "number" : "group",
                  name, pickable ? "on" : "off");
  });
}

Pbx::~Pbx() = default;

void Pbx::attach(sip::txn::TransactionLayer& layer, LocalAddresses local) {
  layer_ = &layer;
  local_ = std::move(local);
  std::vector<std::string> names = local_.names;
  names.push_back(settings_.domain);
  auth_.attach(layer, std::move(names));
  pickup_.attach(layer);
  blf_.attach(layer);
}

void Pbx::attach_media(media::relay::MediaControl& relay, std::string address,
                       const media::audio::PromptSet* prompts) {
  relay_ = &relay;
  media_address_ = std::move(address);
  prompts_ = prompts;
}

MediaHost* Pbx::media_for(const Party& caller, const RingPlan& plan) {
  if (relay_ == nullptr) {
    return nullptr;
  }
  // Relayed unless every phone of the call is direct: one relayed phone (behind a NAT, say)
  // needs the relay whoever it talks to. A trunk and an unknown number follow media.mode.
  auto relayed = [&](const std::string& number) {
    const Extension* extension = directory_.find(number);
    const MediaMode mode =
        extension != nullptr && extension->media ? *extension->media : settings_.media;
    return mode == MediaMode::Relay;
  };
  if (relayed(caller.number)) {
    return this;
  }
  for (const RingMember& member : plan.members) {
    if (member.route || relayed(member.number)) {
      return this;
    }
  }
  return nullptr;
}

std::pair<Call*, LegId> Pbx::find_dialog(std::string_view call_id, std::string_view tag_a,
                                         std::string_view tag_b) {
  // One look-up in the dialog table per tag order (phones write Replaces' tags both ways),
  // then the call that indexed that dialog: flat however many calls run.
  for (const sip::dialog::DialogId id : {sip::dialog::DialogId{call_id, tag_a, tag_b},
                                         sip::dialog::DialogId{call_id, tag_b, tag_a}}) {
    const sip::dialog::DialogTable::Entry* entry = dialogs_.find(id);
    if (entry == nullptr) {
      continue;
    }
    auto owner = call_of_dialog_.find(entry->dialog);
    if (owner == call_of_dialog_.end()) {
      continue;  // a subscription's dialog
    }
    Call* call = calls_.find(owner->second);
    if (call != nullptr && !call->ended()) {
      return {call, call->leg_with(*entry->dialog)};
    }
  }
  return {nullptr, 0};
}

void Pbx::on_leg_inactive(const media::relay::LegInactive& event) {
  base::assert_on_signaling_thread();
  auto stream = streams_.find(event.leg);
  if (stream == streams_.end()) {
    return;  // its call ended meanwhile
  }
  if (Call* call = calls_.find(stream->second)) {
    spdlog::info("media silent call={} stream={} for={}s on_hold={}", call->id(), event.leg,
                 std::chrono::duration_cast<std::chrono::seconds>(event.silence).count(),
                 event.on_hold);
    const CallId id = call->id();
    call->media_timeout();
    calls_.reap(id);
  }
}

void Pbx::on_leg_closed(const media::relay::LegClosed& event) {
  const auto& stats = event.stats;
  spdlog::debug("media stream closed stream={} packets_in={} packets_out={} dropped_source={}",
                event.leg, stats.packets_in, stats.packets_out, stats.dropped_source);
  records_.closed(event);
}

void Pbx::on_record_ended(const media::relay::RecordEnded& event) {
  auto sink = recordings_.find(event.leg);
  if (sink != recordings_.end()) {
    RecordingSink done = std::move(sink->second);
    recordings_.erase(sink);
    done(media::audio::Sound{event.samples});
  }
  if (auto owner = streams_.find(event.leg); owner != streams_.end()) {
    if (Call* call = calls_.find(owner->second)) {
      call->recorded(event.duration());
      calls_.reap(owner->second);
    }
  }
}

void Pbx::box_changed(const std::string& box) {
  const MailboxCounts now = voicemail_.counts(box);
  mwi_.changed(box, now);
  const std::string account = "sip:" + box + "@" + settings_.domain;
  for (const Binding& binding : registrar_.bindings(box)) {
    if (!mwi_.subscribed(box, binding.source)) {
      mwi_.send_unsolicited(account, binding.contact, binding.source, now);
    }
  }
}

void Pbx::lamp_after_register(const std::string& box, const sip::transport::Peer& source) {
  // A phone that (re)registers while its box holds new messages learns it at once: after a
  // reboot its lamp is right without waiting for the next message.
  const MailboxCounts now = voicemail_.counts(box);
  if (now.new_messages == 0 || mwi_.subscribed(box, source)) {
    return;
  }
  for (const Binding& binding : registrar_.bindings(box)) {
    if (binding.source == source) {
      mwi_.send_unsolicited("sip:" + box + "@" + settings_.domain, binding.contact, binding.source,
                            now);
    }
  }
}

void Pbx::on_dtmf(const media::relay::DtmfEvent& event) {
  if (auto owner = streams_.find(event.leg); owner != streams_.end()) {
    if (Call* call = calls_.find(owner->second)) {
      call->dtmf(event.digit);
      calls_.reap(owner->second);
    }
  }
}

void Pbx::reload(Directory directory, RegistrarSettings registrar, PresenceSettings blf) {
  base::assert_on_signaling_thread();
  presence_.set_settings(blf);
  mwi_.set_settings(blf);
  directory_ = std::move(directory);
  dial_plan_.reload();
  registrar_.set_settings(registrar);
  spdlog::info("reloaded extensions={}", directory_.size());
}

void Pbx::shutdown() {
  base::assert_on_signaling_thread();
  shutting_down_ = true;
  presence_.shutdown();
  mwi_.shutdown();
  std::vector<CallId> ids;
  calls_.for_each([&](const Call& call) { ids.push_back(call.id()); });
  for (CallId id : ids) {
    if (Call* call = calls_.find(id)) {
      call->terminate("Server shutting down");
    }
  }
}

void Pbx::call_ended(Call& call) {
  pickable_.remove(call.id());
  std::vector<std::string> parties;  // by call leg
  for (const Leg& leg : call.legs()) {
    parties.push_back(leg.extension);
  }
  records_.ended(call.id(), call.record(), std::move(parties));
}

void Pbx::stream_closed(media::relay::LegId stream, LegId leg, const std::string& type) {
  auto found = streams_.find(stream);
  if (found == streams_.end()) {
    return;
  }
  records_.closing(stream, found->second, leg, type);
  streams_.erase(found);
}

void Pbx::on_request(const sip::Message& request, const sip::transport::Peer& source,
                     Start& start) {
  base::assert_on_signaling_thread();
  // The one router: a request inside a dialog goes to that dialog's usage (or gets 481); one
  // outside is authenticated first when it can cost money or reveal a call, and answered
  // without any state (no transaction, no call) when it is not.
  if (!request.to_tag().empty()) {
    ServerTransaction& t = start();
    handle_in_dialog(t, t.request());
    return;
  }
  switch (request.method()) {
    case Method::Invite: {
      if (const Trunk* trunk = dial_plan_.trunk_for(source)) {
        // A provider is known by its address; with inbound_auth it must also pass digest.
        if (trunk->inbound_auth && !auth_.trunk(request, source, *trunk)) {
          return;
        }
        ServerTransaction& t = start();
        handle_trunk_invite(t, t.request(), source, *trunk);
        return;
      }
      if (const Extension* caller = auth_.extension(request, source, directory_)) {
        ServerTransaction& t = start();
        handle_new_invite(t, t.request(), source, *caller);
      }
      return;
    }
    case Method::Register:
      if (const Extension* user = auth_.extension(request, source, directory_)) {
        ServerTransaction& t = start();
        registrar_.handle(*layer_, t, t.request(), source, user->number);
        lamp_after_register(user->number, source);
      }
      return;
    case Method::Subscribe:
      if (const Extension* watcher = auth_.extension(request, source, directory_)) {
        ServerTransaction& t = start();
        auto event = sip::parse_event(t.request().header_value(Header::Event).value_or(""));
        if (event && sip::iequals(event->package, MessageSummary::kEvent)) {
          // A message-waiting lamp: a phone watches its own box only.
          const std::string box = uri_user(t.request().request_uri());
          if (box != watcher->number) {
            layer_->respond(t, 403, watcher->number + " may not watch the box of " + box);
            return;
          }
          mwi_.subscribe(t, t.request(), source, box, voicemail_.counts(box),
                         "sip:" + box + "@" + settings_.domain);
          return;
        }
        blf_.subscribe(t, t.request(), source, *watcher);
      }
      return;
    case Method::Options: {
      ServerTransaction& t = start();
      auto ok = t.make_response(200);
      ok.header(Header::Allow, kAllow);
      ok.header(Header::AllowEvents, "dialog, presence, message-summary");
      ok.header(Header::Accept, "application/sdp");
      ok.header(Header::Supported, "replaces");
      layer_->send_response(t, 200, ok.finish());
      return;
    }
    case Method::Bye:
      layer_->respond(start(), 481);
      return;
    default: {
      ServerTransaction& t = start();
      auto response = t.make_response(405);
      response.header(Header::Allow, kAllow);
      layer_->send_response(t, 405, response.finish());
    }
  }
}

bool Pbx::refuse_new_call(sip::txn::ServerTransaction& t, const sip::Message& request) {
  if (shutting_down_) {
    layer_->respond(t, 503, "Server shutting down");
    return true;
  }
  // RFC 3261 §16.3 step 3: Max-Forwards 0 means the request looped or went too far.
  if (request.max_forwards() && *request.max_forwards() <= 0) {
    layer_->respond(t, 483);
    return true;
  }
  return false;
}

void Pbx::handle_new_invite(sip::txn::ServerTransaction& t, const sip::Message& request,
                            const sip::transport::Peer& source, const Extension& caller) {
  if (refuse_new_call(t, request)) {
    return;
  }
  if (auto value = request.header_value(Header::Replaces)) {
    // A BLF key on a parking slot names the parked call's dialog: a retrieve, not a pickup.
    if (auto replaces = sip::parse_replaces(*value)) {
      auto [call, leg] = find_dialog(replaces->call_id, replaces->to_tag, replaces->from_tag);
      if (call != nullptr && call->parked() && leg == call->parked_leg()) {
        const std::string slot = call->park_slot();
        retrieve(t, request, source, caller, call, slot);
        return;
      }
    }
    pickup_.by_replaces(t, request, source, caller);
    return;
  }
  const std::string dialled = uri_user(request.request_uri());
  if (auto place = parking_.find(dialled)) {
    if (place->slot.empty()) {
      layer_->respond(t, 404, dialled + " parks calls: transfer a call to it");
      return;
    }
    retrieve(t, request, source, caller, calls_.find(parking_.occupant(place->slot)), place->slot);
    return;
  }
  if (!voicemail_.settings().code.empty() && dialled == voicemail_.settings().code) {
    ServiceSpec box;
    box.kind = ServiceSpec::Kind::Mailbox;
    box.box = caller.number;
    box.disposition = "voicemail-box";
    start_service(t, request, source, caller, dialled, "Voicemail", std::move(box));
    return;
  }
  if (auto code = match_forward_code(dialled, directory_.forward_codes())) {
    set_forwarding(t, request, source, caller, *code);
    return;
  }
  if (PickupCode code = classify_pickup_code(dialled, directory_.pickup()); code.is_pickup) {
    pickup_.by_code(t, request, source, caller, code);
    return;
  }
  std::optional<RingPlan> plan = dial_plan_.outgoing(dialled);
  if (!plan) {
    spdlog::info("call refused caller={} dialled={} reason=\"no such number\"", caller.number,
                 dialled);
    layer_->respond(t, 404);
    return;
  }
  if (!directory_.may_call_out(caller, dialled)) {
    spdlog::info("call refused caller={} dialled={} reason=\"may not call out\"", caller.number,
                 dialled);
    layer_->respond(t, 403, caller.number + " may not call out to " + dialled);
    return;
  }
  start_call(t, request, source, Party{caller.number, caller.name}, dialled, std::move(*plan));
}

void Pbx::handle_trunk_invite(sip::txn::ServerTransaction& t, const sip::Message& request,
                              const sip::transport::Peer& source, const Trunk& trunk) {
  if (refuse_new_call(t, request)) {
    return;
  }
  std::string why_not;
  std::optional<InboundRoute> route = dial_plan_.inbound(trunk, request, why_not);
  if (!route) {
    layer_->respond(t, 404, why_not);
    return;
  }
  start_call(t, request, source, std::move(route->caller), std::move(route->did),
             std::move(route->plan));
}

void Pbx::start_call(sip::txn::ServerTransaction& t, const sip::Message& request,
                     const sip::transport::Peer& source, Party caller, std::string dialled,
                     RingPlan plan) {
  if (!reachable(plan)) {
    spdlog::info("call refused caller={} dialled={} reason=\"not registered\"", caller.number,
                 dialled);
    layer_->respond(t, 480, "Temporarily Unavailable");
    return;
  }
  Call& call = calls_.create(static_cast<CallHost&>(*this), std::move(caller), std::move(dialled));
  const CallId id = call.id();
  call.start(t, request, source, std::move(plan), settings_.no_answer_timeout);
  calls_.reap(id);
}

void Pbx::set_forwarding(sip::txn::ServerTransaction& t, const sip::Message& request,
                         const sip::transport::Peer& source, const Extension& caller,
                         const ForwardCodeMatch& code) {
  const ForwardChange& change = code.change;
  const std::string_view kind = forward_kind_name(change.kind);
  auto refuse = [&](int status, const std::string& reason) {
    spdlog::info("forward refused extension={} kind={} to={} status={} reason=\"{}\"",
                 caller.number, kind, change.target, status, reason);
    layer_->respond(t, status, reason);
  };
  if (code.missing_target) {
    refuse(484, "Dial the code, then the number to forward to");
    return;
  }
  if (change.target == caller.number) {
    refuse(403, caller.number + " cannot forward to itself");
    return;
  }
  ForwardChange wanted = change;
  if (!voicemail_.settings().code.empty() && wanted.target == voicemail_.settings().code) {
    wanted.target = "voicemail";  // *52*97: unanswered calls go to my box
  }
  if (!wanted.target.empty() && !directory_.may_call_out(caller, wanted.target)) {
    refuse(403, caller.number + " may not call out to " + wanted.target);
    return;
  }
  // The target must exist; whether it has a phone now is asked on each call.
  const bool exists = wanted.target == "voicemail" ? !voicemail_.settings().folder.empty()
                                                   : dial_plan_.outgoing(wanted.target).has_value();
  if (!wanted.target.empty() && !exists) {
    refuse(404, "Nothing at " + change.target + " to forward to");
    return;
  }
  ForwardSetting setting{caller.number, wanted.kind, wanted.target};
  forwarding_.set(setting);
  if (writer_ != nullptr) {
    writer_->save_forwarding(store::ForwardRow{caller.number, std::string(kind), wanted.target});
  }
  spdlog::info("forward set extension={} kind={} to={}", caller.number, kind,
               wanted.target.empty() ? "off" : wanted.target);
  // The phone hears what it set: "all calls now go to 1 0 0 3", "call forwarding is off".
  ServiceSpec confirmation;
  confirmation.kind = ServiceSpec::Kind::Announcement;
  confirmation.disposition = "feature";
  const std::string prompt = "forward_" + std::string(kind);
  if (wanted.target.empty()) {
    confirmation.prompts.push_back(prompt + "_off");
  } else if (wanted.target == "voicemail") {
    confirmation.prompts.push_back(prompt + "_on");
    confirmation.prompts.push_back("vm_voicemail");
  } else {
    confirmation.prompts.push_back(prompt + "_on");
    for (std::string& digit : media::audio::spoken_digits(wanted.target)) {
      confirmation.prompts.push_back(std::move(digit));
    }
  }
  start_service(t, request, source, caller, uri_user(request.request_uri()), "Call forwarding",
                std::move(confirmation));
}

bool Pbx::reachable(const RingPlan& plan) const {
  // A forward always or on no answer goes on elsewhere; its target is checked when it rings.
  return plan.service != nullptr || !plan.forward.always.empty() ||
         !plan.forward.no_answer.empty() ||
         std::any_of(plan.members.begin(), plan.members.end(), [&](const RingMember& member) {
           return member.route || !registrar_.bindings(member.number).empty();
         });
}

void Pbx::start_service(sip::txn::ServerTransaction& t, const sip::Message& request,
                        const sip::transport::Peer& source, const Extension& caller,
                        std::string dialled, std::string name, ServiceSpec spec) {
  RingPlan plan;
  plan.number = dialled;
  plan.name = std::move(name);
  plan.service = std::make_shared<const ServiceSpec>(std::move(spec));
  start_call(t, request, source, Party{caller.number, caller.name}, std::move(dialled),
             std::move(plan));
}

std::unique_ptr<Service> Pbx::make_service(const ServiceSpec& spec) {
  switch (spec.kind) {
    case ServiceSpec::Kind::Voicemail:
      return std::make_unique<LeaveMessage>(voicemail_, spec.box);
    case ServiceSpec::Kind::Mailbox:
      return std::make_unique<ListenToBox>(voicemail_, spec.box);
    case ServiceSpec::Kind::Announcement:
      break;
  }
  return std::make_unique<Announcement>(spec.prompts);
}

std::optional<RingPlan> Pbx::forward_plan(std::string_view target, std::string_view from) {
  // "voicemail" (the box of whoever forwards), "voicemail:1002" (that box), "announcement"
  // (nobody is available, then the server hangs up); else a number.
  std::string_view box;
  if (target == "voicemail") {
    box = from;
  } else if (target.starts_with("voicemail:")) {
    box = target.substr(10);
  } else if (target == "announcement") {
    RingPlan plan;
    plan.number = std::string(from);
    plan.name = "Announcement";
    auto spec = std::make_shared<ServiceSpec>();
    spec->prompts = {directory_.find(from) != nullptr ? "not_available" : "nobody_available"};
    spec->disposition = "announcement";
    plan.service = std::move(spec);
    return plan;
  } else {
    // An outside target is checked against the forwarding extension's right to call out
    // when it is set and again on every call (toll fraud: the right may have gone since).
    const Extension* forwarder = directory_.find(from);
    if (forwarder != nullptr && !directory_.may_call_out(*forwarder, target)) {
      spdlog::warn("forward refused from={} to={} reason=\"may not call out\"", from, target);
      return std::nullopt;
    }
    // A target with no phone to ring is no forward: the number last reached keeps ringing
    // (or the call ends as it would have), never a call cut short by a colleague logged off.
    std::optional<RingPlan> plan = dial_plan_.outgoing(target);
    if (plan && !reachable(*plan)) {
      spdlog::info("forward skipped from={} to={} reason=\"not registered\"", from, target);
      return std::nullopt;
    }
    return plan;
  }
  if (directory_.find(box) == nullptr || voicemail_.settings().folder.empty()) {
    return std::nullopt;  // no box: the number last reached keeps ringing
  }
  RingPlan plan;
  plan.number = std::string(box);
  plan.name = "Voicemail";
  auto spec = std::make_shared<ServiceSpec>();
  spec->kind = ServiceSpec::Kind::Voicemail;
  spec->box = std::string(box);
  spec->disposition = "voicemail";
  plan.service = std::move(spec);
  return plan;
}

void Pbx::retrieve(sip::txn::ServerTransaction& t, const sip::Message& request,
                   const sip::transport::Peer& source, const Extension& caller, Call* call,
                   const std::string& slot) {
  auto refuse = [&](int status, const std::string& reason) {
    spdlog::info("retrieve refused slot={} by={} status={} reason=\"{}\"", slot, caller.number,
                 status, reason);
    layer_->respond(t, status, reason);
  };
  auto place = parking_.find(slot);
  if (place && !named_by(caller, place->lot->retrieve)) {
    refuse(403, caller.number + " may not retrieve from " + place->lot->name);
    return;
  }
  if (call == nullptr || !call->parked() || call->park_slot() != slot) {
    refuse(404, "Nothing parked at " + slot);  // never parks the dialler
    return;
  }
  const CallId id = call->id();
  switch (call->retrieve(t, request, source,
                         Pickup{Party{caller.number, caller.name}, PickupKind::Directed, slot})) {
    case PickupResult::Done:
      break;
    case PickupResult::NotPickable:
      refuse(404, "Nothing parked at " + slot);
      break;
    case PickupResult::NoCommonMedia:
      refuse(488, "No media in common with the parked call");
      break;
    case PickupResult::BadRequest:
      refuse(400, "Bad request: no usable Contact");
      break;
    case PickupResult::NoMediaPorts:
      refuse(503, "No media relay ports free");
      break;
  }
  calls_.reap(id);
}

void Pbx::park_changed(Call& call, const std::string& slot, bool parked) {
  if (parked) {
    parking_.occupy(slot, call.id());
  } else {
    parking_.release(slot, call.id());
  }
  blf_.slot_changed(call, slot, parked);
}

void Pbx::handle_in_dialog(sip::txn::ServerTransaction& t, const sip::Message& request) {
  const sip::dialog::DialogTable::Entry* entry = dialogs_.find_for_request(request);
  if (entry == nullptr) {
    layer_->respond(t, 481);
    return;
  }
  entry->usage->on_in_dialog_request(*entry->dialog, t, request);
}

void Pbx::on_stray_ack(const sip::Message&, const sip::transport::Peer&) {
  // The ACK of a challenge or a late duplicate: nothing to do, by design.
}

void Pbx::on_stray_response(const sip::Message& response, const sip::transport::Peer&) {
  base::assert_on_signaling_thread();
  // A 2xx retransmitted after its INVITE transaction ended: our ACK was lost.
  if (response.cseq_method() != Method::Invite || response.status() < 200 ||
      response.status() >= 300) {
    return;
  }
  if (const sip::dialog::DialogTable::Entry* entry = dialogs_.find_for_response(response)) {
    entry->usage->on_stray_2xx(*entry->dialog, response);
  }
}

}  // namespace catchline::pbx
