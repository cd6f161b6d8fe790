// The message-waiting server (RFC 3842) through a real transaction layer and dialog table, with
// a manual clock and a transport that records what it sends: phones are scripted in SIP text.
#include "pbx/voicemail/message_summary.h"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sip/dialog/dialog_table.h"
#include "tests/txn/txn_fixture.h"

namespace catchline::pbx::testing {
namespace {

using sip::Header;
using sip::Message;
using sip::transport::Peer;
using sip::txn::testing::FakeSender;
using sip::txn::testing::parse;
using sip::txn::testing::udp_peer;

constexpr std::string_view kBodyTwoNewOneOld =
    "Messages-Waiting: yes\r\n"
    "Message-Account: sip:1002@pbx.test\r\n"
    "Voice-Message: 2/1 (0/0)\r\n";

// What a phone's MWI SUBSCRIBE carries besides the dialog's headers.
constexpr std::string_view kPhoneSubscribes =
    "Event: message-summary\r\n"
    "Accept: application/simple-message-summary\r\n"
    "Expires: 600\r\n";

std::string header(const Message& message, Header name) {
  return std::string(message.header_value(name).value_or("<none>"));
}

/// A phone's SUBSCRIBE dialog as it knows it.
struct PhoneDialog {
  std::string call_id;
  std::string from_tag;
  std::string to_tag;  // the server's, from its 200
  std::uint32_t cseq = 0;
};

/// The server side: MessageSummary on a fake PresenceHost. New SUBSCRIBEs are for box 1002
/// with counts_; requests with a To tag go to their dialog's usage, as the Pbx routes them.
class MessageSummaryTest : public ::testing::Test,
                           public sip::txn::TransactionUser,
                           public PresenceHost {
 protected:
  MessageSummaryTest() { sender_.clock = &clock_; }

  // PresenceHost
  sip::txn::TransactionLayer& layer() override { return layer_; }
  base::TimerQueue& timers() override { return timers_; }
  const std::string& local_address(sip::transport::Protocol) const override { return local_; }
  sip::dialog::DialogTable& dialogs() override { return table_; }
  std::vector<DialogView> dialogs_of(const std::string&) const override { return {}; }

  // TransactionUser
  void on_request(const Message& request, const Peer& source, Start& start) override {
    // start() takes the request over: read it before.
    const bool in_dialog = !request.to_tag().empty();
    sip::txn::ServerTransaction& t = start();
    if (in_dialog) {
      const sip::dialog::DialogTable::Entry* entry = table_.find_for_request(t.request());
      if (entry == nullptr) {
        layer_.respond(t, 481);
        return;
      }
      entry->usage->on_in_dialog_request(*entry->dialog, t, t.request());
      return;
    }
    mwi_.subscribe(t, t.request(), source, "1002", counts_, account_);
  }

  /// Delivers `text` from `from`, then runs what is due now (the zero-delay flush).
  void deliver(const std::string& text, const Peer& from) {
    layer_.on_batch_begin();
    layer_.on_message(parse(text), from);
    layer_.on_batch_end();
    base::run_for(timers_, clock_, base::Duration::zero());
  }
  void run_now() { base::run_for(timers_, clock_, base::Duration::zero()); }

  /// A SUBSCRIBE from `phone` to sip:1002@pbx.test; `extra` holds Event, Expires and the like.
  std::string subscribe_text(PhoneDialog& dialog, const Peer& phone, std::string_view extra) {
    const std::string port = std::to_string(phone.port);
    std::string text = "SUBSCRIBE sip:1002@pbx.test SIP/2.0\r\n";
    text += "Via: SIP/2.0/UDP 127.0.0.1:" + port + ";branch=z9hG4bK-sub-" +
            std::to_string(++branches_) + ";rport\r\n";
    text += "Max-Forwards: 70\r\n";
    text += "From: <sip:1002@pbx.test>;tag=" + dialog.from_tag + "\r\n";
    text += "To: <sip:1002@pbx.test>";
    if (!dialog.to_tag.empty()) {
      text += ";tag=" + dialog.to_tag;
    }
    text += "\r\nCall-ID: " + dialog.call_id + "\r\n";
    text += "CSeq: " + std::to_string(++dialog.cseq) + " SUBSCRIBE\r\n";
    text += "Contact: <sip:1002@127.0.0.1:" + port + ">\r\n";
    text += extra;
    text += "Content-Length: 0\r\n\r\n";
    return text;
  }

  /// `phone` subscribes (a new dialog); returns its dialog with the server's tag when answered.
  PhoneDialog subscribe(const Peer& phone, std::string_view extra = kPhoneSubscribes) {
    PhoneDialog dialog{"mwi-" + std::to_string(++calls_) + "@127.0.0.1",
                       "ph-" + std::to_string(calls_)};
    const std::size_t before = sender_.count();
    deliver(subscribe_text(dialog, phone, extra), phone);
    if (auto reply = last_response(phone, before)) {
      dialog.to_tag = std::string(reply->to_tag());
    }
    return dialog;
  }

  /// The last response sent to `phone` since message `from`.
  std::optional<Message> last_response(const Peer& phone, std::size_t from = 0) const {
    std::optional<Message> found;
    for (std::size_t i = from; i < sender_.sent.size(); ++i) {
      const auto& s = sender_.sent[i];
      if (s.to.port == phone.port && s.text.starts_with("SIP/2.0 ")) {
        found = parse(s.text);
      }
    }
    return found;
  }

  /// The NOTIFYs sent to `phone` since message `from`, retransmissions left out.
  std::vector<Message> notifies(const Peer& phone, std::size_t from = 0) const {
    std::vector<Message> found;
    std::set<std::pair<std::string, std::uint32_t>> seen;
    for (std::size_t i = from; i < sender_.sent.size(); ++i) {
      const auto& s = sender_.sent[i];
      if (s.to.port != phone.port || !s.text.starts_with("NOTIFY ")) {
        continue;
      }
      Message m = parse(s.text);
      if (seen.emplace(std::string(m.call_id()), m.cseq_number()).second) {
        found.push_back(std::move(m));
      }
    }
    return found;
  }

  /// `phone` answers `notify` with `status`.
  void answer(const Message& notify, const Peer& phone, int status = 200) {
    deliver(sip::response_to(notify, status).finish(), phone);
  }

  base::ManualClock clock_;
  base::TimerQueue timers_{clock_};
  FakeSender sender_;
  sip::dialog::DialogTable table_;
  std::string local_ = "127.0.0.1:5060";
  MailboxCounts counts_{2, 1};  // what box 1002 holds when a SUBSCRIBE arrives
  std::string account_;         // the Message-Account subscribe() is given ("" = the To URI)
  Peer phone_ = udp_peer(6002);
  int branches_ = 0;
  int calls_ = 0;
  MessageSummary mwi_{*this, PresenceSettings{}};
  // Last: destroyed first, so no transaction outlives the subscriptions it reports to.
  sip::txn::TransactionLayer layer_{sender_, timers_, *this, sip::txn::TimerSettings{}};
};

TEST(MessageSummaryBody, SaysYesWithNewMessages) {
  EXPECT_EQ(message_summary_body("sip:1002@pbx.test", {2, 1}), kBodyTwoNewOneOld);
}

TEST(MessageSummaryBody, SaysNoWhenEveryMessageWasHeard) {
  EXPECT_EQ(message_summary_body("sip:1002@pbx.example", {0, 3}),
            "Messages-Waiting: no\r\n"
            "Message-Account: sip:1002@pbx.example\r\n"
            "Voice-Message: 0/3 (0/0)\r\n");
}

TEST(MessageSummaryBody, LeavesOutAnEmptyAccount) {
  EXPECT_EQ(message_summary_body("", {0, 0}),
            "Messages-Waiting: no\r\nVoice-Message: 0/0 (0/0)\r\n");
}

TEST_F(MessageSummaryTest, SubscribeIsAnswered200ThenNotifiedWithTheCounts) {
  PhoneDialog dialog = subscribe(phone_);
  auto ok = last_response(phone_);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status(), 200);
  EXPECT_EQ(header(*ok, Header::Expires), "600");
  EXPECT_FALSE(dialog.to_tag.empty());

