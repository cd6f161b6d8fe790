// test_uas: a minimal user agent server built on the stack (transport + transactions +
// dialogs), for interop tests: SIPp's built-in `uac` places calls against it.
//
// Every INVITE is answered 180 Ringing, then 200 OK with an SDP answer; the dialog it makes is
// kept until BYE (200) — a BYE for an unknown dialog gets 481. OPTIONS gets 200.
// Usage: test_uas LISTEN_SPEC [LISTEN_SPEC...]   e.g. test_uas udp:127.0.0.1:5070
// Prints "listening PORT" per socket, then counters on SIGTERM/SIGINT, and exits.
#include <csignal>
#include <iostream>
#include <set>
#include <string>
#include <tuple>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "sip/builder.h"
#include "sip/transport/transport_layer.h"
#include "sip/txn/asio_timer_driver.h"
#include "sip/txn/transaction_layer.h"

namespace {

using namespace catchline::sip;

constexpr std::string_view kAnswer =
    "v=0\r\n"
    "o=test_uas 1 1 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 7000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n";

/// Forwards transport messages to a receiver set once both ends exist.
struct Forward final : transport::Receiver {
  transport::Receiver* to = nullptr;
  void on_message(Message&& message, const transport::Peer& source) override {
    to->on_message(std::move(message), source);
  }
};

class Uas final : public txn::TransactionUser {
 public:
  void attach(txn::TransactionLayer& layer, std::string contact) {
    layer_ = &layer;
    contact_ = std::move(contact);
  }

  void on_request(txn::ServerTransaction& t, const Message& request,
                  const transport::Peer&) override {
    switch (request.method()) {
      case Method::Invite: {
        if (!request.to_tag().empty()) {  // re-INVITE: accept, same answer
          answer(t);
          return;
        }
        layer_->respond(t, 180);
        answer(t);
        dialogs_.emplace(std::string(request.call_id()), std::string(t.to_tag()),
                         std::string(request.from_tag()));
        ++calls_;
        return;
      }
      case Method::Bye: {
        auto key = std::make_tuple(std::string(request.call_id()), std::string(request.to_tag()),
                                   std::string(request.from_tag()));
        if (dialogs_.erase(key) == 0) {
          layer_->respond(t, 481);
          return;
        }
        ++byes_;
        layer_->respond(t, 200);
        return;
      }
      case Method::Options:
        layer_->respond(t, 200);
        return;
      default:
        layer_->respond(t, 405);
    }
  }

  void on_ack(txn::ServerTransaction&, const Message&, const transport::Peer&) override {
    ++acks_;
  }
  void on_response(txn::ClientTransaction&, const Message&) override {}
  void on_timeout(txn::ClientTransaction&) override {}

  void report() const {
    std::cout << "calls " << calls_ << " acks " << acks_ << " byes " << byes_ << " open "
              << dialogs_.size() << std::endl;
  }

 private:
  void answer(txn::ServerTransaction& t) {
    MessageBuilder ok = t.make_response(200);
    ok.header(Header::Contact, contact_);
    ok.body("application/sdp", kAnswer);
    layer_->send_response(t, 200, std::move(ok).finish());
  }

  txn::TransactionLayer* layer_ = nullptr;
  std::string contact_;
  std::set<std::tuple<std::string, std::string, std::string>> dialogs_;
  std::uint64_t calls_ = 0, acks_ = 0, byes_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: test_uas LISTEN_SPEC...\n";
    return 2;
  }
  boost::asio::io_context io;
  txn::SteadyClock clock;
  txn::TimerQueue timers(clock);
  txn::AsioTimerDriver driver(io, timers);
  Forward forward;
  transport::TransportLayer transport(io, forward);
  Uas uas;
  txn::TransactionLayer layer(transport, timers, uas);
  forward.to = &layer;
  std::string contact;
  try {
    for (int i = 1; i < argc; ++i) {
      std::uint32_t local = transport.listen(argv[i]);
      auto bound = transport.bound(local);
      std::cout << "listening " << bound.port << std::endl;
      if (contact.empty()) {
        contact = "<sip:uas@" + bound.to_string().substr(4) + ">";
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "test_uas: " << e.what() << "\n";
    return 1;
  }
  uas.attach(layer, contact);
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
  io.run();
  uas.report();
  return 0;
}
