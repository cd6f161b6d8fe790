#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pbx/pbx.h"
#include "sip/digest.h"
#include "sip/headers/auth.h"
#include "tests/txn/txn_fixture.h"

// Tests name only the fields they change (designated initializers).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace catchline::pbx::testing {

using sip::Message;
using sip::transport::Peer;
using sip::txn::testing::FakeSender;
using sip::txn::testing::parse;
using sip::txn::testing::udp_peer;

inline constexpr std::string_view kDomain = "pbx.test";
inline constexpr std::string_view kOffer =
    "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n";

/// Trunk "provider" of the tests: prefix 9, its gateway on 127.0.0.1:7000 (a phone "trunk"
/// the test registers at that port plays it); `callers` may call out through it.
inline Trunk provider_trunk(std::vector<std::string> callers = {"*"}) {
  Trunk trunk;
  trunk.name = "provider";
  trunk.host = "127.0.0.1";
  trunk.port = 7000;
  trunk.outbound_prefix = "9";
  trunk.callers = std::move(callers);
  return trunk;
}

/// An extension of the test: number N, password "pw-N", the given groups and rights.
inline Extension ext(std::string number, std::vector<std::string> call_groups = {},
                     std::vector<std::string> pickup_groups = {},
                     std::vector<std::string> directed = {}, bool protect = false) {
  Extension e;
  e.number = number;
  e.name = "Phone " + number;
  e.password = "pw-" + number;
  e.call_groups = std::move(call_groups);
  e.pickup_groups = std::move(pickup_groups);
  e.directed_pickup = std::move(directed);
  e.pickup_protected = protect;
  return e;
}

/// One phone of the test: an extension's device on its own loopback port.
struct Phone {
  std::string number;
  std::string password;
  Peer peer;
  int branches = 0;  // makes each request's branch unique
};

/// A request a phone sent, with what later requests of its dialog need.
struct Sent {
  std::string call_id;
  std::string from_tag;
  std::string request_uri;
  std::uint32_t cseq = 1;
  std::string branch;  // the top Via branch of its last sending (CANCEL and non-2xx ACK reuse it)
};

/// The server→callee leg a phone was rung on: what BLF shows and Replaces names.
struct Rung {
  Message invite;
  std::string call_id;
  std::string our_tag;    // the leg's From tag (S): Replaces' to-tag in RFC 3891 order
  std::string phone_tag;  // the phone's To tag (C), once it answered 180
};

/// The whole call server on the signaling thread's objects, with a manual clock and a
/// transport that records what it sends: phones are scripted here, in SIP text, so tests see
/// exactly the messages a real phone would (no sockets, no threads, no sleeps).
class PbxTest : public ::testing::Test {
 protected:
  PbxTest() { sender_.clock = &clock_; }
  ~PbxTest() override {
    pbx_.reset();  // its calls may still hold transactions of the layer
    layer_.reset();
  }

  /// Starts the server with `extensions` (each gets a phone on its own port), `groups` and
  /// `trunks`, with settings_ (its domain set to kDomain) and writer_ (nullptr: no records).
  void start(std::vector<Extension> extensions, std::vector<RingGroup> groups = {},
             std::vector<Trunk> trunks = {}) {
    PbxSettings settings = settings_;
    settings.domain = std::string(kDomain);
    std::uint16_t port = 6000;
    for (const Extension& extension : extensions) {
      phones_[extension.number] = Phone{extension.number, extension.password, udp_peer(port++)};
    }
    pbx_ = std::make_unique<Pbx>(
        timers_, settings,
        Directory(std::move(extensions), std::move(groups), {}, std::move(trunks), {}, parking_),
        RegistrarSettings{}, writer_);
    layer_ = std::make_unique<sip::txn::TransactionLayer>(sender_, timers_, *pbx_,
                                                          sip::txn::TimerSettings{});
    pbx_->attach(*layer_, LocalAddresses{"127.0.0.1:5060", "", {"127.0.0.1:5060"}});
  }

  Phone& phone(const std::string& number) { return phones_.at(number); }

  /// Delivers `text` from `from` as one receive batch of the transport, then runs the timers
  /// due now (the batch's zero-delay work).
  /// Phones that answer every NOTIFY with 200 at once, as a watching phone does.
  void watching(const std::string& number) { watchers_.insert(phone(number).peer.port); }

  void deliver(const std::string& text, const Peer& from) {
    layer_->on_batch_begin();
    layer_->on_message(parse(text), from);
    layer_->on_batch_end();
    base::run_for(timers_, clock_, base::Duration::zero());
    answer_notifies();
  }
  /// Moves time forward in 20 ms steps, the watching phones answering in between (so that
  /// none of the server's retransmissions reaches them).
  void advance(base::Duration span) {
    constexpr base::Duration kStep = std::chrono::milliseconds(20);
    for (base::Duration done{}; done < span; done += kStep) {
      base::run_for(timers_, clock_, std::min(kStep, span - done));
      answer_notifies();
    }
  }

