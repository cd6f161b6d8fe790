#include "sip/message.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace catchline::sip {
namespace {

constexpr std::string_view kOptions =
    "OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\r\n"
    "Max-Forwards: 70\r\n"
    "To: <sip:carol@chicago.example.com>\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710\r\n"
    "CSeq: 63104 OPTIONS\r\n"
    "Route: <sip:p1.example.com;lr>\r\n"
    "Route: <sip:p2.example.com;lr>, <sip:p3.example.com;lr>\r\n"
    "X-Custom: one\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "body";

TEST(MethodNames, RoundTripEveryKnownMethod) {
  for (int i = 0; i < static_cast<int>(Method::Other); ++i) {
    auto method = static_cast<Method>(i);
    std::string_view name = method_name(method);
    ASSERT_FALSE(name.empty());
    EXPECT_EQ(method_from_name(name), method) << name;
  }
  EXPECT_EQ(method_name(Method::Other), "");
}

TEST(MethodNames, AreCaseSensitive) {
  EXPECT_EQ(method_from_name("INVITE"), Method::Invite);
  EXPECT_EQ(method_from_name("invite"), Method::Other);
  EXPECT_EQ(method_from_name("INVITEX"), Method::Other);
  EXPECT_EQ(method_from_name(""), Method::Other);
  EXPECT_EQ(method_from_name("NEWMETHOD"), Method::Other);
}

TEST(HeaderNames, RoundTripEveryKnownHeaderInAnyCase) {
  for (int i = 1; i < static_cast<int>(Header::Count); ++i) {
    auto header = static_cast<Header>(i);
    std::string name(header_name(header));
    ASSERT_FALSE(name.empty()) << i;
    EXPECT_EQ(header_from_name(name), header) << name;
    std::string upper;
    std::string lower;
    for (char c : name) {
      upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    EXPECT_EQ(header_from_name(upper), header) << upper;
    EXPECT_EQ(header_from_name(lower), header) << lower;
  }
  EXPECT_EQ(header_name(Header::Other), "");
  EXPECT_EQ(header_name(Header::CallId), "Call-ID");
  EXPECT_EQ(header_name(Header::WwwAuthenticate), "WWW-Authenticate");
}

TEST(HeaderNames, KnowTheCompactForms) {
  const std::pair<std::string_view, Header> forms[] = {
      {"i", Header::CallId},
      {"m", Header::Contact},
      {"f", Header::From},
      {"t", Header::To},
      {"v", Header::Via},
      {"l", Header::ContentLength},
      {"c", Header::ContentType},
      {"k", Header::Supported},
      {"s", Header::Subject},
      {"e", Header::ContentEncoding},
      {"o", Header::Event},
      {"u", Header::AllowEvents},
      {"r", Header::ReferTo},
      {"x", Header::SessionExpires},
      {"b", Header::ReferredBy},
      {"y", Header::Identity},
      {"a", Header::AcceptContact},
      {"j", Header::RejectContact},
      {"d", Header::RequestDisposition},
      {"n", Header::IdentityInfo},
  };
  for (const auto& [name, header] : forms) {
    EXPECT_EQ(header_from_name(name), header) << name;
    std::string upper(1, static_cast<char>(std::toupper(static_cast<unsigned char>(name[0]))));
    EXPECT_EQ(header_from_name(upper), header) << upper;
  }
}

TEST(HeaderNames, LeaveUnknownNamesAsOther) {
  for (std::string_view name : {"", "q", "X-Custom", "C%6Fntact", "Contacts", "Via-", "Vi",
                                "ViaViaViaViaViaViaViaViaViaViaViaViaViaVia"}) {
    EXPECT_EQ(header_from_name(name), Header::Other) << name;
  }
}

TEST(Message, ListsHeadersInOrderWithNamesAndValuesAsReceived) {
  auto message = parse_message_view(kOptions);
  ASSERT_TRUE(message) << message.error().reason;
  std::vector<std::string> names;
  for (const HeaderField& field : message->headers()) {
    names.emplace_back(message->view(field.name));
  }
  std::vector<std::string> expected{"Via",  "Max-Forwards", "To",    "From",     "Call-ID",
                                    "CSeq", "Route",        "Route", "X-Custom", "Content-Length"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(message->headers()[8].id, Header::Other);
  EXPECT_EQ(message->view(message->headers()[8].value), "one");
}

TEST(Message, CountsAndVisitsHeaderLinesOfAKind) {
  auto message = parse_message_view(kOptions);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->header_count(Header::Route), 2u);
  EXPECT_EQ(message->header_count(Header::Contact), 0u);
  std::vector<std::string> routes;
  message->for_each_value(Header::Route,
                          [&](std::string_view value) { routes.emplace_back(value); });
  std::vector<std::string> expected{"<sip:p1.example.com;lr>",
                                    "<sip:p2.example.com;lr>, <sip:p3.example.com;lr>"};
  EXPECT_EQ(routes, expected);

  int visited = 0;
  message->for_each_value(Header::Route, [&](std::string_view) {
    ++visited;
    return false;
  });
  EXPECT_EQ(visited, 1);
}

TEST(Message, LooksUpHeadersByNameIncludingUnknownOnes) {
  auto message = parse_message_view(kOptions);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->header_value("x-custom"), "one");
  EXPECT_EQ(message->header_value("route"), "<sip:p1.example.com;lr>");
  EXPECT_EQ(message->header_value(Header::Route), "<sip:p1.example.com;lr>");
  EXPECT_FALSE(message->header_value(Header::Contact));
  EXPECT_FALSE(message->header_value("X-Other"));
}

TEST(Message, StaysValidWhenCopiedOrMoved) {
  std::string text(kOptions);
  auto parsed = parse_message(text);
  ASSERT_TRUE(parsed);
  Message copy = *parsed;
  Message moved = std::move(*parsed);
  for (const Message* message : {&copy, &moved}) {
    EXPECT_EQ(message->call_id(), "a84b4c76e66710");
    EXPECT_EQ(message->branch(), "z9hG4bKhjhs8ass877");
    EXPECT_EQ(message->body(), "body");
    EXPECT_EQ(message->header_value("X-Custom"), "one");
    EXPECT_EQ(message->raw(), kOptions);
  }
  EXPECT_NE(copy.raw().data(), moved.raw().data());
  EXPECT_EQ(parsed->raw(), "");
  EXPECT_EQ(parsed->call_id(), "");
  EXPECT_TRUE(parsed->headers().empty());

  Message assigned;
  assigned = copy;
  EXPECT_EQ(assigned.from_tag(), "1928301774");
  assigned = std::move(moved);
  EXPECT_EQ(assigned.cseq_number(), 63104u);
}

TEST(Message, TakesOwnershipOfBorrowedText) {
  std::string buffer(kOptions);
  auto parsed = parse_message_view(buffer);
  ASSERT_TRUE(parsed);
  Message message = std::move(*parsed);
  EXPECT_FALSE(message.owns_text());
  EXPECT_EQ(message.raw().data(), buffer.data());
  message.take_ownership();
  EXPECT_TRUE(message.owns_text());
  buffer.assign(buffer.size(), 'x');
  EXPECT_EQ(message.call_id(), "a84b4c76e66710");
  EXPECT_EQ(message.raw(), kOptions);
}

TEST(Message, DefaultConstructedIsEmpty) {
  Message message;
  EXPECT_TRUE(message.is_request());
  EXPECT_EQ(message.raw(), "");
  EXPECT_TRUE(message.headers().empty());
  EXPECT_FALSE(message.header_value(Header::Via));
  EXPECT_FALSE(message.max_forwards());
}

}  // namespace
}  // namespace catchline::sip
