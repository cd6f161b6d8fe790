#include "pbx/voicemail/message_summary.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/thread_check.h"
#include "sip/builder.h"
#include "sip/dialog/dialog.h"
#include "sip/headers/name_addr.h"
#include "sip/headers/params.h"
#include "sip/headers/simple.h"

namespace catchline::pbx {
namespace {

using sip::Header;

constexpr std::uint16_t kExpiryTimer = 1;
constexpr std::uint16_t kFlushTimer = 2;

std::string contact_for(std::string_view local, sip::transport::Protocol protocol) {
  std::string contact = "<sip:voicemail@" + std::string(local);
  if (protocol == sip::transport::Protocol::Tcp) {
    contact += ";transport=tcp";
  }
  return contact + ">";
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// RFC 3842 §3.7 with RFC 6665 §4.2.1: without Accept the body is simple-message-summary;
// with one, it must name that type or a wildcard covering it. An empty or unreadable Accept
// is taken as no preference: phones write sloppy ones, and a lamp matters more.
bool accepts_summary(std::optional<std::string_view> accept) {
  if (!accept || trim(*accept).empty()) {
    return true;
  }
  sip::HeaderList list(*accept);
  while (auto item = list.next()) {
    const std::string_view range = trim(item->substr(0, item->find(';')));
    if (sip::iequals(range, MessageSummary::kContentType) || sip::iequals(range, "application/*") ||
        range == "*/*") {
      return true;
    }
  }
  return list.broken();
}

// The AOR a SUBSCRIBE names: its To URI as scheme:user@host, without port or parameters.
std::string subscribed_aor(const sip::Message& request) {
  auto to = sip::parse_name_addr(request.header_value(Header::To).value_or(""));
  if (!to || to->uri.user.empty() ||
      (to->uri.scheme != sip::Scheme::Sip && to->uri.scheme != sip::Scheme::Sips)) {
    return {};
  }
  return std::string(to->uri.scheme == sip::Scheme::Sips ? "sips:" : "sip:") +
         std::string(to->uri.user) + "@" + std::string(to->uri.host);
}

bool same_place(const sip::transport::Peer& a, const sip::transport::Peer& b) {
  return a.protocol == b.protocol && a.address == b.address && a.port == b.port;
}

}  // namespace

std::string message_summary_body(std::string_view account_uri, MailboxCounts counts) {
  std::string body = "Messages-Waiting: ";
  body += counts.new_messages > 0 ? "yes" : "no";
  body += "\r\n";
  if (!account_uri.empty()) {
    body += "Message-Account: ";
    body += account_uri;
    body += "\r\n";
  }
  body += "Voice-Message: " + std::to_string(counts.new_messages) + "/" +
          std::to_string(counts.old_messages) + " (0/0)\r\n";
  return body;
}

std::string unsolicited_notify(const UnsolicitedNotify& notify) {
  const std::string aor = "<" + std::string(notify.account_uri) + ">";
  auto out = sip::MessageBuilder::request(sip::Method::Notify, notify.contact);
  out.header(Header::Via, sip::txn::new_via(notify.protocol, notify.local_address));
  out.header(Header::MaxForwards, "70");
  out.header(Header::From, aor + ";tag=" + sip::random_token(12));
  out.header(Header::To, aor);
  out.header(Header::CallId,
             notify.call_id.empty() ? sip::random_token(24) : std::string(notify.call_id));
  out.header(Header::CSeq, std::to_string(notify.cseq) + " NOTIFY");
  out.header(Header::Contact, contact_for(notify.local_address, notify.protocol));
  out.header(Header::Event, MessageSummary::kEvent);
  out.header(Header::SubscriptionState, "active");
  out.body(MessageSummary::kContentType, message_summary_body(notify.account_uri, notify.counts));
  return out.finish();
}

/// One subscription: its dialog (we are the notifier), the box it watches and where its
/// NOTIFYs go. It is its dialog's usage and the handler of its NOTIFYs, so requests and
/// answers reach it without a look-up.
struct MessageSummary::Watch final : base::TimerHandler,
                                     sip::txn::TransactionHandler,
                                     sip::dialog::DialogUsage {
  MessageSummary* owner = nullptr;
  std::uint32_t id = 0;
  std::string box;
  std::string account_uri;  // Message-Account of its NOTIFYs
  std::string event_id;     // the Event header's id parameter, "" when absent
  std::unique_ptr<sip::dialog::Dialog> dialog;
  sip::dialog::Subscription* subscription = nullptr;
  sip::transport::Peer peer;
  sip::txn::TransactionId in_flight = sip::txn::kNoTransaction;
  bool dirty = false;       // the box changed since the last NOTIFY
  bool queued = false;      // in MessageSummary::dirty_
  bool final_sent = false;  // the terminated NOTIFY is out: remove when it is answered

  void on_timer(base::Timer&) override { owner->expire(*this); }
  void on_in_dialog_request(sip::dialog::Dialog&, sip::txn::ServerTransaction& t,
                            const sip::Message& request) override {
    owner->in_dialog(*this, t, request);
  }
  // Only the NOTIFY in flight counts: one abandoned by shutdown() is answered to nobody.
  void on_response(sip::txn::ClientTransaction& t, const sip::Message& response) override {
    if (response.status() >= 200 && t.id() == in_flight) {
      owner->notify_answered(*this, response);
    }
  }
  void on_failure(sip::txn::ClientTransaction& t, int status) override {
    if (t.id() == in_flight) {
      owner->notify_failed(*this, status);
    }
  }
};

MessageSummary::MessageSummary(PresenceHost& host, PresenceSettings settings)
    : host_(host), settings_(settings) {}

MessageSummary::~MessageSummary() {
  for (const auto& [id, watch] : watches_) {
    host_.dialogs().erase(watch->dialog->id());
  }
}

void MessageSummary::subscribe(sip::txn::ServerTransaction& t, const sip::Message& request,
                               const sip::transport::Peer& source, std::string box,
                               MailboxCounts now, std::string account_uri) {
  base::assert_on_signaling_thread();
  auto& layer = host_.layer();
  auto event = sip::parse_event(request.header_value(Header::Event).value_or(""));
  if (!event || !sip::iequals(event->package, kEvent)) {
    // RFC 6665 §4.2.1: 489 Bad Event, with the package we do serve.
    auto response = t.make_response(489);
    response.header(Header::AllowEvents, kEvent);
    layer.send_response(t, 489, response.finish());
    return;
  }
  if (!accepts_summary(request.header_value(Header::Accept))) {
    // RFC 6665 §4.2.1: no body format the subscriber takes; say which one we write.
    auto response = t.make_response(406);
    response.header(Header::Accept, kContentType);
    layer.send_response(t, 406, response.finish());
    return;
  }
  if (auto found = boxes_.find(box);
      found != boxes_.end() && found->second.watches.size() >= kMaxSubscriptionsPerBox) {
    spdlog::warn("mwi subscribe refused box={} reason=\"too many subscriptions\"", box);
    layer.respond(t, 403, "Too many subscriptions");
    return;
  }
  auto granted = granted_expires(t, request);
  if (!granted) {
    return;
  }
  const std::uint32_t expires = *granted;
  const std::string contact = contact_for(host_.local_address(source.protocol), source.protocol);
  auto dialog = sip::dialog::Dialog::create_uas(request, t.to_tag(), contact,
                                                sip::dialog::DialogState::Confirmed);
  if (!dialog) {
    layer.respond(t, 400, dialog.error().reason);
    return;
  }
  auto watch = std::make_unique<Watch>();
  watch->owner = this;
  watch->id = next_id_++;
  watch->box = std::move(box);
  watch->account_uri = account_uri.empty() ? subscribed_aor(request) : std::move(account_uri);
  watch->event_id = std::string(event->id);
  watch->peer = source;
  watch->dialog = std::move(*dialog);
  watch->subscription = &watch->dialog->add_subscription(kEvent, watch->event_id,
                                                         sip::dialog::SubscriptionRole::Notifier);

  auto ok = t.make_response(200);
  ok.header(Header::Expires, std::to_string(expires));
  ok.header(Header::Contact, contact);
  layer.send_response(t, 200, ok.finish());

  const auto at = host_.timers().now();
  if (expires == 0) {
    // A fetch (RFC 6665 §4.4.3): the counts once, then the subscription ends.
    watch->subscription->activate(at);
    watch->subscription->terminate("timeout");
  } else {
    watch->subscription->activate(at + std::chrono::seconds(expires));
    host_.timers().schedule_in(watch->subscription->timer(), std::chrono::seconds(expires), *watch,
                               kExpiryTimer);
  }
  // The caller's counts are the newest: the box's other watchers hear of a difference too.
  changed(watch->box, now);
  Box& watched = boxes_[watch->box];
  watched.counts = now;
  watched.watches.push_back(watch->id);
  host_.dialogs().insert(*watch->dialog, *watch);
  spdlog::info("mwi subscribe box={} from={} expires={} new={} old={}", watch->box,
               source.to_string(), expires, now.new_messages, now.old_messages);
  Watch& ref = *watch;
  watches_.emplace(ref.id, std::move(watch));
  send_notify(ref);  // RFC 6665 §4.2.1.2: a NOTIFY at once, with the full state
}

std::optional<std::uint32_t> MessageSummary::granted_expires(sip::txn::ServerTransaction& t,
                                                             const sip::Message& request) {
  auto& layer = host_.layer();
  std::uint32_t expires = static_cast<std::uint32_t>(settings_.default_expires.count());
  if (auto value = request.header_value(Header::Expires)) {
    auto parsed = sip::parse_unsigned(*value);
    if (!parsed) {
      layer.respond(t, 400, "Bad Expires: " + parsed.error().reason);
      return std::nullopt;
    }
    expires = *parsed;
  }
  if (expires != 0 && expires < settings_.min_expires.count()) {
    // RFC 6665 §4.2.1.1: too brief; say what we take.
    auto response = t.make_response(423);
    response.header(Header::MinExpires, std::to_string(settings_.min_expires.count()));
    layer.send_response(t, 423, response.finish());
    return std::nullopt;
  }
  return std::min<std::uint32_t>(expires, settings_.max_expires.count());
}

void MessageSummary::in_dialog(Watch& watch, sip::txn::ServerTransaction& t,
                               const sip::Message& request) {
  auto& layer = host_.layer();
  if (request.method() != sip::Method::Subscribe) {
    auto response = t.make_response(405);
    response.header(Header::Allow, "SUBSCRIBE");
    layer.send_response(t, 405, response.finish());
    return;
  }
  if (!watch.dialog->accept_request(request)) {
    layer.respond(t, 500, "Out of order CSeq");
    return;
  }
  auto event = sip::parse_event(request.header_value(Header::Event).value_or(""));
  if (!event || !watch.subscription->matches(event->package, event->id)) {
    // RFC 6665 §4.2.1: a SUBSCRIBE for another package or id in this dialog is not ours.
    layer.respond(t, 481, "No such subscription");
    return;
  }
  if (watch.subscription->terminated()) {
    // Its final NOTIFY is out: the phone must start a new subscription.
    layer.respond(t, 481, "Subscription ended");
    return;
  }
  auto granted = granted_expires(t, request);
  if (!granted) {
    return;
  }
  const std::uint32_t expires = *granted;
  auto ok = t.make_response(200);
  ok.header(Header::Expires, std::to_string(expires));
  ok.header(Header::Contact, watch.dialog->local_contact());
  layer.send_response(t, 200, ok.finish());
  if (expires == 0) {
    spdlog::info("mwi unsubscribe box={} from={}", watch.box, watch.peer.to_string());
    watch.subscription->timer().cancel();
    watch.subscription->terminate("timeout");
  } else {
    watch.subscription->refresh(host_.timers().now() + std::chrono::seconds(expires));
    host_.timers().schedule_in(watch.subscription->timer(), std::chrono::seconds(expires), watch,
                               kExpiryTimer);
  }
  // A refresh is answered with the current state too (RFC 6665 §4.2.1.2).
  send_notify(watch);
}

void MessageSummary::expire(Watch& watch) {
  spdlog::info("mwi subscription expired box={} from={}", watch.box, watch.peer.to_string());
  watch.subscription->terminate("timeout");
  send_notify(watch);
}

void MessageSummary::changed(const std::string& box, MailboxCounts now) {
  base::assert_on_signaling_thread();
  auto found = boxes_.find(box);
  if (found == boxes_.end() || found->second.counts == now) {
    return;
  }
  found->second.counts = now;
  for (std::uint32_t id : found->second.watches) {
    Watch& watch = *watches_.at(id);
    watch.dirty = true;
    if (!watch.queued) {
      watch.queued = true;
      dirty_.push_back(id);
    }
  }
  if (!dirty_.empty() && !flush_timer_.armed()) {
    // After the messages of the event that changed the box: at the next turn of the loop.
    host_.timers().schedule_in(flush_timer_, std::chrono::milliseconds(0), *this, kFlushTimer);
  }
}

void MessageSummary::on_timer(base::Timer& timer) {
  if (timer.tag() != kFlushTimer) {
    return;
  }
  std::vector<std::uint32_t> ids;
  ids.swap(dirty_);
  for (std::uint32_t id : ids) {
    auto it = watches_.find(id);
    if (it == watches_.end()) {
      continue;
    }
    it->second->queued = false;
    if (it->second->dirty) {
      send_notify(*it->second);
    }
  }
}

void MessageSummary::send_notify(Watch& watch) {
  if (watch.in_flight != sip::txn::kNoTransaction || watch.final_sent) {
    watch.dirty = true;  // sent when the one in flight is answered: the latest counts then
    return;
  }
  watch.dirty = false;
  const auto protocol = watch.peer.protocol;
  auto out = watch.dialog->make_request(sip::Method::Notify,
                                        sip::txn::new_via(protocol, host_.local_address(protocol)));
  out.header(Header::Event, watch.event_id.empty() ? std::string(kEvent)
                                                   : std::string(kEvent) + ";id=" + watch.event_id);
  out.header(Header::SubscriptionState, watch.subscription->state_header(host_.timers().now()));
  out.body(kContentType, message_summary_body(watch.account_uri, boxes_.at(watch.box).counts));
  auto sent = host_.layer().send_request(out.finish(), watch.peer, &watch);
  if (watch.subscription->terminated()) {
    watch.final_sent = true;
  }
  if (!sent) {
    spdlog::warn("mwi notify not sent box={} from={} reason=\"{}\"", watch.box,
                 watch.peer.to_string(), sent.error().reason);
    remove(watch.id);
    return;
  }
  watch.in_flight = *sent;
}

void MessageSummary::notify_answered(Watch& watch, const sip::Message& response) {
  watch.in_flight = sip::txn::kNoTransaction;
  if (response.status() >= 300) {
    // RFC 6665 §4.2.2: a failed NOTIFY (481 above all) ends the subscription.
    spdlog::info("mwi subscription ended box={} from={} reason=\"notify got {}\"", watch.box,
                 watch.peer.to_string(), response.status());
    remove(watch.id);
    return;
  }
  if (watch.final_sent) {
    remove(watch.id);
    return;
  }
  if (watch.dirty) {
    send_notify(watch);
  }
}

void MessageSummary::notify_failed(Watch& watch, int status) {
  watch.in_flight = sip::txn::kNoTransaction;
  spdlog::info("mwi subscription ended box={} from={} reason=\"notify failed {}\"", watch.box,
               watch.peer.to_string(), status);
  remove(watch.id);
}

void MessageSummary::remove(std::uint32_t id) {
  auto it = watches_.find(id);
  if (it == watches_.end()) {
    return;
  }
  Watch& watch = *it->second;
  host_.dialogs().erase(watch.dialog->id());
  if (watch.in_flight != sip::txn::kNoTransaction) {
    host_.layer().detach(watch.in_flight);  // its answer has nobody to go to
  }
  if (auto box = boxes_.find(watch.box); box != boxes_.end()) {
    auto& ids = box->second.watches;
    ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
    if (ids.empty()) {
      boxes_.erase(box);
    }
  }
  watches_.erase(it);
}

sip::Result<sip::txn::TransactionId> MessageSummary::send_unsolicited(
    std::string_view account_uri, std::string_view contact, const sip::transport::Peer& peer,
    MailboxCounts now) {
  base::assert_on_signaling_thread();
  UnsolicitedNotify notify;
  notify.contact = contact;
  notify.account_uri = account_uri;
  notify.protocol = peer.protocol;
  notify.local_address = host_.local_address(peer.protocol);
  notify.counts = now;
  auto sent = host_.layer().send_request(unsolicited_notify(notify), peer, nullptr);
  if (!sent) {
    spdlog::warn("mwi unsolicited notify not sent account={} contact={} reason=\"{}\"", account_uri,
                 contact, sent.error().reason);
  }
  return sent;
}

bool MessageSummary::subscribed(const std::string& box, const sip::transport::Peer& peer) const {
  auto found = boxes_.find(box);
  if (found == boxes_.end()) {
    return false;
  }
  return std::any_of(found->second.watches.begin(), found->second.watches.end(),
                     [&](std::uint32_t id) {
                       const Watch& watch = *watches_.at(id);
                       return !watch.subscription->terminated() && same_place(watch.peer, peer);
                     });
}

void MessageSummary::shutdown() {
  base::assert_on_signaling_thread();
  std::vector<std::uint32_t> ids;
  for (const auto& [id, watch] : watches_) {
    ids.push_back(id);
  }
  for (std::uint32_t id : ids) {
    auto it = watches_.find(id);
    if (it == watches_.end()) {
      continue;
    }
    Watch* watch = it->second.get();
    watch->subscription->timer().cancel();
    watch->subscription->terminate("deactivated");
    if (watch->in_flight != sip::txn::kNoTransaction) {
      host_.layer().detach(watch->in_flight);
      watch->in_flight = sip::txn::kNoTransaction;
    }
    watch->final_sent = false;
    send_notify(*watch);
  }
}

}  // namespace catchline::pbx
