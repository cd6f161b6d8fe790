#pragma once

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
#include "media/relay/media_control.h"
#include "pbx/blf/blf_views.h"
#include "pbx/blf/presence.h"
#include "pbx/call/call.h"
#include "pbx/call/call_table.h"
#include "pbx/call/media_records.h"
#include "pbx/park/park_lots.h"
#include "pbx/pickup/pickup_index.h"
#include "pbx/pickup/pickup_service.h"
#include "pbx/registrar/registrar.h"
#include "pbx/routing/dial_plan.h"
#include "pbx/routing/directory.h"
#include "pbx/security/authenticator.h"
#include "pbx/security/guess_guard.h"
#include "pbx/transfer/transfer_target.h"
#include "pbx/voicemail/voicemail.h"
#include "sip/dialog/dialog_table.h"
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
  std::chrono::milliseconds transfer_timeout{30'000};  // a blind transfer's target rings this long
  std::string nonce_secret;  // keys digest nonces; "" = random per process
  std::vector<sip::DigestAlgorithm> digest_algorithms{sip::DigestAlgorithm::Md5};
  PresenceSettings presence;           // `blf:` section
  security::GuardSettings security;    // `security:` section: bans for password guessing
  MediaMode media = MediaMode::Relay;  // media.mode: extensions without their own follow it
  VoicemailSettings voicemail;         // `voicemail:` section
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

/// The call server's transaction user (DESIGN.md §2 pbx/): the wiring of the features. It
/// routes each request: one inside a dialog to that dialog's usage (a call leg, a
/// subscription) through the one dialog table; one outside, once authenticated, to the
/// registrar, a new call, a pickup or BLF. It hosts the calls and the presence server.
/// Owned by the signaling thread; no locks.
class Pbx final : public sip::txn::TransactionUser,
                  public media::relay::MediaObserver,
                  private CallHost,
                  private PresenceHost,
                  private MediaHost {
 public:
  Pbx(base::TimerQueue& timers, PbxSettings settings, Directory directory,
      RegistrarSettings registrar, store::StoreWriter* writer);
  ~Pbx() override;

  /// Connects the transaction layer (which needs this object first) and our addresses.
  void attach(sip::txn::TransactionLayer& layer, LocalAddresses local);
  /// Connects the media relay (which needs this object as its observer first); `address` is
  /// what SDP names for it; `prompts` what the player sends (nullptr: no hold music), which
  /// must outlive this object. Without a relay, every call's media goes from phone to phone.
  void attach_media(media::relay::MediaControl& relay, std::string address,
                    const media::audio::PromptSet* prompts = nullptr);

  // MediaObserver: the relay's events, on the signaling thread.
  void on_leg_inactive(const media::relay::LegInactive& event) override;
  void on_leg_closed(const media::relay::LegClosed& event) override;
  /// A recording's sound goes to its sink (a voicemail box), then to its call if it lives.
  void on_record_ended(const media::relay::RecordEnded& event) override;
  void on_dtmf(const media::relay::DtmfEvent& event) override;
  /// A box's counts changed: its subscribers get a NOTIFY, its other registered phones an
  /// unsolicited one (phones that never subscribe, the default of several vendors).
  void box_changed(const std::string& box);
  /// After a REGISTER from `source`: its phone hears of new messages in `box` (unsolicited).
  void lamp_after_register(const std::string& box, const sip::transport::Peer& source);
  /// Writes the records of ended calls still waiting for the relay's last counters (after the
  /// loops stopped, before the store writer goes: those counters will not come).
  void write_waiting_records() { records_.flush(); }

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
  /// The forwards phones set with feature codes, read back from the store at start.
  void restore_forwarding(const std::vector<ForwardSetting>& settings) {
    forwarding_.load(settings);
  }
  const ForwardingTable& forwarding() const { return forwarding_; }
  /// The voicemail messages read back from the store at start.
  void restore_voicemail(std::vector<store::VoicemailRow> rows) {
    voicemail_.restore(std::move(rows));
  }
  VoicemailBoxes& voicemail() { return voicemail_; }

  /// False when `source` is banned for guessing passwords: the application drops its requests
  /// unanswered as they leave the transport, before the transaction layer (so retransmissions,
  /// ACK, CANCEL and in-dialog requests too) and before any credentials are read. Nothing to
  /// look up while nobody is banned, else one hash look-up on the address.
  bool admits(const sip::transport::Peer& source) { return auth_.admits(source); }
  /// Lifts every ban and forgets every failure (SIGHUP); logs how many bans it lifted.
  void lift_bans() { auth_.lift_bans(); }
  /// New `security:` settings (SIGHUP); bans and failures are forgotten.
  void set_security(security::GuardSettings settings) {
    auth_.set_guard_settings(std::move(settings));
  }

  // TransactionUser: the request router, and what no transaction waits for.
  void on_request(const sip::Message& request, const sip::transport::Peer& source,
                  Start& start) override;
  void on_stray_ack(const sip::Message& ack, const sip::transport::Peer& source) override;
  void on_stray_response(const sip::Message& response, const sip::transport::Peer& source) override;

 private:
  // CallHost and PresenceHost
  sip::txn::TransactionLayer& layer() override { return *layer_; }
  base::TimerQueue& timers() override { return timers_; }
  const std::string& domain() const override { return settings_.domain; }
  const std::string& local_address(sip::transport::Protocol protocol) const override {
    return local_.for_protocol(protocol);
  }
  sip::dialog::DialogTable& dialogs() override { return dialogs_; }
  void call_ended(Call& call) override;
  void settle(Call& call) override { calls_.reap(call.id()); }
  void pickable_changed(Call& call) override {
    pickable_.update(call.id(), call.ring_started(), call.pickup_keys());
  }
  void leg_changed(Call& call, const Leg& leg) override { blf_.leg_changed(call, leg); }
  void pickup_alert(Call& call) override { blf_.pickup_alert(call); }
  void index_leg(const std::string& call_id, CallId call, LegId leg) override {
    calls_.index_leg(call_id, call, leg);
  }
  void unindex_leg(const std::string& call_id) override { calls_.unindex_leg(call_id); }
  void dialog_indexed(const sip::dialog::Dialog& dialog, CallId call) override {
    call_of_dialog_[&dialog] = call;
  }
  void dialog_unindexed(const sip::dialog::Dialog& dialog) override {
    call_of_dialog_.erase(&dialog);
  }
  const Bindings& contacts(std::string_view extension) const override {
    return registrar_.bindings(extension);
  }
  std::vector<DialogView> dialogs_of(const std::string& resource) const override {
    return blf_.dialogs_of(resource);
  }
  MediaHost* media_for(const Party& caller, const RingPlan& plan) override;
  TransferTarget transfer_target(const Party& transferor, std::string_view target) override {
    return resolve_transfer(dial_plan_, registrar_, directory_, parking_, transferor, target);
  }
  std::chrono::milliseconds transfer_timeout() const override { return settings_.transfer_timeout; }
  std::chrono::milliseconds recall_timeout() const override { return settings_.no_answer_timeout; }
  std::optional<RingPlan> recall_plan(std::string_view extension) override {
    return pbx::recall_plan(dial_plan_, extension);
  }
  std::pair<Call*, LegId> find_dialog(std::string_view call_id, std::string_view tag_a,
                                      std::string_view tag_b) override;
  void settle_other(Call& call) override { calls_.reap(call.id()); }
  void park_changed(Call& call, const std::string& slot, bool parked) override;
  std::optional<RingPlan> forward_plan(std::string_view target, std::string_view from) override;
  std::unique_ptr<Service> make_service(const ServiceSpec& spec) override;
  MediaHost* service_media() override { return relay_ != nullptr ? this : nullptr; }
  // MediaHost
  media::relay::MediaControl& relay() override { return *relay_; }
  const std::string& media_address() const override { return media_address_; }
  void stream_opened(media::relay::LegId stream, std::uint64_t call) override {
    streams_[stream] = call;
  }
  void stream_closed(media::relay::LegId stream, LegId leg, const std::string& type) override;
  const media::audio::PromptSet* prompts() const override { return prompts_; }
  void recording_started(media::relay::LegId stream, RecordingSink sink) override {
    recordings_[stream] = std::move(sink);
  }

  /// While shutting down (503) or when Max-Forwards ran out (483): answers and returns true.
  bool refuse_new_call(sip::txn::ServerTransaction& t, const sip::Message& request);
  /// An extension's INVITE: a pickup (code or Replaces), or a call to what it dialled.
  void handle_new_invite(sip::txn::ServerTransaction& t, const sip::Message& request,
                         const sip::transport::Peer& source, const Extension& caller);
  /// An INVITE from a trunk: its DID names what rings.
  void handle_trunk_invite(sip::txn::ServerTransaction& t, const sip::Message& request,
                           const sip::transport::Peer& source, const Trunk& trunk);
  /// Starts a call that rings `plan`; 480 when nothing of it is registered.
  void start_call(sip::txn::ServerTransaction& t, const sip::Message& request,
                  const sip::transport::Peer& source, Party caller, std::string dialled,
                  RingPlan plan);
  void handle_in_dialog(sip::txn::ServerTransaction& t, const sip::Message& request);
  /// An INVITE to a parking lot's slot (or with Replaces naming a parked call): the caller
  /// takes the parked call when the lot lets it; an empty slot is 404, a code 404 too.
  void retrieve(sip::txn::ServerTransaction& t, const sip::Message& request,
                const sip::transport::Peer& source, const Extension& caller, Call* call,
                const std::string& slot);
  /// A forwarding feature code (`*72` 1003, `*73`, ...): the caller's forward changes, is
  /// kept across restarts, and the server answers with a confirmation; a target that
  /// reaches nothing is 404, a missing one 484.
  void set_forwarding(sip::txn::ServerTransaction& t, const sip::Message& request,
                      const sip::transport::Peer& source, const Extension& caller,
                      const ForwardCodeMatch& code);
  /// Something of `plan` can ring now: a registered phone, a trunk, a service, or a forward.
  bool reachable(const RingPlan& plan) const;
  /// Starts a call the server answers itself with `spec` (a RingPlan that rings no phone).
  void start_service(sip::txn::ServerTransaction& t, const sip::Message& request,
                     const sip::transport::Peer& source, const Extension& caller,
                     std::string dialled, std::string name, ServiceSpec spec);

  base::TimerQueue& timers_;
  PbxSettings settings_;
  Directory directory_;  // replaced in place on reload: the features below keep a reference
  Registrar registrar_;
  store::StoreWriter* writer_;
  Authenticator auth_;
  ForwardingTable forwarding_;  // before the dial plan, which reads it
  VoicemailBoxes voicemail_;    // before the calls, whose recordings end in it
  DialPlan dial_plan_;
  ParkLots parking_{directory_};
  sip::txn::TransactionLayer* layer_ = nullptr;
  LocalAddresses local_;
  // Declared before the calls, whose relay streams tell them when the calls go.
  media::relay::MediaControl* relay_ = nullptr;
  std::string media_address_;
  const media::audio::PromptSet* prompts_ = nullptr;
  std::unordered_map<media::relay::LegId, CallId> streams_;  // relay stream -> its call
  // Relay streams that record, and where each recording goes when the relay reports it.
  std::unordered_map<media::relay::LegId, RecordingSink> recordings_;
  MediaRecords records_;  // call records, with the relay's counters when relayed
  // Every dialog of a call leg or subscription, routed to its usage. Declared before the
  // calls and subscriptions, which take their dialogs out of it when they end.
  sip::dialog::DialogTable dialogs_;
  std::unordered_map<const sip::dialog::Dialog*, CallId> call_of_dialog_;  // call legs' only
  PickupIndex pickable_;
  CallTable calls_;
  PickupService pickup_;
  Presence presence_;
  MessageSummary mwi_;  // message-waiting lamps of the voicemail boxes (RFC 3842)
  BlfViews blf_;
  bool shutting_down_ = false;
};

}  // namespace catchline::pbx
