#include "pbx/pbx.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "sip/builder.h"
#include "sip/headers/name_addr.h"
#include "sip/headers/params.h"
#include "sip/headers/simple.h"
#include "sip/transport/routing.h"
#include "sip/uri.h"
#include "store/writer.h"

namespace catchline::pbx {
namespace {

using sip::Header;
using sip::Method;
using sip::txn::ServerTransaction;

// The user part of resource list URIs: "blf-1001" is extension 1001's `blf_list`.
constexpr std::string_view kBlfListPrefix = "blf-";

// The user part of pickup-group URIs: "pickup-reception" shows every pickable call of
// call group reception to the members of that pickup group.
constexpr std::string_view kPickupGroupPrefix = "pickup-";

// AuthCheck::reason of a response that was computed and differs (sip/digest.h): a wrong
// password or an unknown user, the only failures that count as a guess.
constexpr std::string_view kWrongResponse = "wrong response";

/// The 403 reason of a refused pickup, the same on every path.
std::string not_allowed_reason(PickupVerdict verdict, const std::string& target) {
  return "Pickup of " + target + " is not allowed" +
         (verdict == PickupVerdict::Protected ? ": protected" : "");
}

constexpr std::string_view kAllow =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY, REGISTER, SUBSCRIBE";

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

Pbx::Pbx(base::TimerQueue& timers, PbxSettings settings, Directory directory,
         RegistrarSettings registrar, store::StoreWriter* writer)
    : timers_(timers),
      settings_(std::move(settings)),
      directory_(std::move(directory)),
      registrar_(timers, registrar, writer),
      writer_(writer),
      digest_(settings_.domain, settings_.nonce_secret, digest_config(settings_)),
      presence_(static_cast<PresenceHost&>(*this), settings_.presence),
      guard_(timers.clock(), settings_.security) {
  index_trunks();
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
  digest_.set_server_names(std::move(names));
}

void Pbx::reload(Directory directory, RegistrarSettings registrar, PresenceSettings blf) {
  presence_.set_settings(blf);
  directory_ = std::move(directory);
  index_trunks();
  registrar_.set_settings(registrar);
  spdlog::info("reloaded extensions={}", directory_.size());
}

void Pbx::shutdown() {
  shutting_down_ = true;
  presence_.shutdown();
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

void Pbx::pickable_changed(Call& call) {
  pickable_.update(call.id(), call.ring_started(), call.pickup_keys());
}

void Pbx::settle(Call& call) { reap(call.id()); }

void Pbx::call_ended(Call& call) {
  pickable_.remove(call.id());
  if (writer_ != nullptr) {
    writer_->save_call(call.record());
  }
}

// ---- authentication ----

const Extension* Pbx::authenticate(const sip::Message& request,
                                   const sip::transport::Peer& source) {
  auto user = check_digest(request, source, [&](std::string_view name) {
    const Extension* extension = directory_.find(name);
    return extension ? std::optional<std::string>(extension->password) : std::nullopt;
  });
  return user ? directory_.find(*user) : nullptr;
}

std::optional<std::string> Pbx::check_digest(
    const sip::Message& request, const sip::transport::Peer& source,
    const std::function<std::optional<std::string>(std::string_view)>& password_of) {
  // A UAS challenges with 401 (REGISTER, SUBSCRIBE); for INVITE we act as the caller's proxy.
  const bool registering = request.method() != Method::Invite;
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
    return std::nullopt;
  }
  std::string username = credentials->get_unescaped("username").value_or("");
  std::optional<sip::DigestSecret> secret;
  if (auto password = password_of(username)) {
    secret = sip::DigestSecret{*password, {}, {}, {}};
  }
  auto check = digest_.verify(*credentials, request.method_name(), request.request_uri(), secret);
  switch (check.status) {
    case sip::AuthStatus::Ok:
      return username;
    case sip::AuthStatus::NoCredentials:
      challenge(false);
      return std::nullopt;
    case sip::AuthStatus::Stale:
    case sip::AuthStatus::Replay:
      challenge(true);
      return std::nullopt;
    case sip::AuthStatus::Malformed: {
      spdlog::warn("auth refused method={} user={} source={} reason=\"{}\"", request.method_name(),
                   username, source.to_string(), check.reason);
      auto response = layer_->make_stateless_response(
          request, source, 400, std::string("Bad credentials: ") + std::string(check.reason));
      layer_->send_stateless_response(request, source, response.finish());
      return std::nullopt;
    }
    case sip::AuthStatus::Fail:
      break;
  }
  // A guess is a response computed and found wrong (a wrong password, an unknown user); a
  // nonce of another process or a foreign realm tells the sender nothing and is not counted.
  if (check.reason == kWrongResponse) {
    count_failure(source);
  }
  // An unknown user and a wrong password get the same answer, and the same log line.
  spdlog::warn("auth failed method={} user={} source={} reason=\"{}\"", request.method_name(),
               username, source.to_string(), check.reason);
  auto response = layer_->make_stateless_response(request, source, 403, "Forbidden");
  layer_->send_stateless_response(request, source, response.finish());
  return std::nullopt;
}

void Pbx::count_failure(const sip::transport::Peer& source) {
  auto ban = guard_.record_failure(source.address, source.port);
  if (!ban) {
    return;
  }
  // One line per ban, in a shape a fail2ban filter matches (README: password guessing).
  const auto until =
      std::chrono::system_clock::now() +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(ban->until - timers_.now());
  std::time_t seconds = std::chrono::system_clock::to_time_t(until);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const auto window = guard_.settings().window;
  spdlog::warn("ban source={} scope={} failures={} window={} until={}", ban->source(),
               ban->scope == security::Ban::Scope::Ip ? "ip" : "port", ban->failures,
               window.count() % 1000 == 0 ? std::to_string(window.count() / 1000) + "s"
                                          : std::to_string(window.count()) + "ms",
               text);
}

void Pbx::lift_bans() { spdlog::info("bans lifted count={}", guard_.lift_all()); }

void Pbx::index_trunks() {
  trunk_sources_.clear();
  const auto& trunks = directory_.trunks();
  for (std::size_t i = 0; i < trunks.size(); ++i) {
    const Trunk& trunk = trunks[i];
    std::vector<std::string> sources = trunk.inbound_from;
    if (sources.empty()) {
      sources.push_back(trunk.host.find(':') != std::string::npos
                            ? "[" + trunk.host + "]:" + std::to_string(trunk.port)
                            : trunk.host + ":" + std::to_string(trunk.port));
    }
    for (const std::string& text : sources) {
      // "ip", "ip:port", "[v6]", "[v6]:port" (checked when the configuration was read).
      std::string host = text;
      std::uint16_t port = 0;
      if (text.starts_with("[")) {
        auto close = text.find(']');
        host = text.substr(1, close - 1);
        if (close + 2 < text.size()) {
          port = static_cast<std::uint16_t>(std::stoi(text.substr(close + 2)));
        }
      } else if (auto colon = text.find(':'); colon != std::string::npos) {
        host = text.substr(0, colon);
        port = static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1)));
      }
      boost::system::error_code error;
      auto address = boost::asio::ip::make_address(host, error);
      if (!error) {
        trunk_sources_.push_back(TrunkSource{address, port, i});
      }
    }
  }
}

