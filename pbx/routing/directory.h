#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace catchline::pbx {

/// Whether the legs a pickup or an answer elsewhere cancels carry RFC 3326
/// `Reason: SIP;cause=200;text="Call completed elsewhere"` (phones then log no missed call).
enum class CancelReason : std::uint8_t { Default, CompletedElsewhere, None };

/// Where a call's RTP goes (issue 11): through the server's relay, or from phone to phone.
enum class MediaMode : std::uint8_t { Relay, Direct };

/// An extension's call forwarding (`forward:`): where its calls go instead of, or after, its
/// phones. Each target is an extension, a ring group or a number outside (dialled as the
/// extension would dial it), "voicemail" (its own box), "voicemail:1002" (another box) or
/// "announcement" (not available, then the server hangs up); "" = off.
struct Forwarding {
  std::string always;     // its phones never ring
  std::string busy;       // every phone of it said busy (486/600)
  std::string no_answer;  // nobody answered within ring_time
  std::chrono::milliseconds ring_time{20'000};
};

/// One extension: a number a user owns, its credentials and its pickup rules (DESIGN.md §4).
/// Plain configuration data, copied into the signaling thread on start and on reload.
struct Extension {
  std::string number;                        // "1001"
  std::string name;                          // display name: "Front desk"
  std::string password;                      // digest password
  std::vector<std::string> call_groups;      // groups this extension's ringing calls belong to
  std::vector<std::string> pickup_groups;    // groups whose ringing calls it may pick up
  std::vector<std::string> directed_pickup;  // allow-list: numbers, "group:NAME" or "*"
  bool pickup_protected = false;             // nobody may intercept calls to it
  CancelReason pickup_cancel_reason = CancelReason::Default;  // Default: the `pickup:` setting
  bool blf_private = false;           // BLF watchers see its calls but not who calls
  std::vector<std::string> blf_list;  // its BLF keys as one list subscription (RFC 4662)
  // Its ringing calls reach the pickup-group subscriptions of its call groups only once they
  // rang this long (a call nobody took), instead of at once.
  bool pickup_alert = false;
  std::chrono::milliseconds pickup_alert_delay{6'000};
  std::optional<MediaMode> media;  // `media:` of the extension; unset: the server's media.mode
  Forwarding forward;
};

enum class RingStrategy : std::uint8_t { RingAll, Sequential };

/// A number that rings several extensions: all at once, or one after the other for
/// `ring_time` each. Its calls belong to its own `call_groups` as well as to those of the
/// member ringing.
struct RingGroup {
  std::string number;                // "2000"
  std::string name;                  // "Sales"
  std::vector<std::string> members;  // extension numbers, in ringing order
  RingStrategy strategy = RingStrategy::RingAll;
  std::chrono::milliseconds ring_time{15'000};  // per member, sequential only
  std::vector<std::string> call_groups;
  bool pickup_protected = false;
  // Nobody answered within no_answer_time: the call goes to `no_answer` (a number,
  // "voicemail:1002", "announcement"); "" = it rings until sip.no_answer_timeout.
  std::string no_answer;
  std::chrono::milliseconds no_answer_time{20'000};
};

/// A SIP provider (`trunks:`). Its INVITEs, recognised by source address, ring the extension
/// or ring group their DID names; numbers dialled with its prefix leave through it.
struct Trunk {
  std::string name;  // "provider": for logs and call records
  std::string host;  // IP literal of the gateway: "192.0.2.10", "::1"
  std::uint16_t port = 5060;
  bool tcp = false;                       // transport: udp (default) or tcp
  std::vector<std::string> inbound_from;  // "ip" or "ip:port"; empty = host and port above
  bool inbound_auth = false;              // the provider's INVITEs must pass digest too
  std::string username;                   // digest credentials, both ways
  std::string password;
  std::map<std::string, std::string> dids;  // DID -> extension or ring group number
  std::string outbound_prefix;              // "9": 9 + number leaves here; "" = inbound only
  std::string caller_id;                    // From user of outbound calls; "" = the extension
  // Who may call out through it (toll fraud): numbers, "group:NAME", "*" (the default).
  std::vector<std::string> callers{"*"};
};

/// A `blf:` rule: lets `watchers` watch `may_watch` beyond the default (who may pick a number
/// up may watch it). Entries: numbers, `group:NAME` (watchers: extensions in call or pickup
/// group NAME; may_watch: numbers whose call_groups hold NAME) or `*`. It never widens pickup:
/// INVITE/Replaces still needs the directed-pickup rule.
struct BlfRule {
  std::vector<std::string> watchers;
  std::vector<std::string> may_watch;
};

/// The `pickup:` section: feature codes and what the cancelled phones are told.
struct PickupSettings {
  std::string group_code = "*8";       // pick up the oldest call of my pickup groups
  std::string directed_prefix = "**";  // + number: pick up the call ringing that number
  bool completed_elsewhere = true;     // cancel_reason: completed-elsewhere (or none)
};

/// The feature codes that set forwarding from a phone (`forward_codes:`): `on` + a number
/// forwards there, `off` switches that forward off. Any code may be "" (not offered).
struct ForwardCodes {
  struct Pair {
    std::string on;
    std::string off;
  };
  Pair always{"*72", "*73"};
  Pair busy{"*90", "*91"};
  Pair no_answer{"*52", "*53"};
};

/// A parking lot (`parking:`): a call transferred to `code` waits on the first free slot, one
/// transferred to a slot waits there, with hold music, until a phone dials the slot.
struct ParkLot {
  std::string name;                                 // "main": for logs and records
  std::string code;                                 // "700": park on the first free slot
  unsigned first_slot = 0;                          // 701
  unsigned last_slot = 0;                           // 720
  std::chrono::milliseconds timeout{45'000};        // then the parker is rung
  std::chrono::milliseconds comeback_time{30'000};  // each comeback rings this long
  std::string comeback;  // rung after the parker: an extension or ring group; "" = none
  // Who may park here and who may retrieve: numbers, "group:NAME" (an extension in call or
  // pickup group NAME) or "*" (the default).
  std::vector<std::string> park{"*"};
  std::vector<std::string> retrieve{"*"};
};

/// Whether `extension` is named by `list` (a lot's park or retrieve rule, a trunk's callers):
/// its number, "group:NAME" with NAME among its call or pickup groups, or "*".
bool named_by(const Extension& extension, const std::vector<std::string>& list);

/// Every extension and ring group by number. Built from configuration; immutable once handed
/// to the signaling thread (a reload builds a new one and swaps it in).
class Directory {
 public:
  Directory() = default;
  explicit Directory(std::vector<Extension> extensions, std::vector<RingGroup> ring_groups = {},
                     PickupSettings pickup = {}, std::vector<Trunk> trunks = {},
                     std::vector<BlfRule> blf_rules = {}, std::vector<ParkLot> parking = {});

  /// The extension with this number, or nullptr.
  const Extension* find(std::string_view number) const;
  /// The ring group with this number, or nullptr.
  const RingGroup* find_ring_group(std::string_view number) const;
  const std::vector<Extension>& extensions() const { return extensions_; }
  const std::vector<RingGroup>& ring_groups() const { return ring_groups_; }
  const std::vector<Trunk>& trunks() const { return trunks_; }
  const std::vector<BlfRule>& blf_rules() const { return blf_rules_; }
  const std::vector<ParkLot>& parking() const { return parking_; }
  /// Whether a `blf:` rule lets `watcher` watch `number` (an extension or ring group).
  bool blf_rule_allows(const Extension& watcher, std::string_view number) const;
  /// Whether `caller` may dial `dialled`: true unless it leaves through a trunk whose
  /// `callers` do not name it (a call, a transfer or a forward it sets up).
  bool may_call_out(const Extension& caller, std::string_view dialled) const;
  /// The trunk whose outbound prefix starts `dialled` (the longest such prefix), or nullptr.
  const Trunk* outbound_trunk(std::string_view dialled) const;
  const PickupSettings& pickup() const { return pickup_; }
  const ForwardCodes& forward_codes() const { return forward_codes_; }
  void set_forward_codes(ForwardCodes codes) { forward_codes_ = std::move(codes); }
  std::size_t size() const { return extensions_.size(); }

  /// Whether the phones of `extension` are told "Call completed elsewhere" when cancelled.
  bool completed_elsewhere(const Extension& extension) const {
    return extension.pickup_cancel_reason == CancelReason::Default
               ? pickup_.completed_elsewhere
               : extension.pickup_cancel_reason == CancelReason::CompletedElsewhere;
  }

 private:
  void build_index();

  std::vector<Extension> extensions_;
  std::vector<RingGroup> ring_groups_;
  PickupSettings pickup_;
  std::vector<Trunk> trunks_;
  std::vector<BlfRule> blf_rules_;
  std::vector<ParkLot> parking_;
  ForwardCodes forward_codes_;
  std::unordered_map<std::string_view, std::size_t> by_number_;  // views into extensions_
  std::unordered_map<std::string_view, std::size_t> ring_group_by_number_;

 public:
  Directory(const Directory& other)
      : Directory(other.extensions_, other.ring_groups_, other.pickup_, other.trunks_,
                  other.blf_rules_, other.parking_) {
    forward_codes_ = other.forward_codes_;
  }
  Directory& operator=(const Directory& other) {
    *this = Directory(other.extensions_, other.ring_groups_, other.pickup_, other.trunks_,
                      other.blf_rules_, other.parking_);
    forward_codes_ = other.forward_codes_;
    return *this;
  }
  Directory(Directory&&) = default;
  Directory& operator=(Directory&&) = default;
};

}  // namespace catchline::pbx
