#include "pbx/call/call.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/thread_check.h"
#include "media/sdp.h"
#include "sip/builder.h"
#include "sip/digest.h"
#include "sip/headers/auth.h"
#include "sip/headers/name_addr.h"
#include "sip/headers/params.h"
#include "sip/headers/simple.h"

namespace catchline::pbx {
namespace {

using sip::Header;
using sip::MessageBuilder;
using sip::transport::Protocol;

// RFC 3326: tell the other phones the call was answered elsewhere, so none logs a missed call.
constexpr std::string_view kCompletedElsewhere = "SIP;cause=200;text=\"Call completed elsewhere\"";
constexpr std::string_view kAllow =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY, REFER";
constexpr std::uint16_t kNoAnswerTimer = 1;
constexpr std::uint16_t kMemberTimer = 2;
constexpr std::uint16_t kAlertTimer = 3;
constexpr std::uint16_t kTransferTimer = 4;
constexpr std::uint16_t kAnnouncedTimer = 5;
constexpr std::uint16_t kForwardTimer = 6;
constexpr std::uint16_t kPlayedTimer = 7;
// RFC 7462: the phone rung again because a transfer it made failed.
constexpr std::string_view kRecallAlert = "<urn:alert:service:recall:transfer>";
// RFC 3515 §2.4.5: how long the implicit subscription of a REFER is said to last.
constexpr int kReferExpires = 60;

/// Whether the Allow header of `message` names UPDATE (RFC 3311).
bool allows_update(const sip::Message& message) {
  const std::string_view allow = message.header_value(Header::Allow).value_or("");
  for (std::size_t i = 0; i + 6 <= allow.size(); ++i) {
    if (sip::iequals(allow.substr(i, 6), "UPDATE")) {
      return true;
    }
  }
  return false;
}

/// `sdp` with every direction attribute made sendrecv: a held transferee's description offered
/// to its transfer target (the target must send, and the relay tells the transferee again).
std::string with_sendrecv(std::string_view sdp) {
  std::string out(sdp);
  for (std::string_view held : {"a=sendonly", "a=recvonly", "a=inactive"}) {
    for (std::size_t at = out.find(held); at != std::string::npos; at = out.find(held, at)) {
      const std::size_t end = at + held.size();
      if (end == out.size() || out[end] == '\r' || out[end] == '\n') {
        out.replace(at, held.size(), "a=sendrecv");
      }
      ++at;
    }
  }
  return out;
}

/// Whether every stream of `sdp` sends and receives (not held either way).
bool talks(std::string_view sdp) {
  auto streams = media::read_leg_streams(sdp);
  if (!streams) {
    return false;
  }
  return std::all_of(streams->begin(), streams->end(), [](const media::LegStream& stream) {
    return !stream.on_hold && stream.direction == media::Direction::SendRecv;
  });
}

/// Whether a request of `method` (or a response to one) may hold an SDP offer or answer that the
/// relay rewrites: RFC 3264 over INVITE and ACK, RFC 3311 UPDATE. INFO (RFC 6086) and other
/// in-dialog bodies pass as they are.
/// The key of a SIP INFO DTMF (application/dtmf-relay "Signal=5", application/dtmf "5"), as
/// phones without RFC 4733 send it; nullopt for anything else.
std::optional<char> info_digit(const sip::Message& info) {
  const std::string_view type = info.header_value(Header::ContentType).value_or("");
  std::string_view body = info.body();
  if (type.starts_with("application/dtmf-relay")) {
    const auto at = body.find("Signal=");
    if (at == std::string_view::npos) {
      return std::nullopt;
    }
    body = body.substr(at + 7);
  } else if (!type.starts_with("application/dtmf")) {
    return std::nullopt;
  }
  while (!body.empty() && body.front() == ' ') {
    body.remove_prefix(1);
  }
  if (body.empty()) {
    return std::nullopt;
  }
  const char key = body.front();
  if ((key >= '0' && key <= '9') || key == '*' || key == '#') {
    return key;
  }
  return std::nullopt;
}

bool carries_sdp(sip::Method method) {
  return method == sip::Method::Invite || method == sip::Method::Update;
}

/// A display name as a quoted-string (RFC 3261 §25.1): quotes and backslashes escaped.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    if (c != '\r' && c != '\n') {
      out += c;
    }
  }
  out += '"';
  return out;
}

/// `"Name" <sip:number@domain>`, or `<sip:number@domain>` without a name.
std::string identity(const Party& party, const std::string& domain) {
  std::string uri = "<sip:" + party.number + "@" + domain + ">";
  return party.name.empty() ? uri : quoted(party.name) + " " + uri;
}

std::string contact_for(std::string_view user, const std::string& local, Protocol protocol) {
  std::string contact = "<sip:";
  contact += user;
  contact += '@';
  contact += local;
  if (protocol == Protocol::Tcp) {
    contact += ";transport=tcp";
  }
  contact += '>';
  return contact;
}

}  // namespace

Call::Call(CallHost& host, CallId id, Party caller, std::string dialled)
    : host_(host),
      id_(id),
      caller_(std::move(caller)),
      dialled_(std::move(dialled)),
      shown_(caller_) {}

Call::~Call() {
  for (Leg& leg : legs_) {
    unindex(leg);
    if (!leg.call_id.empty()) {
      host_.unindex_leg(leg.call_id);
    }
  }
}

std::int64_t Call::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Call::start(sip::txn::ServerTransaction& invite, const sip::Message& request,
                 const sip::transport::Peer& source, RingPlan plan,
                 std::chrono::milliseconds no_answer) {
  base::assert_on_signaling_thread();
  plan_ = std::move(plan);
  callee_ = Party{plan_.number, plan_.name};
  record_.call_id = std::string(request.call_id());
  record_.caller = caller_.number;
  record_.dialled = dialled_;
  record_.start_ms = now_ms();

  forward_always();
  callee_ = Party{plan_.number, plan_.name};
  host_.layer().attach(invite, *this);
  Leg& caller = legs_.emplace_back();
  caller.id = 0;
  caller.caller = true;
  caller.extension = caller_.number;
  caller.name = caller_.name;
  caller.external = caller_.external;
  caller.allows_update = allows_update(request);
  caller.state = LegState::Ringing;
  caller.invite = invite.id();
  caller.peer = source;
  auto dialog = sip::dialog::Dialog::create_uas(request, invite.to_tag(), contact_of(caller),
                                                sip::dialog::DialogState::Early);
  if (!dialog) {
    host_.layer().respond(invite, 400, dialog.error().reason);
    end("failed", "system");
    return;
  }
  caller.dialog = std::move(*dialog);
  caller_offer_ = std::string(request.body());
  caller_content_type_ = std::string(request.header_value(Header::ContentType).value_or(""));
  caller.sdp = caller_offer_;
  max_forwards_ = std::min(request.max_forwards().value_or(70) - 1, 70);
  if (MediaHost* media = host_.media_for(caller_, plan_)) {
    // o= session ids unique across calls and restarts (RFC 8866 §5.2): time, then call.
    media_ = std::make_unique<CallMedia>(*media, id_,
                                         static_cast<std::uint64_t>(now_ms()) * 1000 + id_ % 1000);
    if (!caller_offer_.empty()) {
      if (auto learned = media_->learn(0, source, caller_offer_); !learned) {
        host_.layer().respond(invite, learned.error().status, learned.error().reason);
        end("failed", "system");
        return;
      }
    }
  }
  index(caller);
  changed(caller);
  ring_started_ = host_.timers().now();

  std::size_t sent = ring_round();
  if (sent == 0 && !plan_.forward.no_answer.empty() &&
      forward(plan_.forward.no_answer, "unavailable")) {
    // No phone of it is registered: its no-answer forward takes the call at once.
    forward_always();
    sent = ring_round();
  }
  spdlog::info("call start call={} caller={} dialled={} legs={}", id_, caller_.number, dialled_,
               legs_.size() - 1);
  if (sent == 0) {
    host_.layer().respond(invite, 480, "Temporarily Unavailable");
    end("failed", "system");
    return;
  }
  if (!ringing()) {
    return;  // a service answered it (or could not): nothing rings
  }
  host_.timers().schedule_in(no_answer_timer_, no_answer, *this, kNoAnswerTimer);
  std::optional<std::chrono::milliseconds> alert;
  for (const RingMember& member : plan_.members) {
    if (member.pickup_alert && (!alert || member.pickup_alert_delay < *alert)) {
      alert = member.pickup_alert_delay;
    }
  }
  if (alert) {
    arm(alert_timer_, *alert, kAlertTimer);
  }
  arm_forward_timer();
  host_.pickable_changed(*this);
}

bool Call::forward(std::string_view target, std::string_view reason) {
  const bool loops = target == plan_.number || target == dialled_ ||
                     std::any_of(diversions_.begin(), diversions_.end(),
                                 [&](const Diversion& d) { return d.number == target; });
  if (loops) {
    spdlog::info("forward loop call={} from={} to={}: {} keeps ringing", id_, plan_.number, target,
                 plan_.number);
    return false;
  }
  std::optional<RingPlan> plan = host_.forward_plan(target, plan_.number);
  if (!plan) {
    spdlog::warn("forward refused call={} from={} to={} reason=\"no such number\"", id_,
                 plan_.number, target);
    return false;
  }
  spdlog::info("call forward call={} from={} to={} reason={}", id_, plan_.number, target, reason);
  diversions_.push_back(Diversion{plan_.number, std::string(reason)});
  next_round(std::move(*plan));
  return true;
}

void Call::forward_always() {
  while (!plan_.forward.always.empty() && forward(plan_.forward.always, "unconditional")) {
  }
}

void Call::arm_forward_timer() {
  if (!plan_.forward.no_answer.empty()) {
    arm(forward_timer_, plan_.forward.ring_time, kForwardTimer);
  }
}

void Call::ring_forwarded() {
  forward_always();
  host_.timers().schedule_in(no_answer_timer_, host_.recall_timeout(), *this, kNoAnswerTimer);
  if (ring_round() == 0) {
    finish_unanswered();
    return;
  }
  if (!ringing()) {
    return;  // a service answered
  }
  arm_forward_timer();
  host_.pickable_changed(*this);
}

std::string Call::diversion_header() const {
  std::string out;
  const std::string& domain = host_.domain();
  for (auto d = diversions_.rbegin(); d != diversions_.rend(); ++d) {
    if (!out.empty()) {
      out += ", ";
    }
    out += "<sip:" + d->number + "@" + domain + ">;reason=" + d->reason + ";counter=1";
  }
  return out;
}