  /// A request from `phone` as phones write them.
  std::string request_text(Phone& phone, std::string_view method, const std::string& uri,
                           const Sent& sent, std::string_view to_uri, std::string_view extra = {},
                           std::string_view body = {}) {
    std::string text = std::string(method) + " " + uri + " SIP/2.0\r\n";
    text += "Via: SIP/2.0/UDP 127.0.0.1:" + std::to_string(phone.peer.port) + ";branch=z9hG4bK-" +
            phone.number + "-" + std::to_string(++phone.branches) + ";rport\r\n";
    text += "Max-Forwards: 70\r\n";
    text += "From: <sip:" + phone.number + "@" + std::string(kDomain) + ">;tag=" + sent.from_tag +
            "\r\n";
    text += "To: <" + std::string(to_uri) + ">\r\n";
    text += "Call-ID: " + sent.call_id + "\r\n";
    text += "CSeq: " + std::to_string(sent.cseq) + " " + std::string(method) + "\r\n";
    text +=
        "Contact: <sip:" + phone.number + "@127.0.0.1:" + std::to_string(phone.peer.port) + ">\r\n";
    text += extra;
    if (!body.empty()) {
      text += "Content-Type: application/sdp\r\n";
    }
    text += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    text += body;
    return text;
  }

  /// Sends `method` to `uri` from `phone`, answers its 401/407 with digest credentials, and
  /// returns what the dialog needs. `extra` is added to both requests.
  Sent send_authenticated(Phone& phone, std::string_view method, const std::string& uri,
                          std::string_view to_uri, std::string_view extra = {},
                          std::string_view body = {}) {
    Sent sent{"c" + std::to_string(++calls_) + "-" + phone.number + "@127.0.0.1",
              "f" + std::to_string(calls_), uri, 1};
    const std::size_t before = sender_.count();
    deliver(request_text(phone, method, uri, sent, to_uri, extra, body), phone.peer);
    sent.branch = "z9hG4bK-" + phone.number + "-" + std::to_string(phone.branches);
    auto challenge = last_response_to(phone, method, before);
    if (!challenge || (challenge->status() != 401 && challenge->status() != 407)) {
      ADD_FAILURE() << phone.number << " " << method << " was not challenged";
      return sent;
    }
    const bool proxy = challenge->status() == 407;
    auto value = challenge->header_value(proxy ? sip::Header::ProxyAuthenticate
                                               : sip::Header::WwwAuthenticate);
    auto parsed = sip::parse_challenge(value.value_or(""));
    if (!parsed) {
      ADD_FAILURE() << "bad challenge: " << parsed.error().reason;
      return sent;
    }
    auto credentials = sip::compute_authorization(*parsed, method, uri, phone.number,
                                                  phone.password, 1, "cnonce" + sent.from_tag);
    if (!credentials) {
      ADD_FAILURE() << "no credentials: " << credentials.error().reason;
      return sent;
    }
    std::string header =
        std::string(proxy ? "Proxy-Authorization: " : "Authorization: ") + *credentials + "\r\n";
    sent.cseq = 2;
    deliver(request_text(phone, method, uri, sent, to_uri, std::string(extra) + header, body),
            phone.peer);
    sent.branch = "z9hG4bK-" + phone.number + "-" + std::to_string(phone.branches);
    return sent;
  }

  /// Registers `number`'s phone; fails the test unless the answer is 200.
  void register_phone(const std::string& number) {
    Phone& p = phone(number);
    const std::size_t before = sender_.count();
    send_authenticated(p, "REGISTER", "sip:" + std::string(kDomain),
                       "sip:" + number + "@" + std::string(kDomain), "Expires: 3600\r\n");
    auto final = last_response_to(p, "REGISTER", before);
    ASSERT_TRUE(final && final->status() == 200) << number << " did not register";
  }

  /// `caller` dials `number` (a call, or a pickup code) with an SDP offer.
  Sent dial(const std::string& caller, const std::string& number, std::string_view extra = {}) {
    const std::string uri = "sip:" + number + "@" + std::string(kDomain);
    return send_authenticated(phone(caller), "INVITE", uri, uri, extra, kOffer);
  }

  /// The last response sent to `phone` for `method` since message `from` (nullopt if none).
  std::optional<Message> last_response_to(const Phone& phone, std::string_view method,
                                          std::size_t from = 0) const {
    std::optional<Message> found;
    for (std::size_t i = from; i < sender_.sent.size(); ++i) {
      const auto& s = sender_.sent[i];
      if (s.to.port != phone.peer.port || !s.text.starts_with("SIP/2.0 ")) {
        continue;
      }
      Message m = parse(s.text);
      if (m.cseq_method_name() == method) {
        found = std::move(m);
      }
    }
    return found;
  }