  auto sent = notifies(phone_);
  ASSERT_EQ(sent.size(), 1u);
  const Message& notify = sent[0];
  EXPECT_EQ(notify.call_id(), dialog.call_id);
  EXPECT_EQ(notify.from_tag(), dialog.to_tag);
  EXPECT_EQ(notify.to_tag(), dialog.from_tag);
  EXPECT_EQ(notify.request_uri(), "sip:1002@127.0.0.1:6002");
  EXPECT_EQ(header(notify, Header::Event), "message-summary");
  EXPECT_EQ(header(notify, Header::SubscriptionState), "active;expires=600");
  EXPECT_EQ(header(notify, Header::ContentType), "application/simple-message-summary");
  EXPECT_EQ(notify.body(), kBodyTwoNewOneOld);
  EXPECT_EQ(mwi_.subscription_count(), 1u);
  EXPECT_EQ(table_.size(), 1u);
}

TEST_F(MessageSummaryTest, MessageAccountIsTheOneGivenWhenGiven) {
  account_ = "sip:*97@pbx.test";
  subscribe(phone_);
  auto sent = notifies(phone_);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_NE(sent[0].body().find("Message-Account: sip:*97@pbx.test\r\n"), std::string_view::npos)
      << sent[0].body();
}

TEST_F(MessageSummaryTest, ChangeSendsNotifyWithTheNewCounts) {
  subscribe(phone_);
  answer(notifies(phone_).at(0), phone_);
  const std::size_t before = sender_.count();

  mwi_.changed("1002", {3, 1});
  EXPECT_TRUE(notifies(phone_, before).empty()) << "NOTIFYs leave at the next turn of the loop";
  run_now();

  auto sent = notifies(phone_, before);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(header(sent[0], Header::SubscriptionState), "active;expires=600");
  EXPECT_NE(sent[0].body().find("Voice-Message: 3/1 (0/0)\r\n"), std::string_view::npos)
      << sent[0].body();
  EXPECT_NE(sent[0].body().find("Messages-Waiting: yes\r\n"), std::string_view::npos);
}

TEST_F(MessageSummaryTest, HeardMessagesTurnTheLampOff) {
  subscribe(phone_);
  answer(notifies(phone_).at(0), phone_);
  const std::size_t before = sender_.count();
  mwi_.changed("1002", {0, 3});
  run_now();
  auto sent = notifies(phone_, before);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].body(),
            "Messages-Waiting: no\r\nMessage-Account: sip:1002@pbx.test\r\n"
            "Voice-Message: 0/3 (0/0)\r\n");
}

