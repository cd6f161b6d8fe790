#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "base/clock.h"
#include "base/timer_queue.h"
#include "sip/builder.h"
#include "sip/message.h"
#include "sip/transport/peer.h"

namespace catchline::sip::txn {

class TransactionLayer;
class TransactionHandler;

/// A handle to a transaction that stays safe after the transaction is gone: the layer's
/// find_server()/find_client() return nullptr for a stale id. 0 is never a valid id.
using TransactionId = std::uint64_t;
inline constexpr TransactionId kNoTransaction = 0;

/// The timers of RFC 3261 §17 (A-K) and RFC 6026 (L, M), plus three of ours: the delayed
/// 100 Trying, the UAS core's 2xx retransmission (§13.3.1.4) and the wait for a final
/// response after CANCEL (§9.1). A value is a Timer's tag.
enum class TimerName : std::uint16_t {
  A,              // INVITE client: retransmit the request (unreliable only)
  B,              // INVITE client: give up waiting for any response
  D,              // INVITE client: absorb retransmitted non-2xx finals
  E,              // non-INVITE client: retransmit the request (unreliable only)
  F,              // non-INVITE client: give up
  G,              // INVITE server: retransmit the non-2xx final (unreliable only)
  H,              // INVITE server: give up waiting for the ACK of a non-2xx final
  I,              // INVITE server: absorb ACK retransmissions
  J,              // non-INVITE server: absorb request retransmissions
  K,              // non-INVITE client: absorb response retransmissions
  L,              // INVITE server after 2xx (RFC 6026 Accepted): absorb INVITE retransmissions
  M,              // INVITE client after 2xx (RFC 6026 Accepted): pass 2xx retransmissions up
  Trying,         // INVITE server: 100 Trying when the TU is slow
  Retransmit2xx,  // INVITE server: retransmit the 2xx until its ACK (RFC 3261 §13.3.1.4)
  CancelWait,     // INVITE client: no final 64*T1 after CANCEL, give up (RFC 3261 §9.1)
  Abandoned,      // non-INVITE server: the TU never answered; the client gave up long ago
};

/// What server and client transactions share: the request that created them (stored whole,
/// owned), an id, two embedded timers (retransmission and timeout: no transaction ever needs
/// more at once) and the handler its outcome goes to (see TransactionHandler).
/// Owned by the TransactionLayer; lives until the transaction terminates.
class Transaction : public base::TimerHandler {
 public:
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  virtual ~Transaction() = default;

  TransactionId id() const { return id_; }
  /// The request that created the transaction.
  const Message& request() const { return request_; }
  Method method() const { return request_.method(); }
  bool is_invite() const { return request_.method() == Method::Invite; }
  /// True over TCP: the retransmission timers are skipped (RFC 3261 §17.1.1.2, §17.2.1).
  bool reliable() const { return reliable_; }
  /// The last status sent (server) or received (client); 0 before any.
  int last_status() const { return last_status_; }

  /// Who hears what happens to it next (responses, CANCEL, ACK); nullptr once nobody will.
  TransactionHandler* handler() const { return handler_; }

 protected:
  Transaction(TransactionLayer& layer, TransactionId id, Message&& request, bool reliable,
              bool server_side)
      : layer_(layer),
        id_(id),
        request_(std::move(request)),
        reliable_(reliable),
        server_side_(server_side) {}

  TransactionLayer& layer_;
  TransactionId id_;
  Message request_;
  base::Timer retransmit_timer_;  // A, E, G, 2xx, Trying
  base::Timer timeout_timer_;     // B, F, H, L, M, CancelWait, Abandoned, and then D, I, J, K
  base::Duration interval_{};     // the current retransmission interval
  TransactionHandler* handler_ = nullptr;
  int last_status_ = 0;
  bool reliable_ = false;
  bool server_side_ = false;

  friend class TransactionLayer;
};

/// Server transaction states (RFC 3261 §17.2, RFC 6026 §8.5 for Accepted).
enum class ServerState : std::uint8_t {
  Trying,      // non-INVITE: nothing sent yet
  Proceeding,  // INVITE from the start; non-INVITE after a provisional
  Completed,   // final sent (INVITE: a non-2xx, waiting for the ACK)
  Confirmed,   // INVITE: ACK received
  Accepted,    // INVITE: 2xx sent; retransmitted until the ACK
  Terminated,
};

/// One server transaction (RFC 3261 §17.2): absorbs request retransmissions by resending the
/// last response, retransmits finals as the timers say, and holds the To tag its responses
/// carry. Answer it with TransactionLayer::respond() or send_response().
/// Owned by the TransactionLayer, on the signaling thread (checked in debug builds).
class ServerTransaction final : public Transaction {
 public:
  ServerTransaction(TransactionLayer& layer, TransactionId id, Message&& request,
                    const transport::Peer& source, const transport::Peer& response_target);