const Trunk* Pbx::trunk_for(const sip::transport::Peer& source) const {
  for (const TrunkSource& entry : trunk_sources_) {
    if (entry.address == source.address && (entry.port == 0 || entry.port == source.port)) {
      return &directory_.trunks()[entry.trunk];
    }
  }
  return nullptr;
}

// ---- requests ----

void Pbx::on_request(const sip::Message& request, const sip::transport::Peer& source,
                     Start& start) {
  // The one router: a request inside a dialog goes to that dialog's usage (or gets 481); one
  // outside is authenticated first when it can cost money or reveal a call, and answered
  // without any state (no transaction, no call) when it is not.
  if (!request.to_tag().empty()) {
    ServerTransaction& t = start();
    handle_in_dialog(t, t.request(), source);
    return;
  }
  switch (request.method()) {
    case Method::Invite: {
      if (const Trunk* trunk = trunk_for(source)) {
        // A provider is known by its address; with inbound_auth it must also pass digest.
        if (trunk->inbound_auth && !check_digest(request, source, [&](std::string_view user) {
              return user == trunk->username ? std::optional<std::string>(trunk->password)
                                             : std::nullopt;
            })) {
          return;
        }
        ServerTransaction& t = start();
        handle_trunk_invite(t, t.request(), source, *trunk);
        return;
      }
      if (const Extension* caller = authenticate(request, source)) {
        ServerTransaction& t = start();
        handle_new_invite(t, t.request(), source, *caller);
      }
      return;
    }
    case Method::Register:
      if (const Extension* user = authenticate(request, source)) {
        ServerTransaction& t = start();
        handle_register(t, t.request(), source, *user);
      }
      return;
    case Method::Subscribe:
      if (const Extension* watcher = authenticate(request, source)) {
        ServerTransaction& t = start();
        handle_subscribe(t, t.request(), source, *watcher);
      }
      return;
    case Method::Options: {
      ServerTransaction& t = start();
      auto ok = t.make_response(200);
      ok.header(Header::Allow, kAllow);
      ok.header(Header::AllowEvents, Presence::kAllowEvents);
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
  if (request.header_value(Header::Replaces)) {
    handle_replaces(t, request, source, caller);
    return;
  }
  const std::string dialled = uri_user(request.request_uri());
  if (PickupCode code = classify_pickup_code(dialled, directory_.pickup()); code.is_pickup) {
    handle_pickup(t, request, source, caller, code);
    return;
  }
  std::optional<RingPlan> plan;
  if (const Trunk* trunk = directory_.outbound_trunk(dialled)) {
    plan = trunk_plan(*trunk, std::string_view(dialled).substr(trunk->outbound_prefix.size()));
  } else {
    plan = ring_plan(dialled);
  }
  if (!plan) {
    spdlog::info("call refused caller={} dialled={} reason=\"no such number\"", caller.number,
                 dialled);
    layer_->respond(t, 404);
    return;
  }
  start_call(t, request, source, Party{caller.number, caller.name}, dialled, std::move(*plan));
}

void Pbx::start_call(sip::txn::ServerTransaction& t, const sip::Message& request,
                     const sip::transport::Peer& source, Party caller, std::string dialled,
                     RingPlan plan) {
  const bool reachable =
      std::any_of(plan.members.begin(), plan.members.end(), [&](const RingMember& member) {
        return member.route || !registrar_.bindings(member.number).empty();
      });
  if (!reachable) {
    spdlog::info("call refused caller={} dialled={} reason=\"not registered\"", caller.number,
                 dialled);
    layer_->respond(t, 480, "Temporarily Unavailable");
    return;
  }
  CallId id = next_call_++;
  auto call = std::make_unique<Call>(static_cast<CallHost&>(*this), id, std::move(caller), dialled);
  Call& ref = *call;
  calls_.emplace(id, std::move(call));
  ref.start(t, request, source, std::move(plan), settings_.no_answer_timeout);
  reap(id);
}

std::optional<RingPlan> Pbx::trunk_plan(const Trunk& trunk, std::string_view number) const {
  if (number.empty() || number.find_first_not_of("+0123456789*#") != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string host =
      trunk.host.find(':') != std::string::npos ? "[" + trunk.host + "]" : trunk.host;
  auto route = std::make_shared<TrunkRoute>();
  route->trunk = trunk.name;
  route->uri = "sip:" + std::string(number) + "@" + host + ":" + std::to_string(trunk.port);
  if (trunk.tcp) {
    route->uri += ";transport=tcp";
  }
  auto uri = sip::parse_uri(route->uri);
  auto peer = uri ? sip::transport::resolve(*uri) : sip::Result<sip::transport::Peer>(uri.error());
  if (!peer) {
    spdlog::warn("trunk unusable trunk={} uri={} reason=\"{}\"", trunk.name, route->uri,
                 peer.error().reason);
    return std::nullopt;
  }
  route->peer = *peer;
  route->username = trunk.username;
  route->password = trunk.password;
  route->caller_id = trunk.caller_id;
  RingPlan plan;
  plan.number = std::string(number);
  RingMember member;
  member.number = std::string(number);
  member.route = std::move(route);
  plan.members.push_back(std::move(member));
  return plan;
}

void Pbx::handle_trunk_invite(sip::txn::ServerTransaction& t, const sip::Message& request,
                              const sip::transport::Peer& source, const Trunk& trunk) {
  if (refuse_new_call(t, request)) {
    return;
  }
  std::string did = uri_user(request.request_uri());
  auto target = trunk.dids.find(did);
  if (target == trunk.dids.end()) {
    // Some providers put the DID in To and their own routing in the Request-URI.
    auto to = sip::parse_name_addr(request.header_value(Header::To).value_or(""));
    if (to) {
      did = std::string(to->uri.user);
      target = trunk.dids.find(did);
    }
  }
  if (target == trunk.dids.end()) {
    spdlog::info("call refused trunk={} did={} reason=\"no such DID\"", trunk.name, did);
    layer_->respond(t, 404, "No such number");
    return;
  }
  std::optional<RingPlan> plan = ring_plan(target->second);
  if (!plan) {
    layer_->respond(t, 404, "No such number");
    return;
  }
  Party caller{"anonymous", {}, true};
  if (auto from = sip::parse_name_addr(request.header_value(Header::From).value_or(""))) {
    if (!from->uri.user.empty()) {
      // Kept as the URI writes it (escapes too): it goes back into From and P-Asserted-Identity.
      caller.number = std::string(from->uri.user);
    }
    caller.name = from->display();
  }
  spdlog::info("call inbound trunk={} did={} caller={} target={}", trunk.name, did, caller.number,
               target->second);
  start_call(t, request, source, std::move(caller), did, std::move(*plan));
}

RingMember Pbx::ring_member(const Extension& extension) const {
  RingMember member;
  member.number = extension.number;
  member.name = extension.name;
  member.call_groups = extension.call_groups;
  member.pickup_protected = extension.pickup_protected;
  member.completed_elsewhere = directory_.completed_elsewhere(extension);
  member.pickup_alert = extension.pickup_alert;
  member.pickup_alert_delay = extension.pickup_alert_delay;
  return member;
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
  // The index finds the candidates; the one rule decides, and never the picker's own call.
  auto may_take = [&](PickupKind how) {
    return [&, how](PickupIndex::CallKey id) {
      const Call* call = find_call(id);
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
    target = find_call(*chosen)->target();
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
  run_pickup(t, request, source, *find_call(*chosen),
             Pickup{Party{picker.number, picker.name}, code.kind, target});
}

void Pbx::run_pickup(sip::txn::ServerTransaction& t, const sip::Message& request,
                     const sip::transport::Peer& source, Call& call, const Pickup& pickup) {
  const CallId id = call.id();
  auto refuse = [&](int status, const std::string& reason) {
    spdlog::info("pickup refused picker={} target={} how={} status={} reason=\"{}\"",
                 pickup.picker.number, pickup.target, pickup_kind_name(pickup.kind), status,
                 reason);
    layer_->respond(t, status, reason);
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
  }
  reap(id);
}

std::string Pbx::replaces_target(const sip::Message& request) const {
  std::string dialled = uri_user(request.request_uri());
  if (PickupCode code = classify_pickup_code(dialled, directory_.pickup());
      code.is_pickup && code.kind == PickupKind::Directed) {
    dialled = std::string(code.number);
  }
  const bool known =
      directory_.find(dialled) != nullptr || directory_.find_ring_group(dialled) != nullptr;
  return known ? dialled : std::string();
}

PickupVerdict Pbx::may_intercept(const Extension& picker, std::string_view number) const {
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

void Pbx::handle_replaces(sip::txn::ServerTransaction& t, const sip::Message& request,
                          const sip::transport::Peer& source, const Extension& picker) {
  auto refuse = [&](int status, const std::string& reason, std::string_view target) {
    spdlog::info("pickup refused picker={} target={} how=blf status={} reason=\"{}\"",
                 picker.number, target.empty() ? "-" : target, status, reason);
    layer_->respond(t, status, reason);
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
  auto it = legs_by_call_id_.find(std::string(replaces->call_id));
  Call* call = it == legs_by_call_id_.end() ? nullptr : find_call(it->second.call);
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
  const Leg& leg = call->legs()[it->second.leg];
  // Permission first (DESIGN.md §4), then whether the tags and the state fit. A ringing call is
  // judged by whatever rings it now (a ring group's call by the group's rule and its ringing
  // members'); an answered one by the rule of the number that rang, so early-only gets its 486.
  const bool ring_group = call->plan().ring_group;
  PickupVerdict verdict = PickupVerdict::NotAllowed;
  if (call->pickable()) {
    const PickupKeys* keys = pickable_.keys_of(call->id());
    verdict =
        keys != nullptr ? may_pick_up(picker, PickupKind::Blf, *keys) : PickupVerdict::NotAllowed;
    const bool member_protected = leg.member < call->plan().members.size() &&
                                  call->plan().members[leg.member].pickup_protected;
    if (verdict != PickupVerdict::Allowed &&
        (call->plan().pickup_protected || (member_protected && !ring_group))) {
      verdict = PickupVerdict::Protected;
    }
  } else {
    verdict = may_intercept(picker, leg.extension);
    if (verdict != PickupVerdict::Allowed && ring_group) {
      verdict = may_intercept(picker, call->plan().number);
    }
  }
  if (verdict != PickupVerdict::Allowed) {
    refuse_not_allowed(verdict, ring_group ? call->plan().number : leg.extension);
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
  run_pickup(t, request, source, *call,
             Pickup{Party{picker.number, picker.name}, PickupKind::Blf, leg.extension});
}

void Pbx::handle_subscribe(sip::txn::ServerTransaction& t, const sip::Message& request,
                           const sip::transport::Peer& source, const Extension& watcher) {
  const std::string resource = uri_user(request.request_uri());
  auto uri_of = [&](const std::string& number) { return "sip:" + number + "@" + settings_.domain; };
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

DialogView Pbx::view_of(const Call& call, const Leg& leg) const {
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
  const std::string& domain = settings_.domain;
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

void Pbx::leg_changed(Call& call, const Leg& leg) {
  if (presence_.subscription_count() == 0) {
    return;
  }
  DialogView view = view_of(call, leg);
  presence_.update(leg.extension, view);
  if (leg.caller || leg.picker) {
    return;
  }
  if (call.plan().ring_group) {
    presence_.update(call.plan().number, view);
  }
  for (const std::string& resource : group_resources(call, leg)) {
    presence_.update(resource, view);
  }
}

void Pbx::pickup_alert(Call& call) {
  spdlog::info("pickup alert call={} dialled={}", call.id(), call.dialled());
  for (const Leg& leg : call.legs()) {
    leg_changed(call, leg);
  }
}

std::vector<std::string> Pbx::group_resources(const Call& call, const Leg& leg) const {
  std::vector<std::string> resources;
  const RingMember& member = call.plan().members[leg.member];
  if (member.pickup_alert && !call.alerted()) {
    return resources;
  }
  for_each_pickup_group(call.plan(), member, [&](const std::string& group) {
    std::string name = std::string(kPickupGroupPrefix) + group;
    if (std::find(resources.begin(), resources.end(), name) == resources.end()) {
      resources.push_back(std::move(name));
    }
  });
  return resources;
}

std::vector<DialogView> Pbx::dialogs_of(const std::string& resource) const {
  std::vector<DialogView> views;
  const bool pickup_group = resource.starts_with(kPickupGroupPrefix);
  for (const auto& entry : calls_) {
    const Call* call = entry.second.get();
    if (call->ended()) {
      continue;
    }
    const bool group = call->plan().ring_group && call->plan().number == resource;
    for (const Leg& leg : call->legs()) {
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
  }
  return views;
}

void Pbx::handle_in_dialog(sip::txn::ServerTransaction& t, const sip::Message& request,
                           const sip::transport::Peer& source) {
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