std::string Call::history_info_header() const {
  // RFC 7044: the number first called, then each number the call was retargeted to; the
  // Reason on an entry says why the call left it, mp= which entry it came from.
  auto cause = [](const std::string& reason) {
    return reason == "user-busy"     ? "486"
           : reason == "no-answer"   ? "408"
           : reason == "unavailable" ? "503"
                                     : "302";
  };
  std::string out;
  std::string index = "1";
  std::string previous;
  const std::string& domain = host_.domain();
  for (std::size_t i = 0; i <= diversions_.size(); ++i) {
    const std::string& number = i < diversions_.size() ? diversions_[i].number : plan_.number;
    if (!out.empty()) {
      out += ",";
    }
    out += "<sip:" + number + "@" + domain;
    if (i < diversions_.size()) {
      out += std::string("?Reason=SIP%3Bcause%3D") + cause(diversions_[i].reason);
    }
    out += ">;index=" + index;
    if (!previous.empty()) {
      out += ";mp=" + previous;
    }
    previous = index;
    index += ".1";
  }
  return out;
}

void Call::next_round(RingPlan plan) {
  earlier_plans_.push_back(std::move(plan_));
  plan_ = std::move(plan);
  ++round_;
}

const RingPlan& Call::plan_of(const Leg& leg) const {
  return leg.round == round_ || leg.round >= earlier_plans_.size() ? plan_
                                                                   : earlier_plans_[leg.round];
}

std::size_t Call::ring_round() {
  if (plan_.service) {
    return serve();
  }
  std::size_t sent = 0;
  next_member_ = 0;
  if (member_timer_) {
    member_timer_->cancel();
  }
  if (plan_.strategy == RingStrategy::RingAll) {
    for (std::size_t i = 0; i < plan_.members.size(); ++i) {
      sent += ring_member(i);
    }
    next_member_ = plan_.members.size();
  } else {
    while (sent == 0 && next_member_ < plan_.members.size()) {
      current_member_ = next_member_++;
      sent = ring_member(current_member_);
    }
    if (sent != 0 && next_member_ < plan_.members.size()) {
      arm(member_timer_, plan_.member_ring_time, kMemberTimer);
    }
  }
  return sent;
}

std::size_t Call::serve() {
  if (!ringing()) {
    return 0;  // a transfer or a recall: the line is a phone's already
  }
  Leg& caller = legs_[0];
  if (!media_) {
    // The server answers with its own media, also when the phones would talk directly.
    MediaHost* media = host_.service_media();
    if (media == nullptr) {
      spdlog::warn("service refused call={} service={} reason=\"no media relay\"", id_,
                   plan_.number);
      return 0;
    }
    media_ = std::make_unique<CallMedia>(*media, id_,
                                         static_cast<std::uint64_t>(now_ms()) * 1000 + id_ % 1000);
  }
  auto sdp = media_->answer_locally(0, caller.peer, caller_offer_);
  if (!sdp) {
    spdlog::info("service refused call={} service={} status={} reason=\"{}\"", id_, plan_.number,
                 sdp.error().status, sdp.error().reason);
    if (auto* t = host_.layer().find_server(caller.invite)) {
      host_.layer().respond(*t, sdp.error().status, sdp.error().reason);
    }
    end("failed", "system");
    return 1;  // answered: the caller has its final response
  }
  service_ = host_.make_service(*plan_.service);
  callee_ = Party{plan_.number, plan_.name};
  state_ = Serving{0, caller_offer_.empty(), false};
  ends_[0] = 0;
  ends_[1] = kNoLeg;
  no_answer_timer_.cancel();
  if (forward_timer_) {
    forward_timer_->cancel();
  }
  spdlog::info("call served call={} caller={} service={}", id_, caller_.number, plan_.number);
  if (!send_uas_ok(caller, callee_, false, "application/sdp", *sdp)) {
    end(plan_.service->disposition, "system");
    return 1;
  }
  host_.pickable_changed(*this);
  return 1;
}

void Call::play(std::vector<Clip> clips) {
  if (!serving() || !media_) {
    return;
  }
  const std::chrono::milliseconds length = media_->announce(0, clips);
  // The relay's clock paces the packets: the play ends after its length (and one packet).
  arm(played_timer_, length + std::chrono::milliseconds(20), kPlayedTimer);
}

void Call::record(std::chrono::milliseconds max, RecordingSink sink) {
  if (!serving() || !media_) {
    return;
  }
  recording_ = media_->record(0, max, std::move(sink));
  if (!recording_) {
    service_->on_recorded(*this, std::chrono::milliseconds(0));
  }
}

void Call::stop_recording() {
  if (recording_ && media_) {
    media_->stop_recording(0);
  }
}

void Call::recorded(std::chrono::milliseconds length) {
  if (!recording_) {
    return;
  }
  recording_ = false;
  if (serving() && service_) {
    service_->on_recorded(*this, length);
  }
}

void Call::dtmf(char digit) {
  if (const auto* serving = std::get_if<Serving>(&state_); serving && serving->started) {
    spdlog::debug("service dtmf call={} digit={}", id_, digit);
    service_->on_dtmf(*this, digit);
  }
}

void Call::hang_up() {
  if (!serving()) {
    return;
  }
  Leg& caller = legs_[0];
  if (caller.state == LegState::Answered) {
    send_in_dialog(caller, sip::Method::Bye, {}, {}, {});
    caller.state = LegState::Ended;
  }
  end(plan_.service->disposition, "system");
}

void Call::on_bye_while_serving() {
  // A recording ends here too: its sink still gets what came (end() stops it).
  legs_[0].state = LegState::Ended;
  end(plan_.service->disposition, "caller");
}

void Call::left_slot() {
  if (transfer_ && transfer_->parked_ms != 0) {
    record_.parked_ms = std::chrono::milliseconds(now_ms() - transfer_->parked_ms);
    transfer_->parked_ms = 0;
  }
}

void Call::arm(std::unique_ptr<base::Timer>& timer, std::chrono::milliseconds delay,
               std::uint16_t tag) {
  if (!timer) {
    timer = std::make_unique<base::Timer>();
  }
  host_.timers().schedule_in(*timer, delay, *this, tag);
}

std::size_t Call::ring_member(std::size_t index) {
  const RingMember& member = plan_.members[index];
  if (member.route) {
    return send_leg(index, member.route->uri, member.route->peer) ? 1 : 0;
  }
  std::size_t sent = 0;
  for (const Binding& binding : host_.contacts(member.number)) {
    sent += send_leg(index, std::string(binding.contact), binding.source) ? 1 : 0;
  }
  return sent;
}

bool Call::send_leg(std::size_t member, const std::string& contact,
                    const sip::transport::Peer& peer) {
  Leg leg;
  leg.id = static_cast<LegId>(legs_.size());
  leg.round = round_;
  leg.member = static_cast<std::uint16_t>(member);
  leg.extension = plan_.members[member].number;
  leg.name = plan_.members[member].name;
  leg.external = plan_.members[member].route != nullptr;
  leg.contact = contact;
  leg.peer = peer;
  leg.call_id = sip::random_token(24);
  leg.from_tag = sip::random_token(12);
  auto offer = leg_offer(leg);
  if (!offer) {
    spdlog::warn("leg not sent call={} contact={} reason=\"{}\"", id_, contact,
                 offer.error().reason);
    return false;
  }
  auto sent =
      host_.layer().send_request(build_leg_invite(leg, Header::Other, {}, *offer), peer, this);
  if (!sent) {
    if (media_) {
      media_->close(leg.id);  // the next leg takes this id
    }
    spdlog::warn("leg not sent call={} contact={} reason=\"{}\"", id_, contact,
                 sent.error().reason);
    return false;
  }
  leg.invite = *sent;
  if (!record_.legs.empty()) {
    record_.legs += ',';
  }
  record_.legs += leg.extension;
  host_.index_leg(leg.call_id, id_, leg.id);
  legs_.push_back(std::move(leg));
  changed(legs_.back());
  return true;
}

sip::Result<std::string> Call::leg_offer(const Leg& leg) {
  if (!media_ || caller_offer_.empty()) {
    return caller_offer_;
  }
  return media_->rewrite_for(leg.id, leg.peer, caller_offer_);
}

std::string Call::build_leg_invite(const Leg& leg, sip::Header auth_header, std::string_view auth,
                                   std::string_view offer) {
  const RingMember& member = plan_.members[leg.member];
  const TrunkRoute* route = member.route.get();
  Party shown = shown_;
  if (route != nullptr && !route->caller_id.empty()) {
    shown.number = route->caller_id;
  }
  const std::string from = identity(shown, host_.domain());
  const std::string to = route != nullptr ? "<" + route->uri + ">"
                                          : "<sip:" + member.number + "@" + host_.domain() + ">";
  MessageBuilder out = MessageBuilder::request(sip::Method::Invite, leg.contact);
  out.header(Header::Via, via_for(leg));
  out.header(Header::MaxForwards, std::to_string(max_forwards_));
  out.header(Header::From, from + ";tag=" + leg.from_tag);
  out.header(Header::To, to);
  out.header(Header::CallId, leg.call_id);
  out.header(Header::CSeq, std::to_string(leg.cseq) + " INVITE");
  out.header(Header::Contact, contact_of(leg));
  out.header(Header::PAssertedIdentity, from);
  // Some phones read only Remote-Party-ID (draft-ietf-sip-privacy-04) for the caller's name.
  out.header(Header::RemotePartyId, from + ";party=calling;screen=yes;privacy=off");
  out.header(Header::Allow, kAllow);
  if (!diversions_.empty()) {
    out.header(Header::Diversion, diversion_header());
    out.header(Header::HistoryInfo, history_info_header());
  }
  if (transfer_) {
    out.header(Header::ReferredBy, transfer_->referred_by);
    if (transfer_->recall) {
      out.header(Header::AlertInfo, kRecallAlert);
    }
  }
  if (!auth.empty()) {
    out.header(auth_header, auth);
  }
  if (!offer.empty()) {
    out.body(caller_content_type_, offer);
  }
  return out.finish();
}

bool Call::retry_with_credentials(Leg& leg, const sip::Message& response) {
  const TrunkRoute* route = plan_.members[leg.member].route.get();
  if (route == nullptr || route->username.empty() || leg.credentials_sent) {
    return false;
  }
  const bool www = response.status() == 401;
  auto value = response.header_value(www ? Header::WwwAuthenticate : Header::ProxyAuthenticate);
  auto challenge = sip::parse_challenge(value.value_or(""));
  if (!challenge) {
    spdlog::warn("trunk challenge refused call={} trunk={} reason=\"{}\"", id_, route->trunk,
                 challenge.error().reason);
    return false;
  }
  auto credentials = sip::compute_authorization(*challenge, "INVITE", leg.contact, route->username,
                                                route->password, 1, sip::random_token(16));
  if (!credentials) {
    spdlog::warn("trunk challenge refused call={} trunk={} reason=\"{}\"", id_, route->trunk,
                 credentials.error().reason);
    return false;
  }
  auto offer = leg_offer(leg);  // the same as the first time: same ports, same o= version
  if (!offer) {
    return false;
  }
  leg.credentials_sent = true;
  ++leg.cseq;
  auto sent = host_.layer().send_request(
      build_leg_invite(leg, www ? Header::Authorization : Header::ProxyAuthorization, *credentials,
                       *offer),
      leg.peer, this);
  if (!sent) {
    return false;
  }
  leg.invite = *sent;
  return true;
}

