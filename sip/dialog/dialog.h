#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sip/builder.h"
#include "sip/dialog/subscription.h"
#include "sip/message.h"
#include "sip/result.h"

namespace catchline::sip::dialog {

/// A dialog's identity (RFC 3261 §12): Call-ID, local tag, remote tag, as views. Used as the
/// DialogTable key (viewing the dialog's own strings) and for lookups (viewing a message).
struct DialogId {
  std::string_view call_id;
  std::string_view local_tag;
  std::string_view remote_tag;
  bool operator==(const DialogId&) const = default;
};

/// Which side of the dialog-creating request we were (RFC 3261 §12.1).
enum class DialogRole : std::uint8_t { Uac, Uas };

/// Dialog states (RFC 3261 §12): early after a provisional with a To tag, confirmed after a
/// 2xx, terminated when its last usage ended or the early dialog was refused.
enum class DialogState : std::uint8_t { Early, Confirmed, Terminated };

/// One SIP dialog (RFC 3261 §12): its id, route set, remote target, sequence numbers and
/// parties; it builds the requests sent inside it and checks those received. It carries its
/// usages (RFC 5057): the INVITE usage of a call and any number of subscriptions (RFC 6665
/// §4.5.2); the dialog terminates when its last usage ends.
/// Everything is copied out of the messages it was made from (they may go away).
/// Owned by a DialogTable (or the TU), on the signaling thread (checked in debug builds); never
/// moves, because the table keys view its strings.
class Dialog {
 public:
  /// UAS side (§12.1.1), when we answer `request` (INVITE, SUBSCRIBE, REFER...) with a 1xx
  /// (state Early) or 2xx (state Confirmed) whose To tag is `local_tag`. Route set: the
  /// request's Record-Route, in order; remote target: its Contact URI; remote CSeq: its CSeq.
  /// `local_contact` is the Contact value for our requests and target refreshes ("<sip:...>").
  /// Errors (status 400): no Contact or one that does not parse, no From tag.
  static Result<std::unique_ptr<Dialog>> create_uas(const Message& request,
                                                    std::string_view local_tag,
                                                    std::string_view local_contact,
                                                    DialogState state);
  /// UAC side (§12.1.2), from the request we sent and a response with a To tag: a 1xx makes
  /// an early dialog, a 2xx a confirmed one. Route set: the response's Record-Route,
  /// reversed; remote target: its Contact URI (an early dialog may have none yet); local
  /// CSeq: the request's. Errors (status 400): no To tag, 3xx-6xx, a 2xx without Contact.
  static Result<std::unique_ptr<Dialog>> create_uac(const Message& request, const Message& response,
                                                    std::string_view local_contact);

  Dialog(const Dialog&) = delete;
  Dialog& operator=(const Dialog&) = delete;

  DialogId id() const { return {call_id_, local_tag_, remote_tag_}; }
  const std::string& call_id() const { return call_id_; }
  const std::string& local_tag() const { return local_tag_; }
  const std::string& remote_tag() const { return remote_tag_; }
  DialogRole role() const { return role_; }
  DialogState state() const;
  bool early() const { return state() == DialogState::Early; }
  bool confirmed() const { return state() == DialogState::Confirmed; }
  bool terminated() const { return state() == DialogState::Terminated; }

  /// The From value of our requests: our URI with ;tag=local_tag (§12.2.1.1).
  const std::string& local_party() const { return local_party_; }
  /// The To value of our requests: the remote URI with ;tag=remote_tag.
  const std::string& remote_party() const { return remote_party_; }
  /// The remote target URI (from the peer's Contact), "" until known.
  const std::string& remote_target() const { return remote_target_; }
  /// The route set, one name-addr per entry ("<sip:proxy;lr>"), in the order requests use.
  const std::vector<std::string>& route_set() const { return route_set_; }
  const std::string& local_contact() const { return local_contact_; }
  /// The CSeq number of our last request; 0 when none was sent yet (UAS side).
  std::uint32_t local_cseq() const { return local_cseq_; }
  /// The CSeq number of the peer's last request; 0 when none was seen (UAC side).
  std::uint32_t remote_cseq() const { return remote_cseq_; }
  /// True when the dialog-creating Request-URI was sips (§12.1.1, §12.1.2).
  bool secure() const { return secure_; }

