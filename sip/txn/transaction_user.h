#pragma once

#include "sip/message.h"
#include "sip/transport/peer.h"
#include "sip/txn/transaction.h"

namespace catchline::sip::txn {

/// The layer above the transactions (RFC 3261 §17: the "TU"): a UAS/UAC core, a B2BUA.
/// Every callback runs on the signaling thread, from inside TransactionLayer::on_message() or
/// a timer. A callback may call back into the layer (respond, send a request, cancel); the
/// transaction it gets stays valid for the whole callback. Keep transaction ids, not
/// references, across callbacks.
class TransactionUser {
 public:
  virtual ~TransactionUser() = default;

  /// A request that matches no transaction arrived (not ACK, not CANCEL). Return false to
  /// create no transaction at all: answer it with TransactionLayer::send_stateless_response()
  /// (a 401/407 challenge must leave no state behind) or drop it. A retransmission of a
  /// request refused this way comes here again. Default: create the transaction.
  virtual bool should_create_transaction(const Message& request, const transport::Peer& source) {
    return true;
  }

  /// A new server transaction. For an INVITE the layer sends 100 Trying itself when this
  /// returns without a response (or after TimerSettings::trying_delay). `request` is
  /// transaction.request().
  virtual void on_request(ServerTransaction& transaction, const Message& request,
                          const transport::Peer& source) = 0;

  /// A CANCEL matched `invite` while it had no final response (RFC 3261 §9.2). The layer
  /// already answered the CANCEL 200; the TU should answer the INVITE 487 (and stop its
  /// other legs).
  virtual void on_cancel(ServerTransaction& invite, const Message& cancel) {}

  /// The ACK for a 2xx of `invite` arrived: the layer stopped retransmitting the 2xx
  /// (RFC 3261 §13.3.1.4). The ACK may carry the answer SDP. Called once per 2xx.
  virtual void on_ack(ServerTransaction& invite, const Message& ack,
                      const transport::Peer& source) {}

  /// An ACK that matches no transaction: a late ACK for a 2xx after the transaction ended,
  /// or the ACK of a stateless response (a challenge). May be ignored.
  virtual void on_stray_ack(const Message& ack, const transport::Peer& source) {}

  /// `invite` never got its ACK: for a non-2xx final after timer H (RFC 3261 §17.2.1), for a
  /// 2xx after 64*T1 of retransmissions (§13.3.1.4: the dialog is confirmed but the session
  /// should end with BYE). invite.last_status() tells which. The transaction ends after this.
  virtual void on_ack_timeout(ServerTransaction& invite) {}

  /// A response for a client transaction: every provisional, the final, and for an INVITE
  /// every further 2xx (retransmissions and forked answers, each to be ACKed by the dialog).
  /// Retransmitted non-2xx finals are absorbed (and re-ACKed) by the layer.
  virtual void on_response(ClientTransaction& transaction, const Message& response) = 0;

  /// The client transaction timed out (timer B or F, or no final 64*T1 after CANCEL): the TU
  /// should act as on a 408 (RFC 3261 §8.1.3.1). The transaction ends after this.
  virtual void on_timeout(ClientTransaction& transaction) = 0;

  /// The transport reported the destination unreachable (RFC 3261 §17.1.4): act as on a 503.
  /// The transaction ends after this.
  virtual void on_transport_error(ClientTransaction& transaction) {}

  /// A response that matches no client transaction: a 2xx retransmitted after the INVITE
  /// transaction ended (to be re-ACKed by its dialog), or garbage. May be ignored.
  virtual void on_stray_response(const Message& response, const transport::Peer& source) {}
};

}  // namespace catchline::sip::txn
