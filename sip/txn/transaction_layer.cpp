#include "sip/txn/transaction_layer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <utility>

#include "base/thread_check.h"
#include "sip/headers/via.h"
#include "sip/transport/routing.h"
#include "sip/txn/wire_text.h"

namespace catchline::sip::txn {
namespace {

using transport::Peer;

bool has_cookie(std::string_view branch) { return branch.starts_with(kBranchCookie); }

// "4711 ACK": the CSeq of an ACK or CANCEL built from a request (RFC 3261 §17.1.1.3, §9.1).
std::string cseq_value(std::uint32_t number, std::string_view method) {
  char digits[16];
  auto end = std::to_chars(digits, digits + sizeof digits, number).ptr;
  std::string value(digits, end);
  value += ' ';
  value += method;
  return value;
}

std::size_t mix(std::size_t seed, std::size_t value) {
  return seed ^ (value + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

// ACK is matched against the INVITE that created the transaction (RFC 3261 §17.2.3).
Method match_class(Method method) { return method == Method::Ack ? Method::Invite : method; }

}  // namespace

std::size_t TransactionLayer::KeyHash::operator()(const ServerKey& key) const {
  // The branch is unique by itself in practice; sent-by only breaks ties in operator==.
  return mix(std::hash<std::string_view>{}(key.branch), static_cast<std::size_t>(key.method));
}

std::size_t TransactionLayer::KeyHash::operator()(const ClientKey& key) const {
  return mix(std::hash<std::string_view>{}(key.branch), static_cast<std::size_t>(key.method));
}

std::size_t TransactionLayer::KeyHash::operator()(const RequestKey& key) const {
  std::size_t seed = std::hash<std::string_view>{}(key.call_id);
  seed = mix(seed, std::hash<std::string_view>{}(key.from_tag));
  return mix(seed, key.cseq * 31u + static_cast<std::size_t>(key.method));
}

TransactionLayer::TransactionLayer(transport::Sender& sender, base::TimerQueue& timers,
                                   TransactionUser& user, TimerSettings settings)
    : sender_(sender), timers_(timers), user_(user), settings_(settings) {}

TransactionLayer::~TransactionLayer() = default;

// ---------------------------------------------------------------- identities

TransactionId TransactionLayer::allocate(std::uint32_t& index) {
  if (!free_slots_.empty()) {
    index = free_slots_.back();
    free_slots_.pop_back();
  } else {
    index = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  return (static_cast<TransactionId>(slots_[index].generation) << 32) | index;
}

Transaction* TransactionLayer::find(TransactionId id) {
  const auto index = static_cast<std::uint32_t>(id);
  const auto generation = static_cast<std::uint32_t>(id >> 32);
  if (index >= slots_.size() || slots_[index].generation != generation) {
    return nullptr;
  }
  return slots_[index].transaction.get();
}

void TransactionLayer::release(TransactionId id) {
  const auto index = static_cast<std::uint32_t>(id);
  Slot& slot = slots_[index];
  std::unique_ptr<Transaction> dying = std::move(slot.transaction);
  // A new generation makes every id handed out for this slot stale; 0 is never used, so that
  // no id equals kNoTransaction.
  if (++slot.generation == 0) {
    slot.generation = 1;
  }
  free_slots_.push_back(index);
}

ServerTransaction* TransactionLayer::find_server(TransactionId id) {
  base::assert_on_signaling_thread();
  Transaction* transaction = find(id);
  if (transaction == nullptr || !transaction->server_side_) {
    return nullptr;
  }
  return static_cast<ServerTransaction*>(transaction);
}

ClientTransaction* TransactionLayer::find_client(TransactionId id) {
  base::assert_on_signaling_thread();
  Transaction* transaction = find(id);
  if (transaction == nullptr || transaction->server_side_) {
    return nullptr;
  }
  return static_cast<ClientTransaction*>(transaction);
}

TransactionLayer::ServerKey TransactionLayer::server_key(const ServerTransaction& transaction) {
  const Message& request = transaction.request_;
  const Method method = match_class(request.method());
  return ServerKey{request.branch(), transaction.sent_by(), method,
                   method == Method::Other ? request.method_name() : std::string_view{}};
}

TransactionLayer::ClientKey TransactionLayer::client_key(const ClientTransaction& transaction) {
  const Message& request = transaction.request_;
  const Method method = request.method();
  return ClientKey{request.branch(), method,
                   method == Method::Other ? request.method_name() : std::string_view{}};
}

TransactionLayer::RequestKey TransactionLayer::request_key(const Message& request, Method method) {
  return RequestKey{request.call_id(), request.from_tag(), request.cseq_number(), method,
                    method == Method::Other ? request.method_name() : std::string_view{}};
}

void TransactionLayer::arm(Transaction& transaction, base::Timer& timer, base::Duration delay,
                           TimerName name) {
  timers_.schedule_in(timer, delay, transaction, static_cast<std::uint16_t>(name));
}

// ---------------------------------------------------------------- incoming

void TransactionLayer::on_message(Message&& message, const Peer& source) {
  base::assert_on_signaling_thread();
  if (message.is_request()) {
    handle_request(std::move(message), source);
  } else {
    handle_response(message, source);
  }
}

void TransactionLayer::handle_request(Message&& request, const Peer& source) {
  // Matching needs only the sent-by; the whole Via is parsed when a transaction is created.
  const std::string_view sent_by = via_sent_by(request.top_via());
  const Method method = request.method();
  if (method == Method::Ack) {
    handle_ack(request, sent_by, source);
    return;
  }
  if (ServerTransaction* transaction = match_server(request, sent_by, method)) {
    absorb_retransmission(*transaction);
    return;
  }
  auto via = parse_via(request.top_via());
  if (!via) {
    // parse_message() guarantees a parsable top Via; this is a broken invariant upstream.
    spdlog::warn("drop request from={} reason=\"top Via: {}\"", source.to_string(),
                 via.error().reason);
    return;
  }
  if (method == Method::Cancel) {
    handle_cancel(std::move(request), *via, source);
    return;
  }
  // RFC 3261 §8.2.2.2: the same request reached us twice by different paths (a forking proxy
  // upstream); only the first one is processed.
  if (request.to_tag().empty() && is_merged(request)) {
    spdlog::debug("merged request call_id={} cseq={} from={}", request.call_id(),
                  request.cseq_number(), source.to_string());
    ServerTransaction& transaction = create_server(std::move(request), *via, source, false);
    respond(transaction, 482);
    return;
  }
  // The TU decides first and makes the transaction only when it takes the request: a
  // challenge leaves no state behind.
  struct Starter final : TransactionUser::Start {
    Starter(TransactionLayer& layer, Message& request, const Via& via, const Peer& source)
        : layer(layer), request(request), via(via), source(source) {}
    ServerTransaction& operator()() override {
      if (made == nullptr) {
        made = &layer.create_server(std::move(request), via, source, true);
      }
      return *made;
    }
    TransactionLayer& layer;
    Message& request;
    const Via& via;
    const Peer& source;
    ServerTransaction* made = nullptr;
  };
  Starter start(*this, request, *via, source);
  user_.on_request(request, source, start);
  if (start.made == nullptr) {
    return;
  }
  const TransactionId id = start.made->id();

  // RFC 3261 §17.2.1: an INVITE gets 100 Trying unless the TU answered first.
  ServerTransaction* invite = find_server(id);
  if (invite == nullptr || !invite->is_invite() || invite->last_status_ != 0 ||
      !std::holds_alternative<ServerTransaction::Proceeding>(invite->state_)) {
    return;
  }
  if (settings_.trying_delay <= base::Duration::zero()) {
    send_trying(*invite);
  } else {
    arm(*invite, invite->retransmit_timer_, settings_.trying_delay, TimerName::Trying);
  }
}

ServerTransaction* TransactionLayer::match_server(const Message& request, std::string_view sent_by,
                                                  Method method) {
  const Method kind = match_class(method);
  const std::string_view name = kind == Method::Other ? request.method_name() : std::string_view{};
  if (has_cookie(request.branch())) {
    auto found = servers_.find(ServerKey{request.branch(), sent_by, kind, name});
    return found == servers_.end() ? nullptr : found->second;
  }
  // RFC 3261 §17.2.3, last part: an RFC 2543 peer's request matches on Request-URI, To tag,
  // From tag, Call-ID, CSeq and top Via; its ACK on all of these but with the To tag of our
  // response.
  auto [first, last] = requests_.equal_range(
      RequestKey{request.call_id(), request.from_tag(), request.cseq_number(), kind, name});
  for (; first != last; ++first) {
    ServerTransaction* candidate = first->second;
    const Message& original = candidate->request_;
    if (has_cookie(original.branch()) || original.request_uri() != request.request_uri() ||
        original.top_via() != request.top_via()) {
      continue;
    }
    if (method == Method::Ack ? request.to_tag() == candidate->to_tag()
                              : request.to_tag() == original.to_tag()) {
      return candidate;
    }
  }
  return nullptr;
}

bool TransactionLayer::is_merged(const Message& request) {
  const Method method = request.method();
  return requests_.count(request_key(request, method)) != 0;
}

ServerTransaction& TransactionLayer::create_server(Message&& request, const Via& via,
                                                   const Peer& source, bool may_index) {
  // Everything derived from `via` (it views the request text) is taken before the request
  // moves; offsets stay valid when borrowed text becomes owned.
  const Peer target = transport::response_target(via, source);
  // The same text that lookups compare (via_sent_by), kept as an offset into the request.
  const std::string_view sent_by = via_sent_by(request.top_via());
  const auto sent_by_offset = static_cast<std::uint32_t>(sent_by.data() - request.raw().data());
  const auto sent_by_length = static_cast<std::uint32_t>(sent_by.size());
  if (!request.owns_text()) {
    request.take_ownership();
  }
  std::uint32_t index = 0;
  const TransactionId id = allocate(index);
  auto owned = std::make_unique<ServerTransaction>(*this, id, std::move(request), source, target);
  ServerTransaction& transaction = *owned;
  slots_[index].transaction = std::move(owned);
  transaction.sent_by_offset_ = sent_by_offset;
  transaction.sent_by_length_ = sent_by_length;
  ++server_count_;

  const Message& stored = transaction.request_;
  const bool cookie = has_cookie(stored.branch());
  if (cookie) {
    servers_.emplace(server_key(transaction), &transaction);
  }
  // Indexed by Call-ID/From tag/CSeq when merging (§8.2.2.2, no To tag), RFC 2543 matching
  // (no cookie) or 2xx ACK matching (INVITE) may need it.
  if (may_index && (!cookie || stored.to_tag().empty() || transaction.is_invite())) {
    requests_.emplace(request_key(stored, match_class(stored.method())), &transaction);
    transaction.indexed_by_request_ = true;
  }
  if (!transaction.is_invite()) {
    // A non-INVITE the TU never answers would live forever; by 64*T1 the client has given up.
    arm(transaction, transaction.timeout_timer_, settings_.transaction_timeout(),
        TimerName::Abandoned);
  }
  return transaction;
}

void TransactionLayer::absorb_retransmission(ServerTransaction& transaction) {
  const bool resend = std::holds_alternative<ServerTransaction::Proceeding>(transaction.state_) ||
                      std::holds_alternative<ServerTransaction::Completed>(transaction.state_);
  if (resend && !transaction.last_response_.empty()) {
    // RFC 3261 §17.2.1/§17.2.2: a retransmitted request gets the last response again.
    sender_.send(transaction.response_target_, transaction.last_response_);
    return;
  }
  if (transaction.is_invite() &&
      std::holds_alternative<ServerTransaction::Proceeding>(transaction.state_)) {
    // Still waiting for the TU (trying_delay): the client is retransmitting, tell it now.
    send_trying(transaction);
  }
  // Trying (non-INVITE without a response yet), Confirmed, Accepted (RFC 6026 §8.5): absorbed.
}

void TransactionLayer::handle_ack(const Message& ack, std::string_view sent_by,
                                  const Peer& source) {
  ServerTransaction* transaction = match_server(ack, sent_by, Method::Ack);
  if (transaction != nullptr) {
    if (std::holds_alternative<ServerTransaction::Completed>(transaction->state_)) {
      // RFC 3261 §17.2.1: the ACK of a non-2xx final; absorb further ones for timer I.
      transaction->state_ = ServerTransaction::Confirmed{};
      transaction->retransmit_timer_.cancel();
      arm(*transaction, transaction->timeout_timer_,
          transaction->reliable_ ? base::Duration::zero() : settings_.t4, TimerName::I);
      return;
    }
    if (!std::holds_alternative<ServerTransaction::Accepted>(transaction->state_)) {
      return;  // Confirmed: a retransmitted ACK
    }
  } else {
    // The ACK of a 2xx is a transaction of its own with a new branch (§17.1.1.3): find the
    // INVITE by Call-ID, From tag and CSeq number (§13.3.1.4, RFC 6026 §8.5).
    auto [first, last] = requests_.equal_range(request_key(ack, Method::Invite));
    for (; first != last; ++first) {
      if (std::holds_alternative<ServerTransaction::Accepted>(first->second->state_)) {
        transaction = first->second;
        break;
      }
    }
  }
  if (transaction == nullptr) {
    user_.on_stray_ack(ack, source);
    return;
  }
  auto& accepted = std::get<ServerTransaction::Accepted>(transaction->state_);
  if (accepted.acknowledged) {
    return;
  }
  accepted.acknowledged = true;
  transaction->retransmit_timer_.cancel();
  // Only retransmitted INVITEs can still arrive, and those are absorbed: the 2xx text is done.
  std::string().swap(transaction->last_response_);
  if (TransactionHandler* handler = transaction->handler_) {
    detach(*transaction);
    handler->on_ack(*transaction, ack);
  }
}

void TransactionLayer::handle_cancel(Message&& cancel, const Via& via, const Peer& source) {
  // RFC 3261 §9.2: the INVITE is found by matching the CANCEL as if it were that INVITE.
  ServerTransaction* invite = match_server(cancel, via_sent_by(cancel.top_via()), Method::Invite);
  ServerTransaction& transaction = create_server(std::move(cancel), via, source, true);
  if (invite == nullptr) {
    respond(transaction, 481);
    return;
  }
  // §9.2: the 200 to the CANCEL carries the To tag of the INVITE's responses.
  transaction.to_tag_ = std::string(invite->to_tag());
  respond(transaction, 200);
  if (std::holds_alternative<ServerTransaction::Proceeding>(invite->state_) &&
      !invite->cancelled_) {
    invite->cancelled_ = true;
    if (TransactionHandler* handler = invite->handler_) {
      handler->on_cancel(*invite, transaction.request());
    } else {
      respond(*invite, 487);  // nobody took the INVITE: the layer ends it
    }
  }
}

void TransactionLayer::handle_response(const Message& response, const Peer& source) {
  const Method method = response.cseq_method();
  const ClientKey key{response.branch(), method,
                      method == Method::Other ? response.cseq_method_name() : std::string_view{}};
  ClientTransaction* found = clients_.find(KeyHash{}(key), has_key(key));
  if (found == nullptr) {
    user_.on_stray_response(response, source);
    return;
  }
  ClientTransaction& transaction = *found;
  if (transaction.is_invite()) {
    handle_invite_response(transaction, response, source);
  } else {
    handle_non_invite_response(transaction, response);
  }
}

void TransactionLayer::handle_invite_response(ClientTransaction& transaction,
                                              const Message& response, const Peer& source) {
  using Client = ClientTransaction;
  const int status = response.status();
  const bool unanswered = std::holds_alternative<Client::Calling>(transaction.state_) ||
                          std::holds_alternative<Client::Proceeding>(transaction.state_);
  if (status < 200) {
    if (!unanswered) {
      return;
    }
    // RFC 3261 §17.1.1.2: a provisional stops retransmissions and timer B.
    transaction.state_ = Client::Proceeding{};
    transaction.retransmit_timer_.cancel();
    if (transaction.timeout_timer_.tag() == static_cast<std::uint16_t>(TimerName::B)) {
      transaction.timeout_timer_.cancel();
    }
    transaction.last_status_ = status;
    if (transaction.cancel_requested_ && !transaction.cancel_sent_) {
      send_cancel(transaction);
    }
    deliver(transaction, response, false);
    return;
  }
  if (status < 300) {
    if (unanswered) {
      // RFC 6026 §7.2: stay (Accepted) for 64*T1 so that retransmitted and forked 2xx reach
      // the TU; the first goes to the handler, the others to the TU's stray path, where the
      // dialog they belong to ACKs them (not here).
      transaction.state_ = Client::Accepted{};
      transaction.retransmit_timer_.cancel();
      arm(transaction, transaction.timeout_timer_, settings_.transaction_timeout(), TimerName::M);
      transaction.last_status_ = status;
      deliver(transaction, response, true);
    } else if (std::holds_alternative<Client::Accepted>(transaction.state_)) {
      user_.on_stray_response(response, source);
    }
    return;
  }
  if (std::holds_alternative<Client::Completed>(transaction.state_)) {
    // §17.1.1.2: every retransmission of the final is ACKed again, and not passed up.
    sender_.send(transaction.destination_, transaction.ack_);
    return;
  }
  if (!unanswered) {
    return;
  }
  transaction.state_ = Client::Completed{};
  transaction.retransmit_timer_.cancel();
  transaction.last_status_ = status;
  // §17.1.1.3: the ACK of a non-2xx belongs to the transaction: same Request-URI, top Via
  // (same branch), Route, From, Call-ID and CSeq number; the To of the response.
  const Message& request = transaction.request_;
  auto ack = MessageBuilder::request(Method::Ack, request.request_uri());
  ack.header(Header::Via, request.top_via())
      .copy_headers(request, Header::Route)
      .header(Header::MaxForwards, "70")
      .copy_headers(request, Header::From)
      .copy_headers(response, Header::To)
      .copy_headers(request, Header::CallId)
      .header(Header::CSeq, cseq_value(request.cseq_number(), "ACK"));
  transaction.ack_ = std::move(ack).finish();
  sender_.send(transaction.destination_, transaction.ack_);
  arm(transaction, transaction.timeout_timer_,
      transaction.reliable_ ? base::Duration::zero() : settings_.timer_d, TimerName::D);
  deliver(transaction, response, true);
}

void TransactionLayer::handle_non_invite_response(ClientTransaction& transaction,
                                                  const Message& response) {
  using Client = ClientTransaction;
  if (!std::holds_alternative<Client::Trying>(transaction.state_) &&
      !std::holds_alternative<Client::Proceeding>(transaction.state_)) {
    return;  // Completed: retransmissions are absorbed (§17.1.2.2)
  }
  const int status = response.status();
  transaction.last_status_ = status;
  if (status < 200) {
    // Timer E keeps running, at T2 from its next firing.
    transaction.state_ = Client::Proceeding{};
    deliver(transaction, response, false);
    return;
  }
  transaction.state_ = Client::Completed{};
  transaction.retransmit_timer_.cancel();
  arm(transaction, transaction.timeout_timer_,
      transaction.reliable_ ? base::Duration::zero() : settings_.t4, TimerName::K);
  deliver(transaction, response, true);
}

void TransactionLayer::deliver(ClientTransaction& transaction, const Message& response,
                               bool final) {
  TransactionHandler* handler = transaction.handler_;
  if (handler == nullptr) {
    return;
  }
  if (final) {
    detach(transaction);  // before the call: the handler may destroy itself in it
  }
  handler->on_response(transaction, response);
}

void TransactionLayer::report_failure(ClientTransaction& transaction, int status) {
  if (TransactionHandler* handler = transaction.handler_) {
    detach(transaction);
    handler->on_failure(transaction, status);
  }
}

void TransactionLayer::attach(Transaction& transaction, TransactionHandler* handler) {
  detach(transaction);
  transaction.handler_ = handler;
  if (handler != nullptr) {
    ++handler->attached_;
  }
}

void TransactionLayer::detach(Transaction& transaction) {
  if (transaction.handler_ != nullptr) {
    --transaction.handler_->attached_;
    transaction.handler_ = nullptr;
  }
}

void TransactionLayer::detach(TransactionId id) {
  base::assert_on_signaling_thread();
  if (ClientTransaction* transaction = find_client(id)) {
    detach(*transaction);
  }
}

void TransactionLayer::attach(ServerTransaction& invite, TransactionHandler& handler) {
  base::assert_on_signaling_thread();
  // Only an unanswered INVITE or one waiting for the ACK of its 2xx has anything to report.
  const bool waiting = std::holds_alternative<ServerTransaction::Proceeding>(invite.state_) ||
                       (std::holds_alternative<ServerTransaction::Accepted>(invite.state_) &&
                        !invite.acknowledged());
  if (invite.is_invite() && waiting) {
    attach(static_cast<Transaction&>(invite), &handler);
  }
}

// ---------------------------------------------------------------- server side

bool TransactionLayer::send_response(ServerTransaction& transaction, int status, std::string text) {
  base::assert_on_signaling_thread();
  using Server = ServerTransaction;
  if (status < 100 || status > 699) {
    return false;
  }
  if (transaction.is_invite()) {
    if (!std::holds_alternative<Server::Proceeding>(transaction.state_)) {
      return false;
    }
    sender_.send(transaction.response_target_, text);
    transaction.last_response_ = std::move(text);
    transaction.last_status_ = status;
    transaction.retransmit_timer_.cancel();  // a pending delayed 100 Trying
    if (status < 200) {
      return true;
    }
    transaction.interval_ = settings_.t1;
    if (status < 300) {
      // RFC 3261 §13.3.1.4: the UAS core retransmits the 2xx until the ACK, at T1 doubling
      // to T2, on every transport (a UDP hop may lie beyond a proxy); RFC 6026 keeps the
      // transaction to absorb retransmitted INVITEs meanwhile (timer L).
      transaction.state_ = Server::Accepted{};
      arm(transaction, transaction.retransmit_timer_, settings_.t1, TimerName::Retransmit2xx);
      arm(transaction, transaction.timeout_timer_, settings_.transaction_timeout(), TimerName::L);
      return true;
    }
    transaction.state_ = Server::Completed{};
    detach(transaction);  // a non-2xx final: nothing more for the handler (its ACK is ours)
    if (!transaction.reliable_) {
      arm(transaction, transaction.retransmit_timer_, settings_.t1, TimerName::G);
    }
    arm(transaction, transaction.timeout_timer_, settings_.transaction_timeout(), TimerName::H);
    return true;
  }
  if (!std::holds_alternative<Server::Trying>(transaction.state_) &&
      !std::holds_alternative<Server::Proceeding>(transaction.state_)) {
    return false;
  }
  sender_.send(transaction.response_target_, text);
  transaction.last_response_ = std::move(text);
  transaction.last_status_ = status;
  if (status < 200) {
    transaction.state_ = Server::Proceeding{};
    return true;
  }
  transaction.state_ = Server::Completed{};
  arm(transaction, transaction.timeout_timer_,
      transaction.reliable_ ? base::Duration::zero() : settings_.transaction_timeout(),
      TimerName::J);
  return true;
}

bool TransactionLayer::respond(ServerTransaction& transaction, int status,
                               std::string_view reason) {
  base::assert_on_signaling_thread();
  if (status < 100 || status > 699) {
    return false;
  }
  return send_response(transaction, status,
                       std::move(transaction.make_response(status, reason)).finish());
}

void TransactionLayer::send_trying(ServerTransaction& transaction) {
  auto response = transaction.make_response(100);
  // RFC 3261 §8.2.6.1: a 100 echoes the request's Timestamp.
  response.copy_headers(transaction.request_, Header::Timestamp);
  send_response(transaction, 100, std::move(response).finish());
}

namespace {

/// The To tag of a stateless response: RFC 3261 §8.2.7 wants the same tag for the same request
/// (its retransmissions) without keeping state, so it is a keyed hash of what identifies the
/// request — Call-ID, From tag, CSeq number and top Via branch — with a per-process key.
std::string stateless_tag(const Message& request) {
  static const std::uint64_t key = [] {
    std::uint64_t value = 0;
    for (char c : random_token(16)) {
      value = value * 131 + static_cast<unsigned char>(c);
    }
    return value;
  }();
  // FNV-1a over the parts, separated so that "ab"+"c" and "a"+"bc" differ.
  std::uint64_t hash = 0xcbf29ce484222325ull ^ key;
  auto mix = [&](std::string_view part) {
    for (char c : part) {
      hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    }
    hash = (hash ^ 0xff) * 0x100000001b3ull;
  };
  mix(request.call_id());
  mix(request.from_tag());
  mix(std::to_string(request.cseq_number()));
  mix(request.branch());
  static constexpr char kDigits[] =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string tag;
  for (int i = 0; i < 11; ++i) {
    tag += kDigits[hash % 62];
    hash /= 62;
  }
  return tag;
}

}  // namespace

MessageBuilder TransactionLayer::make_stateless_response(const Message& request, const Peer& source,
                                                         int status,
                                                         std::string_view reason) const {
  const std::string tag =
      status > 100 && request.to_tag().empty() ? stateless_tag(request) : std::string();
  const AddressText address(source.address);
  return response_to(request, status, reason, tag, ReceivedFrom{address.view(), source.port});
}

void TransactionLayer::send_stateless_response(const Message& request, const Peer& source,
                                               std::string_view text) {
  base::assert_on_signaling_thread();
  auto via = parse_via(request.top_via());
  if (!via) {
    spdlog::warn("drop response to={} reason=\"top Via: {}\"", source.to_string(),
                 via.error().reason);
    return;
  }
  sender_.send(transport::response_target(*via, source), text);
}

void TransactionLayer::on_server_timer(ServerTransaction& transaction, TimerName name) {
  using Server = ServerTransaction;
  switch (name) {
    case TimerName::Trying:
      if (std::holds_alternative<Server::Proceeding>(transaction.state_) &&
          transaction.last_status_ == 0) {
        send_trying(transaction);
      }
      return;
    case TimerName::G:
      if (!std::holds_alternative<Server::Completed>(transaction.state_)) {
        return;
      }
      sender_.send(transaction.response_target_, transaction.last_response_);
      transaction.interval_ = std::min(2 * transaction.interval_, settings_.t2);
      arm(transaction, transaction.retransmit_timer_, transaction.interval_, TimerName::G);
      return;
    case TimerName::Retransmit2xx:
      if (!std::holds_alternative<Server::Accepted>(transaction.state_) ||
          transaction.acknowledged()) {
        return;
      }
      sender_.send(transaction.response_target_, transaction.last_response_);
      transaction.interval_ = std::min(2 * transaction.interval_, settings_.t2);
      arm(transaction, transaction.retransmit_timer_, transaction.interval_,
          TimerName::Retransmit2xx);
      return;
    case TimerName::H:
    case TimerName::L: {
      const bool waiting = name == TimerName::H
                               ? std::holds_alternative<Server::Completed>(transaction.state_)
                               : std::holds_alternative<Server::Accepted>(transaction.state_) &&
                                     !transaction.acknowledged();
      const TransactionId id = transaction.id_;
      if (waiting) {
        spdlog::debug("ack timeout call_id={} status={}", transaction.request_.call_id(),
                      transaction.last_status_);
        if (TransactionHandler* handler = transaction.handler_) {
          detach(transaction);
          handler->on_ack_timeout(transaction);
        }
      }
      if (ServerTransaction* still = find_server(id)) {
        terminate(*still);
      }
      return;
    }
    case TimerName::I:
    case TimerName::J:
      terminate(transaction);
      return;
    case TimerName::Abandoned:
      spdlog::warn("unanswered request method={} call_id={} from={}",
                   transaction.request_.method_name(), transaction.request_.call_id(),
                   transaction.source_.to_string());
      terminate(transaction);
      return;
    default:
      return;
  }
}

void TransactionLayer::terminate(ServerTransaction& transaction) {
  transaction.state_ = ServerTransaction::Terminated{};
  detach(transaction);
  if (has_cookie(transaction.request_.branch())) {
    auto found = servers_.find(server_key(transaction));
    if (found != servers_.end() && found->second == &transaction) {
      servers_.erase(found);
    }
  }
  if (transaction.indexed_by_request_) {
    const Message& request = transaction.request_;
    auto [first, last] = requests_.equal_range(request_key(request, match_class(request.method())));
    for (; first != last; ++first) {
      if (first->second == &transaction) {
        requests_.erase(first);
        break;
      }
    }
  }
  --server_count_;
  release(transaction.id_);
}

// ---------------------------------------------------------------- client side

Result<TransactionId> TransactionLayer::send_request(std::string text, const Peer& destination,
                                                     TransactionHandler* handler) {
  base::assert_on_signaling_thread();
  auto request = parse_message(std::move(text));
  if (!request) {
    return request.error();
  }
  return send_request(std::move(*request), destination, handler);
}

Result<TransactionId> TransactionLayer::send_request(Message request, const Peer& destination,
                                                     TransactionHandler* handler) {
  base::assert_on_signaling_thread();
  if (!request.is_request()) {
    return fail("Bad request: a response has no client transaction");
  }
  if (request.method() == Method::Ack) {
    return fail("Bad request: ACK has no client transaction");
  }
  if (!has_cookie(request.branch())) {
    return fail("Bad request: Via branch lacks the magic cookie");
  }
  if (!request.owns_text()) {
    request.take_ownership();
  }
  return start_client(std::move(request), destination, handler);
}

Result<TransactionId> TransactionLayer::start_client(Message&& request, const Peer& destination,
                                                     TransactionHandler* handler) {
  std::uint32_t index = 0;
  const TransactionId id = allocate(index);
  auto owned = std::make_unique<ClientTransaction>(*this, id, std::move(request), destination);
  // One look-up: the insertion itself says whether the branch is taken.
  const ClientKey key = client_key(*owned);
  if (!clients_.insert(KeyHash{}(key), owned.get(), has_key(key))) {
    release(id);
    return fail("Bad request: Via branch already in use");
  }
  ClientTransaction& transaction = *owned;
  slots_[index].transaction = std::move(owned);
  ++client_count_;
  attach(transaction, handler);

  sender_.send(destination, transaction.request_.raw());
  const bool invite = transaction.is_invite();
  if (!transaction.reliable_) {
    transaction.interval_ = settings_.t1;
    arm(transaction, transaction.retransmit_timer_, settings_.t1,
        invite ? TimerName::A : TimerName::E);
  }
  arm(transaction, transaction.timeout_timer_, settings_.transaction_timeout(),
      invite ? TimerName::B : TimerName::F);
  return id;
}

CancelOutcome TransactionLayer::cancel(TransactionId invite, std::string_view reason) {
  base::assert_on_signaling_thread();
  using Client = ClientTransaction;
  ClientTransaction* transaction = find_client(invite);
  if (transaction == nullptr) {
    return CancelOutcome::TooLate;
  }
  if (!transaction->is_invite()) {
    return CancelOutcome::NotInvite;
  }
  const bool calling = std::holds_alternative<Client::Calling>(transaction->state_);
  if (!calling && !std::holds_alternative<Client::Proceeding>(transaction->state_)) {
    return CancelOutcome::TooLate;
  }
  if (transaction->cancel_requested_) {
    return CancelOutcome::AlreadyRequested;
  }
  transaction->cancel_requested_ = true;
  transaction->cancel_reason_ = std::string(reason);
  if (calling) {
    // RFC 3261 §9.1: no CANCEL before a provisional; it leaves when the first one arrives.
    return CancelOutcome::Pending;
  }
  send_cancel(*transaction);
  return CancelOutcome::Sent;
}

void TransactionLayer::send_cancel(ClientTransaction& invite) {
  // RFC 3261 §9.1: Request-URI, Call-ID, To, From, CSeq number and the single Via of the
  // INVITE (same branch), its Route set; method CANCEL.
  const Message& request = invite.request_;
  auto cancel = MessageBuilder::request(Method::Cancel, request.request_uri());
  cancel.header(Header::Via, request.top_via())
      .copy_headers(request, Header::Route)
      .header(Header::MaxForwards, "70")
      .copy_headers(request, Header::From)
      .copy_headers(request, Header::To)
      .copy_headers(request, Header::CallId)
      .header(Header::CSeq, cseq_value(request.cseq_number(), "CANCEL"));
  if (!invite.cancel_reason_.empty()) {
    cancel.header(Header::Reason, invite.cancel_reason_);
  }
  std::string().swap(invite.cancel_reason_);
  invite.cancel_sent_ = true;
  auto parsed = parse_message(std::move(cancel).finish());
  if (!parsed) {
    spdlog::error("cancel not built call_id={} reason=\"{}\"", request.call_id(),
                  parsed.error().reason);
    return;
  }
  const Peer destination = invite.destination_;
  arm(invite, invite.timeout_timer_, settings_.transaction_timeout(), TimerName::CancelWait);
  if (auto started = start_client(std::move(*parsed), destination, invite.handler_); !started) {
    spdlog::error("cancel not sent call_id={} reason=\"{}\"", request.call_id(),
                  started.error().reason);
  }
}

void TransactionLayer::send_stateless(const Peer& destination, std::string_view text) {
  base::assert_on_signaling_thread();
  sender_.send(destination, text);
}

void TransactionLayer::on_client_timer(ClientTransaction& transaction, TimerName name) {
  using Client = ClientTransaction;
  bool timed_out = false;
  switch (name) {
    case TimerName::A:
      if (!std::holds_alternative<Client::Calling>(transaction.state_)) {
        return;
      }
      // RFC 3261 §17.1.1.2: A doubles each time (2*T1, 4*T1, ...) until B fires.
      sender_.send(transaction.destination_, transaction.request_.raw());
      transaction.interval_ *= 2;
      arm(transaction, transaction.retransmit_timer_, transaction.interval_, TimerName::A);
      return;
    case TimerName::E:
      if (std::holds_alternative<Client::Trying>(transaction.state_)) {
        // §17.1.2.2: doubling, capped at T2.
        transaction.interval_ = std::min(2 * transaction.interval_, settings_.t2);
      } else if (std::holds_alternative<Client::Proceeding>(transaction.state_)) {
        // §17.1.2.2: after a provisional, every T2.
        transaction.interval_ = settings_.t2;
      } else {
        return;
      }
      sender_.send(transaction.destination_, transaction.request_.raw());
      arm(transaction, transaction.retransmit_timer_, transaction.interval_, TimerName::E);
      return;
    case TimerName::B:
      timed_out = std::holds_alternative<Client::Calling>(transaction.state_);
      break;
    case TimerName::F:
      timed_out = std::holds_alternative<Client::Trying>(transaction.state_) ||
                  std::holds_alternative<Client::Proceeding>(transaction.state_);
      break;
    case TimerName::CancelWait:
      timed_out = std::holds_alternative<Client::Proceeding>(transaction.state_);
      break;
    case TimerName::D:
    case TimerName::K:
    case TimerName::M:
      terminate(transaction);
      return;
    default:
      return;
  }
  if (!timed_out) {
    return;
  }
  const TransactionId id = transaction.id_;
  spdlog::debug("client timeout method={} call_id={} to={}", transaction.request_.method_name(),
                transaction.request_.call_id(), transaction.destination_.to_string());
  report_failure(transaction, 408);
  if (ClientTransaction* still = find_client(id)) {
    terminate(*still);
  }
}

void TransactionLayer::on_transport_failure(const Peer& peer) {
  base::assert_on_signaling_thread();
  using Client = ClientTransaction;
  std::vector<TransactionId> failed;
  clients_.for_each([&](const ClientTransaction& t) {
    const ClientTransaction* transaction = &t;
    const Peer& to = transaction->destination_;
    const bool same = to.protocol == peer.protocol &&
                      ((peer.connection != 0 && to.connection == peer.connection) ||
                       (to.address == peer.address && to.port == peer.port));
    const bool waiting = std::holds_alternative<Client::Calling>(transaction->state_) ||
                         std::holds_alternative<Client::Trying>(transaction->state_) ||
                         std::holds_alternative<Client::Proceeding>(transaction->state_);
    if (same && waiting) {
      failed.push_back(transaction->id_);
    }
  });
  // Callbacks may start new transactions: the index is not walked while they run.
  for (TransactionId id : failed) {
    if (ClientTransaction* transaction = find_client(id)) {
      report_failure(*transaction, 503);
      if (ClientTransaction* still = find_client(id)) {
        terminate(*still);
      }
    }
  }
}

void TransactionLayer::terminate(ClientTransaction& transaction) {
  transaction.state_ = ClientTransaction::Terminated{};
  detach(transaction);
  clients_.erase(KeyHash{}(client_key(transaction)), &transaction);
  --client_count_;
  release(transaction.id_);
}

std::string new_via(transport::Protocol protocol, std::string_view sent_by) {
  constexpr std::string_view kBranch = ";branch=", kRport = ";rport";
  std::string via;
  // One allocation: "SIP/2.0/UDP " + sent-by + branch parameter (cookie and 16) + ";rport".
  via.reserve(12 + sent_by.size() + kBranch.size() + kBranchCookie.size() + 16 + kRport.size());
  via += protocol == transport::Protocol::Tcp ? "SIP/2.0/TCP " : "SIP/2.0/UDP ";
  via += sent_by;
  via += kBranch;
  append_branch(via);
  via += kRport;
  return via;
}

}  // namespace catchline::sip::txn
