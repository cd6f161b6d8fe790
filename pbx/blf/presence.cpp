#include "pbx/blf/presence.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/thread_check.h"
#include "sip/headers/simple.h"

namespace catchline::pbx {
namespace {

using sip::Header;

constexpr std::uint16_t kExpiryTimer = 1;
constexpr std::uint16_t kFlushTimer = 2;
// A phone has a few dozen BLF keys; a bound keeps one account from filling memory.
constexpr std::size_t kMaxSubscriptionsPerWatcher = 256;

std::string contact_for(const std::string& local, sip::transport::Protocol protocol) {
  std::string contact = "<sip:presence@" + local;
  if (protocol == sip::transport::Protocol::Tcp) {
    contact += ";transport=tcp";
  }
  return contact + ">";
}

}  // namespace

/// One resource of a subscription, and what this watcher was shown of it.
struct Presence::Part {
  WatchTarget target;
  std::uint32_t version = 0;       // of its dialog-info document inside a list
  std::vector<std::string> shown;  // ids of dialogs shown and not yet as terminated (a few)
};

/// One subscription: its dialog (we are the notifier), what it watches and what it was shown.
/// It is its dialog's usage and the handler of its NOTIFYs, so requests and answers reach it
/// without a look-up.
struct Presence::Watch final : base::TimerHandler,
                               sip::txn::TransactionHandler,
                               sip::dialog::DialogUsage {
  Presence* presence = nullptr;
  std::uint32_t id = 0;
  std::vector<Part> parts;  // one, or a resource list's members
  bool list = false;        // RFC 4662: RLMI multipart NOTIFYs
  std::string watcher;
  std::string entity;  // the resource's URI, or the list's
  bool pidf = false;   // Event: presence, else dialog
  std::string package;
  std::string event_id;
  std::unique_ptr<sip::dialog::Dialog> dialog;
  sip::dialog::Subscription* subscription = nullptr;
  sip::transport::Peer peer;
  sip::txn::TransactionId in_flight = sip::txn::kNoTransaction;
  bool dirty = false;
  bool queued = false;       // in Presence::dirty_
  bool final_sent = false;   // the terminated NOTIFY is out: remove when it is answered
  bool forced = true;        // the next NOTIFY goes out even if it says nothing new
  std::string last_body;     // PIDF: what the last NOTIFY said (a change of tags is no news)
  std::string content_type;  // of its NOTIFYs' bodies, the same for every one

  const std::string& name() const { return list ? entity : parts.front().target.resource; }
  void on_timer(base::Timer&) override { presence->expire(*this); }
  void on_in_dialog_request(sip::dialog::Dialog&, sip::txn::ServerTransaction& t,
                            const sip::Message& request) override {
    presence->in_dialog(*this, t, request);
  }
  // Only the NOTIFY in flight counts: one abandoned by shutdown() is answered to nobody.
  void on_response(sip::txn::ClientTransaction& t, const sip::Message& response) override {
    if (response.status() >= 200 && t.id() == in_flight) {
      presence->notify_answered(*this, response);
    }
  }
  void on_failure(sip::txn::ClientTransaction& t, int status) override {
    if (t.id() == in_flight) {
      presence->notify_failed(*this, status);
    }
  }
};

Presence::Presence(PresenceHost& host, PresenceSettings settings)
    : host_(host), settings_(settings) {}

Presence::~Presence() = default;

void Presence::subscribe(sip::txn::ServerTransaction& t, const sip::Message& request,
                         const sip::transport::Peer& source, std::string_view watcher,
                         std::vector<WatchTarget> targets, std::string entity, bool list) {
  base::assert_on_signaling_thread();
  auto& layer = host_.layer();
  auto event = sip::parse_event(request.header_value(Header::Event).value_or(""));
  const bool known =
      event && (sip::iequals(event->package, "dialog") || sip::iequals(event->package, "presence"));
  if (!known) {
    // RFC 6665 §4.2.1: 489 Bad Event, with the packages we do serve.
    auto response = t.make_response(489);
    response.header(Header::AllowEvents, kAllowEvents);
    layer.send_response(t, 489, response.finish());
    return;
  }
  if (list &&
      !sip::list_contains(request.header_value(Header::Supported).value_or(""), "eventlist")) {
    // RFC 4662 §5.2: a list URI needs a subscriber that knows resource lists.
    auto response = t.make_response(421);
    response.header(Header::Require, "eventlist");
    layer.send_response(t, 421, response.finish());
    return;
  }
  if (auto count = per_watcher_.find(std::string(watcher));
      count != per_watcher_.end() && count->second >= kMaxSubscriptionsPerWatcher) {
    spdlog::warn("subscribe refused watcher={} reason=\"too many subscriptions\"", watcher);
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
  watch->presence = this;
  watch->id = next_id_++;
  for (WatchTarget& target : targets) {
    watch->parts.push_back(Part{std::move(target), 0, {}});
  }
  watch->list = list;
  watch->watcher = std::string(watcher);
  ++per_watcher_[watch->watcher];
  watch->entity = std::move(entity);
  watch->pidf = sip::iequals(event->package, "presence");
  watch->package = watch->pidf ? "presence" : "dialog";
  watch->event_id = std::string(event->id);
  watch->peer = source;
  watch->dialog = std::move(*dialog);
  watch->subscription = &watch->dialog->add_subscription(watch->package, watch->event_id,
                                                         sip::dialog::SubscriptionRole::Notifier);

  auto ok = t.make_response(200);
  ok.header(Header::Expires, std::to_string(expires));
  ok.header(Header::Contact, contact);
  if (list) {
    ok.header(Header::Require, "eventlist");
  }
  layer.send_response(t, 200, ok.finish());

  const auto now = host_.timers().now();
  if (expires == 0) {
    // A fetch (RFC 6665 §4.4.3): the state once, then the subscription ends.
    watch->subscription->activate(now);
    watch->subscription->terminate("timeout");
  } else {
    watch->subscription->activate(now + std::chrono::seconds(expires));
    host_.timers().schedule_in(watch->subscription->timer(), std::chrono::seconds(expires), *watch,
                               kExpiryTimer);
  }
  for (const Part& part : watch->parts) {
    if (!part.target.allowed) {
      continue;
    }
    auto [resource_it, fresh] = resources_.try_emplace(part.target.resource);
    if (fresh) {
      resource_it->second.dialogs = host_.dialogs_of(part.target.resource);
    }
    resource_it->second.watches.push_back(watch->id);
  }
  host_.dialogs().insert(*watch->dialog, *watch);
  spdlog::info("subscribe watcher={} resource={} event={} expires={} resources={}", watcher,
               watch->name(), watch->package, expires, watch->parts.size());
  Watch& ref = *watch;
  watches_.emplace(ref.id, std::move(watch));
  send_notify(ref);  // RFC 6665 §4.2.1.2: a NOTIFY at once, with the full state
}

std::optional<std::uint32_t> Presence::granted_expires(sip::txn::ServerTransaction& t,
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

void Presence::in_dialog(Watch& watch, sip::txn::ServerTransaction& t,
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
    spdlog::info("unsubscribe watcher={} resource={}", watch.watcher, watch.name());
    watch.subscription->timer().cancel();
    watch.subscription->terminate("timeout");
  } else {
    watch.subscription->refresh(host_.timers().now() + std::chrono::seconds(expires));
    host_.timers().schedule_in(watch.subscription->timer(), std::chrono::seconds(expires), watch,
                               kExpiryTimer);
  }
  // A refresh is answered with the current state too (RFC 6665 §4.2.1.2).
  watch.dirty = true;
  watch.forced = true;
  send_notify(watch);
}

void Presence::expire(Watch& watch) {
  spdlog::info("subscription expired watcher={} resource={}", watch.watcher, watch.name());
  watch.subscription->terminate("timeout");
  watch.dirty = true;
  send_notify(watch);
}

void Presence::update(const std::string& resource, const DialogView& view) {
  base::assert_on_signaling_thread();
  auto it = resources_.find(resource);
  if (it == resources_.end()) {
    return;  // nobody watches it
  }
  Resource& r = it->second;
  auto live = std::find_if(r.dialogs.begin(), r.dialogs.end(),
                           [&](const DialogView& d) { return d.id == view.id; });
  if (live == r.dialogs.end()) {
    if (view.phase == DialogPhase::Terminated) {
      return;  // never shown: nothing to turn off
    }
    r.dialogs.push_back(view);
  } else {
    if (view.phase < live->phase) {
      return;  // states only move forward (a phone that saw confirmed never sees early again)
    }
    if (view.phase == live->phase && view.local_tag == live->local_tag &&
        view.remote_uri == live->remote_uri && view.event == live->event) {
      return;
    }
    if (view.phase == DialogPhase::Terminated) {
      r.ended[view.id] = view;
      r.dialogs.erase(live);
    } else {
      *live = view;
    }
  }
  r.has_rendered = false;
  for (std::uint32_t id : r.watches) {
    Watch& watch = *watches_.at(id);
    watch.dirty = true;
    if (!watch.queued) {
      watch.queued = true;
      dirty_.push_back(id);
    }
  }
  if (!dirty_.empty() && !flush_timer_.armed()) {
    // After the call's own messages: the NOTIFYs leave at the next turn of the event loop.
    host_.timers().schedule_in(flush_timer_, std::chrono::milliseconds(0), *this, kFlushTimer);
  }
}

void Presence::on_timer(base::Timer& timer) {
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

std::string Presence::part_body(Watch& watch, Part& part) {
  Resource& resource = resources_[part.target.resource];
  if (watch.pidf) {
    std::string_view note;
    for (const DialogView& d : resource.dialogs) {
      if (d.phase == DialogPhase::Confirmed || d.initiator) {
        note = "On the phone";
        break;
      }
      note = "Ringing";
    }
    return pidf_xml(part.target.entity, true, note.empty() ? std::string_view("Available") : note,
                    note == "On the phone");
  }
  std::vector<const DialogView*> shown;
  std::vector<std::string> still_live;  // ids are short: no allocation of their own
  shown.reserve(resource.dialogs.size() + part.shown.size());
  still_live.reserve(resource.dialogs.size());
  for (const DialogView& d : resource.dialogs) {
    shown.push_back(&d);
    still_live.push_back(d.id);
  }
  // Lamps never stick: what this watcher saw and is gone now, it sees end.
  for (const std::string& id : part.shown) {
    if (std::find(still_live.begin(), still_live.end(), id) == still_live.end()) {
      if (auto ended = resource.ended.find(id); ended != resource.ended.end()) {
        shown.push_back(&ended->second);
      }
    }
  }
  const std::uint32_t version = watch.list ? part.version++ : watch.subscription->next_version();
  if (!resource.has_rendered || resource.rendered_for != shown) {
    resource.rendered = dialog_elements(shown);
    resource.rendered_for = shown;
    resource.has_rendered = true;
  }
  std::string body = dialog_info_xml(part.target.entity, version, resource.rendered);
  part.shown = std::move(still_live);
  return body;
}

std::string Presence::body_for(Watch& watch, std::string& content_type) {
  const std::string_view part_type =
      watch.pidf ? "application/pidf+xml" : "application/dialog-info+xml";
  if (!watch.list) {
    if (content_type.empty()) {
      content_type = part_type;
    }
    return part_body(watch, watch.parts.front());
  }
  // RFC 4662 §5.3: an RLMI document naming every resource, then one body per resource the
  // watcher may see, all in one multipart/related (full state each time).
  const std::string boundary = "catchline-rlmi-" + std::to_string(watch.id);
  if (content_type.empty()) {
    content_type =
        "multipart/related;type=\"application/rlmi+xml\";start=\"<rlmi@catchline>\";"
        "boundary=\"" +
        boundary + "\"";
  }
  std::string rlmi =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<list xmlns=\"urn:ietf:params:xml:ns:rlmi\" uri=\"" +
      xml_escape(watch.entity) + "\" version=\"" +
      std::to_string(watch.subscription->next_version()) + "\" fullState=\"true\">\n";
  std::string parts;
  for (std::size_t i = 0; i < watch.parts.size(); ++i) {
    Part& part = watch.parts[i];
    const std::string instance = "r" + std::to_string(i);
    const std::string cid = instance + "@catchline";
    rlmi += "  <resource uri=\"" + xml_escape(part.target.entity) + "\"><instance id=\"" +
            instance + "\"";
    if (!part.target.allowed) {
      rlmi += " state=\"terminated\" reason=\"rejected\"/></resource>\n";
      continue;
    }
    rlmi += " state=\"active\" cid=\"" + cid + "\"/></resource>\n";
    parts += "--" + boundary + "\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <" + cid +
             ">\r\nContent-Type: " + std::string(part_type) + "\r\n\r\n" + part_body(watch, part) +
             "\r\n";
  }
  rlmi += "</list>\n";
  return "--" + boundary +
         "\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <rlmi@catchline>\r\n"
         "Content-Type: application/rlmi+xml\r\n\r\n" +
         rlmi + "\r\n" + parts + "--" + boundary + "--\r\n";
}

void Presence::forget_seen_ends(const std::string& name) {
  auto found = resources_.find(name);
  if (found == resources_.end()) {
    return;
  }
  Resource& resource = found->second;
  auto seen_by = [&](std::uint32_t id, const std::string& dialog) {
    for (const Part& part : watches_.at(id)->parts) {
      if (part.target.resource == name &&
          std::find(part.shown.begin(), part.shown.end(), dialog) != part.shown.end()) {
        return true;
      }
    }
    return false;
  };
  for (auto it = resource.ended.begin(); it != resource.ended.end();) {
    bool wanted = std::any_of(resource.watches.begin(), resource.watches.end(),
                              [&](std::uint32_t id) { return seen_by(id, it->first); });
    if (wanted) {
      ++it;
    } else {
      it = resource.ended.erase(it);
      resource.has_rendered = false;  // its rendering may point at the view just erased
    }
  }
}

void Presence::send_notify(Watch& watch) {
  if (watch.in_flight != sip::txn::kNoTransaction || watch.final_sent) {
    watch.dirty = true;  // sent when the one in flight is answered: the latest state then
    return;
  }
  watch.dirty = false;
  std::string body = body_for(watch, watch.content_type);
  if (watch.pidf) {
    // PIDF does not show tags: a 180 after the INVITE changes nothing a watcher can see.
    if (!watch.forced && !watch.subscription->terminated() && body == watch.last_body) {
      return;
    }
    watch.last_body = body;
  }
  watch.forced = false;
  for (const Part& part : watch.parts) {
    if (part.target.allowed) {
      forget_seen_ends(part.target.resource);
    }
  }
  const auto protocol = watch.peer.protocol;
  auto out = watch.dialog->make_request(sip::Method::Notify,
                                        sip::txn::new_via(protocol, host_.local_address(protocol)));
  out.header(Header::Event,
             watch.event_id.empty() ? watch.package : watch.package + ";id=" + watch.event_id);
  out.header(Header::SubscriptionState, watch.subscription->state_header(host_.timers().now()));
  if (watch.list) {
    out.header(Header::Require, "eventlist");
  }
  out.body(watch.content_type, std::move(body));
  auto sent = host_.layer().send_request(out.finish(), watch.peer, &watch);
  if (watch.subscription->terminated()) {
    watch.final_sent = true;
  }
  if (!sent) {
    spdlog::warn("notify not sent watcher={} resource={} reason=\"{}\"", watch.watcher,
                 watch.name(), sent.error().reason);
    remove(watch.id);
    return;
  }
  watch.in_flight = *sent;
}

void Presence::notify_answered(Watch& answered, const sip::Message& response) {
  Watch* watch = &answered;
  watch->in_flight = sip::txn::kNoTransaction;
  if (response.status() >= 300) {
    // RFC 6665 §4.2.2: a failed NOTIFY (481 above all) ends the subscription.
    spdlog::info("subscription ended watcher={} resource={} reason=\"notify got {}\"",
                 watch->watcher, watch->name(), response.status());
    remove(watch->id);
    return;
  }
  if (watch->final_sent) {
    remove(watch->id);
    return;
  }
  if (watch->dirty) {
    send_notify(*watch);
  }
}

void Presence::notify_failed(Watch& watch, int status) {
  watch.in_flight = sip::txn::kNoTransaction;
  spdlog::info("subscription ended watcher={} resource={} reason=\"notify failed {}\"",
               watch.watcher, watch.name(), status);
  remove(watch.id);
}

void Presence::remove(std::uint32_t id) {
  auto it = watches_.find(id);
  if (it == watches_.end()) {
    return;
  }
  Watch& watch = *it->second;
  host_.dialogs().erase(watch.dialog->id());
  if (watch.in_flight != sip::txn::kNoTransaction) {
    host_.layer().detach(watch.in_flight);  // its answer has nobody to go to
  }
  for (const Part& part : watch.parts) {
    if (auto r = resources_.find(part.target.resource); r != resources_.end()) {
      auto& ids = r->second.watches;
      ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
      if (ids.empty()) {
        resources_.erase(r);
      }
    }
  }
  if (auto count = per_watcher_.find(watch.watcher);
      count != per_watcher_.end() && --count->second == 0) {
    per_watcher_.erase(count);
  }
  watches_.erase(it);
}

void Presence::shutdown() {
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
