#pragma once

#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/timer_queue.h"
#include "pbx/blf/presence.h"
#include "pbx/call.h"
#include "pbx/registrar/registrar.h"
#include "pbx/routing/directory.h"
#include "pbx/security/guess_guard.h"
#include "sip/digest.h"
#include "sip/transport/peer.h"
#include "sip/txn/transaction_layer.h"
#include "sip/txn/transaction_user.h"

namespace catchline::store {
class StoreWriter;
}

namespace catchline::pbx {

/// Call-control settings that come from the `sip:` section.
struct PbxSettings {
  std::string domain = "pbx.example.test";  // digest realm, host part of our URIs
  std::chrono::milliseconds no_answer_timeout{30'000};
  std::string nonce_secret;  // keys digest nonces; "" = random per process
  std::vector<sip::DigestAlgorithm> digest_algorithms{sip::DigestAlgorithm::Md5};
  PresenceSettings presence;         // `blf:` section
  security::GuardSettings security;  // `security:` section: bans for password guessing
};

/// How the server is reached: per listen socket, the "host:port" to put in Via and Contact.
/// Filled by the application from the transport's bound sockets.
struct LocalAddresses {
  std::string udp;  // "127.0.0.1:5060", "" when not listening on UDP
  std::string tcp;
  // Every "host:port" a phone may name us by: each listen socket's address, or every
  // interface address of its family for a wildcard one. Digest answers may name these.
  std::vector<std::string> names;
  const std::string& for_protocol(sip::transport::Protocol p) const {
    return p == sip::transport::Protocol::Tcp && !tcp.empty() ? tcp : udp.empty() ? tcp : udp;
  }
};

/// The call server's transaction user (DESIGN.md §2 pbx/): authenticates every request that
/// can cost money or reveal a call, registers phones, and runs two-party calls as a B2BUA.
/// Challenges are answered without creating any state (no transaction, no call).
/// Owned by the signaling thread; no locks.
class Pbx final : public sip::txn::TransactionUser, private CallHost, private PresenceHost {
 public:
  Pbx(base::TimerQueue& timers, PbxSettings settings, Directory directory,
      RegistrarSettings registrar, store::StoreWriter* writer);
  ~Pbx() override;

  /// Connects the transaction layer (which needs this object first) and our addresses.
  void attach(sip::txn::TransactionLayer& layer, LocalAddresses local);

  /// Replaces extensions, groups, trunks, pickup codes and subscription limits (SIGHUP);
  /// calls, registrations and subscriptions go on.
  void reload(Directory directory, RegistrarSettings registrar, PresenceSettings blf = {});

  /// Ends every call (BYE to answered legs, CANCEL to ringing ones, 503 to unanswered
  /// callers): on SIGTERM, before the process stops.
  void shutdown();

  Registrar& registrar() { return registrar_; }
  const Directory& directory() const { return directory_; }
  std::size_t call_count() const { return calls_.size(); }
  /// Pickable calls by number and group; BLF sets its listener.
  PickupIndex& pickable_calls() { return pickable_; }
  const Presence& presence() const { return presence_; }

  /// False when `source` is banned for guessing passwords: the application drops its requests
  /// unanswered as they leave the transport, before the transaction layer (so retransmissions,
  /// ACK, CANCEL and in-dialog requests too) and before any credentials are read. Nothing to
  /// look up while nobody is banned, else one hash look-up on the address.
  bool admits(const sip::transport::Peer& source) {
    return !guard_.banned(source.address, source.port);
  }
  /// Lifts every ban and forgets every failure (SIGHUP); logs how many bans it lifted.
  void lift_bans();
  /// New `security:` settings (SIGHUP); bans and failures are forgotten.
  void set_security(security::GuardSettings settings) { guard_.set_settings(std::move(settings)); }