TEST_F(MessageSummaryTest, ChangesInOneTurnSendOneNotify) {
  subscribe(phone_);
  answer(notifies(phone_).at(0), phone_);
  const std::size_t before = sender_.count();
  mwi_.changed("1002", {3, 1});
  mwi_.changed("1002", {2, 2});
  mwi_.changed("1002", {1, 3});
  run_now();
  auto sent = notifies(phone_, before);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_NE(sent[0].body().find("Voice-Message: 1/3 (0/0)"), std::string_view::npos);
}

TEST_F(MessageSummaryTest, ChangesWhileANotifyIsInFlightAreCoalesced) {
  subscribe(phone_);
  const Message first = notifies(phone_).at(0);  // not answered yet
  const std::size_t before = sender_.count();
  mwi_.changed("1002", {3, 1});
  run_now();
  mwi_.changed("1002", {4, 1});
  run_now();
  EXPECT_TRUE(notifies(phone_, before).empty()) << "one NOTIFY in flight per subscription";

  answer(first, phone_);
  auto sent = notifies(phone_, before);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_NE(sent[0].body().find("Voice-Message: 4/1 (0/0)"), std::string_view::npos)
      << sent[0].body();
}

TEST_F(MessageSummaryTest, SameCountsSendNothing) {
  subscribe(phone_);
  answer(notifies(phone_).at(0), phone_);
  const std::size_t before = sender_.count();
  mwi_.changed("1002", counts_);
  run_now();
  EXPECT_TRUE(notifies(phone_, before).empty());
}

