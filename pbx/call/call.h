#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "base/timer_queue.h"
#include "pbx/call/call_media.h"
#include "pbx/pickup/pickup_index.h"
#include "pbx/pickup/pickup_rules.h"
#include "pbx/registrar/registrar.h"
#include "pbx/routing/directory.h"
#include "pbx/routing/ring_plan.h"
#include "pbx/transfer/transfer_target.h"
#include "sip/dialog/dialog.h"
#include "sip/dialog/dialog_table.h"
#include "sip/message.h"
#include "sip/transport/peer.h"
#include "sip/txn/transaction_layer.h"
#include "store/records.h"

namespace catchline::pbx {

using CallId = std::uint64_t;

class Call;
struct Leg;

/// What a Call needs from the server around it.
class CallHost {
 public:
  virtual sip::txn::TransactionLayer& layer() = 0;
  virtual base::TimerQueue& timers() = 0;
  virtual const std::string& domain() const = 0;
  /// "host:port" for Via and Contact on this protocol.
  virtual const std::string& local_address(sip::transport::Protocol protocol) const = 0;
  /// The server's one dialog table: a leg's dialog is in it, routed to its call, once the
  /// leg is answered (the caller's from the start), until the call ends.
  virtual sip::dialog::DialogTable& dialogs() = 0;
  /// The call is over: write its record (it is destroyed once idle, see settle()).
  virtual void call_ended(class Call& call) = 0;
  /// Called last by every callback a transaction makes into the call: destroys it when it is
  /// idle (Call::idle()).
  virtual void settle(Call& call) = 0;
  /// The numbers and groups the call is pickable under may have changed (Call::pickup_keys()).
  virtual void pickable_changed(class Call& call) = 0;
  /// A leg appeared or changed state (BLF shows it). Also called for every leg when the call
  /// ends.
  virtual void leg_changed(Call& call, const Leg& leg) = 0;
  /// Routes INVITE/Replaces naming a callee leg's Call-ID to this call and leg; undone when
  /// the call is destroyed.
  virtual void index_leg(const std::string& call_id, CallId call, LegId leg) = 0;
  virtual void unindex_leg(const std::string& call_id) = 0;
  /// A leg's dialog entered the dialog table for call `call`, or left it: the host finds the
  /// call of a dialog that Replaces names (attended transfer, retrieve) in O(1).
  virtual void dialog_indexed(const sip::dialog::Dialog& dialog, CallId call) = 0;
  virtual void dialog_unindexed(const sip::dialog::Dialog& dialog) = 0;
  /// The call has rung as long as its members' pickup_alert_delay (Call::alerted()).
  virtual void pickup_alert(Call& call) = 0;
  /// The registered contacts of an extension, read when its phones are rung.
  virtual const Bindings& contacts(std::string_view extension) const = 0;
  /// The media relay for a call of `caller` to `plan`, or nullptr when its phones send media
  /// to each other (media.mode direct, for the server or for every extension involved).
  virtual MediaHost* media_for(const Party& caller, const RingPlan& plan) = 0;
  /// What a blind transfer by `transferor` to `target` rings (pbx/transfer): the plan, or the
  /// status and reason the REFER is refused with.
  virtual TransferTarget transfer_target(const Party& transferor, std::string_view target) = 0;
  /// How long a transfer target rings before the transfer fails (sip.transfer_timeout), and
  /// how long the recall of the transferor rings (sip.no_answer_timeout).
  virtual std::chrono::milliseconds transfer_timeout() const = 0;
  virtual std::chrono::milliseconds recall_timeout() const = 0;
  /// What rings `extension` again when its transfer failed after it hung up; nullopt when
  /// it is no extension.
  virtual std::optional<RingPlan> recall_plan(std::string_view extension) = 0;
  /// The call and leg whose dialog has Call-ID `call_id` and the tags `tag_a` and `tag_b`, in
  /// either order (phones write Replaces' tags both ways); call nullptr when none.
  virtual std::pair<Call*, LegId> find_dialog(std::string_view call_id, std::string_view tag_a,
                                              std::string_view tag_b) = 0;
  /// After a call was changed from outside its own callbacks (an attended transfer ended it):
  /// destroys it when idle (as settle()).
  virtual void settle_other(Call& call) = 0;
  /// The call now waits on parking slot `slot`, or left it (retrieved, hung up, timed out).
  virtual void park_changed(Call& call, const std::string& slot, bool parked) = 0;
  /// What a call forwarded from `from` to `target` rings (an extension forwards as it would
  /// dial; "voicemail" is the box of `from`, "voicemail:1002" that of 1002), or nullopt when
  /// `target` reaches nothing.
  virtual std::optional<RingPlan> forward_plan(std::string_view target, std::string_view from) = 0;
  /// Runs `spec` on a line the call answered itself (pbx/call/service.h).
  virtual std::unique_ptr<Service> make_service(const ServiceSpec& spec) = 0;
  /// The media relay, for a service the server answers itself even in a call whose phones
  /// send media to each other; nullptr when the server has none.
  virtual MediaHost* service_media() = 0;

