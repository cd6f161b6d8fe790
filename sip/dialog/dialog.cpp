#include "sip/dialog/dialog.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include "base/thread_check.h"
#include "sip/headers/name_addr.h"
#include "sip/headers/params.h"

namespace catchline::sip::dialog {
namespace {

// The URI of the first Contact of `message`, viewing the message; nullopt when there is
// none, it is "*", or it does not parse.
std::optional<std::string_view> contact_uri(const Message& message) {
  auto value = message.header_value(Header::Contact);
  if (!value) {
    return std::nullopt;
  }
  HeaderList list(*value);
  auto first = list.next();
  if (!first) {
    return std::nullopt;
  }
  auto contact = parse_contact(*first);
  if (!contact || contact->star) {
    return std::nullopt;
  }
  return contact->address.uri_text;
}

// Every Record-Route entry of `message`, in order of appearance (one header line may hold
// several, RFC 3261 §7.3.1).
std::vector<std::string> record_route(const Message& message) {
  std::vector<std::string> entries;
  message.for_each_value(Header::RecordRoute, [&](std::string_view value) {
    HeaderList list(value);
    while (auto entry = list.next()) {
      entries.emplace_back(*entry);
    }
  });
  return entries;
}

// The From/To value with ;tag=tag, unless it has a tag already.
std::string with_tag(std::string_view party, std::string_view tag) {
  std::string value(party);
  auto parsed = parse_name_addr(party);
  if (tag.empty() || (parsed && !parsed->tag().empty())) {
    return value;
  }
  value += ";tag=";
  value += tag;
  return value;
}

bool is_sips(std::string_view uri) { return uri.size() >= 5 && iequals(uri.substr(0, 5), "sips:"); }

std::string cseq_value(std::uint32_t number, std::string_view method) {
  char digits[16];
  auto end = std::to_chars(digits, digits + sizeof digits, number).ptr;
  std::string value(digits, end);
  value += ' ';
  value += method;
  return value;
}

// A route URI made fit for a Request-URI (RFC 3261 §12.2.1.1, §19.1.1 table 1): no headers
// part and no method parameter.
std::string request_uri_from_route(std::string_view uri) {
  uri = uri.substr(0, uri.find('?'));
  std::string out;
  out.reserve(uri.size());
  std::size_t at = 0;
  while (at < uri.size()) {
    std::size_t next = uri.find(';', at + 1);
    std::string_view piece = uri.substr(at, next == std::string_view::npos ? uri.npos : next - at);
    // piece is either the URI up to its first parameter, or ";name[=value]".
    const bool method_param = piece.size() > 7 && piece.front() == ';' &&
                              iequals(piece.substr(1, 6), "method") &&
                              (piece.size() == 7 || piece[7] == '=');
    if (!method_param) {
      out += piece;
    }
    if (next == std::string_view::npos) {
      break;
    }
    at = next;
  }
  return out;
}

// Methods whose requests carry Contact (RFC 3261 §12.2.1.1 target refresh, RFC 3311 UPDATE,
// RFC 6665 §4.1.2.1 / §4.2.2 SUBSCRIBE and NOTIFY, RFC 3515 REFER).
bool carries_contact(Method method) {
  switch (method) {
    case Method::Invite:
    case Method::Update:
    case Method::Subscribe:
    case Method::Notify:
    case Method::Refer:
      return true;
    default:
      return false;
  }
}

}  // namespace

Result<std::unique_ptr<Dialog>> Dialog::create_uas(const Message& request,
                                                   std::string_view local_tag,
                                                   std::string_view local_contact,
                                                   DialogState state) {
  if (local_tag.empty()) {
    return fail("Bad dialog: no local tag", 0, 500);
  }
  auto target = contact_uri(request);
  if (!target) {
    return fail("Bad Contact: missing or malformed");
  }
  auto to = request.header_value(Header::To);
  auto from = request.header_value(Header::From);
  if (!to || !from) {
    return fail("Bad request: From or To missing");
  }
  std::unique_ptr<Dialog> dialog(new Dialog());
  dialog->role_ = DialogRole::Uas;
  dialog->call_id_ = request.call_id();
  dialog->local_tag_ = local_tag;
  dialog->remote_tag_ = request.from_tag();
  dialog->local_party_ = with_tag(*to, local_tag);
  dialog->remote_party_ = *from;
  dialog->remote_target_ = *target;
  dialog->local_contact_ = local_contact;
  // §12.1.1: the UAS keeps the Record-Route entries in the order they arrived.
  dialog->route_set_ = record_route(request);
  dialog->remote_cseq_ = request.cseq_number();
  dialog->secure_ = is_sips(request.request_uri());
  dialog->invite_usage_ = request.method() == Method::Invite;
  if (state == DialogState::Confirmed) {
    dialog->state_ = Confirmed{};
  }
  return dialog;
}

Result<std::unique_ptr<Dialog>> Dialog::create_uac(const Message& request, const Message& response,
                                                   std::string_view local_contact) {
  const int status = response.status();
  if (status < 101 || status >= 300) {
    return fail("Bad response: no dialog from this status");
  }
  if (response.to_tag().empty()) {
    return fail("Bad To: no tag");
  }
  auto target = contact_uri(response);
  if (!target && status >= 200) {
    return fail("Bad Contact: missing or malformed");
  }
  auto from = request.header_value(Header::From);
  auto to = response.header_value(Header::To);
  if (!to || !from) {
    return fail("Bad message: From or To missing");
  }
  std::unique_ptr<Dialog> dialog(new Dialog());
  dialog->role_ = DialogRole::Uac;
  dialog->call_id_ = request.call_id();
  dialog->local_tag_ = request.from_tag();
  dialog->remote_tag_ = response.to_tag();
  dialog->local_party_ = *from;
  dialog->remote_party_ = *to;
  // §12.1.2 takes the remote target from the Contact. A phone whose 18x (or, against §12.1.1,
  // whose 2xx) has none is still reached where the INVITE went, never with an empty
  // Request-URI, until a response brings a Contact.
  dialog->remote_target_ = target ? *target : request.request_uri();
  dialog->local_contact_ = local_contact;
  // §12.1.2: the UAC takes the Record-Route entries in reverse order.
  dialog->route_set_ = record_route(response);
  std::reverse(dialog->route_set_.begin(), dialog->route_set_.end());
  dialog->local_cseq_ = request.cseq_number();
  dialog->secure_ = is_sips(request.request_uri());
  dialog->invite_usage_ = request.method() == Method::Invite;
  if (status >= 200) {
    dialog->state_ = Confirmed{};
  }
  return dialog;
}

DialogState Dialog::state() const {
  // The alternatives are declared in the order of the enum.
  return static_cast<DialogState>(state_.index());
}

std::string_view Dialog::next_hop() const {
  if (route_set_.empty()) {
    return remote_target_;
  }
  auto first = parse_name_addr(route_set_.front());
  return first ? first->uri_text : std::string_view(route_set_.front());
}

MessageBuilder Dialog::make_request(Method method, std::string_view via) {
  base::assert_on_signaling_thread();
  std::uint32_t cseq = local_cseq_;
  if (method != Method::Ack && method != Method::Cancel) {
    // §12.2.1.1: one more than the last; the first request of a UAS picks 1.
    cseq = ++local_cseq_;
  }
  return build_request(method, via, cseq);
}

MessageBuilder Dialog::make_ack(std::uint32_t invite_cseq, std::string_view via) const {
  // §13.2.2.4: built as any request of the dialog, with the INVITE's CSeq number.
  return build_request(Method::Ack, via, invite_cseq);
}

MessageBuilder Dialog::build_request(Method method, std::string_view via,
                                     std::uint32_t cseq) const {
  // ---- the request line and Route (§12.2.1.1) ----
  std::string request_uri = remote_target_;
  std::string route;
  if (!route_set_.empty()) {
    auto first = parse_name_addr(route_set_.front());
    const bool loose = first && first->uri.params.has("lr");
    std::size_t from_entry = 0;
    if (!loose && first) {
      // Strict routing (RFC 2543 proxies): the first route is the Request-URI, the remote
      // target goes last in Route.
      request_uri = request_uri_from_route(first->uri_text);
      from_entry = 1;
    }
    for (std::size_t i = from_entry; i < route_set_.size(); ++i) {
      if (!route.empty()) {
        route += ", ";
      }
      route += route_set_[i];
    }
    if (!loose && first) {
      if (!route.empty()) {
        route += ", ";
      }
      route += '<';
      route += remote_target_;
      route += '>';
    }
  }
  auto builder = MessageBuilder::request(method, request_uri);
  builder.header(Header::Via, via).header(Header::MaxForwards, "70");
  if (!route.empty()) {
    builder.header(Header::Route, route);
  }
  builder.header(Header::From, local_party_)
      .header(Header::To, remote_party_)
      .header(Header::CallId, call_id_)
      .header(Header::CSeq, cseq_value(cseq, method_name(method)));
  if (carries_contact(method) && !local_contact_.empty()) {
    builder.header(Header::Contact, local_contact_);
  }
  return builder;
}

bool Dialog::accept_request(const Message& request) {
  base::assert_on_signaling_thread();
  const Method method = request.method();
  if (method == Method::Ack || method == Method::Cancel) {
    return true;
  }
  // §12.2.2: lower than the remote sequence number is out of order (500); an empty remote
  // sequence number (UAC side, before any request) takes the request's.
  if (remote_cseq_ != 0 && request.cseq_number() < remote_cseq_) {
    return false;
  }
  remote_cseq_ = request.cseq_number();
  return true;
}

void Dialog::on_response(const Message& response) {
  base::assert_on_signaling_thread();
  if (terminated()) {
    return;
  }
  const int status = response.status();
  if (status < 200) {
    if (early()) {
      refresh_target(response);
    }
    return;
  }
  if (status < 300) {
    if (!early()) {
      return;  // a retransmitted 2xx: the dialog is already set
    }
    // §13.2.2.4 / §12.1.2: the 2xx fixes the route set and remote target for good.
    state_ = Confirmed{};
    route_set_ = record_route(response);
    std::reverse(route_set_.begin(), route_set_.end());
    refresh_target(response);
    return;
  }
  if (early()) {
    terminate();
  }
}

void Dialog::confirm() {
  base::assert_on_signaling_thread();
  if (early()) {
    state_ = Confirmed{};
  }
}

void Dialog::refresh_target(const Message& message) {
  base::assert_on_signaling_thread();
  if (auto target = contact_uri(message)) {
    remote_target_ = *target;
  }
}

void Dialog::end_invite_usage() {
  base::assert_on_signaling_thread();
  invite_usage_ = false;
  update_after_usage_change();
}

Subscription& Dialog::add_subscription(std::string_view event_package, std::string_view id,
                                       SubscriptionRole role) {
  base::assert_on_signaling_thread();
  if (Subscription* existing = find_subscription(event_package, id)) {
    return *existing;
  }
  subscriptions_.push_back(std::make_unique<Subscription>(event_package, id, role));
  return *subscriptions_.back();
}

Subscription* Dialog::find_subscription(std::string_view event_package, std::string_view id) {
  base::assert_on_signaling_thread();
  for (auto& subscription : subscriptions_) {
    if (subscription->matches(event_package, id)) {
      return subscription.get();
    }
  }
  return nullptr;
}

std::size_t Dialog::remove_terminated_subscriptions() {
  base::assert_on_signaling_thread();
  const std::size_t removed = std::erase_if(
      subscriptions_, [](const auto& subscription) { return subscription->terminated(); });
  update_after_usage_change();
  return removed;
}

std::size_t Dialog::usage_count() const {
  std::size_t count = invite_usage_ ? 1 : 0;
  for (const auto& subscription : subscriptions_) {
    count += subscription->terminated() ? 0 : 1;
  }
  return count;
}

void Dialog::terminate() {
  base::assert_on_signaling_thread();
  state_ = Terminated{};
  invite_usage_ = false;
  for (auto& subscription : subscriptions_) {
    subscription->terminate("");
  }
}

void Dialog::update_after_usage_change() {
  // RFC 5057 §5: the dialog ends with its last usage.
  if (usage_count() == 0) {
    terminate();
  }
}

}  // namespace catchline::sip::dialog