  /// Where requests in this dialog go first: the first route's URI, else the remote target
  /// (resolve it with transport::resolve()).
  std::string_view next_hop() const;

  /// A request inside the dialog (§12.2.1.1): Request-URI and Route per the route set (loose
  /// routing when the first route has lr, else strict routing: the first route becomes the
  /// Request-URI and the remote target the last Route), the given Via value (see
  /// txn::new_via()), Max-Forwards, From, To, Call-ID, CSeq (the next local number), and
  /// Contact for target refresh and subscription methods (INVITE, UPDATE, SUBSCRIBE, NOTIFY,
  /// REFER). Add a body and headers, then finish(). For ACK use make_ack(); CANCEL is the
  /// transaction layer's.
  MessageBuilder make_request(Method method, std::string_view via);
  /// The ACK for a 2xx to the INVITE with CSeq number `invite_cseq` (§13.2.2.4): built like
  /// any request of the dialog but with the INVITE's CSeq number; it does not consume one.
  MessageBuilder make_ack(std::uint32_t invite_cseq, std::string_view via) const;

  /// Checks a request received in this dialog (§12.2.2): false when its CSeq is lower than
  /// the remote sequence number (answer 500, "CSeq out of order"); else records the number.
  /// ACK and CANCEL carry the INVITE's number and are always accepted.
  bool accept_request(const Message& request);

  /// UAC: a further response to the dialog-creating request for this dialog (same To tag):
  /// a 2xx confirms an early dialog and recomputes its route set and remote target from the
  /// 2xx (§12.1.2, §13.2.2.4); a 1xx with Contact updates the remote target of an early
  /// dialog; a 3xx-6xx terminates an early dialog (§12.3 for INVITE).
  void on_response(const Message& response);
  /// UAS: our 2xx to the dialog-creating request went out: an early dialog is confirmed.
  void confirm();
  /// A target refresh (re-INVITE, UPDATE) succeeded: the remote target becomes the Contact
  /// URI of `message`, the 2xx we received for our request or the request we answered 2xx
  /// (§12.2.1.2, §12.2.2, RFC 6141). Without Contact nothing changes.
  void refresh_target(const Message& message);

  // ---- usages (RFC 5057) ----

  /// True while the INVITE usage lives (dialogs made by INVITE start with it).
  bool has_invite_usage() const { return invite_usage_; }
  /// The call ended (BYE sent or received, or the early dialog failed).
  void end_invite_usage();
  /// Adds a subscription usage (RFC 6665 §4.5.2); an existing one with the same package and
  /// id is returned instead.
  Subscription& add_subscription(std::string_view event_package, std::string_view id,
                                 SubscriptionRole role);
  /// The subscription with this package and id, or nullptr.
  Subscription* find_subscription(std::string_view event_package, std::string_view id);
  /// Every subscription usage, in the order added.
  const std::vector<std::unique_ptr<Subscription>>& subscriptions() const { return subscriptions_; }
  /// Removes subscriptions that terminated; the dialog terminates when no usage is left.
  /// Returns how many were removed.
  std::size_t remove_terminated_subscriptions();
  /// Number of live usages.
  std::size_t usage_count() const;
  /// Ends the dialog now, whatever its usages (e.g. a 481 to an in-dialog request).
  void terminate();

 private:
  Dialog() = default;
  MessageBuilder build_request(Method method, std::string_view via, std::uint32_t cseq) const;
  void update_after_usage_change();

  // Early -> Confirmed (2xx) -> Terminated (last usage ended); Early -> Terminated (refused).
  struct Early {};
  struct Confirmed {};
  struct Terminated {};
  std::variant<Early, Confirmed, Terminated> state_;

  DialogRole role_ = DialogRole::Uac;
  std::string call_id_;
  std::string local_tag_;
  std::string remote_tag_;
  std::string local_party_;
  std::string remote_party_;
  std::string remote_target_;
  std::string local_contact_;
  std::vector<std::string> route_set_;
  std::uint32_t local_cseq_ = 0;
  std::uint32_t remote_cseq_ = 0;
  bool secure_ = false;
  bool invite_usage_ = false;
  std::vector<std::unique_ptr<Subscription>> subscriptions_;
};

}  // namespace catchline::sip::dialog