bool Call::member_ringing(std::size_t index) const {
  return std::any_of(legs_.begin() + 1, legs_.end(), [&](const Leg& l) {
    return !l.picker && l.round == round_ && l.member == index &&
           (l.state == LegState::Calling || l.state == LegState::Ringing);
  });
}

void Call::cancel_member(std::size_t index) {
  for (Leg& leg : legs_) {
    if (leg.caller || leg.picker || leg.round != round_ || leg.member != index) {
      continue;
    }
    if (leg.state == LegState::Calling || leg.state == LegState::Ringing) {
      // No Reason: this phone was not answered anywhere, a missed call is right.
      auto outcome = host_.layer().cancel(leg.invite);
      leg.state =
          outcome == sip::txn::CancelOutcome::TooLate ? LegState::Ended : LegState::Cancelling;
      changed(leg);
    }
  }
}

LegId Call::answered_leg() const {
  return std::visit(
      [](const auto& state) -> LegId {
        if constexpr (std::is_same_v<std::decay_t<decltype(state)>, Ringing>) {
          return 0;
        } else {
          return state.answered;
        }
      },
      state_);
}

bool Call::pickable() const {
  if (!ringing() && !transferring()) {
    return false;
  }
  return std::any_of(legs_.begin() + 1, legs_.end(), [&](const Leg& l) {
    return !l.picker && l.round == round_ &&
           (l.state == LegState::Calling || l.state == LegState::Ringing);
  });
}

PickupKeys Call::pickup_keys() const {
  PickupKeys keys;
  if (!pickable() || (plan_.ring_group && plan_.pickup_protected)) {
    return keys;  // a protected ring group's calls are nobody's to take, by any path
  }
  auto add = [](std::vector<std::string>& names, const std::string& name) {
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(name);
    }
  };
  for (std::size_t i = 0; i < plan_.members.size(); ++i) {
    const RingMember& member = plan_.members[i];
    if (!member_ringing(i)) {
      continue;
    }
    if (!member.pickup_protected && !member.route) {
      add(keys.numbers, member.number);
    }
    for_each_pickup_group(plan_, member,
                          [&](const std::string& group) { add(keys.groups, group); });
  }
  if (plan_.ring_group && !plan_.pickup_protected) {
    add(keys.numbers, plan_.number);
  }
  return keys;
}

void Call::on_response(sip::txn::ClientTransaction& t, const sip::Message& response) {
  handle_response(t, response);
  host_.settle(*this);  // may destroy the call: nothing after this
}

void Call::on_failure(sip::txn::ClientTransaction& t, int status) {
  handle_failure(t, status);
  host_.settle(*this);
}

void Call::on_cancel(sip::txn::ServerTransaction& invite, const sip::Message&) {
  // A picker's INVITE is answered at once: only the caller's can still be cancelled.
  if (invite.id() == legs_[0].invite) {
    on_caller_cancel();
  }
  host_.settle(*this);
}

void Call::on_ack(sip::txn::ServerTransaction& invite, const sip::Message& ack) {
  for (const Leg& leg : legs_) {
    if ((leg.caller || leg.picker) && leg.invite == invite.id()) {
      on_uas_ack(leg.id, ack);
      break;
    }
  }
  host_.settle(*this);
}

void Call::on_ack_timeout(sip::txn::ServerTransaction&) {
  on_caller_ack_timeout();
  host_.settle(*this);
}

Leg* Call::callee_leg(sip::txn::TransactionId invite) {
  for (Leg& leg : legs_) {
    if (!leg.caller && !leg.picker && leg.invite == invite) {
      return &leg;
    }
  }
  return nullptr;
}

void Call::handle_response(sip::txn::ClientTransaction& t, const sip::Message& response) {
  if (auto relay = relays_.find(t.id()); relay != relays_.end()) {
    const LegId id = relay->second.leg;
    Leg& leg = legs_[id];
    const int status = response.status();
    if (status < 200) {
      return;
    }
    if (t.method() == sip::Method::Invite && status < 300) {
      send_ack(leg, response.cseq_number());
      leg.dialog->refresh_target(response);
    }
    const bool ours = relay->second.origin == sip::txn::kNoTransaction;
    auto* origin = ours ? nullptr : host_.layer().find_server(relay->second.origin);
    relays_.erase(relay);
    if (ours && status < 300 && carries_sdp(t.method()) && !response.body().empty()) {
      // The answer to our own offer (a re-INVITE telling an identity): the relay follows it.
      leg.sdp = std::string(response.body());
    }
    if (ours && status < 300 && media_ && carries_sdp(t.method()) && !response.body().empty() &&
        !ended()) {
      if (auto learned = media_->learn(id, leg.peer, leg.sdp); !learned) {
        spdlog::warn("answer not learned call={} leg={} reason=\"{}\"", id_, id,
                     learned.error().reason);
      }
    }
    if (origin == nullptr) {
      return;
    }
    const LegId back = other_end(id);  // the leg that made the request
    if (back == kNoLeg) {
      host_.layer().respond(*origin, 500, "Call re-targeted meanwhile");
      return;
    }
    MessageBuilder out = origin->make_response(status, response.reason_phrase());
    if (status < 300 && (t.method() == sip::Method::Invite || t.method() == sip::Method::Update)) {
      out.header(Header::Contact,
                 contact_for(leg.extension, host_.local_address(origin->source().protocol),
                             origin->source().protocol));
    }
    // The answer to a relayed offer (re-INVITE, UPDATE) goes back to the leg that made it.
    auto body = carries_sdp(t.method()) ? carry(id, back, response.body())
                                        : sip::Result<std::string>(std::string(response.body()));
    if (!body) {
      host_.layer().respond(*origin, 500, body.error().reason);
      return;
    }
    if (!body->empty()) {
      out.body(response.header_value(Header::ContentType).value_or("application/sdp"), *body);
    }
    host_.layer().send_response(*origin, status, out.finish());
    return;
  }
  Leg* callee = t.method() == sip::Method::Invite ? callee_leg(t.id()) : nullptr;
  if (callee == nullptr) {
    return;  // responses to our BYE and CANCEL need nothing more
  }
  Leg& leg = *callee;
  const int status = response.status();
  if (status == 100) {
    return;
  }
  if ((status == 401 || status == 407) && leg.state == LegState::Calling &&
      retry_with_credentials(leg, response)) {
    return;
  }
  if (status < 200) {
    on_callee_provisional(leg, t, response);
  } else if (status < 300) {
    on_callee_answer(leg, t, response);
  } else {
    on_callee_final_failure(leg, status);
  }
}

void Call::on_callee_provisional(Leg& leg, const sip::txn::ClientTransaction& t,
                                 const sip::Message& response) {
  if (!response.to_tag().empty()) {
    if (!leg.dialog) {
      // The early dialog (RFC 3261 §12.1.2): BLF shows its tags, a pickup replaces it.
      if (auto early = sip::dialog::Dialog::create_uac(t.request(), response, contact_of(leg))) {
        unindex(leg);
        leg.dialog = std::move(*early);
      }
    } else if (leg.dialog->remote_tag() == response.to_tag()) {
      leg.dialog->on_response(response);
    }
  }
  if (leg.state == LegState::Calling) {
    leg.state = LegState::Ringing;
    leg.ring_started = host_.timers().now();
    if (record_.ring_ms == 0) {
      record_.ring_ms = now_ms();
    }
  }
  changed(leg);  // BLF: the phone's To tag is known now
  if (transferring() && leg.round == round_ && leg.state == LegState::Ringing &&
      response.status() == 180) {
    notify_transferor(180, response.reason_phrase());  // the transferee hears our ringback
    return;
  }
  if (!ringing() || leg.state != LegState::Ringing) {
    return;
  }
  auto* caller = host_.layer().find_server(legs_[0].invite);
  if (caller == nullptr) {
    return;
  }
  // RFC 3261 §16.7 step 5 as a B2BUA does it: relay 180/183, with early media SDP.
  MessageBuilder out = caller->make_response(response.status(), response.reason_phrase());
  out.header(Header::Contact, contact_of(legs_[0]));
  if (!response.body().empty()) {
    // Early media: the caller hears this phone (its ringback, an announcement).
    auto body = carry(leg.id, 0, response.body());
    if (body) {
      out.body(response.header_value(Header::ContentType).value_or("application/sdp"), *body);
      if (media_) {
        media_->bridge(0, leg.id);
      }
    } else {
      spdlog::warn("early media not relayed call={} leg={} reason=\"{}\"", id_, leg.id,
                   body.error().reason);
    }
  }
  host_.layer().send_response(*caller, response.status(), out.finish());
}

