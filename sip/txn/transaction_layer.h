#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/timer_queue.h"
#include "sip/builder.h"
#include "sip/headers/via.h"
#include "sip/message.h"
#include "sip/result.h"
#include "sip/transport/peer.h"
#include "sip/txn/pointer_index.h"
#include "sip/txn/timer_settings.h"
#include "sip/txn/transaction.h"
#include "sip/txn/transaction_user.h"

namespace catchline::sip::txn {

/// What TransactionLayer::cancel() did.
enum class CancelOutcome : std::uint8_t {
  Sent,     // the CANCEL is out (a provisional had arrived)
  Pending,  // sent as soon as a provisional arrives (RFC 3261 §9.1)
  AlreadyRequested,
  TooLate,  // a final response already arrived, or the transaction is gone
  NotInvite,
};

/// The transaction layer (RFC 3261 §17) between the transport (it is the transport's
/// Receiver and sends through its Sender) and one TransactionUser.
///
/// Server side: matches requests to transactions (§17.2.3 with the magic cookie, else the
/// RFC 2543 rules), resends the last response on retransmissions, sends 100 Trying for
/// INVITE, answers CANCEL (200, or 481 when nothing matches, §9.2), answers merged requests
/// 482 (§8.2.2.2), retransmits non-2xx finals (G) and, as the UAS core must, 2xx finals until
/// their ACK (§13.3.1.4), which it matches by Call-ID, From tag and CSeq number. The TU may
/// answer a request without any transaction (stateless challenges).
/// Client side: sends requests and their retransmissions (A, E), times out (B, F), ACKs
/// non-2xx finals itself, passes every 2xx up (RFC 6026), and sends CANCEL per §9.1.
/// Reliable transports (TCP) skip the A, E, G timers and wait zero for D, I, J, K.
///
/// Transactions are found in O(1) hash maps keyed by views into their stored requests (no
/// allocation per lookup) and destroyed when they terminate.
/// Owned by the signaling thread; no locks. Entry points check the thread in debug builds.
class TransactionLayer final : public transport::Receiver {
 public:
  TransactionLayer(transport::Sender& sender, base::TimerQueue& timers, TransactionUser& user,
                   TimerSettings settings = {});
  ~TransactionLayer() override;
  TransactionLayer(const TransactionLayer&) = delete;
  TransactionLayer& operator=(const TransactionLayer&) = delete;

  /// Every message from the transport. Requests and responses that cannot be matched or
  /// answered are passed to the TU's stray callbacks or dropped with a debug log.
  void on_message(Message&& message, const transport::Peer& source) override;
  /// A batch holds the timer queue (TimerQueue::hold): what the TU arms for "now" while
  /// handling the batch runs at its end, and its sends join the batch's.
  void on_batch_begin() override { timers_.hold(); }
  void on_batch_end() override { timers_.release(); }

  // ---- server side ----

  /// `handler` hears what happens next to INVITE `invite` (CANCEL, the ACK of its 2xx); a TU
  /// that keeps an INVITE unanswered, or answers it 2xx, attaches one. Without a handler a
  /// CANCEL is answered 487 by the layer.
  void attach(ServerTransaction& invite, TransactionHandler& handler);

  /// Sends a response through `transaction`: `text` is the whole response (see
  /// ServerTransaction::make_response) and `status` its status code. Returns false when the
  /// transaction's state forbids it (a final was already sent) or the status is not 100..699.
  bool send_response(ServerTransaction& transaction, int status, std::string text);
  /// The same with a plain response: make_response(status, reason), no further headers.
  bool respond(ServerTransaction& transaction, int status, std::string_view reason = {});

  /// A response for a request answered without a transaction (a 401/407 challenge): To gets a
  /// fresh tag (except for 100), the top Via gains received/rport.
  MessageBuilder make_stateless_response(const Message& request, const transport::Peer& source,
                                         int status, std::string_view reason = {}) const;
  /// Sends a response for a request that has no transaction, where §18.2.2 says.
  void send_stateless_response(const Message& request, const transport::Peer& source,
                               std::string_view text);

  // ---- client side ----

  /// Starts a client transaction for `text`, a whole request whose top Via carries a fresh
  /// RFC 3261 branch (see new_via()); its responses go to `handler` (nullptr: nobody listens).
  /// Fails (status 400 errors naming the fault) when the text does not parse, is an ACK (send
  /// it with send_stateless), or its branch lacks the magic cookie or is already in use.
  Result<TransactionId> send_request(std::string text, const transport::Peer& destination,
                                     TransactionHandler* handler);
  /// The same for a request already parsed.
  Result<TransactionId> send_request(Message request, const transport::Peer& destination,
                                     TransactionHandler* handler);

  /// Client transaction `id`'s handler hears nothing more of it (the handler is going away);
  /// the transaction itself runs on. Nothing happens when it has ended.
  void detach(TransactionId id);

  /// Cancels INVITE client transaction `invite` (RFC 3261 §9.1): a CANCEL with the INVITE's
  /// Request-URI, top Via (same branch), Route, From, To, Call-ID and CSeq number, and the
  /// Reason header value `reason` when not empty (RFC 3326). Sent at once after a provisional,
  /// else when the first provisional arrives. Its responses reach the INVITE's handler
  /// (transaction method CANCEL). Without a final 64*T1 later the INVITE times out.
  CancelOutcome cancel(TransactionId invite, std::string_view reason = {});

