#include "pbx/call.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "sip/builder.h"

namespace catchline::pbx {
namespace {

using sip::Header;
using sip::MessageBuilder;
using sip::transport::Protocol;

// RFC 3326: tell the other phones the call was answered elsewhere, so none logs a missed call.
constexpr std::string_view kCompletedElsewhere = "SIP;cause=200;text=\"Call completed elsewhere\"";
constexpr std::string_view kAllow = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY";
constexpr std::uint16_t kNoAnswerTimer = 1;

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
    : host_(host), id_(id), caller_(std::move(caller)), dialled_(std::move(dialled)) {}

Call::~Call() {
  for (Leg& leg : legs_) {
    unindex(leg);
  }
}

std::int64_t Call::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Call::start(sip::txn::ServerTransaction& invite, const sip::Message& request,
                 const sip::transport::Peer& source, const Extension& callee,
                 const std::vector<Binding>& contacts, std::chrono::milliseconds no_answer) {
  callee_ = Party{callee.number, callee.name};
  record_.call_id = std::string(request.call_id());
  record_.caller = caller_.number;
  record_.dialled = dialled_;
  record_.start_ms = now_ms();

  invite.set_owner(owner(0));
  Leg& caller = legs_.emplace_back();
  caller.id = 0;
  caller.caller = true;
  caller.extension = caller_.number;
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
  late_offer_ = caller_offer_.empty();
  index(caller);

  const int max_forwards = std::min(request.max_forwards().value_or(70) - 1, 70);
  const std::string from = identity(caller_, host_.domain());
  const std::string to = "<sip:" + callee.number + "@" + host_.domain() + ">";
  for (const Binding& binding : contacts) {
    Leg leg;
    leg.id = static_cast<LegId>(legs_.size());
    leg.extension = callee.number;
    leg.contact = binding.contact;
    leg.peer = binding.source;
    const std::string& local = host_.local_address(binding.source.protocol);

    MessageBuilder out = MessageBuilder::request(sip::Method::Invite, binding.contact);
    out.header(Header::Via, sip::txn::new_via(binding.source.protocol, local));
    out.header(Header::MaxForwards, std::to_string(max_forwards));
    out.header(Header::From, from + ";tag=" + sip::random_token(12));
    out.header(Header::To, to);
    out.header(Header::CallId, sip::random_token(24));
    out.header(Header::CSeq, "1 INVITE");
    out.header(Header::Contact, contact_of(leg));
    out.header(Header::PAssertedIdentity, from);
    // Some phones read only Remote-Party-ID (draft-ietf-sip-privacy-04) for the caller's name.
    out.header(Header::RemotePartyId, from + ";party=calling;screen=yes;privacy=off");
    out.header(Header::Allow, kAllow);
    if (!caller_offer_.empty()) {
      out.body(caller_content_type_, caller_offer_);
    }
    auto sent = host_.layer().send_request(out.finish(), binding.source);
    if (!sent) {
      spdlog::warn("leg not sent call={} contact={} reason=\"{}\"", id_, binding.contact,
                   sent.error().reason);
      continue;
    }
    leg.invite = *sent;
    if (auto* t = host_.layer().find_client(leg.invite)) {
      t->set_owner(owner(leg.id));
    }
    if (!record_.legs.empty()) {
      record_.legs += ',';
    }
    record_.legs += callee.number;
    legs_.push_back(std::move(leg));
  }
  spdlog::info("call start call={} caller={} dialled={} legs={}", id_, caller_.number, dialled_,
               legs_.size() - 1);
  if (legs_.size() == 1) {
    host_.layer().respond(invite, 480, "Temporarily Unavailable");
    end("failed", "system");
    return;
  }
  host_.timers().schedule_in(no_answer_timer_, no_answer, *this, kNoAnswerTimer);
}

void Call::on_response(LegId id, sip::txn::ClientTransaction& t, const sip::Message& response) {
  if (id >= legs_.size()) {
    return;
  }
  Leg& leg = legs_[id];
  if (auto relay = relays_.find(t.id()); relay != relays_.end()) {
    const int status = response.status();
    if (status < 200) {
      return;
    }
    if (t.method() == sip::Method::Invite && status < 300) {
      send_ack(leg, response.cseq_number());
      leg.dialog->refresh_target(response);
    }
    auto* origin = host_.layer().find_server(relay->second);
    relays_.erase(relay);
    if (origin == nullptr) {
      return;
    }
    MessageBuilder out = origin->make_response(status, response.reason_phrase());
    if (status < 300 && (t.method() == sip::Method::Invite || t.method() == sip::Method::Update)) {
      out.header(Header::Contact, contact_for(id == 0 ? callee_.number : caller_.number,
                                              host_.local_address(origin->source().protocol),
                                              origin->source().protocol));
    }
    if (!response.body().empty()) {
      out.body(response.header_value(Header::ContentType).value_or("application/sdp"),
               response.body());
    }
    host_.layer().send_response(*origin, status, out.finish());
    return;
  }
  if (leg.caller || t.method() != sip::Method::Invite || t.id() != leg.invite) {
    return;  // responses to our BYE and CANCEL need nothing more
  }
  const int status = response.status();
  if (status == 100) {
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
  if (ended_ || answered() || leg.state != LegState::Ringing) {
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
    out.body(response.header_value(Header::ContentType).value_or("application/sdp"),
             response.body());
  }
  host_.layer().send_response(*caller, response.status(), out.finish());
}

void Call::on_callee_answer(Leg& leg, const sip::txn::ClientTransaction& t,
                            const sip::Message& response) {
  if (answered_leg_ == leg.id) {
    // A retransmitted 2xx: our ACK was lost (RFC 3261 §13.2.2.4).
    if (leg.dialog && response.to_tag() == leg.dialog->remote_tag() && !ack_text_.empty()) {
      host_.layer().send_stateless(leg.peer, ack_text_);
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
    leg.dialog = std::move(*confirmed);
  }

  if (ended_ || answered() || leg.state == LegState::Cancelling || leg.state == LegState::Ended) {
    // Lost the race: answered after another leg won, or after the caller left.
    send_ack(leg, response.cseq_number());
    send_in_dialog(leg, sip::Method::Bye, {}, {}, {});
    leg.state = LegState::Ended;
    spdlog::info("late answer ended call={} leg={} extension={}", id_, leg.id, leg.extension);
    return;
  }
  leg.state = LegState::Answered;
  answered_leg_ = leg.id;
  if (!late_offer_) {
    ack_text_ = send_ack(leg, response.cseq_number());
  }
  index(leg);
  no_answer_timer_.cancel();
  cancel_other_legs(leg.id, true);
  answer_caller(leg, response);
  record_.answered_by = leg.extension;
  record_.answer_ms = now_ms();
  spdlog::info("call answered call={} caller={} by={} contact={}", id_, caller_.number,
               leg.extension, leg.contact);
}

void Call::answer_caller(const Leg& callee, const sip::Message& response) {
  auto* caller = host_.layer().find_server(legs_[0].invite);
  if (caller == nullptr) {
    hang_up(0);
    return;
  }
  MessageBuilder ok = caller->make_response(200);
  ok.header(Header::Contact, contact_of(legs_[0]));
  // The caller learns who answered (RFC 3325), also for phones that read only RPID.
  const std::string who = identity(callee_, host_.domain());
  ok.header(Header::PAssertedIdentity, who);
  ok.header(Header::RemotePartyId, who + ";party=called;screen=yes;privacy=off");
  ok.header(Header::Allow, kAllow);
  if (!response.body().empty()) {
    ok.body(response.header_value(Header::ContentType).value_or("application/sdp"),
            response.body());
  }
  host_.layer().send_response(*caller, 200, ok.finish());
  legs_[0].state = LegState::Answered;
  legs_[0].dialog->confirm();
}

void Call::cancel_other_legs(LegId keep, bool completed_elsewhere) {
  for (Leg& leg : legs_) {
    if (leg.caller || leg.id == keep) {
      continue;
    }
    if (leg.state == LegState::Calling || leg.state == LegState::Ringing) {
      auto outcome = host_.layer().cancel(
          leg.invite, completed_elsewhere ? kCompletedElsewhere : std::string_view{});
      leg.state = outcome == sip::txn::CancelOutcome::TooLate ? LegState::Ended
                                                               : LegState::Cancelling;
    }
  }
}

void Call::on_callee_final_failure(Leg& leg, int status) {
  const bool was_cancelled = leg.state == LegState::Cancelling;
  leg.state = LegState::Ended;
  leg.final_status = was_cancelled ? 0 : status;
  if (ended_ || answered()) {
    return;
  }
  const bool all_ended = std::all_of(legs_.begin() + 1, legs_.end(), [](const Leg& l) {
    return l.state == LegState::Ended;
  });
  if (all_ended) {
    finish_unanswered();
  }
}

void Call::finish_unanswered() {
  // Every device answered with a failure: busy when all were busy, else the best of the rest.
  bool all_busy = true;
  int decline = 0;
  for (const Leg& leg : legs_) {
    if (leg.caller) {
      continue;
    }
    all_busy = all_busy && (leg.final_status == 486 || leg.final_status == 600);
    if (leg.final_status == 603) {
      decline = 603;
    }
  }
  auto* caller = host_.layer().find_server(legs_[0].invite);
  if (all_busy) {
    if (caller != nullptr) {
      host_.layer().respond(*caller, 486);
    }
    end("busy", "callee");
  } else if (decline != 0) {
    if (caller != nullptr) {
      host_.layer().respond(*caller, 603);
    }
    end("busy", "callee");
  } else {
    if (caller != nullptr) {
      host_.layer().respond(*caller, 480);
    }
    end("failed", "callee");
  }
}

void Call::on_failure(LegId id, sip::txn::ClientTransaction& t, int status) {
  if (id >= legs_.size()) {
    return;
  }
  if (auto relay = relays_.find(t.id()); relay != relays_.end()) {
    if (auto* origin = host_.layer().find_server(relay->second)) {
      host_.layer().respond(*origin, status);
    }
    relays_.erase(relay);
    return;
  }
  Leg& leg = legs_[id];
  if (!leg.caller && t.id() == leg.invite && leg.state != LegState::Answered) {
    on_callee_final_failure(leg, status);
  }
}

void Call::on_caller_cancel() {
  if (answered() || ended_) {
    return;
  }
  if (auto* caller = host_.layer().find_server(legs_[0].invite)) {
    host_.layer().respond(*caller, 487);
  }
  cancel_other_legs(0, false);
  end("cancelled", "caller");
}

void Call::on_caller_ack(const sip::Message& ack) {
  if (late_offer_ && answered()) {
    // The caller's answer to the callee's offer rides in its ACK (RFC 3264 §2, late offer).
    Leg& callee = legs_[answered_leg_];
    MessageBuilder out = callee.dialog->make_ack(callee.dialog->local_cseq(), via_for(callee));
    out.body(ack.header_value(Header::ContentType).value_or("application/sdp"), ack.body());
    std::string text = out.finish();
    host_.layer().send_stateless(callee.peer, text);
    late_offer_ = false;
    ack_text_ = std::move(text);
  }
}

void Call::on_caller_ack_timeout() {
  spdlog::warn("caller never acknowledged call={} caller={}", id_, caller_.number);
  if (answered() && !ended_) {
    send_in_dialog(legs_[answered_leg_], sip::Method::Bye, {}, {}, {});
    send_in_dialog(legs_[0], sip::Method::Bye, {}, {}, {});
    end("failed", "system");
  }
}

void Call::on_in_dialog_request(LegId id, sip::txn::ServerTransaction& t,
                                const sip::Message& request) {
  Leg& leg = legs_[id];
  auto& layer = host_.layer();
  // RFC 3261 §12.2.2: a CSeq lower than the last one is out of order.
  if (!leg.dialog || !leg.dialog->accept_request(request)) {
    layer.respond(t, 500, "Out of order CSeq");
    return;
  }
  if (request.method() == sip::Method::Bye) {
    layer.respond(t, 200);
    if (!answered() || ended_) {
      return;
    }
    hang_up(id);
    return;
  }
  if (!answered() || ended_ || leg.state != LegState::Answered) {
    layer.respond(t, request.method() == sip::Method::Invite ? 491 : 481);
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
  Leg& other = legs_[id == 0 ? answered_leg_ : 0];
  auto sent = send_in_dialog(other, request.method(), {},
                             request.header_value(Header::ContentType).value_or(""),
                             request.body());
  if (sent == sip::txn::kNoTransaction) {
    layer.respond(t, 500, "Relay failed");
    return;
  }
  relays_.emplace(sent, t.id());
}

void Call::on_stray_2xx(LegId id, const sip::Message& response) {
  if (id < legs_.size() && !legs_[id].caller && !ack_text_.empty() && id == answered_leg_) {
    host_.layer().send_stateless(legs_[id].peer, ack_text_);
  }
}

void Call::hang_up(LegId from) {
  const LegId other = from == 0 ? answered_leg_ : 0;
  if (other != from) {
    send_in_dialog(legs_[other], sip::Method::Bye, {}, {}, {});
  }
  legs_[0].state = LegState::Ended;
  if (answered()) {
    legs_[answered_leg_].state = LegState::Ended;
  }
  spdlog::info("call hangup call={} by={}", id_, legs_[from].extension);
  end("answered", from == 0 ? "caller" : "callee");
}

void Call::terminate(std::string_view why) {
  if (ended_) {
    return;
  }
  if (answered()) {
    send_in_dialog(legs_[answered_leg_], sip::Method::Bye, {}, {}, {});
    send_in_dialog(legs_[0], sip::Method::Bye, {}, {}, {});
    end("answered", "system");
    return;
  }
  cancel_other_legs(0, false);
  if (auto* caller = host_.layer().find_server(legs_[0].invite)) {
    host_.layer().respond(*caller, 503, why);
  }
  end("failed", "system");
}

void Call::on_timer(sip::txn::Timer& timer) {
  if (timer.tag() != kNoAnswerTimer || answered() || ended_) {
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
  if (ended_) {
    return;
  }
  ended_ = true;
  no_answer_timer_.cancel();
  for (Leg& leg : legs_) {
    unindex(leg);
  }
  record_.end_ms = now_ms();
  record_.disposition = std::string(disposition);
  record_.hangup_by = std::string(hangup_by);
  spdlog::info("call end call={} disposition={} hangup_by={}", id_, disposition, hangup_by);
  host_.call_ended(*this);
}

bool Call::idle() const {
  if (!ended_) {
    return false;
  }
  return std::none_of(legs_.begin() + 1, legs_.end(), [](const Leg& l) {
    return l.state == LegState::Calling || l.state == LegState::Ringing ||
           l.state == LegState::Cancelling;
  });
}

std::string Call::via_for(const Leg& leg) const {
  return sip::txn::new_via(leg.peer.protocol, host_.local_address(leg.peer.protocol));
}

std::string Call::contact_of(const Leg& leg) const {
  // The caller talks to "the number it dialled", a callee to "the caller".
  return contact_for(leg.caller ? std::string_view(dialled_) : std::string_view(caller_.number),
                     host_.local_address(leg.peer.protocol), leg.peer.protocol);
}

std::string Call::dialog_key(const sip::dialog::Dialog& dialog) {
  return dialog.call_id() + '\n' + dialog.local_tag() + '\n' + dialog.remote_tag();
}

std::string Call::build_in_dialog(Leg& leg, sip::Method method, std::string_view reason,
                                  std::string_view content_type, std::string_view body) {
  MessageBuilder out = leg.dialog->make_request(method, via_for(leg));
  if (!reason.empty()) {
    out.header(Header::Reason, reason);
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

sip::txn::TransactionId Call::send_in_dialog(Leg& leg, sip::Method method,
                                             std::string_view reason,
                                             std::string_view content_type,
                                             std::string_view body) {
  if (!leg.dialog || leg.dialog->remote_target().empty()) {
    return sip::txn::kNoTransaction;
  }
  auto sent = host_.layer().send_request(build_in_dialog(leg, method, reason, content_type, body),
                                         leg.peer);
  if (!sent) {
    spdlog::warn("in-dialog request not sent call={} method={} reason=\"{}\"", id_,
                 sip::method_name(method), sent.error().reason);
    return sip::txn::kNoTransaction;
  }
  if (auto* t = host_.layer().find_client(*sent)) {
    t->set_owner(owner(leg.id));
  }
  return *sent;
}

void Call::index(Leg& leg) {
  if (leg.indexed || !leg.dialog) {
    return;
  }
  host_.index_dialog(dialog_key(*leg.dialog), id_, leg.id);
  leg.indexed = true;
}

void Call::unindex(Leg& leg) {
  if (!leg.indexed) {
    return;
  }
  host_.unindex_dialog(dialog_key(*leg.dialog));
  leg.indexed = false;
}

}  // namespace catchline::pbx
