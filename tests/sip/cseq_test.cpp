#include "sip/headers/cseq.h"

#include <gtest/gtest.h>

namespace catchline::sip {
namespace {

TEST(CSeqParser, ReadsNumberAndMethod) {
  auto cseq = parse_cseq("4711 INVITE");
  ASSERT_TRUE(cseq);
  EXPECT_EQ(cseq->number, 4711u);
  EXPECT_EQ(cseq->method, Method::Invite);
  EXPECT_EQ(cseq->method_name, "INVITE");
}

TEST(CSeqParser, AcceptsFoldingAndLeadingZeros) {
  auto cseq = parse_cseq("0009\r\n  INVITE");
  ASSERT_TRUE(cseq);
  EXPECT_EQ(cseq->number, 9u);
  EXPECT_EQ(cseq->method, Method::Invite);
}

TEST(CSeqParser, KeepsUnknownMethodsAsText) {
  auto cseq = parse_cseq("29344 RE%47IST%45R");
  ASSERT_TRUE(cseq);
  EXPECT_EQ(cseq->method, Method::Other);
  EXPECT_EQ(cseq->method_name, "RE%47IST%45R");
}

TEST(CSeqParser, RejectsValueWithoutMethod) {
  auto cseq = parse_cseq("4711");
  ASSERT_FALSE(cseq);
  EXPECT_EQ(cseq.error().reason, "Bad CSeq: no method");
  EXPECT_EQ(cseq.error().status, 400);
}

TEST(CSeqParser, RejectsBadValuesWithReasons) {
  struct Case {
    std::string_view value;
    std::string_view reason;
  };
  const Case cases[] = {
      {"", "Bad CSeq: number"},
      {"INVITE", "Bad CSeq: number"},
      {"-1 INVITE", "Bad CSeq: number"},
      {"2147483648 INVITE", "Bad CSeq: number"},
      {"36893488147419103232 REGISTER", "Bad CSeq: number"},
      {"12INVITE", "Bad CSeq: number"},
      {"1 ", "Bad CSeq: no method"},
      {"1 INV ITE", "Bad CSeq: method"},
      {"1 INVITE;x", "Bad CSeq: method"},
  };
  for (const Case& c : cases) {
    auto cseq = parse_cseq(c.value);
    ASSERT_FALSE(cseq) << c.value;
    EXPECT_EQ(cseq.error().reason, c.reason) << c.value;
  }
}

TEST(CSeqParser, AcceptsTheLargestAllowedNumber) {
  auto cseq = parse_cseq("2147483647 BYE");
  ASSERT_TRUE(cseq);
  EXPECT_EQ(cseq->number, 2147483647u);
  EXPECT_EQ(cseq->method, Method::Bye);
}

}  // namespace
}  // namespace catchline::sip
