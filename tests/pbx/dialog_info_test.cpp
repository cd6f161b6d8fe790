#include "pbx/blf/dialog_info.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace catchline::pbx {
namespace {

/// The callee leg of a call ringing 1002 as Pbx::view_of() builds it (DESIGN.md §5).
DialogView ringing_leg() {
  DialogView view;
  view.id = "7-1";
  view.call_id = "leg-call-id";
  view.local_tag = "phone-tag";
  view.remote_tag = "our-tag";
  view.phase = DialogPhase::Early;
  view.local_uri = "sip:1002@pbx.test";
  view.remote_display = "Alice Example";
  view.remote_uri = "sip:1001@pbx.test";
  view.remote_target = "sip:**1002@pbx.test";
  return view;
}

std::string body_of(const std::vector<DialogView>& views, std::uint32_t version = 4) {
  std::vector<const DialogView*> pointers;
  for (const DialogView& view : views) {
    pointers.push_back(&view);
  }
  return dialog_info_xml("sip:1002@pbx.test", version, pointers);
}

/// The `<dialog ...>` start tag of a body with one dialog.
std::string dialog_tag(const std::string& body) {
  auto start = body.find("<dialog ");
  return start == std::string::npos ? "" : body.substr(start, body.find('>', start) - start + 1);
}

TEST(DialogInfoXml, IdleIsOneTerminatedDialog) {
  const std::string body = body_of({}, 0);
  EXPECT_EQ(body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"0\" "
            "state=\"full\" entity=\"sip:1002@pbx.test\">\n"
            "  <dialog id=\"idle\" direction=\"recipient\">\n"
            "    <state>terminated</state>\n"
            "  </dialog>\n"
            "</dialog-info>\n");
}

TEST(DialogInfoXml, RingingLegCarriesTheIdsAPickerNeeds) {
  const std::string body = body_of({ringing_leg()});
  EXPECT_EQ(dialog_tag(body),
            "<dialog id=\"7-1\" call-id=\"leg-call-id\" local-tag=\"phone-tag\" "
            "remote-tag=\"our-tag\" direction=\"recipient\">");
  EXPECT_NE(body.find("version=\"4\" state=\"full\""), std::string::npos);
  EXPECT_NE(body.find("<state>early</state>"), std::string::npos);
  EXPECT_NE(body.find("<local>\n      <identity>sip:1002@pbx.test</identity>\n"
                      "      <target uri=\"sip:1002@pbx.test\"/>\n    </local>"),
            std::string::npos);
  EXPECT_NE(body.find("<remote>\n      <identity display=\"Alice Example\">sip:1001@pbx.test"
                      "</identity>\n      <target uri=\"sip:**1002@pbx.test\"/>\n    </remote>"),
            std::string::npos);
}

TEST(DialogInfoXml, LocalTagLeftOutUntilThePhoneGaveOne) {
  DialogView view = ringing_leg();
  view.local_tag.clear();
  EXPECT_EQ(dialog_tag(body_of({view})),
            "<dialog id=\"7-1\" call-id=\"leg-call-id\" remote-tag=\"our-tag\" "
            "direction=\"recipient\">");
}

TEST(DialogInfoXml, InitiatorDirectionForTheCallersOwnLine) {
  DialogView view = ringing_leg();
  view.initiator = true;
  EXPECT_NE(dialog_tag(body_of({view})).find("direction=\"initiator\""), std::string::npos);
}

TEST(DialogInfoXml, TerminatedCarriesItsEvent) {
  DialogView view = ringing_leg();
  view.phase = DialogPhase::Terminated;
  view.event = "cancelled";
  view.remote_target.clear();
  const std::string body = body_of({view});
  EXPECT_NE(body.find("<state event=\"cancelled\">terminated</state>"), std::string::npos);
  EXPECT_EQ(body.find("<target uri=\"sip:**"), std::string::npos);
}

TEST(DialogInfoXml, EventOnlyOnceTerminated) {
  DialogView view = ringing_leg();
  view.event = "cancelled";  // not yet: still early
  EXPECT_NE(body_of({view}).find("<state>early</state>"), std::string::npos);
}

TEST(DialogInfoXml, EachForkIsItsOwnDialog) {
  DialogView desk = ringing_leg();
  DialogView mobile = ringing_leg();
  mobile.id = "7-2";
  mobile.call_id = "other-leg";
  const std::string body = body_of({desk, mobile});
  EXPECT_NE(body.find("<dialog id=\"7-1\" call-id=\"leg-call-id\""), std::string::npos);
  EXPECT_NE(body.find("<dialog id=\"7-2\" call-id=\"other-leg\""), std::string::npos);
  EXPECT_EQ(body.find("id=\"idle\""), std::string::npos);
}

TEST(DialogInfoXml, PrivateLineHasNoRemoteIdentity) {
  DialogView view = ringing_leg();
  view.remote_display.clear();
  view.remote_uri.clear();  // blf_private
  const std::string body = body_of({view});
  EXPECT_EQ(body.find("<remote>\n      <identity"), std::string::npos);
  EXPECT_EQ(body.find("1001"), std::string::npos);
  EXPECT_NE(body.find("<remote>\n      <target uri=\"sip:**1002@pbx.test\"/>"), std::string::npos);
}

TEST(DialogInfoXml, DisplayNameWithQuotesAmpersandAndBracketsIsEscaped) {
  DialogView view = ringing_leg();
  view.remote_display = "Al \"The Boss\" O'Neil & <Co>";
  const std::string body = body_of({view});
  EXPECT_NE(body.find("display=\"Al &quot;The Boss&quot; O&apos;Neil &amp; &lt;Co&gt;\">"),
            std::string::npos)
      << body;
}

TEST(DialogInfoXml, IdentityAndTagsAreEscapedToo) {
  DialogView view = ringing_leg();
  view.remote_uri = "sip:a&b<c>@pbx.test";  // an external number, %-decoded
  view.call_id = "id\"x";
  view.local_tag = "t<1>";
  const std::string body = body_of({view});
  EXPECT_NE(body.find(">sip:a&amp;b&lt;c&gt;@pbx.test</identity>"), std::string::npos) << body;
  EXPECT_NE(body.find("call-id=\"id&quot;x\" local-tag=\"t&lt;1&gt;\""), std::string::npos) << body;
}

TEST(XmlEscape, DropsControlCharactersXmlForbids) {
  const std::string input = {'a', '\x01', 'b', '\t', 'c', '\r', '\n', 'd', '\x1f', '\0', 'e'};
  EXPECT_EQ(xml_escape(input), "ab\tc\r\nde");
}

TEST(XmlEscape, KeepsUtf8) { EXPECT_EQ(xml_escape("Zoë Åberg"), "Zoë Åberg"); }

TEST(PidfXml, OpenWithNote) {
  EXPECT_EQ(pidf_xml("sip:1002@pbx.test", true, "Ringing"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:1002@pbx.test\">\n"
            "  <tuple id=\"line\">\n"
            "    <status><basic>open</basic></status>\n"
            "    <note>Ringing</note>\n"
            "  </tuple>\n"
            "</presence>\n");
}

TEST(PidfXml, ClosedWithoutNote) {
  const std::string body = pidf_xml("sip:1002@pbx.test", false, "");
  EXPECT_NE(body.find("<basic>closed</basic>"), std::string::npos);
  EXPECT_EQ(body.find("<note>"), std::string::npos);
}

TEST(PidfXml, NoteAndEntityAreEscaped) {
  const std::string body = pidf_xml("sip:a&b@pbx.test", true, "On <the> phone & \"busy\"");
  EXPECT_NE(body.find("entity=\"sip:a&amp;b@pbx.test\""), std::string::npos) << body;
  EXPECT_NE(body.find("<note>On &lt;the&gt; phone &amp; &quot;busy&quot;</note>"),
            std::string::npos)
      << body;
}

}  // namespace
}  // namespace catchline::pbx

namespace catchline::pbx {
namespace {

TEST(XmlEscape, ReplacesBytesThatAreNotUtf8) {
  // The document declares UTF-8: a caller's name from a trunk may not be.
  EXPECT_EQ(xml_escape("\xff\xfe Evil \xc3"), "\xEF\xBF\xBD\xEF\xBF\xBD Evil \xEF\xBF\xBD");
  EXPECT_EQ(xml_escape("Zo\xc3\xab & \xe2\x82\xac"), "Zo\xc3\xab &amp; \xe2\x82\xac");
  EXPECT_EQ(xml_escape("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(xml_escape("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
}

TEST(Pidf, OnThePhoneCarriesTheRpidActivity) {
  const std::string busy = pidf_xml("sip:1002@d", true, "On the phone", true);
  EXPECT_NE(busy.find("<rpid:on-the-phone/>"), std::string::npos) << busy;
  EXPECT_NE(busy.find("xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\""), std::string::npos);
  EXPECT_EQ(pidf_xml("sip:1002@d", true, "Ringing").find("rpid"), std::string::npos);
}

}  // namespace
}  // namespace catchline::pbx
