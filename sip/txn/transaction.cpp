#include "sip/txn/transaction.h"

#include <utility>

#include "base/thread_check.h"
#include "sip/txn/transaction_layer.h"
#include "sip/txn/wire_text.h"

namespace catchline::sip::txn {

ServerTransaction::ServerTransaction(TransactionLayer& layer, TransactionId id, Message&& request,
                                     const transport::Peer& source,
                                     const transport::Peer& response_target)
    : Transaction(layer, id, std::move(request), source.protocol == transport::Protocol::Tcp, true),
      source_(source),
      response_target_(response_target) {
  if (is_invite()) {
    state_ = Proceeding{};
  }
}

ServerState ServerTransaction::state() const {
  // The alternatives are declared in the order of the enum.
  return static_cast<ServerState>(state_.index());
}

std::string_view ServerTransaction::to_tag() {
  base::assert_on_signaling_thread();
  if (!request_.to_tag().empty()) {
    return request_.to_tag();
  }
  if (to_tag_.empty()) {
    // RFC 3261 §19.3: a tag only needs to be unique and random; 12 characters stay inline.
    to_tag_ = random_token(12);
  }
  return to_tag_;
}

bool ServerTransaction::acknowledged() const {
  const auto* accepted = std::get_if<Accepted>(&state_);
  return accepted != nullptr && accepted->acknowledged;
}

MessageBuilder ServerTransaction::make_response(int status, std::string_view reason) {
  base::assert_on_signaling_thread();
  // RFC 3261 §8.2.6.2: every response but 100 carries the UAS's To tag.
  const std::string_view tag = status > 100 ? to_tag() : std::string_view{};
  const AddressText address(source_.address);
  return response_to(request_, status, reason, tag, ReceivedFrom{address.view(), source_.port});
}

void ServerTransaction::on_timer(base::Timer& timer) {
  base::assert_on_signaling_thread();
  layer_.on_server_timer(*this, static_cast<TimerName>(timer.tag()));
}

ClientTransaction::ClientTransaction(TransactionLayer& layer, TransactionId id, Message&& request,
                                     const transport::Peer& destination)
    : Transaction(layer, id, std::move(request), destination.protocol == transport::Protocol::Tcp,
                  false),
      destination_(destination) {
  if (is_invite()) {
    state_ = Calling{};
  } else {
    state_ = Trying{};
  }
}

ClientState ClientTransaction::state() const { return static_cast<ClientState>(state_.index()); }

void ClientTransaction::on_timer(base::Timer& timer) {
  base::assert_on_signaling_thread();
  layer_.on_client_timer(*this, static_cast<TimerName>(timer.tag()));
}

}  // namespace catchline::sip::txn