  /// The final status `phone` got for its INVITE `sent`, 0 when none yet.
  int final_status(const Phone& phone, const Sent& sent) const {
    for (const auto& s : sender_.sent) {
      if (s.to.port != phone.peer.port || !s.text.starts_with("SIP/2.0 ")) {
        continue;
      }
      Message m = parse(s.text);
      if (m.call_id() == sent.call_id && m.cseq_method_name() == "INVITE" && m.status() >= 200 &&
          m.cseq_number() == sent.cseq) {
        return m.status();
      }
    }
    return 0;
  }
  /// The reason phrase of that final response.
  std::string final_reason(const Phone& phone, const Sent& sent) const {
    for (const auto& s : sender_.sent) {
      if (s.to.port == phone.peer.port && s.text.starts_with("SIP/2.0 ")) {
        Message m = parse(s.text);
        if (m.call_id() == sent.call_id && m.cseq_method_name() == "INVITE" && m.status() >= 200 &&
            m.cseq_number() == sent.cseq) {
          return std::string(m.reason_phrase());
        }
      }
    }
    return {};
  }

  /// Requests of `method` the server sent to `number`'s phone, in order.
  std::vector<Message> requests_to(const std::string& number, std::string_view method) const {
    std::vector<Message> found;
    for (const auto& s : sender_.sent) {
      if (s.to.port == phones_.at(number).peer.port && s.text.starts_with(method)) {
        found.push_back(parse(s.text));
      }
    }
    return found;
  }

  /// The newest INVITE the phone of `number` got, as its leg (the phone's tag "ph-NUMBER");
  /// nullopt, and a test failure, when it was never rung.
  std::optional<Rung> newest_invite(const std::string& number) {
    auto invites = requests_to(number, "INVITE");
    if (invites.empty()) {
      ADD_FAILURE() << number << " was never rung";
      return std::nullopt;
    }
    return Rung{invites.back(), std::string(invites.back().call_id()),
                std::string(invites.back().from_tag()), "ph-" + number};
  }

  /// The phone of `number` answers the newest INVITE it got with 180 and its own tag.
  Rung ring(const std::string& number) {
    std::optional<Rung> rung = newest_invite(number);
    if (!rung) {
      return {};
    }
    deliver(sip::response_to(rung->invite, 180, {}, rung->phone_tag).finish(), phone(number).peer);
    return *rung;
  }

  /// The phone that was rung with `rung` (and answered it) hangs up: BYE in that dialog.
  void hang_up(const std::string& number, const Rung& rung) {
    Phone& p = phone(number);
    const Message& invite = rung.invite;
    std::string contact(invite.header_value(sip::Header::Contact).value_or("<>"));
    std::string target = contact.substr(contact.find('<') + 1);
    target = target.substr(0, target.find('>'));
    std::string text = "BYE " + target + " SIP/2.0\r\n";
    text += "Via: SIP/2.0/UDP 127.0.0.1:" + std::to_string(p.peer.port) + ";branch=z9hG4bK-" +
            number + "-" + std::to_string(++p.branches) + ";rport\r\n";
    text += "Max-Forwards: 70\r\n";
    text += "From: " + std::string(invite.header_value(sip::Header::To).value_or("")) +
            ";tag=" + rung.phone_tag + "\r\n";
    text += "To: " + std::string(invite.header_value(sip::Header::From).value_or("")) + "\r\n";
    text += "Call-ID: " + rung.call_id + "\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    deliver(text, p.peer);
  }

  /// Whether `number`'s phone got a CANCEL saying "Call completed elsewhere" (RFC 3326).
  bool cancelled_elsewhere(const std::string& number) const {
    for (const Message& cancel : requests_to(number, "CANCEL")) {
      auto reason = cancel.header_value(sip::Header::Reason);
      if (reason && reason->find("Call completed elsewhere") != std::string_view::npos) {
        return true;
      }
    }
    return false;
  }

  /// Answers 200 to every NOTIFY sent to a watching phone since the last look (one NOTIFY is
  /// in flight per subscription: its 200 lets the next, coalesced one leave).
  void answer_notifies() {
    while (notified_ < sender_.sent.size()) {
      const auto sent = sender_.sent[notified_++];
      if (watchers_.count(sent.to.port) != 0 && sent.text.starts_with("NOTIFY ")) {
        deliver(sip::response_to(parse(sent.text), 200).finish(), sent.to);
      }
    }
  }

  PbxSettings settings_;                  // what start() gives the Pbx; set before it
  std::vector<ParkLot> parking_;          // the parking lots start() gives the directory
  store::StoreWriter* writer_ = nullptr;  // where the Pbx writes call records
  base::ManualClock clock_;
  base::TimerQueue timers_{clock_};
  FakeSender sender_;
  std::map<std::string, Phone> phones_;
  std::set<std::uint16_t> watchers_;  // ports of the phones that answer NOTIFYs
  std::size_t notified_ = 0;          // messages sent so far that answer_notifies() looked at
  std::unique_ptr<sip::txn::TransactionLayer> layer_;
  std::unique_ptr<Pbx> pbx_;
  int calls_ = 0;
};

}  // namespace catchline::pbx::testing
