#include "sip/dialog/subscription.h"

#include <gtest/gtest.h>

#include <chrono>

#include "sip/dialog/dialog.h"
#include "tests/dialog/dialog_fixture.h"

namespace catchline::sip::dialog::testing {
namespace {

using namespace std::chrono_literals;

const base::TimePoint kNow = base::TimePoint{} + 10h;

Message notify_with(std::string_view state) {
  std::string text =
      "NOTIFY sip:b2bua@192.0.2.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-n\r\n"
      "From: <sip:1002@pbx.example.test>;tag=notifier\r\n"
      "To: <sip:1001@pbx.example.test>;tag=subscriber\r\n"
      "Call-ID: sub-1\r\n"
      "CSeq: 1 NOTIFY\r\n"
      "Event: dialog\r\n";
  if (!state.empty()) {
    text += "Subscription-State: " + std::string(state) + "\r\n";
  }
  text += "Content-Length: 0\r\n\r\n";
  return parse(text);
}

TEST(Subscription, NotifierLifecycleFromPendingToTerminated) {
  Subscription subscription("dialog", "", SubscriptionRole::Notifier);
  EXPECT_EQ(subscription.status(), SubscriptionStatus::Pending);
  subscription.set_pending(kNow + 600s);
  EXPECT_EQ(subscription.state_header(kNow), "pending;expires=600");
  subscription.activate(kNow + 600s);
  EXPECT_EQ(subscription.status(), SubscriptionStatus::Active);
  EXPECT_EQ(subscription.state_header(kNow + 1s), "active;expires=599");
  subscription.refresh(kNow + 3600s);
  EXPECT_EQ(subscription.expires_at(), kNow + 3600s);
  EXPECT_FALSE(subscription.expired(kNow + 3599s));
  EXPECT_TRUE(subscription.expired(kNow + 3600s));
  subscription.terminate("timeout");
  EXPECT_TRUE(subscription.terminated());
  EXPECT_FALSE(subscription.expired(kNow + 4000s));
  EXPECT_EQ(subscription.state_header(kNow), "terminated;reason=timeout");
  EXPECT_EQ(subscription.termination_reason(), "timeout");
}

TEST(Subscription, StateNeverMovesBackwards) {
  Subscription subscription("dialog", "", SubscriptionRole::Notifier);
  subscription.activate(kNow + 60s);
  subscription.set_pending(kNow + 10s);
  EXPECT_EQ(subscription.status(), SubscriptionStatus::Active);
  EXPECT_EQ(subscription.expires_at(), kNow + 60s);
  subscription.terminate("deactivated");
  subscription.activate(kNow + 60s);
  subscription.refresh(kNow + 90s);
  subscription.terminate("other");
  EXPECT_TRUE(subscription.terminated());
  EXPECT_EQ(subscription.termination_reason(), "deactivated");
}

TEST(Subscription, VersionsRiseByOne) {
  Subscription subscription("dialog", "", SubscriptionRole::Notifier);
  EXPECT_EQ(subscription.next_version(), 0u);
  EXPECT_EQ(subscription.next_version(), 1u);
  EXPECT_EQ(subscription.next_version(), 2u);
}

TEST(Subscription, MatchesPackageCaseInsensitivelyAndIdExactly) {
  Subscription subscription("dialog", "7", SubscriptionRole::Subscriber);
  EXPECT_TRUE(subscription.matches("Dialog", "7"));
  EXPECT_FALSE(subscription.matches("dialog", ""));
  EXPECT_FALSE(subscription.matches("presence", "7"));
}

TEST(Subscription, SubscriberFollowsNotifySubscriptionState) {
  Subscription subscription("dialog", "", SubscriptionRole::Subscriber);
  auto status = subscription.apply_notify(notify_with("pending;expires=30"), kNow);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, SubscriptionStatus::Pending);
  EXPECT_EQ(subscription.expires_at(), kNow + 30s);
  status = subscription.apply_notify(notify_with("active;expires=300"), kNow);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, SubscriptionStatus::Active);
  EXPECT_EQ(subscription.expires_at(), kNow + 300s);
  status = subscription.apply_notify(notify_with("terminated;reason=noresource"), kNow);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, SubscriptionStatus::Terminated);
  EXPECT_EQ(subscription.termination_reason(), "noresource");
}

