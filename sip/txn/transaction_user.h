#pragma once

#include <cstdint>

#include "sip/message.h"
#include "sip/transport/peer.h"
#include "sip/txn/transaction.h"

namespace catchline::sip::txn {

class TransactionLayer;

/// Whatever one transaction reports to (a call leg's INVITE, a subscription's NOTIFY): given
/// when a request is sent (TransactionLayer::send_request) or when the TU takes a server INVITE
/// (TransactionLayer::attach). The layer detaches it as soon as nothing more can come for it,
/// and counts the transactions attached, so that an object that is a handler knows when it
/// may be destroyed: when attached() is 0 (or it detached them itself).
///
/// Client side: every provisional, then the final response or on_failure, then nothing. For an
/// INVITE, 2xx after the first (retransmitted, or forked by a proxy) go to
/// TransactionUser::on_stray_response, where the dialog they belong to ACKs them.
/// Server side (INVITE only): on_cancel while unanswered, on_ack or on_ack_timeout for its 2xx,
/// then nothing; nothing at all once a non-2xx final was sent.
///
/// Every callback runs on the signaling thread; the handler may call back into the layer, and
/// may destroy itself when it is the last statement (the layer has detached it before).
class TransactionHandler {
 public:
  /// A response to a request sent with this handler.
  virtual void on_response(ClientTransaction& transaction, const Message& response) {}
  /// No final response will come: 408 (timer B or F, or no final 64*T1 after CANCEL,
  /// RFC 3261 §8.1.3.1) or 503 (the transport reported the destination unreachable, §17.1.4).
  virtual void on_failure(ClientTransaction& transaction, int status) {}

  /// A CANCEL matched `invite` while it had no final response (RFC 3261 §9.2). The layer
  /// already answered the CANCEL 200; the handler should answer the INVITE 487.
  virtual void on_cancel(ServerTransaction& invite, const Message& cancel) {}
  /// The ACK for the 2xx of `invite` arrived (RFC 3261 §13.3.1.4); it may carry the SDP answer.
  virtual void on_ack(ServerTransaction& invite, const Message& ack) {}
  /// The 2xx of `invite` was never acknowledged, after 64*T1 of retransmissions: the dialog is
  /// confirmed but the session should end with BYE (§13.3.1.4).
  virtual void on_ack_timeout(ServerTransaction& invite) {}

  /// How many transactions may still call this handler.
  std::uint32_t attached() const { return attached_; }

 protected:
  TransactionHandler() = default;
  TransactionHandler(const TransactionHandler&) = delete;
  TransactionHandler& operator=(const TransactionHandler&) = delete;
  ~TransactionHandler() = default;

 private:
  friend class TransactionLayer;
  std::uint32_t attached_ = 0;
};

/// The layer above the transactions (RFC 3261 §17: the "TU"): a UAS/UAC core, a B2BUA.
/// It gets what no TransactionHandler was given for: new requests, and ACKs and responses that
/// match no transaction. Every callback runs on the signaling thread, from inside
/// TransactionLayer::on_message(). A callback may call back into the layer (respond, send a
/// request, cancel); a transaction it gets stays valid for the whole callback. Keep
/// transaction ids, not references, across callbacks.
class TransactionUser {
 public:
  /// Makes the server transaction for the request being handled, on demand: the TU decides
  /// first (a 401/407 challenge must leave no state behind) and calls it at most once. The
  /// request then lives in the transaction: use transaction.request() from there on.
  class Start {
   public:
    virtual ServerTransaction& operator()() = 0;

   protected:
    ~Start() = default;
  };

  virtual ~TransactionUser() = default;

  /// A request that matches no transaction arrived (not ACK, not CANCEL). Either answer it
  /// without a transaction (TransactionLayer::send_stateless_response) or drop it, or call
  /// `start()` and answer the transaction it returns, now or later. For an INVITE the layer
  /// sends 100 Trying itself when a transaction was started and this returns without a
  /// response (or after TimerSettings::trying_delay). A retransmission of a request answered
  /// without a transaction comes here again.
  virtual void on_request(const Message& request, const transport::Peer& source, Start& start) = 0;

  /// An ACK that matches no transaction: a late ACK for a 2xx after the transaction ended,
  /// or the ACK of a stateless response (a challenge). May be ignored.
  virtual void on_stray_ack(const Message& ack, const transport::Peer& source) {}

  /// A response that no handler waits for: a 2xx of an INVITE after the first (retransmitted
  /// because our ACK was lost, or from another fork: RFC 6026), to be ACKed by its dialog; a
  /// response to a request sent without a handler; or garbage. May be ignored.
  virtual void on_stray_response(const Message& response, const transport::Peer& source) {}
};

}  // namespace catchline::sip::txn