void Call::on_callee_answer(Leg& leg, const sip::txn::ClientTransaction& t,
                            const sip::Message& response) {
  if (leg.state == LegState::Answered) {
    // A retransmitted 2xx: our ACK was lost (RFC 3261 §13.2.2.4).
    if (leg.dialog && response.to_tag() == leg.dialog->remote_tag() && !leg.ack.empty()) {
      host_.layer().send_stateless(leg.peer, leg.ack);
    }
    return;
  }
  if (leg.dialog && leg.dialog->remote_tag() == response.to_tag()) {
    leg.dialog->on_response(response);  // confirms it, route set and target from the 2xx
  } else {
    auto confirmed = sip::dialog::Dialog::create_uac(t.request(), response, contact_of(leg));
    if (!confirmed) {
      // A 2xx we cannot even ACK (no Contact): give up on this device.
      spdlog::warn("bad answer call={} leg={} reason=\"{}\"", id_, leg.id,
                   confirmed.error().reason);
      on_callee_final_failure(leg, 502);
      return;
    }
    unindex(leg);  // the table views the dialog being replaced
    leg.dialog = std::move(*confirmed);
  }

  leg.allows_update = allows_update(response);
  const bool live =
      leg.round == round_ && leg.state != LegState::Cancelling && leg.state != LegState::Ended;
  if (live && transferring()) {
    complete_transfer(leg, t, response);
    return;
  }
  if (!ringing() || !live) {
    // Lost the race: answered after another leg won, or after the caller left.
    send_ack(leg, response.cseq_number());
    send_in_dialog(leg, sip::Method::Bye, {}, {}, {});
    leg.state = LegState::Ended;
    changed(leg);
    spdlog::info("late answer ended call={} leg={} extension={}", id_, leg.id, leg.extension);
    return;
  }
  auto body = carry(leg.id, 0, response.body());
  if (!body) {
    // An answer the relay cannot carry: this phone is out, the others ring on.
    spdlog::warn("answer not relayed call={} leg={} reason=\"{}\"", id_, leg.id,
                 body.error().reason);
    send_ack(leg, response.cseq_number());
    send_in_dialog(leg, sip::Method::Bye, {}, {}, {});
    leg.state = LegState::Ended;
    leg.final_status = body.error().status;
    changed(leg);
    after_leg_change();
    return;
  }
  leg.state = LegState::Answered;
  ends_[0] = 0;
  ends_[1] = leg.id;
  if (caller_offer_.empty()) {
    // The callee's 200 carries the offer; the caller's ACK brings the answer for our ACK.
    state_ = Answering{leg.id, 0, leg.id};
  } else {
    state_ = Talking{leg.id};
    leg.ack = send_ack(leg, response.cseq_number());
  }
  changed(leg);
  index(leg);
  no_answer_timer_.cancel();
  if (member_timer_) {
    member_timer_->cancel();
  }
  cancel_other_legs(leg.id, true);
  const RingMember& member = plan_.members[leg.member];
  callee_ = Party{member.number, member.name};
  if (media_) {
    media_->bridge(0, leg.id);
  }
  answer_caller(callee_, response.header_value(Header::ContentType).value_or("application/sdp"),
                *body);
  record_.answered_by = leg.extension;
  record_.answer_ms = now_ms();
  spdlog::info("call answered call={} caller={} by={} contact={}", id_, caller_.number,
               leg.extension, leg.contact);
  host_.pickable_changed(*this);
}

bool Call::send_uas_ok(Leg& leg, const Party& who, bool calling, std::string_view content_type,
                       std::string_view body) {
  auto* t = host_.layer().find_server(leg.invite);
  if (t == nullptr) {
    return false;
  }
  MessageBuilder ok = t->make_response(200);
  ok.header(Header::Contact, contact_of(leg));
  // Each phone learns who is on the other end (RFC 3325), also those that read only RPID.
  const std::string party = identity(who, host_.domain());
  ok.header(Header::PAssertedIdentity, party);
  ok.header(Header::RemotePartyId,
            party + (calling ? ";party=calling" : ";party=called") + ";screen=yes;privacy=off");
  ok.header(Header::Allow, kAllow);
  if (!body.empty()) {
    ok.body(content_type.empty() ? std::string_view("application/sdp") : content_type, body);
  }
  host_.layer().send_response(*t, 200, ok.finish());
  leg.state = LegState::Answered;
  leg.dialog->confirm();
  changed(leg);
  return true;
}

void Call::answer_caller(const Party& who, std::string_view content_type, std::string_view body) {
  if (!send_uas_ok(legs_[0], who, false, content_type, body)) {
    hang_up(0);
  }
}

PickupResult Call::pick_up(sip::txn::ServerTransaction& invite, const sip::Message& request,
                           const sip::transport::Peer& source, const Pickup& pickup) {
  base::assert_on_signaling_thread();
  if (transferring() && pickable()) {
    return pick_up_transfer(invite, request, source, pickup);
  }
  if (!pickable() || host_.layer().find_server(legs_[0].invite) == nullptr) {
    return PickupResult::NotPickable;
  }
  const std::string_view picker_offer = request.body();
  const std::string picker_type(request.header_value(Header::ContentType).value_or(""));
  // Without a relay the two phones talk to each other: each one's offer is answered with
  // what the other one offered (RFC 3264 §6), same m-lines, codecs common to both.
  std::string to_caller;
  std::string to_picker;
  if (!caller_offer_.empty() && !picker_offer.empty()) {
    const media::AnswerOptions options{id_, 1};
    auto for_caller = media::answer_from(caller_offer_, picker_offer, options);
    auto for_picker = media::answer_from(picker_offer, caller_offer_, options);
    if (!for_caller || !for_picker || !media::accepts_any_media(*for_caller) ||
        !media::accepts_any_media(*for_picker)) {
      spdlog::info("pickup refused call={} picker={} reason=\"{}\"", id_, pickup.picker.number,
                   !for_caller   ? for_caller.error().reason
                   : !for_picker ? for_picker.error().reason
                                 : std::string("no media in common"));
      return PickupResult::NoCommonMedia;
    }
    to_caller = std::move(*for_caller);
    to_picker = std::move(*for_picker);
  } else if (caller_offer_.empty() && picker_offer.empty()) {
    return PickupResult::NoCommonMedia;
  }

  Leg picker;
  picker.id = static_cast<LegId>(legs_.size());
  picker.picker = true;
  picker.extension = pickup.picker.number;
  picker.name = pickup.picker.name;
  picker.allows_update = allows_update(request);
  picker.state = LegState::Ringing;
  picker.invite = invite.id();
  picker.peer = source;
  auto dialog = sip::dialog::Dialog::create_uas(request, invite.to_tag(), contact_of(picker),
                                                sip::dialog::DialogState::Early);
  if (!dialog) {
    return PickupResult::BadRequest;
  }
  picker.dialog = std::move(*dialog);
  picker.sdp = std::string(picker_offer);
  // What each 200 carries: the answers, or with a late offer on one side the other's offer
  // (empty: that 200 waits for the ACK that brings the answer).
  std::string caller_gets = to_caller;
  std::string picker_gets = to_picker;
  if (to_picker.empty() && caller_offer_.empty()) {
    caller_gets = std::string(picker_offer);
  } else if (to_picker.empty()) {
    picker_gets = caller_offer_;
  }
  if (media_) {
    // Relayed: the picker gets streams of its own, and each body names the relay.
    std::optional<sip::ParseError> failed;
    if (!picker_offer.empty()) {
      if (auto learned = media_->learn(picker.id, source, picker_offer); !learned) {
        failed = learned.error();
      }
    }
    for (auto [leg, body] :
         {std::pair{picker.id, &picker_gets}, std::pair{LegId{0}, &caller_gets}}) {
      if (failed || body->empty()) {
        continue;
      }
      auto rewritten = media_->rewrite_for(leg, leg == 0 ? legs_[0].peer : source, *body);
      if (rewritten) {
        *body = std::move(*rewritten);
      } else {
        failed = rewritten.error();
      }
    }
    if (failed) {
      media_->close(picker.id);
      spdlog::info("pickup refused call={} picker={} reason=\"{}\"", id_, pickup.picker.number,
                   failed->reason);
      return failed->status == 503 ? PickupResult::NoMediaPorts : PickupResult::NoCommonMedia;
    }
  }
  host_.layer().attach(invite, *this);
  const LegId picker_id = picker.id;
  legs_.push_back(std::move(picker));
  Leg& leg = legs_[picker_id];
  changed(leg);

  // The decision is taken: from here on, one callback sends everything at once.
  callee_ = pickup.picker;
  ends_[0] = 0;
  ends_[1] = picker_id;
  if (!to_picker.empty()) {
    state_ = Talking{picker_id};
  } else if (caller_offer_.empty()) {
    state_ = Answering{picker_id, 0, picker_id};  // the caller's ACK completes the picker
  } else {
    state_ = Answering{picker_id, picker_id, 0};  // the picker's ACK completes the caller
  }
  no_answer_timer_.cancel();
  if (member_timer_) {
    member_timer_->cancel();
  }
  index(leg);
  if (media_) {
    media_->bridge(0, picker_id);
  }
  if (!to_picker.empty()) {
    send_uas_ok(leg, caller_, true, "application/sdp", picker_gets);
    answer_caller(callee_, "application/sdp", caller_gets);
  } else if (caller_offer_.empty()) {
    // The caller made no offer: ours to it is the picker's; its ACK answers both.
    answer_caller(callee_, picker_type, caller_gets);
  } else {
    // The picker made no offer: ours to it is the caller's; its ACK answers both.
    send_uas_ok(leg, caller_, true, caller_content_type_, picker_gets);
  }
  cancel_other_legs(picker_id, true);
  record_.answered_by = pickup.picker.number;
  record_.answer_ms = now_ms();
  record_.pickup_kind = std::string(pickup_kind_name(pickup.kind));
  record_.picked_from = pickup.target;
  spdlog::info("pickup call={} picker={} target={} how={} caller={}", id_, pickup.picker.number,
               pickup.target, pickup_kind_name(pickup.kind), caller_.number);
  host_.pickable_changed(*this);
  return PickupResult::Done;
}

PickupResult Call::pick_up_transfer(sip::txn::ServerTransaction& invite,
                                    const sip::Message& request, const sip::transport::Peer& source,
                                    const Pickup& pickup) {
  // The transferee waits connected: the picker's offer is answered from its description (no
  // late offer here: the transferee cannot be asked for a new offer while it waits).
  const LegId transferee = transfer_->transferee;
  const std::string_view picker_offer = request.body();
  if (picker_offer.empty()) {
    return PickupResult::NoCommonMedia;
  }
  const media::AnswerOptions options{id_, 1};
  auto to_picker = media::answer_from(picker_offer, legs_[transferee].sdp, options);
  if (!to_picker || !media::accepts_any_media(*to_picker)) {
    spdlog::info("pickup refused call={} picker={} reason=\"{}\"", id_, pickup.picker.number,
                 !to_picker ? to_picker.error().reason : std::string("no media in common"));
    return PickupResult::NoCommonMedia;
  }
  Leg picker;
  picker.id = static_cast<LegId>(legs_.size());
  picker.picker = true;
  picker.round = round_;
  picker.extension = pickup.picker.number;
  picker.name = pickup.picker.name;
  picker.allows_update = allows_update(request);
  picker.state = LegState::Ringing;
  picker.invite = invite.id();
  picker.peer = source;
  auto dialog = sip::dialog::Dialog::create_uas(request, invite.to_tag(), contact_of(picker),
                                                sip::dialog::DialogState::Early);
  if (!dialog) {
    return PickupResult::BadRequest;
  }
  picker.dialog = std::move(*dialog);
  picker.sdp = std::string(picker_offer);
  std::string picker_gets = std::move(*to_picker);
  std::string transferee_gets(picker_offer);
  if (media_) {
    auto learned = media_->learn(picker.id, source, picker_offer);
    auto rewritten = learned ? media_->rewrite_for(picker.id, source, picker_gets)
                             : sip::Result<std::string>(learned.error());
    auto for_transferee =
        rewritten ? media_->rewrite_for(transferee, legs_[transferee].peer, picker_offer)
                  : rewritten;
    if (!for_transferee) {
      media_->close(picker.id);
      spdlog::info("pickup refused call={} picker={} reason=\"{}\"", id_, pickup.picker.number,
                   for_transferee.error().reason);
      return for_transferee.error().status == 503 ? PickupResult::NoMediaPorts
                                                  : PickupResult::NoCommonMedia;
    }
    picker_gets = std::move(*rewritten);
    transferee_gets = std::move(*for_transferee);
  }
  host_.layer().attach(invite, *this);
  const LegId picker_id = picker.id;
  legs_.push_back(std::move(picker));
  Leg& leg = legs_[picker_id];
  changed(leg);
  index(leg);
  send_uas_ok(leg, shown_, true, "application/sdp", picker_gets);
  spdlog::info("pickup call={} picker={} target={} how={} caller={} transfer=1", id_,
               pickup.picker.number, pickup.target, pickup_kind_name(pickup.kind),
               legs_[transferee].extension);
  join_transfer_target(picker_id, transferee_gets);
  return PickupResult::Done;
}