TEST(Subscription, NotifyWithoutSubscriptionStateIsRefused) {
  Subscription subscription("dialog", "", SubscriptionRole::Subscriber);
  auto status = subscription.apply_notify(notify_with(""), kNow);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().status, 400);
  EXPECT_EQ(subscription.status(), SubscriptionStatus::Pending);
}

TEST(DialogUsages, DialogEndsWithItsLastUsage) {
  Message invite = parse(invite_text());
  auto created =
      Dialog::create_uas(invite, "ours", "<sip:b2bua@192.0.2.1>", DialogState::Confirmed);
  ASSERT_TRUE(created);
  Dialog& dialog = **created;
  EXPECT_EQ(dialog.usage_count(), 1u);  // the INVITE usage

  Subscription& blf = dialog.add_subscription("dialog", "", SubscriptionRole::Notifier);
  Subscription& mwi = dialog.add_subscription("message-summary", "", SubscriptionRole::Notifier);
  EXPECT_EQ(&dialog.add_subscription("Dialog", "", SubscriptionRole::Notifier), &blf);
  EXPECT_EQ(dialog.find_subscription("message-summary", ""), &mwi);
  EXPECT_EQ(dialog.find_subscription("presence", ""), nullptr);
  EXPECT_EQ(dialog.usage_count(), 3u);

  dialog.end_invite_usage();  // BYE: the subscriptions keep the dialog alive
  EXPECT_TRUE(dialog.confirmed());
  EXPECT_EQ(dialog.usage_count(), 2u);

  blf.terminate("timeout");
  EXPECT_EQ(dialog.remove_terminated_subscriptions(), 1u);
  EXPECT_TRUE(dialog.confirmed());
  EXPECT_EQ(dialog.subscriptions().size(), 1u);

  mwi.terminate("deactivated");
  EXPECT_EQ(dialog.remove_terminated_subscriptions(), 1u);
  EXPECT_TRUE(dialog.terminated());
  EXPECT_EQ(dialog.usage_count(), 0u);
}

TEST(DialogUsages, SubscribeDialogLivesWhileItsSubscriptionDoes) {
  std::string text = invite_text();
  text.replace(0, 6, "SUBSCRIBE");
  text.replace(text.find("10 INVITE"), 9, "10 SUBSCRIBE");
  Message subscribe = parse(text);
  auto created =
      Dialog::create_uas(subscribe, "ours", "<sip:b2bua@192.0.2.1>", DialogState::Confirmed);
  ASSERT_TRUE(created);
  Dialog& dialog = **created;
  EXPECT_FALSE(dialog.has_invite_usage());
  Subscription& subscription = dialog.add_subscription("dialog", "", SubscriptionRole::Notifier);
  subscription.activate(kNow + 600s);
  EXPECT_EQ(dialog.usage_count(), 1u);
  subscription.terminate("timeout");
  dialog.remove_terminated_subscriptions();
  EXPECT_TRUE(dialog.terminated());
}

TEST(DialogUsages, TerminatingTheDialogEndsEveryUsage) {
  Message invite = parse(invite_text());
  auto created =
      Dialog::create_uas(invite, "ours", "<sip:b2bua@192.0.2.1>", DialogState::Confirmed);
  ASSERT_TRUE(created);
  Dialog& dialog = **created;
  Subscription& subscription = dialog.add_subscription("dialog", "", SubscriptionRole::Notifier);
  dialog.terminate();
  EXPECT_TRUE(subscription.terminated());
  EXPECT_EQ(dialog.usage_count(), 0u);
}

}  // namespace
}  // namespace catchline::sip::dialog::testing