  // TransactionUser: the request router, and what no transaction waits for.
  void on_request(const sip::Message& request, const sip::transport::Peer& source,
                  Start& start) override;
  void on_stray_ack(const sip::Message& ack, const sip::transport::Peer& source) override;
  void on_stray_response(const sip::Message& response, const sip::transport::Peer& source) override;

 private:
  // CallHost
  sip::txn::TransactionLayer& layer() override { return *layer_; }
  base::TimerQueue& timers() override { return timers_; }
  const std::string& domain() const override { return settings_.domain; }
  const std::string& local_address(sip::transport::Protocol protocol) const override {
    return local_.for_protocol(protocol);
  }
  sip::dialog::DialogTable& dialogs() override { return dialogs_; }
  void call_ended(Call& call) override;
  void settle(Call& call) override;
  void pickable_changed(Call& call) override;
  void leg_changed(Call& call, const Leg& leg) override;
  void pickup_alert(Call& call) override;
  /// The pickup-group resources ("pickup-GROUP") a callee leg shows in now: its member's and
  /// the ring group's call groups, unless protected, and for pickup_alert members only once
  /// the call is alerted.
  std::vector<std::string> group_resources(const Call& call, const Leg& leg) const;
  void index_leg(const std::string& call_id, CallId call, LegId leg) override {
    legs_by_call_id_[call_id] = DialogRef{call, leg};
  }
  void unindex_leg(const std::string& call_id) override { legs_by_call_id_.erase(call_id); }
  // PresenceHost
  std::vector<DialogView> dialogs_of(const std::string& resource) const override;
  /// How BLF shows one leg of a call on the extension `resource`.
  DialogView view_of(const Call& call, const Leg& leg) const;
  const Bindings& contacts(std::string_view extension) const override {
    return registrar_.bindings(extension);
  }

