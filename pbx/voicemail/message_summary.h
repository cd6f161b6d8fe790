#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/timer_queue.h"
#include "pbx/blf/presence.h"
#include "sip/message.h"
#include "sip/result.h"
#include "sip/transport/peer.h"
#include "sip/txn/transaction_layer.h"

namespace catchline::pbx {

/// What a voicemail box holds: messages not heard yet, and heard ones still kept.
struct MailboxCounts {
  unsigned new_messages = 0;
  unsigned old_messages = 0;
  friend bool operator==(const MailboxCounts&, const MailboxCounts&) = default;
};

/// The application/simple-message-summary body (RFC 3842 §5.2) of a voicemail box:
///   Messages-Waiting: yes            ("yes" while a message is new, else "no")
///   Message-Account: sip:1002@pbx.example
///   Voice-Message: 2/1 (0/0)         (new/old, then urgent new/old: we keep no urgent ones)
/// each line ending in CRLF; no Message-Account line when `account_uri` is empty.
std::string message_summary_body(std::string_view account_uri, MailboxCounts counts);

/// An out-of-dialog ("unsolicited") MWI NOTIFY to one registered contact of a box: what it
/// says and where it goes.
struct UnsolicitedNotify {
  std::string_view contact;      // the Contact URI the phone registered: the Request-URI
  std::string_view account_uri;  // the box's AOR, "sip:1002@pbx.example": To, From, account
  sip::transport::Protocol protocol = sip::transport::Protocol::Udp;
  std::string_view local_address;  // our "host:port" on that protocol, for Via and Contact
  MailboxCounts counts;
  std::string_view call_id;  // "" for a fresh one
  std::uint32_t cseq = 1;
};

/// The text of an unsolicited MWI NOTIFY, ready for TransactionLayer::send_request(): a new
/// Via branch, Max-Forwards 70, From (fresh tag) and To the box's AOR, a fresh Call-ID unless
/// one is given, CSeq `cseq` NOTIFY, our Contact, `Event: message-summary`,
/// `Subscription-State: active` (RFC 6665 §8.2.3 wants one in every NOTIFY; Asterisk's
/// unsolicited MWI says active too) and the body of message_summary_body().
/// Many phones never SUBSCRIBE for MWI and light their lamp only from these: Yealink unless
/// "Subscribe for MWI" is switched on, Polycom/Poly while `msg.mwi.N.subscribe` is empty (its
/// default), and most phones configured for Asterisk, which sends them by default. A phone
/// that does not want them answers 481 or 489; that is harmless.
std::string unsolicited_notify(const UnsolicitedNotify& notify);

/// The message-waiting server (RFC 3842): a phone SUBSCRIBEs with `Event: message-summary`
/// to its own box and gets a NOTIFY at once and one per change, with the counts of
/// message_summary_body(). Subscriptions are dialogs in the server's one DialogTable, as the
/// BLF presence server's are (same PresenceHost, same PresenceSettings limits): a refresh or
/// an un-SUBSCRIBE (Expires: 0) arrives in their dialog; expiry, a NOTIFY answered with an
/// error (481 above all) or never answered (408) ends them. At most one NOTIFY is in flight
/// per subscription, and the next one carries the latest counts. NOTIFYs of changes leave at
/// the next turn of the event loop (a zero-delay timer), so a burst of changes sends one.
/// Authentication and the check that a phone watches its own box are the Pbx's, before this.
/// Owned by the signaling thread; no locks.
class MessageSummary final : private base::TimerHandler {
 public:
  MessageSummary(PresenceHost& host, PresenceSettings settings);
  /// Takes its dialogs out of the host's table. The transaction layer is not touched (it may
  /// be gone first, as in the server): destroy or stop it before a NOTIFY could be answered.
  ~MessageSummary();
  MessageSummary(const MessageSummary&) = delete;
  MessageSummary& operator=(const MessageSummary&) = delete;