void Call::cancel_other_legs(LegId keep, bool completed_elsewhere) {
  for (Leg& leg : legs_) {
    if (leg.caller || leg.picker || leg.id == keep || leg.round != round_) {
      continue;
    }
    if (leg.state == LegState::Calling || leg.state == LegState::Ringing) {
      const bool elsewhere = completed_elsewhere && plan_.members[leg.member].completed_elsewhere;
      auto outcome =
          host_.layer().cancel(leg.invite, elsewhere ? kCompletedElsewhere : std::string_view{});
      leg.state =
          outcome == sip::txn::CancelOutcome::TooLate ? LegState::Ended : LegState::Cancelling;
      changed(leg);
    }
  }
}

void Call::on_callee_final_failure(Leg& leg, int status) {
  const bool was_cancelled = leg.state == LegState::Cancelling;
  leg.state = LegState::Ended;
  leg.final_status = was_cancelled ? 0 : status;
  changed(leg);
  after_leg_change();
}

void Call::after_leg_change() {
  if ((!ringing() && !transferring()) || parked()) {
    return;  // a parked call rings nothing: a leg of an earlier round ending changes nothing
  }
  if (plan_.strategy == RingStrategy::Sequential && !member_ringing(current_member_)) {
    advance_member();
  }
  if (round_over()) {
    if (ringing() && round_status() == 486 && !plan_.forward.busy.empty() &&
        forward(plan_.forward.busy, "user-busy")) {
      ring_forwarded();
      return;
    }
    if (transferring()) {
      const int status = round_status();
      fail_transfer(status, sip::default_reason(status));
    } else {
      finish_unanswered();
    }
    return;
  }
  host_.pickable_changed(*this);
}

bool Call::round_over() const {
  return next_member_ >= plan_.members.size() &&
         std::all_of(legs_.begin(), legs_.end(), [&](const Leg& l) {
           return l.caller || l.picker || l.round != round_ || l.state == LegState::Ended;
         });
}

int Call::round_status() const {
  // Every device answered with a failure: busy when all were busy, else the best of the rest.
  bool all_busy = true;
  bool declined = false;
  for (const Leg& leg : legs_) {
    if (leg.caller || leg.picker || leg.round != round_) {
      continue;
    }
    all_busy = all_busy && (leg.final_status == 486 || leg.final_status == 600);
    declined = declined || leg.final_status == 603;
  }
  bool any = std::any_of(legs_.begin(), legs_.end(), [&](const Leg& leg) {
    return !leg.caller && !leg.picker && leg.round == round_;
  });
  return !any ? 480 : all_busy ? 486 : declined ? 603 : 480;
}

void Call::advance_member() {
  if (member_timer_) {
    member_timer_->cancel();
  }
  std::size_t sent = 0;
  while (sent == 0 && next_member_ < plan_.members.size()) {
    current_member_ = next_member_++;
    sent = ring_member(current_member_);
  }
  if (sent != 0) {
    spdlog::info("call next member call={} extension={}", id_,
                 plan_.members[current_member_].number);
  }
  if (sent != 0 && next_member_ < plan_.members.size()) {
    arm(member_timer_, plan_.member_ring_time, kMemberTimer);
  }
}

void Call::finish_unanswered() {
  const int status = round_status();
  if (auto* caller = host_.layer().find_server(legs_[0].invite)) {
    host_.layer().respond(*caller, status);
  }
  end(status == 480 ? "failed" : "busy", "callee");
}

void Call::handle_failure(sip::txn::ClientTransaction& t, int status) {
  if (auto relay = relays_.find(t.id()); relay != relays_.end()) {
    if (auto* origin = host_.layer().find_server(relay->second.origin)) {
      host_.layer().respond(*origin, status);
    }
    relays_.erase(relay);
    return;
  }
  Leg* leg = t.method() == sip::Method::Invite ? callee_leg(t.id()) : nullptr;
  if (leg != nullptr && leg->state != LegState::Answered) {
    on_callee_final_failure(*leg, status);
  }
}

void Call::on_caller_cancel() {
  if (!ringing()) {
    return;
  }
  if (auto* caller = host_.layer().find_server(legs_[0].invite)) {
    host_.layer().respond(*caller, 487);
  }
  cancel_other_legs(0, false);
  end("cancelled", "caller");
}

void Call::on_uas_ack(LegId id, const sip::Message& ack) {
  if (auto* serving = std::get_if<Serving>(&state_); serving && id == 0 && !serving->started) {
    serving->started = true;
    if (serving->late) {
      auto learned = media_->learn_local_answer(0, legs_[0].peer, ack.body());
      if (ack.body().empty() || !learned) {
        spdlog::warn("service without answer call={}", id_);
        hang_up();
        return;
      }
    }
    service_->start(*this);
    return;
  }
  // The ACK of a 200 that carried no late offer completes nothing.
  if (const auto* answering = std::get_if<Answering>(&state_);
      answering && id == answering->ack_from) {
    complete_late_offer(*answering, ack);
  }
}

void Call::complete_late_offer(const Answering& answering, const sip::Message& ack) {
  const Answering done = answering;  // `answering` lives in state_, replaced next
  state_ = Talking{done.answered};
  Leg& leg = legs_[done.complete];
  const std::string_view type = ack.header_value(Header::ContentType).value_or("application/sdp");
  auto answer = carry(done.ack_from, done.complete, ack.body());
  if (!answer) {
    spdlog::warn("late answer not relayed call={} leg={} reason=\"{}\"", id_, done.ack_from,
                 answer.error().reason);
    terminate("Bad SDP answer");
    return;
  }
  if (!leg.caller && !leg.picker) {
    // The caller's answer to the callee's offer rides on to it in our ACK.
    MessageBuilder out = leg.dialog->make_ack(leg.dialog->local_cseq(), via_for(leg));
    out.body(type, *answer);
    leg.ack = out.finish();
    host_.layer().send_stateless(leg.peer, leg.ack);
    return;
  }
  // A pickup's late offer: the ACK's answer goes in the other side's 200.
  if (ack.body().empty()) {
    spdlog::warn("pickup without answer call={} leg={}", id_, done.ack_from);
    terminate("No SDP answer");
    return;
  }
  if (leg.caller) {
    answer_caller(callee_, type, *answer);
  } else {
    send_uas_ok(leg, caller_, true, type, *answer);
  }
}

void Call::on_caller_ack_timeout() {
  spdlog::warn("caller never acknowledged call={} caller={}", id_, caller_.number);
  if (connected()) {
    terminate("No ACK");
  }
}

LegId Call::leg_of(const sip::dialog::Dialog& dialog) const {
  for (const Leg& leg : legs_) {
    if (leg.dialog.get() == &dialog) {
      return leg.id;
    }
  }
  return 0;  // not reached: only the legs' own dialogs are in the table
}

void Call::on_in_dialog_request(sip::dialog::Dialog& dialog, sip::txn::ServerTransaction& t,
                                const sip::Message& request) {
  base::assert_on_signaling_thread();
  handle_in_dialog(leg_of(dialog), t, request);
  host_.settle(*this);
}

void Call::handle_in_dialog(LegId id, sip::txn::ServerTransaction& t, const sip::Message& request) {
  Leg& leg = legs_[id];
  auto& layer = host_.layer();
  // RFC 3261 §12.2.2: a CSeq lower than the last one is out of order.
  if (!leg.dialog || !leg.dialog->accept_request(request)) {
    layer.respond(t, 500, "Out of order CSeq");
    return;
  }
  if (request.method() == sip::Method::Bye) {
    layer.respond(t, 200);
    if (ringing() && id == 0) {
      on_caller_cancel();  // RFC 3261 §15: BYE in the early dialog ends the call like CANCEL
      return;
    }
    if (transferring()) {
      on_bye_while_transferring(id);
      return;
    }
    if (serving()) {
      on_bye_while_serving();
      return;
    }
    if (!connected()) {
      return;
    }
    if (other_end(id) == kNoLeg) {
      // A transferor that hangs up after its transfer completed, crossing our BYE.
      if (leg.state != LegState::Ended) {
        leg.state = LegState::Ended;
        changed(leg);
      }
      return;
    }
    hang_up(id);
    return;
  }
  const bool offer = request.method() == sip::Method::Invite ||
                     request.method() == sip::Method::Update ||
                     request.method() == sip::Method::Refer;
  if (serving()) {
    // The server's own media answers the line: a new offer (hold) gets what it has; INFO
    // (RFC 2976 DTMF from phones that send it so) is a key.
    if (request.method() == sip::Method::Info) {
      layer.respond(t, 200);
      if (auto digit = info_digit(request)) {
        dtmf(*digit);
      }
    } else {
      layer.respond(t, offer ? 488 : 200, offer ? "Not here: a service answers" : "");
    }
    return;
  }
  if (transferring() && leg.state == LegState::Answered) {
    // The transferee waits and the transferor watches: nothing is relayed to a target that
    // has not answered. An offer waits for the transfer's outcome (RFC 3261 §14.1: retry).
    if (offer) {
      layer.respond(t, 491, "Transfer in progress");
    } else {
      layer.respond(t, 200);
    }
    return;
  }
  if (!connected() || leg.state != LegState::Answered || other_end(id) == kNoLeg) {
    layer.respond(t, offer ? 491 : 481);
    return;
  }
  if (request.method() == sip::Method::Refer) {
    on_refer(id, t, request);
    return;
  }
  // A target refresh (re-INVITE, UPDATE) moves the remote target (RFC 3261 §12.2.2).
  if (request.method() == sip::Method::Invite || request.method() == sip::Method::Update) {
    leg.dialog->refresh_target(request);
  }
  if (request.method() == sip::Method::Other) {
    layer.respond(t, 501);  // we cannot rebuild a method we do not know on the other leg
    return;
  }
  Leg& other = legs_[other_end(id)];
  auto body = carries_sdp(request.method()) ? carry(id, other.id, request.body())
                                            : sip::Result<std::string>(std::string(request.body()));
  if (!body) {
    layer.respond(t, body.error().status, body.error().reason);
    return;
  }
  auto sent = send_in_dialog(other, request.method(), {},
                             request.header_value(Header::ContentType).value_or(""), *body);
  if (sent == sip::txn::kNoTransaction) {
    layer.respond(t, 500, "Relay failed");
    return;
  }
  relays_.emplace(sent, Relay{t.id(), other.id});
}