  /// Checks credentials; on anything but success answers (stateless 401/407/403/400) and
  /// returns nullptr. On success returns the extension.
  const Extension* authenticate(const sip::Message& request, const sip::transport::Peer& source);
  /// The digest check behind authenticate(): `password_of(user)` gives the user's password
  /// (nullopt: unknown user, answered like a wrong password). Returns the user name on
  /// success; otherwise it has answered (401/407, 403 or 400).
  std::optional<std::string> check_digest(
      const sip::Message& request, const sip::transport::Peer& source,
      const std::function<std::optional<std::string>(std::string_view)>& password_of);
  /// Counts a response verified as wrong from `source`; logs the ban it starts, if any.
  void count_failure(const sip::transport::Peer& source);
  /// The trunk whose inbound sources include `source`, or nullptr.
  const Trunk* trunk_for(const sip::transport::Peer& source) const;
  void index_trunks();
  /// An INVITE from a trunk: its DID (Request-URI user, else To user) names what rings.
  void handle_trunk_invite(sip::txn::ServerTransaction& t, const sip::Message& request,
                           const sip::transport::Peer& source, const Trunk& trunk);
  /// Starts a call that rings `plan`; 480 when nothing of it is registered.
  void start_call(sip::txn::ServerTransaction& t, const sip::Message& request,
                  const sip::transport::Peer& source, Party caller, std::string dialled,
                  RingPlan plan);
  /// `dialled` = trunk prefix + number: the plan that sends it out through `trunk`.
  std::optional<RingPlan> trunk_plan(const Trunk& trunk, std::string_view number) const;
  void handle_register(sip::txn::ServerTransaction& t, const sip::Message& request,
                       const sip::transport::Peer& source, const Extension& user);
  /// While shutting down (503) or when Max-Forwards ran out (483): answers and returns true.
  bool refuse_new_call(sip::txn::ServerTransaction& t, const sip::Message& request);
  void handle_new_invite(sip::txn::ServerTransaction& t, const sip::Message& request,
                         const sip::transport::Peer& source, const Extension& caller);
  void handle_in_dialog(sip::txn::ServerTransaction& t, const sip::Message& request,
                        const sip::transport::Peer& source);
  /// `*8` or `**NUMBER` (DESIGN.md §4): checks the picker's permission, chooses the oldest
  /// call the rule allows and hands it the picker's INVITE; else a final response that says
  /// why (403 not allowed, 404 no such number, 480 nothing to pick up).
  void handle_pickup(sip::txn::ServerTransaction& t, const sip::Message& request,
                     const sip::transport::Peer& source, const Extension& picker,
                     const PickupCode& code);
  /// SUBSCRIBE to an extension or ring group (DESIGN.md §5): authorised when the watcher
  /// may pick it up (or it is the watcher's own), else 403; unknown numbers 404.
  void handle_subscribe(sip::txn::ServerTransaction& t, const sip::Message& request,
                        const sip::transport::Peer& source, const Extension& watcher);
  /// INVITE with Replaces (RFC 3891) naming a ringing callee leg: a BLF pickup with the
  /// directed rule, applied to whatever rings the call now. Permission is checked before
  /// anything is said about the dialog: 403, then 481 when no such dialog (or its non-empty
  /// tags contradict it), then 486 (early-only) or 403 for an answered one.
  void handle_replaces(sip::txn::ServerTransaction& t, const sip::Message& request,
                       const sip::transport::Peer& source, const Extension& picker);
  /// The extension or ring group an INVITE with Replaces names in its Request-URI (N, or the
  /// directed code and N, as keys dial the watched URI or `<remote><target>`), or "".
  std::string replaces_target(const sip::Message& request) const;
  /// BLF: may pick it up, or a `blf:` rule allows watching it.
  bool may_watch(const Extension& watcher, std::string_view number) const {
    return may_intercept(watcher, number) == PickupVerdict::Allowed ||
           directory_.blf_rule_allows(watcher, number);
  }
  /// The directed-pickup rule for `number` (an extension or ring group as a whole: its own
  /// rule or any unprotected member's), own number allowed. Says nothing of what rings.
  PickupVerdict may_intercept(const Extension& picker, std::string_view number) const;
  /// Hands the picker's INVITE to `call` and answers the refusals Call::pick_up() reports.
  void run_pickup(sip::txn::ServerTransaction& t, const sip::Message& request,
                  const sip::transport::Peer& source, Call& call, const Pickup& pickup);
  /// What calling `number` rings, or nullopt when it is neither an extension nor a ring group.
  std::optional<RingPlan> ring_plan(std::string_view number) const;
  RingMember ring_member(const Extension& extension) const;
  Call* find_call(CallId id);
  /// Destroys the call once it is over and no callee INVITE waits for a final response.
  void reap(CallId id);

  base::TimerQueue& timers_;
  PbxSettings settings_;
  Directory directory_;
  Registrar registrar_;
  store::StoreWriter* writer_;
  sip::DigestAuthenticator digest_;
  sip::txn::TransactionLayer* layer_ = nullptr;
  LocalAddresses local_;

  struct TrunkSource {
    boost::asio::ip::address address;
    std::uint16_t port = 0;  // 0 = any port
    std::size_t trunk = 0;   // index into directory_.trunks()
  };
  std::vector<TrunkSource> trunk_sources_;

  // Every dialog of a call leg or subscription, routed to its usage. Declared before the
  // calls and subscriptions, which take their dialogs out of it when they end.
  sip::dialog::DialogTable dialogs_;
  CallId next_call_ = 1;
  std::unordered_map<CallId, std::unique_ptr<Call>> calls_;
  struct DialogRef {
    CallId call;
    LegId leg;
  };
  PickupIndex pickable_;
  // Call-ID of every callee leg -> its call and leg (INVITE/Replaces names it).
  std::unordered_map<std::string, DialogRef> legs_by_call_id_;
  Presence presence_;
  bool shutting_down_ = false;
  // Failed digest attempts per source and the bans they earned (issue 9).
  security::GuessGuard guard_;
};

}  // namespace catchline::pbx