  /// Sends a message outside any transaction: the ACK for a 2xx (RFC 3261 §13.2.2.4), built
  /// by the dialog, and its re-sends for retransmitted 2xx.
  void send_stateless(const transport::Peer& destination, std::string_view text);

  /// To be called by the transport when `peer` became unreachable (a TCP connect failed or the
  /// connection broke): every client transaction bound there fails with on_transport_error.
  void on_transport_failure(const transport::Peer& peer);

  // ---- lookup ----

  /// The transaction with this id, or nullptr when it has terminated (or never was).
  ServerTransaction* find_server(TransactionId id);
  ClientTransaction* find_client(TransactionId id);

  std::size_t server_count() const { return server_count_; }
  std::size_t client_count() const { return client_count_; }
  const TimerSettings& settings() const { return settings_; }
  base::TimerQueue& timers() { return timers_; }

 private:
  friend class ServerTransaction;
  friend class ClientTransaction;

  // §17.2.3: branch + sent-by + method (ACK counts as INVITE).
  struct ServerKey {
    std::string_view branch;
    std::string_view sent_by;
    Method method;
    std::string_view method_name;  // only for Method::Other
    bool operator==(const ServerKey&) const = default;
  };
  // §17.1.3: branch + CSeq method.
  struct ClientKey {
    std::string_view branch;
    Method method;
    std::string_view method_name;
    bool operator==(const ClientKey&) const = default;
  };
  // Call-ID + From tag + CSeq: RFC 2543 matching, merged requests (§8.2.2.2), 2xx ACKs.
  struct RequestKey {
    std::string_view call_id;
    std::string_view from_tag;
    std::uint32_t cseq;
    Method method;
    std::string_view method_name;
    bool operator==(const RequestKey&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const ServerKey& key) const;
    std::size_t operator()(const ClientKey& key) const;
    std::size_t operator()(const RequestKey& key) const;
  };

  struct Slot {
    std::unique_ptr<Transaction> transaction;
    std::uint32_t generation = 1;
  };

  void handle_request(Message&& request, const transport::Peer& source);
  void handle_ack(const Message& ack, std::string_view sent_by, const transport::Peer& source);
  void handle_cancel(Message&& cancel, const Via& via, const transport::Peer& source);
  void handle_response(const Message& response, const transport::Peer& source);
  void handle_invite_response(ClientTransaction& transaction, const Message& response,
                              const transport::Peer& source);
  // Passes a response to the transaction's handler; a final one detaches it first.
  void deliver(ClientTransaction& transaction, const Message& response, bool final);
  // No final will come (408, 503): tells the handler and detaches it.
  void report_failure(ClientTransaction& transaction, int status);
  void attach(Transaction& transaction, TransactionHandler* handler);
  void detach(Transaction& transaction);
  void handle_non_invite_response(ClientTransaction& transaction, const Message& response);

  ServerTransaction* match_server(const Message& request, std::string_view sent_by, Method method);
  bool is_merged(const Message& request);
  ServerTransaction& create_server(Message&& request, const Via& via, const transport::Peer& source,
                                   bool may_index);
  void absorb_retransmission(ServerTransaction& transaction);
  void send_trying(ServerTransaction& transaction);
  // Fails when the request's branch and method are already a client transaction's.
  Result<TransactionId> start_client(Message&& request, const transport::Peer& destination,
                                     TransactionHandler* handler);
  void send_cancel(ClientTransaction& invite);

  void on_server_timer(ServerTransaction& transaction, TimerName name);
  void on_client_timer(ClientTransaction& transaction, TimerName name);
  void arm(Transaction& transaction, base::Timer& timer, base::Duration delay, TimerName name);
  void terminate(ServerTransaction& transaction);
  void terminate(ClientTransaction& transaction);

  static ServerKey server_key(const ServerTransaction& transaction);
  static ClientKey client_key(const ClientTransaction& transaction);
  // For clients_: whether a transaction has `key`.
  static auto has_key(const ClientKey& key) {
    return [&key](const ClientTransaction& t) { return client_key(t) == key; };
  }
  static RequestKey request_key(const Message& request, Method method);

  TransactionId allocate(std::uint32_t& index);
  Transaction* find(TransactionId id);
  void release(TransactionId id);

  transport::Sender& sender_;
  base::TimerQueue& timers_;
  TransactionUser& user_;
  TimerSettings settings_;

  std::unordered_map<ServerKey, ServerTransaction*, KeyHash> servers_;
  PointerIndex<ClientTransaction> clients_;  // by client_key()
  std::unordered_multimap<RequestKey, ServerTransaction*, KeyHash> requests_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::size_t server_count_ = 0;
  std::size_t client_count_ = 0;
};

/// A Via header value for a new request: "SIP/2.0/UDP sent_by;branch=z9hG4bK...;rport".
/// `sent_by` is the local "host:port" the responses should come back to.
std::string new_via(transport::Protocol protocol, std::string_view sent_by);

}  // namespace catchline::sip::txn
