#include "sip/transport/reject.h"

#include <string>

#include <gtest/gtest.h>

namespace catchline::sip::transport {
namespace {

using boost::asio::ip::make_address;

const Peer kSource{Protocol::Udp, make_address("198.51.100.7"), 40000, 0, 1};

// Call-ID is missing: the parser refuses it, but Via and CSeq are readable.
const std::string kNoCallId =
    "INVITE sip:1002@pbx.example.test SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK74bf9;rport\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKold, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKolder\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"Alice\" <sip:1001@pbx.example.test>;tag=9fxced76sl\r\n"
    "To: <sip:1002@pbx.example.test;user=phone>\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

TEST(RejectUnparsed, AnswersWithTheReasonAndTheCopiedHeaders) {
  auto rejection = reject_unparsed(kNoCallId, 400, "Missing Call-ID", kSource);
  ASSERT_TRUE(rejection);
  const std::string& text = rejection->response;
  EXPECT_EQ(text.rfind("SIP/2.0 400 Missing Call-ID\r\n", 0), 0u) << text;
  EXPECT_NE(text.find("\r\nVia: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK74bf9;rport=40000;"
                      "received=198.51.100.7\r\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKold, SIP/2.0/UDP "
                      "10.0.0.2;branch=z9hG4bKolder\r\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\r\nFrom: \"Alice\" <sip:1001@pbx.example.test>;tag=9fxced76sl\r\n"),
            std::string::npos);
  EXPECT_NE(text.find("\r\nTo: <sip:1002@pbx.example.test;user=phone>;tag="), std::string::npos);
  EXPECT_NE(text.find("\r\nCSeq: 314159 INVITE\r\n"), std::string::npos);
  EXPECT_EQ(text.find("\r\nCall-ID:"), std::string::npos);
  EXPECT_TRUE(text.ends_with("\r\nContent-Length: 0\r\n\r\n")) << text;
}

TEST(RejectUnparsed, SendsToTheSourcePortWhenRportWasAsked) {
  auto rejection = reject_unparsed(kNoCallId, 400, "Missing Call-ID", kSource);
  ASSERT_TRUE(rejection);
  EXPECT_EQ(rejection->target, (Peer{Protocol::Udp, kSource.address, 40000, 0, 1}));
}

TEST(RejectUnparsed, SendsToTheSentByPortWithoutRport) {
  std::string request =
      "OPTIONS sip:pbx.example.test SIP/2.0\r\n"
      "v: SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bK1\r\n"
      "f: <sip:1001@pbx.example.test>;tag=1\r\n"
      "t: <sip:pbx.example.test>;tag=existing\r\n"
      "i: abc@host\r\n"
      "CSeq: 1 OPTIONS\r\n"
      "\r\n";
  auto rejection = reject_unparsed(request, 400, "Bad Max-Forwards", kSource);
  ASSERT_TRUE(rejection);
  EXPECT_EQ(rejection->target.port, 5070);
  const std::string& text = rejection->response;
  // Sent-by equals the source address: no received parameter (RFC 3261 §18.2.1).
  EXPECT_NE(text.find("\r\nVia: SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bK1\r\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\r\nTo: <sip:pbx.example.test>;tag=existing\r\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\r\nCall-ID: abc@host\r\n"), std::string::npos);
}

TEST(RejectUnparsed, LeavesControlCharactersOutOfTheCopiedHeaders) {
  // Refused for the NUL in From ("Bad From: control character"): the answer carries none back.
  using namespace std::string_literals;
  std::string request = kNoCallId;
  request.replace(request.find("\"Alice\""), 7, "\"Al\0i\x1b\x7f\x01"s + "ce\"");
  request.replace(request.find("CSeq: 314159"), 12, "CSeq: 31\0"s + "4159");
  auto rejection = reject_unparsed(request, 400, "Bad From: control character", kSource);
  ASSERT_TRUE(rejection);
  const std::string& text = rejection->response;
  EXPECT_NE(text.find("\r\nFrom: \"Alice\" <sip:1001@pbx.example.test>;tag=9fxced76sl\r\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\r\nCSeq: 314159 INVITE\r\n"), std::string::npos) << text;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    EXPECT_TRUE((byte >= 0x20 && byte != 0x7F) || c == '\r' || c == '\n') << int(byte);
  }
}

TEST(RejectUnparsed, ReplacesControlCharactersInTheReason) {
  auto rejection = reject_unparsed(kNoCallId, 400, "Bad\r\nInjected: yes", kSource);
  ASSERT_TRUE(rejection);
  EXPECT_EQ(rejection->response.rfind("SIP/2.0 400 Bad  Injected: yes\r\n", 0), 0u);
}

TEST(RejectUnparsed, KeepsSizeStatuses) {
  auto rejection = reject_unparsed(kNoCallId, 513, "Message Too Large", kSource);
  ASSERT_TRUE(rejection);
  EXPECT_EQ(rejection->response.rfind("SIP/2.0 513 Message Too Large\r\n", 0), 0u);
}

TEST(RejectUnparsed, GivesNothingForWhatCannotOrMustNotBeAnswered) {
  struct Case {
    const char* name;
    std::string text;
    int status;
  };
  const Case cases[] = {
      {"an ACK", "ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 ACK\r\n\r\n",
       400},
      {"a response",
       "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\n\r\n", 400},
      {"no Via", "OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n", 400},
      {"garbage", "\x16\x03\x01\x02\x00\x01", 400},
      {"no status to answer with",
       "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 OPTIONS\r\n\r\n",
       0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_FALSE(reject_unparsed(c.text, c.status, "Bad Request", kSource));
  }
}

TEST(RejectUnparsed, AnswersAViaThatDoesNotParseAtTheSource) {
  auto rejection = reject_unparsed(
      "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h:99999;branch=z9hG4bK1\r\n"
      "CSeq: 1 OPTIONS\r\n\r\n",
      400, "Bad Via: port", kSource);
  ASSERT_TRUE(rejection);
  EXPECT_EQ(rejection->target, kSource);
  EXPECT_NE(rejection->response.find("SIP/2.0 400 Bad Via: port\r\n"), std::string::npos);
  EXPECT_NE(rejection->response.find("Via: SIP/2.0/UDP h:99999;branch=z9hG4bK1\r\n"),
            std::string::npos);
}

TEST(RejectUnparsed, WritesTheRequestMethodWhenCSeqIsMissing) {
  auto rejection = reject_unparsed(
      "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n", 400,
      "Missing header: CSeq", kSource);
  ASSERT_TRUE(rejection);
  EXPECT_NE(rejection->response.find("\r\nCSeq: 1 INVITE\r\n"), std::string::npos);
}

TEST(RejectUnparsed, AnswersOverTheSameTcpConnection) {
  Peer source{Protocol::Tcp, make_address("198.51.100.7"), 40000, 42, 0};
  auto rejection = reject_unparsed(kNoCallId, 400, "Missing Call-ID", source);
  ASSERT_TRUE(rejection);
  EXPECT_EQ(rejection->target.protocol, Protocol::Tcp);
  EXPECT_EQ(rejection->target.connection, 42u);
}

}  // namespace
}  // namespace catchline::sip::transport
