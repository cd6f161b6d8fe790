#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/timer_queue.h"
#include "pbx/blf/dialog_info.h"
#include "sip/dialog/dialog.h"
#include "sip/dialog/dialog_table.h"
#include "sip/message.h"
#include "sip/transport/peer.h"
#include "sip/txn/transaction_layer.h"

namespace catchline::pbx {

/// Subscription limits for BLF and presence (`blf:` section).
struct PresenceSettings {
  std::chrono::seconds min_expires{60};
  std::chrono::seconds max_expires{3600};
  std::chrono::seconds default_expires{3600};
};

/// What the presence server needs from the server around it.
class PresenceHost {
 public:
  virtual sip::txn::TransactionLayer& layer() = 0;
  virtual base::TimerQueue& timers() = 0;
  /// "host:port" for Via and Contact on this protocol.
  virtual const std::string& local_address(sip::transport::Protocol protocol) const = 0;
  /// The server's one dialog table: each subscription's dialog is in it while it lives.
  virtual sip::dialog::DialogTable& dialogs() = 0;
  /// The dialogs `resource` has now, when its first watcher arrives (later changes come
  /// through Presence::update()).
  virtual std::vector<DialogView> dialogs_of(const std::string& resource) const = 0;

 protected:
  ~PresenceHost() = default;
};

/// One resource a subscription watches: an extension or ring group number and its URI.
/// `allowed` false: listed but not to be shown to this watcher (RFC 4662 instance
/// state terminated, reason rejected).
struct WatchTarget {
  std::string resource;
  std::string entity;
  bool allowed = true;
};

/// The BLF presence server (DESIGN.md §5): SUBSCRIBE for `Event: dialog` (RFC 6665, RFC 4235)
/// and `Event: presence` (RFC 3856, PIDF) to an extension or ring group, one NOTIFY at once
/// with the full state and then one per change, a version that rises by one per subscription.
/// Changes are coalesced per subscription: at most one NOTIFY is in flight, and the next one
/// carries the latest state. Lamps never stick: every dialog a watcher was shown is shown to
/// it again as terminated before it is dropped, and a dialog's state never moves backwards.
/// NOTIFYs go out after the call messages of the same event (a zero-delay timer), so fan-out
/// never delays call handling. Authentication and authorisation are the Pbx's, before this.
/// Owned by the signaling thread; no locks.
class Presence final : private base::TimerHandler {
 public:
  Presence(PresenceHost& host, PresenceSettings settings);
  ~Presence();
  Presence(const Presence&) = delete;
  Presence& operator=(const Presence&) = delete;

  void set_settings(PresenceSettings settings) { settings_ = settings; }

  /// A new SUBSCRIBE (no To tag), already authenticated as `watcher`: to one resource it may
  /// watch (`targets` of one, `list` false), or to a resource list (RFC 4662, `list` true,
  /// `entity` the list's URI) whose NOTIFYs are multipart/related with an RLMI document and
  /// one body per resource. Answers 489 for other event packages, 421 for a list without
  /// `Supported: eventlist`, 423 below min_expires, 400 without Contact; else 200, then a
  /// NOTIFY.
  void subscribe(sip::txn::ServerTransaction& t, const sip::Message& request,
                 const sip::transport::Peer& source, std::string_view watcher,
                 std::vector<WatchTarget> targets, std::string entity, bool list);
  /// The dialog `view.id` of `resource` appeared or changed. States only move forward: a
  /// change back (confirmed -> early) is ignored.
  void update(const std::string& resource, const DialogView& view);
  /// Ends every subscription with a final NOTIFY (SIGTERM).
  void shutdown();

  std::size_t subscription_count() const { return watches_.size(); }
  /// Package names for Allow-Events.
  static constexpr std::string_view kAllowEvents = "dialog, presence";

 private:
  struct Watch;
  struct Resource {
    std::vector<DialogView> dialogs;          // live ones, oldest first
    std::map<std::string, DialogView> ended;  // terminated, until every watcher saw it
    std::vector<std::uint32_t> watches;
    // The <dialog> elements last rendered and what they showed: the watchers of one change
    // mostly see the same dialogs, so they share one rendering. Cleared on every change.
    std::vector<const DialogView*> rendered_for;
    std::string rendered;
    bool has_rendered = false;
  };

  void on_timer(base::Timer& timer) override;
  /// A request in a subscription's dialog: a refreshing or ending SUBSCRIBE.
  void in_dialog(Watch& watch, sip::txn::ServerTransaction& t, const sip::Message& request);
  /// The final answer to the watch's NOTIFY; a failure (481, any other final error) ends the
  /// subscription.
  void notify_answered(Watch& watch, const sip::Message& response);
  /// The NOTIFY got no answer (408) or could not be sent (503): the subscription ends.
  void notify_failed(Watch& watch, int status);
  /// The subscription's duration from the request's Expires (default, cut to the maximum);
  /// nullopt when it answered 400 (unreadable) or 423 (below the minimum).
  std::optional<std::uint32_t> granted_expires(sip::txn::ServerTransaction& t,
                                               const sip::Message& request);
  void expire(Watch& watch);
  void mark_dirty(Resource& resource);
  void send_notify(Watch& watch);
  /// The body of the next NOTIFY; sets `content_type` when it is empty.
  std::string body_for(Watch& watch, std::string& content_type);
  struct Part;
  std::string part_body(Watch& watch, Part& part);
  void remove(std::uint32_t id);
  void forget_seen_ends(const std::string& resource);

  PresenceHost& host_;
  PresenceSettings settings_;
  std::uint32_t next_id_ = 1;
  std::unordered_map<std::uint32_t, std::unique_ptr<Watch>> watches_;
  std::unordered_map<std::string, Resource> resources_;
  std::unordered_map<std::string, std::size_t> per_watcher_;  // subscriptions per extension
  std::vector<std::uint32_t> dirty_;
  base::Timer flush_timer_;
};

}  // namespace catchline::pbx