void Call::on_stray_2xx(sip::dialog::Dialog& dialog, const sip::Message& response) {
  const LegId id = leg_of(dialog);
  if (!legs_[id].ack.empty()) {
    host_.layer().send_stateless(legs_[id].peer, legs_[id].ack);
  }
}

void Call::hang_up(LegId from) {
  const LegId other = other_end(from);
  if (other != kNoLeg) {
    send_in_dialog(legs_[other], sip::Method::Bye, {}, {}, {});
    legs_[other].state = LegState::Ended;
  }
  legs_[from].state = LegState::Ended;
  spdlog::info("call hangup call={} by={}", id_, legs_[from].extension);
  end("answered", legs_[from].caller ? "caller" : "callee");
}

LegId Call::other_end(LegId id) const {
  if (!connected() || id == kNoLeg) {
    return kNoLeg;
  }
  return ends_[0] == id ? ends_[1] : ends_[1] == id ? ends_[0] : kNoLeg;
}

void Call::media_timeout() {
  base::assert_on_signaling_thread();
  if (!connected()) {
    return;  // ringing: the no-answer timeout ends it
  }
  spdlog::info("media timeout call={} caller={}", id_, caller_.number);
  terminate("Media timeout", "media-timeout");
}

void Call::terminate(std::string_view why, std::string_view by) {
  base::assert_on_signaling_thread();
  if (ended()) {
    return;
  }
  if (transferring()) {
    cancel_other_legs(kNoLeg, false);
    notify_transferor(487, "Request Terminated");
  }
  if (serving()) {
    if (legs_[0].state == LegState::Answered) {
      send_in_dialog(legs_[0], sip::Method::Bye, {}, {}, {});
    }
    end(plan_.service->disposition, by);
    return;
  }
  if (connected()) {
    // A UAS leg still waiting for its 200 (a pickup's late offer) gets a failure instead.
    for (LegId id : ends_) {
      if (id == kNoLeg) {
        continue;
      }
      Leg& leg = legs_[id];
      if (leg.state == LegState::Answered || !(leg.caller || leg.picker)) {
        send_in_dialog(leg, sip::Method::Bye, {}, {}, {});
      } else if (auto* t = host_.layer().find_server(leg.invite)) {
        host_.layer().respond(*t, 503, why);
      }
    }
    end("answered", by);
    return;
  }
  cancel_other_legs(0, false);
  if (auto* caller = host_.layer().find_server(legs_[0].invite)) {
    host_.layer().respond(*caller, 503, why);
  }
  end("failed", by);
}

void Call::on_timer(base::Timer& timer) {
  if (timer.tag() == kPlayedTimer) {
    if (serving() && service_) {
      service_->on_played(*this);
    }
    return;
  }
  if (timer.tag() == kAnnouncedTimer) {
    // The parker heard its slot: the REFER succeeded (RFC 3515), and its part is over.
    if (transfer_ && !transfer_->transferor_left) {
      notify_transferor(200, "OK");
      Leg& parker = legs_[transfer_->transferor];
      if (parker.state == LegState::Answered) {
        send_in_dialog(parker, sip::Method::Bye, {}, {}, {});
        parker.state = LegState::Ended;
        changed(parker);
      }
      transfer_->transferor_left = true;
      ends_[ends_[0] == transfer_->transferor ? 0 : 1] = kNoLeg;
    }
    return;
  }
  if (timer.tag() == kTransferTimer) {
    if (transferring()) {
      spdlog::info("transfer no-answer call={} target={}", id_, plan_.number);
      fail_transfer(480, "No Answer");
    }
    return;
  }
  if (timer.tag() == kMemberTimer && transferring()) {
    cancel_member(current_member_);
    advance_member();
    after_leg_change();
    return;
  }
  if (!ringing()) {
    return;
  }
  if (timer.tag() == kForwardTimer) {
    // Nobody answered in ring_time: these phones stop (a plain CANCEL: they missed it).
    const std::string target = plan_.forward.no_answer;
    const std::uint8_t rang = round_;
    if (!forward(target, "no-answer")) {
      return;  // a loop: these phones ring on
    }
    if (member_timer_) {
      member_timer_->cancel();
    }
    for (Leg& leg : legs_) {
      if (!leg.caller && !leg.picker && leg.round == rang &&
          (leg.state == LegState::Calling || leg.state == LegState::Ringing)) {
        auto outcome = host_.layer().cancel(leg.invite);
        leg.state =
            outcome == sip::txn::CancelOutcome::TooLate ? LegState::Ended : LegState::Cancelling;
        changed(leg);
      }
    }
    ring_forwarded();
    return;
  }
  if (timer.tag() == kAlertTimer) {
    alerted_ = true;
    host_.pickup_alert(*this);
    return;
  }
  if (timer.tag() == kMemberTimer) {
    // Sequential ring group: this member had its turn.
    cancel_member(current_member_);
    advance_member();
    after_leg_change();
    return;
  }
  if (timer.tag() != kNoAnswerTimer) {
    return;
  }
  spdlog::info("call no-answer call={} caller={} dialled={}", id_, caller_.number, dialled_);
  // No Reason header here: the phones did not answer, so a missed call is right.
  cancel_other_legs(0, false);
  if (auto* caller = host_.layer().find_server(legs_[0].invite)) {
    host_.layer().respond(*caller, 480, "No Answer");
  }
  end("no-answer", "system");
}

void Call::end(std::string_view disposition, std::string_view hangup_by) {
  if (ended()) {
    return;
  }
  state_ = Ended{answered_leg()};
  no_answer_timer_.cancel();
  if (member_timer_) {
    member_timer_->cancel();
  }
  if (alert_timer_) {
    alert_timer_->cancel();
  }
  if (forward_timer_) {
    forward_timer_->cancel();
  }
  if (played_timer_) {
    played_timer_->cancel();
  }
  if (recording_ && media_) {
    recording_ = false;
    media_->stop_recording(0);  // before the streams close: the sink gets what came
  }
  if (transfer_) {
    transfer_->timer.cancel();
    transfer_->announce.cancel();
    if (!transfer_->park_slot.empty()) {
      host_.park_changed(*this, transfer_->park_slot, false);
      transfer_->park_slot.clear();
      left_slot();
    }
  }
  for (const Leg& leg : legs_) {
    changed(leg);  // BLF: every dialog shown ends terminated
  }
  for (Leg& leg : legs_) {
    unindex(leg);
  }
  if (media_) {
    for (const Leg& leg : legs_) {
      media_->close(leg.id);  // the relay's last counters follow, for the record
    }
  }
  record_.end_ms = now_ms();
  // Missed only when no phone answered anywhere (voicemail is no phone); a feature code's
  // confirmation is nobody's call.
  record_.missed = std::get<Ended>(state_).answered == 0 && disposition != "feature";
  if (!diversions_.empty()) {
    const std::string& why = diversions_.front().reason;
    record_.forwarded_from = diversions_.front().number;
    record_.forward_reason = why == "unconditional" ? "always"
                             : why == "user-busy"   ? "busy"
                                                    : why;  // no-answer, unavailable
  }
  record_.disposition = std::string(disposition);
  record_.hangup_by = std::string(hangup_by);
  spdlog::info("call end call={} disposition={} hangup_by={}", id_, disposition, hangup_by);
  host_.call_ended(*this);
}

bool Call::idle() const {
  // Every transaction it started or took has said its last word: none can call it again.
  return ended() && attached() == 0;
}

std::string Call::via_for(const Leg& leg) const {
  return sip::txn::new_via(leg.peer.protocol, host_.local_address(leg.peer.protocol));
}

std::string Call::contact_of(const Leg& leg) const {
  // The caller talks to "the number it dialled", a callee to "the caller".
  return contact_for(leg.caller ? std::string_view(dialled_) : std::string_view(shown_.number),
                     host_.local_address(leg.peer.protocol), leg.peer.protocol);
}

std::string Call::build_in_dialog(Leg& leg, sip::Method method, std::string_view reason,
                                  std::string_view content_type, std::string_view body,
                                  std::initializer_list<ExtraHeader> extra) {
  MessageBuilder out = leg.dialog->make_request(method, via_for(leg));
  if (!reason.empty()) {
    out.header(Header::Reason, reason);
  }
  for (const ExtraHeader& header : extra) {
    out.header(header.first, header.second);
  }
  if (!body.empty()) {
    out.body(content_type.empty() ? std::string_view("application/sdp") : content_type, body);
  }
  return out.finish();
}

std::string Call::send_ack(Leg& leg, std::uint32_t cseq) {
  std::string ack = leg.dialog->make_ack(cseq, via_for(leg)).finish();
  host_.layer().send_stateless(leg.peer, ack);
  return ack;
}

sip::txn::TransactionId Call::send_in_dialog(Leg& leg, sip::Method method, std::string_view reason,
                                             std::string_view content_type, std::string_view body,
                                             std::initializer_list<ExtraHeader> extra) {
  if (!leg.dialog || leg.dialog->remote_target().empty()) {
    return sip::txn::kNoTransaction;
  }
  auto sent = host_.layer().send_request(
      build_in_dialog(leg, method, reason, content_type, body, extra), leg.peer, this);
  if (!sent) {
    spdlog::warn("in-dialog request not sent call={} method={} reason=\"{}\"", id_,
                 sip::method_name(method), sent.error().reason);
    return sip::txn::kNoTransaction;
  }
  return *sent;
}

void Call::changed(const Leg& leg) {
  host_.leg_changed(*this, leg);
  if (media_ && (leg.state == LegState::Cancelling || leg.state == LegState::Ended)) {
    media_->close(leg.id);  // its ports go back to the pool now, not when the call ends
  }
}

sip::Result<std::string> Call::carry(LegId from, LegId to, std::string_view sdp) {
  if (sdp.empty()) {
    return std::string();
  }
  if (sdp.data() != legs_[from].sdp.data()) {
    legs_[from].sdp = std::string(sdp);  // what a transfer offers its target
  }
  if (!media_) {
    return std::string(sdp);
  }
  if (ended()) {
    // Its streams are closed and its record may be written: open none again.
    return sip::fail("Call ended", 0, 481);
  }
  return media_->carry(from, legs_[from].peer, to, legs_[to].peer, sdp);
}

