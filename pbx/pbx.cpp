#include "pbx/pbx.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "sip/builder.h"
#include "sip/headers/name_addr.h"
#include "sip/headers/params.h"
#include "sip/uri.h"
#include "store/writer.h"

namespace catchline::pbx {
namespace {

using sip::Header;
using sip::Method;

constexpr std::string_view kAllow =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY, REGISTER";

/// The user part of a URI ("1002" of sip:1002@pbx), %-escapes decoded (phones may send
/// `*` as %2A), or "" when it does not parse.
std::string uri_user(std::string_view text) {
  auto uri = sip::parse_uri(text);
  if (!uri) {
    return {};
  }
  return uri->user.find('%') == std::string_view::npos ? std::string(uri->user)
                                                       : sip::unescape(uri->user);
}

sip::DigestConfig digest_config(const PbxSettings& settings) {
  sip::DigestConfig config;
  config.algorithms = settings.digest_algorithms;
  return config;
}

/// RFC 1123 date in GMT, as SIP's Date header writes it (RFC 3261 §20.17).
std::string http_date(std::chrono::system_clock::time_point when) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return text;
}

}  // namespace

Pbx::Pbx(sip::txn::TimerQueue& timers, PbxSettings settings, Directory directory,
         RegistrarSettings registrar, store::StoreWriter* writer)
    : timers_(timers),
      settings_(std::move(settings)),
      directory_(std::move(directory)),
      registrar_(timers, registrar, writer),
      writer_(writer),
      digest_(settings_.domain, settings_.nonce_secret, digest_config(settings_)) {
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
}

void Pbx::reload(Directory directory, RegistrarSettings registrar) {
  directory_ = std::move(directory);
  registrar_.set_settings(registrar);
  spdlog::info("reloaded extensions={}", directory_.size());
}

void Pbx::shutdown() {
  shutting_down_ = true;
  std::vector<CallId> ids;
  for (const auto& [id, call] : calls_) {
    ids.push_back(id);
  }
  for (CallId id : ids) {
    if (Call* call = find_call(id)) {
      call->terminate("Server shutting down");
    }
  }
}

Call* Pbx::find_call(CallId id) {
  auto it = calls_.find(id);
  return it == calls_.end() ? nullptr : it->second.get();
}

void Pbx::reap(CallId id) {
  auto it = calls_.find(id);
  if (it != calls_.end() && it->second->idle()) {
    calls_.erase(it);
  }
}

void Pbx::index_dialog(const std::string& key, CallId call, LegId leg) {
  dialogs_[key] = DialogRef{call, leg};
}

void Pbx::unindex_dialog(const std::string& key) { dialogs_.erase(key); }

void Pbx::pickable_changed(Call& call) {
  pickable_.update(call.id(), call.ring_started(), call.pickup_keys());
}

void Pbx::call_ended(Call& call) {
  pickable_.remove(call.id());
  if (writer_ != nullptr) {
    writer_->save_call(call.record());
  }
}

// ---- authentication ----

bool Pbx::should_create_transaction(const sip::Message& request,
                                    const sip::transport::Peer& source) {
  authenticated_ = nullptr;
  // In-dialog requests are matched to a dialog of ours or refused with 481.
  if (!request.to_tag().empty()) {
    return true;
  }
  switch (request.method()) {
    case Method::Register:
    case Method::Invite:
      // Every request that can cost money or reveal a call is authenticated first, and the
      // challenge leaves no state behind: no transaction, no call.
      authenticated_ = authenticate(request, source);
      return authenticated_ != nullptr;
    default:
      return true;
  }
}

