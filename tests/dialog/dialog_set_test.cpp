#include "sip/dialog/dialog_set.h"

#include <gtest/gtest.h>

#include <memory>

#include "sip/dialog/dialog_table.h"
#include "tests/dialog/dialog_fixture.h"

namespace catchline::sip::dialog::testing {
namespace {

constexpr std::string_view kOurContact = "<sip:b2bua@192.0.2.1:5060>";

// A usage that only counts what the table hands it.
class CountingUsage final : public DialogUsage {
 public:
  void on_in_dialog_request(Dialog&, txn::ServerTransaction&, const Message&) override {
    ++requests;
  }
  int requests = 0;
};

class DialogSetTest : public ::testing::Test {
 protected:
  DialogTable table_;
  CountingUsage usage_;
  Message invite_ = parse(invite_text());
};

TEST_F(DialogSetTest, ForkedProvisionalsMakeOneEarlyDialogPerToTag) {
  DialogSet set(invite_, kOurContact, table_, usage_);
  EXPECT_EQ(set.on_response(invite_, response(invite_, 100, "")), nullptr);
  Dialog* a = set.on_response(invite_, response(invite_, 180, "tag-a", "<sip:a@192.0.2.31>"));
  Dialog* b = set.on_response(invite_, response(invite_, 180, "tag-b", "<sip:b@192.0.2.32>"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(set.on_response(invite_, response(invite_, 183, "tag-a", "<sip:a@192.0.2.31>")), a);
  EXPECT_EQ(table_.size(), 2u);
  EXPECT_EQ(set.dialogs(), (std::vector<Dialog*>{a, b}));
  EXPECT_TRUE(a->early());
  EXPECT_TRUE(b->early());
  EXPECT_EQ(set.confirmed(), nullptr);
  EXPECT_EQ(a->remote_target(), "sip:a@192.0.2.31");
  EXPECT_EQ(b->remote_target(), "sip:b@192.0.2.32");
  EXPECT_EQ(set.local_tag(), "alice-tag");
  EXPECT_EQ(table_.find(b->id())->usage, &usage_);
}

TEST_F(DialogSetTest, TwoHundredConfirmsItsDialogAndTheOthersCanBeDropped) {
  DialogSet set(invite_, kOurContact, table_, usage_);
  set.on_response(invite_, response(invite_, 180, "tag-a"));
  set.on_response(invite_, response(invite_, 180, "tag-b"));
  Dialog* b = set.on_response(invite_, response(invite_, 200, "tag-b"));
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->confirmed());
  EXPECT_EQ(set.confirmed(), b);
  EXPECT_EQ(set.drop_early("tag-b"), 1u);
  EXPECT_EQ(table_.size(), 1u);
  EXPECT_EQ(set.dialogs(), (std::vector<Dialog*>{b}));
}

TEST_F(DialogSetTest, TwoHundredWithoutProvisionalCreatesAConfirmedDialog) {
  DialogSet set(invite_, kOurContact, table_, usage_);
  Dialog* dialog = set.on_response(invite_, response(invite_, 200, "tag-c"));
  ASSERT_NE(dialog, nullptr);
  EXPECT_TRUE(dialog->confirmed());
  // A second fork answering too gets a dialog of its own (the TU ACKs and BYEs it).
  Dialog* late = set.on_response(invite_, response(invite_, 200, "tag-d"));
  ASSERT_NE(late, nullptr);
  EXPECT_NE(late, dialog);
  EXPECT_EQ(set.confirmed(), dialog);
}

TEST_F(DialogSetTest, FailureEndsEveryEarlyDialog) {
  DialogSet set(invite_, kOurContact, table_, usage_);
  set.on_response(invite_, response(invite_, 180, "tag-a"));
  set.on_response(invite_, response(invite_, 183, "tag-b"));
  EXPECT_EQ(set.on_response(invite_, response(invite_, 486, "tag-b")), nullptr);
  EXPECT_TRUE(table_.empty());
  EXPECT_TRUE(set.dialogs().empty());
}

TEST_F(DialogSetTest, ASetLeavesTheTableWhenItDies) {
  {
    DialogSet set(invite_, kOurContact, table_, usage_);
    set.on_response(invite_, response(invite_, 180, "tag-a"));
    EXPECT_EQ(table_.size(), 1u);
  }
  EXPECT_TRUE(table_.empty());
}

TEST_F(DialogSetTest, TheTableFindsRequestsByToTagAndResponsesByFromTag) {
  // We are the UAS of this INVITE: local tag "ours".
  auto uas = Dialog::create_uas(invite_, "ours", kOurContact, DialogState::Confirmed);
  ASSERT_TRUE(uas);
  Dialog& dialog = **uas;
  ASSERT_TRUE(table_.insert(dialog, usage_));

  std::string bye_text =
      "BYE sip:b2bua@192.0.2.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-bye\r\n"
      "From: <sip:1001@pbx.example.test>;tag=alice-tag\r\n"
      "To: <sip:1002@pbx.example.test>;tag=ours\r\n"
      "Call-ID: dialog-call-1@192.0.2.10\r\n"
      "CSeq: 11 BYE\r\n"
      "Content-Length: 0\r\n\r\n";
  Message bye = parse(bye_text);
  ASSERT_NE(table_.find_for_request(bye), nullptr);
  EXPECT_EQ(table_.find_for_request(bye)->dialog, &dialog);
  EXPECT_EQ(table_.find_for_request(bye)->usage, &usage_);
  EXPECT_EQ(table_.find_for_response(bye), nullptr);  // the tags the other way round
  EXPECT_EQ(table_.find({"dialog-call-1@192.0.2.10", "ours", "alice-tag"})->dialog, &dialog);
  EXPECT_EQ(table_.find({"dialog-call-1@192.0.2.10", "ours", "other"}), nullptr);
  EXPECT_EQ(table_.find_for_request(invite_), nullptr);  // no To tag: outside any dialog

  // Our own BYE's response comes back with our tag in From.
  Message our_bye =
      parse(dialog.make_request(Method::Bye, "SIP/2.0/UDP h;branch=z9hG4bK-x").finish());
  EXPECT_EQ(table_.find_for_response(response(our_bye, 200, ""))->dialog, &dialog);
  EXPECT_TRUE(table_.erase(dialog.id()));  // the id views the dialog's own strings
  EXPECT_FALSE(table_.erase(dialog.id()));
  EXPECT_TRUE(table_.empty());
}

TEST_F(DialogSetTest, TheTableRefusesASecondDialogWithTheSameId) {
  auto first = Dialog::create_uas(invite_, "ours", kOurContact, DialogState::Early);
  auto again = Dialog::create_uas(invite_, "ours", kOurContact, DialogState::Early);
  auto second = Dialog::create_uas(invite_, "second", kOurContact, DialogState::Early);
  CountingUsage other;
  EXPECT_TRUE(table_.insert(**first, usage_));
  EXPECT_FALSE(table_.insert(**again, other));
  EXPECT_EQ(table_.find((*again)->id())->dialog, first->get());  // the first keeps its place
  EXPECT_TRUE(table_.insert(**second, other));
  EXPECT_EQ(table_.size(), 2u);
}

}  // namespace
}  // namespace catchline::sip::dialog::testing