  ServerState state() const;
  /// Where the request came from.
  const transport::Peer& source() const { return source_; }
  /// Where responses go (RFC 3261 §18.2.2, RFC 3581).
  const transport::Peer& response_target() const { return response_target_; }
  /// The To tag of this transaction's responses: the request's own when it has one (in-dialog
  /// requests), else one made up on first use and kept, so that every response (and the 200
  /// to a CANCEL, RFC 3261 §9.2) carries the same tag. A dialog made from this transaction
  /// takes it as its local tag.
  std::string_view to_tag();
  /// True once a CANCEL for this INVITE arrived while it was unanswered.
  bool cancelled() const { return cancelled_; }
  /// True once the ACK of a 2xx arrived (state Accepted).
  bool acknowledged() const;

  /// A response to the request (RFC 3261 §8.2.6): Via (with received/rport), From, To (with
  /// to_tag() except for 100), Call-ID, CSeq copied. Add headers and a body, finish(), and
  /// pass the text to TransactionLayer::send_response().
  MessageBuilder make_response(int status, std::string_view reason = {});

  void on_timer(base::Timer& timer) override;

 private:
  friend class TransactionLayer;

  // INVITE: Proceeding -> Completed (3xx-6xx sent) -> Confirmed (ACK) -> Terminated (timer I)
  //         Proceeding -> Accepted (2xx sent) -> Terminated (timer L)
  //         Completed -> Terminated (timer H: no ACK)
  // non-INVITE: Trying -> Proceeding (1xx sent) -> Completed (final sent) -> Terminated (J)
  struct Trying {};
  struct Proceeding {};
  struct Completed {};
  struct Confirmed {};
  struct Accepted {
    bool acknowledged = false;
  };
  struct Terminated {};
  std::variant<Trying, Proceeding, Completed, Confirmed, Accepted, Terminated> state_;

  transport::Peer source_;
  transport::Peer response_target_;
  std::uint32_t sent_by_offset_ = 0;  // the top Via's sent-by inside request_.raw()
  std::uint32_t sent_by_length_ = 0;
  std::string to_tag_;         // made up when the request has no To tag
  std::string last_response_;  // resent on request retransmission and by G / 2xx timers
  bool cancelled_ = false;
  bool indexed_by_request_ = false;  // present in the layer's Call-ID/From tag/CSeq index

  std::string_view sent_by() const {
    return request_.raw().substr(sent_by_offset_, sent_by_length_);
  }
};

/// Client transaction states (RFC 3261 §17.1, RFC 6026 §7.2 for Accepted).
enum class ClientState : std::uint8_t {
  Calling,     // INVITE sent, no response yet
  Trying,      // non-INVITE sent, no response yet
  Proceeding,  // provisional received
  Completed,   // final received (INVITE: a non-2xx, ACK sent)
  Accepted,    // INVITE: 2xx received; further 2xx are passed up for re-ACK
  Terminated,
};

/// One client transaction (RFC 3261 §17.1): retransmits the request as the timers say,
/// passes responses up, and for an INVITE answered with 300-699 sends the ACK itself.
/// Owned by the TransactionLayer, on the signaling thread (checked in debug builds).
class ClientTransaction final : public Transaction {
 public:
  ClientTransaction(TransactionLayer& layer, TransactionId id, Message&& request,
                    const transport::Peer& destination);

  ClientState state() const;
  /// Where the request (and its retransmissions, ACK and CANCEL) go.
  const transport::Peer& destination() const { return destination_; }
  /// True once the TU asked to cancel this INVITE.
  bool cancel_requested() const { return cancel_requested_; }
  /// True once the CANCEL was sent (it waits for a provisional, RFC 3261 §9.1).
  bool cancel_sent() const { return cancel_sent_; }

  void on_timer(base::Timer& timer) override;

 private:
  friend class TransactionLayer;

  // INVITE: Calling -> Proceeding (1xx) -> Completed (3xx-6xx, ACK sent) -> Terminated (D)
  //         Calling|Proceeding -> Accepted (2xx) -> Terminated (M)
  //         Calling -> Terminated (B); Proceeding -> Terminated (64*T1 after CANCEL)
  // non-INVITE: Trying -> Proceeding (1xx) -> Completed (final) -> Terminated (K)
  //             Trying|Proceeding -> Terminated (F)
  struct Calling {};
  struct Trying {};
  struct Proceeding {};
  struct Completed {};
  struct Accepted {};
  struct Terminated {};
  std::variant<Calling, Trying, Proceeding, Completed, Accepted, Terminated> state_;

  transport::Peer destination_;
  std::string ack_;            // the ACK of a non-2xx final, resent for its retransmissions
  std::string cancel_reason_;  // Reason header value for a CANCEL waiting for a provisional
  bool cancel_requested_ = false;
  bool cancel_sent_ = false;
};

}  // namespace catchline::sip::txn