const Extension* Pbx::authenticate(const sip::Message& request,
                                   const sip::transport::Peer& source) {
  const bool registering = request.method() == Method::Register;
  const Header credentials_header =
      registering ? Header::Authorization : Header::ProxyAuthorization;
  const Header challenge_header = registering ? Header::WwwAuthenticate : Header::ProxyAuthenticate;
  const int challenge_status = registering ? 401 : 407;

  auto challenge = [&](bool stale) {
    auto response = layer_->make_stateless_response(request, source, challenge_status);
    digest_.challenge(response, challenge_header, stale);
    layer_->send_stateless_response(request, source, response.finish());
  };

  auto credentials = digest_.find_credentials(request, credentials_header);
  if (!credentials) {
    challenge(false);
    return nullptr;
  }
  auto username = credentials->get_unescaped("username").value_or("");
  const Extension* user = directory_.find(username);
  std::optional<sip::DigestSecret> secret;
  if (user != nullptr) {
    secret = sip::DigestSecret{user->password, {}, {}, {}};
  }
  auto check = digest_.verify(*credentials, request.method_name(), request.request_uri(), secret);
  switch (check.status) {
    case sip::AuthStatus::Ok:
      return user;
    case sip::AuthStatus::NoCredentials:
      challenge(false);
      return nullptr;
    case sip::AuthStatus::Stale:
    case sip::AuthStatus::Replay:
      challenge(true);
      return nullptr;
    case sip::AuthStatus::Malformed: {
      spdlog::warn("auth refused method={} user={} source={} reason=\"{}\"", request.method_name(),
                   username, source.to_string(), check.reason);
      auto response = layer_->make_stateless_response(
          request, source, 400, std::string("Bad credentials: ") + std::string(check.reason));
      layer_->send_stateless_response(request, source, response.finish());
      return nullptr;
    }
    case sip::AuthStatus::Fail:
      break;
  }
  // An unknown user and a wrong password get the same answer, and the same log line.
  spdlog::warn("auth failed method={} user={} source={} reason=\"{}\"", request.method_name(),
               username, source.to_string(), check.reason);
  auto response = layer_->make_stateless_response(request, source, 403, "Forbidden");
  layer_->send_stateless_response(request, source, response.finish());
  return nullptr;
}

// ---- requests ----

void Pbx::on_request(sip::txn::ServerTransaction& t, const sip::Message& request,
                     const sip::transport::Peer& source) {
  const Extension* user = authenticated_;
  authenticated_ = nullptr;
  if (!request.to_tag().empty()) {
    handle_in_dialog(t, request, source);
    return;
  }
  switch (request.method()) {
    case Method::Register:
      if (user == nullptr) {
        layer_->respond(t, 403, "Forbidden");
        return;
      }
      handle_register(t, request, source, *user);
      return;
    case Method::Invite:
      if (user == nullptr) {
        layer_->respond(t, 403, "Forbidden");
        return;
      }
      handle_new_invite(t, request, source, *user);
      return;
    case Method::Options: {
      auto ok = t.make_response(200);
      ok.header(Header::Allow, kAllow);
      ok.header(Header::Accept, "application/sdp");
      ok.header(Header::Supported, "replaces");
      layer_->send_response(t, 200, ok.finish());
      return;
    }
    case Method::Bye:
      layer_->respond(t, 481);
      return;
    default: {
      auto response = t.make_response(405);
      response.header(Header::Allow, kAllow);
      layer_->send_response(t, 405, response.finish());
    }
  }
}

void Pbx::handle_register(sip::txn::ServerTransaction& t, const sip::Message& request,
                          const sip::transport::Peer& source, const Extension& user) {
  // An extension registers itself only: the To user must be the authenticated one.
  auto to = sip::parse_name_addr(request.header_value(Header::To).value_or(""));
  if (!to || to->uri.user != user.number) {
    spdlog::warn("register refused user={} to={} reason=\"not its own extension\"", user.number,
                 to ? to->uri.user : "?");
    layer_->respond(t, 403, "Not your extension");
    return;
  }
  RegisterOutcome outcome = registrar_.apply(user.number, request, source);
  auto response = t.make_response(outcome.status, outcome.reason);
  if (outcome.min_expires) {
    response.header(Header::MinExpires, std::to_string(outcome.min_expires->count()));
  }
  if (outcome.status == 200) {
    registrar_.add_contacts(user.number, response);
    // RFC 3261 §10.3 step 8: phones without NTP set their clocks from it.
    response.header(Header::Date, http_date(std::chrono::system_clock::now()));
  }
  layer_->send_response(t, outcome.status, response.finish());
}

