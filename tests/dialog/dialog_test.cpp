#include "sip/dialog/dialog.h"

#include <gtest/gtest.h>

#include <string>

#include "sip/headers/params.h"
#include "tests/dialog/dialog_fixture.h"

namespace catchline::sip::dialog::testing {
namespace {

constexpr std::string_view kVia = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-new;rport";
constexpr std::string_view kOurContact = "<sip:b2bua@192.0.2.1:5060>";

// The caller's INVITE arrived through two record-routing proxies: the UAS keeps their order.
Message routed_invite() {
  return parse(
      invite_text("Record-Route: <sip:p1.example.test;lr>\r\n"
                  "Record-Route: <sip:p2.example.test;lr;ftag=x>, <sip:p3.example.test;lr>\r\n"));
}

std::unique_ptr<Dialog> uas_dialog(const Message& invite,
                                   DialogState state = DialogState::Confirmed) {
  auto dialog = Dialog::create_uas(invite, "uas-tag", kOurContact, state);
  EXPECT_TRUE(dialog) << (dialog ? "" : dialog.error().reason);
  return dialog ? std::move(*dialog) : nullptr;
}

std::unique_ptr<Dialog> uac_dialog(const Message& invite, const Message& response) {
  auto dialog = Dialog::create_uac(invite, response, kOurContact);
  EXPECT_TRUE(dialog) << (dialog ? "" : dialog.error().reason);
  return dialog ? std::move(*dialog) : nullptr;
}

std::vector<std::string> route_entries(const Message& request) {
  std::vector<std::string> entries;
  request.for_each_value(Header::Route, [&](std::string_view value) {
    HeaderList list(value);
    while (auto entry = list.next()) {
      entries.emplace_back(*entry);
    }
  });
  return entries;
}

TEST(UasDialog, TakesItsStateFromTheRequest) {
  Message invite = routed_invite();
  auto dialog = uas_dialog(invite, DialogState::Early);
  ASSERT_NE(dialog, nullptr);
  EXPECT_EQ(dialog->role(), DialogRole::Uas);
  EXPECT_TRUE(dialog->early());
  EXPECT_EQ(dialog->call_id(), "dialog-call-1@192.0.2.10");
  EXPECT_EQ(dialog->local_tag(), "uas-tag");
  EXPECT_EQ(dialog->remote_tag(), "alice-tag");
  EXPECT_EQ(dialog->local_party(), "<sip:1002@pbx.example.test>;tag=uas-tag");
  EXPECT_EQ(dialog->remote_party(), "\"Alice\" <sip:1001@pbx.example.test>;tag=alice-tag");
  EXPECT_EQ(dialog->remote_target(), "sip:1001@192.0.2.10:5060;transport=udp");
  EXPECT_EQ(dialog->remote_cseq(), 10u);
  EXPECT_EQ(dialog->local_cseq(), 0u);
  EXPECT_FALSE(dialog->secure());
  EXPECT_TRUE(dialog->has_invite_usage());
  EXPECT_EQ(dialog->route_set(),
            (std::vector<std::string>{"<sip:p1.example.test;lr>", "<sip:p2.example.test;lr;ftag=x>",
                                      "<sip:p3.example.test;lr>"}));
  EXPECT_EQ(dialog->next_hop(), "sip:p1.example.test;lr");
  dialog->confirm();
  EXPECT_TRUE(dialog->confirmed());
}

TEST(UasDialog, ByeFollowsTheRouteSetInOrder) {
  Message invite = routed_invite();
  auto dialog = uas_dialog(invite);
  Message bye = parse(dialog->make_request(Method::Bye, kVia).finish());
  EXPECT_EQ(bye.method(), Method::Bye);
  // Loose routing (§12.2.1.1): the Request-URI is the remote target, Route the route set.
  EXPECT_EQ(bye.request_uri(), "sip:1001@192.0.2.10:5060;transport=udp");
  EXPECT_EQ(route_entries(bye),
            (std::vector<std::string>{"<sip:p1.example.test;lr>", "<sip:p2.example.test;lr;ftag=x>",
                                      "<sip:p3.example.test;lr>"}));
  EXPECT_EQ(bye.from_tag(), "uas-tag");
  EXPECT_EQ(bye.to_tag(), "alice-tag");
  EXPECT_EQ(bye.header_value(Header::From), "<sip:1002@pbx.example.test>;tag=uas-tag");
  EXPECT_EQ(bye.call_id(), "dialog-call-1@192.0.2.10");
  EXPECT_EQ(bye.cseq_number(), 1u);  // the UAS's first request
  EXPECT_EQ(bye.cseq_method(), Method::Bye);
  EXPECT_EQ(bye.top_via(), kVia);
  EXPECT_EQ(bye.max_forwards(), 70);
  EXPECT_FALSE(bye.header_value(Header::Contact).has_value());
  EXPECT_EQ(dialog->local_cseq(), 1u);
}

TEST(UasDialog, WithoutContactIsRefused) {
  std::string text = invite_text();
  text.erase(text.find("Contact:"),
             text.find("\r\n", text.find("Contact:")) + 2 - text.find("Contact:"));
  Message invite = parse(text);
  auto dialog = Dialog::create_uas(invite, "t", kOurContact, DialogState::Early);
  ASSERT_FALSE(dialog);
  EXPECT_EQ(dialog.error().status, 400);
}

TEST(UasDialog, SipsRequestUriMakesItSecure) {
  Message invite = parse(invite_text({}, "sips:1002@192.0.2.20"));
  EXPECT_TRUE(uas_dialog(invite)->secure());
}

TEST(UacDialog, ReversesTheRecordRouteOfTheResponse) {
  Message invite = parse(invite_text());
  Message ok = response(invite, 200, "bob-tag", "<sip:1002@192.0.2.20:5062>", "Record-Route",
                        "<sip:p1.example.test;lr>, <sip:p2.example.test;lr>");
  auto dialog = uac_dialog(invite, ok);
  ASSERT_NE(dialog, nullptr);
  EXPECT_EQ(dialog->role(), DialogRole::Uac);
  EXPECT_TRUE(dialog->confirmed());
  EXPECT_EQ(dialog->local_tag(), "alice-tag");
  EXPECT_EQ(dialog->remote_tag(), "bob-tag");
  EXPECT_EQ(dialog->local_cseq(), 10u);
  EXPECT_EQ(dialog->remote_cseq(), 0u);
  EXPECT_EQ(dialog->remote_target(), "sip:1002@192.0.2.20:5062");
  EXPECT_EQ(dialog->route_set(),
            (std::vector<std::string>{"<sip:p2.example.test;lr>", "<sip:p1.example.test;lr>"}));

  Message bye = parse(dialog->make_request(Method::Bye, kVia).finish());
  EXPECT_EQ(bye.request_uri(), "sip:1002@192.0.2.20:5062");
  EXPECT_EQ(route_entries(bye),
            (std::vector<std::string>{"<sip:p2.example.test;lr>", "<sip:p1.example.test;lr>"}));
  EXPECT_EQ(bye.header_value(Header::From), "\"Alice\" <sip:1001@pbx.example.test>;tag=alice-tag");
  EXPECT_EQ(bye.to_tag(), "bob-tag");
  EXPECT_EQ(bye.cseq_number(), 11u);  // one above the INVITE's
}

TEST(UacDialog, WithoutRouteSetGoesStraightToTheTarget) {
  Message invite = parse(invite_text());
  auto dialog = uac_dialog(invite, response(invite, 200, "bob-tag"));
  Message info = parse(dialog->make_request(Method::Info, kVia).finish());
  EXPECT_EQ(info.request_uri(), "sip:1002@192.0.2.20:5062");
  EXPECT_FALSE(info.header_value(Header::Route).has_value());
  EXPECT_EQ(dialog->next_hop(), "sip:1002@192.0.2.20:5062");
}

TEST(UacDialog, StrictRouterGetsTheRequestUri) {
  Message invite = parse(invite_text());
  // The first route lacks lr: an RFC 2543 strict router (§12.2.1.1).
  Message ok = response(invite, 200, "bob-tag", "<sip:1002@192.0.2.20:5062>", "Record-Route",
                        "<sip:p1.example.test;lr>, <sip:strict.example.test;method=INVITE?x=y>");
  auto dialog = uac_dialog(invite, ok);
  Message bye = parse(dialog->make_request(Method::Bye, kVia).finish());
  EXPECT_EQ(bye.request_uri(), "sip:strict.example.test");
  EXPECT_EQ(route_entries(bye),
            (std::vector<std::string>{"<sip:p1.example.test;lr>", "<sip:1002@192.0.2.20:5062>"}));
  EXPECT_EQ(dialog->next_hop(), "sip:strict.example.test;method=INVITE?x=y");
}

TEST(UacDialog, AckForTwoHundredCarriesTheInviteCSeqAndConsumesNone) {
  Message invite = parse(invite_text({}, "sip:1002@192.0.2.20", 42));
  auto dialog = uac_dialog(invite, response(invite, 200, "bob-tag"));
  Message ack = parse(dialog->make_ack(42, kVia).finish());
  EXPECT_EQ(ack.method(), Method::Ack);
  EXPECT_EQ(ack.cseq_number(), 42u);
  EXPECT_EQ(ack.cseq_method(), Method::Ack);
  EXPECT_EQ(ack.request_uri(), "sip:1002@192.0.2.20:5062");
  EXPECT_EQ(ack.to_tag(), "bob-tag");
  EXPECT_FALSE(ack.header_value(Header::Contact).has_value());
  Message bye = parse(dialog->make_request(Method::Bye, kVia).finish());
  EXPECT_EQ(bye.cseq_number(), 43u);
}

TEST(UacDialog, TargetRefreshMethodsCarryContact) {
  Message invite = parse(invite_text());
  auto dialog = uac_dialog(invite, response(invite, 200, "bob-tag"));
  for (Method method :
       {Method::Invite, Method::Update, Method::Notify, Method::Subscribe, Method::Refer}) {
    Message request = parse(dialog->make_request(method, kVia).finish());
    EXPECT_EQ(request.header_value(Header::Contact), kOurContact) << method_name(method);
  }
  for (Method method : {Method::Bye, Method::Info, Method::Message}) {
    Message request = parse(dialog->make_request(method, kVia).finish());
    EXPECT_FALSE(request.header_value(Header::Contact).has_value()) << method_name(method);
  }
  EXPECT_EQ(dialog->local_cseq(), 18u);  // 10 + eight requests
}

TEST(UacDialog, EarlyDialogIsConfirmedAndRecomputedByTheTwoHundred) {
  Message invite = parse(invite_text());
  Message ringing = response(invite, 180, "bob-tag", "<sip:early@192.0.2.20>", "Record-Route",
                             "<sip:p1.example.test;lr>");
  auto dialog = uac_dialog(invite, ringing);
  ASSERT_NE(dialog, nullptr);
  EXPECT_TRUE(dialog->early());
  EXPECT_EQ(dialog->remote_target(), "sip:early@192.0.2.20");

  dialog->on_response(response(invite, 183, "bob-tag", "<sip:progress@192.0.2.20>"));
  EXPECT_EQ(dialog->remote_target(), "sip:progress@192.0.2.20");

  Message ok = response(invite, 200, "bob-tag", "<sip:final@192.0.2.20>", "Record-Route",
                        "<sip:p1.example.test;lr>, <sip:p2.example.test;lr>");
  dialog->on_response(ok);
  EXPECT_TRUE(dialog->confirmed());
  EXPECT_EQ(dialog->remote_target(), "sip:final@192.0.2.20");
  EXPECT_EQ(dialog->route_set(),
            (std::vector<std::string>{"<sip:p2.example.test;lr>", "<sip:p1.example.test;lr>"}));
  // A retransmitted 2xx changes nothing.
  dialog->on_response(response(invite, 200, "bob-tag", "<sip:other@192.0.2.20>"));
  EXPECT_EQ(dialog->remote_target(), "sip:final@192.0.2.20");
}

TEST(UacDialog, EarlyDialogWithoutContactTargetsTheRequestUriUntilOneComes) {
  Message invite = parse(invite_text());
  auto dialog = uac_dialog(invite, response(invite, 180, "bob-tag", ""));
  ASSERT_NE(dialog, nullptr);
  EXPECT_EQ(dialog->remote_target(), invite.request_uri());
  dialog->on_response(response(invite, 200, "bob-tag", "<sip:final@192.0.2.20>"));
  EXPECT_EQ(dialog->remote_target(), "sip:final@192.0.2.20");
}

// A 2xx without Contact breaks §12.1.1; the ACK and BYE still need a Request-URI.
TEST(UacDialog, AnswerWithoutContactKeepsTheEarlyTarget) {
  Message invite = parse(invite_text());
  auto dialog = uac_dialog(invite, response(invite, 180, "bob-tag", ""));
  ASSERT_NE(dialog, nullptr);
  dialog->on_response(response(invite, 200, "bob-tag", ""));
  EXPECT_EQ(dialog->remote_target(), invite.request_uri());
  EXPECT_TRUE(dialog->make_request(Method::Bye, "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKb")
                  .finish()
                  .starts_with("BYE " + std::string(invite.request_uri()) + " SIP/2.0\r\n"));
}

TEST(UacDialog, EarlyDialogEndsWithAFailure) {
  Message invite = parse(invite_text());
  auto dialog = uac_dialog(invite, response(invite, 180, "bob-tag"));
  dialog->on_response(response(invite, 486, "bob-tag"));
  EXPECT_TRUE(dialog->terminated());
  EXPECT_FALSE(dialog->has_invite_usage());
}

TEST(UacDialog, ResponsesThatMakeNoDialogAreRefused) {
  Message invite = parse(invite_text());
  EXPECT_FALSE(Dialog::create_uac(invite, response(invite, 180, ""), kOurContact));
  EXPECT_FALSE(Dialog::create_uac(invite, response(invite, 100, ""), kOurContact));
  EXPECT_FALSE(Dialog::create_uac(invite, response(invite, 404, "t"), kOurContact));
  EXPECT_FALSE(Dialog::create_uac(invite, response(invite, 200, "t", ""), kOurContact));
}

TEST(DialogRequests, LowerCSeqIsOutOfOrder) {
  Message invite = routed_invite();  // CSeq 10
  auto dialog = uas_dialog(invite);
  auto in_dialog = [](std::string_view method, std::uint32_t cseq) {
    return parse(std::string(method) +
                 " sip:1002@192.0.2.1 SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-" +
                 std::to_string(cseq) +
                 "\r\n"
                 "From: <sip:1001@pbx.example.test>;tag=alice-tag\r\n"
                 "To: <sip:1002@pbx.example.test>;tag=uas-tag\r\n"
                 "Call-ID: dialog-call-1@192.0.2.10\r\n"
                 "CSeq: " +
                 std::to_string(cseq) + " " + std::string(method) +
                 "\r\n"
                 "Content-Length: 0\r\n\r\n");
  };
  EXPECT_TRUE(dialog->accept_request(in_dialog("ACK", 10)));
  EXPECT_TRUE(dialog->accept_request(in_dialog("INFO", 11)));
  EXPECT_EQ(dialog->remote_cseq(), 11u);
  EXPECT_FALSE(dialog->accept_request(in_dialog("INFO", 9)));  // §12.2.2: 500
  EXPECT_EQ(dialog->remote_cseq(), 11u);
  EXPECT_TRUE(dialog->accept_request(in_dialog("BYE", 20)));  // gaps are fine
  EXPECT_TRUE(dialog->accept_request(in_dialog("CANCEL", 10)));
}

TEST(DialogRequests, UacTakesTheFirstRemoteCSeqAsItComes) {
  Message invite = parse(invite_text());
  auto dialog = uac_dialog(invite, response(invite, 200, "bob-tag"));
  std::string bye =
      "BYE sip:1001@192.0.2.10 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.20:5062;branch=z9hG4bK-b\r\n"
      "From: <sip:1002@pbx.example.test>;tag=bob-tag\r\n"
      "To: <sip:1001@pbx.example.test>;tag=alice-tag\r\n"
      "Call-ID: dialog-call-1@192.0.2.10\r\n"
      "CSeq: 5 BYE\r\n"
      "Content-Length: 0\r\n\r\n";
  EXPECT_TRUE(dialog->accept_request(parse(bye)));
  EXPECT_EQ(dialog->remote_cseq(), 5u);
}

TEST(DialogRequests, TargetRefreshReplacesTheRemoteTarget) {
  Message invite = routed_invite();
  auto dialog = uas_dialog(invite);
  std::string reinvite = invite_text({}, "sip:1002@192.0.2.1", 11);
  reinvite.replace(reinvite.find("<sip:1001@192.0.2.10:5060;transport=udp>"),
                   std::string_view("<sip:1001@192.0.2.10:5060;transport=udp>").size(),
                   "<sip:1001@198.51.100.7:5070>");
  dialog->refresh_target(parse(reinvite));
  EXPECT_EQ(dialog->remote_target(), "sip:1001@198.51.100.7:5070");
  Message bye = parse(dialog->make_request(Method::Bye, kVia).finish());
  EXPECT_EQ(bye.request_uri(), "sip:1001@198.51.100.7:5070");
  // A message without Contact leaves the target alone.
  dialog->refresh_target(response(invite, 200, "x", ""));
  EXPECT_EQ(dialog->remote_target(), "sip:1001@198.51.100.7:5070");
}

}  // namespace
}  // namespace catchline::sip::dialog::testing