TEST_F(MessageSummaryTest, EverySubscriptionOfTheBoxIsNotified) {
  const Peer desk = udp_peer(6003);
  subscribe(phone_);
  subscribe(desk);
  answer(notifies(phone_).at(0), phone_);
  answer(notifies(desk).at(0), desk);
  const std::size_t before = sender_.count();
  mwi_.changed("1002", {5, 0});
  mwi_.changed("1003", {9, 9});  // nobody watches it
  run_now();
  ASSERT_EQ(notifies(phone_, before).size(), 1u);
  ASSERT_EQ(notifies(desk, before).size(), 1u);
  EXPECT_NE(notifies(desk, before)[0].body().find("Voice-Message: 5/0"), std::string_view::npos);
}

TEST_F(MessageSummaryTest, UnsubscribeIsAnswered200AndATerminatedNotify) {
  PhoneDialog dialog = subscribe(phone_);
  answer(notifies(phone_).at(0), phone_);
  const std::size_t before = sender_.count();

  deliver(subscribe_text(dialog, phone_, "Event: message-summary\r\nExpires: 0\r\n"), phone_);
  auto ok = last_response(phone_, before);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status(), 200);
  EXPECT_EQ(header(*ok, Header::Expires), "0");
  auto sent = notifies(phone_, before);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(header(sent[0], Header::SubscriptionState), "terminated;reason=timeout");
  EXPECT_EQ(sent[0].body(), kBodyTwoNewOneOld);

  answer(sent[0], phone_);
  EXPECT_EQ(mwi_.subscription_count(), 0u);
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(MessageSummaryTest, RefreshIsAnswered200WithTheCurrentCounts) {
  PhoneDialog dialog = subscribe(phone_);
  answer(notifies(phone_).at(0), phone_);
  base::run_for(timers_, clock_, std::chrono::seconds(500));
  const std::size_t before = sender_.count();

  deliver(subscribe_text(dialog, phone_, "Event: message-summary\r\nExpires: 1200\r\n"), phone_);
  auto ok = last_response(phone_, before);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status(), 200);
  EXPECT_EQ(header(*ok, Header::Expires), "1200");
  auto sent = notifies(phone_, before);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(header(sent[0], Header::SubscriptionState), "active;expires=1200");
  answer(sent[0], phone_);

  // The old expiry (600 s after the SUBSCRIBE) passes without ending it.
  const std::size_t later = sender_.count();
  base::run_for(timers_, clock_, std::chrono::seconds(200));
  EXPECT_TRUE(notifies(phone_, later).empty());
  EXPECT_EQ(mwi_.subscription_count(), 1u);
}

