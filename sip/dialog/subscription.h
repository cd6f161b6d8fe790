#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "base/clock.h"
#include "base/thread_check.h"
#include "base/timer_queue.h"
#include "sip/message.h"
#include "sip/result.h"

namespace catchline::sip::dialog {

/// Which end of a subscription we are (RFC 6665 §2).
enum class SubscriptionRole : std::uint8_t {
  Subscriber,  // we sent SUBSCRIBE and receive NOTIFY
  Notifier,    // we received SUBSCRIBE and send NOTIFY
};

/// Subscription states of RFC 6665 §4.1.2 / §4.2.1, as Subscription-State names them.
enum class SubscriptionStatus : std::uint8_t { Pending, Active, Terminated };

/// One subscription: a usage of a dialog (RFC 6665 §4.5.2, RFC 5057), identified inside its
/// dialog by event package and id (§8.2.1: "dialog", and the id parameter, "" when absent).
/// It knows its state, when it expires, and the version counter its NOTIFY bodies carry (RFC
/// 4235 dialog-info rises by one per NOTIFY). Its embedded timer lets the owner (the BLF
/// presence server) schedule expiry without any allocation.
/// Owned by its Dialog, on the signaling thread (checked in debug builds).
class Subscription {
 public:
  Subscription(std::string_view event_package, std::string_view id, SubscriptionRole role);
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  const std::string& event_package() const { return event_package_; }
  const std::string& id() const { return id_; }
  SubscriptionRole role() const { return role_; }
  SubscriptionStatus status() const;
  bool terminated() const { return status() == SubscriptionStatus::Terminated; }
  /// When the subscription lapses unless refreshed (meaningful unless terminated).
  base::TimePoint expires_at() const { return expires_at_; }
  /// The reason given when it terminated ("timeout", "noresource", ...); "" otherwise.
  std::string_view termination_reason() const;

  /// True when `package` and `id` name this subscription (RFC 6665 §4.1.2: package names
  /// compare case-insensitively, ids exactly).
  bool matches(std::string_view package, std::string_view id) const;

  /// Notifier: the SUBSCRIBE was accepted and authorized (200 and an active NOTIFY), or
  /// accepted pending authorization. Both set the expiry; neither revives a terminated one.
  void activate(base::TimePoint expires_at);
  void set_pending(base::TimePoint expires_at);
  /// A refreshing SUBSCRIBE (or the subscriber's own refresh being accepted): new expiry.
  void refresh(base::TimePoint expires_at);
  /// Ends it (RFC 6665 §4.2.2: "timeout", "deactivated", "noresource", "rejected", ...).
  void terminate(std::string_view reason);
  /// True when it is not terminated but its expiry has passed.
  bool expired(base::TimePoint now) const { return !terminated() && now >= expires_at_; }

  /// Subscriber: applies the Subscription-State of a NOTIFY received in this subscription
  /// (RFC 6665 §4.1.3): "active;expires=600", "pending", "terminated;reason=timeout".
  /// Errors: 400 "Bad Subscription-State: ..." when the header is missing or malformed.
  Result<SubscriptionStatus> apply_notify(const Message& notify, base::TimePoint now);

  /// Notifier: the Subscription-State value for the next NOTIFY (RFC 6665 §4.2.2), with the
  /// seconds left ("active;expires=599") or the reason ("terminated;reason=timeout").
  std::string state_header(base::TimePoint now) const;
  /// Notifier: the version for the next NOTIFY body: 0, 1, 2, ... (RFC 4235 §4.1).
  std::uint32_t next_version() {
    base::assert_on_signaling_thread();
    return version_++;
  }

  /// The timer the owner may arm for expiry or refresh; cancelled when the subscription dies.
  base::Timer& timer() { return timer_; }

 private:
  // Pending -> Active -> Terminated; Pending -> Terminated. Never backwards (RFC 6665 §4.1.2).
  struct Pending {};
  struct Active {};
  struct Terminated {
    std::string reason;
  };
  std::variant<Pending, Active, Terminated> state_;

  std::string event_package_;
  std::string id_;
  SubscriptionRole role_;
  base::TimePoint expires_at_{};
  std::uint32_t version_ = 0;
  base::Timer timer_;
};

}  // namespace catchline::sip::dialog