void Pbx::handle_new_invite(sip::txn::ServerTransaction& t, const sip::Message& request,
                            const sip::transport::Peer& source, const Extension& caller) {
  if (shutting_down_) {
    layer_->respond(t, 503, "Server shutting down");
    return;
  }
  // RFC 3261 §16.3 step 3: Max-Forwards 0 means the request looped or went too far.
  if (request.max_forwards() && *request.max_forwards() <= 0) {
    layer_->respond(t, 483);
    return;
  }
  const std::string dialled = uri_user(request.request_uri());
  if (PickupCode code = classify_pickup_code(dialled, directory_.pickup()); code.is_pickup) {
    handle_pickup(t, request, source, caller, code);
    return;
  }
  std::optional<RingPlan> plan = ring_plan(dialled);
  if (!plan) {
    spdlog::info("call refused caller={} dialled={} reason=\"no such number\"", caller.number,
                 dialled);
    layer_->respond(t, 404);
    return;
  }
  const bool registered = std::any_of(
      plan->members.begin(), plan->members.end(),
      [&](const RingMember& member) { return !registrar_.bindings(member.number).empty(); });
  if (!registered) {
    spdlog::info("call refused caller={} dialled={} reason=\"not registered\"", caller.number,
                 dialled);
    layer_->respond(t, 480, "Temporarily Unavailable");
    return;
  }
  CallId id = next_call_++;
  auto call = std::make_unique<Call>(static_cast<CallHost&>(*this), id,
                                     Party{caller.number, caller.name}, dialled);
  Call& ref = *call;
  calls_.emplace(id, std::move(call));
  ref.start(t, request, source, std::move(*plan), settings_.no_answer_timeout);
  reap(id);
}

RingMember Pbx::ring_member(const Extension& extension) const {
  return RingMember{extension.number, extension.name, extension.call_groups,
                    extension.pickup_protected, directory_.completed_elsewhere(extension)};
}

std::optional<RingPlan> Pbx::ring_plan(std::string_view number) const {
  RingPlan plan;
  if (const Extension* extension = directory_.find(number)) {
    plan.number = extension->number;
    plan.name = extension->name;
    plan.members.push_back(ring_member(*extension));
    return plan;
  }
  const RingGroup* group = directory_.find_ring_group(number);
  if (group == nullptr) {
    return std::nullopt;
  }
  plan.number = group->number;
  plan.name = group->name;
  plan.ring_group = true;
  plan.call_groups = group->call_groups;
  plan.pickup_protected = group->pickup_protected;
  plan.strategy = group->strategy;
  plan.member_ring_time = group->ring_time;
  for (const std::string& number : group->members) {
    if (const Extension* member = directory_.find(number)) {
      plan.members.push_back(ring_member(*member));
    }
  }
  return plan;
}

void Pbx::handle_pickup(sip::txn::ServerTransaction& t, const sip::Message& request,
                        const sip::transport::Peer& source, const Extension& picker,
                        const PickupCode& code) {
  const std::string_view how = pickup_kind_name(code.kind);
  auto refuse = [&](int status, const std::string& reason, std::string_view target) {
    spdlog::info("pickup refused picker={} target={} how={} status={} reason=\"{}\"", picker.number,
                 target.empty() ? "-" : target, how, status, reason);
    layer_->respond(t, status, reason);
  };
  // A caller never picks up its own outgoing call (DESIGN.md §4).
  auto not_own = [&](PickupIndex::CallKey id) {
    const Call* call = find_call(id);
    return call != nullptr && call->caller().number != picker.number;
  };
  std::optional<PickupIndex::CallKey> chosen;
  std::string target;
  if (code.kind == PickupKind::Group) {
    if (picker.pickup_groups.empty()) {
      refuse(403, "No pickup groups", {});
      return;
    }
    chosen = pickable_.oldest_in_groups(picker.pickup_groups, not_own);
    if (!chosen) {
      refuse(480, "No call to pick up", {});
      return;
    }
    target = find_call(*chosen)->dialled();
  } else {
    target = std::string(code.number);
    const Extension* extension = directory_.find(target);
    const RingGroup* group = extension ? nullptr : directory_.find_ring_group(target);
    if (extension == nullptr && group == nullptr) {
      refuse(404, "No such number", target);
      return;
    }
    // Your own extension's calls are yours to take from any of your phones.
    const PickupVerdict verdict =
        target == picker.number
            ? PickupVerdict::Allowed
            : may_directed_pickup(
                  picker, extension ? PickupTarget::of(*extension) : PickupTarget::of(*group));
    if (verdict == PickupVerdict::Protected) {
      refuse(403, "Pickup of " + target + " is not allowed: protected", target);
      return;
    }
    if (verdict == PickupVerdict::NotAllowed) {
      refuse(403, "Pickup of " + target + " is not allowed", target);
      return;
    }
    chosen = pickable_.oldest_by_number(target, not_own);
    if (!chosen) {
      refuse(480, "Nothing ringing at " + target, target);
      return;
    }
  }
  Call* call = find_call(*chosen);
  const CallId id = call->id();
  Pickup pickup{Party{picker.number, picker.name}, code.kind, target};
  switch (call->pick_up(t, request, source, pickup)) {
    case PickupResult::Done:
      break;
    case PickupResult::NotPickable:
      refuse(480, "No call to pick up", target);
      break;
    case PickupResult::NoCommonMedia:
      refuse(488, "No media in common with the caller", target);
      break;
    case PickupResult::BadRequest:
      refuse(400, "Bad pickup request: no usable Contact", target);
      break;
  }
  reap(id);
}

