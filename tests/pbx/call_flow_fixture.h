#pragma once

// The CallFlow fixture: phones 1001..1004, ring groups and a call record store, with
// helpers that script what a phone sends in a call (call_flow_test.cpp, transfer_test.cpp).

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sip/digest.h"
#include "sip/headers/auth.h"
#include "store/database.h"
#include "store/writer.h"
#include "tests/pbx/pbx_fixture.h"

namespace catchline::pbx::testing {

using namespace std::chrono_literals;

// The callee's SDP answer, and the two sides' offers of a re-INVITE (hold).
constexpr std::string_view kAnswer =
    "v=0\r\no=callee 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
constexpr std::string_view kHold =
    "v=0\r\no=phone 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n";
constexpr std::string_view kHeld =
    "v=0\r\no=callee 2 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=recvonly\r\n";
constexpr std::string_view kCompletedElsewhere = "SIP;cause=200;text=\"Call completed elsewhere\"";

// Long enough for every transaction timer to have run out: 64*T1 (B, F, H, J) and timer D.
constexpr base::Duration kLinger = 40s;

/// The URI inside a name-addr: "sip:1002@127.0.0.1:6001" of `"X" <sip:1002@127.0.0.1:6001>;x`.
inline std::string uri_in(std::string_view name_addr) {
  const auto open = name_addr.find('<');
  const auto close = name_addr.find('>');
  if (open == std::string_view::npos || close == std::string_view::npos) {
    return std::string(name_addr);
  }
  return std::string(name_addr.substr(open + 1, close - open - 1));
}

inline std::string header(const Message& m, sip::Header h) {
  return std::string(m.header_value(h).value_or(""));
}

inline RingGroup group(std::string number, std::vector<std::string> members,
                       RingStrategy strategy) {
  RingGroup g;
  g.number = std::move(number);
  g.name = "Group " + g.number;
  g.members = std::move(members);
  g.strategy = strategy;
  g.ring_time = 10s;
  return g;
}

/// Phones 1001..1004 (1002 and 1003 registered), ring-all group 600 and sequential group 601
/// (1002 then 1003, 10 s each), and a call record store.
class CallFlow : public PbxTest {
 protected:
  CallFlow() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("catchline-call-flow-" + std::to_string(::getpid()) + "-" + test->test_suite_name() +
            "-" + test->name());
    std::filesystem::remove_all(dir_);
    path_ = (dir_ / "calls.db").string();
    store_ = std::make_unique<store::StoreWriter>(path_, 1ms);
    writer_ = store_.get();
  }
  ~CallFlow() override {
    pbx_.reset();  // before the store it writes to
    layer_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void SetUp() override {
    start({ext("1001"), ext("1002"), ext("1003"), ext("1004")},
          {group("600", {"1002", "1003"}, RingStrategy::RingAll),
           group("601", {"1002", "1003"}, RingStrategy::Sequential),
           group("602", {"1004", "1002"}, RingStrategy::Sequential)});
    register_phone("1002");
    register_phone("1003");
  }

  /// Every call record written so far, oldest first.
  std::vector<store::CallRecord> records() {
    store_->flush();
    store::Database db(path_);
    return db.load_calls(0);
  }

  /// The server holds no call now, and no transaction once every timer ran out.
  void expect_nothing_left() {
    EXPECT_EQ(pbx_->call_count(), 0u) << "a call outlived its last message";
    advance(kLinger);
    EXPECT_EQ(pbx_->call_count(), 0u);
    EXPECT_EQ(layer_->server_count(), 0u) << "a server transaction lingers";
    EXPECT_EQ(layer_->client_count(), 0u) << "a client transaction lingers";
  }

  /// Responses the server sent to `number`'s phone for its `method` with this Call-ID and
  /// CSeq number, in order.
  std::vector<Message> responses_to(const std::string& number, std::string_view call_id,
                                    std::uint32_t cseq, std::string_view method = "INVITE") const {
    std::vector<Message> found;
    for (const auto& s : sender_.sent) {
      if (s.to.port != phones_.at(number).peer.port || !s.text.starts_with("SIP/2.0 ")) {
        continue;
      }
      Message m = parse(s.text);
      if (m.call_id() == call_id && m.cseq_number() == cseq && m.cseq_method_name() == method) {
        found.push_back(std::move(m));
      }
    }
    return found;
  }
  std::vector<int> statuses(const std::string& number, const Sent& sent) const {
    std::vector<int> out;
    for (const Message& m : responses_to(number, sent.call_id, sent.cseq)) {
      out.push_back(m.status());
    }
    return out;
  }
  /// The final response `caller` got for INVITE `sent` (an empty message when none).
  Message final_response(const std::string& caller, const Sent& sent) const {
    for (Message& m : responses_to(caller, sent.call_id, sent.cseq)) {
      if (m.status() >= 200) {
        return std::move(m);
      }
    }
    ADD_FAILURE() << caller << " got no final response";
    return Message{};
  }

  /// A request as phones write them: a new branch unless `branch` is given.
  std::string request(Phone& p, std::string_view method, std::string_view uri,
                      std::string_view from, std::string_view to, std::string_view call_id,
                      std::uint32_t cseq, std::string_view body = {},
                      std::string_view branch = {}) {
    const std::string via_branch = branch.empty()
                                       ? "z9hG4bK-" + p.number + "-" + std::to_string(++p.branches)
                                       : std::string(branch);
    std::string text = std::string(method) + " " + std::string(uri) + " SIP/2.0\r\n";
    text += "Via: SIP/2.0/UDP 127.0.0.1:" + std::to_string(p.peer.port) + ";branch=" + via_branch +
            ";rport\r\n";
    text += "Max-Forwards: 70\r\n";
    text += "From: " + std::string(from) + "\r\n";
    text += "To: " + std::string(to) + "\r\n";
    text += "Call-ID: " + std::string(call_id) + "\r\n";
    text += "CSeq: " + std::to_string(cseq) + " " + std::string(method) + "\r\n";
    text += "Contact: <sip:" + p.number + "@127.0.0.1:" + std::to_string(p.peer.port) + ">\r\n";
    if (!body.empty()) {
      text += "Content-Type: application/sdp\r\n";
    }
    text += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    text += body;
    return text;
  }
  std::string caller_from(const std::string& caller, const Sent& sent) const {
    return "<sip:" + caller + "@" + std::string(kDomain) + ">;tag=" + sent.from_tag;
  }

  /// The caller sends `method` in the dialog the 200 to its INVITE `sent` made.
  void caller_sends(const std::string& caller, const Sent& sent, std::string_view method,
                    std::uint32_t cseq, std::string_view body = {}) {
    Message ok = final_response(caller, sent);
    deliver(
        request(phone(caller), method, uri_in(header(ok, sip::Header::Contact)),
                caller_from(caller, sent), header(ok, sip::Header::To), sent.call_id, cseq, body),
        phone(caller).peer);
  }
  /// The caller acknowledges the 2xx to its INVITE with CSeq `cseq` (a new transaction).
  void caller_acks(const std::string& caller, const Sent& sent, std::uint32_t cseq,
                   std::string_view body = {}) {
    caller_sends(caller, sent, "ACK", cseq, body);
  }
  /// The caller acknowledges the failure to its INVITE: the INVITE's branch (RFC 3261 §17.1.1.3).
  void caller_acks_failure(const std::string& caller, const Sent& sent) {
    Message final = final_response(caller, sent);
    deliver(request(phone(caller), "ACK", sent.request_uri, caller_from(caller, sent),
                    header(final, sip::Header::To), sent.call_id, sent.cseq, {}, sent.branch),
            phone(caller).peer);
  }
  /// The caller cancels its INVITE `sent` (RFC 3261 §9.1: same branch, To without tag).
  void caller_cancels(const std::string& caller, const Sent& sent) {
    deliver(request(phone(caller), "CANCEL", sent.request_uri, caller_from(caller, sent),
                    "<" + sent.request_uri + ">", sent.call_id, sent.cseq, {}, sent.branch),
            phone(caller).peer);
  }

  /// `number`'s phone sends `method` in the dialog of the INVITE it was rung with.
  void callee_sends(const std::string& number, const Rung& rung, std::string_view method,
                    std::uint32_t cseq, std::string_view body = {}) {
    const Message& invite = rung.invite;
    deliver(request(phone(number), method, uri_in(header(invite, sip::Header::Contact)),
                    header(invite, sip::Header::To) + ";tag=" + rung.phone_tag,
                    header(invite, sip::Header::From), rung.call_id, cseq, body),
            phone(number).peer);
  }

  /// `number`'s phone answers the newest INVITE it got with `status` and its To tag; a 2xx
  /// carries its Contact and `body`. Returns the leg, as ring() does.
  Rung respond_invite(const std::string& number, int status, std::string_view body = kAnswer) {
    std::optional<Rung> rung = newest_invite(number);
    if (!rung) {
      return {};
    }
    deliver(phone_response(number, rung->invite, status, body), phone(number).peer);
    return *rung;
  }
  Rung answer(const std::string& number, std::string_view body = kAnswer) {
    return respond_invite(number, 200, body);
  }
  /// The text of `number`'s response `status` to `request` (a 2xx with Contact and `body`).
  std::string phone_response(const std::string& number, const Message& request, int status,
                             std::string_view body = {}) {
    auto out = sip::response_to(request, status, {}, "ph-" + number);
    if (status >= 200 && status < 300 && request.method() == sip::Method::Invite) {
      const Phone& p = phone(number);
      out.header(sip::Header::Contact,
                 "<sip:" + number + "@127.0.0.1:" + std::to_string(p.peer.port) + ">");
      out.body("application/sdp", body);
    }
    return out.finish();
  }
  /// `number`'s phone answers the newest `method` request it got with 200 (and `body`).
  void phone_ok(const std::string& number, std::string_view method, std::string_view body = {}) {
    auto requests = requests_to(number, method);
    if (requests.empty()) {
      ADD_FAILURE() << number << " got no " << method;
      return;
    }
    deliver(phone_response(number, requests.back(), 200, body), phone(number).peer);
  }
  /// `number`'s phone answers the newest CANCEL 200, then the INVITE it cancels 487.
  void accept_cancel(const std::string& number) {
    auto cancels = requests_to(number, "CANCEL");
    if (cancels.empty()) {
      ADD_FAILURE() << number << " got no CANCEL";
      return;
    }
    const Message& cancel = cancels.back();
    deliver(phone_response(number, cancel, 200), phone(number).peer);
    for (const Message& invite : requests_to(number, "INVITE")) {
      if (invite.call_id() == cancel.call_id() && invite.cseq_number() == cancel.cseq_number() &&
          invite.to_tag().empty()) {
        deliver(phone_response(number, invite, 487), phone(number).peer);
        return;
      }
    }
    ADD_FAILURE() << number << "'s CANCEL matches no INVITE";
  }

  /// 1001 calls `number`, 1002 answers it, 1001 acknowledges: an established call.
  struct Established {
    Sent call;
    Rung rung;
  };
  Established establish(const std::string& number = "1002") {
    Sent call = dial("1001", number);
    ring(number);
    Rung rung = answer(number);
    caller_acks("1001", call, call.cseq);
    return {call, rung};
  }

  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<store::StoreWriter> store_;
};

}  // namespace catchline::pbx::testing