  void set_settings(PresenceSettings settings) { settings_ = settings; }

  /// A new SUBSCRIBE (no To tag) to voicemail box `box`, already authenticated and allowed;
  /// `now` is what the box holds. `account_uri` is the Message-Account of its NOTIFYs; ""
  /// takes the AOR the phone subscribed to (its To URI without parameters).
  /// Answers 489 for another event package, 406 when Accept names neither
  /// application/simple-message-summary nor a wildcard of it, 403 when the box already has
  /// kMaxSubscriptionsPerBox, 400 for a bad Expires or no Contact, 423 below min_expires;
  /// else 200 with the granted Expires, then a NOTIFY with the counts. Expires: 0 is a fetch:
  /// one NOTIFY, terminated.
  void subscribe(sip::txn::ServerTransaction& t, const sip::Message& request,
                 const sip::transport::Peer& source, std::string box, MailboxCounts now,
                 std::string account_uri = {});
  /// What box `box` holds changed: each of its subscriptions gets a NOTIFY with `now`
  /// (coalesced). Counts equal to the last ones send nothing; a box nobody watches is ignored.
  void changed(const std::string& box, MailboxCounts now);
  /// Builds unsolicited_notify() for `contact` (reached at `peer`) with our address on its
  /// protocol and sends it in its own client transaction; nobody hears the answer.
  /// Fails as TransactionLayer::send_request() does.
  sip::Result<sip::txn::TransactionId> send_unsolicited(std::string_view account_uri,
                                                        std::string_view contact,
                                                        const sip::transport::Peer& peer,
                                                        MailboxCounts now);
  /// True when a live subscription to `box` came from `peer` (protocol, address and port):
  /// that phone hears of changes in its subscription and needs no unsolicited NOTIFY.
  bool subscribed(const std::string& box, const sip::transport::Peer& peer) const;
  /// Ends every subscription with a final NOTIFY (reason deactivated, on SIGTERM).
  void shutdown();

  std::size_t subscription_count() const { return watches_.size(); }

  /// The event package, for routing SUBSCRIBE and for Allow-Events.
  static constexpr std::string_view kEvent = "message-summary";
  static constexpr std::string_view kContentType = "application/simple-message-summary";
  /// A box has a few phones; a bound keeps one account from filling memory.
  static constexpr std::size_t kMaxSubscriptionsPerBox = 32;

 private:
  struct Watch;
  struct Box {
    MailboxCounts counts;
    std::vector<std::uint32_t> watches;
  };

  void on_timer(base::Timer& timer) override;
  /// A request in a subscription's dialog: a refreshing or ending SUBSCRIBE; others get 405.
  void in_dialog(Watch& watch, sip::txn::ServerTransaction& t, const sip::Message& request);
  /// The subscription's duration from the request's Expires (default, cut to the maximum);
  /// nullopt when it answered 400 (unreadable) or 423 (below the minimum).
  std::optional<std::uint32_t> granted_expires(sip::txn::ServerTransaction& t,
                                               const sip::Message& request);
  void expire(Watch& watch);
  void send_notify(Watch& watch);
  /// The final answer to the watch's NOTIFY: an error (481, any other) ends the subscription.
  void notify_answered(Watch& watch, const sip::Message& response);
  /// The NOTIFY got no answer (408) or could not be sent (503): the subscription ends.
  void notify_failed(Watch& watch, int status);
  void remove(std::uint32_t id);

  PresenceHost& host_;
  PresenceSettings settings_;
  std::uint32_t next_id_ = 1;
  std::unordered_map<std::uint32_t, std::unique_ptr<Watch>> watches_;
  std::unordered_map<std::string, Box> boxes_;  // the boxes somebody watches
  std::vector<std::uint32_t> dirty_;            // watches whose box changed since the flush
  base::Timer flush_timer_;
};

}  // namespace catchline::pbx