void Pbx::handle_in_dialog(sip::txn::ServerTransaction& t, const sip::Message& request,
                           const sip::transport::Peer& source) {
  std::string key;
  key.reserve(request.call_id().size() + request.to_tag().size() + request.from_tag().size() + 2);
  key.append(request.call_id()).append(1, '\n').append(request.to_tag()).append(1, '\n');
  key.append(request.from_tag());
  auto it = dialogs_.find(key);
  Call* call = it == dialogs_.end() ? nullptr : find_call(it->second.call);
  if (call == nullptr) {
    layer_->respond(t, 481);
    return;
  }
  CallId id = call->id();
  call->on_in_dialog_request(it->second.leg, t, request);
  reap(id);
}

void Pbx::on_cancel(sip::txn::ServerTransaction& invite, const sip::Message&) {
  CallId id = owner_call(invite.owner());
  if (owner_leg(invite.owner()) != 0) {
    return;  // a picker's INVITE: answered at once, nothing left to cancel
  }
  if (Call* call = find_call(id)) {
    call->on_caller_cancel();
    reap(id);
  }
}

void Pbx::on_ack(sip::txn::ServerTransaction& invite, const sip::Message& ack,
                 const sip::transport::Peer&) {
  CallId id = owner_call(invite.owner());
  if (Call* call = find_call(id)) {
    call->on_uas_ack(owner_leg(invite.owner()), ack);
    reap(id);
  }
}

void Pbx::on_stray_ack(const sip::Message&, const sip::transport::Peer&) {
  // The ACK of a challenge or a late duplicate: nothing to do, by design.
}

void Pbx::on_ack_timeout(sip::txn::ServerTransaction& invite) {
  if (invite.last_status() < 200 || invite.last_status() >= 300) {
    return;
  }
  CallId id = owner_call(invite.owner());
  if (Call* call = find_call(id)) {
    call->on_caller_ack_timeout();
    reap(id);
  }
}

// ---- responses ----

void Pbx::on_response(sip::txn::ClientTransaction& t, const sip::Message& response) {
  CallId id = owner_call(t.owner());
  if (Call* call = find_call(id)) {
    call->on_response(owner_leg(t.owner()), t, response);
    reap(id);
  }
}

void Pbx::on_timeout(sip::txn::ClientTransaction& t) {
  CallId id = owner_call(t.owner());
  if (Call* call = find_call(id)) {
    call->on_failure(owner_leg(t.owner()), t, 408);
    reap(id);
  }
}

void Pbx::on_transport_error(sip::txn::ClientTransaction& t) {
  CallId id = owner_call(t.owner());
  if (Call* call = find_call(id)) {
    call->on_failure(owner_leg(t.owner()), t, 503);
    reap(id);
  }
}

void Pbx::on_stray_response(const sip::Message& response, const sip::transport::Peer&) {
  // A 2xx retransmitted after its INVITE transaction ended: our ACK was lost.
  if (response.cseq_method() != Method::Invite || response.status() < 200 ||
      response.status() >= 300) {
    return;
  }
  std::string key;
  key.append(response.call_id()).append(1, '\n').append(response.from_tag()).append(1, '\n');
  key.append(response.to_tag());
  auto it = dialogs_.find(key);
  if (it == dialogs_.end()) {
    return;
  }
  if (Call* call = find_call(it->second.call)) {
    call->on_stray_2xx(it->second.leg, response);
  }
}

}  // namespace catchline::pbx
