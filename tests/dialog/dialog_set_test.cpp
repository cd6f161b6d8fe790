#include "sip/dialog/dialog_set.h"

#include <gtest/gtest.h>

#include "sip/dialog/dialog_table.h"
#include "tests/dialog/dialog_fixture.h"

namespace catchline::sip::dialog::testing {
namespace {

constexpr std::string_view kOurContact = "<sip:b2bua@192.0.2.1:5060>";

TEST(DialogSet, ForkedProvisionalsMakeOneEarlyDialogPerToTag) {
  DialogTable table;
  Message invite = parse(invite_text());
  DialogSet set(invite, kOurContact);
  EXPECT_EQ(set.on_response(table, invite, response(invite, 100, "")), nullptr);
  Dialog* a = set.on_response(table, invite, response(invite, 180, "tag-a", "<sip:a@192.0.2.31>"));
  Dialog* b = set.on_response(table, invite, response(invite, 180, "tag-b", "<sip:b@192.0.2.32>"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(set.on_response(table, invite, response(invite, 183, "tag-a", "<sip:a@192.0.2.31>")),
            a);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(set.remote_tags(), (std::vector<std::string>{"tag-a", "tag-b"}));
  EXPECT_TRUE(a->early());
  EXPECT_TRUE(b->early());
  EXPECT_EQ(set.confirmed(table), nullptr);
  EXPECT_EQ(a->remote_target(), "sip:a@192.0.2.31");
  EXPECT_EQ(b->remote_target(), "sip:b@192.0.2.32");
  EXPECT_EQ(set.local_tag(), "alice-tag");
}

TEST(DialogSet, TwoHundredConfirmsItsDialogAndTheOthersCanBeDropped) {
  DialogTable table;
  Message invite = parse(invite_text());
  DialogSet set(invite, kOurContact);
  set.on_response(table, invite, response(invite, 180, "tag-a"));
  set.on_response(table, invite, response(invite, 180, "tag-b"));
  Dialog* b = set.on_response(table, invite, response(invite, 200, "tag-b"));
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->confirmed());
  EXPECT_EQ(set.confirmed(table), b);
  EXPECT_EQ(set.drop_early(table, "tag-b"), 1u);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(set.dialogs(table), (std::vector<Dialog*>{b}));
}

TEST(DialogSet, TwoHundredWithoutProvisionalCreatesAConfirmedDialog) {
  DialogTable table;
  Message invite = parse(invite_text());
  DialogSet set(invite, kOurContact);
  Dialog* dialog = set.on_response(table, invite, response(invite, 200, "tag-c"));
  ASSERT_NE(dialog, nullptr);
  EXPECT_TRUE(dialog->confirmed());
  // A second fork answering too gets a dialog of its own (the TU ACKs and BYEs it).
  Dialog* late = set.on_response(table, invite, response(invite, 200, "tag-d"));
  ASSERT_NE(late, nullptr);
  EXPECT_NE(late, dialog);
  EXPECT_EQ(set.confirmed(table), dialog);
}

TEST(DialogSet, FailureEndsEveryEarlyDialog) {
  DialogTable table;
  Message invite = parse(invite_text());
  DialogSet set(invite, kOurContact);
  set.on_response(table, invite, response(invite, 180, "tag-a"));
  set.on_response(table, invite, response(invite, 183, "tag-b"));
  EXPECT_EQ(set.on_response(table, invite, response(invite, 486, "tag-b")), nullptr);
  EXPECT_TRUE(table.empty());
  EXPECT_TRUE(set.dialogs(table).empty());
}

TEST(DialogTable, FindsRequestsByToTagAndResponsesByFromTag) {
  DialogTable table;
  Message invite = parse(invite_text());
  // We are the UAS of this INVITE: local tag "ours".
  auto uas = Dialog::create_uas(invite, "ours", kOurContact, DialogState::Confirmed);
  ASSERT_TRUE(uas);
  Dialog* dialog = table.insert(std::move(*uas));
  ASSERT_NE(dialog, nullptr);

  std::string bye_text =
      "BYE sip:b2bua@192.0.2.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-bye\r\n"
      "From: <sip:1001@pbx.example.test>;tag=alice-tag\r\n"
      "To: <sip:1002@pbx.example.test>;tag=ours\r\n"
      "Call-ID: dialog-call-1@192.0.2.10\r\n"
      "CSeq: 11 BYE\r\n"
      "Content-Length: 0\r\n\r\n";
  Message bye = parse(bye_text);
  EXPECT_EQ(table.find_for_request(bye), dialog);
  EXPECT_EQ(table.find_for_response(bye), nullptr);  // the tags the other way round
  EXPECT_EQ(table.find({"dialog-call-1@192.0.2.10", "ours", "alice-tag"}), dialog);
  EXPECT_EQ(table.find({"dialog-call-1@192.0.2.10", "ours", "other"}), nullptr);
  EXPECT_EQ(table.find_for_request(invite), nullptr);  // no To tag: outside any dialog

  // Our own BYE's response comes back with our tag in From.
  Message our_bye =
      parse(dialog->make_request(Method::Bye, "SIP/2.0/UDP h;branch=z9hG4bK-x").finish());
  EXPECT_EQ(table.find_for_response(response(our_bye, 200, "")), dialog);
}

TEST(DialogTable, RefusesDuplicatesAndErases) {
  DialogTable table;
  Message invite = parse(invite_text());
  ASSERT_NE(
      table.insert(std::move(*Dialog::create_uas(invite, "ours", kOurContact, DialogState::Early))),
      nullptr);
  EXPECT_EQ(
      table.insert(std::move(*Dialog::create_uas(invite, "ours", kOurContact, DialogState::Early))),
      nullptr);
  EXPECT_EQ(table.size(), 1u);
  ASSERT_NE(table.insert(
                std::move(*Dialog::create_uas(invite, "second", kOurContact, DialogState::Early))),
            nullptr);
  table.find({"dialog-call-1@192.0.2.10", "second", "alice-tag"})->terminate();
  EXPECT_EQ(table.erase_terminated(), 1u);
  EXPECT_TRUE(table.erase({"dialog-call-1@192.0.2.10", "ours", "alice-tag"}));
  EXPECT_FALSE(table.erase({"dialog-call-1@192.0.2.10", "ours", "alice-tag"}));
  EXPECT_TRUE(table.empty());
}

TEST(DialogTable, EraseWithTheDialogsOwnIdIsSafe) {
  DialogTable table;
  Message invite = parse(invite_text());
  Dialog* dialog =
      table.insert(std::move(*Dialog::create_uas(invite, "ours", kOurContact, DialogState::Early)));
  ASSERT_NE(dialog, nullptr);
  EXPECT_TRUE(table.erase(dialog->id()));  // the id views the dialog being destroyed
  EXPECT_TRUE(table.empty());
}

}  // namespace
}  // namespace catchline::sip::dialog::testing