TEST_F(MessageSummaryTest, ExpiryEndsItWithATerminatedNotify) {
  subscribe(phone_);
  answer(notifies(phone_).at(0), phone_);
  const std::size_t before = sender_.count();
  base::run_for(timers_, clock_, std::chrono::seconds(599));
  EXPECT_TRUE(notifies(phone_, before).empty());

  base::run_for(timers_, clock_, std::chrono::seconds(1));
  auto sent = notifies(phone_, before);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(header(sent[0], Header::SubscriptionState), "terminated;reason=timeout");
  answer(sent[0], phone_);
  EXPECT_EQ(mwi_.subscription_count(), 0u);
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(MessageSummaryTest, NotifyAnswered481EndsIt) {
  subscribe(phone_);
  answer(notifies(phone_).at(0), phone_, 481);
  EXPECT_EQ(mwi_.subscription_count(), 0u);
  EXPECT_EQ(table_.size(), 0u);

  const std::size_t before = sender_.count();
  mwi_.changed("1002", {7, 0});
  run_now();
  EXPECT_TRUE(notifies(phone_, before).empty());
}

TEST_F(MessageSummaryTest, NotifyNeverAnsweredEndsIt) {
  subscribe(phone_);
  base::run_for(timers_, clock_, std::chrono::seconds(33));  // timer F: 64*T1
  EXPECT_EQ(mwi_.subscription_count(), 0u);
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(MessageSummaryTest, RequestInAnEndedDialogIs481) {
  PhoneDialog dialog = subscribe(phone_);
  answer(notifies(phone_).at(0), phone_, 481);
  const std::size_t before = sender_.count();
  deliver(subscribe_text(dialog, phone_, "Event: message-summary\r\nExpires: 600\r\n"), phone_);
  auto reply = last_response(phone_, before);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status(), 481);
}

TEST_F(MessageSummaryTest, FetchGetsOneTerminatedNotify) {
  subscribe(phone_, "Event: message-summary\r\nExpires: 0\r\n");
  EXPECT_EQ(last_response(phone_)->status(), 200);
  auto sent = notifies(phone_);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(header(sent[0], Header::SubscriptionState), "terminated;reason=timeout");
  EXPECT_EQ(sent[0].body(), kBodyTwoNewOneOld);
  answer(sent[0], phone_);
  EXPECT_EQ(mwi_.subscription_count(), 0u);
}

TEST_F(MessageSummaryTest, AnotherEventPackageIs489) {
  subscribe(phone_, "Event: dialog\r\nExpires: 600\r\n");
  auto reply = last_response(phone_);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status(), 489);
  EXPECT_EQ(header(*reply, Header::AllowEvents), "message-summary");
  EXPECT_EQ(mwi_.subscription_count(), 0u);
}

TEST_F(MessageSummaryTest, TooShortExpiresIs423WithTheMinimum) {
  subscribe(phone_, "Event: message-summary\r\nExpires: 10\r\n");
  auto reply = last_response(phone_);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status(), 423);
  EXPECT_EQ(header(*reply, Header::MinExpires), "60");
  EXPECT_EQ(mwi_.subscription_count(), 0u);
}

TEST_F(MessageSummaryTest, UnreadableExpiresIs400) {
  subscribe(phone_, "Event: message-summary\r\nExpires: soon\r\n");
  auto reply = last_response(phone_);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status(), 400);
  EXPECT_TRUE(notifies(phone_).empty());
}

TEST_F(MessageSummaryTest, LongExpiresIsCutToTheMaximum) {
  subscribe(phone_, "Event: message-summary\r\nExpires: 86400\r\n");
  EXPECT_EQ(header(*last_response(phone_), Header::Expires), "3600");
}

TEST_F(MessageSummaryTest, AcceptWithoutTheSummaryTypeIs406) {
  subscribe(phone_, "Event: message-summary\r\nAccept: application/pidf+xml\r\nExpires: 600\r\n");
  auto reply = last_response(phone_);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status(), 406);
  EXPECT_EQ(header(*reply, Header::Accept), "application/simple-message-summary");
}

TEST_F(MessageSummaryTest, AcceptWildcardIsTaken) {
  subscribe(phone_, "Event: message-summary\r\nAccept: text/plain, application/*\r\n");
  EXPECT_EQ(last_response(phone_)->status(), 200);
}

TEST_F(MessageSummaryTest, ShutdownSendsDeactivatedNotifies) {
  subscribe(phone_);
  answer(notifies(phone_).at(0), phone_);
  const std::size_t before = sender_.count();
  mwi_.shutdown();
  auto sent = notifies(phone_, before);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(header(sent[0], Header::SubscriptionState), "terminated;reason=deactivated");
  answer(sent[0], phone_);
  EXPECT_EQ(mwi_.subscription_count(), 0u);
}