void Call::on_refer(LegId id, sip::txn::ServerTransaction& t, const sip::Message& request) {
  auto& layer = host_.layer();
  Leg& transferor = legs_[id];
  auto refuse = [&](int status, std::string_view reason) {
    spdlog::info("transfer refused call={} transferor={} status={} reason=\"{}\"", id_,
                 transferor.extension, status, reason);
    layer.respond(t, status, reason);
  };
  if (!std::holds_alternative<Talking>(state_)) {
    refuse(491, "Call not established");
    return;
  }
  const std::optional<std::string_view> refer_to = request.header_value(Header::ReferTo);
  if (!refer_to) {
    refuse(400, "Missing Refer-To");
    return;
  }
  auto target = sip::parse_name_addr(*refer_to);
  std::string lenient;
  if (!target && refer_to->find('?') != std::string_view::npos) {
    // Phones that write Replaces' Call-ID with its '@' unescaped (RFC 3261 §19.1.1 wants
    // %40) still mean it: escape what follows '?' and read it again.
    lenient = std::string(*refer_to);
    const std::size_t close = lenient.rfind('>');
    for (std::size_t i = lenient.find('?'); i < lenient.size() && i < close; ++i) {
      if (lenient[i] == '@') {
        lenient.replace(i, 1, "%40");
      }
    }
    target = sip::parse_name_addr(lenient);
  }
  if (!target) {
    refuse(400, "Bad Refer-To: " + target.error().reason);
    return;
  }
  if (target->uri.scheme != sip::Scheme::Sip && target->uri.scheme != sip::Scheme::Sips) {
    refuse(416, "Refer-To is no SIP URI");
    return;
  }
  // URI headers (RFC 3261 §19.1.1): "Replaces=<escaped value>", maybe among others.
  const std::string headers(target->uri.headers);
  for (std::size_t at = 0; at < headers.size();) {
    std::size_t end = headers.find('&', at);
    if (end == std::string::npos) {
      end = headers.size();
    }
    const std::string_view field = std::string_view(headers).substr(at, end - at);
    if (field.size() > 9 && sip::iequals(field.substr(0, 9), "Replaces=")) {
      refer_with_replaces(id, t, request, sip::unescape(field.substr(9)));
      return;
    }
    at = end + 1;
  }
  const std::string number = sip::unescape(target->uri.user);
  TransferTarget resolved = host_.transfer_target(party_of(transferor), number);
  if (resolved.park) {
    start_park(id, t, request, *resolved.park);
    return;
  }
  if (!resolved.plan) {
    refuse(resolved.status, resolved.reason);
    return;
  }
  start_transfer(id, t, request, std::move(*resolved.plan), number);
}

void Call::start_park(LegId id, sip::txn::ServerTransaction& t, const sip::Message& request,
                      const ParkTarget& park) {
  const LegId transferee = other_end(id);
  host_.layer().respond(t, 202);
  transfer_ = std::make_unique<Transfer>();
  transfer_->transferor = id;
  transfer_->transferee = transferee;
  transfer_->refer_cseq = request.cseq_number();
  transfer_->comebacks = {legs_[id].extension};
  if (!park.comeback.empty()) {
    transfer_->comebacks.push_back(park.comeback);
  }
  transfer_->comeback_time = park.comeback_time;
  transfer_->mark = " (parked " + park.slot + ")";
  transfer_->park_slot = park.slot;
  transfer_->park_lot = park.lot;
  shown_ = party_of(legs_[transferee]);  // what a retriever and a comeback are shown
  state_ = Transferring{answered_leg()};
  notify_transferor(100, "Trying");
  host_.park_changed(*this, park.slot, true);
  record_.parked_by = legs_[id].extension;
  record_.park_slot = park.slot;
  transfer_->parked_ms = now_ms();
  std::chrono::milliseconds announcing(0);
  if (media_) {
    // The parked phone hears hold music; the parker hears where it parked, then is let go.
    media_->unbridge();
    media_->play(transferee, "hold_music");
    std::vector<std::string> names{"parked_on"};
    for (std::string& digit : media::audio::spoken_digits(park.slot)) {
      names.push_back(std::move(digit));
    }
    announcing = media_->announce(id, names);
  }
  spdlog::info("park call={} parker={} parked={} lot={} slot={}", id_, legs_[id].extension,
               legs_[transferee].extension, park.lot, park.slot);
  host_.timers().schedule_in(transfer_->announce, announcing, *this, kAnnouncedTimer);
  // The lot's timeout counts from the end of the announcement: the parker's REFER completes
  // with 200 first, and a comeback never rings a phone that is still hearing its slot.
  host_.timers().schedule_in(transfer_->timer, announcing + park.timeout, *this, kTransferTimer);
}

const std::string& Call::park_slot() const {
  static const std::string none;
  return transfer_ ? transfer_->park_slot : none;
}

PickupResult Call::retrieve(sip::txn::ServerTransaction& invite, const sip::Message& request,
                            const sip::transport::Peer& source, const Pickup& pickup) {
  if (!parked()) {
    return PickupResult::NotPickable;
  }
  return pick_up_transfer(invite, request, source, pickup);
}

void Call::start_transfer(LegId id, sip::txn::ServerTransaction& t, const sip::Message& request,
                          RingPlan plan, std::string_view number) {
  Leg& transferor = legs_[id];
  const LegId transferee = other_end(id);
  host_.layer().respond(t, 202);

  transfer_ = std::make_unique<Transfer>();
  transfer_->transferor = id;
  transfer_->transferee = transferee;
  transfer_->refer_cseq = request.cseq_number();
  transfer_->referred_by =
      std::string(request.header_value(Header::ReferredBy)
                      .value_or("<sip:" + transferor.extension + "@" + host_.domain() + ">"));
  transfer_->comebacks = {transferor.extension};
  transfer_->comeback_time = host_.recall_timeout();
  transfer_->mark = " (transfer failed)";
  transfer_->target = std::string(number);
  state_ = Transferring{answered_leg()};
  notify_transferor(100, "Trying");
  spdlog::info("transfer start call={} transferor={} transferee={} target={}", id_,
               transferor.extension, legs_[transferee].extension, number);

  if (media_) {
    // The transferee hears ringback from the relay while the target rings; the transferor
    // hears nothing of it any more. (Without the relay the transferee hears what the
    // transferor's phone sends it, its hold music, until the target answers.)
    media_->unbridge();
    media_->play(transferee, "ringback");
  }
  next_round(std::move(plan));
  shown_ = party_of(legs_[transferee]);
  caller_offer_ = with_sendrecv(legs_[transferee].sdp);
  caller_content_type_ = "application/sdp";
  host_.timers().schedule_in(transfer_->timer, host_.transfer_timeout(), *this, kTransferTimer);
  if (ring_round() == 0) {
    fail_transfer(480, "Temporarily Unavailable");
    return;
  }
  host_.pickable_changed(*this);
}

void Call::notify_transferor(int status, std::string_view reason) {
  if (!transfer_ || transfer_->transferor_left || transfer_->notified_final) {
    return;
  }
  Leg& leg = legs_[transfer_->transferor];
  const bool final = status >= 200;
  transfer_->notified_final = final;
  const std::string event = "refer;id=" + std::to_string(transfer_->refer_cseq);
  const std::string state = final ? std::string("terminated;reason=noresource")
                                  : "active;expires=" + std::to_string(kReferExpires);
  const std::string frag = "SIP/2.0 " + std::to_string(status) + " " +
                           std::string(reason.empty() ? sip::default_reason(status) : reason) +
                           "\r\n";
  send_in_dialog(leg, sip::Method::Notify, {}, "message/sipfrag;version=2.0", frag,
                 {{Header::Event, event}, {Header::SubscriptionState, state}});
}

void Call::complete_transfer(Leg& leg, const sip::txn::ClientTransaction& t,
                             const sip::Message& response) {
  const LegId transferee = transfer_->transferee;
  auto body = response.body().empty() ? sip::fail("Answer without SDP", 0, 488)
                                      : carry(leg.id, transferee, response.body());
  if (!body) {
    spdlog::warn("transfer answer not relayed call={} leg={} reason=\"{}\"", id_, leg.id,
                 body.error().reason);
    send_ack(leg, response.cseq_number());
    send_in_dialog(leg, sip::Method::Bye, {}, {}, {});
    leg.state = LegState::Ended;
    leg.final_status = body.error().status;
    changed(leg);
    after_leg_change();
    return;
  }
  (void)t;
  leg.state = LegState::Answered;
  leg.ack = send_ack(leg, response.cseq_number());
  changed(leg);
  index(leg);
  join_transfer_target(leg.id, *body);
}

void Call::join_transfer_target(LegId joined, std::string_view for_transferee) {
  const LegId transferee = transfer_->transferee;
  Leg& leg = legs_[joined];
  transfer_->timer.cancel();
  transfer_->announce.cancel();
  if (!transfer_->park_slot.empty()) {
    spdlog::info("park retrieved call={} slot={} by={}", id_, transfer_->park_slot, leg.extension);
    host_.park_changed(*this, transfer_->park_slot, false);
    transfer_->park_slot.clear();
    record_.retrieved_by = leg.extension;
    left_slot();
  } else if (transfer_->park_lot.empty() && !transfer_->recall) {
    record_.transferred_by = legs_[transfer_->transferor].extension;
    record_.transferred_to = transfer_->target.empty() ? leg.extension : transfer_->target;
    record_.transfer_kind = "blind";
  }
  if (member_timer_) {
    member_timer_->cancel();
  }
  cancel_other_legs(leg.id, true);
  if (media_) {
    media_->bridge(transferee, leg.id);
  }
  ends_[0] = transferee;
  ends_[1] = leg.id;
  state_ = Talking{leg.id};
  notify_transferor(200, "OK");
  Leg& transferor = legs_[transfer_->transferor];
  if (!transfer_->transferor_left && transferor.state == LegState::Answered) {
    // RFC 5589 §6: the transferor's part is over; its phone may send BYE too (481 then).
    send_in_dialog(transferor, sip::Method::Bye, {}, {}, {});
    transferor.state = LegState::Ended;
    changed(transferor);
  }
  if (legs_[transferee].caller) {
    callee_ = party_of(leg);
  }
  spdlog::info("transfer done call={} transferee={} target={} recall={}", id_,
               legs_[transferee].extension, leg.extension, transfer_->recall);
  transfer_.reset();
  tell_identity(legs_[transferee], leg, for_transferee);
  host_.pickable_changed(*this);
}

