#include "pbx/registrar/registrar.h"

#include <gtest/gtest.h>

#include "base/clock.h"
#include "sip/message.h"

namespace catchline::pbx {
namespace {

using namespace std::chrono_literals;

std::string register_text(std::string_view contact, std::string_view expires_header,
                          std::uint32_t cseq, std::string_view call_id = "reg-1@phone") {
  std::string text =
      "REGISTER sip:pbx.example.test SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK" +
      std::to_string(cseq) +
      "\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:1001@pbx.example.test>;tag=f1\r\n"
      "To: <sip:1001@pbx.example.test>\r\n"
      "Call-ID: " +
      std::string(call_id) +
      "\r\n"
      "CSeq: " +
      std::to_string(cseq) + " REGISTER\r\n";
  if (!contact.empty()) {
    text += "Contact: " + std::string(contact) + "\r\n";
  }
  if (!expires_header.empty()) {
    text += "Expires: " + std::string(expires_header) + "\r\n";
  }
  text += "Content-Length: 0\r\n\r\n";
  return text;
}

class RegistrarTest : public ::testing::Test {
 protected:
  RegisterOutcome apply(const std::string& text) {
    auto message = sip::parse_message(text);
    EXPECT_TRUE(message) << message.error().reason;
    return registrar_.apply("1001", *message, source_);
  }

  base::ManualClock clock_;
  base::TimerQueue timers_{clock_};
  Registrar registrar_{timers_, RegistrarSettings{60s, 3600s, 3600s}, nullptr};
  sip::transport::Peer source_{sip::transport::Protocol::Udp,
                               boost::asio::ip::make_address("198.51.100.7"), 40000};
};

TEST_F(RegistrarTest, BindsContactReachedAtItsSourceAddress) {
  EXPECT_EQ(apply(register_text("<sip:1001@192.0.2.10:5062>", "600", 1)).status, 200);
  const auto& bindings = registrar_.bindings("1001");
  ASSERT_EQ(bindings.size(), 1u);
  EXPECT_EQ(bindings[0].contact, "sip:1001@192.0.2.10:5062");
  // NAT: the phone is reached where its REGISTER came from, not where its Contact says.
  EXPECT_EQ(bindings[0].source, source_);
}

TEST_F(RegistrarTest, RefusesTooBriefWith423AndMinimum) {
  RegisterOutcome outcome = apply(register_text("<sip:1001@192.0.2.10:5062>", "10", 1));
  EXPECT_EQ(outcome.status, 423);
  EXPECT_EQ(outcome.min_expires, 60s);
  EXPECT_TRUE(registrar_.bindings("1001").empty());
}

TEST_F(RegistrarTest, ContactExpiresParameterWinsOverHeaderAndIsCapped) {
  EXPECT_EQ(apply(register_text("<sip:1001@192.0.2.10:5062>;expires=99999", "10", 1)).status, 200);
  sip::MessageBuilder response = sip::MessageBuilder::response(200);
  registrar_.add_contacts("1001", response);
  EXPECT_NE(response.finish().find("expires=3600"), std::string::npos);
}

TEST_F(RegistrarTest, RefreshReplacesTheSameContact) {
  apply(register_text("<sip:1001@192.0.2.10:5062>", "600", 1));
  // RFC 3261 §19.1.4: a parameter in one URI only (other than transport, user, ttl, method,
  // maddr) does not make them differ.
  apply(register_text("<sip:1001@192.0.2.10:5062;ob>", "600", 2));
  apply(register_text("<sip:1001@192.0.2.11:5062>", "600", 3));
  EXPECT_EQ(registrar_.bindings("1001").size(), 2u);
  EXPECT_EQ(registrar_.size(), 2u);
}

TEST_F(RegistrarTest, RefusesOutOfOrderCSeqOnTheSameCallId) {
  apply(register_text("<sip:1001@192.0.2.10:5062>", "600", 5));
  EXPECT_EQ(apply(register_text("<sip:1001@192.0.2.10:5062>", "0", 4)).status, 500);
  EXPECT_EQ(registrar_.bindings("1001").size(), 1u);
}

TEST_F(RegistrarTest, ExpiresZeroRemovesAndStarRemovesAll) {
  apply(register_text("<sip:1001@192.0.2.10:5062>", "600", 1));
  apply(register_text("<sip:1001@192.0.2.11:5062>", "600", 2));
  EXPECT_EQ(apply(register_text("<sip:1001@192.0.2.10:5062>", "0", 3)).status, 200);
  EXPECT_EQ(registrar_.bindings("1001").size(), 1u);
  EXPECT_EQ(apply(register_text("*", "0", 4)).status, 200);
  EXPECT_TRUE(registrar_.bindings("1001").empty());
  EXPECT_EQ(registrar_.size(), 0u);
}

TEST_F(RegistrarTest, StarNeedsExpiresZero) {
  EXPECT_EQ(apply(register_text("*", "600", 1)).status, 400);
}

TEST_F(RegistrarTest, BindingExpiresOnTheClock) {
  apply(register_text("<sip:1001@192.0.2.10:5062>", "60", 1));
  apply(register_text("<sip:1001@192.0.2.11:5062>", "120", 2));
  base::run_for(timers_, clock_, 61s);
  EXPECT_EQ(registrar_.bindings("1001").size(), 1u);
  base::run_for(timers_, clock_, 60s);
  EXPECT_TRUE(registrar_.bindings("1001").empty());
}

TEST_F(RegistrarTest, RestoreSkipsExpiredRowsAndKeepsTheSource) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  registrar_.restore({{"1002", "sip:1002@192.0.2.20", now + 300, "tcp:192.0.2.20:5070", "c", 1, ""},
                      {"1003", "sip:1003@192.0.2.30", now - 1, "udp:192.0.2.30:5060", "c", 1, ""}});
  ASSERT_EQ(registrar_.bindings("1002").size(), 1u);
  EXPECT_EQ(registrar_.bindings("1002")[0].source.protocol, sip::transport::Protocol::Tcp);
  EXPECT_EQ(registrar_.bindings("1002")[0].source.port, 5070);
  EXPECT_TRUE(registrar_.bindings("1003").empty());
}

}  // namespace
}  // namespace catchline::pbx