TEST_F(MessageSummaryTest, SubscribedKnowsWhichPhoneSubscribed) {
  subscribe(phone_);
  EXPECT_TRUE(mwi_.subscribed("1002", phone_));
  EXPECT_FALSE(mwi_.subscribed("1002", udp_peer(6003)));
  EXPECT_FALSE(mwi_.subscribed("1003", phone_));
}

TEST(UnsolicitedNotify, IsAnOutOfDialogNotifyPhonesAccept) {
  UnsolicitedNotify spec;
  spec.contact = "sip:1002@192.0.2.7:5062;transport=tcp";
  spec.account_uri = "sip:1002@pbx.test";
  spec.protocol = sip::transport::Protocol::Tcp;
  spec.local_address = "192.0.2.1:5060";
  spec.counts = {2, 1};
  spec.cseq = 7;
  const Message notify = parse(unsolicited_notify(spec));

  EXPECT_EQ(notify.method(), sip::Method::Notify);
  EXPECT_EQ(notify.request_uri(), "sip:1002@192.0.2.7:5062;transport=tcp");
  EXPECT_TRUE(notify.top_via().starts_with("SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK"))
      << notify.top_via();
  EXPECT_EQ(notify.max_forwards().value_or(-1), 70);
  EXPECT_TRUE(header(notify, Header::From).starts_with("<sip:1002@pbx.test>;tag="));
  EXPECT_FALSE(notify.from_tag().empty());
  EXPECT_EQ(header(notify, Header::To), "<sip:1002@pbx.test>");
  EXPECT_FALSE(notify.call_id().empty());
  EXPECT_EQ(header(notify, Header::CSeq), "7 NOTIFY");
  EXPECT_EQ(header(notify, Header::Contact), "<sip:voicemail@192.0.2.1:5060;transport=tcp>");
  EXPECT_EQ(header(notify, Header::Event), "message-summary");
  EXPECT_EQ(header(notify, Header::SubscriptionState), "active");
  EXPECT_EQ(header(notify, Header::ContentType), "application/simple-message-summary");
  EXPECT_EQ(notify.body(), kBodyTwoNewOneOld);
}

TEST(UnsolicitedNotify, EachHasItsOwnCallIdUnlessGivenOne) {
  UnsolicitedNotify spec;
  spec.contact = "sip:1002@192.0.2.7";
  spec.account_uri = "sip:1002@pbx.test";
  spec.local_address = "192.0.2.1:5060";
  const Message a = parse(unsolicited_notify(spec));
  const Message b = parse(unsolicited_notify(spec));
  EXPECT_NE(a.call_id(), b.call_id());
  EXPECT_NE(a.branch(), b.branch());
  spec.call_id = "mwi-1002@pbx";
  EXPECT_EQ(parse(unsolicited_notify(spec)).call_id(), "mwi-1002@pbx");
}

TEST_F(MessageSummaryTest, SendUnsolicitedGoesToTheContactInItsOwnTransaction) {
  auto sent = mwi_.send_unsolicited("sip:1002@pbx.test", "sip:1002@127.0.0.1:6002", phone_, {1, 0});
  ASSERT_TRUE(sent) << sent.error().reason;
  auto out = notifies(phone_);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(header(out[0], Header::Via).substr(0, 30), "SIP/2.0/UDP 127.0.0.1:5060;bra");
  EXPECT_EQ(header(out[0], Header::SubscriptionState), "active");
  EXPECT_NE(out[0].body().find("Messages-Waiting: yes"), std::string_view::npos);
  answer(out[0], phone_);  // absorbed: nobody listens
  EXPECT_EQ(mwi_.subscription_count(), 0u);
  EXPECT_EQ(table_.size(), 0u);
}

}  // namespace
}  // namespace catchline::pbx::testing