void Call::tell_identity(Leg& leg, const Leg& other, std::string_view sdp, bool reoffer) {
  const std::string party = identity(party_of(other), host_.domain());
  const std::string rpid = party + ";party=called;screen=yes;privacy=off";
  const std::initializer_list<ExtraHeader> headers = {{Header::PAssertedIdentity, party},
                                                      {Header::RemotePartyId, rpid}};
  sip::txn::TransactionId sent = sip::txn::kNoTransaction;
  // Without the relay the transferee must learn where the target's phone receives: re-INVITE.
  if (media_ && !reoffer && leg.allows_update && talks(leg.sdp)) {
    sent = send_in_dialog(leg, sip::Method::Update, {}, {}, {}, headers);
  } else {
    // A held transferee is taken off hold by the offer, which is the target's description.
    sent = send_in_dialog(leg, sip::Method::Invite, {}, "application/sdp", sdp, headers);
  }
  if (sent != sip::txn::kNoTransaction) {
    relays_.emplace(sent, Relay{sip::txn::kNoTransaction, leg.id});
  }
}

void Call::fail_transfer(int status, std::string_view reason) {
  Transfer& transfer = *transfer_;
  transfer.timer.cancel();
  if (member_timer_) {
    member_timer_->cancel();
  }
  cancel_other_legs(kNoLeg, false);
  notify_transferor(status, reason);
  const LegId transferee = transfer.transferee;
  Leg& transferor = legs_[transfer.transferor];
  spdlog::info("transfer failed call={} target={} status={} transferor_left={}", id_, plan_.number,
               status, transfer.transferor_left);
  const bool parking = !transfer.park_slot.empty();
  if (parking) {
    transfer.announce.cancel();
    host_.park_changed(*this, transfer.park_slot, false);
    transfer.park_slot.clear();
    left_slot();
  }
  if (!transfer.transferor_left && transferor.state == LegState::Answered) {
    if (!parking) {
      // The transferor is still there: it has the transferee back (its phone resumes it).
      if (media_) {
        media_->bridge(transferee, transfer.transferor);
      }
      state_ = Talking{answered_leg()};
      transfer_.reset();
      host_.pickable_changed(*this);
      return;
    }
    send_in_dialog(transferor, sip::Method::Bye, {}, {}, {});
    transferor.state = LegState::Ended;
    transfer.transferor_left = true;
    changed(transferor);
  }
  // Ring the comebacks in turn (the transferor or parker, then a lot's fallback), marked,
  // rather than drop the call in silence.
  while (transfer.next_comeback < transfer.comebacks.size()) {
    const std::string number = transfer.comebacks[transfer.next_comeback++];
    std::optional<RingPlan> plan = host_.recall_plan(number);
    if (!plan) {
      continue;
    }
    if (!transfer.recall) {
      transfer.recall = true;
      const std::string who = shown_.name.empty() ? shown_.number : shown_.name;
      shown_.name = who + transfer.mark;
      if (media_ && parking) {
        media_->play(transferee, "ringback");
      }
    }
    next_round(std::move(*plan));
    host_.timers().schedule_in(transfer.timer, transfer.comeback_time, *this, kTransferTimer);
    if (ring_round() != 0) {
      spdlog::info("transfer recall call={} number={}", id_, number);
      host_.pickable_changed(*this);
      return;
    }
  }
  // Nobody is left to take the call.
  spdlog::info("transfer ends call call={} transferee={}", id_, legs_[transferee].extension);
  Leg& waiting = legs_[transferee];
  send_in_dialog(waiting, sip::Method::Bye, {}, {}, {});
  waiting.state = LegState::Ended;
  end("answered", "system");
}

void Call::refer_with_replaces(LegId id, sip::txn::ServerTransaction& t,
                               const sip::Message& request, std::string_view value) {
  auto& layer = host_.layer();
  Leg& transferor = legs_[id];
  auto refuse = [&](int status, std::string_view reason) {
    spdlog::info("transfer refused call={} transferor={} status={} reason=\"{}\"", id_,
                 transferor.extension, status, reason);
    layer.respond(t, status, reason);
  };
  auto replaces = sip::parse_replaces(value);
  if (!replaces) {
    refuse(400, "Bad Replaces in Refer-To: " + replaces.error().reason);
    return;
  }
  auto [other, named] = host_.find_dialog(replaces->call_id, replaces->to_tag, replaces->from_tag);
  if (other == nullptr || other == this || other->ended()) {
    refuse(481, "Replaces names no call of this server");
    return;
  }
  const Leg& consultation = other->legs()[named];
  // Only the transferor's own consultation call can be joined: a Replaces naming anybody
  // else's dialog would take over a call it has no part in.
  if (consultation.extension != transferor.extension) {
    refuse(403, "Replaces names another extension's call");
    return;
  }
  if (other->relayed() != relayed()) {
    refuse(501, "Cannot join a relayed call and a direct one");
    return;
  }
  if (other->ringing() && consultation.caller) {
    // Semi-attended: the target still rings for the transferor. It is rung again for the
    // transferee, as a blind transfer to the number the transferor dialled.
    const std::string number = other->dialled();
    TransferTarget resolved = host_.transfer_target(party_of(transferor), number);
    if (!resolved.plan) {
      refuse(resolved.status, resolved.reason);
      return;
    }
    other->withdraw();
    host_.settle_other(*other);
    start_transfer(id, t, request, std::move(*resolved.plan), number);
    return;
  }
  const LegId target = other->other_end(named);
  if (!other->talking() || target == kNoLeg) {
    refuse(491, "The consultation call is not established");
    return;
  }
  const LegId transferee = other_end(id);
  layer.respond(t, 202);
  const std::string target_number = other->legs()[target].extension;
  MovedLeg moved = other->hand_over(target);
  host_.settle_other(*other);
  const LegId joined = adopt(std::move(moved));
  if (media_) {
    media_->bridge(transferee, joined);
  }
  ends_[0] = transferee;
  ends_[1] = joined;
  state_ = Talking{joined};
  // The transferor's subscription: one final NOTIFY (RFC 3515 §2.4.5), then its part ends.
  transfer_ = std::make_unique<Transfer>();
  transfer_->transferor = id;
  transfer_->transferee = transferee;
  transfer_->refer_cseq = request.cseq_number();
  notify_transferor(200, "OK");
  transfer_.reset();
  Leg& gone = legs_[id];  // adopt() grew legs_: `transferor` may dangle
  send_in_dialog(gone, sip::Method::Bye, {}, {}, {});
  gone.state = LegState::Ended;
  changed(gone);
  if (legs_[transferee].caller) {
    callee_ = party_of(legs_[joined]);
  }
  spdlog::info("transfer attended call={} transferor={} transferee={} target={}", id_,
               gone.extension, legs_[transferee].extension, target_number);
  record_.transferred_by = gone.extension;
  record_.transferred_to = legs_[joined].extension;
  record_.transfer_kind = "attended";
  // Each side learns who it talks to; the transferee is offered the target's description, so
  // that its phone sends what the target's phone receives.
  auto to_transferee = carry(joined, transferee, legs_[joined].sdp);
  auto to_target = carry(transferee, joined, legs_[transferee].sdp);
  if (to_transferee) {
    tell_identity(legs_[transferee], legs_[joined], *to_transferee, true);
  }
  if (to_target) {
    tell_identity(legs_[joined], legs_[transferee], *to_target);
  }
}

LegId Call::adopt(MovedLeg moved) {
  const LegId id = static_cast<LegId>(legs_.size());
  Leg& leg = legs_.emplace_back(std::move(moved.leg));
  leg.id = id;
  leg.caller = false;
  leg.picker = true;  // answered before it came: no ring round, no ring plan of this call
  leg.round = round_;
  leg.invite = sip::txn::kNoTransaction;
  leg.indexed = false;
  index(leg);
  if (!leg.call_id.empty()) {
    host_.index_leg(leg.call_id, id_, id);
  }
  if (media_ && moved.media) {
    media_->put(id, std::move(*moved.media));
  }
  changed(leg);
  return id;
}

MovedLeg Call::hand_over(LegId id) {
  base::assert_on_signaling_thread();
  MovedLeg out;
  Leg& leg = legs_[id];
  unindex(leg);
  if (!leg.call_id.empty()) {
    host_.unindex_leg(leg.call_id);
  }
  for (auto relay = relays_.begin(); relay != relays_.end();) {
    relay = relay->second.leg == id ? relays_.erase(relay) : std::next(relay);
  }
  out.leg = std::move(leg);
  if (media_) {
    out.media = media_->take(id);
  }
  // What stays here: a leg that ended, so that BLF shows its old dialog over.
  Leg& left = legs_[id];
  left = Leg{};
  left.id = id;
  left.caller = out.leg.caller;
  left.picker = out.leg.picker;
  left.round = out.leg.round;
  left.member = out.leg.member;
  left.extension = out.leg.extension;
  left.state = LegState::Ended;
  const LegId other = other_end(id);
  if (other != kNoLeg) {
    send_in_dialog(legs_[other], sip::Method::Bye, {}, {}, {});
    legs_[other].state = LegState::Ended;
  }
  spdlog::info("call handed over call={} leg={} extension={}", id_, id, out.leg.extension);
  end("transferred", "transferor");
  return out;
}

void Call::withdraw() {
  base::assert_on_signaling_thread();
  if (!ringing()) {
    return;
  }
  if (auto* caller = host_.layer().find_server(legs_[0].invite)) {
    host_.layer().respond(*caller, 487);
  }
  cancel_other_legs(0, true);
  end("transferred", "transferor");
}

void Call::on_bye_while_transferring(LegId id) {
  Leg& leg = legs_[id];
  if (id == transfer_->transferor) {
    transfer_->transferor_left = true;
    ends_[ends_[0] == id ? 0 : 1] = kNoLeg;
    leg.state = LegState::Ended;
    changed(leg);
    spdlog::info("transfer goes on call={} transferor={} hung up", id_, leg.extension);
    return;
  }
  if (id != transfer_->transferee) {
    return;  // a leg of an earlier round
  }
  cancel_other_legs(kNoLeg, false);
  notify_transferor(487, "Request Terminated");
  Leg& transferor = legs_[transfer_->transferor];
  if (!transfer_->transferor_left && transferor.state == LegState::Answered) {
    send_in_dialog(transferor, sip::Method::Bye, {}, {}, {});
    transferor.state = LegState::Ended;
  }
  leg.state = LegState::Ended;
  spdlog::info("call hangup call={} by={} while transferred", id_, leg.extension);
  end("answered", leg.caller ? "caller" : "callee");
}

void Call::index(Leg& leg) {
  if (leg.indexed || !leg.dialog) {
    return;
  }
  leg.indexed = host_.dialogs().insert(*leg.dialog, *this);
  if (leg.indexed) {
    host_.dialog_indexed(*leg.dialog, id_);
  }
}

void Call::unindex(Leg& leg) {
  if (!leg.indexed) {
    return;
  }
  host_.dialogs().erase(leg.dialog->id());
  host_.dialog_unindexed(*leg.dialog);
  leg.indexed = false;
}

}  // namespace catchline::pbx
