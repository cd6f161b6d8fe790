#include "sip/dialog/subscription.h"

#include <chrono>

#include "base/thread_check.h"
#include "sip/headers/params.h"
#include "sip/headers/simple.h"

namespace catchline::sip::dialog {

Subscription::Subscription(std::string_view event_package, std::string_view id,
                           SubscriptionRole role)
    : event_package_(event_package), id_(id), role_(role) {}

SubscriptionStatus Subscription::status() const {
  // The alternatives are declared in the order of the enum.
  return static_cast<SubscriptionStatus>(state_.index());
}

std::string_view Subscription::termination_reason() const {
  const auto* terminated = std::get_if<Terminated>(&state_);
  return terminated == nullptr ? std::string_view{} : std::string_view(terminated->reason);
}

bool Subscription::matches(std::string_view package, std::string_view id) const {
  return iequals(package, event_package_) && id == id_;
}

void Subscription::activate(base::TimePoint expires_at) {
  base::assert_on_signaling_thread();
  if (terminated()) {
    return;
  }
  state_ = Active{};
  expires_at_ = expires_at;
}

void Subscription::set_pending(base::TimePoint expires_at) {
  base::assert_on_signaling_thread();
  // A state never moves backwards: an active subscription stays active.
  if (status() != SubscriptionStatus::Pending) {
    return;
  }
  expires_at_ = expires_at;
}

void Subscription::refresh(base::TimePoint expires_at) {
  base::assert_on_signaling_thread();
  if (terminated()) {
    return;
  }
  expires_at_ = expires_at;
}

void Subscription::terminate(std::string_view reason) {
  base::assert_on_signaling_thread();
  if (terminated()) {
    return;
  }
  state_ = Terminated{std::string(reason)};
  timer_.cancel();
}

Result<SubscriptionStatus> Subscription::apply_notify(const Message& notify, base::TimePoint now) {
  base::assert_on_signaling_thread();
  auto value = notify.header_value(Header::SubscriptionState);
  if (!value) {
    return fail("Bad Subscription-State: missing");
  }
  auto parsed = parse_subscription_state(*value);
  if (!parsed) {
    return parsed.error();
  }
  const std::string_view state = parsed->state;
  if (iequals(state, "terminated")) {
    terminate(parsed->reason);
    return SubscriptionStatus::Terminated;
  }
  // RFC 6665 §4.1.3: the notifier's expires is the one that counts.
  const std::optional<base::TimePoint> expiry =
      parsed->expires ? std::optional<base::TimePoint>(now + std::chrono::seconds(*parsed->expires))
                      : std::nullopt;
  if (iequals(state, "active")) {
    activate(expiry.value_or(expires_at_));
  } else if (iequals(state, "pending")) {
    set_pending(expiry.value_or(expires_at_));
  } else {
    // An extension state (RFC 6665 §8.2.3 extension-substate) that no package we serve
    // defines: refused, so that the fault shows instead of a guessed state.
    return fail("Bad Subscription-State: unknown state");
  }
  return status();
}

std::string Subscription::state_header(base::TimePoint now) const {
  if (const auto* terminated = std::get_if<Terminated>(&state_)) {
    std::string value = "terminated";
    if (!terminated->reason.empty()) {
      value += ";reason=";
      value += terminated->reason;
    }
    return value;
  }
  const auto left = expires_at_ > now
                        ? std::chrono::duration_cast<std::chrono::seconds>(expires_at_ - now)
                        : std::chrono::seconds(0);
  std::string value = status() == SubscriptionStatus::Active ? "active" : "pending";
  value += ";expires=";
  value += std::to_string(left.count());
  return value;
}

}  // namespace catchline::sip::dialog