 protected:
  ~CallHost() = default;
};

enum class LegState : std::uint8_t { Calling, Ringing, Answered, Cancelling, Ended };

/// One SIP dialog between the server and one device: the caller's or a picker's (server is
/// UAS), or a callee's (server is UAC).
struct Leg {
  LegId id = 0;
  bool caller = false;
  bool picker = false;       // the phone that picked the call up (server is UAS)
  std::uint8_t round = 0;    // callee: 0 rung for the caller, then one per transfer (Call::round_)
  std::uint16_t member = 0;  // callee: index into its round's RingPlan's members
  std::string extension;     // the device's extension (or the number outside)
  std::string name;          // its display name, shown to whoever it talks to
  bool external = false;     // a number outside (trunk): never a transferor
  bool allows_update = false;  // its phone's Allow names UPDATE (RFC 3311)
  std::string sdp;             // the last SDP its phone wrote (relayed calls: a transfer's offer)
  std::string ack;             // callee: the ACK of its 2xx, sent again on retransmissions
  std::string contact;         // callee: the registered contact rung
  LegState state = LegState::Calling;
  sip::txn::TransactionId invite = sip::txn::kNoTransaction;
  // The caller's from the start; a callee's from its first response with a To tag.
  std::unique_ptr<sip::dialog::Dialog> dialog;
  sip::transport::Peer peer;  // where its requests go: where the phone talks from (NAT)
  bool indexed = false;       // its dialog is in the host's dialog table
  base::TimePoint ring_started{};
  int final_status = 0;
  // Callee: what its INVITE is rebuilt from when a trunk challenges it (RFC 3261 §22.2).
  std::string call_id;
  std::string from_tag;
  std::uint32_t cseq = 1;
  bool credentials_sent = false;
};

/// A leg leaving its call for another, with its relay streams (an attended transfer).
struct MovedLeg {
  Leg leg;
  std::optional<CallMedia::Side> media;
};

/// What Call::pick_up() came to.
enum class PickupResult : std::uint8_t {
  Done,
  NotPickable,    // answered, ended or no longer ringing: the race was lost
  NoCommonMedia,  // the two offers share no codec (488), or neither side made one
  BadRequest,     // the picker's INVITE cannot make a dialog (no Contact)
  NoMediaPorts,   // the relay has no ports left for the picker's streams
};

/// A pickup, as Pbx decided it: who picks up, how, and whose call it was.
struct Pickup {
  Party picker;
  PickupKind kind = PickupKind::Group;
  std::string target;  // the number the call was picked from
};

/// One call: the caller's leg and one leg per device rung (DESIGN.md §1). Answers the caller
/// with the first 2xx, cancels the other legs with RFC 3326 "Call completed elsewhere", relays
/// provisional responses, in-dialog requests and BYE between the two answered legs, and keeps
/// the call record. Owned by the Pbx on the signaling thread.
class Call final : private base::TimerHandler,
                   private sip::txn::TransactionHandler,
                   private sip::dialog::DialogUsage,
                   private ServiceLine {
 public:
  Call(CallHost& host, CallId id, Party caller, std::string dialled);
  ~Call();
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  CallId id() const override { return id_; }
  /// Some device answered (also once the call has ended after that).
  bool answered() const { return answered_leg() != 0; }
  bool ended() const { return std::holds_alternative<Ended>(state_); }
  /// Ended, and no transaction of it can report anything more: safe to destroy.
  bool idle() const;
  const std::vector<Leg>& legs() const { return legs_; }
  const store::CallRecord& record() const { return record_; }

  /// Starts ringing what `plan` names (every contact of each member rung).
  /// `invite` is the caller's transaction.
  void start(sip::txn::ServerTransaction& invite, const sip::Message& request,
             const sip::transport::Peer& source, RingPlan plan,
             std::chrono::milliseconds no_answer);

  /// Who is calling (the caller's extension, or the external number).
  const Party& caller() const override { return caller_; }
  /// Who answered (a member, or the picker); before that, the number dialled.
  const Party& callee() const { return callee_; }
  /// What rings now: the number dialled, or a transfer's target.
  const RingPlan& plan() const { return plan_; }
  /// The plan a callee leg was rung for (Leg::member indexes its members).
  const RingPlan& plan_of(const Leg& leg) const;
  /// The callee or picker leg that answered; 0 while none has.
  LegId answered_leg() const;
  /// It rang as long as the shortest pickup_alert_delay of its members with pickup_alert.
  bool alerted() const { return alerted_; }
  const std::string& dialled() const { return dialled_; }
  /// The extension or ring group the call rings (for a trunk call, what its DID names).
  const std::string& target() const { return plan_.number; }
  /// Pickable (DESIGN.md §1): the caller is not answered and some leg still rings.
  bool pickable() const;
  /// The numbers and groups under which the call is pickable now: each ringing member that is
  /// not protected, with its call groups, and the ring group as a whole. Empty when not
  /// pickable.
  PickupKeys pickup_keys() const;
  /// When its first leg started ringing (pickup takes the oldest first).
  base::TimePoint ring_started() const { return ring_started_; }

  /// DESIGN.md §4: answers the picker's INVITE and the caller's with 200 OK (each SDP answer
  /// derived from the other's offer, RFC 3264), bridges them and cancels every other leg, all
  /// at once. When one side made no offer, the 200 to the other carries the offer and the
  /// second 200 waits for the ACK with the answer (RFC 3264 §2). Anything but Done: nothing was
  /// sent, and the one who called this answers the picker.
  PickupResult pick_up(sip::txn::ServerTransaction& invite, const sip::Message& request,
                       const sip::transport::Peer& source, const Pickup& pickup);

  /// Ends the call from the server's side (shutdown): BYE, CANCEL or 503 as each leg needs;
  /// the record says it was hung up by `by`.
  void terminate(std::string_view why, std::string_view by = "system");
  /// Relayed media (issue 11): one of its streams went silent for media.timeout; an
  /// answered call ends with BYE both ways ("media-timeout" in the record).
  void media_timeout();
  /// A transfer rings its target: the transferee waits, hearing ringback.
  bool transferring() const { return std::holds_alternative<Transferring>(state_); }
  /// The legs ring for the caller: nobody answered yet.
  bool ringing() const { return std::holds_alternative<Ringing>(state_); }
  /// Waits on a parking slot (not yet timed out).
  bool parked() const { return transfer_ && !transfer_->park_slot.empty() && !transfer_->recall; }
  /// The slot it waits on, "" when not parked; and who waits (the transferee's leg).
  const std::string& park_slot() const;
  LegId parked_leg() const { return transfer_ ? transfer_->transferee : kNoLeg; }
  /// A phone dialled the slot the call waits on (or sent INVITE with Replaces naming it): it
  /// takes the call as a picker does. NotPickable when the call is no longer parked.
  PickupResult retrieve(sip::txn::ServerTransaction& invite, const sip::Message& request,
                        const sip::transport::Peer& source, const Pickup& pickup);
  /// Both ends talk, and no transfer is under way.
  bool talking() const { return std::holds_alternative<Talking>(state_); }
  /// The end `id` talks to; kNoLeg when `id` is not one of the two ends.
  LegId other_end(LegId id) const;
  /// The leg whose dialog is `dialog` (one of this call's: see CallHost::dialog_indexed()).
  LegId leg_with(const sip::dialog::Dialog& dialog) const { return leg_of(dialog); }
  /// Relayed (media.mode relay), or its phones send media to each other.
  bool relayed() const { return media_ != nullptr; }
  /// The server answered the caller itself: a service runs the line (an announcement,
  /// voicemail).
  bool serving() const { return std::holds_alternative<Serving>(state_); }
  /// A key the caller pressed (RFC 4733 through the relay) while a service runs the line.
  void dtmf(char digit);
  /// A service's record() ended, `length` long (the relay handed the sound to its sink).
  void recorded(std::chrono::milliseconds length);

  /// Attended transfer, the consultation call's side: leg `id` (the transfer target) leaves
  /// this call with its dialog and streams; the other end (the transferor) gets BYE and the
  /// call ends ("transferred").
  MovedLeg hand_over(LegId id);
  /// Semi-attended transfer: the consultation call still rings; it ends quietly (the caller,
  /// the transferor, gets 487; the target's phones are cancelled "completed elsewhere",
  /// logging no missed call, as the transfer rings them again).
  void withdraw();

 private:
  void on_timer(base::Timer& timer) override;

  // DialogUsage: what comes in a leg's dialog (the table routes it here).
  /// An in-dialog request from a leg's device (ends with CallHost::settle()).
  void on_in_dialog_request(sip::dialog::Dialog& dialog, sip::txn::ServerTransaction& t,
                            const sip::Message& request) override;
  /// A 2xx retransmission for a callee leg that we already acknowledged: ACK again.
  void on_stray_2xx(sip::dialog::Dialog& dialog, const sip::Message& response) override;
  /// The leg whose dialog is `dialog`.
  LegId leg_of(const sip::dialog::Dialog& dialog) const;
  void handle_in_dialog(LegId leg, sip::txn::ServerTransaction& t, const sip::Message& request);

  // TransactionHandler: what its transactions report (each ends with CallHost::settle()).
  /// A response on a callee leg's INVITE, or on a request this call relayed or sent (BYE).
  void on_response(sip::txn::ClientTransaction& t, const sip::Message& response) override;
  /// A callee leg's INVITE or a relayed request got no answer or could not be sent.
  void on_failure(sip::txn::ClientTransaction& t, int status) override;
  /// The caller cancelled (the layer already answered the CANCEL 200).
  void on_cancel(sip::txn::ServerTransaction& invite, const sip::Message& cancel) override;
  /// The ACK for our 2xx to the caller or to a picker.
  void on_ack(sip::txn::ServerTransaction& invite, const sip::Message& ack) override;
  /// The caller or picker never acknowledged our 2xx: end the call.
  void on_ack_timeout(sip::txn::ServerTransaction& invite) override;
  void handle_response(sip::txn::ClientTransaction& t, const sip::Message& response);
  void handle_failure(sip::txn::ClientTransaction& t, int status);
  /// The callee leg whose INVITE is `invite`, or nullptr.
  Leg* callee_leg(sip::txn::TransactionId invite);
  void on_caller_cancel();
  void on_uas_ack(LegId leg, const sip::Message& ack);
  void on_caller_ack_timeout();

  /// The call left its parking slot: the record gets how long it waited there.
  void left_slot();
  /// Arms `timer`, making it first when the call has none yet.
  void arm(std::unique_ptr<base::Timer>& timer, std::chrono::milliseconds delay, std::uint16_t tag);

  void on_callee_provisional(Leg& leg, const sip::txn::ClientTransaction& t,
                             const sip::Message& response);
  void on_callee_answer(Leg& leg, const sip::txn::ClientTransaction& t,
                        const sip::Message& response);
  void on_callee_final_failure(Leg& leg, int status);
  /// After a leg stopped ringing: rings the next member (sequential), ends the call when
  /// nothing is left to ring, and re-indexes it for pickup.
  void after_leg_change();
  /// Sends an INVITE to every contact of member `index` (or to its trunk); returns how many
  /// went out.
  std::size_t ring_member(std::size_t index);
  bool send_leg(std::size_t member, const std::string& contact, const sip::transport::Peer& peer);
  /// The INVITE of callee leg `leg`, with an Authorization-type header when `auth` is set,
  /// and `offer` (the caller's, rewritten for the leg when relayed) as its body.
  std::string build_leg_invite(const Leg& leg, sip::Header auth_header, std::string_view auth,
                               std::string_view offer);
  /// The caller's offer as callee leg `leg` gets it ("" for a late offer).
  sip::Result<std::string> leg_offer(const Leg& leg);
  /// A trunk challenged the leg's INVITE: sends it again with credentials. False when it
  /// cannot (no credentials, already tried, a challenge we do not understand).
  bool retry_with_credentials(Leg& leg, const sip::Message& response);
  bool member_ringing(std::size_t index) const;
  /// Sequential: rings the next member that has a registered phone.
  void advance_member();
  void finish_unanswered();
  /// Cancels every ringing leg but `keep`; with `completed_elsewhere`, each leg whose member
  /// wants it carries RFC 3326 "Call completed elsewhere".
  void cancel_other_legs(LegId keep, bool completed_elsewhere);
  void cancel_member(std::size_t index);
  void answer_caller(const Party& who, std::string_view content_type, std::string_view body);
  /// 200 OK on the INVITE of UAS leg `leg`, asserting `who`, with `body` as SDP.
  bool send_uas_ok(Leg& leg, const Party& who, bool calling, std::string_view content_type,
                   std::string_view body);
  void hang_up(LegId from);
  void end(std::string_view disposition, std::string_view hangup_by);

  // Blind transfer (RFC 3515, RFC 5589 §6): REFER from one end re-targets the other end, the
  // transferee, to what Refer-To names; the transferee hears ringback until the target answers.
  // The transferor follows it in NOTIFYs of message/sipfrag. A target that does not answer or
  // refuses: the transferor gets the transferee back, or, when it already hung up, is rung
  // again (a recall, marked in Alert-Info and the display name).
  void on_refer(LegId transferor, sip::txn::ServerTransaction& t, const sip::Message& request);
  /// Rings the members of plan_ as round round_ (all at once, or the first that has a phone);
  /// returns how many INVITEs went out.
  std::size_t ring_round();
  /// plan_ becomes `plan`, for round round_ + 1; the one before is kept for its legs.
  void next_round(RingPlan plan);

  // Forwarding (RFC 5806 Diversion, RFC 7044 History-Info): an extension called directly
  // forwards always (its phones never ring), on busy, or after ring_time without an answer;
  // each forward is a new ring round, pickable by the groups of whoever rings now.
  /// Re-targets the call to `target` for `reason` ("unconditional", "user-busy",
  /// "no-answer"); false (and nothing changes) when it reaches nothing or would loop back to a
  /// number the call already went through: the number last reached keeps ringing.
  bool forward(std::string_view target, std::string_view reason);
  /// Follows plan_'s forward-always chain.
  void forward_always();
  /// Rings the round a forward made; the call ends as unanswered when nothing of it rings.
  void ring_forwarded();
  /// Arms the no-answer forward of plan_, when it has one.
  void arm_forward_timer();
  /// plan_ is a service: the call answers its caller itself and runs it; 1 when it did, 0
  /// when it cannot (no relay, no G.711 in the caller's offer: the caller gets the error).
  std::size_t serve();
  // ServiceLine (and caller(), id() above): what the running service does with the line.
  const std::string& call_id() const override { return record_.call_id; }
  void note_message(const std::string& file) override { record_.voicemail = file; }
  void play(std::vector<Clip> clips) override;
  void record(std::chrono::milliseconds max, RecordingSink sink) override;
  void stop_recording() override;
  void hang_up() override;
  /// The caller's BYE while a service runs: the service hears it, the call ends.
  void on_bye_while_serving();
  /// The Diversion and History-Info values of a forwarded call's INVITEs ("" when none).
  std::string diversion_header() const;
  std::string history_info_header() const;
  /// Attended transfer (RFC 5589 §7): Refer-To names the target with Replaces, the transferor's
  /// dialog of its consultation call; its other end joins the transferee here.
  void refer_with_replaces(LegId transferor, sip::txn::ServerTransaction& t,
                           const sip::Message& request, std::string_view replaces);
  /// Accepts the REFER (202) and rings `plan` for the transferee (the blind transfer's steps).
  void start_transfer(LegId transferor, sip::txn::ServerTransaction& t, const sip::Message& request,
                      RingPlan plan, std::string_view number);
  /// Park (a blind transfer to a lot's code or slot): the transferee hears hold music on
  /// `park.slot`, the transferor hears the slot announced, then the REFER completes.
  void start_park(LegId transferor, sip::txn::ServerTransaction& t, const sip::Message& request,
                  const ParkTarget& park);
  /// Leg `joined` (answered, or a picker) takes the transfer: the transferee is bridged to it
  /// and told `for_transferee` (its description, as the transferee's phone must read it).
  void join_transfer_target(LegId joined, std::string_view for_transferee);
  /// pick_up() while a transfer's target rings: the picker joins the waiting transferee.
  PickupResult pick_up_transfer(sip::txn::ServerTransaction& invite, const sip::Message& request,
                                const sip::transport::Peer& source, const Pickup& pickup);
  /// Takes `moved` in as a leg of this call (a picker-like leg: it joined the call answered).
  LegId adopt(MovedLeg moved);
  /// A callee leg of the transfer round answered: the transferee talks to it from now on.
  void complete_transfer(Leg& leg, const sip::txn::ClientTransaction& t,
                         const sip::Message& response);
  /// The transfer round ended without an answer (`status` is what the target said, or 480
  /// when transfer_timeout ran out).
  void fail_transfer(int status, std::string_view reason);
  /// Tells the transferor how the transfer goes: a NOTIFY (Event: refer) with `status` as
  /// message/sipfrag; a final status ends the implicit subscription (RFC 3515 §2.4.5).
  void notify_transferor(int status, std::string_view reason);
  /// After a transfer: the transferee learns who it talks to now (RFC 3325 P-Asserted-
  /// Identity, in an UPDATE when its phone allows it, else in a re-INVITE with `sdp`).
  /// With `reoffer`, always the re-INVITE (the other side's codecs may differ).
  void tell_identity(Leg& leg, const Leg& other, std::string_view sdp, bool reoffer = false);
  /// The legs of round round_ that are callee legs have all ended, and none is left to ring.
  bool round_over() const;
  /// What the round's phones said together: 486 when all were busy, 603 when one declined,
  /// else 480.
  int round_status() const;
  /// A BYE while a transfer rings: the transferor may leave (the transfer goes on); the
  /// transferee leaving ends the call.
  void on_bye_while_transferring(LegId id);
  /// Who the phone of leg `id` is, as the other end is told.
  Party party_of(const Leg& leg) const { return Party{leg.extension, leg.name, leg.external}; }

  /// A request in the leg's dialog (sip::dialog::Dialog does RFC 3261 §12.2.1.1), with a
  /// Reason header when `reason` is not empty and the body when not empty.
  using ExtraHeader = std::pair<sip::Header, std::string_view>;
  std::string build_in_dialog(Leg& leg, sip::Method method, std::string_view reason,
                              std::string_view content_type, std::string_view body,
                              std::initializer_list<ExtraHeader> extra = {});
  std::string via_for(const Leg& leg) const;
  std::string contact_of(const Leg& leg) const;
  /// Sends the ACK for a 2xx of `leg` (RFC 3261 §13.2.2.4) and returns it for re-sending.
  std::string send_ack(Leg& leg, std::uint32_t cseq);
  sip::txn::TransactionId send_in_dialog(Leg& leg, sip::Method method, std::string_view reason,
                                         std::string_view content_type, std::string_view body,
                                         std::initializer_list<ExtraHeader> extra = {});
  void index(Leg& leg);
  /// A leg appeared or changed state: BLF shows it; a callee leg that ended leaves the relay.
  void changed(const Leg& leg);
  /// `sdp` from leg `from` for leg `to`: as it is, or rewritten for the relay. Empty stays
  /// empty. Errors are the relay's (no ports, 503) or the SDP's (488).
  sip::Result<std::string> carry(LegId from, LegId to, std::string_view sdp);
  void unindex(Leg& leg);
  std::int64_t now_ms() const;

  CallHost& host_;
  CallId id_;
  Party caller_;
  Party callee_;  // who answered (a member, or the picker), as the caller is told
  std::string dialled_;
  RingPlan plan_;
  std::size_t next_member_ = 0;  // sequential: the member to ring next
  std::size_t current_member_ = 0;
  base::TimePoint ring_started_{};
  std::vector<Leg> legs_;  // [0] = caller
  // The phases of a call; state_ is one of them, and each holds what only it needs.
  // Ringing -> Talking -> Ended, or Ringing -> Answering -> Talking -> Ended (late offer), or
  // Ringing -> Ended (cancelled, refused, no answer).
  /// The legs ring; the call is pickable while one of them does.
  struct Ringing {};
  /// Answered, with one side's SDP answer still to come in an ACK (RFC 3264 §2, late offer):
  /// the 200 to leg `ack_from` carried the other side's offer, and its ACK brings the answer
  /// that completes leg `complete`: the ACK to the callee that answered, or the 200 to the
  /// caller or to the picker.
  struct Answering {
    LegId answered = 0;
    LegId ack_from = 0;
    LegId complete = 0;
  };
  /// Answered, offer and answer complete on both sides.
  struct Talking {
    LegId answered = 0;
  };
  struct Ended {
    LegId answered = 0;  // 0: nobody answered
  };
  /// Talking, and a transfer rings its target (see on_refer()): the transferee waits.
  struct Transferring {
    LegId answered = 0;  // the leg that answered before (the record keeps it)
  };
  /// The server answered the caller itself (serve()); service_ runs the line.
  struct Serving {
    LegId answered = 0;    // no phone answered
    bool late = false;     // our 200 carried the offer: the caller's ACK brings the answer
    bool started = false;  // the ACK came: the service runs
  };
  std::variant<Ringing, Answering, Talking, Transferring, Serving, Ended> state_;

  /// Answering or Talking: both answered legs are a call's, BYE ends it.
  bool connected() const { return !ringing() && !ended(); }
  /// Completes an Answering call with the answer in `ack` from leg `ack_from`.
  void complete_late_offer(const Answering& answering, const sip::Message& ack);

  int max_forwards_ = 70;     // the caller's, less one: every callee leg's INVITE carries it
  std::string caller_offer_;  // the caller's SDP, for every callee leg
  std::string caller_content_type_;
  // The two legs whose phones talk (Answering, Talking; Transferring: the transferee and the
  // transferor, kNoLeg once it left): in-dialog requests of one are relayed to the other.
  LegId ends_[2] = {0, 0};
  std::uint8_t round_ = 0;               // callee legs rung now are of this round (Leg::round)
  std::vector<RingPlan> earlier_plans_;  // by round, before round_
  Party shown_;  // who the rung phones see calling: the caller, or a transferee
  // A transfer (on_refer()): most calls never have one.
  struct Transfer {
    LegId transferor = 0;
    LegId transferee = 0;
    bool transferor_left = false;  // its BYE came: a failure recalls its extension
    bool notified_final = false;   // the NOTIFY that ends the subscription went out
    bool recall = false;           // the round rings the transferor back
    std::uint32_t refer_cseq = 0;  // the Event's id (RFC 3515 §2.4.6)
    std::string referred_by;       // Referred-By of the target's INVITE (RFC 3892)
    base::Timer timer;             // transfer_timeout (a lot's timeout), then each comeback's
    // Rung in turn when the transfer fails or the park times out: the transferor (parker),
    // then a lot's comeback number; each for comeback_time, the caller's name marked `mark`.
    std::vector<std::string> comebacks;
    std::size_t next_comeback = 0;
    std::chrono::milliseconds comeback_time{30'000};
    std::string mark;
    std::string park_slot;  // parked there ("": a transfer, or no longer parked)
    std::string park_lot;
    std::int64_t parked_ms = 0;  // when it was parked (unix ms); 0 once it left the slot
    std::string target;          // a blind transfer's Refer-To number, for the record
    base::Timer announce;        // the parker hears its slot, then its part ends
  };
  std::unique_ptr<Transfer> transfer_;
  // Relayed in-dialog requests: our client transaction -> the server transaction to answer
  // (kNoTransaction: our own request, a re-INVITE telling an identity) and the leg it was sent on.
  struct Relay {
    sip::txn::TransactionId origin;
    LegId leg;
  };
  std::unordered_map<sip::txn::TransactionId, Relay> relays_;
  base::Timer no_answer_timer_;
  // Most calls need neither: made when first armed (a Timer is 40 bytes of every call).
  std::unique_ptr<base::Timer> member_timer_;   // sequential: the next member's turn
  std::unique_ptr<base::Timer> alert_timer_;    // pickup_alert: tell pickup-group watchers
  std::unique_ptr<base::Timer> forward_timer_;  // forward.no_answer: ring_time ran out
  std::unique_ptr<Service> service_;            // Serving: what runs the line
  std::unique_ptr<base::Timer> played_timer_;   // Serving: what play() plays ends
  bool recording_ = false;                      // Serving: record() runs
  // Each forward so far: the number that forwarded and why (Diversion reasons).
  struct Diversion {
    std::string number;
    std::string reason;
  };
  std::vector<Diversion> diversions_;
  bool alerted_ = false;  // the pickup alert went out (alerted())
  store::CallRecord record_;
  std::unique_ptr<CallMedia> media_;  // relayed calls only; last, so its streams close first
};

}  // namespace catchline::pbx
