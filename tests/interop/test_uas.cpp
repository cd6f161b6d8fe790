// test_uas: a minimal user agent server built on the stack (transport + transactions +
// dialogs), for interop tests: SIPp's built-in `uac` places calls against it.
//
// Every INVITE is answered 180 Ringing, then 200 OK with an SDP answer; the dialog it makes is
// kept until BYE (200) — a BYE for an unknown dialog gets 481. OPTIONS gets 200.
// Usage: test_uas LISTEN_SPEC [LISTEN_SPEC...]   e.g. test_uas udp:127.0.0.1:5070
// Prints "listening PORT" per socket, then counters on SIGTERM/SIGINT, and exits.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <iostream>
#include <string>

#include "base/asio_timer_driver.h"
#include "sip/builder.h"
#include "sip/dialog/dialog_table.h"
#include "sip/transport/transport_layer.h"
#include "sip/txn/transaction_layer.h"

namespace {

using namespace catchline::sip;
namespace base = catchline::base;

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

class Uas final : public txn::TransactionUser,
                  public txn::TransactionHandler,
                  public dialog::DialogUsage {
 public:
  void attach(txn::TransactionLayer& layer, std::string contact) {
    layer_ = &layer;
    contact_ = std::move(contact);
  }

  void on_request(const Message&, const transport::Peer&, Start& start) override {
    txn::ServerTransaction& t = start();
    const Message& request = t.request();
    switch (request.method()) {
      case Method::Invite: {
        if (!request.to_tag().empty()) {  // re-INVITE: accept, same answer
          answer(t);
          return;
        }
        auto dialog = dialog::Dialog::create_uas(request, t.to_tag(), contact_,
                                                 dialog::DialogState::Confirmed);
        if (!dialog) {
          layer_->respond(t, dialog.error().status, dialog.error().reason);
          return;
        }
        layer_->respond(t, 180);
        answer(t);
        layer_->attach(t, *this);  // counts its ACK
        dialogs_.insert(**dialog, *this);
        owned_.push_back(std::move(*dialog));
        ++calls_;
        return;
      }
      case Method::Bye: {
        const dialog::DialogTable::Entry* entry = dialogs_.find_for_request(request);
        if (entry == nullptr) {
          layer_->respond(t, 481);
          return;
        }
        entry->usage->on_in_dialog_request(*entry->dialog, t, request);
        return;
      }
      case Method::Options:
        layer_->respond(t, 200);
        return;
      default:
        layer_->respond(t, 405);
    }
  }

  void on_ack(txn::ServerTransaction&, const Message&) override { ++acks_; }

  // A BYE in one of our dialogs: it ends.
  void on_in_dialog_request(dialog::Dialog& dialog, txn::ServerTransaction& t,
                            const Message& request) override {
    if (!dialog.accept_request(request)) {
      layer_->respond(t, 500, "CSeq out of order");
      return;
    }
    dialogs_.erase(dialog.id());
    std::erase_if(owned_, [&dialog](const auto& owned) { return owned.get() == &dialog; });
    ++byes_;
    layer_->respond(t, 200);
  }

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
  std::vector<std::unique_ptr<dialog::Dialog>> owned_;  // every confirmed dialog
  dialog::DialogTable dialogs_;
  std::uint64_t calls_ = 0, acks_ = 0, byes_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: test_uas LISTEN_SPEC...\n";
    return 2;
  }
  boost::asio::io_context io;
  base::SteadyClock clock;
  base::TimerQueue timers(clock);
  base::AsioTimerDriver driver(io, timers);
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
